"""`strongroom run` (issue 10 §2): seed 003's ECS task definition and `--secret` valueFrom forms
inject values into a real child process; exit codes and signals pass through; anything
unresolvable stops the launch with exit code 2 and no value shown; `--watch` restarts the child
when a secret changes; `--path`, `--env-file`, `--no-inherit`; and a profile in a temporary
~/.aws assuming a role."""
import json
import os
import re
import signal
import subprocess
import time
import uuid

import boto3
import pytest
from botocore.config import Config

from conftest import SEED_VALUES, remember, secret
from server import ACCESS_KEY, REGION, SECRET_KEY

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})
BIN = os.environ.get("STRONGROOM_BIN", "target/debug/strongroom")
TAG = uuid.uuid4().hex[:6]
SEED003 = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "seeds", "003_95b5c8446a8bc570.txt")
PRINT_ENV = ["sh", "-c", 'printf "MONGODB_URI=%s\\nJWT_SECRET=%s\\nAPI_KEY=%s\\n" "$MONGODB_URI" "$JWT_SECRET" "$API_KEY"']


def env_for(server, access_key=ACCESS_KEY, secret_key=SECRET_KEY, **extra):
    env = server.env(access_key=access_key, secret_key=secret_key)
    env["AWS_ENDPOINT_URL"] = server.endpoint
    env.update(extra)
    return env


def run(server, *args, env=None, timeout=60):
    return subprocess.run([BIN, "run", *args], env=env or env_for(server), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def client(server, service, access_key=ACCESS_KEY, secret_key=SECRET_KEY):
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION, config=NO_RETRY,
                        aws_access_key_id=access_key, aws_secret_access_key=secret_key)


def seed003_task_definition():
    """The task definition JSON block of seed 003, verbatim (with its ${region} placeholders)."""
    text = open(SEED003).read()
    start = text.index('{\n  "containerDefinitions"')
    depth = 0
    for i in range(start, len(text)):
        depth += text[i] == "{"
        depth -= text[i] == "}"
        if depth == 0:
            return text[start:i + 1]
    raise AssertionError("no task definition in seed 003")


@pytest.fixture(scope="module")
def auth_config(server):
    """Seed 003's auth-service-prod-config with the seed's own values."""
    sm = client(server, "secretsmanager")
    value = {"MONGODB_URI": SEED_VALUES[1], "JWT_SECRET": SEED_VALUES[2], "API_KEY": SEED_VALUES[3]}
    try:
        arn = sm.create_secret(Name="auth-service-prod-config", SecretString=json.dumps(value))["ARN"]
    except sm.exceptions.ResourceExistsException:
        sm.put_secret_value(SecretId="auth-service-prod-config", SecretString=json.dumps(value))
        arn = sm.describe_secret(SecretId="auth-service-prod-config")["ARN"]
    return arn, value


def test_seed_003_task_definition_verbatim(server, auth_config, tmp_path):
    """The seed's task definition as written: ${region}/${account-id} are filled in; its partial
    ARN `...:secret:auth-service-prod-config` ends in '-' + six letters, which Secrets Manager
    reads as a complete ARN (AWS documents this), so AWS answers ResourceNotFoundException — and
    so does Strongroom, with a hint. With the complete ARN the same file works."""
    arn, value = auth_config
    td = tmp_path / "task-definition.json"
    td.write_text(seed003_task_definition())
    marker = tmp_path / "started"
    p = run(server, "--ecs-task-definition", str(td), "--container", "auth-service", "--", "touch", str(marker))
    assert p.returncode == 2 and not marker.exists()
    assert p.stderr.count("ResourceNotFoundException") == 3, p.stderr
    assert "reads it as a complete ARN" in p.stderr
    full = seed003_task_definition().replace(
        "arn:aws:secretsmanager:${region}:${account-id}:secret:auth-service-prod-config:", arn + ":")
    td.write_text(full)
    p = run(server, "--ecs-task-definition", str(td), "--container", "auth-service", "--", *PRINT_ENV)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [f"{k}={v}" for k, v in value.items()]
    # The `aws ecs describe-task-definition` shape too.
    wrapped = tmp_path / "described.json"
    wrapped.write_text(json.dumps({"taskDefinition": json.loads(full)}))
    p = run(server, "--ecs-task-definition", str(wrapped), "--container", "auth-service", "--", *PRINT_ENV)
    assert p.returncode == 0 and "JWT_SECRET=your-secret-key" in p.stdout, p.stderr
    # The seed's placeholders are filled from the caller's region and account.
    templated = seed003_task_definition().replace("auth-service-prod-config:", arn.split(":secret:")[1] + ":")
    td.write_text(templated)
    p = run(server, "--ecs-task-definition", str(td), "--container", "auth-service", "--", *PRINT_ENV)
    assert p.returncode == 0, p.stderr


