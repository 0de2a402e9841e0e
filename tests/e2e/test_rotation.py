"""Rotation end to end: seed 003's `aws secretsmanager rotate-secret` verbatim rotates a real
MariaDB user's password through a rotation function (tests/e2e/rotation/mariadb_rotation.py,
written to AWS's four-step contract) that runs with its IAM role's temporary credentials.
Then: the failure path (a function that fails its setSecret step), the in-progress rule,
CancelRotateSecret, the audit events, the metrics, and bad input."""
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

import boto3
import pymysql
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import secret
from leaks import remember
from server import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, Server
from test_cli_seeds import SEED_003_ROTATE, seed_command

HERE = os.path.dirname(os.path.abspath(__file__))
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:secret-rotation"
BROKEN_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:broken-rotation"
UNTRUSTED_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:untrusted-rotation"
SLOW_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:slow-rotation"
SLOW_TEST_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:slow-test-rotation"
MYSQL_BUILTIN_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:mysql-builtin"
PG_BUILTIN_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:postgresql-builtin"
PG_VERIFIED_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:postgresql-verified"
PG_UNTRUSTED_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:postgresql-untrusted"
MYSQL_TLS_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:mysql-tls-required"
MYSQL_MULTI_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:mysql-alternating"
PG_MULTI_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:postgresql-alternating"
MYSQL_MASTER, PG_MASTER = "rotation-admin-mariadb", "rotation-admin-postgresql"
# The local PostgreSQL's certificate (Debian's snakeoil: self-signed, DNS:localhost).
PG_CERT = "/etc/ssl/certs/ssl-cert-snakeoil.pem"
ROLE = "secret-rotation"
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def client(server, service):
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION,
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        config=NO_RETRY)


def root_db():
    return pymysql.connect(host="127.0.0.1", port=3306, user="root", password="",
                           connect_timeout=5, autocommit=True)


def can_login(user, password):
    try:
        pymysql.connect(host="127.0.0.1", port=3306, user=user, password=password,
                        connect_timeout=5).close()
        return True
    except pymysql.err.OperationalError:
        return False


@pytest.fixture(scope="module")
def rotating():
    """A server with two rotation functions (one that works, one that fails setSecret), the
    role they run as, and a MariaDB user whose password a secret holds."""
    d = tempfile.mkdtemp(prefix="strongroom-rotation-")
    broken = os.path.join(d, "broken.py")
    with open(broken, "w") as f:
        f.write("import json, sys\nevent = json.load(sys.stdin)\n"
                "sys.exit(3 if event['Step'] == 'setSecret' else 0)\n")
    # Takes its time over createSecret (a manual write lands meanwhile), then does nothing.
    slow = os.path.join(d, "slow.py")
    with open(slow, "w") as f:
        f.write("import json, sys, time\nevent = json.load(sys.stdin)\n"
                "time.sleep(3 if event['Step'] == 'createSecret' else 0)\n")
    # Takes its time over testSecret (a configuration test runs only that step).
    slow_test = os.path.join(d, "slow_test.py")
    with open(slow_test, "w") as f:
        f.write("import json, sys, time\nevent = json.load(sys.stdin)\n"
                "time.sleep(4 if event['Step'] == 'testSecret' else 0)\n")
    cfg = os.path.join(d, "strongroom.toml")
    with open(cfg, "w") as f:
        for arn, script, role in (
                (FUNCTION_ARN, os.path.join(HERE, "rotation", "mariadb_rotation.py"), ROLE),
                (BROKEN_ARN, broken, ROLE),
                (SLOW_ARN, slow, ROLE),
                (SLOW_TEST_ARN, slow_test, ROLE),
                (UNTRUSTED_ARN, os.path.join(HERE, "rotation", "mariadb_rotation.py"),
                 "not-for-lambda")):
            f.write("[[rotation-function]]\n"
                    f'arn = "{arn}"\n'
                    f"command = {json.dumps([sys.executable, script])}\n"
                    f'role-arn = "arn:aws:iam::{ACCOUNT}:role/{role}"\n'
                    "timeout-secs = 30\n\n")
        for arn, builtin in ((MYSQL_BUILTIN_ARN, "mysql-single-user"),
                             (PG_BUILTIN_ARN, "postgresql-single-user")):
            f.write(f'[[rotation-function]]\narn = "{arn}"\nbuiltin = "{builtin}"\n\n')
        # Alternating users: the administrator's secret is the operator's choice. (The local
        # MariaDB has no TLS, so that function opts out of the multi-user default, require.)
        f.write(f'[[rotation-function]]\narn = "{MYSQL_MULTI_ARN}"\nbuiltin = "mysql-multi-user"\n'
                f'master-secret = "{MYSQL_MASTER}"\ntls = "prefer"\n\n')
        f.write(f'[[rotation-function]]\narn = "{PG_MULTI_ARN}"\nbuiltin = "postgresql-multi-user"\n'
                f'master-secret = "{PG_MASTER}"\n\n')
        for arn, builtin, tls in (
                (PG_VERIFIED_ARN, "postgresql-single-user",
                 f'tls = "verify-full"\nca-file = "{PG_CERT}"'),
                (PG_UNTRUSTED_ARN, "postgresql-single-user", 'tls = "verify-full"'),
                (MYSQL_TLS_ARN, "mysql-single-user", 'tls = "require"')):
            f.write(f'[[rotation-function]]\narn = "{arn}"\nbuiltin = "{builtin}"\n{tls}\n\n')
    s = Server(name="rotation", extra_args=["--config", cfg, "--metrics-public",
                                            "--rotation-interval-secs", "1"])
    iam = client(s, "iam")
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    # A role Lambda may not assume: only the account can.
    iam.create_role(RoleName="not-for-lambda", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]}))
    # Least privilege, as AWS's rotation templates document it.
    iam.put_role_policy(RoleName=ROLE, PolicyName="rotate", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["secretsmanager:DescribeSecret",
                                           "secretsmanager:GetSecretValue",
                                           "secretsmanager:PutSecretValue",
                                           "secretsmanager:UpdateSecretVersionStage"],
             "Resource": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:*"},
            {"Effect": "Allow", "Action": "secretsmanager:GetRandomPassword", "Resource": "*"}]}))

    # The administrators' secrets the alternating-users functions are configured with.
    sm = client(s, "secretsmanager")
    sm.create_secret(Name=MYSQL_MASTER, SecretString=json.dumps(
        {"engine": "mariadb", "host": "127.0.0.1", "port": 3306, "username": "root",
         "password": ""}))
    sm.create_secret(Name=PG_MASTER, SecretString=json.dumps(
        {"engine": "postgres", "host": "127.0.0.1", "port": 5432, "username": "postgres",
         "password": "trust-auth-here", "dbname": "postgres"}))

    user = f"rot_{uuid.uuid4().hex[:10]}"
    first = secret("db-password")
    db = root_db()
    with db.cursor() as c:
        c.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (first,))
    yield {"server": s, "user": user, "first": first}
    assert s.stop() == 0
    with db.cursor() as c:
        c.execute(f"DROP USER IF EXISTS '{user}'@'%'")
    db.close()


