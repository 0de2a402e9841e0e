"""Resource policies on secrets: cross-principal grants, explicit deny, BlockPublicPolicy,
ValidateResourcePolicy's least-privilege findings (seed 002)."""
import json

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import MARKER, aws


def user_client(server, name, identity_policy=None):
    aws(server, "iam", "create-user", "--user-name", name)
    if identity_policy:
        aws(server, "iam", "put-user-policy", "--user-name", name, "--policy-name", "p",
            "--policy-document", json.dumps(identity_policy))
    _, out, _ = aws(server, "iam", "create-access-key", "--user-name", name)
    k = json.loads(out)["AccessKey"]
    return boto3.client("secretsmanager", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id=k["AccessKeyId"], aws_secret_access_key=k["SecretAccessKey"])


def grant(principal_arn, effect="Allow", action="secretsmanager:GetSecretValue"):
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": effect, "Principal": {"AWS": principal_arn}, "Action": action, "Resource": "*"}]})


def test_resource_policy_grants_and_revokes(server, sm):
    sm.create_secret(Name="rp-shared", SecretString=f"{MARKER}-shared")
    sm.create_secret(Name="rp-other", SecretString=f"{MARKER}-other")
    reader = user_client(server, "rp-reader")
    with pytest.raises(ClientError):
        reader.get_secret_value(SecretId="rp-shared")
    sm.put_resource_policy(SecretId="rp-shared", ResourcePolicy=grant("arn:aws:iam::123456789012:user/rp-reader"),
                           BlockPublicPolicy=True)
    assert reader.get_secret_value(SecretId="rp-shared")["SecretString"] == f"{MARKER}-shared"
    with pytest.raises(ClientError):
        reader.get_secret_value(SecretId="rp-other")
    got = sm.get_resource_policy(SecretId="rp-shared")
    assert json.loads(got["ResourcePolicy"])["Statement"][0]["Principal"]["AWS"].endswith("user/rp-reader")
    sm.delete_resource_policy(SecretId="rp-shared")
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId="rp-shared")
    with pytest.raises(ClientError) as e:
        reader.get_secret_value(SecretId="rp-shared")
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"


def test_explicit_deny_in_resource_policy_beats_identity_allow(server, sm):
    sm.create_secret(Name="rp-guarded", SecretString=f"{MARKER}-guarded")
    allow_all = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}]}
    admin = user_client(server, "rp-admin", allow_all)
    assert admin.get_secret_value(SecretId="rp-guarded")["SecretString"] == f"{MARKER}-guarded"
    sm.put_resource_policy(SecretId="rp-guarded",
                           ResourcePolicy=grant("arn:aws:iam::123456789012:user/rp-admin", effect="Deny"))
    with pytest.raises(ClientError) as e:
        admin.get_secret_value(SecretId="rp-guarded")
    assert "explicit deny in a resource-based policy" in e.value.response["Error"]["Message"]


def test_block_public_policy_and_validation(server, sm):
    sm.create_secret(Name="rp-public", SecretString=f"{MARKER}-public")
    public = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": "secretsmanager:*",
         "Resource": "arn:aws:secretsmanager:*:*:secret:*"}]})
    with pytest.raises(ClientError) as e:
        sm.put_resource_policy(SecretId="rp-public", ResourcePolicy=public, BlockPublicPolicy=True)
    assert e.value.response["Error"]["Code"] == "PublicPolicyException"
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId="rp-public"), "refused policy not stored"

    r = sm.validate_resource_policy(SecretId="rp-public", ResourcePolicy=public)
    assert r["PolicyValidationPassed"] is False
    assert sorted(e["CheckName"] for e in r["ValidationErrors"]) == [
        "PUBLIC_ACCESS", "WILDCARD_ACTION", "WILDCARD_RESOURCE"]
    tight = grant("arn:aws:iam::123456789012:user/rp-reader")
    r = sm.validate_resource_policy(ResourcePolicy=tight)
    assert r["PolicyValidationPassed"] is True and r["ValidationErrors"] == []

    with pytest.raises(ClientError) as e:
        sm.put_resource_policy(SecretId="rp-public", ResourcePolicy='{"Statement":[{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}]}')
    assert e.value.response["Error"]["Code"] == "MalformedPolicyDocumentException"
    assert "Principal" in e.value.response["Error"]["Message"]
