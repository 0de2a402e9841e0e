"""The policy language on live requests (boto3): policy variables, NotAction, NotResource,
conditions on resource tags, request tags and tag keys, and on the caller's source IP — each
shown both granting and refusing, so none can pass by accident."""
import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import secret, unique
from server import ACCESS_KEY, SECRET_KEY

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret"
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def client(server, service, key=None):
    key = key or {"AccessKeyId": ACCESS_KEY, "SecretAccessKey": SECRET_KEY}
    kw = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1",
                        config=NO_RETRY, **kw)


def user_with(server, name, statements):
    """An IAM user whose only permissions are `statements`; returns its SM client."""
    iam = client(server, "iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": statements}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return client(server, "secretsmanager", key)


def denied(call):
    with pytest.raises(ClientError) as e:
        call()
    assert e.value.response["Error"]["Code"] == "AccessDeniedException", e.value.response
    return e.value.response["Error"]["Message"]


def test_policy_variables_scope_a_user_to_its_home(server, sm):
    alice = unique("alice")
    bob = unique("bob")
    for owner in (alice, bob):
        sm.create_secret(Name=f"home/{owner}/db", SecretString=secret(f"home-{owner}"))
    mine = user_with(server, alice, [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                                      "Resource": f"{ARN}:home/${{aws:username}}/*"}])
    assert mine.get_secret_value(SecretId=f"home/{alice}/db")["SecretString"].startswith("E2E")
    msg = denied(lambda: mine.get_secret_value(SecretId=f"home/{bob}/db"))
    assert f"user/{alice}" in msg and "secretsmanager:GetSecretValue" in msg


def test_not_action_and_not_resource(server, sm):
    prod = unique("prod-api")
    dev = unique("dev-api")
    for n in (prod, dev):
        sm.create_secret(Name=n, SecretString=secret(n))
    c = user_with(server, unique("notuser"), [
        # Everything on every non-prod secret...
        {"Effect": "Allow", "Action": "secretsmanager:*", "NotResource": f"{ARN}:prod-*"},
        # ...but nothing beyond reading, anywhere.
        {"Effect": "Deny", "NotAction": ["secretsmanager:GetSecretValue",
                                         "secretsmanager:DescribeSecret"], "Resource": "*"},
    ])
    c.get_secret_value(SecretId=dev)
    c.describe_secret(SecretId=dev)
    assert "explicit deny" in denied(lambda: c.put_secret_value(SecretId=dev,
                                                               SecretString=secret("dev-put")))
    assert "no identity-based policy allows" in denied(lambda: c.get_secret_value(SecretId=prod))


def test_resource_tags_request_tags_and_tag_keys(server, sm):
    blue = unique("tagged-blue")
    red = unique("tagged-red")
    sm.create_secret(Name=blue, SecretString=secret(blue), Tags=[{"Key": "team", "Value": "blue"}])
    sm.create_secret(Name=red, SecretString=secret(red), Tags=[{"Key": "team", "Value": "red"}])
    c = user_with(server, unique("taguser"), [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
         "Condition": {"StringEquals": {"secretsmanager:ResourceTag/team": "blue"}}},
        {"Effect": "Allow", "Action": "secretsmanager:CreateSecret", "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestTag/team": "blue"},
                       "ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}},
    ])
    c.get_secret_value(SecretId=blue)
    denied(lambda: c.get_secret_value(SecretId=red))
    made = unique("made-blue")
    c.create_secret(Name=made, SecretString=secret(made), Tags=[{"Key": "team", "Value": "blue"}])
    # Wrong tag value, no tag, or an extra tag key: refused, and nothing is created.
    for tags in ([{"Key": "team", "Value": "red"}], [],
                 [{"Key": "team", "Value": "blue"}, {"Key": "owner", "Value": "x"}]):
        name = unique("made-refused")
        denied(lambda: c.create_secret(Name=name, SecretString=secret(name), Tags=tags))
        with pytest.raises(ClientError) as e:
            sm.describe_secret(SecretId=name)
        assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_source_ip_conditions_see_the_callers_address(server, sm):
    name = unique("ip-secret")
    sm.create_secret(Name=name, SecretString=secret(name))
    c = user_with(server, unique("ipuser"), [
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue",
                                       "secretsmanager:DescribeSecret"], "Resource": "*",
         "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}},
        {"Effect": "Deny", "Action": "secretsmanager:DescribeSecret", "Resource": "*",
         "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.1/32"}}},
        {"Effect": "Allow", "Action": "secretsmanager:ListSecretVersionIds", "Resource": "*",
         "Condition": {"NotIpAddress": {"aws:SourceIp": "127.0.0.0/8"}}},
    ])
    c.get_secret_value(SecretId=name)  # from 127.0.0.1: inside 127.0.0.0/8
    assert "explicit deny" in denied(lambda: c.describe_secret(SecretId=name))
    denied(lambda: c.list_secret_version_ids(SecretId=name))
