"""`strongroom render`: CloudFormation's dynamic references resolved in any text (issue 10 §1).

The binary is an AWS client of the server: it is given only the standard AWS environment
(credentials, region, AWS_ENDPOINT_URL or a profile in a temporary ~/.aws), never the data dir."""
import json
import os
import stat
import subprocess
import uuid

import boto3
import pytest
from botocore.config import Config

from conftest import MARKER, remember, secret
from server import ACCESS_KEY, REGION, SECRET_KEY

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})
BIN = os.environ.get("STRONGROOM_BIN", "target/debug/strongroom")
TAG = uuid.uuid4().hex[:6]


def env_for(server, access_key=ACCESS_KEY, secret_key=SECRET_KEY, **extra):
    env = server.env(access_key=access_key, secret_key=secret_key)
    env["AWS_ENDPOINT_URL"] = server.endpoint
    env.update(extra)
    return env


def render(server, template, *args, env=None, cwd=None):
    p = subprocess.run([BIN, "render", *args, "-"], input=template, env=env or env_for(server),
                       capture_output=True, text=True, timeout=60, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def client(server, service, access_key=ACCESS_KEY, secret_key=SECRET_KEY):
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION, config=NO_RETRY,
                        aws_access_key_id=access_key, aws_secret_access_key=secret_key)


@pytest.fixture(scope="module")
def data(server):
    sm = client(server, "secretsmanager")
    ssm = client(server, "ssm")
    v1 = {"username": "app", "password": secret("render-pw1"), "port": 5432}
    v2 = {"username": "app", "password": secret("render-pw2"), "port": 5432}
    name = f"render-{TAG}-db"  # not "-XXXXXX" at the end: that would look like a full ARN
    created = sm.create_secret(Name=name, SecretString=json.dumps(v1))
    first_version = created["VersionId"]
    sm.put_secret_value(SecretId=name, SecretString=json.dumps(v2))
    plain = f"render-{TAG}-plain"
    plain_value = secret("render-plain")
    sm.create_secret(Name=plain, SecretString=plain_value)
    ssm.put_parameter(Name=f"/app/dev/{TAG}/host", Value="db.dev.internal", Type="String")
    ssm.put_parameter(Name=f"/app/dev/{TAG}/host", Value="db2.dev.internal", Type="String", Overwrite=True)
    dev_pw = secret("render-dev-pw")
    prod_pw = secret("render-prod-pw")
    ssm.put_parameter(Name=f"/app/dev/{TAG}/password", Value=dev_pw, Type="SecureString")
    ssm.put_parameter(Name=f"/app/prod/{TAG}/password", Value=prod_pw, Type="SecureString")
    return {"name": name, "arn": created["ARN"], "v1": v1, "v2": v2, "first_version": first_version,
            "plain": plain, "plain_value": plain_value, "dev_pw": dev_pw, "prod_pw": prod_pw}


def test_every_reference_form(server, data, tmp_path):
    n, arn, t = data["name"], data["arn"], TAG
    partial = arn[:-7]
    template = "\n".join([
        f"whole: {{{{resolve:secretsmanager:{data['plain']}}}}}",
        f"user: {{{{resolve:secretsmanager:{n}:SecretString:username}}}}",
        f"pw: {{{{resolve:secretsmanager:{n}::password}}}}",
        f"port: {{{{resolve:secretsmanager:{n}:SecretString:port}}}}",
        f"previous: {{{{resolve:secretsmanager:{n}:SecretString:password:AWSPREVIOUS}}}}",
        f"by-id: {{{{resolve:secretsmanager:{n}:SecretString:password::{data['first_version']}}}}}",
        f"arn: {{{{resolve:secretsmanager:{arn}:SecretString:password}}}}",
        f"partial: {{{{resolve:secretsmanager:{partial}:SecretString:password}}}}",
        f"host: {{{{resolve:ssm:/app/dev/{t}/host}}}}",
        f"host-v1: {{{{resolve:ssm:/app/dev/{t}/host:1}}}}",
        f"secure: {{{{resolve:ssm-secure:/app/dev/{t}/password}}}}",
        f"reference: {{{{resolve:ssm-secure:/aws/reference/secretsmanager/{data['plain']}}}}}",
        "literal braces stay: {{ not a reference }}",
    ]) + "\n"
    out = tmp_path / "app.conf"
    code, stdout, stderr = render(server, template, "-o", str(out))
    assert code == 0, stderr
    assert stdout == ""
    assert out.read_text() == "\n".join([
        f"whole: {data['plain_value']}",
        "user: app",
        f"pw: {data['v2']['password']}",
        "port: 5432",
        f"previous: {data['v1']['password']}",
        f"by-id: {data['v1']['password']}",
        f"arn: {data['v2']['password']}",
        f"partial: {data['v2']['password']}",
        "host: db2.dev.internal",
        "host-v1: db.dev.internal",
        f"secure: {data['dev_pw']}",
        f"reference: {data['plain_value']}",
        "literal braces stay: {{ not a reference }}",
    ]) + "\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    # Standard output when no -o.
    code, stdout, _ = render(server, f"x={{{{resolve:secretsmanager:{n}::username}}}}")
    assert (code, stdout) == (0, "x=app")


