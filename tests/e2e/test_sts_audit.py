"""CloudTrail records of STS calls, as an auditor finds them with the AWS CLI:

* AssumeRole's record lists the role in `resources`, so
  `aws cloudtrail lookup-events --lookup-attributes AttributeKey=ResourceName,AttributeValue=<role ARN>`
  finds it (refused calls too); GetSessionToken's lists the user;
* `responseElements` carry the assumed role user and the credentials' access key id and
  expiration, never the secret access key or the session token (absent from the whole record).
"""
import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import aws_json, request_id, since, unique
from leaks import remember
from server import ACCOUNT, REGION

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})
ROLE_TYPE = "AWS::IAM::Role"
USER_TYPE = "AWS::IAM::User"


def client(server, service, creds):
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION,
                        aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds.get("SessionToken"), config=NO_RETRY)


def by_resource(server, arn, start):
    """lookup-events by ResourceName with the AWS CLI: (summary, record) pairs."""
    out = aws_json(server, "cloudtrail", "lookup-events", "--lookup-attributes",
                   f"AttributeKey=ResourceName,AttributeValue={arn}",
                   "--start-time", start.isoformat())
    return [(e, json.loads(e["CloudTrailEvent"])) for e in out["Events"]]


@pytest.fixture(scope="module")
def actors(server):
    env = server.env()
    iam = boto3.client("iam", endpoint_url=server.endpoint, region_name=REGION,
                       aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                       aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    user = unique("sts-audit-user")
    made = iam.create_user(UserName=user)["User"]
    key = iam.create_access_key(UserName=user)["AccessKey"]
    remember(key["SecretAccessKey"])
    role = unique("sts-audit-role")
    r = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": made["Arn"]}, "Action": "sts:AssumeRole"}]}))
    return {"user": user, "user_arn": made["Arn"], "key": key, "role": role,
            "role_arn": r["Role"]["Arn"], "role_id": r["Role"]["RoleId"]}


def test_assume_role_record_names_the_role_and_keeps_no_secret(server, actors):
    start = since(2)
    resp = client(server, "sts", actors["key"]).assume_role(
        RoleArn=actors["role_arn"], RoleSessionName="audited-session")
    creds = resp["Credentials"]
    remember(creds["SecretAccessKey"])
    remember(creds["SessionToken"])
    found = [(e, r) for e, r in by_resource(server, actors["role_arn"], start)
             if r["requestID"] == request_id(resp)]
    assert len(found) == 1, found
    e, r = found[0]
    assert e["EventName"] == r["eventName"] == "AssumeRole"
    assert r["eventSource"] == "sts.amazonaws.com"
    assert r["resources"] == [{"ARN": actors["role_arn"], "accountId": ACCOUNT, "type": ROLE_TYPE}]
    assert {"ResourceType": ROLE_TYPE, "ResourceName": actors["role_arn"]} in e["Resources"]
    el = r["responseElements"]
    assert el["assumedRoleUser"] == {
        "assumedRoleId": f"{actors['role_id']}:audited-session",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{actors['role']}/audited-session"}
    assert el["credentials"]["accessKeyId"] == creds["AccessKeyId"]
    assert el["credentials"]["expiration"]
    assert set(el["credentials"]) == {"accessKeyId", "expiration"}
    text = json.dumps(e, default=str)
    for s in (creds["SecretAccessKey"], creds["SessionToken"], actors["key"]["SecretAccessKey"]):
        assert s not in text, "a credential is in the AssumeRole record"


def test_refused_assume_role_is_found_by_the_role(server, actors):
    start = since(2)
    stranger = unique("sts-audit-stranger")
    env = server.env()
    iam = boto3.client("iam", endpoint_url=server.endpoint, region_name=REGION,
                       aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                       aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    iam.create_user(UserName=stranger)
    key = iam.create_access_key(UserName=stranger)["AccessKey"]
    remember(key["SecretAccessKey"])
    with pytest.raises(ClientError) as ei:
        client(server, "sts", key).assume_role(RoleArn=actors["role_arn"], RoleSessionName="no")
    assert ei.value.response["Error"]["Code"] == "AccessDenied"
    found = [r for _, r in by_resource(server, actors["role_arn"], start)
             if r["requestID"] == request_id(ei.value)]
    assert len(found) == 1
    assert found[0]["errorCode"] == "AccessDenied" and found[0]["responseElements"] is None


def test_get_session_token_record_names_the_user(server, actors):
    start = since(2)
    resp = client(server, "sts", actors["key"]).get_session_token(DurationSeconds=900)
    creds = resp["Credentials"]
    remember(creds["SecretAccessKey"])
    remember(creds["SessionToken"])
    found = [(e, r) for e, r in by_resource(server, actors["user_arn"], start)
             if r["requestID"] == request_id(resp)]
    assert len(found) == 1, found
    e, r = found[0]
    assert r["eventName"] == "GetSessionToken"
    assert r["resources"] == [{"ARN": actors["user_arn"], "accountId": ACCOUNT, "type": USER_TYPE}]
    assert r["responseElements"]["credentials"]["accessKeyId"] == creds["AccessKeyId"]
    assert set(r["responseElements"]["credentials"]) == {"accessKeyId", "expiration"}
    assert "assumedRoleUser" not in r["responseElements"]
    text = json.dumps(e, default=str)
    for s in (creds["SecretAccessKey"], creds["SessionToken"], actors["key"]["SecretAccessKey"]):
        assert s not in text, "a credential is in the GetSessionToken record"
