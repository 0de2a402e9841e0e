"""The audit trail as an auditor and an operator meet it, through real clients.

* seed 003's `aws cloudtrail lookup-events` verbatim;
* LookupEvents by each of the eight attribute keys (boto3, and the CLI for some), time windows,
  paging (MaxResults/NextToken by hand and boto3's paginator), tokens bound to their parameters,
  every invalid-input error, and `cloudtrail:LookupEvents` authorization;
* IAM and STS calls recorded with the caller's identity and no credential they return;
* one record per Secrets Manager call the server offers — root, an IAM user made with `aws iam`,
  an assumed role, a denied call, a badly signed call — with the response's request id, the
  right identity and no sensitive member;
* `strongroom audit verify|tail|search|public-key` on a server of our own whose log we tamper
  with (delete, edit, swap, truncate, re-hash, forge a digest);
* fail closed: `--audit-max-mb 1` full → requests refused with InternalFailure, nothing served
  or stored unaudited;
* `--audit-export-dir` and `--audit-stdout` carry the same records as the log.

Every secret value used is registered with the leak registry (secret()/remember()), so the leak
scan after the run looks for each of them in every log and data dir (the export dirs made here
live under the run's data dirs for that reason).
"""
import base64
import datetime as dt
import glob
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import (aws, aws_error, aws_json, keys_anywhere, request_id, secret, since,
                      sm_client, unique)
from leaks import remember
from server import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, Server, binary, work_dir

SM_SOURCE = "secretsmanager.amazonaws.com"
SECRET_TYPE = "AWS::SecretsManager::Secret"
ROOT_ARN = f"arn:aws:iam::{ACCOUNT}:root"
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})
# Members that must never be in a record, at any depth, in any spelling of their case.
SENSITIVE = {"secretstring", "secretbinary", "randompassword", "rotationtoken", "password",
             "newpassword", "oldpassword", "secretaccesskey", "sessiontoken"}
ATTRIBUTE_KEYS = ["EventId", "EventName", "ReadOnly", "Username", "ResourceType",
                  "ResourceName", "EventSource", "AccessKeyId"]


# ---------------------------------------------------------------------------------------------
# helpers


def trail(server, access_key=ACCESS_KEY, secret_key=SECRET_KEY, session_token=None,
          validate=True):
    cfg = NO_RETRY.merge(Config(parameter_validation=validate))
    return boto3.client("cloudtrail", endpoint_url=server.endpoint, region_name=REGION,
                        aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                        aws_session_token=session_token, config=cfg)


def client(server, service, access_key=ACCESS_KEY, secret_key=SECRET_KEY, session_token=None):
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION,
                        aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                        aws_session_token=session_token, config=NO_RETRY)


def attr(key, value):
    return [{"AttributeKey": key, "AttributeValue": value}]


def lookup_all(ct, **kw):
    """Every event a lookup finds, over all pages, newest first."""
    out = []
    for page in ct.get_paginator("lookup_events").paginate(**kw):
        out += page["Events"]
    return out


def parsed(events):
    return [json.loads(e["CloudTrailEvent"]) for e in events]


def by_request_id(ct, event_name, rid, start):
    """(summary, record) of the one event with this requestID among `event_name` events since
    `start`; fails unless there is exactly one."""
    hits = [(e, json.loads(e["CloudTrailEvent"]))
            for e in lookup_all(ct, LookupAttributes=attr("EventName", event_name),
                                StartTime=start)]
    hits = [(e, r) for e, r in hits if r.get("requestID") == rid]
    assert len(hits) == 1, f"{len(hits)} {event_name} records carry requestID {rid}"
    return hits[0]


def assert_no_sensitive(record, *values):
    bad = [k for k in keys_anywhere(record) if k.lower() in SENSITIVE]
    assert not bad, f"sensitive members {bad} in {record['eventName']} record: {record}"
    text = json.dumps(record)
    for v in values:
        assert v not in text, f"a secret value is in the {record['eventName']} record"


def assert_camel_case(doc, where):
    for k in keys_anywhere(doc):
        assert k[:1].islower(), f"{where}: key {k!r} is not lowerCamelCase"


def sm_raw_error(err):
    return err.response["Error"]["Code"]


def segment_lines(data_dir):
    """The audit log's segment lines, in file order: [seq, prev, hash, time, record]."""
    segs = sorted(p for p in glob.glob(os.path.join(data_dir, "audit", "*.log"))
                  if not p.endswith("digests.log"))
    lines = []
    for p in segs:
        with open(p) as f:
            lines += [l.split("\t", 4) for l in f.read().splitlines() if l]
    return segs, lines


