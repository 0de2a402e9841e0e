"""IAM and STS read their Query forms and write their XML through the model-driven codec
(crates/server/src/http/shapes.rs and the generated services/{iam,sts}/shapes.rs), not
hand-written templates. Seen from outside:

* replies are exactly the model's elements, in the model's order (checked on the raw XML,
  which SDKs would forgive), and values are XML-escaped;
* a member the model requires but the form lacks is AWS's "Value null at 'member'"
  ValidationError, and a badly typed value a ValidationError naming the member — nothing is
  created by either;
* list members, nested structures and paging arrive intact through boto3 and the AWS CLI.
"""
import json
import re
import subprocess
import urllib.parse
import xml.etree.ElementTree as ET

import pytest
from botocore.exceptions import ClientError

from conftest import unique
from server import ACCESS_KEY, SECRET_KEY, REGION
from test_pipeline import client, signed

IAM_NS = "{https://iam.amazonaws.com/doc/2010-05-08/}"
STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"


def query(server, service, params, keys=(ACCESS_KEY, SECRET_KEY)):
    version = "2010-05-08" if service == "iam" else "2011-06-15"
    body = urllib.parse.urlencode({**params, "Version": version}).encode()
    return signed(server, keys, service, body=body,
                  headers={"Content-Type": "application/x-www-form-urlencoded"})


def children(elem):
    return [c.tag.split("}")[1] for c in elem]


def test_replies_follow_the_model_order_and_escape_values(server):
    name = unique("shapes-user")
    status, _, body = query(server, "iam", {"Action": "CreateUser", "UserName": name,
                                            "Path": "/a&b/"})
    assert status == 200, body
    root = ET.fromstring(body)
    user = root.find(f"{IAM_NS}CreateUserResult/{IAM_NS}User")
    # The model's User: Path, UserName, UserId, Arn, CreateDate (optional members absent).
    assert children(user) == ["Path", "UserName", "UserId", "Arn", "CreateDate"], body
    assert user.find(f"{IAM_NS}Path").text == "/a&b/"
    assert b"/a&amp;b/" in body
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", user.find(f"{IAM_NS}CreateDate").text)

    status, _, body = query(server, "iam", {"Action": "CreateAccessKey", "UserName": name})
    assert status == 200, body
    key = ET.fromstring(body).find(f"{IAM_NS}CreateAccessKeyResult/{IAM_NS}AccessKey")
    assert children(key) == ["UserName", "AccessKeyId", "Status", "SecretAccessKey", "CreateDate"]

    status, _, body = query(server, "sts", {"Action": "GetCallerIdentity"})
    assert status == 200, body
    result = ET.fromstring(body).find(f"{STS_NS}GetCallerIdentityResult")
    assert children(result) == ["UserId", "Account", "Arn"], body


@pytest.mark.parametrize("service,params,member", [
    ("iam", {"Action": "CreateUser"}, "userName"),
    ("iam", {"Action": "PutUserPolicy", "UserName": "u", "PolicyName": "p"}, "policyDocument"),
    ("iam", {"Action": "CreateRole", "RoleName": "r"}, "assumeRolePolicyDocument"),
    ("sts", {"Action": "AssumeRole", "RoleArn": "arn:aws:iam::123456789012:role/x"},
     "roleSessionName"),
])
def test_missing_required_members_are_validation_errors(server, service, params, member):
    status, _, body = query(server, service, params)
    assert status == 400, body
    err = ET.fromstring(body).find(f"{{*}}Error")
    assert err.find("{*}Code").text == "ValidationError", body
    assert err.find("{*}Message").text == (
        f"1 validation error detected: Value null at '{member}' failed to satisfy constraint: "
        "Member must not be null"), body


def test_badly_typed_values_are_refused_and_change_nothing(server):
    name = unique("shapes-role")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole"}]})
    status, _, body = query(server, "iam", {"Action": "CreateRole", "RoleName": name,
                                            "AssumeRolePolicyDocument": trust,
                                            "MaxSessionDuration": "an hour"})
    assert status == 400, body
    message = ET.fromstring(body).find("{*}Error/{*}Message").text
    assert "maxSessionDuration" in message and "integer" in message, message
    iam = client(server, "iam")
    with pytest.raises(ClientError) as e:
        iam.get_role(RoleName=name)
    assert e.value.response["Error"]["Code"] == "NoSuchEntity"

    status, _, body = query(server, "iam", {"Action": "ListUsers", "MaxItems": "many"})
    assert status == 400 and b"maxItems" in body, body


def test_lists_nested_members_and_pages_through_clients(server):
    iam = client(server, "iam")
    prefix = f"/{unique('shapes')}/"
    names = [unique("shapes-page") for _ in range(5)]
    for n in names:
        iam.create_user(UserName=n, Path=prefix)
    seen, pages = [], 0
    for page in iam.get_paginator("list_users").paginate(PathPrefix=prefix,
                                                         PaginationConfig={"PageSize": 2}):
        pages += 1
        seen += [u["UserName"] for u in page["Users"]]
    assert sorted(seen) == sorted(names) and pages == 3

    # The AWS CLI through the same codec: nested Tags list members and a timestamp.
    role = unique("shapes-tags")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": "sts:AssumeRole"}]})
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust, Description="d<&>")
    out = subprocess.run(
        ["aws", "iam", "get-role", "--role-name", role, "--endpoint-url", server.endpoint,
         "--region", REGION, "--output", "json"],
        env={"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
             "PATH": __import__("os").environ["PATH"]},
        capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)["Role"]
    assert got["Description"] == "d<&>" and got["MaxSessionDuration"] == 3600
    assert got["AssumeRolePolicyDocument"]["Statement"][0]["Action"] == "sts:AssumeRole"

    # SimulatePrincipalPolicy's nested results and context entries.
    user = names[0]
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Sid": "OnlyFromHere", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
            "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}))
    arn = iam.get_user(UserName=user)["User"]["Arn"]
    results = iam.simulate_principal_policy(
        PolicySourceArn=arn, ActionNames=["secretsmanager:GetSecretValue", "kms:Decrypt"],
        ContextEntries=[{"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["10.1.2.3"],
                         "ContextKeyType": "ip"}])["EvaluationResults"]
    decisions = {r["EvalActionName"]: r["EvalDecision"] for r in results}
    assert decisions == {"secretsmanager:GetSecretValue": "allowed", "kms:Decrypt": "implicitDeny"}
    matched = results[0]["MatchedStatements"][0]
    assert "OnlyFromHere" in matched["SourcePolicyId"] and matched["SourcePolicyType"] == "user"