def wait_for(check, what, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}")


def events(server, name, arn):
    ct = client(server, "cloudtrail")
    found = []
    for page in ct.get_paginator("lookup_events").paginate(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}]):
        found += [json.loads(e["CloudTrailEvent"]) for e in page["Events"]]
    return [r for r in found if r["resources"] and r["resources"][0]["ARN"] == arn]


def metric(server, outcome):
    import urllib.request
    text = urllib.request.urlopen(f"{server.endpoint}/metrics", timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith("strongroom_rotations_total{") and f'outcome="{outcome}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_seed_003_rotate_secret_rotates_a_real_database_password(rotating):
    s, user, first = rotating["server"], rotating["user"], rotating["first"]
    sm = client(s, "secretsmanager")
    name = f"auth-service-prod-config-{uuid.uuid4().hex[:6]}"
    doc = {"engine": "mysql", "host": "127.0.0.1", "port": 3306, "username": user,
           "password": first}
    created = sm.create_secret(Name=name, SecretString=json.dumps(doc))
    arn, first_version = created["ARN"], created["VersionId"]
    assert can_login(user, first)

    # Seed 003's command, word for word (its placeholders filled, the secret's name ours).
    code, out, err = seed_command(s, SEED_003_ROTATE.replace("auth-service-prod-config", name),
                                  {"${region}": REGION, "${account-id}": ACCOUNT})
    assert code == 0, err
    started = json.loads(out)
    assert started["ARN"] == arn and started["Name"] == name
    token = started["VersionId"]

    d = wait_for(lambda: (lambda d: d if d.get("LastRotatedDate") else None)(
        sm.describe_secret(SecretId=name)), "the rotation to finish")
    assert d["RotationEnabled"] is True
    assert d["RotationLambdaARN"] == FUNCTION_ARN
    assert d["RotationRules"] == {"AutomaticallyAfterDays": 30}
    assert abs(d["NextRotationDate"].timestamp() - (time.time() + 30 * 86400)) < 120
    assert "AWSCURRENT" in d["VersionIdsToStages"][token]
    assert d["VersionIdsToStages"][first_version] == ["AWSPREVIOUS"]

    new = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])
    remember(new["password"])
    assert new["password"] != first and len(new["password"]) == 32
    assert {k: v for k, v in new.items() if k != "password"} == \
        {k: v for k, v in doc.items() if k != "password"}
    assert can_login(user, new["password"]), "the database does not take the new password"
    assert not can_login(user, first), "the database still takes the old password"
    assert json.loads(sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")
                      ["SecretString"])["password"] == first

    # The audit trail: the rotation's service events, and the function's own calls made as
    # the role's session.
    assert len(events(s, "RotationStarted", arn)) == 1
    ok = events(s, "RotationSucceeded", arn)
    assert len(ok) == 1 and ok[0]["eventType"] == "AwsServiceEvent"
    puts = events(s, "PutSecretValue", arn)
    assert [p["userIdentity"]["arn"] for p in puts] == \
        [f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/strongroom-rotation"]
    for r in ok + puts:
        assert new["password"] not in json.dumps(r) and first not in json.dumps(r)
    assert metric(s, "succeeded") >= 1

    # Rotating again: a new version, and the previous one becomes AWSPREVIOUS.
    again = sm.rotate_secret(SecretId=name)["VersionId"]
    wait_for(lambda: "AWSCURRENT" in sm.describe_secret(SecretId=name)["VersionIdsToStages"]
             .get(again, []), "the second rotation")
    newer = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])["password"]
    remember(newer)
    assert can_login(user, newer) and not can_login(user, new["password"])


