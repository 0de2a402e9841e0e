"""IAM users, access keys and inline policies, enforced on Secrets Manager calls.

Seed 003's Development Access Policy (region/account substituted), put with `aws iam
put-user-policy`; seed 002's incident response: deactivating a leaked key refuses it at once.
"""
import json
import os
import tempfile

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import MARKER, aws

DEV_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:UpdateSecret"],
            "Resource": [
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:*-test-*",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:*-stage-*",
            ],
        }
    ],
}


def client(server, service, key_id, secret):
    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id=key_id, aws_secret_access_key=secret)


@pytest.fixture(scope="module")
def developer(server, sm):
    for name in ("auth-service-test-config", "payment-service-stage-api-keys", "payment-service-prod-config"):
        sm.create_secret(Name=name, SecretString=f"{MARKER}-{name}")
    aws(server, "iam", "create-user", "--user-name", "developer")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(DEV_POLICY, f)
    aws(server, "iam", "put-user-policy", "--user-name", "developer",
        "--policy-name", "DevelopmentAccess", "--policy-document", f"file://{f.name}")
    os.unlink(f.name)
    _, out, _ = aws(server, "iam", "create-access-key", "--user-name", "developer")
    key = json.loads(out)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def test_development_access_policy_is_enforced(server, developer):
    dev = client(server, "secretsmanager", *developer)
    assert dev.get_secret_value(SecretId="auth-service-test-config")["SecretString"].endswith("test-config")
    dev.update_secret(SecretId="payment-service-stage-api-keys", Description="rotated by dev")
    with pytest.raises(ClientError) as e:
        dev.get_secret_value(SecretId="payment-service-prod-config")
    err = e.value.response["Error"]
    assert err["Code"] == "AccessDeniedException"
    assert err["Message"] == (
        "User: arn:aws:iam::123456789012:user/developer is not authorized to perform: "
        "secretsmanager:GetSecretValue on resource: "
        + dev_arn(server, "payment-service-prod-config")
        + " because no identity-based policy allows the secretsmanager:GetSecretValue action"
    )
    # Not granted at all: listing, deleting, reading values in bulk.
    for call in (lambda: dev.list_secrets(),
                 lambda: dev.delete_secret(SecretId="auth-service-test-config"),
                 lambda: dev.put_secret_value(SecretId="auth-service-test-config", SecretString="x")):
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    # A denied caller cannot tell a missing secret from a forbidden one.
    with pytest.raises(ClientError) as e:
        dev.get_secret_value(SecretId="no-such-prod-secret")
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    # CLI view of the same identity.
    sts = client(server, "sts", *developer)
    assert sts.get_caller_identity()["Arn"] == "arn:aws:iam::123456789012:user/developer"


def dev_arn(server, name):
    _, out, _ = aws(server, "secretsmanager", "describe-secret", "--secret-id", name)
    return json.loads(out)["ARN"]


def test_batch_get_checks_each_secret(server, sm, developer):
    # Grant BatchGetSecretValue only; GetSecretValue still limits which values come back.
    doc = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:BatchGetSecretValue", "Resource": "*"}]}
    aws(server, "iam", "put-user-policy", "--user-name", "developer", "--policy-name", "Batch",
        "--policy-document", json.dumps(doc))
    dev = client(server, "secretsmanager", *developer)
    r = dev.batch_get_secret_value(SecretIdList=["auth-service-test-config", "payment-service-prod-config"])
    assert [v["Name"] for v in r["SecretValues"]] == ["auth-service-test-config"]
    assert r["Errors"][0]["ErrorCode"] == "AccessDeniedException"
    aws(server, "iam", "delete-user-policy", "--user-name", "developer", "--policy-name", "Batch")


def test_deactivated_key_is_refused_at_once(server, developer):
    key_id, secret = developer
    dev = client(server, "secretsmanager", key_id, secret)
    dev.get_secret_value(SecretId="auth-service-test-config")
    aws(server, "iam", "update-access-key", "--user-name", "developer", "--access-key-id", key_id,
        "--status", "Inactive")
    with pytest.raises(ClientError) as e:
        dev.get_secret_value(SecretId="auth-service-test-config")
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
    aws(server, "iam", "update-access-key", "--user-name", "developer", "--access-key-id", key_id,
        "--status", "Active")
    dev.get_secret_value(SecretId="auth-service-test-config")


