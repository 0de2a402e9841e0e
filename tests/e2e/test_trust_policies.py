"""Role trust policies, enforced with AWS's rules (issue 16 §1), driven by boto3.

A role's trust policy must allow the caller, always. Naming the caller (its user ARN, its
role, its exact session) grants on its own; naming the account (root or account id) delegates
to the caller's identity policies, which must then allow too. An identity policy that allows
sts:AssumeRole on "*" is never a substitute for the trust policy. The same rules govern
sts:TagSession and sts:SetSourceIdentity."""
import json
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import MARKER, aws, audit_record, request_id, since
from server import ACCESS_KEY, REGION, SECRET_KEY

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "999988887777"
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})
SUFFIX = uuid.uuid4().hex[:6]


def arn(kind, name):
    return f"arn:aws:iam::{ACCOUNT}:{kind}/{name}"


def role_name(base):
    return f"{base}-{SUFFIX}"


def client(server, service, creds):
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION, config=NO_RETRY,
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds.get("SessionToken"))


def root(server, service):
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION, config=NO_RETRY,
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)


def trust(principal, actions=("sts:AssumeRole",), condition=None):
    st = {"Effect": "Allow", "Principal": principal, "Action": list(actions)}
    if condition:
        st["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [st]}


READ_SECRET = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}
ASSUME_ANY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"], "Resource": "*"}]}