def run_audit(*args, data_dir):
    p = subprocess.run([binary(), "audit", *args, "--data-dir", data_dir],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


# ---------------------------------------------------------------------------------------------
# 1. seed 003 verbatim


def test_seed_003_lookup_events_finds_the_reads_just_made(server):
    name = unique("audit-seed003")
    value = secret("seed003")
    aws(server, "secretsmanager", "create-secret", "--name", name, "--secret-string", value)
    version = aws_json(server, "secretsmanager", "describe-secret", "--secret-id", name)
    version_id = next(iter(version["VersionIdsToStages"]))
    # Three reads, told apart by their parameters (oldest first).
    for extra in ([], ["--version-id", version_id], ["--version-stage", "AWSCURRENT"]):
        got = aws_json(server, "secretsmanager", "get-secret-value", "--secret-id", name, *extra)
        assert got["SecretString"] == value

    # The seed's command, word for word (the helper adds only --endpoint-url and --output json).
    code, out, err = aws(server, "cloudtrail", "lookup-events", "--lookup-attributes",
                         "AttributeKey=EventName,AttributeValue=GetSecretValue")
    assert code == 0, err
    assert value not in out and value not in err, "a secret value is in lookup-events output"
    events = json.loads(out)["Events"]
    assert events and {e["EventName"] for e in events} == {"GetSecretValue"}
    times = [e["EventTime"] for e in events]
    assert times == sorted(times, reverse=True), "events are not newest first"
    assert len({e["EventId"] for e in events}) == len(events), "an event is listed twice"

    mine = [(e, json.loads(e["CloudTrailEvent"])) for e in events]
    mine = [(e, r) for e, r in mine if r["requestParameters"].get("secretId") == name]
    assert [r["requestParameters"] for _, r in mine] == [
        {"secretId": name, "versionStage": "AWSCURRENT"},
        {"secretId": name, "versionId": version_id},
        {"secretId": name},
    ], "the three reads, newest first, each with its own parameters"
    arn = version["ARN"]
    for e, r in mine:
        assert e["ReadOnly"] == "true" and e["Username"] == "root"
        assert e["AccessKeyId"] == ACCESS_KEY and e["EventSource"] == SM_SOURCE
        assert e["Resources"] == [{"ResourceType": SECRET_TYPE, "ResourceName": arn}]
        assert r["eventID"] == e["EventId"] and r["eventName"] == "GetSecretValue"
        assert r["userIdentity"] == {"type": "Root", "principalId": ACCOUNT, "arn": ROOT_ARN,
                                     "accountId": ACCOUNT, "accessKeyId": ACCESS_KEY}
        assert r["readOnly"] is True and r["responseElements"] is None
        assert r["resources"] == [{"ARN": arn, "accountId": ACCOUNT, "type": SECRET_TYPE}]
        assert r["userAgent"].startswith("aws-cli/")
        assert_no_sensitive(r, value)


# ---------------------------------------------------------------------------------------------
# 2. LookupEvents: attribute keys, time windows, paging, errors, authorization


@pytest.fixture(scope="module")
def actors(server):
    """An IAM user (made with the AWS CLI), a role it assumes, a secret, and a known history
    of calls by each of them. Returns what the tests need to look them up."""
    start = since(2)
    name = unique("audit-actors")
    value = secret("actors")
    sm = sm_client(server, config=NO_RETRY)
    arn = sm.create_secret(Name=name, SecretString=value)["ARN"]

    user = unique("audit-user")
    made = aws_json(server, "iam", "create-user", "--user-name", user)["User"]
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue",
                                       "secretsmanager:DescribeSecret"],
         "Resource": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-*"},
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
    aws(server, "iam", "put-user-policy", "--user-name", user, "--policy-name", "reads",
        "--policy-document", json.dumps(policy))
    key = aws_json(server, "iam", "create-access-key", "--user-name", user)["AccessKey"]
    remember(key["SecretAccessKey"])
    kid, ksecret = key["AccessKeyId"], key["SecretAccessKey"]

    role = unique("audit-role")
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": made["Arn"]}, "Action": "sts:AssumeRole"}]}
    made_role = aws_json(server, "iam", "create-role", "--role-name", role,
                         "--assume-role-policy-document", json.dumps(trust))["Role"]
    aws(server, "iam", "put-role-policy", "--role-name", role, "--policy-name", "read",
        "--policy-document", json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": arn}]}))

    calls = []  # (who, event name, request id, error code or None), oldest first

    def call(who, event_name, fn):
        try:
            resp = fn()
        except ClientError as e:
            calls.append((who, event_name, request_id(e), sm_raw_error(e)))
            return e
        calls.append((who, event_name, request_id(resp), None))
        return resp

    usm = sm_client(server, access_key=kid, secret_key=ksecret, config=NO_RETRY)
    got = call("user", "GetSecretValue", lambda: usm.get_secret_value(SecretId=name))
    assert got["SecretString"] == value
    denied_value = secret("actors-denied")
    denied = call("user", "PutSecretValue",
                  lambda: usm.put_secret_value(SecretId=name, SecretString=denied_value))
    assert isinstance(denied, ClientError) and sm_raw_error(denied) == "AccessDeniedException"
    call("user", "DescribeSecret", lambda: usm.describe_secret(SecretId=name))
    creds = call("user", "AssumeRole", lambda: client(server, "sts", kid, ksecret).assume_role(
        RoleArn=made_role["Arn"], RoleSessionName="audit-session"))["Credentials"]
    remember(creds["SecretAccessKey"])
    remember(creds["SessionToken"])
    rsm = sm_client(server, access_key=creds["AccessKeyId"],
                    secret_key=creds["SecretAccessKey"], session_token=creds["SessionToken"],
                    config=NO_RETRY)
    got = call("role", "GetSecretValue", lambda: rsm.get_secret_value(SecretId=name))
    assert got["SecretString"] == value
    role_denied = call("role", "DescribeSecret", lambda: rsm.describe_secret(SecretId=name))
    assert sm_raw_error(role_denied) == "AccessDeniedException"
    # The user's key with a wrong secret: the signature does not verify.
    bad = sm_client(server, access_key=kid, secret_key="not-the-secret-key-" + "x" * 21,
                    config=NO_RETRY)
    bad_err = call("badsig", "GetSecretValue", lambda: bad.get_secret_value(SecretId=name))
    assert isinstance(bad_err, ClientError)
    return dict(start=start, name=name, arn=arn, value=value, denied_value=denied_value,
                user=user, user_id=made["UserId"], user_arn=made["Arn"], key_id=kid,
                role=role, role_arn=made_role["Arn"], role_id=made_role["RoleId"],
                creds=creds, calls=calls, secret_key=ksecret)


def test_lookup_by_each_attribute_key_with_boto3(server, actors):
    ct = trail(server)
    start = actors["start"]
    user_calls = [c for c in actors["calls"] if c[0] == "user"]

    # Username: exactly the user's calls, newest first.
    by_user = lookup_all(ct, LookupAttributes=attr("Username", actors["user"]))
    assert [json.loads(e["CloudTrailEvent"])["requestID"] for e in by_user] == \
        [c[2] for c in reversed(user_calls)]
    assert all(e["Username"] == actors["user"] for e in by_user)

    # AccessKeyId: the user's calls and the badly signed one that claimed the user's key.
    by_key = lookup_all(ct, LookupAttributes=attr("AccessKeyId", actors["key_id"]))
    want = [c for c in actors["calls"] if c[0] in ("user", "badsig")]
    assert [json.loads(e["CloudTrailEvent"])["requestID"] for e in by_key] == \
        [c[2] for c in reversed(want)]
    assert all(e["AccessKeyId"] == actors["key_id"] for e in by_key)

    # EventId: exactly one event, that one.
    some = by_user[1]
    by_id = lookup_all(ct, LookupAttributes=attr("EventId", some["EventId"]))
    assert by_id == [some]

    # EventName: only that name; our two successful GetSecretValue calls are among them.
    by_name = lookup_all(ct, LookupAttributes=attr("EventName", "GetSecretValue"),
                         StartTime=start)
    assert by_name and {e["EventName"] for e in by_name} == {"GetSecretValue"}
    rids = {json.loads(e["CloudTrailEvent"]).get("requestID") for e in by_name}
    assert {c[2] for c in actors["calls"] if c[1] == "GetSecretValue"} <= rids

    # ReadOnly: true and false split the window between them, each correctly marked.
    before = {e["EventId"] for e in lookup_all(ct, StartTime=start)}
    ro = lookup_all(ct, LookupAttributes=attr("ReadOnly", "true"), StartTime=start)
    rw = lookup_all(ct, LookupAttributes=attr("ReadOnly", "false"), StartTime=start)
    assert {e["ReadOnly"] for e in ro} == {"true"} and {e["ReadOnly"] for e in rw} == {"false"}
    assert all(json.loads(e["CloudTrailEvent"])["readOnly"] is True for e in ro)
    assert all(json.loads(e["CloudTrailEvent"])["readOnly"] is False for e in rw)
    ro_ids, rw_ids = {e["EventId"] for e in ro}, {e["EventId"] for e in rw}
    assert not ro_ids & rw_ids and before <= ro_ids | rw_ids
    assert {"GetSecretValue", "DescribeSecret"} <= {e["EventName"] for e in ro}
    assert {"CreateSecret", "PutSecretValue", "CreateUser", "PutUserPolicy"} <= \
        {e["EventName"] for e in rw}

    # ResourceType: only events on secrets, each naming one.
    by_type = lookup_all(ct, LookupAttributes=attr("ResourceType", SECRET_TYPE),
                         StartTime=start)
    assert by_type
    for e in by_type:
        assert [r["ResourceType"] for r in e["Resources"]] == [SECRET_TYPE]
    assert {"CreateSecret", "GetSecretValue", "PutSecretValue"} <= {e["EventName"] for e in by_type}

    # ResourceName: by full ARN and by friendly name (successful calls: the secret's ARN).
    by_arn = lookup_all(ct, LookupAttributes=attr("ResourceName", actors["arn"]))
    by_short = lookup_all(ct, LookupAttributes=attr("ResourceName", actors["name"]))
    assert [e["EventName"] for e in by_arn][-1] == "CreateSecret", "oldest last"
    ok_calls = [c for c in actors["calls"] if c[1] in ("GetSecretValue", "PutSecretValue",
                                                       "DescribeSecret")
                and c[0] != "badsig" and c[3] is None]
    for found in (by_arn, by_short):
        got_rids = [json.loads(e["CloudTrailEvent"]).get("requestID") for e in found]
        for c in ok_calls:
            assert c[2] in got_rids, f"{c} is not found by its secret's ARN or name"
    for e in by_arn:
        assert e["Resources"] == [{"ResourceType": SECRET_TYPE, "ResourceName": actors["arn"]}]
    assert {e["EventId"] for e in by_arn} <= {e["EventId"] for e in by_short}

    # EventSource: STS events only, and the user's AssumeRole among them.
    by_source = lookup_all(ct, LookupAttributes=attr("EventSource", "sts.amazonaws.com"),
                           StartTime=start)
    assert by_source and {e["EventSource"] for e in by_source} == {"sts.amazonaws.com"}
    assume_rid = next(c[2] for c in actors["calls"] if c[1] == "AssumeRole")
    assert assume_rid in {json.loads(e["CloudTrailEvent"]).get("requestID") for e in by_source}

    # Values nobody used find nothing (not everything).
    for key in ATTRIBUTE_KEYS:
        if key != "ReadOnly":
            value = f"no-such-{unique('x')}"
            assert ct.lookup_events(LookupAttributes=attr(key, value))["Events"] == [], key


def test_denied_attempts_are_found_by_the_secrets_arn(server, actors):
    """An auditor asking "who touched arn:...:secret:X" must also see who was refused. The
    secret exists (the server resolved it to authorize the call), so the record's resource is
    its ARN, not whatever spelling the caller used."""
    ct = trail(server)
    by_arn = lookup_all(ct, LookupAttributes=attr("ResourceName", actors["arn"]))
    by_short = lookup_all(ct, LookupAttributes=attr("ResourceName", actors["name"]))
    denied = [c for c in actors["calls"] if c[3] == "AccessDeniedException"]
    assert len(denied) == 2
    for found in (by_arn, by_short):
        rids = [json.loads(e["CloudTrailEvent"]).get("requestID") for e in found]
        for c in denied:
            assert c[2] in rids, (
                f"the denied {c[1]} by the {c[0]} is not found by ResourceName="
                f"{found is by_arn and actors['arn'] or actors['name']}")
    for e in by_short:
        r = json.loads(e["CloudTrailEvent"])
        assert r["resources"] == [{"ARN": actors["arn"], "accountId": ACCOUNT,
                                   "type": SECRET_TYPE}], (
            f"{r['eventName']} ({r.get('errorCode')}) records resources {r['resources']}: "
            "resources[].ARN must be the secret's ARN")
    assert [e["EventId"] for e in by_arn] == [e["EventId"] for e in by_short]


def test_lookup_attribute_keys_through_the_cli(server, actors):
    ct = trail(server)
    for key, value in (("Username", actors["user"]), ("AccessKeyId", actors["key_id"]),
                       ("ResourceName", actors["name"]), ("EventSource", "sts.amazonaws.com")):
        start = actors["start"].strftime("%Y-%m-%dT%H:%M:%SZ")
        out = aws_json(server, "cloudtrail", "lookup-events", "--lookup-attributes",
                       f"AttributeKey={key},AttributeValue={value}", "--start-time", start)
        want = lookup_all(ct, LookupAttributes=attr(key, value), StartTime=actors["start"])
        # LookupEvents' own records come after the boto3 lookup, so compare the older ones.
        cli_ids = [e["EventId"] for e in out["Events"] if e["EventName"] != "LookupEvents"]
        assert cli_ids == [e["EventId"] for e in want if e["EventName"] != "LookupEvents"], key
        assert cli_ids, f"the CLI found nothing by {key}"
        text = json.dumps(out)
        for v in (actors["value"], actors["denied_value"], actors["secret_key"],
                  actors["creds"]["SecretAccessKey"], actors["creds"]["SessionToken"]):
            assert v not in text
    # --max-items / --starting-token page through the same results.
    first = aws_json(server, "cloudtrail", "lookup-events", "--lookup-attributes",
                     f"AttributeKey=Username,AttributeValue={actors['user']}", "--max-items", "2")
    assert len(first["Events"]) == 2 and first.get("NextToken")
    rest = aws_json(server, "cloudtrail", "lookup-events", "--lookup-attributes",
                    f"AttributeKey=Username,AttributeValue={actors['user']}",
                    "--starting-token", first["NextToken"])
    all_user = lookup_all(ct, LookupAttributes=attr("Username", actors["user"]))
    assert [e["EventId"] for e in first["Events"] + rest["Events"]] == \
        [e["EventId"] for e in all_user]


def test_identities_in_records(server, actors):
    """IAM user, assumed role, a denied call and a badly signed one: each record carries the
    identity that made it, its error, the response's request id, and no secret."""
    ct = trail(server)
    start = actors["start"]
    calls = {(c[0], c[1]): c for c in actors["calls"]}
    secrets_ = (actors["value"], actors["denied_value"], actors["secret_key"],
                actors["creds"]["SecretAccessKey"], actors["creds"]["SessionToken"])

    user_identity = {"type": "IAMUser", "principalId": actors["user_id"],
                     "arn": actors["user_arn"], "accountId": ACCOUNT,
                     "accessKeyId": actors["key_id"], "userName": actors["user"]}
    e, r = by_request_id(ct, "GetSecretValue", calls[("user", "GetSecretValue")][2], start)
    assert r["userIdentity"] == user_identity
    assert e["Username"] == actors["user"] and e["AccessKeyId"] == actors["key_id"]
    assert "errorCode" not in r and r["requestParameters"] == {"secretId": actors["name"]}
    assert_no_sensitive(r, *secrets_)

    # Denied: recorded with the error, the caller, and without the value it tried to write.
    e, r = by_request_id(ct, "PutSecretValue", calls[("user", "PutSecretValue")][2], start)
    assert r["userIdentity"] == user_identity
    assert r["errorCode"] == "AccessDeniedException"
    assert f"User: {actors['user_arn']} is not authorized to perform: " \
           "secretsmanager:PutSecretValue" in r["errorMessage"]
    assert r["readOnly"] is False and r["responseElements"] is None
    assert r["requestParameters"].get("secretId") == actors["name"]
    assert_no_sensitive(r, *secrets_)

    # The user's AssumeRole: STS record, no credentials in it.
    e, r = by_request_id(ct, "AssumeRole", calls[("user", "AssumeRole")][2], start)
    assert r["eventSource"] == "sts.amazonaws.com" and r["userIdentity"] == user_identity
    assert r["requestParameters"]["roleSessionName"] == "audit-session"
    assert_no_sensitive(r, *secrets_)

    # Assumed role: sessionContext names the role it was issued for.
    role_identity = {
        "type": "AssumedRole",
        "principalId": f"{actors['role_id']}:audit-session",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{actors['role']}/audit-session",
        "accountId": ACCOUNT,
        "accessKeyId": actors["creds"]["AccessKeyId"],
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": actors["role_id"],
                              "arn": actors["role_arn"], "accountId": ACCOUNT,
                              "userName": actors["role"]},
            "attributes": {"mfaAuthenticated": "false"}}}
    e, r = by_request_id(ct, "GetSecretValue", calls[("role", "GetSecretValue")][2], start)
    assert r["userIdentity"] == role_identity
    assert e["Username"] == "audit-session"
    assert e["AccessKeyId"] == actors["creds"]["AccessKeyId"]
    assert actors["creds"]["AccessKeyId"].startswith("ASIA")
    assert_no_sensitive(r, *secrets_)
    e, r = by_request_id(ct, "DescribeSecret", calls[("role", "DescribeSecret")][2], start)
    assert r["userIdentity"] == role_identity and r["errorCode"] == "AccessDeniedException"
    by_session = lookup_all(ct, LookupAttributes=attr("Username", "audit-session"),
                            StartTime=start)
    assert {json.loads(x["CloudTrailEvent"])["requestID"] for x in by_session} >= \
        {calls[("role", "GetSecretValue")][2], calls[("role", "DescribeSecret")][2]}

    # Bad signature: identity Unknown with the claimed key, the client's error code.
    who, _, rid, code = calls[("badsig", "GetSecretValue")]
    assert code == "InvalidSignatureException"
    e, r = by_request_id(ct, "GetSecretValue", rid, start)
    assert r["userIdentity"] == {"type": "Unknown", "accessKeyId": actors["key_id"]}
    assert r["errorCode"] == "InvalidSignatureException"
    assert r["eventSource"] == SM_SOURCE
    assert "Username" not in e
    assert_no_sensitive(r, *secrets_)