def test_iam_errors(server, developer):
    code, _, err = aws(server, "iam", "create-user", "--user-name", "developer", check=False)
    assert code != 0 and "EntityAlreadyExists" in err
    code, _, err = aws(server, "iam", "get-user", "--user-name", "nobody", check=False)
    assert code != 0 and "NoSuchEntity" in err
    code, _, err = aws(server, "iam", "put-user-policy", "--user-name", "developer", "--policy-name", "Bad",
                       "--policy-document", '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"GetSecretValue","Resource":"*"}]}',
                       check=False)
    assert code != 0 and "MalformedPolicyDocument" in err and "prefaced by a vendor" in err
    code, _, err = aws(server, "iam", "put-user-policy", "--user-name", "developer", "--policy-name", "Big",
                       "--policy-document", json.dumps({"Version": "2012-10-17", "Statement": [
                           {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                            "Resource": [f"arn:aws:secretsmanager:us-east-1:123456789012:secret:s{i:04d}-*" for i in range(60)]}]}),
                       check=False)
    assert code != 0 and "LimitExceeded" in err
    _, out, _ = aws(server, "iam", "list-user-policies", "--user-name", "developer")
    assert json.loads(out)["PolicyNames"] == ["DevelopmentAccess"], "refused policies are not stored"
    code, _, err = aws(server, "iam", "delete-user", "--user-name", "developer", check=False)
    assert code != 0 and "DeleteConflict" in err
    _, out, _ = aws(server, "iam", "get-user-policy", "--user-name", "developer", "--policy-name", "DevelopmentAccess")
    assert json.loads(out)["PolicyDocument"] == DEV_POLICY


def test_users_cannot_administer_iam_without_permission(server, developer):
    iam = client(server, "iam", *developer)
    with pytest.raises(ClientError) as e:
        iam.create_user(UserName="escalation")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as e:
        iam.put_user_policy(UserName="developer", PolicyName="Admin",
                            PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}')
    assert e.value.response["Error"]["Code"] == "AccessDenied"


def test_inline_policy_size_is_an_aggregate_per_user(server):
    aws(server, "iam", "create-user", "--user-name", "sizer")

    def doc(tag):
        return json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
             "Resource": [f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{tag}{i:02d}-*" for i in range(16)]}]})
    first = doc("a")
    assert 1000 < len(first.replace(" ", "")) < 2048
    aws(server, "iam", "put-user-policy", "--user-name", "sizer", "--policy-name", "One", "--policy-document", first)
    # Replacing the same policy is measured without its old version.
    aws(server, "iam", "put-user-policy", "--user-name", "sizer", "--policy-name", "One", "--policy-document", doc("b"))
    code, _, err = aws(server, "iam", "put-user-policy", "--user-name", "sizer", "--policy-name", "Two",
                       "--policy-document", doc("c"), check=False)
    assert code != 0 and "LimitExceeded" in err


TASK_ROLE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue", "kms:Decrypt"],
        "Resource": ["arn:aws:secretsmanager:us-east-1:123456789012:secret:auth-service-prod-*"],
    }],
}


