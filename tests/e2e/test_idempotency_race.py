"""Retries racing their original (issue 16 §3): 64 boto3 clients, each on its own thread and
connection, send the same request at the same moment. AWS's contract holds under any
interleaving: the same ClientRequestToken with the same value is a no-op success (one
version), with a different value ResourceExistsException. The same for every operation with a
token (CreateSecret, PutSecretValue, UpdateSecret, RotateSecret) and for the writes of
Parameter Store and KMS that have no token but refuse or number concurrent writes
(PutParameter with and without Overwrite, CreateAlias)."""
import json
import os
import sys
import tempfile
import threading
import time
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import secret, unique
from server import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, Server

COPIES = 64
ROUNDS = 3
CONFIG = Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=2)


def clients(server, n, service="secretsmanager"):
    session = boto3.session.Session()
    return [session.client(service, endpoint_url=server.endpoint, region_name=REGION, config=CONFIG,
                           aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY) for _ in range(n)]


def race(server, call, service="secretsmanager"):
    """Run call(client, i) on COPIES threads released together; returns results in order:
    ("ok", what call returned) or ("error", the error code)."""
    cs = clients(server, COPIES, service)
    gate = threading.Barrier(COPIES)
    results = [None] * COPIES

    def run(i):
        gate.wait()
        try:
            results[i] = ("ok", call(cs[i], i))
        except ClientError as e:
            results[i] = ("error", e.response["Error"]["Code"])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(COPIES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def others(results, expected):
    return [r for r in results if r != expected][:5]


@pytest.mark.parametrize("operation", ["put_secret_value", "update_secret"])
def test_racing_retries_with_the_same_value_all_succeed(server, sm, operation):
    for _ in range(ROUNDS):
        name = unique(f"race-{operation.replace('_', '-')}")
        sm.create_secret(Name=name, SecretString=secret("race-initial"))
        token = str(uuid.uuid4())
        value = secret("race-same")
        method = operation

        def call(c, i):
            kwargs = {"SecretId": name, "ClientRequestToken": token, "SecretString": value}
            return getattr(c, method)(**kwargs)["VersionId"]

        results = race(server, call)
        assert results == [("ok", token)] * COPIES, others(results, ("ok", token))
        versions = sm.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)["Versions"]
        assert len(versions) == 2
        got = sm.get_secret_value(SecretId=name)
        assert (got["VersionId"], got["SecretString"]) == (token, value)


def test_racing_retries_with_different_values_split_by_the_stored_one(server, sm):
    name = unique("race-split")
    sm.create_secret(Name=name, SecretString=secret("race-initial"))
    token = str(uuid.uuid4())
    values = [secret("race-a"), secret("race-b")]

    def call(c, i):
        c.put_secret_value(SecretId=name, ClientRequestToken=token, SecretString=values[i % 2])
        return values[i % 2]

    results = race(server, call)
    stored = sm.get_secret_value(SecretId=name, VersionId=token)["SecretString"]
    assert stored in values
    for kind, what in results:
        assert (kind, what) in (("ok", stored), ("error", "ResourceExistsException")), results
    assert sum(1 for k, _ in results if k == "ok") == COPIES // 2
    assert len(sm.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)["Versions"]) == 2


def test_racing_create_secret_retries_create_one_secret(server, sm):
    for _ in range(ROUNDS):
        name = unique("race-create")
        token = str(uuid.uuid4())
        value = secret("race-create")
        results = race(server, lambda c, i: (c.create_secret(Name=name, ClientRequestToken=token,
                                                             SecretString=value)["VersionId"]))
        assert results == [("ok", token)] * COPIES, others(results, ("ok", token))
        assert len(sm.list_secret_version_ids(SecretId=name)["Versions"]) == 1


def test_racing_create_secret_with_another_value_is_refused(server, sm):
    """Half the copies carry another value: the secret holds one of the two, and exactly the
    copies with that value succeed."""
    name = unique("race-create-split")
    token = str(uuid.uuid4())
    values = [secret("race-create-a"), secret("race-create-b")]

    def call(c, i):
        c.create_secret(Name=name, ClientRequestToken=token, SecretString=values[i % 2])
        return values[i % 2]

    results = race(server, call)
    stored = sm.get_secret_value(SecretId=name)["SecretString"]
    for kind, what in results:
        assert (kind, what) in (("ok", stored), ("error", "ResourceExistsException")), results
    assert sum(1 for k, _ in results if k == "ok") == COPIES // 2


# A rotation function that records each step it runs, takes its time over createSecret (so
# the racing copies arrive while the rotation is in progress) and rotates for real.
ROTATOR = """
import json, os, sys, time
import boto3
event = json.load(sys.stdin)
arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
with open(sys.argv[1], "a") as f:
    f.write(f"{step} {token}\\n")
sm = boto3.client("secretsmanager", endpoint_url=os.environ["SECRETS_MANAGER_ENDPOINT"])
stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
if step == "createSecret":
    time.sleep(1.5)
    try:
        sm.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
    except sm.exceptions.ResourceNotFoundException:
        sm.put_secret_value(SecretId=arn, ClientRequestToken=token, VersionStages=["AWSPENDING"],
                            SecretString=PREFIX + "-rotated-" + token)
elif step == "finishSecret":
    current = next(v for v, s in stages.items() if "AWSCURRENT" in s)
    if current != token:
        sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT",
                                       MoveToVersionId=token, RemoveFromVersionId=current)
"""
ROTATOR_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:race-rotator"