def test_a_failed_rotation_leaves_the_secret_current_and_blocks_the_next(rotating):
    s = rotating["server"]
    sm = client(s, "secretsmanager")
    name = f"broken-{uuid.uuid4().hex[:6]}"
    value = secret("broken-rotation")
    arn = sm.create_secret(Name=name, SecretString=value)["ARN"]
    failed_before = metric(s, "failed")
    token = sm.rotate_secret(SecretId=name, RotationLambdaARN=BROKEN_ARN,
                             RotationRules={"ScheduleExpression": "rate(10 days)"})["VersionId"]
    failed = wait_for(lambda: events(s, "RotationFailed", arn), "RotationFailed")
    assert "setSecret" in failed[0]["serviceEventDetails"]["reason"]
    d = sm.describe_secret(SecretId=name)
    # AWSCURRENT stays; the value-less AWSPENDING version is left for the retry.
    assert d["VersionIdsToStages"][token] == ["AWSPENDING"]
    assert sm.get_secret_value(SecretId=name)["SecretString"] == value
    with pytest.raises(ClientError) as e:
        sm.get_secret_value(SecretId=name, VersionStage="AWSPENDING")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert "LastRotatedDate" not in d
    assert metric(s, "failed") == failed_before + 1
    # NextRotationDate stays the schedule's (10 days from the start), not the retry an hour
    # on: AWS's "on or before" date.
    assert abs(d["NextRotationDate"].timestamp() - (time.time() + 10 * 86400)) < 120, d

    # While that rotation is unfinished, another is refused — also a configuration test
    # naming the unfinished rotation's own version (it must not overwrite it).
    with pytest.raises(ClientError) as e:
        sm.rotate_secret(SecretId=name)
    assert e.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "previous rotation isn't complete" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        sm.rotate_secret(SecretId=name, ClientRequestToken=token, RotateImmediately=False)
    assert e.value.response["Error"]["Code"] == "InvalidRequestException"
    assert sm.describe_secret(SecretId=name)["VersionIdsToStages"][token] == ["AWSPENDING"]

    sm.cancel_rotate_secret(SecretId=name)
    d = sm.describe_secret(SecretId=name)
    assert d["RotationEnabled"] is False and "NextRotationDate" not in d
    assert d["RotationRules"] == {"ScheduleExpression": "rate(10 days)"}


def test_a_running_configuration_test_is_a_rotation_in_progress(rotating):
    """RotateImmediately=false's configuration test holds an AWSPENDING copy while testSecret
    runs: as AWS, RotateSecret is refused meanwhile ("A previous rotation isn't complete"),
    except the same request again; once the test ended a rotation starts, and NextRotationDate
    shows the schedule's date while it runs, not the retry time."""
    s = rotating["server"]
    sm = client(s, "secretsmanager")
    name = f"rot-testing-{uuid.uuid4().hex[:6]}"
    arn = sm.create_secret(Name=name, SecretString=secret("rot-testing"))["ARN"]
    token = str(uuid.uuid4())
    first = dict(SecretId=name, RotationLambdaARN=SLOW_TEST_ARN, RotateImmediately=False,
                 RotationRules={"AutomaticallyAfterDays": 10}, ClientRequestToken=token)
    sm.rotate_secret(**first)
    stages = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
    assert stages.get(token) == ["AWSPENDING"], stages
    for kwargs in (dict(SecretId=name),
                   dict(SecretId=name, RotateImmediately=False),
                   dict(SecretId=name, ClientRequestToken=token)):
        with pytest.raises(ClientError) as e:
            sm.rotate_secret(**kwargs)
        assert e.value.response["Error"]["Code"] == "InvalidRequestException", kwargs
        assert e.value.response["Error"]["Message"] == (
            "A previous rotation isn't complete. That rotation will be reattempted."), kwargs
    # The same request again (an SDK's retry) is answered as the first was.
    again = sm.rotate_secret(**first)
    assert "VersionId" not in again and again["Name"] == name
    d = wait_for(lambda: (lambda d: d if len(d["VersionIdsToStages"]) == 1 else None)(
        sm.describe_secret(SecretId=name)), "the configuration test to end")
    assert abs(d["NextRotationDate"].timestamp() - (time.time() + 10 * 86400)) < 120, d
    rotation = sm.rotate_secret(SecretId=name)["VersionId"]
    d = sm.describe_secret(SecretId=name)
    assert d["VersionIdsToStages"][rotation] == ["AWSPENDING"]
    assert abs(d["NextRotationDate"].timestamp() - (time.time() + 10 * 86400)) < 120, d
    sm.cancel_rotate_secret(SecretId=name)
    # That function never promotes its version: the rotation ends failed (awaited, so the
    # next test's counts are its own).
    failed = wait_for(lambda: events(s, "RotationFailed", arn), "the rotation's end")
    assert "finishSecret did not make the new version AWSCURRENT" in json.dumps(failed)