def test_managed_policies_attach_version_detach(server, sm):
    sm.create_secret(Name="auth-service-prod-mp", SecretString=f"{MARKER}-auth-prod")
    sm.create_secret(Name="payment-service-prod-config2", SecretString=f"{MARKER}-pay-prod")
    aws(server, "iam", "create-user", "--user-name", "task")
    _, out, _ = aws(server, "iam", "create-access-key", "--user-name", "task")
    key = json.loads(out)["AccessKey"]
    task = client(server, "secretsmanager", key["AccessKeyId"], key["SecretAccessKey"])

    _, out, _ = aws(server, "iam", "create-policy", "--policy-name", "TaskExecution",
                    "--policy-document", json.dumps(TASK_ROLE_POLICY), "--description", "seed 003")
    policy = json.loads(out)["Policy"]
    assert policy["Arn"] == "arn:aws:iam::123456789012:policy/TaskExecution"
    assert policy["DefaultVersionId"] == "v1"
    with pytest.raises(ClientError):
        task.get_secret_value(SecretId="auth-service-prod-mp")

    aws(server, "iam", "attach-user-policy", "--user-name", "task", "--policy-arn", policy["Arn"])
    assert task.get_secret_value(SecretId="auth-service-prod-mp")["SecretString"] == f"{MARKER}-auth-prod"
    with pytest.raises(ClientError) as e:
        task.get_secret_value(SecretId="payment-service-prod-config2")
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    _, out, _ = aws(server, "iam", "list-attached-user-policies", "--user-name", "task")
    assert json.loads(out)["AttachedPolicies"] == [{"PolicyName": "TaskExecution", "PolicyArn": policy["Arn"]}]
    _, out, _ = aws(server, "iam", "get-policy", "--policy-arn", policy["Arn"])
    assert json.loads(out)["Policy"]["AttachmentCount"] == 1

    # A new default version takes effect at once.
    v2 = dict(TASK_ROLE_POLICY, Statement=[dict(TASK_ROLE_POLICY["Statement"][0],
              Resource=["arn:aws:secretsmanager:us-east-1:123456789012:secret:payment-service-prod-*"])])
    _, out, _ = aws(server, "iam", "create-policy-version", "--policy-arn", policy["Arn"],
                    "--policy-document", json.dumps(v2), "--set-as-default")
    assert json.loads(out)["PolicyVersion"]["VersionId"] == "v2"
    assert task.get_secret_value(SecretId="payment-service-prod-config2")["SecretString"].endswith("pay-prod")
    with pytest.raises(ClientError):
        task.get_secret_value(SecretId="auth-service-prod-mp")
    _, out, _ = aws(server, "iam", "get-policy-version", "--policy-arn", policy["Arn"], "--version-id", "v1")
    assert json.loads(out)["PolicyVersion"]["Document"] == TASK_ROLE_POLICY

    code, _, err = aws(server, "iam", "delete-policy", "--policy-arn", policy["Arn"], check=False)
    assert code != 0 and "DeleteConflict" in err
    aws(server, "iam", "detach-user-policy", "--user-name", "task", "--policy-arn", policy["Arn"])
    with pytest.raises(ClientError):
        task.get_secret_value(SecretId="payment-service-prod-config2")
    code, _, err = aws(server, "iam", "create-policy", "--policy-name", "TaskExecution",
                       "--policy-document", json.dumps(TASK_ROLE_POLICY), check=False)
    assert code != 0 and "EntityAlreadyExists" in err
    code, _, err = aws(server, "iam", "create-policy", "--policy-name", "Broken",
                       "--policy-document", '{"Statement":[{"Effect":"Allow","Action":"s3:*"}]}', check=False)
    assert code != 0 and "MalformedPolicyDocument" in err


