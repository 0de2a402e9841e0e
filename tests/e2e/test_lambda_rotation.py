"""Rotation functions as AWS Lambda runs them (`python-handler`, `node-handler`): handlers
written in Lambda's programming model (tests/e2e/rotation/lambda/, as AWS's rotation
templates are written) rotate real passwords on the machine's MariaDB and PostgreSQL, started
by the AWS CLI's `rotate-secret`; a Node.js handler (AWS SDK v3) rotates a token; a handler
that raises, runs out its time or exits is a RotationFailed with the reason, and nothing the
function wrote reaches the audit record."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid

import boto3
import pymysql
import pytest
from botocore.config import Config

from conftest import secret
from server import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, Server, client_env

HERE = os.path.dirname(os.path.abspath(__file__))
FUNCTIONS = os.path.join(HERE, "rotation", "lambda")
NODE_MODULES = os.path.join(HERE, "node", "node_modules")
ROLE = "lambda-rotation"
ONCE = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def arn(name):
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def client(server, service):
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION,
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        config=ONCE)


@pytest.fixture(scope="module")
def server():
    d = tempfile.mkdtemp(prefix="strongroom-lambda-")
    log = os.path.join(d, "functions.log")
    role = f'role-arn = "arn:aws:iam::{ACCOUNT}:role/{ROLE}"\nlog-file = "{log}"\n'
    python = f'python = "{sys.executable}"\n'
    cfg = os.path.join(d, "strongroom.toml")
    with open(cfg, "w") as f:
        f.write(f'[[rotation-function]]\narn = "{arn("db-rotation")}"\n'
                f'python-handler = "{FUNCTIONS}:lambda_function.lambda_handler"\n{python}{role}\n')
        for name in ("raises", "exits"):
            f.write(f'[[rotation-function]]\narn = "{arn(name)}"\n'
                    f'python-handler = "{FUNCTIONS}:failing.{name}"\n{python}{role}\n')
        f.write(f'[[rotation-function]]\narn = "{arn("sleeps")}"\n'
                f'python-handler = "{FUNCTIONS}:failing.sleeps"\n{python}{role}timeout-secs = 2\n\n')
        for name, export in (("node-rotation", "handler"), ("node-raises", "raises")):
            f.write(f'[[rotation-function]]\narn = "{arn(name)}"\n'
                    f'node-handler = "{FUNCTIONS}:index.{export}"\nnode-path = "{NODE_MODULES}"\n'
                    f'role-arn = "arn:aws:iam::{ACCOUNT}:role/{ROLE}"\n'
                    f'log-file = "{os.path.join(d, name + ".log")}"\n\n')
        # Configured through its environment, as AWS's templates are.
        f.write(f'[[rotation-function]]\narn = "{arn("token-env")}"\n'
                f'python-handler = "{FUNCTIONS}:token_rotation.lambda_handler"\n{python}'
                f'role-arn = "arn:aws:iam::{ACCOUNT}:role/{ROLE}"\n'
                f'log-file = "{os.path.join(d, "token-env.log")}"\n'
                'environment = { PASSWORD_LENGTH = "40", EXCLUDE_PUNCTUATION = "true" }\n\n')
    s = Server(name="lambda-rotation", extra_args=["--config", cfg,
                                                   "--rotation-interval-secs", "1"])
    iam = client(s, "iam")
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName=ROLE, PolicyName="rotate", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["secretsmanager:DescribeSecret",
                                           "secretsmanager:GetSecretValue",
                                           "secretsmanager:PutSecretValue",
                                           "secretsmanager:UpdateSecretVersionStage"],
             "Resource": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:*"},
            {"Effect": "Allow", "Action": "secretsmanager:GetRandomPassword", "Resource": "*"}]}))
    yield {"server": s, "log": log, "token_log": os.path.join(d, "token-env.log"),
           "node_log": os.path.join(d, "node-rotation.log"),
           "node_raises_log": os.path.join(d, "node-raises.log")}
    assert s.stop() == 0


def rotate_with_cli(s, secret_id, function):
    p = subprocess.run(["aws", "--endpoint-url", s.endpoint, "--region", REGION, "--output",
                        "json", "secretsmanager", "rotate-secret", "--secret-id", secret_id,
                        "--rotation-lambda-arn", arn(function),
                        "--rotation-rules", "AutomaticallyAfterDays=30"],
                       env=client_env(s.endpoint), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)["VersionId"]


def wait_for(check, what, seconds=40):
    deadline = time.time() + seconds
    while time.time() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}")


def events(s, name, secret_arn):
    ct = client(s, "cloudtrail")
    found = []
    for page in ct.get_paginator("lookup_events").paginate(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}]):
        found += [json.loads(e["CloudTrailEvent"]) for e in page["Events"]]
    return [r for r in found if r["resources"] and r["resources"][0]["ARN"] == secret_arn]


def rotated(sm, name, token):
    return wait_for(lambda: "AWSCURRENT" in sm.describe_secret(SecretId=name)
                    ["VersionIdsToStages"].get(token, []), "the rotation to finish")


def test_a_python_handler_rotates_a_mariadb_password(server):
    s = server["server"]
    sm = client(s, "secretsmanager")
    user, first = f"lambda_{uuid.uuid4().hex[:8]}", secret("lambda-maria")
    root = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="",
                           autocommit=True, connect_timeout=5)
    with root.cursor() as c:
        c.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (first,))
    try:
        name = f"lambda-maria-{uuid.uuid4().hex[:6]}"
        sm.create_secret(Name=name, SecretString=json.dumps(
            {"engine": "mysql", "host": "127.0.0.1", "port": 3306, "username": user,
             "password": first}))
        token = rotate_with_cli(s, name, "db-rotation")
        rotated(sm, name, token)
        new = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])["password"]
        assert new != first
        pymysql.connect(host="127.0.0.1", port=3306, user=user, password=new,
                        connect_timeout=5).close()
        with pytest.raises(pymysql.err.OperationalError):
            pymysql.connect(host="127.0.0.1", port=3306, user=user, password=first,
                            connect_timeout=5)
        # The handler's logging reached the function's log; no value did.
        text = open(server["log"]).read()
        assert "finishSecret done" in text and new not in text and first not in text
    finally:
        with root.cursor() as c:
            c.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        root.close()


def psql(sql):
    p = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", sql],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_a_python_handler_rotates_a_postgresql_password(server):
    s = server["server"]
    sm = client(s, "secretsmanager")
    role, first = f"lambda_{uuid.uuid4().hex[:8]}", secret("lambda-pg").replace("-", "")
    psql(f"CREATE ROLE {role} LOGIN PASSWORD '{first}'")
    try:
        verifier = lambda: psql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'")  # noqa: E731
        before = verifier()
        name = f"lambda-pg-{uuid.uuid4().hex[:6]}"
        sm.create_secret(Name=name, SecretString=json.dumps(
            {"engine": "postgres", "host": "127.0.0.1", "port": 5432, "username": role,
             "password": first}))
        token = rotate_with_cli(s, name, "db-rotation")
        rotated(sm, name, token)
        new = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])["password"]
        assert new != first
        # The server stores the new password's SCRAM verifier (this machine's PostgreSQL
        # trusts loopback logins, so the verifier is what shows the password changed).
        assert verifier() != before and verifier().startswith("SCRAM-SHA-256$")
        # RotationSucceeded is recorded once finishSecret has returned, after the stage move
        # `rotated` saw: wait for it (the PostgreSQL pass once looked in between), then one.
        arn = sm.describe_secret(SecretId=name)["ARN"]
        wait_for(lambda: events(s, "RotationSucceeded", arn), "RotationSucceeded")
        assert len(events(s, "RotationSucceeded", arn)) == 1
    finally:
        psql(f"DROP ROLE IF EXISTS {role}")


def test_a_node_handler_rotates_a_token(server):
    s = server["server"]
    sm = client(s, "secretsmanager")
    name, first = f"lambda-node-{uuid.uuid4().hex[:6]}", secret("lambda-node")
    sm.create_secret(Name=name, SecretString=json.dumps({"token": first}))
    token = rotate_with_cli(s, name, "node-rotation")
    rotated(sm, name, token)
    new = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])["token"]
    assert new != first and len(new) == 24
    assert json.loads(sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")
                      ["SecretString"])["token"] == first
    # Logged as Lambda's Node runtime logs: each step between START and END/REPORT, its
    # console lines as `time\trequestId\tLEVEL\tmessage`; no token.
    text = open(server["node_log"]).read()
    assert new not in text and first not in text
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        request = lambda_invocation(text, rf"INFO\t{step} done")
        assert f"START RequestId: {request} Version: $LATEST" in text


def lambda_invocation(text, line):
    """The request id of the invocation that logged `line` (Node's console format), after
    checking its START, END and REPORT lines are there and in order."""
    found = re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t([0-9a-f-]{36})\t" + line + "$",
                      text, re.M)
    assert found, text
    request = found.group(1)
    start = text.index(f"START RequestId: {request} Version: $LATEST\n")
    end = text.index(f"END RequestId: {request}\n")
    report = re.search(rf"^REPORT RequestId: {request}\tDuration: \d+\.\d\d ms\t"
                       r"Billed Duration: \d+ ms\tMemory Size: 128 MB\tMax Memory Used: \d+ MB\t"
                       r"Init Duration: \d+\.\d\d ms\t$", text, re.M)
    assert report, text
    assert start < found.start() < end < report.start(), text
    return request


def test_a_failing_node_handler_logs_its_error_as_lambda(server):
    s = server["server"]
    sm = client(s, "secretsmanager")
    name = f"lambda-node-fail-{uuid.uuid4().hex[:6]}"
    secret_arn = sm.create_secret(Name=name, SecretString=json.dumps({"v": 1}))["ARN"]
    rotate_with_cli(s, name, "node-raises")
    failed = wait_for(lambda: events(s, "RotationFailed", secret_arn), "RotationFailed")
    record = json.dumps(failed[0])
    assert "step createSecret: the handler raised RangeError" in record, record
    assert "the token service refused" not in record
    text = open(server["node_raises_log"]).read()
    lambda_invocation(text, r"WARN\tabout to fail")
    error = lambda_invocation(text, r"ERROR\tInvoke Error \t(\{.*\})")
    line = next(l for l in text.splitlines() if f"\t{error}\tERROR\tInvoke Error" in l)
    details = json.loads(line.split("Invoke Error \t", 1)[1])
    assert details["errorType"] == "RangeError"
    assert details["errorMessage"] == "the token service refused the new token"
    assert details["stack"][0].startswith("RangeError:")


@pytest.mark.parametrize("function,reason", [
    ("raises", "step createSecret: the handler raised ValueError"),
    ("sleeps", "step createSecret: the function ran longer than 2 s"),
    ("exits", "step createSecret: the function exited with exit status: 3"),
])
def test_a_failing_handler_is_a_rotation_failed_with_its_reason(server, function, reason):
    s = server["server"]
    sm = client(s, "secretsmanager")
    name = f"lambda-fail-{function}-{uuid.uuid4().hex[:6]}"
    secret_arn = sm.create_secret(Name=name, SecretString=json.dumps({"v": 1}))["ARN"]
    token = rotate_with_cli(s, name, function)
    failed = wait_for(lambda: events(s, "RotationFailed", secret_arn), "RotationFailed")
    record = json.dumps(failed[0])
    assert reason in record, record
    # What the function wrote (its exception's message) stays in its log.
    assert "the database refused the new password" not in record
    if function == "raises":
        assert "the database refused the new password" in open(server["log"]).read()
    if function == "sleeps":
        # Stopped at its timeout, as Lambda stops one: the timeout line, END and REPORT.
        text = open(server["log"]).read()
        stopped = re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ([0-9a-f-]{36}) "
                            r"Task timed out after 2\.00 seconds$", text, re.M)
        assert stopped, text
        request = stopped.group(1)
        start = text.index(f"START RequestId: {request} Version: $LATEST\n")
        end = text.index(f"END RequestId: {request}\n")
        report = re.search(rf"^REPORT RequestId: {request}\tDuration: 2000\.00 ms\t"
                           r"Billed Duration: 2000 ms\tMemory Size: 128 MB\tMax Memory Used: \d+ MB\t$",
                           text, re.M)
        assert report and start < stopped.start() < end < report.start(), text
    assert "AWSCURRENT" not in sm.describe_secret(SecretId=name)["VersionIdsToStages"].get(
        token, [])


def test_a_handler_gets_its_functions_environment_and_logs_as_lambda(server):
    """AWS's templates read their settings (PASSWORD_LENGTH, EXCLUDE_CHARACTERS, …) from the
    function's environment variables; Lambda runs them in UTC and prefixes each log line with
    the invocation's request id, between START and END lines."""
    s = server["server"]
    sm = client(s, "secretsmanager")
    name, first = f"lambda-env-{uuid.uuid4().hex[:6]}", secret("lambda-env")
    sm.create_secret(Name=name, SecretString=json.dumps({"token": first}))
    token = rotate_with_cli(s, name, "token-env")
    rotated(sm, name, token)
    new = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])["token"]
    assert len(new) == 40 and new.isalnum(), "PASSWORD_LENGTH / EXCLUDE_PUNCTUATION not applied"
    text = open(server["token_log"]).read()
    assert new not in text and first not in text
    line = re.search(r"^\[INFO\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t([0-9a-f-]{36})\t"
                     r"createSecret done for \S+ \(TZ=:UTC\)$", text, re.M)
    assert line, text
    request = line.group(1)
    assert f"START RequestId: {request} Version: $LATEST" in text
    assert f"END RequestId: {request}" in text
    assert re.search(rf"^REPORT RequestId: {request}\tDuration: \d+\.\d\d ms\t"
                     r"Billed Duration: \d+ ms\tMemory Size: 128 MB\tMax Memory Used: \d+ MB\t"
                     r"Init Duration: \d+\.\d\d ms\t$", text, re.M), text


def test_a_reserved_environment_key_is_refused_at_start(tmp_path):
    """As Lambda refuses them: the runtime sets these keys itself. The error names the key,
    never its value."""
    cfg = tmp_path / "strongroom.toml"
    cfg.write_text(f'[[rotation-function]]\narn = "{arn("reserved")}"\n'
                   f'python-handler = "{FUNCTIONS}:token_rotation.lambda_handler"\n'
                   f'role-arn = "arn:aws:iam::{ACCOUNT}:role/{ROLE}"\n'
                   'environment = { AWS_REGION = "eu-west-3", PASSWORD_LENGTH = "40" }\n')
    with pytest.raises(RuntimeError) as refused:
        Server(name="lambda-reserved-env", extra_args=["--config", str(cfg)])
    text = str(refused.value)
    assert "reserved keys" in text and "AWS_REGION" in text, text
    assert "eu-west-3" not in text and "PASSWORD_LENGTH" not in text, text