BAD = {
    "missing secret": (lambda d: f"{{{{resolve:secretsmanager:render-missing-{TAG}}}}}", "ResourceNotFoundException"),
    "missing key": (lambda d: f"{{{{resolve:secretsmanager:{d['name']}::nokey}}}}", "has no key 'nokey'"),
    "not json": (lambda d: f"{{{{resolve:secretsmanager:{d['plain']}::k}}}}", "not a JSON object"),
    "ssm on a SecureString": (lambda d: f"{{{{resolve:ssm:/app/dev/{TAG}/password}}}}", "is a SecureString"),
    "ssm-secure on a String": (lambda d: f"{{{{resolve:ssm-secure:/app/dev/{TAG}/host}}}}", "is not a SecureString"),
    "missing parameter": (lambda d: f"{{{{resolve:ssm:/app/dev/{TAG}/nothing}}}}", "ParameterNotFound"),
    "missing version": (lambda d: f"{{{{resolve:ssm:/app/dev/{TAG}/host:9}}}}", "ParameterNotFound"),
    "stage and id": (lambda d: f"{{{{resolve:secretsmanager:{d['name']}:SecretString:k:AWSCURRENT:v1}}}}", "not both"),
    "unknown service": (lambda d: "{{resolve:s3:bucket}}", "unknown service"),
    "unclosed": (lambda d: "{{resolve:ssm:/app/x", "no closing"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_one_bad_reference_fails_the_whole_render_and_writes_nothing(server, data, tmp_path, case):
    make, why = BAD[case]
    template = f"good: {{{{resolve:secretsmanager:{data['name']}::password}}}}\n  bad: {make(data)}\n"
    out = tmp_path / "out.conf"
    out.write_text("previous content\n")
    code, stdout, stderr = render(server, template, "-o", str(out))
    assert code == 1, stderr
    assert out.read_text() == "previous content\n", "a failed render changed the output file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.conf"], "a temporary file was left"
    assert "-:2:8:" in stderr, stderr
    assert why in stderr, stderr
    assert "nothing was written" in stderr
    for value in (data["v2"]["password"], data["plain_value"], data["dev_pw"], MARKER):
        assert value not in stderr + stdout


def test_check_lists_every_reference_and_prints_no_value(server, data):
    template = (f"{{{{resolve:secretsmanager:{data['name']}::password}}}} "
                f"{{{{resolve:secretsmanager:render-none-{TAG}}}}}")
    code, stdout, stderr = render(server, template, "--check")
    assert code == 1
    lines = stdout.strip().splitlines()
    assert len(lines) == 2, stdout
    assert lines[0].endswith(": ok") and lines[0].startswith("-:1:1:")
    assert "FAILED" in lines[1] and "ResourceNotFoundException" in lines[1]
    assert data["v2"]["password"] not in stdout + stderr


@pytest.fixture(scope="module")
def dev_user(server, data):
    iam = client(server, "iam")
    user = f"render-dev-{TAG}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="dev-only", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["ssm:GetParameter", "ssm:GetParameters"],
             "Resource": f"arn:aws:ssm:{REGION}:*:parameter/app/dev/*"},
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"},
            {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue"],
             "Resource": "*", "Condition": {"StringLike": {"secretsmanager:ResourceTag/env": "dev"}}}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    remember(key["SecretAccessKey"])
    return user, key


