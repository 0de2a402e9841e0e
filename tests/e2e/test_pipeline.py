"""The one request pipeline (crates/server/src/pipeline.rs), seen from outside: the three
defects it fixed, driven by boto3 and raw SigV4-signed requests.

* A refused CloudWatch or CloudTrail call keeps its request parameters in its audit record
  (they were dropped: the parameters were filled in only after authorization).
* A caller with no permissions naming an operation no AWS model has gets the protocol's
  unknown-operation error (it got AccessDenied: the unknown name was authorized first) —
  in every service and protocol — while a real operation it may not call is still denied.
* `/metrics` is authenticated, authorized and audited like an API call (it was checked
  outside the pipeline and never recorded).
"""
import time
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import audit_record, request_id, since, unique
from server import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def client(server, service, keys=(ACCESS_KEY, SECRET_KEY)):
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION,
                        aws_access_key_id=keys[0], aws_secret_access_key=keys[1],
                        config=NO_RETRY)


@pytest.fixture(scope="module")
def nobody(server):
    """An IAM user with no policy at all: every action is implicitly denied."""
    iam = client(server, "iam")
    name = unique("pipeline-nobody")
    iam.create_user(UserName=name)
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return name, (k["AccessKeyId"], k["SecretAccessKey"])


def signed(server, keys, service, method="POST", path="/", body=b"", headers=None):
    """A raw request signed with botocore's SigV4 for `service`; (status, headers, body)."""
    req = AWSRequest(method=method, url=f"{server.endpoint}{path}", data=body,
                     headers=dict(headers or {}))
    SigV4Auth(Credentials(*keys), service, REGION).add_auth(req)
    p = req.prepare()
    r = urllib.request.Request(p.url, data=body if method == "POST" else None,
                               headers=dict(p.headers), method=method)
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_refused_cloudwatch_and_cloudtrail_calls_keep_their_parameters(server, nobody):
    user, keys = nobody
    start = since()
    alarm = unique("pipeline-alarm")
    with pytest.raises(ClientError) as cw_err:
        client(server, "cloudwatch", keys).describe_alarms(AlarmNames=[alarm])
    assert "AccessDenied" in cw_err.value.response["Error"]["Code"]
    with pytest.raises(ClientError) as ct_err:
        client(server, "cloudtrail", keys).lookup_events(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "PipelineProbe"}])
    assert "AccessDenied" in ct_err.value.response["Error"]["Code"]

    r = audit_record(server, "monitoring.amazonaws.com", "DescribeAlarms",
                     request_id(cw_err.value), start)
    assert r["userIdentity"]["userName"] == user
    assert "AccessDenied" in r["errorCode"]
    assert r["requestParameters"] == {"alarmNames": [alarm]}, r
    r = audit_record(server, "cloudtrail.amazonaws.com", "LookupEvents",
                     request_id(ct_err.value), start)
    assert "AccessDenied" in r["errorCode"]
    assert r["requestParameters"] == {"lookupAttributes": [
        {"attributeKey": "EventName", "attributeValue": "PipelineProbe"}]}, r


JSON_SERVICES = [
    # (signing name, X-Amz-Target prefix, content type, a real operation the caller may not call)
    ("secretsmanager", "secretsmanager", "application/x-amz-json-1.1", "ListSecrets"),
    ("ssm", "AmazonSSM", "application/x-amz-json-1.1", "DescribeParameters"),
    ("kms", "TrentService", "application/x-amz-json-1.1", "ListKeys"),
    ("cloudtrail", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101",
     "application/x-amz-json-1.1", "LookupEvents"),
    ("monitoring", "GraniteServiceVersion20100801", "application/x-amz-json-1.0",
     "DescribeAlarms"),
]


@pytest.mark.parametrize("service,prefix,content_type,real", JSON_SERVICES,
                         ids=[s[0] for s in JSON_SERVICES])
def test_unknown_operation_is_answered_before_authorization(server, nobody, service, prefix,
                                                            content_type, real):
    _, keys = nobody
    headers = {"Content-Type": content_type}
    status, _, body = signed(server, keys, service, body=b"{}",
                             headers={**headers, "X-Amz-Target": f"{prefix}.NoSuchOperation"})
    assert status == 400, body
    assert b"UnknownOperationException" in body, body
    # The same caller, a real operation: the checks run and deny it.
    status, _, body = signed(server, keys, service, body=b"{}",
                             headers={**headers, "X-Amz-Target": f"{prefix}.{real}"})
    assert status in (400, 403), body
    assert b"AccessDenied" in body, body


