"""Raw HTTP requests signed with botocore's own SigV4 signer: what SDKs won't send on their own.

Every refused request must get an AWS-shaped JSON error ({"__type", "message"}) and must not
hurt the server: a good signed request is sent after each one and must succeed."""
import datetime
import http.client
import json
import socket
import threading
from unittest import mock

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import secret, unique
from server import ACCESS_KEY, SECRET_KEY

JSON_11 = "application/x-amz-json-1.1"


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body
        try:
            self.doc = json.loads(body) if body else {}
        except ValueError:
            self.doc = {}

    @property
    def type(self):
        return self.doc.get("__type")

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class JsonQueryAuth(SigV4QueryAuth):
    """botocore's presigner (SigV4 in the query string), keeping a JSON body as the body: the
    stock one moves body parameters into the query string, as query-protocol APIs want."""

    def _modify_request_before_signing(self, request):
        data = request.data
        request.data = b""
        super()._modify_request_before_signing(request)
        request.data = data


def send(server, target, body, content_type=JSON_11, access_key=ACCESS_KEY, secret_key=SECRET_KEY,
         sign=True, tamper_body=None, tamper_headers=None, when=None, presign=False,
         region="us-east-1", service="secretsmanager", expires=60):
    headers = {"Content-Type": content_type} if content_type else {}
    if target:
        headers["X-Amz-Target"] = target
    data = body.encode() if isinstance(body, str) else body
    req = AWSRequest(method="POST", url=f"{server.endpoint}/", data=data, headers=headers)
    if sign:
        creds = Credentials(access_key, secret_key)
        signer = (JsonQueryAuth(creds, service, region, expires=expires) if presign
                  else SigV4Auth(creds, service, region))
        if when:
            with mock.patch("botocore.auth.get_current_datetime", return_value=when):
                signer.add_auth(req)
        else:
            signer.add_auth(req)
    prepared = req.prepare()
    payload = tamper_body if tamper_body is not None else (prepared.body or b"")
    hdrs = dict(prepared.headers)
    hdrs.update(tamper_headers or {})
    hdrs["Content-Length"] = str(len(payload))
    path = prepared.url[len(server.endpoint):] or "/"
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("POST", path, body=payload, headers=hdrs)
        r = conn.getresponse()
        return Reply(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


def assert_aws_error(reply, error_type, status=400):
    assert reply.type == error_type, reply
    if status is not None:
        assert reply.status == status, reply
    assert 400 <= reply.status < 500, reply
    assert isinstance(reply.doc.get("message") or reply.doc.get("Message"), str), reply
    assert reply.headers.get("x-amzn-requestid"), f"no x-amzn-RequestId header: {reply.headers}"
    assert reply.headers.get("content-type", "").startswith(JSON_11), reply.headers


def still_serving(server):
    r = send(server, "secretsmanager.ListSecrets", "{}")
    assert r.status == 200 and "SecretList" in r.doc, r


def exists(server, name):
    r = send(server, "secretsmanager.DescribeSecret", json.dumps({"SecretId": name}))
    if r.status == 200:
        return True
    assert r.type == "ResourceNotFoundException", r
    return False


def test_signed_round_trip(server):
    name = unique("raw-ok")
    value = secret("raw")
    r = send(server, "secretsmanager.CreateSecret", json.dumps({"Name": name, "SecretString": value}))
    assert r.status == 200, r
    assert r.headers.get("content-type", "").startswith(JSON_11)
    assert r.headers.get("x-amzn-requestid")
    assert r.doc["Name"] == name and r.doc["ARN"].startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:")
    r = send(server, "secretsmanager.GetSecretValue", json.dumps({"SecretId": name}))
    assert r.status == 200 and r.doc["SecretString"] == value, r
    # Timestamps are epoch seconds (JSON numbers), as AWS sends them.
    assert isinstance(r.doc["CreatedDate"], (int, float))


@pytest.mark.parametrize("target,body,expected", [
    ("secretsmanager.CreateSecret", "{broken", "SerializationException"),
    ("secretsmanager.CreateSecret", '{"Name": ["x"], "SecretString": "y"}', "SerializationException"),
    ("secretsmanager.ListSecrets", '{"MaxResults": "ten"}', "SerializationException"),
    ("secretsmanager.NoSuchOperation", "{}", "UnknownOperationException"),
], ids=["malformed-json", "wrong-type", "wrong-number-type", "unknown-target"])
def test_malformed_requests(server, target, body, expected):
    assert_aws_error(send(server, target, body), expected)
    still_serving(server)


def test_invalid_parameters(server):
    for body in ({"Name": "bad name", "SecretString": "whatever-value"},
                 {"SecretString": "no-name-given"},
                 {"Name": unique("raw-w"), "SecretString": "x" * 65537}):
        r = send(server, "secretsmanager.CreateSecret", json.dumps(body))
        assert r.status == 400 and r.type in ("InvalidParameterException", "ValidationException"), r
        assert r.doc.get("message"), r
        still_serving(server)
    assert_aws_error(send(server, "secretsmanager.GetSecretValue", json.dumps({"SecretId": unique("raw-none")})),
                     "ResourceNotFoundException")
    still_serving(server)


def test_wrong_content_type_is_not_processed(server):
    name = unique("raw-ctype")
    r = send(server, "secretsmanager.CreateSecret", json.dumps({"Name": name, "SecretString": secret("ctype")}),
             content_type="text/plain")
    assert r.status == 400, r
    assert r.type in ("SerializationException", "UnknownOperationException"), r
    assert not exists(server, name)
    still_serving(server)


def read_status(sock):
    answer = b""
    while b"\r\n\r\n" not in answer:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break  # what was received is still reported; an empty answer fails the test
        if not chunk:
            break
        answer += chunk
    return answer


def send_in_background(sock, data):
    def pump():
        try:
            sock.sendall(data)
        except OSError:
            pass  # the server may answer and close before reading it all
    t = threading.Thread(target=pump, daemon=True)
    t.start()
    return t


def signed_raw(server, body, extra_headers=()):
    req = AWSRequest(method="POST", url=f"{server.endpoint}/", data=body,
                     headers={"Content-Type": JSON_11, "X-Amz-Target": "secretsmanager.CreateSecret"})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "secretsmanager", "us-east-1").add_auth(req)
    head = f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
    for k, v in req.headers.items():
        head += f"{k}: {v}\r\n"
    for k, v in extra_headers:
        head += f"{k}: {v}\r\n"
    return head


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_body_over_1_mib_is_refused(server, framing):
    """A full 2 MiB signed body: refused (413, or at least 400) and the server keeps serving."""
    size = 2 * 1024 * 1024
    name = unique("raw-big")
    body = json.dumps({"Name": name, "SecretString": secret("big") + "x" * size}).encode()
    if framing == "content-length":
        data = (signed_raw(server, body, [("Content-Length", len(body))]) + "\r\n").encode() + body
    else:
        head = signed_raw(server, body, [("Transfer-Encoding", "chunked")]) + "\r\n"
        chunks = b"".join(b"%x\r\n" % len(body[i:i + 65536]) + body[i:i + 65536] + b"\r\n"
                          for i in range(0, len(body), 65536))
        data = head.encode() + chunks + b"0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        t = send_in_background(sock, data)
        answer = read_status(sock)
        t.join(timeout=30)
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 "), answer[:300]
    status = int(status_line.split()[1])
    assert status in (413, 400), answer[:300]
    assert status == 413, f"AWS answers 413 Request Entity Too Large here, got: {answer[:300]!r}"
    still_serving(server)
    assert not exists(server, name)