def test_time_windows(server):
    sm = sm_client(server, config=NO_RETRY)
    ct = trail(server)
    name = unique("audit-window")
    sm.create_secret(Name=name, SecretString=secret("window"))
    time.sleep(1.1)
    a = request_id(sm.describe_secret(SecretId=name))
    time.sleep(2.2)
    tb0 = time.time()
    b = request_id(sm.list_secret_version_ids(SecretId=name))
    tb1 = time.time()
    time.sleep(2.2)
    c = request_id(sm.describe_secret(SecretId=name))

    def rids(**kw):
        return [json.loads(e["CloudTrailEvent"])["requestID"]
                for e in lookup_all(ct, LookupAttributes=attr("ResourceName", name), **kw)]

    at = lambda t: dt.datetime.fromtimestamp(t, dt.timezone.utc)  # noqa: E731
    lo, hi = at(math.floor(tb0)), at(math.ceil(tb1))
    everything = rids()
    assert everything[:3] == [c, b, a] and len(everything) == 4
    assert rids(StartTime=lo, EndTime=hi) == [b]
    assert rids(StartTime=lo) == [c, b]
    assert rids(EndTime=hi) == everything[1:]
    assert rids(StartTime=lo, EndTime=lo) in ([], [b])  # a one-second window at most
    assert rids(StartTime=at(math.ceil(time.time()) + 60)) == []
    # The CLI's ISO-8601 times mean the same.
    iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    out = aws_json(server, "cloudtrail", "lookup-events", "--lookup-attributes",
                   f"AttributeKey=ResourceName,AttributeValue={name}",
                   "--start-time", iso(lo), "--end-time", iso(hi))
    assert [json.loads(e["CloudTrailEvent"])["requestID"] for e in out["Events"]] == [b]


def test_paging_with_max_results_and_next_token(server):
    sm = sm_client(server, config=NO_RETRY)
    ct = trail(server)
    name = unique("audit-pages")
    other = unique("audit-pages-other")
    sm.create_secret(Name=name, SecretString=secret("pages"))
    sm.create_secret(Name=other, SecretString=secret("pages-other"))
    for _ in range(9):
        sm.describe_secret(SecretId=name)
    sm.describe_secret(SecretId=other)
    full = ct.lookup_events(LookupAttributes=attr("ResourceName", name))
    assert "NextToken" not in full and len(full["Events"]) == 10

    pages, token = [], None
    while True:
        kw = {"NextToken": token} if token else {}
        page = ct.lookup_events(LookupAttributes=attr("ResourceName", name), MaxResults=2, **kw)
        pages.append(page["Events"])
        token = page.get("NextToken")
        if not token:
            break
        assert len(pages) < 20, "paging does not end"
    assert [len(p) for p in pages] == [2, 2, 2, 2, 2], "10 events in pages of 2, no empty page"
    assert [e["EventId"] for p in pages for e in p] == [e["EventId"] for e in full["Events"]]

    # MaxResults=3: 3+3+3+1.
    sizes = [len(p["Events"]) for p in ct.get_paginator("lookup_events").paginate(
        LookupAttributes=attr("ResourceName", name), PaginationConfig={"PageSize": 3})]
    assert sizes == [3, 3, 3, 1]
    # The paginator with MaxItems stops and resumes from its own token.
    pg = ct.get_paginator("lookup_events")
    first = pg.paginate(LookupAttributes=attr("ResourceName", name),
                        PaginationConfig={"PageSize": 4, "MaxItems": 5}).build_full_result()
    assert len(first["Events"]) == 5 and first.get("NextToken")
    rest = pg.paginate(LookupAttributes=attr("ResourceName", name),
                       PaginationConfig={"PageSize": 4, "StartingToken": first["NextToken"]}
                       ).build_full_result()
    assert [e["EventId"] for e in first["Events"] + rest["Events"]] == \
        [e["EventId"] for e in full["Events"]]

    # A token is bound to the parameters it was issued for.
    token = ct.lookup_events(LookupAttributes=attr("ResourceName", name),
                             MaxResults=2)["NextToken"]
    for kw in ({"LookupAttributes": attr("ResourceName", other)},
               {"LookupAttributes": attr("EventName", "DescribeSecret")},
               {},
               {"LookupAttributes": attr("ResourceName", name), "StartTime": since(3600)},
               {"LookupAttributes": attr("ResourceName", name), "EndTime": since(-3600)}):
        with pytest.raises(ct.exceptions.InvalidNextTokenException):
            ct.lookup_events(NextToken=token, MaxResults=2, **kw)
    # ... and still works with them.
    again = ct.lookup_events(LookupAttributes=attr("ResourceName", name), MaxResults=2,
                             NextToken=token)
    assert [e["EventId"] for e in again["Events"]] == \
        [e["EventId"] for e in full["Events"][2:4]]


