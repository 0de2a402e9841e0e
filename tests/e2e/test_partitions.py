"""Partitions follow the region (issue 14 §1): a deployment serving the China regions answers
the AWS CLI and boto3 with `arn:aws-cn:` ARNs — secrets, IAM, STS, KMS, SSM, CloudTrail — and
matches policies written for aws-cn, not for `aws`, as AWS China does; GovCloud's is
`aws-us-gov`. Regions of two partitions are refused at start: IAM is per partition."""
import json
import subprocess

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import secret, unique
from server import ACCESS_KEY, ACCOUNT, SECRET_KEY, Server, binary, client_env

ONCE = Config(retries={"total_max_attempts": 1, "mode": "standard"})
BJS, ZHY = "cn-north-1", "cn-northwest-1"


def client(server, service, region, key=ACCESS_KEY, secret_key=SECRET_KEY):
    return boto3.client(service, endpoint_url=server.endpoint, region_name=region,
                        aws_access_key_id=key, aws_secret_access_key=secret_key, config=ONCE)


def cli(server, region, *args):
    p = subprocess.run(["aws", "--endpoint-url", server.endpoint, "--region", region,
                        "--output", "json", *args],
                       env=client_env(server.endpoint), capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout) if p.stdout.strip() else None


def code(e):
    return e.value.response["Error"]["Code"]


def test_china_regions_answer_and_match_aws_cn_arns():
    s = Server(name="partition-cn", extra_args=["--regions", f"{BJS},{ZHY}"])
    try:
        name, value = unique("cn"), secret("partition-cn")
        sm = client(s, "secretsmanager", BJS)
        arn = sm.create_secret(Name=name, SecretString=value)["ARN"]
        assert arn.startswith(f"arn:aws-cn:secretsmanager:{BJS}:{ACCOUNT}:secret:{name}-"), arn
        described = cli(s, BJS, "secretsmanager", "describe-secret", "--secret-id", arn)
        assert described["ARN"] == arn
        # The ARN of the `aws` partition names nothing in China.
        with pytest.raises(ClientError) as e:
            sm.describe_secret(SecretId=arn.replace("arn:aws-cn:", "arn:aws:", 1))
        assert code(e) == "ResourceNotFoundException"
        zhy = client(s, "secretsmanager", ZHY).create_secret(Name=name, SecretString="x")["ARN"]
        assert zhy.startswith(f"arn:aws-cn:secretsmanager:{ZHY}:{ACCOUNT}:secret:{name}-"), zhy

        # STS and IAM: global, in the partition of the home region.
        me = cli(s, ZHY, "sts", "get-caller-identity")
        assert me["Arn"] == f"arn:aws-cn:iam::{ACCOUNT}:root", me
        user = unique("cn-user")
        created = cli(s, BJS, "iam", "create-user", "--user-name", user)["User"]
        assert created["Arn"] == f"arn:aws-cn:iam::{ACCOUNT}:user/{user}", created
        iam = client(s, "iam", BJS)
        k = iam.create_access_key(UserName=user)["AccessKey"]
        as_user = lambda service: client(s, service, BJS, k["AccessKeyId"],  # noqa: E731
                                         k["SecretAccessKey"])
        assert as_user("sts").get_caller_identity()["Arn"] == created["Arn"]

        # A policy on arn:aws-cn resources allows the user; one on arn:aws resources does not.
        def allow(partition):
            return json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                "Resource": f"arn:{partition}:secretsmanager:{BJS}:{ACCOUNT}:secret:{name}-*"}]})
        iam.put_user_policy(UserName=user, PolicyName="aws", PolicyDocument=allow("aws"))
        with pytest.raises(ClientError) as e:
            as_user("secretsmanager").get_secret_value(SecretId=name)
        assert code(e) == "AccessDeniedException"
        iam.put_user_policy(UserName=user, PolicyName="aws-cn", PolicyDocument=allow("aws-cn"))
        assert as_user("secretsmanager").get_secret_value(SecretId=arn)["SecretString"] == value

        # KMS: key ARNs, and a key found by its aws-cn ARN only.
        key = cli(s, BJS, "kms", "create-key")["KeyMetadata"]
        assert key["Arn"] == f"arn:aws-cn:kms:{BJS}:{ACCOUNT}:key/{key['KeyId']}", key
        assert cli(s, BJS, "kms", "describe-key", "--key-id", key["Arn"])["KeyMetadata"]["KeyId"] \
            == key["KeyId"]
        with pytest.raises(ClientError) as e:
            client(s, "kms", BJS).describe_key(KeyId=key["Arn"].replace("arn:aws-cn:", "arn:aws:"))
        assert code(e) == "NotFoundException"

        # SSM: parameter ARNs in DescribeParameters and GetParameter, GetParameters by ARN.
        param = f"/{unique('cn')}/url"
        cli(s, BJS, "ssm", "put-parameter", "--name", param, "--value", "cn-endpoint",
            "--type", "String")
        param_arn = f"arn:aws-cn:ssm:{BJS}:{ACCOUNT}:parameter{param}"
        assert cli(s, BJS, "ssm", "get-parameter", "--name", param)["Parameter"]["ARN"] == param_arn
        listed = cli(s, BJS, "ssm", "describe-parameters", "--parameter-filters",
                     f"Key=Name,Values={param}")["Parameters"]
        assert [p["ARN"] for p in listed] == [param_arn]
        aws_arn = param_arn.replace("arn:aws-cn:", "arn:aws:")
        got = client(s, "ssm", BJS).get_parameters(Names=[param_arn, aws_arn])
        assert [p["Value"] for p in got["Parameters"]] == ["cn-endpoint"]
        assert got["InvalidParameters"] == [aws_arn]

        # CloudTrail: the caller and the secret by their aws-cn ARNs.
        events = client(s, "cloudtrail", BJS).lookup_events(LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": "CreateSecret"}])["Events"]
        records = [json.loads(e["CloudTrailEvent"]) for e in events]
        mine = [r for r in records if r["requestParameters"]["name"] == name]
        assert len(mine) == 1, records
        assert mine[0]["userIdentity"]["arn"] == f"arn:aws-cn:iam::{ACCOUNT}:root"
        assert mine[0]["awsRegion"] == BJS
        assert arn in [r["ResourceName"] for e in events for r in e.get("Resources", [])]
    finally:
        assert s.stop() == 0


def test_govcloud_answers_aws_us_gov_arns():
    s = Server(name="partition-gov", extra_args=["--region", "us-gov-west-1"])
    try:
        name = unique("gov")
        arn = client(s, "secretsmanager", "us-gov-west-1").create_secret(
            Name=name, SecretString=secret("partition-gov"))["ARN"]
        assert arn.startswith(
            f"arn:aws-us-gov:secretsmanager:us-gov-west-1:{ACCOUNT}:secret:{name}-"), arn
        me = cli(s, "us-gov-west-1", "sts", "get-caller-identity")
        assert me["Arn"] == f"arn:aws-us-gov:iam::{ACCOUNT}:root", me
        user = unique("gov-user")
        created = cli(s, "us-gov-west-1", "iam", "create-user", "--user-name", user)["User"]
        assert created["Arn"] == f"arn:aws-us-gov:iam::{ACCOUNT}:user/{user}", created
    finally:
        assert s.stop() == 0


def test_regions_of_two_partitions_are_refused_at_start():
    p = subprocess.run([binary(), "server", "--dev", "--regions", "us-east-1,cn-north-1"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0, p.stderr
    assert "cn-north-1 is in partition aws-cn" in p.stderr, p.stderr
    assert "one partition" in p.stderr, p.stderr