def test_a_manual_write_during_rotation_abandons_it(rotating):
    """AWS's RotationAbandoned: a new AWSCURRENT written while a rotation is in progress takes
    over; the rotation's version loses AWSPENDING, so the next rotation may start."""
    s = rotating["server"]
    sm = client(s, "secretsmanager")

    # 1. A failed rotation waiting for its retry, then a manual PutSecretValue.
    name = f"abandon-{uuid.uuid4().hex[:6]}"
    arn = sm.create_secret(Name=name, SecretString=secret("abandon-1"))["ARN"]
    token = sm.rotate_secret(SecretId=name, RotationLambdaARN=BROKEN_ARN,
                             RotationRules={"ScheduleExpression": "rate(10 days)"})["VersionId"]
    wait_for(lambda: events(s, "RotationFailed", arn), "RotationFailed")
    manual = secret("abandon-manual")
    put = sm.put_secret_value(SecretId=name, SecretString=manual)
    assert put["VersionStages"] == ["AWSCURRENT"]
    abandoned = events(s, "RotationAbandoned", arn)
    assert len(abandoned) == 1
    assert abandoned[0]["eventType"] == "AwsServiceEvent"
    assert abandoned[0]["serviceEventDetails"]["versionId"] == token
    stages = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
    assert token not in stages or "AWSPENDING" not in stages[token]
    assert sm.get_secret_value(SecretId=name)["SecretString"] == manual
    # No rotation is in progress any more: a new one starts (and fails again, here).
    again = sm.rotate_secret(SecretId=name)["VersionId"]
    assert again != token
    wait_for(lambda: len(events(s, "RotationFailed", arn)) == 2, "the second rotation's end")
    sm.cancel_rotate_secret(SecretId=name)

    # 2. A rotation still running when the manual write lands ends as abandoned, not failed.
    name = f"abandon-run-{uuid.uuid4().hex[:6]}"
    arn = sm.create_secret(Name=name, SecretString=secret("abandon-2"))["ARN"]
    abandoned_before, failed_before = metric(s, "abandoned"), metric(s, "failed")
    token = sm.rotate_secret(SecretId=name, RotationLambdaARN=SLOW_ARN)["VersionId"]
    wait_for(lambda: events(s, "RotationStarted", arn), "RotationStarted")
    manual = secret("abandon-running")
    sm.update_secret(SecretId=name, SecretString=manual)
    wait_for(lambda: metric(s, "abandoned") == abandoned_before + 1, "abandoned outcome")
    assert metric(s, "failed") == failed_before
    assert not events(s, "RotationFailed", arn) and not events(s, "RotationSucceeded", arn)
    assert events(s, "RotationAbandoned", arn)[0]["serviceEventDetails"]["versionId"] == token
    assert sm.get_secret_value(SecretId=name)["SecretString"] == manual
    sm.cancel_rotate_secret(SecretId=name)