def test_invalid_lookups_are_refused_and_recorded(server):
    ct = trail(server, validate=False)
    start = since(2)
    cases = [
        ("InvalidLookupAttributesException",
         {"LookupAttributes": attr("EventName", "GetSecretValue") + attr("Username", "root")}),
        ("InvalidLookupAttributesException", {"LookupAttributes": attr("Colour", "blue")}),
        ("InvalidLookupAttributesException", {"LookupAttributes": attr("ReadOnly", "maybe")}),
        ("InvalidLookupAttributesException", {"LookupAttributes": attr("EventName", "")}),
        ("InvalidLookupAttributesException",
         {"LookupAttributes": attr("EventName", "x" * 2001)}),
        ("InvalidTimeRangeException",
         {"StartTime": since(0), "EndTime": since(3600)}),
        ("InvalidMaxResultsException", {"MaxResults": 0}),
        ("InvalidMaxResultsException", {"MaxResults": 51}),
        ("InvalidMaxResultsException", {"MaxResults": -1}),
        ("InvalidNextTokenException", {"NextToken": "bm90LWEtdG9rZW4"}),
        ("InvalidNextTokenException", {"NextToken": "!!!"}),
        ("InvalidEventCategoryException", {"EventCategory": "management"}),
    ]
    refused = []
    for code, kw in cases:
        with pytest.raises(ClientError) as ei:
            ct.lookup_events(**kw)
        err = ei.value
        assert err.response["Error"]["Code"] == code, (kw, err.response["Error"])
        assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert err.response["Error"]["Message"], "an error without a message"
        refused.append((code, request_id(err)))
    # The modelled exceptions map to botocore's classes, as SDK users catch them.
    with pytest.raises(ct.exceptions.InvalidMaxResultsException):
        ct.lookup_events(MaxResults=500)
    # Valid edges are accepted.
    assert len(ct.lookup_events(MaxResults=1)["Events"]) == 1
    assert len(ct.lookup_events(MaxResults=50)["Events"]) <= 50
    assert ct.lookup_events(EventCategory="insight")["Events"] == []
    assert ct.lookup_events(StartTime=since(0), EndTime=since(0))["Events"] is not None

    # Each refusal left a record of its own, with its error code.
    strict = trail(server)
    for code, rid in refused:
        _, r = by_request_id(strict, "LookupEvents", rid, start)
        assert r["eventSource"] == "cloudtrail.amazonaws.com"
        assert r["errorCode"] == code and r["readOnly"] is True
        assert r["userIdentity"]["type"] == "Root"

    # And through the CLI.
    assert aws_error(server, "cloudtrail", "lookup-events", "--lookup-attributes",
                     "AttributeKey=EventName,AttributeValue=GetSecretValue",
                     "--start-time", "2026-01-02T00:00:00Z",
                     "--end-time", "2026-01-01T00:00:00Z") == "InvalidTimeRangeException"
    assert aws_error(server, "cloudtrail", "lookup-events", "--lookup-attributes",
                     "AttributeKey=Nope,AttributeValue=x") == "InvalidLookupAttributesException"


def test_lookup_events_needs_cloudtrail_permission(server):
    user = unique("audit-reader")
    aws(server, "iam", "create-user", "--user-name", user)
    key = aws_json(server, "iam", "create-access-key", "--user-name", user)["AccessKey"]
    remember(key["SecretAccessKey"])
    ct = trail(server, key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(ClientError) as ei:
        ct.lookup_events(MaxResults=1)
    assert ei.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "cloudtrail:LookupEvents" in ei.value.response["Error"]["Message"]
    denied_rid = request_id(ei.value)
    aws(server, "iam", "put-user-policy", "--user-name", user, "--policy-name", "trail",
        "--policy-document", json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "cloudtrail:LookupEvents", "Resource": "*"}]}))
    out = ct.lookup_events(LookupAttributes=attr("Username", user))
    # Its own denied lookup is the only event so far by this user.
    assert [json.loads(e["CloudTrailEvent"])["requestID"] for e in out["Events"]] == [denied_rid]
    r = json.loads(out["Events"][0]["CloudTrailEvent"])
    assert r["errorCode"] == "AccessDeniedException"
    assert r["userIdentity"]["type"] == "IAMUser" and r["userIdentity"]["userName"] == user
    # The CLI with the user's credentials sees the same.
    env = server.env(access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    cli = aws_json(server, "cloudtrail", "lookup-events", "--lookup-attributes",
                   f"AttributeKey=Username,AttributeValue={user}", env=env)
    assert [e["EventName"] for e in cli["Events"]] == ["LookupEvents", "LookupEvents"]


# ---------------------------------------------------------------------------------------------
# 3. One record per Secrets Manager operation


# Operation → expected readOnly (CloudTrail marks Get/List/Describe/BatchGet/Validate reads).
READ_ONLY = {"GetSecretValue": True, "DescribeSecret": True, "ListSecrets": True,
             "ListSecretVersionIds": True, "BatchGetSecretValue": True,
             "GetRandomPassword": True, "GetResourcePolicy": True,
             "ValidateResourcePolicy": True}


def test_every_secrets_manager_operation_leaves_one_clean_record(server):
    sm = sm_client(server, config=NO_RETRY)
    ct = trail(server)
    start = since(2)
    name = unique("audit-ops")
    v1, v2, v3 = secret("ops-1"), secret("ops-2"), secret("ops-3")
    binary_value = secret("ops-bin").encode()
    remember(base64.b64encode(binary_value).decode())
    values = [v1, v2, v3, binary_value.decode(), base64.b64encode(binary_value).decode()]
    token = "a" * 8 + "-0000-4000-8000-" + "b" * 12
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": ROOT_ARN},
        "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})

    done = []  # (operation, response or error, touches the secret?)

    def op(operation, fn, on_secret=True):
        try:
            resp = fn()
        except ClientError as e:
            done.append((operation, e, on_secret))
            return e
        done.append((operation, resp, on_secret))
        return resp

    created = op("CreateSecret", lambda: sm.create_secret(
        Name=name, SecretString=v1, Description="audited ops",
        Tags=[{"Key": "team", "Value": "audit"}]))
    arn = created["ARN"]
    op("DescribeSecret", lambda: sm.describe_secret(SecretId=name))
    assert op("GetSecretValue", lambda: sm.get_secret_value(SecretId=arn))["SecretString"] == v1
    op("PutSecretValue", lambda: sm.put_secret_value(SecretId=name, SecretString=v2,
                                                     ClientRequestToken=token))
    op("PutSecretValue", lambda: sm.put_secret_value(SecretId=name, SecretBinary=binary_value))
    op("UpdateSecret", lambda: sm.update_secret(SecretId=name, SecretString=v3,
                                                Description="audited ops, updated"))
    op("ListSecretVersionIds", lambda: sm.list_secret_version_ids(SecretId=name))
    op("UpdateSecretVersionStage", lambda: sm.update_secret_version_stage(
        SecretId=name, VersionStage="audit-label", MoveToVersionId=token))
    op("TagResource", lambda: sm.tag_resource(SecretId=name, Tags=[{"Key": "k", "Value": "v"}]))
    op("UntagResource", lambda: sm.untag_resource(SecretId=name, TagKeys=["k"]))
    op("PutResourcePolicy", lambda: sm.put_resource_policy(SecretId=name,
                                                           ResourcePolicy=policy))
    op("GetResourcePolicy", lambda: sm.get_resource_policy(SecretId=name))
    op("ValidateResourcePolicy", lambda: sm.validate_resource_policy(SecretId=name,
                                                                     ResourcePolicy=policy))
    op("DeleteResourcePolicy", lambda: sm.delete_resource_policy(SecretId=name))
    op("ListSecrets", lambda: sm.list_secrets(Filters=[{"Key": "name", "Values": [name]}]),
       on_secret=False)
    batch = op("BatchGetSecretValue", lambda: sm.batch_get_secret_value(SecretIdList=[name]),
               on_secret=False)
    assert batch["SecretValues"][0]["SecretString"] == v3
    pw = op("GetRandomPassword", lambda: sm.get_random_password(PasswordLength=40),
            on_secret=False)
    values.append(remember(pw["RandomPassword"]))
    op("DeleteSecret", lambda: sm.delete_secret(SecretId=name, RecoveryWindowInDays=7))
    op("RestoreSecret", lambda: sm.restore_secret(SecretId=name))
    # Refused: invalid input, rotation with no function configured, not offered here
    # (replication), not found. CancelRotateSecret succeeds (it turns rotation off).
    op("GetRandomPassword", lambda: sm.get_random_password(PasswordLength=5000),
       on_secret=False)
    op("RotateSecret", lambda: sm.rotate_secret(SecretId=name, RotationRules={
        "AutomaticallyAfterDays": 30}))
    op("CancelRotateSecret", lambda: sm.cancel_rotate_secret(SecretId=name))
    op("ReplicateSecretToRegions", lambda: sm.replicate_secret_to_regions(
        SecretId=name, AddReplicaRegions=[{"Region": "eu-west-1"}]))
    op("GetSecretValue", lambda: sm.get_secret_value(SecretId=name + "-missing"),
       on_secret=False)
    op("DeleteSecret", lambda: sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True))

    offered = {"CreateSecret", "DescribeSecret", "GetSecretValue", "PutSecretValue",
               "UpdateSecret", "ListSecretVersionIds", "UpdateSecretVersionStage",
               "TagResource", "UntagResource", "PutResourcePolicy", "GetResourcePolicy",
               "ValidateResourcePolicy", "DeleteResourcePolicy", "ListSecrets",
               "BatchGetSecretValue", "GetRandomPassword", "DeleteSecret", "RestoreSecret",
               "CancelRotateSecret"}
    succeeded = {o for o, r, _ in done if not isinstance(r, ClientError)}
    assert succeeded == offered, f"operations that failed: {offered - succeeded}"

    for operation, resp, on_secret in done:
        failed = isinstance(resp, ClientError)
        rid = request_id(resp)
        e, r = by_request_id(ct, operation, rid, start)
        where = f"{operation} ({'refused' if failed else 'ok'})"
        assert r["eventName"] == e["EventName"] == operation
        assert r["eventSource"] == e["EventSource"] == SM_SOURCE
        assert r["eventType"] == "AwsApiCall" and r["managementEvent"] is True
        assert r["eventCategory"] == "Management" and r["recipientAccountId"] == ACCOUNT
        assert r["awsRegion"] == REGION and r["eventVersion"] == "1.11"
        assert r["sourceIPAddress"] == "127.0.0.1"
        assert "Boto3" in r["userAgent"] or "botocore" in r["userAgent"], r["userAgent"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["eventTime"]), r["eventTime"]
        assert r["eventID"] == e["EventId"]
        assert r["userIdentity"] == {"type": "Root", "principalId": ACCOUNT, "arn": ROOT_ARN,
                                     "accountId": ACCOUNT, "accessKeyId": ACCESS_KEY}, where
        assert e["Username"] == "root" and e["AccessKeyId"] == ACCESS_KEY
        assert r["readOnly"] is READ_ONLY.get(operation, False), where
        assert e["ReadOnly"] == str(r["readOnly"]).lower()
        if failed:
            assert r["errorCode"] == resp.response["Error"]["Code"], where
            assert r["errorMessage"] == resp.response["Error"]["Message"], where
        else:
            assert "errorCode" not in r and "errorMessage" not in r, where
        if on_secret and not failed:
            assert r["resources"] == [{"ARN": arn, "accountId": ACCOUNT, "type": SECRET_TYPE}], \
                where
            assert e["Resources"] == [{"ResourceType": SECRET_TYPE, "ResourceName": arn}], where
        if on_secret and failed:
            # Refused after the secret was found (RotateSecret without a function, replication):
            # named by its ARN, not as the caller spelled it, as an IAM user's refusal is.
            assert r["resources"] == [{"ARN": arn, "accountId": ACCOUNT, "type": SECRET_TYPE}], \
                where
        if r["readOnly"]:
            assert r["responseElements"] is None, f"{where}: a read's response was recorded"
        assert isinstance(r["requestParameters"], dict), where
        assert_camel_case(r["requestParameters"], where)
        assert_camel_case(r["responseElements"] or {}, where)
        assert_no_sensitive(r, *values)

    def rec(operation, i=0):
        resp = [x for o, x, _ in done if o == operation][i]
        return by_request_id(ct, operation, request_id(resp), start)[1]

    c = rec("CreateSecret")
    assert c["requestParameters"]["name"] == name
    assert c["requestParameters"]["description"] == "audited ops"
    assert c["requestParameters"]["tags"] == [{"key": "team", "value": "audit"}]
    assert c["responseElements"] == {"arn": arn, "name": name,
                                     "versionId": created["VersionId"]}
    p = rec("PutSecretValue")
    assert p["requestParameters"] == {"secretId": name, "clientRequestToken": token}
    assert p["responseElements"]["versionId"] == token
    assert p["responseElements"]["versionStages"] == ["AWSCURRENT"]
    assert set(rec("PutSecretValue", 1)["requestParameters"]) == {"secretId",
                                                                 "clientRequestToken"}
    assert rec("UpdateSecret")["requestParameters"]["description"] == "audited ops, updated"
    assert rec("GetRandomPassword")["requestParameters"] == {"passwordLength": 40}
    assert rec("GetRandomPassword", 1)["errorCode"] in ("InvalidParameterException",
                                                        "ValidationException")
    assert rec("BatchGetSecretValue")["requestParameters"] == {"secretIdList": [name]}
    assert rec("DeleteSecret")["requestParameters"] == {"secretId": name,
                                                        "recoveryWindowInDays": 7}
    assert rec("DeleteSecret", 1)["requestParameters"]["forceDeleteWithoutRecovery"] is True
    missing = rec("GetSecretValue", 1)
    assert missing["errorCode"] == "ResourceNotFoundException"

    # The service's own deletion events sit beside the calls that caused them.
    for event_name in ("StartSecretVersionDelete", "CancelSecretVersionDelete",
                       "EndSecretVersionDelete"):
        found = [r for r in parsed(lookup_all(ct, LookupAttributes=attr("EventName", event_name),
                                              StartTime=start))
                 if r["resources"][0]["ARN"] == arn]
        assert len(found) == 1, event_name
        assert found[0]["eventType"] == "AwsServiceEvent"
        assert found[0]["userIdentity"]["type"] == "AWSService"
        assert_no_sensitive(found[0], *values)

    # Everything recorded about the secret, as one text: no value anywhere.
    all_text = json.dumps(lookup_all(ct, LookupAttributes=attr("ResourceName", arn)), default=str)
    for v in values:
        assert v not in all_text