def test_policy_versions_listed_made_default_again_and_deleted(server, sm):
    """ListPolicyVersions, SetDefaultPolicyVersion, DeletePolicyVersion (CLI and boto3): an
    older version made the default changes what an attached user may read at once; the default
    version is never deleted alone; the policy is deleted once its default is its only version."""
    from conftest import audit_record, request_id, since
    from server import ACCESS_KEY, SECRET_KEY
    iam = client(server, "iam", ACCESS_KEY, SECRET_KEY)
    sm.create_secret(Name="pv-alpha-config", SecretString=f"{MARKER}-pv-alpha")
    sm.create_secret(Name="pv-beta-config", SecretString=f"{MARKER}-pv-beta")
    iam.create_user(UserName="versioned-reader")
    key = iam.create_access_key(UserName="versioned-reader")["AccessKey"]
    reader = client(server, "secretsmanager", key["AccessKeyId"], key["SecretAccessKey"])
    reader_iam = client(server, "iam", key["AccessKeyId"], key["SecretAccessKey"])

    def reads(prefix):
        return json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
            "Resource": f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{prefix}-*"}]})

    def allowed(name):
        try:
            reader.get_secret_value(SecretId=name)
            return True
        except ClientError as e:
            assert e.response["Error"]["Code"] == "AccessDeniedException"
            return False

    def listed(**kw):
        return [(v["VersionId"], v["IsDefaultVersion"])
                for v in iam.list_policy_versions(PolicyArn=arn, **kw)["Versions"]]

    arn = iam.create_policy(PolicyName="Versioned", PolicyDocument=reads("pv-alpha"))[
        "Policy"]["Arn"]
    iam.attach_user_policy(UserName="versioned-reader", PolicyArn=arn)
    _, out, _ = aws(server, "iam", "create-policy-version", "--policy-arn", arn,
                    "--policy-document", reads("pv-beta"), "--set-as-default")
    assert json.loads(out)["PolicyVersion"]["VersionId"] == "v2"
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=reads("pv-gamma"))
    assert (allowed("pv-alpha-config"), allowed("pv-beta-config")) == (False, True)

    # Listed newest first, without documents; paged with Marker/MaxItems.
    _, out, _ = aws(server, "iam", "list-policy-versions", "--policy-arn", arn)
    versions = json.loads(out)["Versions"]
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in versions] == \
        [("v3", False), ("v2", True), ("v1", False)]
    assert all("Document" not in v and v["CreateDate"] for v in versions)
    first = iam.list_policy_versions(PolicyArn=arn, MaxItems=2)
    assert [v["VersionId"] for v in first["Versions"]] == ["v3", "v2"]
    assert first["IsTruncated"] is True and first["Marker"]
    rest = iam.list_policy_versions(PolicyArn=arn, Marker=first["Marker"])
    assert [v["VersionId"] for v in rest["Versions"]] == ["v1"] and rest["IsTruncated"] is False
    pages = list(iam.get_paginator("list_policy_versions").paginate(
        PolicyArn=arn, PaginationConfig={"PageSize": 1}))
    assert [v["VersionId"] for p in pages for v in p["Versions"]] == ["v3", "v2", "v1"]

    # v1 made the default again: the user reads alpha, not beta, from the next request on.
    start = since()
    set_default = iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
    assert (allowed("pv-alpha-config"), allowed("pv-beta-config")) == (True, False)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v1"
    assert listed() == [("v3", False), ("v2", False), ("v1", True)]
    aws(server, "iam", "set-default-policy-version", "--policy-arn", arn, "--version-id", "v2")
    assert (allowed("pv-alpha-config"), allowed("pv-beta-config")) == (False, True)
    aws(server, "iam", "set-default-policy-version", "--policy-arn", arn, "--version-id", "v1")

    # The default version is not deleted on its own: AWS's DeleteConflict and message.
    with pytest.raises(ClientError) as e:
        iam.delete_policy_version(PolicyArn=arn, VersionId="v1")
    err = e.value.response["Error"]
    assert (err["Code"], err["Message"]) == \
        ("DeleteConflict", "Cannot delete the default version of a policy.")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    refused = e.value
    code, _, stderr = aws(server, "iam", "delete-policy-version", "--policy-arn", arn,
                          "--version-id", "v1", check=False)
    assert code != 0 and "(DeleteConflict)" in stderr \
        and "Cannot delete the default version of a policy." in stderr
    deleted = iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    assert listed() == [("v3", False), ("v1", True)]
    for op in (iam.delete_policy_version, iam.set_default_policy_version, iam.get_policy_version):
        with pytest.raises(ClientError) as e:
            op(PolicyArn=arn, VersionId="v2")
        assert e.value.response["Error"]["Code"] == "NoSuchEntity"
        assert e.value.response["Error"]["Message"] == \
            f"Policy {arn} version v2 does not exist or is not attachable."
    with pytest.raises(ClientError) as e:
        iam.set_default_policy_version(PolicyArn=arn, VersionId="2")
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert "Member must satisfy regular expression pattern: v[1-9][0-9]*" in \
        e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        iam.list_policy_versions(PolicyArn=arn.replace("Versioned", "Missing"))
    assert e.value.response["Error"]["Code"] == "NoSuchEntity"

    # Ids are never given again (v2 was deleted: v4 is next); five versions at most.
    made = [iam.create_policy_version(PolicyArn=arn, PolicyDocument=reads(f"pv-{i}"))[
        "PolicyVersion"]["VersionId"] for i in range(3)]
    assert made == ["v4", "v5", "v6"]
    with pytest.raises(ClientError) as e:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=reads("pv-7"))
    assert e.value.response["Error"]["Code"] == "LimitExceeded"
    assert e.value.response["Error"]["Message"] == (
        "A managed policy can have up to 5 versions. Before you create a new version, you "
        "must delete an existing version.")

    # Without iam:ListPolicyVersions (etc.) on the policy: AccessDenied naming it.
    with pytest.raises(ClientError) as e:
        reader_iam.list_policy_versions(PolicyArn=arn)
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    assert f"iam:ListPolicyVersions on resource: {arn}" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        reader_iam.delete_policy_version(PolicyArn=arn, VersionId="v3")
    assert f"iam:DeletePolicyVersion on resource: {arn}" in e.value.response["Error"]["Message"]

    # DeletePolicy: refused while attached or while other versions remain, then done.
    iam.detach_user_policy(UserName="versioned-reader", PolicyArn=arn)
    with pytest.raises(ClientError) as e:
        iam.delete_policy(PolicyArn=arn)
    assert e.value.response["Error"]["Code"] == "DeleteConflict"
    assert e.value.response["Error"]["Message"].startswith("This policy has more than one version.")
    for v in ("v3", "v4", "v5"):
        aws(server, "iam", "delete-policy-version", "--policy-arn", arn, "--version-id", v)
    iam.delete_policy_version(PolicyArn=arn, VersionId="v6")
    assert listed() == [("v1", True)]
    aws(server, "iam", "delete-policy", "--policy-arn", arn)
    with pytest.raises(ClientError) as e:
        iam.get_policy(PolicyArn=arn)
    assert e.value.response["Error"]["Code"] == "NoSuchEntity"

    # Audited as the other IAM calls: parameters, the refusal's code, reads marked read-only.
    r = audit_record(server, "iam.amazonaws.com", "SetDefaultPolicyVersion",
                     request_id(set_default), start)
    assert r["requestParameters"] == {"policyArn": arn, "versionId": "v1"}
    assert r["readOnly"] is False
    r = audit_record(server, "iam.amazonaws.com", "DeletePolicyVersion", request_id(refused), start)
    assert r["errorCode"] == "DeleteConflict"
    assert r["errorMessage"] == "Cannot delete the default version of a policy."
    r = audit_record(server, "iam.amazonaws.com", "DeletePolicyVersion", request_id(deleted), start)
    assert r["requestParameters"] == {"policyArn": arn, "versionId": "v2"} and "errorCode" not in r
    ct = boto3.client("cloudtrail", endpoint_url=server.endpoint, region_name="us-east-1",
                      aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    lists = ct.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "ListPolicyVersions"}],
        StartTime=start)["Events"]
    assert lists and all(json.loads(e["CloudTrailEvent"])["readOnly"] is True for e in lists)