def test_bad_rotation_requests_change_nothing(rotating):
    s = rotating["server"]
    sm = client(s, "secretsmanager")
    name = f"rot-bad-{uuid.uuid4().hex[:6]}"
    sm.create_secret(Name=name, SecretString=secret("rot-bad"))
    cases = [
        (dict(RotationLambdaARN=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:nope"),
         "InvalidRequestException", "no rotation function"),
        (dict(), "InvalidRequestException", "No Lambda rotation function ARN"),
        (dict(RotationLambdaARN=FUNCTION_ARN, RotationRules={"AutomaticallyAfterDays": 1001}),
         "InvalidParameterException", "AutomaticallyAfterDays"),
        (dict(RotationLambdaARN=FUNCTION_ARN,
              RotationRules={"AutomaticallyAfterDays": 2, "ScheduleExpression": "rate(2 days)"}),
         "InvalidParameterException", "both"),
        (dict(RotationLambdaARN=FUNCTION_ARN, RotationRules={"ScheduleExpression": "rate(1 hours)"}),
         "InvalidParameterException", "four hours"),
        (dict(RotationLambdaARN=FUNCTION_ARN,
              RotationRules={"ScheduleExpression": "cron(0 16 1,15 * 2 *)"}),
         "InvalidParameterException", "exactly one of Day-of-month and Day-of-week"),
        (dict(RotationLambdaARN=FUNCTION_ARN,
              RotationRules={"ScheduleExpression": "cron(0 */2 * * ? *)"}),
         "InvalidParameterException", "four hours"),
        # Found by fuzzing: an empty list item made the next-rotation search spin for seconds.
        (dict(RotationLambdaARN=FUNCTION_ARN,
              RotationRules={"ScheduleExpression": "cron(1 11,15 , * ? *)", "Duration": "2h"}),
         "InvalidParameterException", "empty item"),
        # Found by fuzzing: a huge hour count overflowed the interval (next rotation before now).
        (dict(RotationLambdaARN=FUNCTION_ARN,
              RotationRules={"ScheduleExpression": "rate(30000000000002 hours)"}),
         "InvalidParameterException", "at most rate(24000 hours)"),
        # Found by fuzzing: syntax outside AWS's cron grammar that the parser took as "never".
        (dict(RotationLambdaARN=FUNCTION_ARN,
              RotationRules={"ScheduleExpression": "cron(0 0 ? * + *)"}),
         "InvalidParameterException", "not in cron()'s syntax"),
        # Found by fuzzing: valid syntax that never fires (no 31st in April); the search gives
        # up at AWS's last year, 2199.
        (dict(RotationLambdaARN=FUNCTION_ARN,
              RotationRules={"ScheduleExpression": "cron(0 5 31W 4 ? *)"}),
         "InvalidParameterException", "ScheduleExpression"),
    ]
    for kwargs, code, words in cases:
        with pytest.raises(ClientError) as e:
            sm.rotate_secret(SecretId=name, **kwargs)
        assert e.value.response["Error"]["Code"] == code, (kwargs, e.value.response)
        assert words in e.value.response["Error"]["Message"], e.value.response
        d = sm.describe_secret(SecretId=name)
        assert "RotationEnabled" not in d and len(d["VersionIdsToStages"]) == 1, d


def test_cron_schedules_set_the_next_rotation(rotating):
    """RotateImmediately=false only schedules: NextRotationDate is the cron expression's next
    time (UTC), and nothing rotates now."""
    import datetime as dt
    s = rotating["server"]
    sm = client(s, "secretsmanager")
    name = f"rot-cron-{uuid.uuid4().hex[:6]}"
    sm.create_secret(Name=name, SecretString=secret("rot-cron"))
    sm.rotate_secret(SecretId=name, RotationLambdaARN=FUNCTION_ARN, RotateImmediately=False,
                     RotationRules={"ScheduleExpression": "cron(0 16 1,15 * ? *)",
                                    "Duration": "2h"})
    d = sm.describe_secret(SecretId=name)
    now = dt.datetime.now(dt.timezone.utc)
    want = min(t for t in (
        dt.datetime(now.year + (now.month // 12 if m == 1 else 0), m, day, 16, tzinfo=dt.timezone.utc)
        for m in (now.month, now.month % 12 + 1) for day in (1, 15)) if t > now)
    assert d["NextRotationDate"] == want, (d["NextRotationDate"], want)
    assert d["RotationEnabled"] is True
    assert d["RotationRules"] == {"ScheduleExpression": "cron(0 16 1,15 * ? *)", "Duration": "2h"}
    # The configuration test's AWSPENDING copy is removed once it ran; nothing rotated.
    d = wait_for(lambda: (lambda d: d if len(d["VersionIdsToStages"]) == 1 else None)(
        sm.describe_secret(SecretId=name)), "the configuration test to end")
    assert "LastRotatedDate" not in d


def test_rotate_immediately_false_tests_the_configuration(rotating):
    """As AWS: RotateImmediately=false runs only testSecret, against an AWSPENDING copy of the
    current value that is removed afterwards. A working configuration changes nothing; a broken
    one is reported (RotationFailed, "configuration test") before the schedule finds out."""
    s = rotating["server"]
    sm = client(s, "secretsmanager")
    user, first = f"rott_{uuid.uuid4().hex[:10]}", secret("config-test")
    db = root_db()
    with db.cursor() as c:
        c.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (first,))

    def configured(password):
        name = f"rot-test-{uuid.uuid4().hex[:6]}"
        arn = sm.create_secret(Name=name, SecretString=json.dumps(
            {"engine": "mariadb", "host": "127.0.0.1", "port": 3306, "username": user,
             "password": password}))["ARN"]
        sm.rotate_secret(SecretId=name, RotationLambdaARN=MYSQL_BUILTIN_ARN,
                         RotateImmediately=False, RotationRules={"AutomaticallyAfterDays": 30})
        d = wait_for(lambda: (lambda d: d if len(d["VersionIdsToStages"]) == 1 else None)(
            sm.describe_secret(SecretId=name)), "the configuration test to end")
        return name, arn, d

    name, arn, d = configured(first)
    assert list(d["VersionIdsToStages"].values()) == [["AWSCURRENT"]]
    assert "LastRotatedDate" not in d and d["RotationEnabled"] is True
    assert not events(s, "RotationStarted", arn) and not events(s, "RotationFailed", arn)
    assert can_login(user, first), "nothing rotated"
    sm.cancel_rotate_secret(SecretId=name)

    name, arn, d = configured(secret("not-the-password"))
    failed = wait_for(lambda: events(s, "RotationFailed", arn), "RotationFailed")
    reason = failed[0]["serviceEventDetails"]["reason"]
    assert reason.startswith("configuration test (RotateImmediately=false): step testSecret"), reason
    assert can_login(user, first)
    sm.cancel_rotate_secret(SecretId=name)
    with db.cursor() as c:
        c.execute(f"DROP USER IF EXISTS '{user}'@'%'")
    db.close()


def test_the_functions_role_must_trust_lambda(rotating):
    s = rotating["server"]
    sm = client(s, "secretsmanager")
    name = f"rot-untrusted-{uuid.uuid4().hex[:6]}"
    value = secret("rot-untrusted")
    arn = sm.create_secret(Name=name, SecretString=value)["ARN"]
    sm.rotate_secret(SecretId=name, RotationLambdaARN=UNTRUSTED_ARN,
                     RotationRules={"AutomaticallyAfterDays": 7})
    failed = wait_for(lambda: events(s, "RotationFailed", arn), "RotationFailed")
    assert "does not trust lambda.amazonaws.com" in failed[0]["serviceEventDetails"]["reason"]
    assert sm.get_secret_value(SecretId=name)["SecretString"] == value
    # The function never ran: no call was made as that role.
    assert not [r for r in events(s, "DescribeSecret", arn)
                if "not-for-lambda" in r["userIdentity"].get("arn", "")]


def psql(sql):
    p = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", sql],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def scram_matches(stored, password):
    """Whether PostgreSQL's stored SCRAM-SHA-256 verifier is for `password` (RFC 5802)."""
    _, rest = stored.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key = keys.split(":")[0]
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt),
                                 int(iterations))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return base64.b64encode(hashlib.sha256(client_key).digest()).decode() == stored_key