def test_declared_length_over_1_mib_is_refused_before_the_body(server):
    """Refused on the declared Content-Length, while the client is still sending."""
    size = 2 * 1024 * 1024
    head = (f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Content-Type: {JSON_11}\r\nX-Amz-Target: secretsmanager.CreateSecret\r\n"
            f"Content-Length: {size}\r\n\r\n")
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head.encode() + b"{" + b"x" * 4096)
        answer = read_status(sock)
    assert b" 413 " in answer.split(b"\r\n", 1)[0], answer[:300]
    still_serving(server)


def test_missing_authentication(server):
    assert_aws_error(send(server, "secretsmanager.ListSecrets", "{}", sign=False),
                     "MissingAuthenticationTokenException", status=None)
    still_serving(server)


def test_wrong_secret_key(server):
    assert_aws_error(send(server, "secretsmanager.ListSecrets", "{}", secret_key="wrong" * 8),
                     "InvalidSignatureException", status=None)
    still_serving(server)


def test_unknown_access_key(server):
    r = send(server, "secretsmanager.ListSecrets", "{}", access_key="AKIAUNKNOWNKEY000000")
    assert_aws_error(r, "UnrecognizedClientException", status=None)
    still_serving(server)


def test_tampered_body_after_signing(server):
    a, b = unique("raw-a"), unique("raw-b")
    r = send(server, "secretsmanager.CreateSecret", json.dumps({"Name": a, "SecretString": secret("a")}),
             tamper_body=json.dumps({"Name": b, "SecretString": secret("b")}).encode())
    assert_aws_error(r, "InvalidSignatureException", status=None)
    assert not exists(server, a) and not exists(server, b)
    still_serving(server)