def test_groups_grant_their_members(server, sm):
    sm.create_secret(Name="grp-team-config", SecretString=f"{MARKER}-grp")
    aws(server, "iam", "create-user", "--user-name", "member")
    _, out, _ = aws(server, "iam", "create-access-key", "--user-name", "member")
    key = json.loads(out)["AccessKey"]
    member = client(server, "secretsmanager", key["AccessKeyId"], key["SecretAccessKey"])
    aws(server, "iam", "create-group", "--group-name", "readers")
    aws(server, "iam", "put-group-policy", "--group-name", "readers", "--policy-name", "read",
        "--policy-document", json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
             "Resource": "arn:aws:secretsmanager:*:*:secret:grp-*"}]}))
    with pytest.raises(ClientError):
        member.get_secret_value(SecretId="grp-team-config")
    aws(server, "iam", "add-user-to-group", "--group-name", "readers", "--user-name", "member")
    assert member.get_secret_value(SecretId="grp-team-config")["SecretString"] == f"{MARKER}-grp"
    _, out, _ = aws(server, "iam", "get-group", "--group-name", "readers")
    assert [u["UserName"] for u in json.loads(out)["Users"]] == ["member"]
    _, out, _ = aws(server, "iam", "list-groups-for-user", "--user-name", "member")
    assert [g["GroupName"] for g in json.loads(out)["Groups"]] == ["readers"]
    code, _, err = aws(server, "iam", "delete-group", "--group-name", "readers", check=False)
    assert code != 0 and "DeleteConflict" in err
    aws(server, "iam", "remove-user-from-group", "--group-name", "readers", "--user-name", "member")
    with pytest.raises(ClientError) as e:
        member.get_secret_value(SecretId="grp-team-config")
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    aws(server, "iam", "delete-group-policy", "--group-name", "readers", "--policy-name", "read")
    aws(server, "iam", "delete-group", "--group-name", "readers")