def test_builtin_mysql_rotator_needs_no_function(rotating):
    s = rotating["server"]
    sm = client(s, "secretsmanager")
    user = f"rotb_{uuid.uuid4().hex[:10]}"
    first = secret("builtin-mysql")
    db = root_db()
    with db.cursor() as c:
        c.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (first,))
    # MariaDB's general query log (to a table) is on while the rotation runs: the statement
    # that changes the password must carry its hash, never the password.
    with db.cursor() as c:
        c.execute("SELECT @@global.general_log, @@global.log_output")
        log_was, output_was = c.fetchone()
        c.execute("SET GLOBAL log_output = 'TABLE'")
        c.execute("SET GLOBAL general_log = 1")
    try:
        name = f"builtin-mysql-{uuid.uuid4().hex[:6]}"
        arn = sm.create_secret(Name=name, SecretString=json.dumps(
            {"engine": "mariadb", "host": "127.0.0.1", "port": 3306, "username": user,
             "password": first}))["ARN"]
        token = sm.rotate_secret(SecretId=name, RotationLambdaARN=MYSQL_BUILTIN_ARN,
                                 RotationRules={"AutomaticallyAfterDays": 7})["VersionId"]
        wait_for(lambda: events(s, "RotationSucceeded", arn) or events(s, "RotationFailed", arn),
                 "the rotation to end")
        with db.cursor() as c:
            c.execute("SET GLOBAL general_log = %s", (log_was,))
            c.execute("SELECT CONVERT(argument USING utf8mb4) FROM mysql.general_log "
                      "WHERE user_host LIKE %s", (f"{user}%",))
            logged = [r[0] for r in c.fetchall()]
        assert events(s, "RotationSucceeded", arn), events(s, "RotationFailed", arn)
        d = sm.describe_secret(SecretId=name)
        assert "AWSCURRENT" in d["VersionIdsToStages"][token] and d.get("LastRotatedDate")
        new = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])["password"]
        remember(new)
        assert new != first and len(new) == 32
        assert can_login(user, new) and not can_login(user, first)
        set_password = [q for q in logged if q.upper().startswith("SET PASSWORD")]
        assert len(set_password) == 1, logged
        assert new not in "\n".join(logged) and first not in "\n".join(logged)
        digest = hashlib.sha1(hashlib.sha1(new.encode()).digest()).hexdigest().upper()
        assert f"*{digest}" in set_password[0]
    finally:
        with db.cursor() as c:
            c.execute("SET GLOBAL general_log = %s", (log_was,))
            c.execute("SET GLOBAL log_output = %s", (output_was,))
            c.execute("TRUNCATE TABLE mysql.general_log")
            c.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        db.close()


def test_builtin_postgresql_rotator_changes_the_stored_verifier(rotating):
    """PostgreSQL here trusts every local login, so the check is the server's stored SCRAM
    verifier: after rotation it is the new password's, not the old one's."""
    s = rotating["server"]
    sm = client(s, "secretsmanager")
    role = f"rotb_{uuid.uuid4().hex[:10]}"
    first = secret("builtin-pg")
    psql(f"CREATE ROLE {role} LOGIN PASSWORD '{first}'")
    try:
        verifier = lambda: psql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'")
        assert scram_matches(verifier(), first)
        name = f"builtin-pg-{uuid.uuid4().hex[:6]}"
        arn = sm.create_secret(Name=name, SecretString=json.dumps(
            {"engine": "postgres", "host": "127.0.0.1", "port": 5432, "username": role,
             "password": first, "dbname": "postgres"}))["ARN"]
        sm.rotate_secret(SecretId=name, RotationLambdaARN=PG_BUILTIN_ARN,
                         RotationRules={"ScheduleExpression": "rate(30 days)"})
        wait_for(lambda: events(s, "RotationSucceeded", arn) or events(s, "RotationFailed", arn),
                 "the rotation to end")
        assert events(s, "RotationSucceeded", arn), events(s, "RotationFailed", arn)
        new = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])["password"]
        remember(new)
        assert scram_matches(verifier(), new) and not scram_matches(verifier(), first)
    finally:
        psql(f"DROP ROLE IF EXISTS {role}")


def test_builtin_rotators_enforce_the_tls_they_are_configured_with(rotating):
    """tls = verify-full trusts only ca-file: the local PostgreSQL's certificate verifies
    (host localhost) with it and not without; tls = require refuses MariaDB here, whose TLS
    is off. A refused connection fails the rotation and changes nothing."""
    s = rotating["server"]
    sm = client(s, "secretsmanager")
    role = f"rott_{uuid.uuid4().hex[:10]}"
    first = secret("tls-pg")
    psql(f"CREATE ROLE {role} LOGIN PASSWORD '{first}'")
    verifier = lambda: psql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'")
    try:
        def rotate(function):
            name = f"tls-{uuid.uuid4().hex[:6]}"
            arn = sm.create_secret(Name=name, SecretString=json.dumps(
                {"engine": "postgres", "host": "localhost", "port": 5432, "username": role,
                 "password": first, "dbname": "postgres"}))["ARN"]
            sm.rotate_secret(SecretId=name, RotationLambdaARN=function,
                             RotationRules={"AutomaticallyAfterDays": 30})
            wait_for(lambda: events(s, "RotationSucceeded", arn) or
                     events(s, "RotationFailed", arn), "the rotation to end")
            return name, arn

        name, arn = rotate(PG_UNTRUSTED_ARN)
        failed = events(s, "RotationFailed", arn)
        assert failed, events(s, "RotationSucceeded", arn)
        reason = failed[0]["serviceEventDetails"]["reason"].lower()
        assert "certificate" in reason or "tls" in reason or "ssl" in reason, reason
        assert scram_matches(verifier(), first), "the password must not have changed"

        name, arn = rotate(PG_VERIFIED_ARN)
        assert events(s, "RotationSucceeded", arn), events(s, "RotationFailed", arn)
        new = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])["password"]
        remember(new)
        assert scram_matches(verifier(), new)
    finally:
        psql(f"DROP ROLE IF EXISTS {role}")

    name = f"tls-my-{uuid.uuid4().hex[:6]}"
    arn = sm.create_secret(Name=name, SecretString=json.dumps(
        {"engine": "mariadb", "host": "127.0.0.1", "port": 3306, "username": "nobody",
         "password": secret("tls-my")}))["ARN"]
    sm.rotate_secret(SecretId=name, RotationLambdaARN=MYSQL_TLS_ARN,
                     RotationRules={"AutomaticallyAfterDays": 30})
    failed = wait_for(lambda: events(s, "RotationFailed", arn), "RotationFailed")
    reason = failed[0]["serviceEventDetails"]["reason"].lower()
    assert reason.startswith("step setsecret:") and ("tls" in reason or "ssl" in reason), reason