def test_full_arn_partial_arn_and_plain_name(server, auth_config):
    arn, value = auth_config
    sm = client(server, "secretsmanager")
    # A name that does not end like a random suffix, so its partial ARN resolves.
    other = sm.create_secret(Name=f"run-{TAG}-jwt", SecretString=json.dumps({"JWT_SECRET": value["JWT_SECRET"]}))
    partial = other["ARN"][:-7]
    p = run(server, "--secret", f"MONGODB_URI={arn}:MONGODB_URI::",
            "--secret", f"JWT_SECRET={partial}:JWT_SECRET::",
            "--secret", "API_KEY=auth-service-prod-config:API_KEY", "--", *PRINT_ENV)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [f"{k}={v}" for k, v in value.items()]
    # The whole SecretString, non-string JSON rendered as JSON.
    sm = client(server, "secretsmanager")
    name = f"run-{TAG}-json"
    sm.create_secret(Name=name, SecretString=json.dumps({"port": 5432, "hosts": ["a", "b"]}))
    p = run(server, "--secret", f"PORT={name}:port", "--secret", f"HOSTS={name}:hosts", "--",
            "sh", "-c", 'echo "$PORT $HOSTS"')
    # As stored (python's json.dumps spacing): the member's JSON text, not re-encoded.
    assert (p.returncode, p.stdout.strip()) == (0, '5432 ["a", "b"]'), p.stderr


def test_exit_codes_pass_through(server, auth_config):
    arn, _ = auth_config
    p = run(server, "--secret", f"X={arn}", "--", "sh", "-c", "exit 7")
    assert p.returncode == 7
    p = run(server, "--secret", f"X={arn}", "--", "/nonexistent/command")
    assert p.returncode == 127


@pytest.mark.parametrize("watch", [False, True])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_reach_the_child(server, auth_config, watch, sig):
    arn, _ = auth_config
    script = f'trap "echo got-{int(sig)}; exit 42" {int(sig)}; echo ready; while :; do sleep 0.1; done'
    args = [BIN, "run", "--secret", f"X={arn}"] + (["--watch"] if watch else []) + ["--", "sh", "-c", script]
    p = subprocess.Popen(args, env=env_for(server), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         stdin=subprocess.DEVNULL)
    assert p.stdout.readline().strip() == "ready"
    p.send_signal(sig)
    out, err = p.communicate(timeout=30)
    assert f"got-{int(sig)}" in out, err
    assert p.returncode == 42, err


def test_denied_or_missing_secrets_stop_the_launch(server, auth_config, tmp_path):
    arn, value = auth_config
    iam = client(server, "iam")
    user = f"run-limited-{TAG}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
            "secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue"],
            "Resource": "arn:aws:secretsmanager:*:*:secret:run-allowed-*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    remember(key["SecretAccessKey"])
    marker = tmp_path / "started"
    p = run(server, "--secret", f"MONGODB_URI={arn}:MONGODB_URI::", "--secret", f"GONE=run-missing-{TAG}:k",
            "--", "touch", str(marker), env=env_for(server, key["AccessKeyId"], key["SecretAccessKey"]))
    assert p.returncode == 2
    assert not marker.exists(), "the command was started"
    assert re.search(r"MONGODB_URI: secret '.*': AccessDeniedException", p.stderr), p.stderr
    assert "GONE: secret" in p.stderr, p.stderr
    p = run(server, "--secret", f"GONE=run-missing-{TAG}:k", "--", "touch", str(marker))
    assert p.returncode == 2 and "GONE: secret" in p.stderr and "ResourceNotFoundException" in p.stderr
    for v in value.values():
        assert v not in p.stderr + p.stdout
    # A malformed valueFrom is refused the same way.
    p = run(server, "--secret", f"X={arn}:MONGODB_URI", "--", "touch", str(marker))
    assert p.returncode == 2 and "exactly ten fields" in p.stderr and not marker.exists()


