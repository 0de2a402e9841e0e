"""Seed 003's Task Execution Role, assumed through STS: the session reads
auth-service-prod-config and is denied payment-service-prod-config."""
import json

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import MARKER, aws

TASK_EXECUTION_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue", "kms:Decrypt"],
        "Resource": ["arn:aws:secretsmanager:us-east-1:123456789012:secret:auth-service-prod-*"],
    }],
}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:user/deployer"},
                   "Action": "sts:AssumeRole"}],
}
ROLE_ARN = "arn:aws:iam::123456789012:role/ecs-task-execution"


def client(server, service, creds):
    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds.get("SessionToken"))


@pytest.fixture(scope="module")
def deployer(server, sm):
    for name in ("auth-service-prod-sts", "payment-service-prod-sts"):
        sm.create_secret(Name=name, SecretString=f"{MARKER}-{name}")
    aws(server, "iam", "create-role", "--role-name", "ecs-task-execution",
        "--assume-role-policy-document", json.dumps(TRUST), "--max-session-duration", "7200")
    aws(server, "iam", "put-role-policy", "--role-name", "ecs-task-execution",
        "--policy-name", "TaskExecution", "--policy-document", json.dumps(TASK_EXECUTION_POLICY))
    aws(server, "iam", "create-user", "--user-name", "deployer")
    _, out, _ = aws(server, "iam", "create-access-key", "--user-name", "deployer")
    return json.loads(out)["AccessKey"]


def assume(server, creds, **extra):
    sts = client(server, "sts", creds)
    return sts.assume_role(RoleArn=ROLE_ARN, RoleSessionName="task-1", **extra)


