"""Presigned GET URLs from botocore (issue 16 §2): STS GetCallerIdentity — the URL "AWS IAM
auth" logins (Vault, Kubernetes) hand to a verifier — and IAM ListUsers, fetched with a plain
HTTP GET, with long-term and temporary credentials.

botocore signs a presigned URL for the operation's modeled HTTP method unless told otherwise:
`generate_presigned_url("get_caller_identity")` is signed for POST (STS's model says POST), and
AWS itself refuses it when fetched with GET, answering SignatureDoesNotMatch with the canonical
request it expected ('GET ...' — boto/boto3#756 records AWS's answer). Strongroom answers the
same; with `HttpMethod="GET"` (what EKS/Vault token generators pass) the GET succeeds."""
import html
import re
import urllib.error
import urllib.request
import uuid

import boto3
import pytest
from botocore.config import Config

from server import ACCESS_KEY, REGION, SECRET_KEY

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def fetch(url, method="GET"):
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def tag(xml, name):
    m = re.search(f"<{name}>([^<]*)</{name}>", xml)
    return html.unescape(m.group(1)) if m else None


def client(server, service, access_key=ACCESS_KEY, secret_key=SECRET_KEY, token=None):
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION, config=NO_RETRY,
                        aws_access_key_id=access_key, aws_secret_access_key=secret_key, aws_session_token=token)


@pytest.fixture(scope="module")
def user(server):
    iam = client(server, "iam")
    name = f"presign-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, key


def test_get_caller_identity_presigned_for_get(server):
    url = client(server, "sts").generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    status, body = fetch(url)
    assert status == 200, body
    assert re.fullmatch(r"arn:aws:iam::\d{12}:root", tag(body, "Arn"))


def test_iam_list_users_presigned_for_get(server, user):
    url = client(server, "iam").generate_presigned_url("list_users", ExpiresIn=60, HttpMethod="GET")
    status, body = fetch(url)
    assert status == 200, body
    assert f"<UserName>{user[0]}</UserName>" in body


def test_presigned_get_with_a_session_token(server, user):
    name, key = user
    creds = client(server, "sts", key["AccessKeyId"], key["SecretAccessKey"]).get_session_token(
        DurationSeconds=900)["Credentials"]
    sts = client(server, "sts", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    assert "X-Amz-Security-Token=" in url
    status, body = fetch(url)
    assert status == 200, body
    assert tag(body, "Arn").endswith(f":user/{name}")
    # The token is part of what was signed: another token under the same signature is refused.
    status, body = fetch(url.replace("X-Amz-Security-Token=", "X-Amz-Security-Token=x"))
    assert status == 403, body


def test_a_url_signed_for_post_is_refused_on_get_as_aws_does(server):
    url = client(server, "sts").generate_presigned_url("get_caller_identity", ExpiresIn=60)
    status, body = fetch(url)
    assert status == 403, body
    assert tag(body, "Code") == "SignatureDoesNotMatch"
    # AWS's message says which canonical request it computed: the GET one.
    message = tag(body, "Message")
    assert "The Canonical String for this request should have been\n'GET\n/\nAction=GetCallerIdentity" in message
    # Sent the way it was signed, it works.
    status, body = fetch(url, method="POST")
    assert status == 200, body


def test_tampered_and_expired_presigned_gets_are_refused(server):
    sts = client(server, "sts")
    url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    status, body = fetch(url.replace("X-Amz-Expires=60", "X-Amz-Expires=600"))
    assert status == 403 and tag(body, "Code") == "SignatureDoesNotMatch", body
    from unittest import mock
    import datetime
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)
    with mock.patch("botocore.auth.get_current_datetime", return_value=past.replace(tzinfo=None)):
        old = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    status, body = fetch(old)
    assert status == 403, body
    assert "expired" in tag(body, "Message").lower(), body
