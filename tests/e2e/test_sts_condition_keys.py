"""The global condition keys a request carries, by who signed it (AWS's "AWS global condition
context keys"), driven with boto3:

* aws:TokenIssueTime on temporary credentials, and the IAM console's "Revoke active sessions"
  (an inline role policy AWSRevokeOlderSessions denying `DateLessThan aws:TokenIssueTime <now>`)
  cutting off the sessions issued before it at once while new sessions keep working;
* aws:MultiFactorAuthPresent: false for sessions issued without MFA, absent for access keys;
* aws:PrincipalType, aws:userid, aws:PrincipalAccount per principal;
* aws:ViaAWSService: true only for the KMS check Secrets Manager makes for the caller.
"""
import datetime as dt
import json
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import secret, unique
from leaks import remember
from server import ACCOUNT, REGION

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def client(server, service, creds):
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION,
                        aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds.get("SessionToken"), config=NO_RETRY)


def root_iam(server):
    env = server.env()
    return boto3.client("iam", endpoint_url=server.endpoint, region_name=REGION,
                        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def denied(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def world(server, sm):
    """A user that may assume a role; the role and the user may describe one secret, each
    under the conditions a test puts on them."""
    iam = root_iam(server)
    user = unique("ck-user")
    made = iam.create_user(UserName=user)["User"]
    key = iam.create_access_key(UserName=user)["AccessKey"]
    remember(key["SecretAccessKey"])
    role = unique("ck-role")
    r = iam.create_role(RoleName=role, AssumeRolePolicyDocument=policy(
        {"Effect": "Allow", "Principal": {"AWS": made["Arn"]}, "Action": "sts:AssumeRole"}))["Role"]
    name = unique("ck-secret")
    arn = sm.create_secret(Name=name, SecretString=secret("ck"))["ARN"]
    return {"iam": iam, "user": user, "user_id": made["UserId"], "user_arn": made["Arn"],
            "key": key, "role": role, "role_id": r["RoleId"], "role_arn": r["Arn"],
            "secret": arn}


def assume(server, world, session="ck-session"):
    creds = client(server, "sts", world["key"]).assume_role(
        RoleArn=world["role_arn"], RoleSessionName=session)["Credentials"]
    remember(creds["SecretAccessKey"])
    remember(creds["SessionToken"])
    return creds


def set_role_policy(world, name, *statements):
    world["iam"].put_role_policy(RoleName=world["role"], PolicyName=name,
                                 PolicyDocument=policy(*statements))


def set_user_policy(world, name, *statements):
    world["iam"].put_user_policy(UserName=world["user"], PolicyName=name,
                                 PolicyDocument=policy(*statements))


def describe(world, condition=None, action="secretsmanager:DescribeSecret"):
    s = {"Effect": "Allow", "Action": action, "Resource": world["secret"]}
    if condition:
        s["Condition"] = condition
    return s


def test_revoke_older_sessions(server, world):
    """The IAM console's "Revoke active sessions": sessions issued before the Deny's time are
    refused at once; a session issued after it works."""
    set_role_policy(world, "describe", describe(world))
    old = assume(server, world, "before-revoke")
    old_sm = client(server, "secretsmanager", old)
    assert old_sm.describe_secret(SecretId=world["secret"])["ARN"] == world["secret"]
    time.sleep(0.05)
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    set_role_policy(world, "AWSRevokeOlderSessions", {
        "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": now}}})
    try:
        time.sleep(0.05)
        with pytest.raises(ClientError) as e:
            old_sm.describe_secret(SecretId=world["secret"])
        err = e.value.response["Error"]
        assert err["Code"] == "AccessDeniedException"
        assert "with an explicit deny" in err["Message"]
        # Every action, every service: the old session is cut off.
        assert denied(lambda: client(server, "kms", old).list_keys()) == "AccessDeniedException"
        fresh = client(server, "secretsmanager", assume(server, world, "after-revoke"))
        assert fresh.describe_secret(SecretId=world["secret"])["ARN"] == world["secret"]
        # Long-term keys have no aws:TokenIssueTime: a user-side copy of the Deny never matches.
        set_user_policy(world, "AWSRevokeOlderSessions", describe(world), {
            "Effect": "Deny", "Action": "*", "Resource": "*",
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": now}}})
        user_sm = client(server, "secretsmanager", world["key"])
        assert user_sm.describe_secret(SecretId=world["secret"])["ARN"] == world["secret"]
        # ... while a GetSessionToken session issued before it is refused, one after works.
        early = client(server, "sts", world["key"]).get_session_token(
            DurationSeconds=900)["Credentials"]
        remember(early["SecretAccessKey"])
        remember(early["SessionToken"])
        assert client(server, "secretsmanager", early).describe_secret(SecretId=world["secret"])
        time.sleep(0.05)
        cut = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        set_user_policy(world, "AWSRevokeOlderSessions", describe(world), {
            "Effect": "Deny", "Action": "*", "Resource": "*",
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": cut}}})
        time.sleep(0.05)
        assert denied(lambda: client(server, "secretsmanager", early).describe_secret(
            SecretId=world["secret"])) == "AccessDeniedException"
        assert user_sm.describe_secret(SecretId=world["secret"])
    finally:
        world["iam"].delete_role_policy(RoleName=world["role"], PolicyName="AWSRevokeOlderSessions")
        world["iam"].delete_role_policy(RoleName=world["role"], PolicyName="describe")
        try:
            world["iam"].delete_user_policy(UserName=world["user"], PolicyName="AWSRevokeOlderSessions")
        except ClientError:
            pass


def test_token_issue_time_is_the_sessions_issue_time(server, world):
    """An Allow on `DateGreaterThan aws:TokenIssueTime` (a session newer than T) and
    `DateLessThan` (older than T) split sessions by when they were issued."""
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    after = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)
    iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    set_role_policy(world, "issued", describe(world, {
        "DateGreaterThan": {"aws:TokenIssueTime": iso(before)},
        "DateLessThan": {"aws:TokenIssueTime": iso(after)}}))
    try:
        sm = client(server, "secretsmanager", assume(server, world))
        assert sm.describe_secret(SecretId=world["secret"])
        set_role_policy(world, "issued", describe(world, {
            "DateGreaterThan": {"aws:TokenIssueTime": iso(after)}}))
        assert denied(lambda: sm.describe_secret(SecretId=world["secret"])) == "AccessDeniedException"
    finally:
        world["iam"].delete_role_policy(RoleName=world["role"], PolicyName="issued")


def test_multi_factor_auth_present(server, world):
    """Sessions issued without MFA: aws:MultiFactorAuthPresent is "false". Access keys: the key
    is absent, so `Bool false` does not match them and only `BoolIfExists` does."""
    no_mfa = {"Effect": "Deny", "Action": "secretsmanager:DescribeSecret", "Resource": "*",
              "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}}}
    set_role_policy(world, "mfa", describe(world), no_mfa)
    set_user_policy(world, "mfa", describe(world), no_mfa)
    try:
        session = client(server, "secretsmanager", assume(server, world))
        assert denied(lambda: session.describe_secret(SecretId=world["secret"])) == \
            "AccessDeniedException"
        user_sm = client(server, "secretsmanager", world["key"])
        assert user_sm.describe_secret(SecretId=world["secret"])
        set_user_policy(world, "mfa", describe(world), dict(
            no_mfa, Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}))
        assert denied(lambda: user_sm.describe_secret(SecretId=world["secret"])) == \
            "AccessDeniedException"
        # A role allowed only with MFA: a session without it gets nothing.
        set_role_policy(world, "mfa", describe(world, {"Bool": {"aws:MultiFactorAuthPresent": "true"}}))
        assert denied(lambda: session.describe_secret(SecretId=world["secret"])) == \
            "AccessDeniedException"
    finally:
        world["iam"].delete_role_policy(RoleName=world["role"], PolicyName="mfa")
        world["iam"].delete_user_policy(UserName=world["user"], PolicyName="mfa")


@pytest.mark.parametrize("key,user_value,role_value", [
    ("aws:PrincipalType", "User", "AssumedRole"),
    ("aws:userid", "{user_id}", "{role_id}:ck-session"),
    ("aws:PrincipalAccount", ACCOUNT, ACCOUNT),
])
def test_principal_keys(server, world, key, user_value, role_value):
    """Each principal's own value allows; another principal's value does not."""
    fill = lambda v: v.format(**world)  # noqa: E731
    user_sm = client(server, "secretsmanager", world["key"])
    role_sm = client(server, "secretsmanager", assume(server, world))
    try:
        set_user_policy(world, "who", describe(world, {"StringEquals": {key: fill(user_value)}}))
        set_role_policy(world, "who", describe(world, {"StringEquals": {key: fill(role_value)}}))
        assert user_sm.describe_secret(SecretId=world["secret"])
        assert role_sm.describe_secret(SecretId=world["secret"])
        if user_value == role_value:
            other = "210987654321"
            set_user_policy(world, "who", describe(world, {"StringEquals": {key: other}}))
            set_role_policy(world, "who", describe(world, {"StringEquals": {key: other}}))
        else:
            set_user_policy(world, "who", describe(world, {"StringEquals": {key: fill(role_value)}}))
            set_role_policy(world, "who", describe(world, {"StringEquals": {key: fill(user_value)}}))
        assert denied(lambda: user_sm.describe_secret(SecretId=world["secret"])) == \
            "AccessDeniedException"
        assert denied(lambda: role_sm.describe_secret(SecretId=world["secret"])) == \
            "AccessDeniedException"
    finally:
        world["iam"].delete_user_policy(UserName=world["user"], PolicyName="who")
        world["iam"].delete_role_policy(RoleName=world["role"], PolicyName="who")


def test_root_user_id_is_the_account(server):
    env = server.env()
    ident = boto3.client("sts", endpoint_url=server.endpoint, region_name=REGION,
                         aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                         aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"]).get_caller_identity()
    assert ident["UserId"] == ACCOUNT and ident["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"


def test_via_aws_service(server, world, sm):
    """kms:Decrypt allowed only `Bool aws:ViaAWSService true`: Secrets Manager's decryption
    for the caller passes, the caller's own kms:Decrypt call does not; and a Deny on
    `aws:ViaAWSService false` does not touch what the service does for the caller."""
    env = server.env()
    kms = boto3.client("kms", endpoint_url=server.endpoint, region_name=REGION,
                       aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                       aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    key = kms.create_key(Description="e2e via-aws-service")["KeyMetadata"]
    name = unique("ck-via")
    value = secret("via")
    arn = sm.create_secret(Name=name, SecretString=value, KmsKeyId=key["KeyId"])["ARN"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"via-aws-service")["CiphertextBlob"]
    read = {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": arn}
    via = {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key["Arn"],
           "Condition": {"Bool": {"aws:ViaAWSService": "true"}}}
    set_role_policy(world, "via", read, via)
    try:
        creds = assume(server, world)
        role_sm = client(server, "secretsmanager", creds)
        role_kms = client(server, "kms", creds)
        assert role_sm.get_secret_value(SecretId=arn)["SecretString"] == value
        assert denied(lambda: role_kms.decrypt(CiphertextBlob=blob)) == "AccessDeniedException"
        # Direct calls only (what "aws:ViaAWSService": "false" denies).
        unconditional = {k: v for k, v in via.items() if k != "Condition"}
        set_role_policy(world, "via", read, unconditional,
                        {"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*",
                         "Condition": {"Bool": {"aws:ViaAWSService": "false"}}})
        assert role_sm.get_secret_value(SecretId=arn)["SecretString"] == value
        assert denied(lambda: role_kms.decrypt(CiphertextBlob=blob)) == "AccessDeniedException"
    finally:
        world["iam"].delete_role_policy(RoleName=world["role"], PolicyName="via")