@pytest.fixture(scope="module")
def rotating():
    d = tempfile.mkdtemp(prefix="strongroom-race-rotation-")
    script, steps = os.path.join(d, "rotator.py"), os.path.join(d, "steps.log")
    with open(script, "w") as f:
        # The new values' prefix is in the script, not its command line (which may be logged).
        f.write(f"PREFIX = {json.dumps(secret('race-rotated'))}\n" + ROTATOR)
    cfg = os.path.join(d, "strongroom.toml")
    with open(cfg, "w") as f:
        f.write("[[rotation-function]]\n"
                f'arn = "{ROTATOR_ARN}"\n'
                f"command = {json.dumps([sys.executable, script, steps])}\n"
                f'role-arn = "arn:aws:iam::{ACCOUNT}:role/race-rotator"\n'
                "timeout-secs = 30\n")
    s = Server(name="race-rotation", extra_args=["--config", cfg])
    iam = clients(s, 1, "iam")[0]
    iam.create_role(RoleName="race-rotator", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName="race-rotator", PolicyName="rotate", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
            "secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
            "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"],
            "Resource": "*"}]}))
    yield s, steps
    assert s.stop() == 0


def steps_of(path, token):
    with open(path) as f:
        return [line.split()[0] for line in f if line.split()[1] == token]


def wait_current(sm, name, token):
    deadline = time.time() + 60
    while time.time() < deadline:
        stages = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
        if "AWSCURRENT" in stages.get(token, []):
            return stages
        time.sleep(0.25)
    pytest.fail(f"rotation {token} did not finish: {stages}")


def test_racing_rotate_secret_retries_start_one_rotation(rotating):
    s, steps = rotating
    sm = clients(s, 1)[0]
    name = unique("race-rotate")
    sm.create_secret(Name=name, SecretString=secret("race-rotate-initial"))
    token = str(uuid.uuid4())
    results = race(s, lambda c, i: c.rotate_secret(SecretId=name, ClientRequestToken=token,
                                                   RotationLambdaARN=ROTATOR_ARN)["VersionId"])
    assert results == [("ok", token)] * COPIES, others(results, ("ok", token))
    stages = wait_current(sm, name, token)
    assert len(stages) == 2, stages
    # One rotation ran, once: each step once.
    assert steps_of(steps, token) == ["createSecret", "setSecret", "testSecret", "finishSecret"]
    assert sm.get_secret_value(SecretId=name)["SecretString"].endswith("-rotated-" + token)


def test_racing_rotate_secret_with_different_tokens_starts_one(rotating):
    s, steps = rotating
    sm = clients(s, 1)[0]
    name = unique("race-rotate-many")
    sm.create_secret(Name=name, SecretString=secret("race-rotate-initial"))
    tokens = [str(uuid.uuid4()) for _ in range(COPIES)]
    results = race(s, lambda c, i: c.rotate_secret(SecretId=name, ClientRequestToken=tokens[i],
                                                   RotationLambdaARN=ROTATOR_ARN)["VersionId"])
    won = [what for kind, what in results if kind == "ok"]
    assert len(won) == 1, results
    assert all(r == ("error", "InvalidRequestException") for r in results if r[0] == "error"), results
    wait_current(sm, name, won[0])
    assert len(sm.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)["Versions"]) == 2
    assert all(steps_of(steps, t) == [] for t in tokens if t != won[0])


def test_racing_put_parameter_without_overwrite_creates_once(server):
    ssm = clients(server, 1, "ssm")[0]
    for _ in range(ROUNDS):
        name = f"/race/{uuid.uuid4().hex[:8]}"
        value = secret("race-param")
        results = race(server, lambda c, i: c.put_parameter(Name=name, Value=value,
                                                            Type="SecureString")["Version"], "ssm")
        assert results.count(("ok", 1)) == 1, others(results, ("error", "ParameterAlreadyExists"))
        assert results.count(("error", "ParameterAlreadyExists")) == COPIES - 1, results
        history = ssm.get_parameter_history(Name=name, WithDecryption=True)["Parameters"]
        assert [(h["Version"], h["Value"]) for h in history] == [(1, value)]


def test_racing_put_parameter_with_overwrite_numbers_every_write(server):
    ssm = clients(server, 1, "ssm")[0]
    name = f"/race/{uuid.uuid4().hex[:8]}"
    values = [secret(f"race-overwrite-{i}") for i in range(COPIES)]
    results = race(server, lambda c, i: c.put_parameter(Name=name, Value=values[i], Type="SecureString",
                                                        Overwrite=True)["Version"], "ssm")
    assert all(kind == "ok" for kind, _ in results), [r for r in results if r[0] != "ok"][:5]
    assert sorted(v for _, v in results) == list(range(1, COPIES + 1))
    # Each version holds the value of the write that was told its number.
    for i, (_, version) in enumerate(results):
        got = ssm.get_parameter(Name=f"{name}:{version}", WithDecryption=True)["Parameter"]
        assert got["Value"] == values[i]
    latest = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
    assert latest["Version"] == COPIES


def test_racing_create_alias_creates_it_once(server):
    kms = clients(server, 1, "kms")[0]
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    alias = f"alias/race-{uuid.uuid4().hex[:8]}"
    results = race(server, lambda c, i: c.create_alias(AliasName=alias, TargetKeyId=key) and "created", "kms")
    assert results.count(("ok", "created")) == 1, results
    assert results.count(("error", "AlreadyExistsException")) == COPIES - 1, results
    assert [a["TargetKeyId"] for a in kms.list_aliases(KeyId=key)["Aliases"]] == [key]