def _run_ops():
    """An `op(name, fn)` that records (operation, response or error) in the returned list."""
    done = []

    def op(operation, fn):
        try:
            done.append((operation, fn()))
        except ClientError as e:
            done.append((operation, e))
        return done[-1][1]
    return op, done


def _assert_clean_records(ct, done, source, start, values, offered, read_only):
    """Every call in `done` has exactly one record: the root identity, its error if it failed,
    readOnly as AWS marks it, lowerCamelCase members, and no sensitive member or value."""
    succeeded = {o for o, r in done if not isinstance(r, ClientError)}
    assert succeeded == offered, f"operations that failed: {offered - succeeded}"
    for operation, resp in done:
        failed = isinstance(resp, ClientError)
        e, r = by_request_id(ct, operation, request_id(resp), start)
        where = f"{operation} ({'refused' if failed else 'ok'})"
        assert r["eventSource"] == e["EventSource"] == source, where
        assert r["eventType"] == "AwsApiCall" and r["managementEvent"] is True, where
        assert r["userIdentity"] == {"type": "Root", "principalId": ACCOUNT, "arn": ROOT_ARN,
                                     "accountId": ACCOUNT, "accessKeyId": ACCESS_KEY}, where
        assert r["readOnly"] is (operation in read_only), where
        if failed:
            assert r["errorCode"] == resp.response["Error"]["Code"], where
        else:
            assert "errorCode" not in r, where
        if r["readOnly"]:
            assert r["responseElements"] is None, f"{where}: a read's response was recorded"
        assert isinstance(r["requestParameters"], dict), where
        assert_camel_case(r["requestParameters"], where)
        assert_camel_case(r["responseElements"] or {}, where)
        assert_no_sensitive(r, *values)
        bad = [k for k in keys_anywhere(r) if k.lower() in ("plaintext", "value", "values")]
        assert not bad, f"{where}: {bad} recorded"


def test_every_kms_operation_leaves_one_clean_record(server):
    kms, ct = client(server, "kms"), trail(server)
    start = since(2)
    op, done = _run_ops()
    plain = secret("kms-audit").encode()
    values = [plain.decode(), remember(base64.b64encode(plain).decode())]
    key = op("CreateKey", lambda: kms.create_key(Description="audited",
                                                 Tags=[{"TagKey": "t", "TagValue": "v"}]))
    key_id, key_arn = key["KeyMetadata"]["KeyId"], key["KeyMetadata"]["Arn"]
    alias = f"alias/{unique('audit')}"
    op("CreateAlias", lambda: kms.create_alias(AliasName=alias, TargetKeyId=key_id))
    op("DescribeKey", lambda: kms.describe_key(KeyId=alias))
    op("ListKeys", lambda: kms.list_keys(Limit=5))
    op("ListAliases", lambda: kms.list_aliases(KeyId=key_id))
    ct_blob = op("Encrypt", lambda: kms.encrypt(KeyId=alias, Plaintext=plain,
                                                EncryptionContext={"purpose": "audit"}))
    op("Decrypt", lambda: kms.decrypt(CiphertextBlob=ct_blob["CiphertextBlob"],
                                      EncryptionContext={"purpose": "audit"}))
    op("ReEncrypt", lambda: kms.re_encrypt(CiphertextBlob=ct_blob["CiphertextBlob"],
                                           SourceEncryptionContext={"purpose": "audit"},
                                           DestinationKeyId=key_id))
    dk = op("GenerateDataKey", lambda: kms.generate_data_key(KeyId=key_id, KeySpec="AES_256"))
    values.append(remember(base64.b64encode(dk["Plaintext"]).decode()))
    op("GenerateDataKeyWithoutPlaintext",
       lambda: kms.generate_data_key_without_plaintext(KeyId=key_id, NumberOfBytes=32))
    rnd = op("GenerateRandom", lambda: kms.generate_random(NumberOfBytes=32))
    values.append(remember(base64.b64encode(rnd["Plaintext"]).decode()))
    op("EnableKeyRotation", lambda: kms.enable_key_rotation(KeyId=key_id))
    op("GetKeyRotationStatus", lambda: kms.get_key_rotation_status(KeyId=key_id))
    op("RotateKeyOnDemand", lambda: kms.rotate_key_on_demand(KeyId=key_id))
    op("ListKeyRotations", lambda: kms.list_key_rotations(KeyId=key_id))
    op("DisableKeyRotation", lambda: kms.disable_key_rotation(KeyId=key_id))
    op("TagResource", lambda: kms.tag_resource(KeyId=key_id,
                                               Tags=[{"TagKey": "k", "TagValue": "v"}]))
    op("UntagResource", lambda: kms.untag_resource(KeyId=key_id, TagKeys=["k"]))
    op("ListResourceTags", lambda: kms.list_resource_tags(KeyId=key_id))
    op("GetKeyPolicy", lambda: kms.get_key_policy(KeyId=key_id, PolicyName="default"))
    op("ListKeyPolicies", lambda: kms.list_key_policies(KeyId=key_id))
    op("UpdateKeyDescription", lambda: kms.update_key_description(KeyId=key_id,
                                                                  Description="still audited"))
    op("DisableKey", lambda: kms.disable_key(KeyId=key_id))
    op("Encrypt", lambda: kms.encrypt(KeyId=key_id, Plaintext=plain))  # refused: disabled
    op("EnableKey", lambda: kms.enable_key(KeyId=key_id))
    op("UpdateAlias", lambda: kms.update_alias(AliasName=alias, TargetKeyId=key_id))
    op("DeleteAlias", lambda: kms.delete_alias(AliasName=alias))
    op("ScheduleKeyDeletion", lambda: kms.schedule_key_deletion(KeyId=key_id,
                                                                PendingWindowInDays=7))
    op("CancelKeyDeletion", lambda: kms.cancel_key_deletion(KeyId=key_id))
    offered = {o for o, _ in done} - set()
    read_only = {"DescribeKey", "ListKeys", "ListAliases", "Encrypt", "Decrypt", "ReEncrypt",
                 "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateRandom",
                 "GetKeyRotationStatus", "ListKeyRotations", "ListResourceTags",
                 "GetKeyPolicy", "ListKeyPolicies"}
    _assert_clean_records(ct, done, "kms.amazonaws.com", start, values, offered, read_only)

    created = by_request_id(ct, "CreateKey", request_id(key), start)[1]
    assert created["responseElements"]["keyMetadata"]["keyId"] == key_id
    assert created["resources"][0]["ARN"] == key_arn
    encrypted = by_request_id(ct, "Encrypt", request_id(ct_blob), start)[1]
    assert encrypted["requestParameters"] == {"keyId": alias,
                                              "encryptionContext": {"purpose": "audit"}}
    assert encrypted["resources"] == [{"ARN": key_arn, "accountId": ACCOUNT,
                                       "type": "AWS::KMS::Key"}]
    # The on-demand rotation is also a service event.
    rotated = [r for r in parsed(lookup_all(ct, LookupAttributes=attr("EventName", "RotateKey"),
                                            StartTime=start))
               if r["resources"][0]["ARN"] == key_arn]
    assert len(rotated) == 1 and rotated[0]["eventType"] == "AwsServiceEvent"
    assert rotated[0]["serviceEventDetails"]["rotationType"] == "ON_DEMAND"


