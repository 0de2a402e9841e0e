"""Several regions in one deployment (`--regions`): each region has its own secrets,
parameters, KMS keys, alarms and event history; IAM is global; a request is served in the
region its signature names, and refused for a region not configured. A single-region data
directory becomes the home region unchanged, and backups carry every region."""
import json
import os
import subprocess
import tempfile

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import secret, unique
from server import ACCESS_KEY, ACCOUNT, SECRET_KEY, Server, binary, client_env, psql, work_dir

ONCE = Config(retries={"total_max_attempts": 1, "mode": "standard"})
HOME, WEST = "us-east-1", "us-west-2"


def client(server, service, region, key=ACCESS_KEY, secret_key=SECRET_KEY):
    return boto3.client(service, endpoint_url=server.endpoint, region_name=region,
                        aws_access_key_id=key, aws_secret_access_key=secret_key, config=ONCE)


def cli(server, region, *args, ok=True):
    p = subprocess.run(["aws", "--endpoint-url", server.endpoint, "--region", region,
                        "--output", "json", *args],
                       env=client_env(server.endpoint), capture_output=True, text=True,
                       timeout=60)
    if not ok:
        return p
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout) if p.stdout.strip() else None


def test_regions_are_separate_and_a_single_region_data_dir_becomes_the_home_region():
    name, param = unique("reg"), f"/{unique('reg')}/p"
    home_value, west_value = secret("region-home"), secret("region-west")
    s = Server(name="regions-single")
    try:
        sm = client(s, "secretsmanager", HOME)
        home_arn = sm.create_secret(Name=name, SecretString=home_value)["ARN"]
        client(s, "ssm", HOME).put_parameter(Name=param, Value="home", Type="String")
        home_key = client(s, "kms", HOME).create_key()["KeyMetadata"]["KeyId"]
        # One region configured: a request signed for another is refused as before.
        with pytest.raises(ClientError) as e:
            client(s, "secretsmanager", WEST).list_secrets()
        single_region_refusal = e.value.response["Error"]["Code"]
        assert s.stop() == 0

        s = Server(name="regions-two", data_dir=s.data_dir,
                   extra_args=["--regions", f"{HOME},{WEST}"])
        sm_home, sm_west = client(s, "secretsmanager", HOME), client(s, "secretsmanager", WEST)
        # The old data is the home region's, untouched.
        assert sm_home.get_secret_value(SecretId=name)["SecretString"] == home_value
        assert sm_home.describe_secret(SecretId=name)["ARN"] == home_arn
        # The new region starts empty, and the same name is free there.
        with pytest.raises(ClientError) as e:
            sm_west.get_secret_value(SecretId=name)
        assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
        west = sm_west.create_secret(Name=name, SecretString=west_value)
        assert west["ARN"].startswith(f"arn:aws:secretsmanager:{WEST}:{ACCOUNT}:secret:{name}-")
        assert sm_west.get_secret_value(SecretId=name)["SecretString"] == west_value
        assert sm_home.get_secret_value(SecretId=name)["SecretString"] == home_value
        # The home region's ARN names nothing in the other region.
        with pytest.raises(ClientError) as e:
            sm_west.describe_secret(SecretId=home_arn)
        assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
        assert [x["Name"] for x in sm_west.list_secrets()["SecretList"]] == [name]

        # KMS: keys and the managed aliases are per region.
        kms_home, kms_west = client(s, "kms", HOME), client(s, "kms", WEST)
        with pytest.raises(ClientError) as e:
            kms_west.describe_key(KeyId=home_key)
        assert e.value.response["Error"]["Code"] == "NotFoundException"
        west_key = kms_west.create_key()["KeyMetadata"]
        assert west_key["Arn"].startswith(f"arn:aws:kms:{WEST}:{ACCOUNT}:key/")
        managed = {r: k.describe_key(KeyId="alias/aws/secretsmanager")["KeyMetadata"]["KeyId"]
                   for r, k in ((HOME, kms_home), (WEST, kms_west))}
        assert managed[HOME] != managed[WEST]
        # A secret in the other region under a key of this one: the key is not found.
        with pytest.raises(ClientError) as e:
            sm_west.create_secret(Name=unique("reg-cmk"), SecretString="x", KmsKeyId=home_key)
        assert e.value.response["Error"]["Code"] in ("EncryptionFailure", "KMSInvalidStateException",
                                                     "ResourceNotFoundException"), e.value.response

        # Parameter Store, through the AWS CLI.
        missing = cli(s, WEST, "ssm", "get-parameter", "--name", param, ok=False)
        assert missing.returncode != 0 and "ParameterNotFound" in missing.stderr, missing.stderr
        cli(s, WEST, "ssm", "put-parameter", "--name", param, "--value", "west", "--type", "String")
        assert cli(s, WEST, "ssm", "get-parameter", "--name", param)["Parameter"]["Value"] == "west"
        assert cli(s, HOME, "ssm", "get-parameter", "--name", param)["Parameter"]["Value"] == "home"
        arn = cli(s, WEST, "ssm", "get-parameter", "--name", param)["Parameter"]["ARN"]
        assert arn == f"arn:aws:ssm:{WEST}:{ACCOUNT}:parameter{param}"

        # A region not configured is refused as it was with one region.
        with pytest.raises(ClientError) as e:
            client(s, "secretsmanager", "eu-west-1").list_secrets()
        assert e.value.response["Error"]["Code"] == single_region_refusal

        # IAM is global: a user made through us-east-1 reads in us-west-2 by its policy.
        iam = client(s, "iam", HOME)
        user = unique("reg-user")
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="read", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                           "Resource": f"arn:aws:secretsmanager:{WEST}:{ACCOUNT}:secret:*"}]}))
        k = iam.create_access_key(UserName=user)["AccessKey"]
        as_user = lambda region: client(s, "secretsmanager", region, k["AccessKeyId"],  # noqa: E731
                                        k["SecretAccessKey"])
        assert as_user(WEST).get_secret_value(SecretId=name)["SecretString"] == west_value
        with pytest.raises(ClientError) as e:
            as_user(HOME).get_secret_value(SecretId=name)
        assert e.value.response["Error"]["Code"] == "AccessDeniedException"

        # Event history is per region; each record names its region.
        def created(region):
            trail = client(s, "cloudtrail", region)
            events = trail.lookup_events(LookupAttributes=[
                {"AttributeKey": "EventName", "AttributeValue": "CreateSecret"}])["Events"]
            records = [json.loads(e["CloudTrailEvent"]) for e in events]
            assert all(r["awsRegion"] == region for r in records)
            return [r for r in records if "errorCode" not in r]
        west_records = created(WEST)
        assert [r["requestParameters"]["name"] for r in west_records] == [name]
        home_records = created(HOME)
        assert name in [r["requestParameters"]["name"] for r in home_records]

        if s.store:
            # PostgreSQL: each region is a schema of the server's database, the home region's
            # `strongroom` (backups are then PostgreSQL's: pg_dump, not `strongroom backup`),
            # beside the audit history's `strongroom_audit`.
            schemas = psql("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'strongroom%' "
                           "ORDER BY nspname", url=s.store).split()
            assert schemas == ["strongroom", "strongroom_audit", "strongroom_us_west_2"], schemas
            for schema, arn in (("strongroom", home_arn), ("strongroom_us_west_2", west["ARN"])):
                arns = psql(f"SELECT arn FROM {schema}.secrets", url=s.store).split()
                assert arn in arns and len(arns) == 1, (schema, arns)
            return

        # Backups carry every region; the copy serves both.
        dest = os.path.join(tempfile.mkdtemp(prefix="reg-bk-", dir=work_dir("data")), "copy")
        p = subprocess.run([binary(), "backup", "--data-dir", s.data_dir, "--to", dest,
                            "--include-keys"], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        assert f"regions/{WEST}/strongroom.db" in p.stdout
        assert s.stop() == 0

        s = Server(name="regions-restored", data_dir=dest,
                   extra_args=["--regions", f"{HOME},{WEST}"])
        assert client(s, "secretsmanager", WEST).get_secret_value(
            SecretId=name)["SecretString"] == west_value
        assert client(s, "secretsmanager", HOME).get_secret_value(
            SecretId=name)["SecretString"] == home_value
        assert client(s, "kms", WEST).describe_key(
            KeyId=west_key["KeyId"])["KeyMetadata"]["Arn"] == west_key["Arn"]
        verify = subprocess.run([binary(), "audit", "verify", "--data-dir", s.data_dir],
                                capture_output=True, text=True, timeout=120)
        assert verify.returncode == 0, verify.stdout + verify.stderr
    finally:
        if s.proc.poll() is None:
            s.stop()


def test_region_configuration_errors_are_refused_at_start():
    for args, message in [
        (["--regions", f"{HOME},{HOME}"], "listed twice"),
        (["--region", WEST, "--regions", f"{HOME},{WEST}"], "disagree"),
        (["--regions", "Not A Region"], "region must look like"),
    ]:
        p = subprocess.run([binary(), "server", "--dev", *args], capture_output=True, text=True,
                           timeout=30)
        assert p.returncode != 0 and message in p.stderr, (args, p.stderr)


def test_the_change_stream_shows_each_region_by_the_readers_permissions_there():
    """A reader allowed DescribeSecret on secrets tagged team=west (only us-west-2's is) sees
    that region's changes on GET /changes and not the home region's: each change is checked
    in the region its ARN names, where the secret and its tags are."""
    import requests
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    s = Server(name="regions-changes", extra_args=["--regions", f"{HOME},{WEST}"])
    try:
        iam = client(s, "iam", HOME)
        user = unique("reg-reader")
        iam.create_user(UserName=user)
        # By the secret's tag: only the region that holds the secret knows its tags.
        iam.put_user_policy(UserName=user, PolicyName="west", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "secretsmanager:DescribeSecret",
                           "Resource": "*", "Condition": {"StringEquals": {
                               "secretsmanager:ResourceTag/team": "west"}}}]}))
        k = iam.create_access_key(UserName=user)["AccessKey"]
        name = unique("reg-chg")
        sm_home, sm_west = client(s, "secretsmanager", HOME), client(s, "secretsmanager", WEST)
        sm_home.create_secret(Name=name, SecretString=secret("chg-home"))
        sm_west.create_secret(Name=name, SecretString=secret("chg-west"),
                              Tags=[{"Key": "team", "Value": "west"}])

        req = AWSRequest(method="GET", url=f"{s.endpoint}/changes",
                         headers={"Accept": "text/event-stream"})
        SigV4Auth(Credentials(k["AccessKeyId"], k["SecretAccessKey"]), "secretsmanager",
                  WEST).add_auth(req)
        stream = requests.get(req.url, headers=dict(req.headers), stream=True, timeout=10)
        assert stream.status_code == 200, stream.text
        sm_home.put_secret_value(SecretId=name, SecretString=secret("chg-home-2"))
        sm_west.put_secret_value(SecretId=name, SecretString=secret("chg-west-2"))
        seen = []
        for line in stream.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                change = json.loads(line[len("data:"):])
                if change.get("eventName") == "PutSecretValue":
                    seen.append(change["arn"])
                    break
        stream.close()
        assert len(seen) == 1 and f":{WEST}:" in seen[0], seen
    finally:
        assert s.stop() == 0