def test_simulate_principal_policy_reports_decisions_and_statements(server, developer):
    iam = boto3.client("iam", endpoint_url=server.endpoint, region_name="us-east-1",
                       aws_access_key_id=server.env()["AWS_ACCESS_KEY_ID"],
                       aws_secret_access_key=server.env()["AWS_SECRET_ACCESS_KEY"])
    test_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:svc-test-config-AbCdEf"
    prod_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:svc-prod-config-AbCdEf"
    r = iam.simulate_principal_policy(
        PolicySourceArn="arn:aws:iam::123456789012:user/developer",
        ActionNames=["secretsmanager:GetSecretValue", "secretsmanager:DeleteSecret"],
        ResourceArns=[test_arn, prod_arn])
    got = {(e["EvalActionName"], e["EvalResourceName"]): e for e in r["EvaluationResults"]}
    allowed = got[("secretsmanager:GetSecretValue", test_arn)]
    assert allowed["EvalDecision"] == "allowed"
    assert allowed["MatchedStatements"][0]["SourcePolicyType"] == "user"
    assert "DevelopmentAccess" in allowed["MatchedStatements"][0]["SourcePolicyId"]
    assert got[("secretsmanager:GetSecretValue", prod_arn)]["EvalDecision"] == "implicitDeny"
    assert got[("secretsmanager:DeleteSecret", test_arn)]["EvalDecision"] == "implicitDeny"
    # A resource policy with an explicit deny, and context entries for conditions.
    deny = json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": "NoTest", "Effect": "Deny",
        "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
        "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]})
    r = iam.simulate_principal_policy(
        PolicySourceArn="arn:aws:iam::123456789012:user/developer",
        ActionNames=["secretsmanager:GetSecretValue"], ResourceArns=[test_arn], ResourcePolicy=deny,
        ContextEntries=[{"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["10.1.2.3"], "ContextKeyType": "ip"}])
    e = r["EvaluationResults"][0]
    assert e["EvalDecision"] == "explicitDeny"
    assert e["MatchedStatements"][0]["SourcePolicyType"] == "resource"


def test_query_protocol_auth_errors_use_iam_codes(server):
    bad = boto3.client("iam", endpoint_url=server.endpoint, region_name="us-east-1",
                       aws_access_key_id="AKIAUNKNOWNKEY000000", aws_secret_access_key="x" * 40)
    with pytest.raises(ClientError) as e:
        bad.list_users()
    assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"
    wrong = boto3.client("sts", endpoint_url=server.endpoint, region_name="us-east-1",
                         aws_access_key_id=server.env()["AWS_ACCESS_KEY_ID"], aws_secret_access_key="y" * 40)
    with pytest.raises(ClientError) as e:
        wrong.get_caller_identity()
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_permissions_boundary_caps_a_users_permissions(server, sm):
    """A user whose own policy allows every Secrets Manager action, bounded by a managed
    policy that allows only reads of `*-test-*`: writes and prod are denied; removing the
    boundary restores them (boto3 `iam` client, Query protocol)."""
    from server import ACCESS_KEY, SECRET_KEY
    iam = client(server, "iam", ACCESS_KEY, SECRET_KEY)
    for name in ("bounded-test-db", "bounded-prod-db"):
        sm.create_secret(Name=name, SecretString=f"{MARKER}-{name}")
    boundary = iam.create_policy(PolicyName="ReadTestOnly", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                       "Resource": "arn:aws:secretsmanager:*:*:secret:*-test-*"}]}))["Policy"]["Arn"]
    # A boundary must name a policy that exists, and nothing is created otherwise.
    with pytest.raises(ClientError) as e:
        iam.create_user(UserName="bounded",
                        PermissionsBoundary="arn:aws:iam::123456789012:policy/NoSuchPolicy")
    assert e.value.response["Error"]["Code"] == "NoSuchEntity"
    with pytest.raises(ClientError) as e:
        iam.get_user(UserName="bounded")
    assert e.value.response["Error"]["Code"] == "NoSuchEntity"

    user = iam.create_user(UserName="bounded", PermissionsBoundary=boundary)["User"]
    assert user["PermissionsBoundary"] == {"PermissionsBoundaryType": "Policy",
                                           "PermissionsBoundaryArn": boundary}
    iam.put_user_policy(UserName="bounded", PolicyName="Everything", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="bounded")["AccessKey"]
    me = client(server, "secretsmanager", key["AccessKeyId"], key["SecretAccessKey"])

    assert me.get_secret_value(SecretId="bounded-test-db")["SecretString"].endswith("test-db")
    for call in (lambda: me.get_secret_value(SecretId="bounded-prod-db"),
                 lambda: me.update_secret(SecretId="bounded-test-db", Description="x")):
        with pytest.raises(ClientError) as e:
            call()
        err = e.value.response["Error"]
        assert err["Code"] == "AccessDeniedException"
        assert "permissions boundary" in err["Message"], err["Message"]

    iam.delete_user_permissions_boundary(UserName="bounded")
    assert "PermissionsBoundary" not in iam.get_user(UserName="bounded")["User"]
    assert me.get_secret_value(SecretId="bounded-prod-db")["SecretString"].endswith("prod-db")
    iam.put_user_permissions_boundary(UserName="bounded", PermissionsBoundary=boundary)
    with pytest.raises(ClientError):
        me.get_secret_value(SecretId="bounded-prod-db")