def test_watch_restarts_the_child_after_put_secret_value(server):
    sm = client(server, "secretsmanager")
    name = f"run-{TAG}-watched"
    first, second = secret("run-watch-1"), secret("run-watch-2")
    sm.create_secret(Name=name, SecretString=first)
    script = 'trap "exit 0" TERM; echo "value=$V"; while :; do sleep 0.1; done'
    p = subprocess.Popen([BIN, "run", "--watch", "--watch-interval", "1", "--grace-period", "2",
                          "--secret", f"V={name}:", "--", "sh", "-c", script],
                         env=env_for(server), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == f"value={first}"
        sm.put_secret_value(SecretId=name, SecretString=second)
        deadline = time.time() + 20
        line = p.stdout.readline().strip()
        assert time.time() < deadline
        assert line == f"value={second}", line
    finally:
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=30)
    assert p.returncode == 0


def test_path_env_file_and_no_inherit(server, tmp_path):
    ssm = client(server, "ssm")
    base = f"/run-{TAG}/prod"
    ssm.put_parameter(Name=f"{base}/db-host", Value="db.internal", Type="String")
    pw = secret("run-path")
    ssm.put_parameter(Name=f"{base}/db.password", Value=pw, Type="SecureString")
    ssm.put_parameter(Name=f"{base}/deep/api-key", Value="k-123", Type="String")
    envfile = tmp_path / ".env"
    envfile.write_text('DB_HOST=overridden-by-the-parameter\nLOG_LEVEL="debug"\n# comment\n')
    env = env_for(server, INHERITED="yes")
    p = run(server, "--path", f"{base}/", "--env-file", str(envfile), "--", "sh", "-c",
            'echo "$DB_HOST|$DB_PASSWORD|$API_KEY|$LOG_LEVEL|$INHERITED"', env=env)
    assert (p.returncode, p.stdout.strip()) == (0, f"db.internal|{pw}||debug|yes"), p.stderr
    p = run(server, "--path", f"{base}/", "--recursive", "--no-inherit", "--", "/bin/sh", "-c",
            'echo "$API_KEY|${INHERITED:-none}|${HOME:-nohome}"', env=env)
    assert (p.returncode, p.stdout.strip()) == (0, "k-123|none|nohome"), p.stderr
    # Two parameters mapping to one variable: an error, nothing started.
    ssm.put_parameter(Name=f"{base}/deep/db_host", Value="x", Type="String")
    p = run(server, "--path", f"{base}/", "--recursive", "--", "true", env=env)
    assert p.returncode == 2 and "both map to the variable DB_HOST" in p.stderr, p.stderr


def test_through_a_profile_assuming_a_role(server, auth_config, tmp_path):
    arn, value = auth_config
    iam = client(server, "iam")
    user = f"run-profile-{TAG}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    remember(key["SecretAccessKey"])
    account = client(server, "sts").get_caller_identity()["Account"]
    role = f"run-reader-{TAG}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": f"arn:aws:iam::{account}:user/{user}"}}]}))
    iam.put_role_policy(RoleName=role, PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
            "secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue"], "Resource": "*"}]}))
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text(
        f"[deployer]\naws_access_key_id = {key['AccessKeyId']}\naws_secret_access_key = {key['SecretAccessKey']}\n")
    (home / ".aws" / "config").write_text(
        f"[profile task]\nrole_arn = arn:aws:iam::{account}:role/{role}\nsource_profile = deployer\n"
        f"region = {REGION}\nendpoint_url = {server.endpoint}\n")
    env = {k: v for k, v in server.env().items() if not k.startswith("AWS_")}
    env.update(HOME=str(home), AWS_PROFILE="task", AWS_EC2_METADATA_DISABLED="true")
    p = run(server, "--secret", f"JWT_SECRET={arn}:JWT_SECRET::", "--", "sh", "-c", 'echo "$JWT_SECRET"', env=env)
    assert (p.returncode, p.stdout.strip()) == (0, value["JWT_SECRET"]), p.stderr