def rotate_and_wait(s, sm, name, function):
    arn = sm.describe_secret(SecretId=name)["ARN"]
    before = len(events(s, "RotationSucceeded", arn)) + len(events(s, "RotationFailed", arn))
    sm.rotate_secret(SecretId=name, RotationLambdaARN=function,
                     RotationRules={"AutomaticallyAfterDays": 30})
    wait_for(lambda: len(events(s, "RotationSucceeded", arn)) +
             len(events(s, "RotationFailed", arn)) > before, "the rotation to end")
    assert not events(s, "RotationFailed", arn), events(s, "RotationFailed", arn)
    current = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])
    remember(current["password"])
    return current


def test_builtin_alternating_users_mariadb(rotating):
    """mysql-multi-user: the administrator (masterarn) creates NAME_clone with NAME's grants
    and a new password; the previous login keeps working until the next rotation, which
    moves back to NAME with a new password."""
    s = rotating["server"]
    sm = client(s, "secretsmanager")
    user, db_name = f"alt_{uuid.uuid4().hex[:8]}", f"altdb_{uuid.uuid4().hex[:8]}"
    first = secret("alt-mysql")
    db = root_db()
    with db.cursor() as c:
        c.execute(f"CREATE DATABASE {db_name}")
        c.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (first,))
        c.execute(f"GRANT SELECT ON {db_name}.* TO '{user}'@'%'")
    try:
        master = sm.describe_secret(SecretId=MYSQL_MASTER)["ARN"]
        name = f"alt-mysql-{uuid.uuid4().hex[:6]}"
        sm.create_secret(Name=name, SecretString=json.dumps(
            {"engine": "mariadb", "host": "127.0.0.1", "port": 3306, "username": user,
             "password": first, "masterarn": master}))
        one = rotate_and_wait(s, sm, name, MYSQL_MULTI_ARN)
        assert one["username"] == f"{user}_clone" and one["masterarn"] == master
        assert can_login(one["username"], one["password"])
        assert can_login(user, first), "the previous login still works"
        with db.cursor() as c:
            c.execute(f"SHOW GRANTS FOR '{user}_clone'@'%'")
            assert any(db_name in g[0] and "SELECT" in g[0] for g in c.fetchall())
        two = rotate_and_wait(s, sm, name, MYSQL_MULTI_ARN)
        assert two["username"] == user and two["password"] not in (first, one["password"])
        assert can_login(user, two["password"]) and not can_login(user, first)
        assert can_login(f"{user}_clone", one["password"]), "the clone keeps its login"
    finally:
        with db.cursor() as c:
            c.execute(f"DROP USER IF EXISTS '{user}'@'%'")
            c.execute(f"DROP USER IF EXISTS '{user}_clone'@'%'")
            c.execute(f"DROP DATABASE IF EXISTS {db_name}")
        db.close()


def test_builtin_alternating_users_postgresql(rotating):
    """postgresql-multi-user: NAME_clone is created as a member of NAME (its privileges) with
    a SCRAM verifier of the new password; NAME's own password is untouched."""
    s = rotating["server"]
    sm = client(s, "secretsmanager")
    role = f"alt_{uuid.uuid4().hex[:8]}"
    first = secret("alt-pg")
    psql(f"CREATE ROLE {role} LOGIN PASSWORD '{first}'")
    verifier = lambda r: psql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{r}'")
    try:
        master = sm.describe_secret(SecretId=PG_MASTER)["ARN"]
        name = f"alt-pg-{uuid.uuid4().hex[:6]}"
        sm.create_secret(Name=name, SecretString=json.dumps(
            {"engine": "postgres", "host": "127.0.0.1", "port": 5432, "username": role,
             "password": first, "dbname": "postgres", "masterarn": master}))
        one = rotate_and_wait(s, sm, name, PG_MULTI_ARN)
        assert one["username"] == f"{role}_clone"
        assert scram_matches(verifier(f"{role}_clone"), one["password"])
        assert scram_matches(verifier(role), first), "the previous login is untouched"
        assert psql(f"SELECT pg_has_role('{role}_clone', '{role}', 'MEMBER')") == "t"
        two = rotate_and_wait(s, sm, name, PG_MULTI_ARN)
        assert two["username"] == role and scram_matches(verifier(role), two["password"])
        assert scram_matches(verifier(f"{role}_clone"), one["password"])
    finally:
        psql(f"DROP ROLE IF EXISTS {role}_clone")
        psql(f"DROP ROLE IF EXISTS {role}")


def rotation_refused(s, sm, doc, function):
    """Rotate a secret holding `doc` with `function`: the rotation must fail in setSecret;
    returns the reason."""
    name = f"alt-evil-{uuid.uuid4().hex[:6]}"
    arn = sm.create_secret(Name=name, SecretString=json.dumps(doc))["ARN"]
    sm.rotate_secret(SecretId=name, RotationLambdaARN=function,
                     RotationRules={"AutomaticallyAfterDays": 30})
    failed = wait_for(lambda: events(s, "RotationFailed", arn), "RotationFailed")
    reason = failed[0]["serviceEventDetails"]["reason"]
    assert reason.startswith("step setSecret:"), reason
    sm.cancel_rotate_secret(SecretId=name)
    return reason


