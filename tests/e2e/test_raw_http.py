"""Raw HTTP requests signed by botocore's SigV4 signer: what SDKs won't send on their own."""
import datetime
import http.client
import json
from unittest import mock

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from server import ACCESS_KEY, SECRET_KEY


def send(server, target, body, content_type="application/x-amz-json-1.1", secret=SECRET_KEY,
         sign=True, tamper=None, when=None, presign=False):
    url = f"{server.endpoint}/"
    headers = {"Content-Type": content_type}
    if target:
        headers["X-Amz-Target"] = target
    data = body.encode() if isinstance(body, str) else body
    req = AWSRequest(method="POST", url=url, data=data, headers=headers)
    if sign:
        creds = Credentials(ACCESS_KEY, secret)
        signer = SigV4QueryAuth(creds, "secretsmanager", "us-east-1", expires=60) if presign \
            else SigV4Auth(creds, "secretsmanager", "us-east-1")
        if when:
            with mock.patch("botocore.auth.get_current_datetime", return_value=when):
                signer.add_auth(req)
        else:
            signer.add_auth(req)
    prepared = req.prepare()
    payload = tamper if tamper is not None else prepared.body
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    path = prepared.url[len(server.endpoint):] or "/"
    hdrs = dict(prepared.headers)
    hdrs["Content-Length"] = str(len(payload or b""))
    conn.request("POST", path, body=payload, headers=hdrs)
    r = conn.getresponse()
    text = r.read()
    conn.close()
    try:
        doc = json.loads(text)
    except ValueError:
        doc = {}
    return r.status, doc


def still_serving(server):
    status, doc = send(server, "secretsmanager.ListSecrets", "{}")
    assert status == 200, doc


def test_bad_input_is_refused_and_server_keeps_serving(server):
    cases = [
        ("secretsmanager.CreateSecret", "{broken", "application/x-amz-json-1.1", 400, "SerializationException"),
        ("secretsmanager.NoSuchOp", "{}", "application/x-amz-json-1.1", 400, "UnknownOperationException"),
        ("secretsmanager.ListSecrets", "{}", "text/plain", 400, "SerializationException"),
        ("secretsmanager.CreateSecret", '{"Name": ["x"]}', "application/x-amz-json-1.1", 400, "SerializationException"),
        ("secretsmanager.CreateSecret", '{"Name": "bad name", "SecretString": "x"}',
         "application/x-amz-json-1.1", 400, "ValidationException"),
    ]
    for target, body, ctype, status, err in cases:
        got_status, doc = send(server, target, body, content_type=ctype)
        assert (got_status, doc.get("__type")) == (status, err), (target, body, doc)
        assert doc.get("message"), doc
        still_serving(server)


def test_oversize_body_is_refused(server):
    """Refused on the declared length, before the body is read: the client is told while it is
    still sending (a plain http.client would hit EPIPE before reading the answer)."""
    import socket
    size = 2 * 1024 * 1024
    head = (f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            "Content-Type: application/x-amz-json-1.1\r\nX-Amz-Target: secretsmanager.CreateSecret\r\n"
            f"Content-Length: {size}\r\n\r\n")
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head.encode() + b"{" + b"x" * 4096)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0]
    assert b" 413 " in status_line, answer[:300]
    still_serving(server)


def test_authentication_failures(server):
    status, doc = send(server, "secretsmanager.ListSecrets", "{}", sign=False)
    assert doc.get("__type") == "MissingAuthenticationTokenException", doc
    status, doc = send(server, "secretsmanager.ListSecrets", "{}", secret="wrong" * 8)
    assert doc.get("__type") == "InvalidSignatureException", doc
    status, doc = send(server, "secretsmanager.CreateSecret", '{"Name":"raw-a","SecretString":"a"}',
                       tamper=b'{"Name":"raw-b","SecretString":"b"}')
    assert doc.get("__type") == "InvalidSignatureException", doc
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=6)
    status, doc = send(server, "secretsmanager.ListSecrets", "{}", when=old)
    assert doc.get("__type") == "InvalidSignatureException", doc
    assert doc["message"].startswith("Signature expired"), doc
    still_serving(server)


def test_presigned_query_request_is_accepted(server):
    status, doc = send(server, "secretsmanager.ListSecrets", "{}", presign=True)
    assert status == 200, doc
    assert "SecretList" in doc