def test_every_ssm_operation_leaves_one_clean_record(server):
    ssm, ct = client(server, "ssm"), trail(server)
    start = since(2)
    op, done = _run_ops()
    v1, v2 = secret("ssm-audit-1"), secret("ssm-audit-2")
    name = f"/{unique('audit')}/db/password"
    op("PutParameter", lambda: ssm.put_parameter(Name=name, Value=v1, Type="SecureString",
                                                 Description="audited",
                                                 Tags=[{"Key": "t", "Value": "v"}]))
    op("PutParameter", lambda: ssm.put_parameter(Name=name, Value=v2, Type="SecureString",
                                                 Overwrite=True))
    op("PutParameter", lambda: ssm.put_parameter(Name=name, Value=v1, Type="String"))  # exists
    op("GetParameter", lambda: ssm.get_parameter(Name=name, WithDecryption=True))
    op("GetParameter", lambda: ssm.get_parameter(Name=name + "-missing"))  # refused
    op("GetParameters", lambda: ssm.get_parameters(Names=[name, f"{name}:1"],
                                                   WithDecryption=True))
    op("GetParametersByPath", lambda: ssm.get_parameters_by_path(
        Path=name.rsplit("/", 2)[0], Recursive=True, WithDecryption=True))
    op("DescribeParameters", lambda: ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": [name]}]))
    op("GetParameterHistory", lambda: ssm.get_parameter_history(Name=name, WithDecryption=True))
    op("LabelParameterVersion", lambda: ssm.label_parameter_version(
        Name=name, ParameterVersion=1, Labels=["stable"]))
    op("UnlabelParameterVersion", lambda: ssm.unlabel_parameter_version(
        Name=name, ParameterVersion=1, Labels=["stable"]))
    op("AddTagsToResource", lambda: ssm.add_tags_to_resource(
        ResourceType="Parameter", ResourceId=name, Tags=[{"Key": "k", "Value": "v"}]))
    op("ListTagsForResource", lambda: ssm.list_tags_for_resource(
        ResourceType="Parameter", ResourceId=name))
    op("RemoveTagsFromResource", lambda: ssm.remove_tags_from_resource(
        ResourceType="Parameter", ResourceId=name, TagKeys=["k"]))
    op("DeleteParameters", lambda: ssm.delete_parameters(Names=[name + "-other"]))
    op("DeleteParameter", lambda: ssm.delete_parameter(Name=name))
    offered = {"PutParameter", "GetParameter", "GetParameters", "GetParametersByPath",
               "DescribeParameters", "GetParameterHistory", "LabelParameterVersion",
               "UnlabelParameterVersion", "AddTagsToResource", "ListTagsForResource",
               "RemoveTagsFromResource", "DeleteParameters", "DeleteParameter"}
    read_only = {"GetParameter", "GetParameters", "GetParametersByPath", "DescribeParameters",
                 "GetParameterHistory", "ListTagsForResource"}
    _assert_clean_records(ct, done, "ssm.amazonaws.com", start, [v1, v2], offered, read_only)
    put = by_request_id(ct, "PutParameter", request_id(done[0][1]), start)[1]
    arn = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{name}"
    assert put["requestParameters"]["name"] == name and put["requestParameters"]["type"] == \
        "SecureString"
    assert put["responseElements"] == {"version": 1, "tier": "Standard"}
    assert put["resources"] == [{"ARN": arn, "accountId": ACCOUNT, "type": "AWS::SSM::Parameter"}]
    got = by_request_id(ct, "GetParameter", request_id(done[3][1]), start)[1]
    assert got["requestParameters"] == {"name": name, "withDecryption": True}
    refused = by_request_id(ct, "GetParameter", request_id(done[4][1]), start)[1]
    assert refused["errorCode"] == "ParameterNotFound"


def signed_post(server, path, body, headers, service):
    """A SigV4-signed POST with an exact path, body and headers; (status, headers, body)."""
    import http.client
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    req = AWSRequest(method="POST", url=f"{server.endpoint}{path}", data=body, headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), service, REGION).add_auth(req)
    prepared = req.prepare()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=dict(prepared.headers))
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def cbor_text(s):
    b = s.encode()
    assert len(b) < 256
    return (bytes([0x60 + len(b)]) if len(b) < 24 else bytes([0x78, len(b)])) + b