@pytest.fixture(scope="module")
def world(server, sm):
    iam = root(server, "iam")
    users = {}
    for name, policy in (("untrusted", ASSUME_ANY), ("trusted", None), ("plain", None), ("delegated", ASSUME_ANY),
                         ("denied", {"Version": "2012-10-17", "Statement": [
                             {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "*"}]})):
        user = f"{name}-{SUFFIX}"
        iam.create_user(UserName=user)
        if policy:
            iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps(policy))
        users[name] = iam.create_access_key(UserName=user)["AccessKey"]
        users[name]["Arn"] = arn("user", user)
    secret_name = f"trust-target-{SUFFIX}"
    sm.create_secret(Name=secret_name, SecretString=f"{MARKER}-trust-{SUFFIX}")

    def role(base, document, *, policy=READ_SECRET):
        name = role_name(base)
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(document))
        iam.put_role_policy(RoleName=name, PolicyName="read", PolicyDocument=json.dumps(policy))
        return arn("role", name)

    roles = {
        "r-trust": role("r-trust", trust({"AWS": users["trusted"]["Arn"]})),
        "r-foreign": role("r-foreign", trust({"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"})),
        "r-foreign-id": role("r-foreign-id", trust({"AWS": OTHER_ACCOUNT})),
        "r-svc": role("r-svc", trust({"Service": "lambda.amazonaws.com"})),
        "r-extid": role("r-extid", trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                                         condition={"StringEquals": {"sts:ExternalId": "ext-1234-abcd"}})),
        "r-account": role("r-account", trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"})),
        "r-account-id": role("r-account-id", trust({"AWS": ACCOUNT})),
        "r-star": role("r-star", trust({"AWS": "*"}, condition={
            "StringEquals": {"aws:PrincipalAccount": ACCOUNT, "aws:username": f"plain-{SUFFIX}"}})),
        "r-tags": role("r-tags", trust({"AWS": users["trusted"]["Arn"]}, ("sts:AssumeRole", "sts:TagSession"))),
        "r-source": role("r-source", trust({"AWS": users["trusted"]["Arn"]},
                                           ("sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"))),
        "r-source-required": role("r-source-required", trust(
            {"AWS": users["trusted"]["Arn"]}, ("sts:AssumeRole", "sts:SetSourceIdentity"),
            condition={"StringLike": {"sts:SourceIdentity": "*"}})),
        "r-session-name": role("r-session-name", trust(
            {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            condition={"StringEquals": {"sts:RoleSessionName": "${aws:username}"}})),
    }
    # Chaining: r-next trusts the r-source role (any of its sessions), for all three actions.
    roles["r-next"] = role("r-next", trust({"AWS": roles["r-source"]},
                                           ("sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession")))
    roles["r-next-no-source"] = role("r-next-no-source", trust({"AWS": roles["r-source"]},
                                                               ("sts:AssumeRole", "sts:TagSession")))
    return {"users": users, "roles": roles, "secret": secret_name}


def assume(server, creds, role_arn, **extra):
    return client(server, "sts", creds).assume_role(RoleArn=role_arn, RoleSessionName=extra.pop("name", "s1"), **extra)


def refused(server, creds, role_arn, **extra):
    with pytest.raises(ClientError) as e:
        assume(server, creds, role_arn, **extra)
    err = e.value.response["Error"]
    assert err["Code"] == "AccessDenied", err
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    return err["Message"]


@pytest.mark.parametrize("target", ["r-trust", "r-foreign", "r-foreign-id", "r-svc"])
def test_an_identity_allow_does_not_replace_the_trust_policy(server, world, target):
    user = world["users"]["untrusted"]
    role_arn = world["roles"][target]
    message = refused(server, user, role_arn)
    # AWS's words for a trust policy refusal: no reason, nothing about the role.
    assert message == f"User: {user['Arn']} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"


def test_external_id_is_required_by_the_trust_condition(server, world):
    user = world["users"]["untrusted"]
    role_arn = world["roles"]["r-extid"]
    refused(server, user, role_arn)
    refused(server, user, role_arn, ExternalId="wrong-external-id")
    creds = assume(server, user, role_arn, ExternalId="ext-1234-abcd")["Credentials"]
    value = client(server, "secretsmanager", creds).get_secret_value(SecretId=world["secret"])["SecretString"]
    assert value.endswith(SUFFIX)


def test_malformed_external_id_is_a_validation_error(server, world):
    with pytest.raises(ClientError) as e:
        assume(server, world["users"]["untrusted"], world["roles"]["r-extid"], ExternalId="has space")
    assert e.value.response["Error"]["Code"] == "ValidationError"


def test_a_trust_naming_the_user_grants_without_an_identity_policy(server, world):
    creds = assume(server, world["users"]["trusted"], world["roles"]["r-trust"])["Credentials"]
    value = client(server, "secretsmanager", creds).get_secret_value(SecretId=world["secret"])["SecretString"]
    assert value.endswith(SUFFIX)


@pytest.mark.parametrize("target", ["r-account", "r-account-id"])
def test_a_trust_naming_the_account_needs_the_identity_policy_too(server, world, target):
    role_arn = world["roles"][target]
    plain = world["users"]["plain"]
    message = refused(server, plain, role_arn)
    assert message == (f"User: {plain['Arn']} is not authorized to perform: sts:AssumeRole on resource: "
                       f"{role_arn} because no identity-based policy allows the sts:AssumeRole action")
    assert assume(server, world["users"]["delegated"], role_arn)["AssumedRoleUser"]["Arn"].endswith(f"{target}-{SUFFIX}/s1")


def test_everyone_narrowed_by_conditions(server, world):
    role_arn = world["roles"]["r-star"]
    assume(server, world["users"]["plain"], role_arn)
    refused(server, world["users"]["untrusted"], role_arn)


def test_an_explicit_deny_in_the_identity_policy_wins(server, world):
    iam = root(server, "iam")
    denied = world["users"]["denied"]
    role_arn = world["roles"]["r-account"]
    doc = trust({"AWS": denied["Arn"]})
    name = role_name("r-names-denied")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(doc))
    message = refused(server, denied, arn("role", name))
    assert message.endswith("with an explicit deny in an identity-based policy")
    refused(server, denied, role_arn)


def test_session_tags_need_sts_tag_session_in_the_trust(server, world):
    user = world["users"]["trusted"]
    tags = [{"Key": "team", "Value": "payments"}]
    message = refused(server, user, world["roles"]["r-trust"], Tags=tags)
    assert "sts:TagSession" in message
    r = assume(server, user, world["roles"]["r-tags"], Tags=tags)
    assert r["AssumedRoleUser"]["Arn"].endswith("/s1")