@pytest.mark.parametrize("service,version", [("iam", "2010-05-08"), ("sts", "2011-06-15"),
                                             ("monitoring", "2010-08-01")])
def test_unknown_query_action_is_invalid_action(server, nobody, service, version):
    _, keys = nobody
    body = f"Action=NoSuchAction&Version={version}".encode()
    status, _, reply = signed(server, keys, service, body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    assert status == 400, reply
    assert b"<Code>InvalidAction</Code>" in reply, reply


def test_unknown_cbor_operation(server, nobody):
    _, keys = nobody
    status, headers, reply = signed(
        server, keys, "monitoring",
        path="/service/GraniteServiceVersion20100801/operation/NoSuchOperation",
        body=b"\xa0", headers={"Content-Type": "application/cbor", "Accept": "application/cbor",
                               "smithy-protocol": "rpc-v2-cbor"})
    assert status == 400, reply
    assert b"UnknownOperationException" in reply, reply


def test_metrics_scrapes_are_authenticated_authorized_and_audited(server, nobody):
    user, keys = nobody
    start = since()
    status, headers, text = signed(server, (ACCESS_KEY, SECRET_KEY), "monitoring",
                                   method="GET", path="/metrics")
    assert status == 200 and b"strongroom_" in text
    rid = headers.get("x-amzn-requestid") or headers.get("X-Amzn-Requestid")
    r = audit_record(server, "monitoring.amazonaws.com", "GetPrometheusMetrics", rid, start)
    assert r["userIdentity"]["arn"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert r["readOnly"] is True and "errorCode" not in r

    status, headers, text = signed(server, keys, "monitoring", method="GET", path="/metrics")
    assert status == 403 and text.startswith(b"AccessDenied"), text
    assert b"strongroom_" not in text
    rid = headers.get("x-amzn-requestid") or headers.get("X-Amzn-Requestid")
    r = audit_record(server, "monitoring.amazonaws.com", "GetPrometheusMetrics", rid, start)
    assert r["userIdentity"]["userName"] == user
    assert r["errorCode"] == "AccessDenied"

    # Unsigned: refused, and recorded as an unauthenticated attempt.
    try:
        urllib.request.urlopen(f"{server.endpoint}/metrics", timeout=10)
        raise AssertionError("an unsigned scrape was answered")
    except urllib.error.HTTPError as e:
        assert e.code == 403
        assert b"strongroom_" not in e.read()
        rid = e.headers.get("x-amzn-requestid")
    r = audit_record(server, "monitoring.amazonaws.com", "GetPrometheusMetrics", rid, start)
    assert r.get("errorCode"), r


def test_metrics_count_the_store_cache_hits_and_misses(server, sm):
    """`strongroom_store_cache_lookups_total` counts secret and value reads answered from the
    store's cache (hit) or read from the store (miss), and `strongroom_store_cache_entries`
    what it holds: the figures that say whether the cache is big enough."""
    def scrape():
        status, _, text = signed(server, (ACCESS_KEY, SECRET_KEY), "monitoring",
                                 method="GET", path="/metrics")
        assert status == 200, text
        counts = {}
        for line in text.decode().splitlines():
            if line.startswith(("strongroom_store_cache_lookups_total{",
                                "strongroom_store_cache_entries{")):
                key, value = line.rsplit(" ", 1)
                counts[key] = float(value)
        return counts

    def lookups(counts, kind, result):
        return counts[f'strongroom_store_cache_lookups_total{{kind="{kind}",result="{result}"}}']

    name = unique("cache-counted")
    sm.create_secret(Name=name, SecretString="counted")
    before = scrape()
    # The secret was cached when it was written; its value is read from the store once.
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "counted"
    # The first read's LastAccessedDate stamp is written within half a second. Neither that
    # write nor the creation drops the cached copy — on PostgreSQL, where each is announced to
    # every node, this one's own announcements included.
    time.sleep(1.5)
    for _ in range(2):
        assert sm.get_secret_value(SecretId=name)["SecretString"] == "counted"
    after = scrape()
    assert lookups(after, "secret", "hit") - lookups(before, "secret", "hit") >= 3
    assert lookups(after, "value", "miss") - lookups(before, "value", "miss") >= 1
    assert lookups(after, "value", "hit") - lookups(before, "value", "hit") >= 2
    assert after['strongroom_store_cache_entries{kind="secret"}'] >= 1
    assert after['strongroom_store_cache_entries{kind="value"}'] >= 1