def test_permissions_boundary_applies_to_assumed_role_sessions(server, sm):
    from server import ACCESS_KEY, SECRET_KEY
    iam = client(server, "iam", ACCESS_KEY, SECRET_KEY)
    sm.create_secret(Name="role-bounded-test-x", SecretString=f"{MARKER}-rb1")
    sm.create_secret(Name="role-bounded-prod-x", SecretString=f"{MARKER}-rb2")
    boundary = iam.create_policy(PolicyName="RoleReadTestOnly", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                       "Resource": "arn:aws:secretsmanager:*:*:secret:*-test-*"}]}))["Policy"]["Arn"]
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName="bounded-role", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName="bounded-role", PolicyName="All", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}]}))
    iam.put_role_permissions_boundary(RoleName="bounded-role", PermissionsBoundary=boundary)
    assert iam.get_role(RoleName="bounded-role")["Role"]["PermissionsBoundary"][
        "PermissionsBoundaryArn"] == boundary
    # Root may not assume roles (as on AWS): a user allowed sts:AssumeRole does.
    iam.create_user(UserName="boundary-assumer")
    iam.put_user_policy(UserName="boundary-assumer", PolicyName="Assume", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                       "Resource": "arn:aws:iam::123456789012:role/bounded-role"}]}))
    k = iam.create_access_key(UserName="boundary-assumer")["AccessKey"]
    sts = client(server, "sts", k["AccessKeyId"], k["SecretAccessKey"])
    creds = sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/bounded-role",
                            RoleSessionName="bounded-session")["Credentials"]
    s = boto3.client("secretsmanager", endpoint_url=server.endpoint, region_name="us-east-1",
                     aws_access_key_id=creds["AccessKeyId"],
                     aws_secret_access_key=creds["SecretAccessKey"],
                     aws_session_token=creds["SessionToken"])
    assert s.get_secret_value(SecretId="role-bounded-test-x")["SecretString"].endswith("rb1")
    with pytest.raises(ClientError) as e:
        s.get_secret_value(SecretId="role-bounded-prod-x")
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    iam.delete_role_permissions_boundary(RoleName="bounded-role")
    assert "PermissionsBoundary" not in iam.get_role(RoleName="bounded-role")["Role"]
    assert s.get_secret_value(SecretId="role-bounded-prod-x")["SecretString"].endswith("rb2")