def test_a_principal_allowed_only_app_dev_cannot_render_app_prod(server, data, dev_user):
    _, key = dev_user
    env = env_for(server, key["AccessKeyId"], key["SecretAccessKey"])
    ok = f"pw={{{{resolve:ssm-secure:/app/dev/{TAG}/password}}}}"
    code, stdout, stderr = render(server, ok, env=env)
    assert (code, stdout) == (0, f"pw={data['dev_pw']}"), stderr
    both = ok + f"\nprod={{{{resolve:ssm-secure:/app/prod/{TAG}/password}}}}"
    code, stdout, stderr = render(server, both, env=env)
    assert code == 1 and stdout == ""
    assert "-:2:6:" in stderr and "AccessDenied" in stderr, stderr
    assert data["prod_pw"] not in stderr and data["dev_pw"] not in stderr


def test_round_trips_are_batched(server, data, tmp_path):
    """25 distinct current secrets and 12 parameters, each referenced twice: 2 BatchGetSecretValue
    calls and 2 GetParameters calls, counted in the caller's CloudTrail records."""
    sm = client(server, "secretsmanager")
    ssm = client(server, "ssm")
    iam = client(server, "iam")
    user = f"render-batch-{TAG}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
            "secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue",
            "ssm:GetParameters", "ssm:GetParameter"], "Resource": "*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    names = [f"render-batch-{TAG}-{i}" for i in range(25)]
    for i, name in enumerate(names):
        sm.create_secret(Name=name, SecretString=json.dumps({"k": secret(f"batch-{i}")}))
    for i in range(12):
        ssm.put_parameter(Name=f"/render/{TAG}/p{i}", Value=f"value-{i}", Type="String")
    refs = [f"{{{{resolve:secretsmanager:{n}::k}}}}" for n in names]
    refs += [f"{{{{resolve:ssm:/render/{TAG}/p{i}}}}}" for i in range(12)]
    template = "\n".join(refs + refs) + "\n"
    code, stdout, stderr = render(server, template, env=env_for(server, key["AccessKeyId"], key["SecretAccessKey"]))
    assert code == 0, stderr
    assert stdout.count("\n") == 74
    ct = client(server, "cloudtrail")
    events = []
    for page in ct.get_paginator("lookup_events").paginate(
            LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": user}]):
        events += [e["EventName"] for e in page["Events"]]
    assert sorted(events) == sorted(["BatchGetSecretValue"] * 2 + ["GetParameters"] * 2), events


def test_through_profiles_in_a_temporary_aws_config(server, data, tmp_path):
    """~/.aws/credentials holds a user's keys; a profile assumes a role with role_arn +
    source_profile, exactly as the AWS CLI reads them."""
    iam = client(server, "iam")
    user = f"render-profile-{TAG}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    remember(key["SecretAccessKey"])
    role = f"render-reader-{TAG}"
    account = client(server, "sts").get_caller_identity()["Account"]
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": f"arn:aws:iam::{account}:user/{user}"}}]}))
    iam.put_role_policy(RoleName=role, PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
            "secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue"], "Resource": "*"}]}))
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text(
        f"[app-user]\naws_access_key_id = {key['AccessKeyId']}\naws_secret_access_key = {key['SecretAccessKey']}\n")
    (home / ".aws" / "config").write_text(
        f"[profile app-user]\nregion = {REGION}\nendpoint_url = {server.endpoint}\n\n"
        f"[profile reader]\nrole_arn = arn:aws:iam::{account}:role/{role}\nsource_profile = app-user\n"
        f"region = {REGION}\nendpoint_url = {server.endpoint}\n")
    env = {k: v for k, v in server.env().items() if not k.startswith("AWS_")}
    env.update(HOME=str(home), AWS_PROFILE="reader", AWS_EC2_METADATA_DISABLED="true")
    template = f"pw={{{{resolve:secretsmanager:{data['name']}::password}}}}"
    code, stdout, stderr = render(server, template, env=env)
    assert (code, stdout) == (0, f"pw={data['v2']['password']}"), stderr
    # The user itself may read nothing: the value came through the role.
    env["AWS_PROFILE"] = "app-user"
    code, stdout, stderr = render(server, template, env=env)
    assert code == 1 and "AccessDenied" in stderr, stderr
    # The per-service endpoint variable wins over a wrong global one.
    env.update(AWS_PROFILE="reader", AWS_ENDPOINT_URL="http://127.0.0.1:9",
               AWS_ENDPOINT_URL_SECRETS_MANAGER=server.endpoint, AWS_ENDPOINT_URL_STS=server.endpoint)
    code, stdout, stderr = render(server, template, env=env)
    assert (code, stdout) == (0, f"pw={data['v2']['password']}"), stderr