def test_source_identity_needs_set_source_identity_and_is_recorded(server, world):
    user = world["users"]["trusted"]
    message = refused(server, user, world["roles"]["r-trust"], SourceIdentity="alice")
    assert "sts:SetSourceIdentity" in message
    # Required by the trust's condition: missing → denied.
    refused(server, user, world["roles"]["r-source-required"])
    r = assume(server, user, world["roles"]["r-source-required"], SourceIdentity="alice")
    assert r["SourceIdentity"] == "alice"
    start = since()
    resp = client(server, "secretsmanager", r["Credentials"]).get_secret_value(SecretId=world["secret"])
    record = audit_record(server, "secretsmanager.amazonaws.com", "GetSecretValue", request_id(resp), start)
    assert record["userIdentity"]["sessionContext"]["sourceIdentity"] == "alice"


def test_source_identity_and_transitive_tags_persist_through_chaining(server, world):
    user = world["users"]["trusted"]
    first = assume(server, user, world["roles"]["r-source"], SourceIdentity="alice",
                   Tags=[{"Key": "team", "Value": "payments"}, {"Key": "temp", "Value": "x"}],
                   TransitiveTagKeys=["team"])["Credentials"]
    # The next role trusts r-source: its sessions may assume it; the source identity carries on.
    second = assume(server, first, world["roles"]["r-next"], name="s2")
    assert second["SourceIdentity"] == "alice"
    # ... and cannot be changed.
    message = refused(server, first, world["roles"]["r-next"], name="s3", SourceIdentity="mallory")
    assert "sts:SetSourceIdentity" in message
    # A role whose trust lacks sts:SetSourceIdentity cannot be chained to with one.
    refused(server, first, world["roles"]["r-next-no-source"], name="s4")
    # The transitive tag reached the chained session: a policy on aws:PrincipalTag/team sees it.
    iam = root(server, "iam")
    iam.put_role_policy(RoleName=role_name("r-next"), PolicyName="tagged", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "secretsmanager:GetSecretValue",
                                                "Resource": "*", "Condition": {
                                                    "StringNotEquals": {"aws:PrincipalTag/team": "payments"}}}]}))
    sm2 = client(server, "secretsmanager", second["Credentials"])
    assert sm2.get_secret_value(SecretId=world["secret"])["SecretString"].endswith(SUFFIX)
    iam.put_role_policy(RoleName=role_name("r-next"), PolicyName="tagged", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "secretsmanager:GetSecretValue",
                                                "Resource": "*", "Condition": {
                                                    "StringEquals": {"aws:PrincipalTag/temp": "x"}}}]}))
    # The non-transitive tag did not pass on: the deny on it does not apply.
    assert sm2.get_secret_value(SecretId=world["secret"])["SecretString"].endswith(SUFFIX)
    iam.delete_role_policy(RoleName=role_name("r-next"), PolicyName="tagged")


def test_role_session_name_condition(server, world):
    user = world["users"]["delegated"]
    role_arn = world["roles"]["r-session-name"]
    refused(server, user, role_arn, name="someone-else")
    assume(server, user, role_arn, name=f"delegated-{SUFFIX}")


def test_a_trust_refusal_is_audited_without_the_external_id(server, world):
    user = world["users"]["untrusted"]
    start = since()
    with pytest.raises(ClientError) as e:
        assume(server, user, world["roles"]["r-extid"], ExternalId="wrong-external-id")
    record = audit_record(server, "sts.amazonaws.com", "AssumeRole", request_id(e.value), start)
    assert record["errorCode"] == "AccessDenied"
    assert record["userIdentity"]["arn"] == user["Arn"]


def test_kms_key_policy_naming_a_user_grants_alone(server, world):
    """KMS key policies follow the same rule: they must allow; naming the user grants alone."""
    kms = root(server, "kms")
    plain = world["users"]["plain"]
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "user", "Effect": "Allow", "Principal": {"AWS": plain["Arn"]},
         "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}]}
    key = kms.create_key(Policy=json.dumps(policy))["KeyMetadata"]["KeyId"]
    user_kms = client(server, "kms", plain)
    blob = user_kms.encrypt(KeyId=key, Plaintext=b"hello")["CiphertextBlob"]
    assert user_kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"hello"
    with pytest.raises(ClientError) as e:
        user_kms.generate_data_key(KeyId=key, KeySpec="AES_256")
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