def test_list_operations_page_with_marker_and_max_items(server):
    from server import ACCESS_KEY, SECRET_KEY
    iam = client(server, "iam", ACCESS_KEY, SECRET_KEY)
    names = [f"paged-user-{i}" for i in range(5)]
    for n in names:
        iam.create_user(UserName=n, Path="/paging/")
    first = iam.list_users(PathPrefix="/paging/", MaxItems=2)
    assert first["IsTruncated"] is True and first["Marker"]
    assert [u["UserName"] for u in first["Users"]] == names[:2]
    pages = list(iam.get_paginator("list_users").paginate(
        PathPrefix="/paging/", PaginationConfig={"PageSize": 2}))
    assert [len(p["Users"]) for p in pages] == [2, 2, 1]
    assert [u["UserName"] for p in pages for u in p["Users"]] == names
    # The CLI pages through the server's markers too.
    _, out, _ = aws(server, "iam", "list-users", "--path-prefix", "/paging/", "--page-size", "2")
    assert [u["UserName"] for u in json.loads(out)["Users"]] == names
    with pytest.raises(ClientError) as e:
        iam.list_users(Marker="not-a-marker")
    assert e.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError) as e:
        iam.list_users(MaxItems=1001)
    assert e.value.response["Error"]["Code"] == "ValidationError"


def test_simulate_principal_policy_for_a_group_and_extra_policies(server):
    from server import ACCESS_KEY, SECRET_KEY
    iam = client(server, "iam", ACCESS_KEY, SECRET_KEY)
    iam.create_group(GroupName="sim-readers")
    iam.put_group_policy(GroupName="sim-readers", PolicyName="Read", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "ReadTest", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                       "Resource": "arn:aws:secretsmanager:*:*:secret:*-test-*"}]}))
    arn = "arn:aws:iam::123456789012:group/sim-readers"
    test_db = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-test-AbCdEf"
    prod_db = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-prod-AbCdEf"
    r = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["secretsmanager:GetSecretValue"],
                                      ResourceArns=[test_db, prod_db])["EvaluationResults"]
    assert [x["EvalDecision"] for x in r] == ["allowed", "implicitDeny"]
    assert "ReadTest" in r[0]["MatchedStatements"][0]["SourcePolicyId"]
    assert r[0]["MatchedStatements"][0]["SourcePolicyType"] == "group"
    # PolicyInputList: an extra policy evaluated with the group's (here an explicit deny).
    deny = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Action": "secretsmanager:*", "Resource": "*"}]})
    r = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["secretsmanager:GetSecretValue"],
                                      ResourceArns=[test_db], PolicyInputList=[deny])["EvaluationResults"]
    assert r[0]["EvalDecision"] == "explicitDeny"
    assert r[0]["MatchedStatements"][0]["SourcePolicyType"] == "IAM Policy"
    with pytest.raises(ClientError) as e:
        iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["s3:GetObject"],
                                      PolicyInputList=["{not json"])
    assert e.value.response["Error"]["Code"] == "MalformedPolicyDocument"
    with pytest.raises(ClientError) as e:
        iam.simulate_principal_policy(PolicySourceArn="arn:aws:iam::123456789012:group/nope",
                                      ActionNames=["s3:GetObject"])
    assert e.value.response["Error"]["Code"] == "NoSuchEntity"