def test_cloudwatch_and_cloudtrail_calls_are_recorded_in_every_protocol(server):
    """One record per CloudWatch call whichever protocol carried it (JSON 1.0 from boto3, Query
    and Smithy RPC v2 CBOR signed by hand), with the same requestParameters; and LookupEvents
    leaves its own record."""
    start = since(2)
    name = unique("audit-cw")
    cw = client(server, "cloudwatch")
    cw.put_metric_alarm(AlarmName=name, MetricName="GetSecretValue",
                        Namespace="AWS/SecretsManager", Period=300, Threshold=10,
                        ComparisonOperator="GreaterThanThreshold", EvaluationPeriods=1)
    rids = {"json": request_id(cw.describe_alarms(AlarmNames=[name]))}

    status, headers, body = signed_post(
        server, "/", f"Action=DescribeAlarms&Version=2010-08-01&AlarmNames.member.1={name}".encode(),
        {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, "monitoring")
    assert status == 200 and f"<AlarmName>{name}</AlarmName>".encode() in body, body
    rids["query"] = re.search(rb"<RequestId>([^<]+)</RequestId>", body).group(1).decode()

    cbor_body = b"\xa1" + cbor_text("AlarmNames") + b"\x81" + cbor_text(name)
    status, headers, body = signed_post(
        server, "/service/GraniteServiceVersion20100801/operation/DescribeAlarms", cbor_body,
        {"Content-Type": "application/cbor", "Accept": "application/cbor",
         "smithy-protocol": "rpc-v2-cbor"}, "monitoring")
    assert status == 200 and headers.get("smithy-protocol") == "rpc-v2-cbor", (status, body)
    assert name.encode() in body
    rids["cbor"] = headers["x-amzn-requestid"]

    ct = trail(server)
    for protocol, rid in rids.items():
        e, r = by_request_id(ct, "DescribeAlarms", rid, start)
        assert r["eventSource"] == e["EventSource"] == "monitoring.amazonaws.com", protocol
        assert r["requestParameters"] == {"alarmNames": [name]}, (protocol, r["requestParameters"])
        assert r["readOnly"] is True and r["userIdentity"]["type"] == "Root", protocol
        assert r["responseElements"] is None, protocol
    put = [r for r in parsed(lookup_all(ct, LookupAttributes=attr("EventName", "PutMetricAlarm"),
                                        StartTime=start))
           if r["requestParameters"].get("alarmName") == name]
    assert len(put) == 1 and put[0]["readOnly"] is False

    # LookupEvents is itself an audited call.
    resp = ct.lookup_events(LookupAttributes=attr("EventName", "DescribeAlarms"), MaxResults=1)
    e, r = by_request_id(ct, "LookupEvents", request_id(resp), start)
    assert r["eventSource"] == "cloudtrail.amazonaws.com" and r["readOnly"] is True
    assert r["requestParameters"]["maxResults"] == 1


def test_iam_and_sts_calls_are_recorded_without_credentials(server):
    """Every IAM/STS call leaves one record with the caller's identity; the secret access
    keys and session tokens those calls return appear in no record."""
    from leaks import remember
    iam = boto3.client("iam", endpoint_url=server.endpoint, region_name=REGION,
                       aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    user = unique("audited-user")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="assume", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Resource": "*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    remember(key["SecretAccessKey"])
    role = unique("audited-role")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::123456789012:user/{user}"}, "Action": "sts:AssumeRole"}]}))
    iam.get_user(UserName=user)
    iam.list_users()
    sts = boto3.client("sts", endpoint_url=server.endpoint, region_name=REGION,
                       aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    sts.get_caller_identity()
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::123456789012:role/{role}",
                            RoleSessionName="audited")["Credentials"]
    remember(creds["SecretAccessKey"])
    remember(creds["SessionToken"])
    iam.delete_user_policy(UserName=user, PolicyName="assume")

    ct = trail(server)
    def events(source):
        out = []
        for page in ct.get_paginator("lookup_events").paginate(
                LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": source}]):
            out += page["Events"]
        return out
    iam_events = events("iam.amazonaws.com")
    sts_events = events("sts.amazonaws.com")
    text = json.dumps(iam_events + sts_events, default=str)
    for s in (key["SecretAccessKey"], creds["SecretAccessKey"], creds["SessionToken"]):
        assert s not in text, "a credential is in the audit trail"

    def mine(evts, name, pred=lambda r: True):
        return [json.loads(e["CloudTrailEvent"]) for e in evts
                if e["EventName"] == name and pred(json.loads(e["CloudTrailEvent"]))]

    for name in ("CreateUser", "PutUserPolicy", "CreateAccessKey", "GetUser", "DeleteUserPolicy"):
        recs = mine(iam_events, name, lambda r: r["requestParameters"].get("userName") == user)
        assert len(recs) == 1, (name, recs)
        assert recs[0]["userIdentity"]["type"] == "Root"
        assert recs[0]["readOnly"] == name.startswith("Get")
    assert mine(iam_events, "CreateRole", lambda r: r["requestParameters"].get("roleName") == role)
    assert mine(iam_events, "ListUsers")
    who = mine(sts_events, "GetCallerIdentity",
               lambda r: r["userIdentity"].get("accessKeyId") == key["AccessKeyId"])
    assert len(who) == 1 and who[0]["userIdentity"]["type"] == "IAMUser"
    assert who[0]["userIdentity"]["userName"] == user
    assumed = mine(sts_events, "AssumeRole",
                   lambda r: r["userIdentity"].get("accessKeyId") == key["AccessKeyId"])
    assert len(assumed) == 1
    assert assumed[0]["requestParameters"]["roleSessionName"] == "audited"


def test_bad_signature_and_unknown_key_records(server):
    ct = trail(server)
    start = since(2)
    name = unique("audit-badsig")
    value = secret("badsig")
    sm_client(server, config=NO_RETRY).create_secret(Name=name, SecretString=value)
    wrong = sm_client(server, secret_key=SECRET_KEY[::-1], config=NO_RETRY)
    with pytest.raises(ClientError) as ei:
        wrong.put_secret_value(SecretId=name, SecretString=secret("badsig-put"))
    err = ei.value
    assert err.response["Error"]["Code"] == "InvalidSignatureException"
    e, r = by_request_id(ct, "PutSecretValue", request_id(err), start)
    assert r["userIdentity"] == {"type": "Unknown", "accessKeyId": ACCESS_KEY}
    assert r["errorCode"] == "InvalidSignatureException"
    assert "Username" not in e and e["AccessKeyId"] == ACCESS_KEY
    assert_no_sensitive(r, value)
    # A key nobody has: UnrecognizedClientException, recorded under the key it claimed.
    ghost = "AKIA" + unique("G").replace("-", "").upper()[:16].ljust(16, "0")
    nobody = sm_client(server, access_key=ghost, secret_key="x" * 40, config=NO_RETRY)
    with pytest.raises(ClientError) as ei:
        nobody.get_secret_value(SecretId=name)
    assert ei.value.response["Error"]["Code"] == "UnrecognizedClientException"
    found = lookup_all(ct, LookupAttributes=attr("AccessKeyId", ghost))
    assert len(found) == 1
    r = json.loads(found[0]["CloudTrailEvent"])
    assert r["requestID"] == request_id(ei.value)
    assert r["userIdentity"] == {"type": "Unknown", "accessKeyId": ghost}
    assert r["errorCode"] == "UnrecognizedClientException"


# ---------------------------------------------------------------------------------------------
# 4. Tamper detection with `strongroom audit verify` on a server of our own


def chain_hash(seq, prev, record):
    content = hashlib.sha256(record.encode()).digest()
    return hashlib.sha256(b"strongroom-audit-v1\0" + seq.to_bytes(8, "big") + prev + content
                          ).digest()


@pytest.fixture(scope="module")
def tamper_server():
    s = Server(name="audit-tamper2", extra_args=["--audit-digest-interval-secs", "3600"])
    try:
        sm = sm_client(s, config=NO_RETRY)
        name = unique("tamper")
        sm.create_secret(Name=name, SecretString=secret("tamper"))
        ops = [lambda: sm.get_secret_value(SecretId=name),
               lambda: sm.describe_secret(SecretId=name),
               lambda: sm.put_secret_value(SecretId=name, SecretString=secret("tamper-put")),
               lambda: sm.list_secret_version_ids(SecretId=name)]
        for i in range(19):
            ops[i % 4]()
    finally:
        code = s.stop()  # SIGTERM: the closing digest covers every record
    assert code == 0
    return s


def copy_of(data_dir):
    d = tempfile.mkdtemp(prefix="audit-copy-", dir=work_dir("data"))
    shutil.copytree(data_dir, d, dirs_exist_ok=True)
    return d


def rewrite_segment(d, edit):
    segs, _ = segment_lines(d)
    assert len(segs) == 1, segs
    with open(segs[0]) as f:
        lines = f.read().splitlines()
    edit(lines)
    with open(segs[0], "w") as f:
        f.write("\n".join(lines) + "\n")


def test_untouched_log_verifies(tamper_server):
    d = copy_of(tamper_server.data_dir)
    code, out, err = run_audit("verify", data_dir=d)
    assert code == 0, out + err
    assert out.strip() == "OK: 20 records form an unbroken chain; 1 signed digests verified.", out
    _, lines = segment_lines(d)
    assert [int(l[0]) for l in lines] == list(range(1, 21))
    # The public key: hex Ed25519, the one the digest was signed with; verifying with it is OK.
    code, key, err = run_audit("public-key", data_dir=d)
    key = key.strip()
    assert code == 0 and re.fullmatch(r"[0-9a-f]{64}", key), key + err
    with open(os.path.join(d, "audit", "digests.log")) as f:
        digests = [l.split("\t") for l in f.read().splitlines()]
    assert len(digests) == 1 and digests[0][0] == "20" and digests[0][3] == key
    code, out, err = run_audit("verify", "--public-key", key, data_dir=d)
    assert code == 0 and out.startswith("OK: 20 records"), out + err
    # Another key (as if the digests had been re-signed by someone else): refused.
    code, out, err = run_audit("verify", "--public-key", "11" * 32, data_dir=d)
    assert code == 1 and "TAMPERED" in out, out + err
    assert "the digest for record 20 has an invalid signature" in out, out
    # Ranges verify on their own.
    code, out, err = run_audit("verify", "--from", "3", "--to", "9", data_dir=d)
    assert code == 0 and out.startswith("OK: 7 records"), out + err


def test_operator_tail_and_search(tamper_server):
    d = tamper_server.data_dir
    _, lines = segment_lines(d)
    records = [json.loads(l[4]) for l in lines]
    code, out, err = run_audit("tail", "-n", "3", data_dir=d)
    assert code == 0, err
    tailed = [json.loads(l) for l in out.splitlines() if l.strip()]
    assert [r["eventID"] for r in tailed] == [r["eventID"] for r in records[-3:]]
    code, out, err = run_audit("search", "--event-name", "PutSecretValue", data_dir=d)
    assert code == 0, err
    found = [json.loads(l) for l in out.splitlines() if l.strip()]
    want = [r for r in records if r["eventName"] == "PutSecretValue"]
    assert [r["eventID"] for r in found] == [r["eventID"] for r in reversed(want)]
    assert len(want) == 5
    code, out, err = run_audit("search", "--event-name", "GetSecretValue", "--limit", "2",
                               data_dir=d)
    assert code == 0 and len([l for l in out.splitlines() if l.strip()]) == 2, out + err


def tampered(tamper_server, edit, *expect, digest_edit=None):
    d = copy_of(tamper_server.data_dir)
    rewrite_segment(d, edit)
    if digest_edit:
        p = os.path.join(d, "audit", "digests.log")
        with open(p) as f:
            text = f.read()
        with open(p, "w") as f:
            f.write(digest_edit(text))
    code, out, err = run_audit("verify", data_dir=d)
    assert code == 1, f"verify exit {code} on a tampered log: {out} {err}"
    assert out.startswith("TAMPERED") or "TAMPERED" in out, out
    for e in expect:
        assert e in out, f"{e!r} not in: {out}"
    return out


def findings_naming(out, pattern):
    return re.findall(pattern, out)


def test_verify_names_a_deleted_record(tamper_server):
    out = tampered(tamper_server, lambda lines: lines.pop(6), "record 7 was deleted")
    assert not findings_naming(out, r"record (?!7\b)\d+ was (deleted|altered|moved)"), out


def test_verify_names_an_edited_record(tamper_server):
    def edit(lines):
        seq, prev, h, t, rec = lines[3].split("\t")
        r = json.loads(rec)
        assert r["sourceIPAddress"] == "127.0.0.1"
        r["sourceIPAddress"] = "10.9.8.7"  # cover the tracks of whoever made record 4
        lines[3] = "\t".join([seq, prev, h, t, json.dumps(r, separators=(",", ":"))])
    out = tampered(tamper_server, edit, "record 4 (stored at position 4) was altered")
    assert not findings_naming(out, r"record (?!4\b)\d+ (\(stored|was)"), out


def test_verify_names_swapped_records(tamper_server):
    def swap(lines):
        lines[9], lines[10] = lines[10], lines[9]
    out = tampered(tamper_server, swap, "record 10 was moved", "position 11")
    assert "altered" not in out and "deleted" not in out, out


def test_verify_names_a_truncated_tail(tamper_server):
    out = tampered(tamper_server, lambda lines: lines.__delitem__(slice(17, None)),
                   "the log was truncated: it ends at record 17 but a signed digest covers "
                   "records up to 20")
    assert "altered" not in out, out


def test_verify_catches_a_rewritten_chain(tamper_server):
    """Edit record 12 and re-hash it and every later record, as someone who read docs/audit.md
    would: the chain is consistent again, only the signed digest can tell."""
    def rewrite(lines):
        rows = [l.split("\t") for l in lines]
        r = json.loads(rows[11][4])
        r["userAgent"] = "nothing-to-see"
        rows[11][4] = json.dumps(r, separators=(",", ":"))
        prev = bytes.fromhex(rows[11][1])
        for row in rows[11:]:
            seq = int(row[0])
            h = chain_hash(seq, prev, row[4])
            row[1], row[2] = prev.hex(), h.hex()
            prev = h
        lines[:] = ["\t".join(row) for row in rows]

    # The helper's chain rule must be the server's: re-hashing untouched lines changes nothing.
    _, lines = segment_lines(tamper_server.data_dir)
    prev = bytes(32)
    for seq, p, h, _, rec in lines:
        assert p == prev.hex() and chain_hash(int(seq), prev, rec).hex() == h
        prev = bytes.fromhex(h)
    tampered(tamper_server, rewrite, "the signed digest for record 20 does not match")


def test_verify_catches_a_forged_digest(tamper_server):
    """Truncate the tail and edit the digest to cover only what is left: the signature no
    longer verifies."""
    _, lines = segment_lines(tamper_server.data_dir)
    head17 = lines[16][2]

    def forge(text):
        f = text.rstrip("\n").split("\t")
        f[0], f[1] = "17", head17
        return "\t".join(f) + "\n"
    tampered(tamper_server, lambda ls: ls.__delitem__(slice(17, None)),
             "the digest for record 17 has an invalid signature", digest_edit=forge)


# ---------------------------------------------------------------------------------------------
# 5. Fail closed: a full audit log refuses requests and serves nothing


def test_full_audit_log_fails_closed():
    s = Server(name="audit-full", extra_args=["--audit-max-mb", "1"])
    sm = sm_client(s, config=NO_RETRY)
    created, failed_name, first_value = [], None, None
    description = "d" * 2048
    try:
        for i in range(2000):
            name = unique(f"full{i}")
            value = secret(f"full{i}")
            try:
                sm.create_secret(Name=name, SecretString=value, Description=description)
            except ClientError as e:
                assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 500, e.response
                assert e.response["Error"]["Code"] == "InternalFailure"
                assert "could not be audited" in e.response["Error"]["Message"]
                failed_name = name
                break
            created.append(name)
            first_value = first_value or value
        assert failed_name, "2000 CreateSecret calls never filled a 1 MB audit log"
        assert len(created) > 100, f"the log was full after only {len(created)} records"

        # Reads are refused and carry no value.
        with pytest.raises(ClientError) as ei:
            sm.get_secret_value(SecretId=created[0])
        err = ei.value
        assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert err.response["Error"]["Code"] == "InternalFailure"
        assert "could not be audited" in err.response["Error"]["Message"]
        assert "SecretString" not in err.response and first_value not in str(err.response)
        # Refused unread, the connection is not reused: the answer says so (else the client's
        # next request on it could meet the closing connection).
        assert err.response["ResponseMetadata"]["HTTPHeaders"].get("connection") == "close", err.response
        # So is everything else, including lookups of the trail and new writes.
        for call in (lambda: sm.list_secrets(),
                     lambda: sm.create_secret(Name=unique("full-after"),
                                              SecretString=secret("full-after")),
                     lambda: trail(s).lookup_events(MaxResults=1)):
            with pytest.raises(ClientError) as ei:
                call()
            assert ei.value.response["Error"]["Code"] == "InternalFailure"
        # Still refused a moment later (the writer re-checks about once a second).
        time.sleep(2.5)
        with pytest.raises(ClientError) as ei:
            sm.get_secret_value(SecretId=created[0])
        assert ei.value.response["Error"]["Code"] == "InternalFailure"
        size = sum(os.path.getsize(p) for p in segment_lines(s.data_dir)[0])
        assert size <= 1024 * 1024, f"the audit log grew to {size} bytes past its 1 MB cap"
    finally:
        assert s.stop() == 0

    # Everything acknowledged is in the log, and only that.
    code, out, err = run_audit("verify", data_dir=s.data_dir)
    assert code == 0 and out.startswith(f"OK: {len(created)} records"), out + err
    _, lines = segment_lines(s.data_dir)
    recorded = [json.loads(l[4]) for l in lines]
    assert [r["eventName"] for r in recorded] == ["CreateSecret"] * len(created)
    assert [r["requestParameters"]["name"] for r in recorded] == created

    # Nothing was stored by the refused requests: restart without the cap and look.
    s2 = Server(name="audit-full-again", data_dir=s.data_dir)
    try:
        sm2 = sm_client(s2, config=NO_RETRY)
        names = set()
        for page in sm2.get_paginator("list_secrets").paginate():
            names |= {x["Name"] for x in page["SecretList"]}
        assert failed_name not in names, (
            "the CreateSecret refused with InternalFailure (its record could not be written) "
            "still created the secret: a change was stored with no audit record")
        assert names == set(created)
        assert sm2.get_secret_value(SecretId=created[0])["SecretString"] == first_value
    finally:
        assert s2.stop() == 0


# ---------------------------------------------------------------------------------------------
# 6. Export sinks: JSON-lines files and stdout


def syslog_collector():
    """A UDP syslog collector on loopback: (port, messages received)."""
    import socket
    import threading
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    got = []

    def serve():
        while not getattr(sock, "_closed", False):
            try:
                got.append(sock.recv(65535).decode())
            except socket.timeout:
                continue
            except OSError:
                return
    threading.Thread(target=serve, daemon=True).start()
    return sock, got


def test_export_dir_stdout_and_syslog_carry_the_same_records():
    export = tempfile.mkdtemp(prefix="audit-export-", dir=work_dir("data"))
    collector, messages = syslog_collector()
    s = Server(name="audit-export",
               extra_args=["--audit-export-dir", export, "--audit-stdout",
                           "--audit-syslog", f"udp://127.0.0.1:{collector.getsockname()[1]}"])
    values = []
    try:
        sm = sm_client(s, config=NO_RETRY)
        name = unique("export")
        values.append(secret("export"))
        sm.create_secret(Name=name, SecretString=values[0])
        assert sm.get_secret_value(SecretId=name)["SecretString"] == values[0]
        values.append(secret("export-put"))
        sm.put_secret_value(SecretId=name, SecretString=values[1])
        values.append(remember(sm.get_random_password(PasswordLength=32)["RandomPassword"]))
        with pytest.raises(ClientError):
            sm_client(s, secret_key="wrong" * 8, config=NO_RETRY).get_secret_value(SecretId=name)
        with pytest.raises(ClientError):
            sm.describe_secret(SecretId=name + "-nope")
        trail(s).lookup_events(MaxResults=5)
        # Exported while the server runs (not only at shutdown).
        deadline = time.time() + 10
        while time.time() < deadline:
            n = sum(len(open(p).read().splitlines())
                    for p in glob.glob(os.path.join(export, "*.jsonl")))
            if n >= 7:
                break
            time.sleep(0.2)
        assert n == 7, f"{n} records exported while the server runs, 7 made"
    finally:
        assert s.stop() == 0

    _, lines = segment_lines(s.data_dir)
    logged = [l[4] for l in lines]
    assert [json.loads(x)["eventName"] for x in logged] == [
        "CreateSecret", "GetSecretValue", "PutSecretValue", "GetRandomPassword",
        "GetSecretValue", "DescribeSecret", "LookupEvents"]

    files = sorted(os.listdir(export))
    assert files and all(re.fullmatch(r"strongroom-audit-\d{8}T\d\dZ\.jsonl", f) for f in files)
    exported = []
    for f in files:
        with open(os.path.join(export, f)) as fh:
            for line in fh.read().splitlines():
                r = json.loads(line)
                # Each record is in the file of its hour.
                assert r["eventTime"].replace("-", "")[:11] == f[17:28], (f, r["eventTime"])
                exported.append(line)
    assert exported == logged, "the export differs from the audit log"

    printed = []
    for line in s.logs().splitlines():
        if line.startswith("{") and '"eventVersion"' in line:
            printed.append(line)
    assert printed == logged, "stdout does not carry the same records as the audit log"

    # Syslog: one RFC 5424 message per record (facility log audit, severity info).
    deadline = time.time() + 5
    while len(messages) < len(logged) and time.time() < deadline:
        time.sleep(0.1)
    collector.close()
    sent = []
    for m in messages:
        match = re.fullmatch(r"<110>1 (\S+) (\S+) strongroom (\d+) cloudtrail - (\{.*\})", m, re.S)
        assert match, f"not an RFC 5424 audit message: {m[:200]}"
        assert match.group(1).endswith("Z") and "T" in match.group(1)
        sent.append(match.group(4))
    assert sent == logged, "syslog does not carry the same records as the audit log"

    text = "\n".join(exported + printed + sent)
    for v in values:
        assert v not in text, "a secret value was exported"
    for line in logged:
        assert_no_sensitive(json.loads(line), *values)


def test_throttled_requests_are_refused_and_recorded():
    """--throttle-rps: beyond a caller's rate, requests fail with the protocol's throttling
    code (which SDKs retry), each refusal is audited with the caller's identity, and another
    caller is unaffected."""
    s = Server(name="throttle", extra_args=["--throttle-rps", "2", "--throttle-burst", "3"])
    # botocore's max_attempts counts retries; total_max_attempts=1 really sends once.
    once = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    try:
        sm = sm_client(s, config=once)
        codes = []
        for _ in range(8):
            try:
                sm.list_secrets()
                codes.append("ok")
            except ClientError as e:
                assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
                codes.append(e.response["Error"]["Code"])
                throttled = e
        assert codes[:3] == ["ok"] * 3, codes
        assert "ThrottlingException" in codes[3:], codes
        assert throttled.response["Error"]["Message"] == "Rate exceeded"
        # The Query protocol (IAM) names it Throttling.
        iam = boto3.client("iam", endpoint_url=s.endpoint, region_name=REGION,
                           aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                           config=once)
        with pytest.raises(ClientError) as e:
            for _ in range(5):
                iam.list_users()
        assert e.value.response["Error"]["Code"] == "Throttling"
        time.sleep(1.6)  # 2 tokens a second: room again
        ct = trail(s)
        start = since(30)
        rid = request_id(throttled)
        records = [json.loads(x["CloudTrailEvent"]) for x in lookup_all(
            ct, LookupAttributes=attr("EventName", "ListSecrets"), StartTime=start)]
        hit = [r for r in records if r["requestID"] == rid]
        assert len(hit) == 1
        assert hit[0]["errorCode"] == "ThrottlingException"
        assert hit[0]["userIdentity"]["accessKeyId"] == ACCESS_KEY
    finally:
        assert s.stop() == 0