def test_tampered_signed_header(server):
    name = unique("raw-target")
    send(server, "secretsmanager.CreateSecret", json.dumps({"Name": name, "SecretString": secret("t")}))
    r = send(server, "secretsmanager.DescribeSecret", json.dumps({"SecretId": name}),
             tamper_headers={"X-Amz-Target": "secretsmanager.DeleteSecret"})
    assert_aws_error(r, "InvalidSignatureException", status=None)
    assert exists(server, name)
    still_serving(server)


def test_stale_and_future_signatures(server):
    now = datetime.datetime.now(datetime.timezone.utc)
    r = send(server, "secretsmanager.ListSecrets", "{}", when=now - datetime.timedelta(minutes=6))
    assert_aws_error(r, "InvalidSignatureException", status=None)
    assert r.doc["message"].startswith("Signature expired"), r
    still_serving(server)
    r = send(server, "secretsmanager.ListSecrets", "{}", when=now + datetime.timedelta(minutes=6))
    assert_aws_error(r, "InvalidSignatureException", status=None)
    assert r.doc["message"].startswith("Signature not yet current"), r
    still_serving(server)
    # Within AWS's 5 minutes of skew: fine.
    r = send(server, "secretsmanager.ListSecrets", "{}", when=now - datetime.timedelta(minutes=4))
    assert r.status == 200, r


def test_wrong_credential_scope(server):
    r = send(server, "secretsmanager.ListSecrets", "{}", region="eu-west-1")
    assert_aws_error(r, "InvalidSignatureException", status=None)
    assert "region" in r.doc["message"], r
    still_serving(server)
    r = send(server, "secretsmanager.ListSecrets", "{}", service="kms")
    assert_aws_error(r, "InvalidSignatureException", status=None)
    assert "service" in r.doc["message"], r
    still_serving(server)


def test_presigned_query_request_is_accepted(server):
    r = send(server, "secretsmanager.ListSecrets", "{}", presign=True)
    assert r.status == 200, r
    assert "SecretList" in r.doc
    name = unique("raw-presigned")
    value = secret("presigned")
    r = send(server, "secretsmanager.CreateSecret", json.dumps({"Name": name, "SecretString": value}), presign=True)
    assert r.status == 200, r
    assert send(server, "secretsmanager.GetSecretValue", json.dumps({"SecretId": name})).doc["SecretString"] == value


def test_expired_presigned_request_is_refused(server):
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=2)
    r = send(server, "secretsmanager.ListSecrets", "{}", presign=True, when=when, expires=60)
    assert 400 <= r.status < 500 and r.type, r
    assert "SecretList" not in r.doc
    still_serving(server)


def test_many_bad_requests_in_a_row_then_good_ones(server):
    bad = [
        dict(target="secretsmanager.ListSecrets", body="{}", sign=False),
        dict(target="secretsmanager.ListSecrets", body="{}", secret_key="x" * 40),
        dict(target="secretsmanager.CreateSecret", body="{{{{"),
        dict(target="secretsmanager.Nope", body="{}"),
        dict(target=None, body=""),
        dict(target="secretsmanager.ListSecrets", body=b"\xff\xfe\x00garbage"),
    ]
    for _ in range(5):
        for kw in bad:
            r = send(server, **kw)
            assert 400 <= r.status < 500, r
    for _ in range(10):
        still_serving(server)


@pytest.mark.parametrize("target,body", [
    # Model constraints botocore does not check on the client side (or checks only a minimum).
    ("secretsmanager.PutSecretValue", {"SecretId": "whatever", "SecretString": "v", "ClientRequestToken": "short"}),
    ("secretsmanager.CreateSecret", {"Name": "n-desc", "SecretString": "v", "Description": "d" * 2049}),
    ("secretsmanager.ListSecrets", {"MaxResults": 101}),
    ("secretsmanager.ListSecrets", {"MaxResults": 0}),
    ("secretsmanager.ListSecrets", {"Filters": [{"Key": "colour", "Values": ["red"]}]}),
    ("secretsmanager.DeleteSecret", {"SecretId": "whatever", "RecoveryWindowInDays": 3}),
    ("secretsmanager.GetRandomPassword", {"PasswordLength": 0}),
    ("secretsmanager.UpdateSecretVersionStage", {"SecretId": "whatever"}),
], ids=["short-token", "long-description", "max-results-101", "max-results-0", "unknown-filter-key",
        "recovery-window-3", "password-length-0", "missing-version-stage"])
def test_model_constraints_are_enforced(server, target, body):
    r = send(server, target, json.dumps(body))
    assert r.status == 400, r
    assert r.type in ("InvalidParameterException", "ValidationException"), r
    assert r.doc.get("message"), r
    still_serving(server)
