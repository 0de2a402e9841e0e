"""The audit trail through real clients: seed 003's `cloudtrail lookup-events` verbatim, boto3
lookups with paging, and `strongroom audit verify` naming tampering done to a real data dir."""
import json
import glob
import os
import shutil
import subprocess
import tempfile

import boto3
import pytest

from conftest import aws, aws_json, secret, sm_client, unique
from server import ACCESS_KEY, REGION, SECRET_KEY, Server, binary


def trail(server):
    return boto3.client("cloudtrail", endpoint_url=server.endpoint, region_name=REGION,
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)


def test_seed_003_lookup_events_verbatim(server):
    name = unique("audited")
    value = secret("audited")
    aws(server, "secretsmanager", "create-secret", "--name", name, "--secret-string", value)
    got = aws_json(server, "secretsmanager", "get-secret-value", "--secret-id", name)
    assert got["SecretString"] == value
    # Seed 003's command, only the endpoint added by the helper.
    out = aws_json(server, "cloudtrail", "lookup-events", "--lookup-attributes",
                   "AttributeKey=EventName,AttributeValue=GetSecretValue")
    events = out["Events"]
    assert events and all(e["EventName"] == "GetSecretValue" for e in events)
    times = [e["EventTime"] for e in events]
    assert times == sorted(times, reverse=True), "newest first"
    mine = [e for e in events
            if any(r["ResourceName"].split(":secret:")[-1].startswith(name)
                   for r in e.get("Resources", []))]
    assert mine, "the call just made is in the event history"
    record = json.loads(mine[0]["CloudTrailEvent"])
    assert record["eventSource"] == "secretsmanager.amazonaws.com"
    assert record["userIdentity"]["type"] == "Root"
    assert record["userIdentity"]["accessKeyId"] == ACCESS_KEY
    assert record["requestParameters"] == {"secretId": name}
    assert record["responseElements"] is None
    assert value not in json.dumps(out)


def test_lookups_page_and_filter_with_boto3(server):
    sm = sm_client(server)
    name = unique("paged")
    sm.create_secret(Name=name, SecretString=secret("paged"))
    for _ in range(7):
        sm.describe_secret(SecretId=name)
    ct = trail(server)
    attrs = [{"AttributeKey": "ResourceName", "AttributeValue": name}]
    pages = list(ct.get_paginator("lookup_events").paginate(
        LookupAttributes=attrs, PaginationConfig={"PageSize": 3}))
    assert len(pages) >= 3
    names = [e["EventName"] for p in pages for e in p["Events"]]
    assert names.count("DescribeSecret") == 7 and names.count("CreateSecret") == 1
    assert names[-1] == "CreateSecret", "oldest last"
    ids = [e["EventId"] for p in pages for e in p["Events"]]
    assert len(ids) == len(set(ids))
    with pytest.raises(ct.exceptions.InvalidLookupAttributesException):
        ct.lookup_events(LookupAttributes=attrs + [{"AttributeKey": "Username",
                                                    "AttributeValue": "root"}])
    with pytest.raises(ct.exceptions.InvalidNextTokenException):
        ct.lookup_events(NextToken="bm90LWEtdG9rZW4")


def test_refused_requests_are_recorded_too(server):
    bad = boto3.client("secretsmanager", endpoint_url=server.endpoint, region_name=REGION,
                       aws_access_key_id="AKIANOSUCHKEY0000001",
                       aws_secret_access_key="wrong" * 8)
    with pytest.raises(bad.exceptions.ClientError):
        bad.list_secrets()
    out = trail(server).lookup_events(LookupAttributes=[
        {"AttributeKey": "AccessKeyId", "AttributeValue": "AKIANOSUCHKEY0000001"}])
    assert out["Events"], "a badly signed request leaves a record"
    record = json.loads(out["Events"][0]["CloudTrailEvent"])
    assert record["userIdentity"] == {"type": "Unknown", "accessKeyId": "AKIANOSUCHKEY0000001"}
    assert record["errorCode"] == "UnrecognizedClientException"


def verify(data_dir):
    p = subprocess.run([binary(), "audit", "verify", "--data-dir", data_dir],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def test_audit_verify_names_each_kind_of_tampering():
    export = tempfile.mkdtemp(prefix="audit-export-")
    s = Server(name="audit-tamper", extra_args=["--audit-export-dir", export])
    sm = sm_client(s)
    name = unique("tamper")
    sm.create_secret(Name=name, SecretString=secret("tamper"))
    for _ in range(19):
        sm.get_secret_value(SecretId=name)
    assert s.stop() == 0  # SIGTERM: the closing digest covers every record
    code, out = verify(s.data_dir)
    assert code == 0 and out.startswith("OK: 20 records"), out

    # The export holds the same records, one JSON document per line.
    lines = [json.loads(line) for f in sorted(os.listdir(export))
             for line in open(os.path.join(export, f))]
    assert [r["eventName"] for r in lines] == ["CreateSecret"] + ["GetSecretValue"] * 19

    # The log is plain text, one record per line (seq TAB prev TAB hash TAB time TAB record):
    # tamper with it as someone with write access to the disk would.
    def tampered(edit, expect):
        d = tempfile.mkdtemp(prefix="audit-copy-")
        shutil.copytree(s.data_dir, d, dirs_exist_ok=True)
        segs = sorted(glob.glob(os.path.join(d, "audit", "*.log")))
        segs = [p for p in segs if not p.endswith("digests.log")]
        assert len(segs) == 1, segs
        with open(segs[0]) as f:
            lines = f.read().splitlines()
        edit(lines)
        with open(segs[0], "w") as f:
            f.write("\n".join(lines) + "\n")
        code, out = verify(d)
        assert code == 1 and "TAMPERED" in out and expect in out, out
        shutil.rmtree(d)

    def swap(lines):
        lines[9], lines[10] = lines[10], lines[9]

    tampered(lambda lines: lines.pop(6), "record 7 was deleted")
    tampered(lambda lines: lines.__setitem__(3, lines[3].replace("GetSecretValue", "ListSecrets")),
             "record 4 (stored at position 4) was altered")
    tampered(swap, "record 10 was moved")
    tampered(lambda lines: lines.__delitem__(slice(17, None)),
             "it ends at record 17 but a signed digest covers records up to 20")
    shutil.rmtree(export)


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