def test_alternating_users_cannot_be_turned_on_the_administrator(rotating):
    """Whoever may write a secret must not make the administrator reset or copy an
    administrator: the administrator's secret is the function's (configured), the pair is
    NAME/NAME_clone only, and privileged accounts are refused."""
    s = rotating["server"]
    sm = client(s, "secretsmanager")
    root_hash = None
    db = root_db()
    with db.cursor() as c:
        c.execute("SELECT authentication_string FROM mysql.user WHERE User='root' LIMIT 1")
        root_hash = c.fetchone()[0]
    mysql = {"engine": "mariadb", "host": "127.0.0.1", "port": 3306, "password": "x" * 12}
    reason = rotation_refused(s, sm, {**mysql, "username": "root_clone"}, MYSQL_MULTI_ARN)
    assert "administrator" in reason, reason
    # Another administrator secret named in the value: refused.
    other = sm.create_secret(Name=f"other-admin-{uuid.uuid4().hex[:6]}",
                             SecretString=json.dumps({**mysql, "username": "root"}))["ARN"]
    reason = rotation_refused(s, sm, {**mysql, "username": "app", "masterarn": other},
                              MYSQL_MULTI_ARN)
    assert "masterarn" in reason, reason
    # A user with global privileges is not copied.
    dba = f"dba_{uuid.uuid4().hex[:8]}"
    with db.cursor() as c:
        c.execute(f"CREATE USER '{dba}'@'%%' IDENTIFIED BY %s", (secret("dba"),))
        c.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{dba}'@'%'")
    try:
        reason = rotation_refused(s, sm, {**mysql, "username": dba}, MYSQL_MULTI_ARN)
        assert "global or grantable" in reason, reason
        with db.cursor() as c:
            c.execute("SELECT COUNT(*) FROM mysql.user WHERE User = %s", (f"{dba}_clone",))
            assert c.fetchone()[0] == 0
            c.execute("SELECT authentication_string FROM mysql.user WHERE User='root' LIMIT 1")
            assert c.fetchone()[0] == root_hash, "root untouched"
    finally:
        with db.cursor() as c:
            c.execute(f"DROP USER IF EXISTS '{dba}'@'%'")
        db.close()
    pg = {"engine": "postgres", "host": "127.0.0.1", "port": 5432, "password": "x" * 12,
          "dbname": "postgres"}
    reason = rotation_refused(s, sm, {**pg, "username": "postgres_clone"}, PG_MULTI_ARN)
    assert "administrator" in reason, reason
    su = f"su_{uuid.uuid4().hex[:8]}"
    psql(f"CREATE ROLE {su} LOGIN SUPERUSER PASSWORD 'x'")
    try:
        reason = rotation_refused(s, sm, {**pg, "username": su}, PG_MULTI_ARN)
        assert "administrative attributes" in reason, reason
        assert psql(f"SELECT COUNT(*) FROM pg_roles WHERE rolname = '{su}_clone'") == "0"
    finally:
        psql(f"DROP ROLE IF EXISTS {su}")


def test_builtin_rotator_failure_is_reported_without_values(rotating):
    """A secret that is not a database login fails in createSecret, says why, leaks nothing."""
    s = rotating["server"]
    sm = client(s, "secretsmanager")
    name = f"builtin-bad-{uuid.uuid4().hex[:6]}"
    value = secret("not-json")
    arn = sm.create_secret(Name=name, SecretString=value)["ARN"]
    sm.rotate_secret(SecretId=name, RotationLambdaARN=MYSQL_BUILTIN_ARN,
                     RotationRules={"AutomaticallyAfterDays": 7})
    failed = wait_for(lambda: events(s, "RotationFailed", arn), "RotationFailed")
    reason = failed[0]["serviceEventDetails"]["reason"]
    assert reason.startswith("step createSecret:") and "not a JSON object" in reason, reason
    assert value not in json.dumps(failed)
    assert sm.get_secret_value(SecretId=name)["SecretString"] == value


def test_rotate_secret_needs_lambda_invoke_function(rotating):
    """As in AWS: RotateSecret needs secretsmanager:RotateSecret on the secret and
    lambda:InvokeFunction on the rotation function."""
    s = rotating["server"]
    sm = client(s, "secretsmanager")
    name = f"rot-authz-{uuid.uuid4().hex[:6]}"
    sm.create_secret(Name=name, SecretString=secret("rot-authz"))
    iam = client(s, "iam")
    user = f"rotator-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="rotate", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": ["secretsmanager:RotateSecret", "secretsmanager:DescribeSecret"],
            "Resource": "*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    remember(key["SecretAccessKey"])
    theirs = boto3.client("secretsmanager", endpoint_url=s.endpoint, region_name=REGION,
                          aws_access_key_id=key["AccessKeyId"],
                          aws_secret_access_key=key["SecretAccessKey"], config=NO_RETRY)
    with pytest.raises(ClientError) as e:
        theirs.rotate_secret(SecretId=name, RotationLambdaARN=BROKEN_ARN,
                             RotationRules={"AutomaticallyAfterDays": 7})
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    assert f"lambda:InvokeFunction on resource: {BROKEN_ARN}" in e.value.response["Error"]["Message"]
    assert "RotationEnabled" not in sm.describe_secret(SecretId=name)
    iam.put_user_policy(UserName=user, PolicyName="invoke", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": "lambda:InvokeFunction", "Resource": BROKEN_ARN}]}))
    theirs.rotate_secret(SecretId=name, RotationLambdaARN=BROKEN_ARN,
                         RotationRules={"AutomaticallyAfterDays": 7})
    assert sm.describe_secret(SecretId=name)["RotationEnabled"] is True