def test_assumed_role_reads_only_what_the_task_policy_allows(server, deployer):
    r = assume(server, deployer)
    creds = r["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert r["AssumedRoleUser"]["Arn"] == "arn:aws:sts::123456789012:assumed-role/ecs-task-execution/task-1"
    task = client(server, "secretsmanager", creds)
    assert task.get_secret_value(SecretId="auth-service-prod-sts")["SecretString"].endswith("auth-service-prod-sts")
    with pytest.raises(ClientError) as e:
        task.get_secret_value(SecretId="payment-service-prod-sts")
    err = e.value.response["Error"]
    assert err["Code"] == "AccessDeniedException"
    assert err["Message"].startswith(
        "User: arn:aws:sts::123456789012:assumed-role/ecs-task-execution/task-1 is not authorized to perform: "
        "secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:us-east-1:123456789012:secret:payment-service-prod-sts-")
    ident = client(server, "sts", creds).get_caller_identity()
    assert ident["Arn"] == "arn:aws:sts::123456789012:assumed-role/ecs-task-execution/task-1"
    # The user itself has no permissions: only the role grants.
    with pytest.raises(ClientError):
        client(server, "secretsmanager", deployer).get_secret_value(SecretId="auth-service-prod-sts")


def test_cli_assume_role(server, deployer):
    env = server.env()
    env["AWS_ACCESS_KEY_ID"] = deployer["AccessKeyId"]
    env["AWS_SECRET_ACCESS_KEY"] = deployer["SecretAccessKey"]
    import subprocess
    p = subprocess.run(["aws", "--endpoint-url", server.endpoint, "--output", "json", "sts", "assume-role",
                        "--role-arn", ROLE_ARN, "--role-session-name", "cli", "--duration-seconds", "900"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    creds = json.loads(p.stdout)["Credentials"]
    env.update(AWS_ACCESS_KEY_ID=creds["AccessKeyId"], AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"],
               AWS_SESSION_TOKEN=creds["SessionToken"])
    p = subprocess.run(["aws", "--endpoint-url", server.endpoint, "--output", "json", "secretsmanager",
                        "get-secret-value", "--secret-id", "auth-service-prod-sts"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


def test_session_policy_narrows(server, deployer):
    narrow = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:DescribeSecret", "Resource": "*"}]}
    creds = assume(server, deployer, Policy=json.dumps(narrow))["Credentials"]
    with pytest.raises(ClientError) as e:
        client(server, "secretsmanager", creds).get_secret_value(SecretId="auth-service-prod-sts")
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "session policy" in e.value.response["Error"]["Message"]


def test_refusals(server, sm, deployer):
    creds = assume(server, deployer)["Credentials"]
    forged = dict(creds, SessionToken=creds["SessionToken"][:-4] + "AAAA")
    with pytest.raises(ClientError) as e:
        client(server, "secretsmanager", forged).get_secret_value(SecretId="auth-service-prod-sts")
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
    # A token presented with another access key id is refused.
    swapped = dict(creds, AccessKeyId="ASIA" + "A" * 16)
    with pytest.raises(ClientError) as e:
        client(server, "secretsmanager", swapped).get_secret_value(SecretId="auth-service-prod-sts")
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
    with pytest.raises(ClientError) as e:
        assume(server, deployer, DurationSeconds=7201)
    assert e.value.response["Error"]["Code"] == "ValidationError"
    # Not named by the trust policy.
    aws(server, "iam", "create-user", "--user-name", "stranger")
    _, out, _ = aws(server, "iam", "create-access-key", "--user-name", "stranger")
    with pytest.raises(ClientError) as e:
        assume(server, json.loads(out)["AccessKey"])
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    # Root may not assume roles.
    root = {"AccessKeyId": server.env()["AWS_ACCESS_KEY_ID"], "SecretAccessKey": server.env()["AWS_SECRET_ACCESS_KEY"]}
    with pytest.raises(ClientError) as e:
        assume(server, root)
    assert e.value.response["Error"]["Message"] == "Roles may not be assumed by root accounts."
    code, _, err = aws(server, "iam", "create-role", "--role-name", "bad-trust",
                       "--assume-role-policy-document", json.dumps({"Version": "2012-10-17", "Statement": [
                           {"Effect": "Allow", "Action": "sts:AssumeRole"}]}), check=False)
    assert code != 0 and "MalformedPolicyDocument" in err and "Principal" in err


def test_session_tags_become_principal_tags(server, sm, deployer):
    """AssumeRole with Tags: the trust policy must allow sts:TagSession, and the role's
    policy can then scope access with ${aws:PrincipalTag/team}."""
    for name in ("payments-tagged-db", "auth-tagged-db"):
        sm.create_secret(Name=name, SecretString=f"{MARKER}-{name}")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:user/deployer"},
        "Action": ["sts:AssumeRole", "sts:TagSession"]}]}
    aws(server, "iam", "create-role", "--role-name", "team-reader",
        "--assume-role-policy-document", json.dumps(trust))
    aws(server, "iam", "put-role-policy", "--role-name", "team-reader", "--policy-name", "ByTeam",
        "--policy-document", json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
            "Resource": "arn:aws:secretsmanager:us-east-1:123456789012:secret:${aws:PrincipalTag/team}-*"}]}))
    sts = client(server, "sts", deployer)
    arn = "arn:aws:iam::123456789012:role/team-reader"
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="tagged",
                            Tags=[{"Key": "team", "Value": "payments"}])["Credentials"]
    s = client(server, "secretsmanager", creds)
    assert s.get_secret_value(SecretId="payments-tagged-db")["SecretString"].endswith("payments-tagged-db")
    with pytest.raises(ClientError) as e:
        s.get_secret_value(SecretId="auth-tagged-db")
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    # Without a tag the variable resolves to nothing and nothing matches.
    untagged = client(server, "secretsmanager", sts.assume_role(
        RoleArn=arn, RoleSessionName="untagged")["Credentials"])
    with pytest.raises(ClientError):
        untagged.get_secret_value(SecretId="payments-tagged-db")
    # Duplicate keys (case-insensitively) are refused.
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=arn, RoleSessionName="dup",
                        Tags=[{"Key": "team", "Value": "a"}, {"Key": "TEAM", "Value": "b"}])
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_session_tags_need_tag_session_in_the_trust_policy(server, deployer):
    # ecs-task-execution's trust policy allows sts:AssumeRole only.
    with pytest.raises(ClientError) as e:
        assume(server, deployer, Tags=[{"Key": "team", "Value": "payments"}])
    err = e.value.response["Error"]
    assert err["Code"] == "AccessDenied"
    assert "sts:TagSession" in err["Message"]
    assert assume(server, deployer)["Credentials"]["AccessKeyId"].startswith("ASIA")
