"""`strongroom migrate` (issue 11, "Moving data"): a SQLite data dir with real data written by
boto3 — secrets with several versions and labels, a binary one, one scheduled for deletion;
parameters incl. SecureString under the default and a customer key, labels; a KMS key with an
alias, rotated, and ciphertexts from before and after; an IAM user with an access key, inline
and managed policies, a group and a role; an alarm; two regions — moved to a fresh PostgreSQL
database, interrupted (`--limit`) and resumed; a server on the database then answers every
read as the SQLite server did, the user's key works, KMS decrypts the old ciphertexts, and
`audit verify --cluster` passes. A target item that differs is refused unless --overwrite; a
database of another root key is refused; PostgreSQL → a fresh data dir → another database."""
import json
import os
import shutil
import subprocess
import tempfile
import uuid

import boto3
import leaks
import pytest
from botocore.config import Config

from conftest import secret, unique
from server import ACCESS_KEY, REGION, SECRET_KEY, Server, binary, work_dir

ONCE = Config(retries={"total_max_attempts": 1, "mode": "standard"})
WEST = "us-west-2"
REGIONS = ["--regions", f"{REGION},{WEST}"]
PG = os.environ.get("STRONGROOM_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432")


def psql(sql, db="postgres"):
    r = subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-Atc", sql, f"{PG}/{db}"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"psql ({sql!r}): {r.stderr}"
    return r.stdout


def client(server, service, region=REGION, key=ACCESS_KEY, secret_key=SECRET_KEY):
    return boto3.client(service, endpoint_url=server.endpoint, region_name=region,
                        aws_access_key_id=key, aws_secret_access_key=secret_key, config=ONCE)


def migrate(*args):
    """Run `strongroom migrate`; no secret value may appear in what it prints."""
    r = subprocess.run([binary(), "migrate", *args], capture_output=True, text=True, timeout=600,
                       env={**os.environ, "NO_COLOR": "1"})
    out = r.stdout + r.stderr
    found = [v for v in leaks.values() if v in out]
    assert not found, f"secret values in migrate's output: {found}"
    return r.returncode, out


def strip(resp):
    resp = dict(resp)
    resp.pop("ResponseMetadata", None)
    return resp


def snapshot(server, world):
    """Every read the tests compare between the source server and the one on PostgreSQL."""
    sm, ssm, kms = (client(server, s) for s in ("secretsmanager", "ssm", "kms"))
    iam, cw = client(server, "iam"), client(server, "cloudwatch")
    snap = {}
    for name in world["secrets"]:
        snap[f"describe {name}"] = strip(sm.describe_secret(SecretId=name))
        snap[f"versions {name}"] = strip(sm.list_secret_version_ids(SecretId=name,
                                                                    IncludeDeprecated=True))
    snap["list secrets"] = sorted(s["Name"] for s in sm.list_secrets(IncludePlannedDeletion=True)["SecretList"])
    for name in world["parameters"]:
        snap[f"history {name}"] = strip(ssm.get_parameter_history(Name=name, WithDecryption=True))
    snap["describe parameters"] = strip(ssm.describe_parameters())
    snap["key"] = strip(kms.describe_key(KeyId=world["key"]))
    snap["aliases"] = strip(kms.list_aliases())
    snap["rotations"] = strip(kms.list_key_rotations(KeyId=world["key"]))
    snap["users"] = strip(iam.list_users())
    snap["access keys"] = strip(iam.list_access_keys(UserName=world["user"]))
    snap["user policy"] = strip(iam.get_user_policy(UserName=world["user"], PolicyName="read"))
    snap["login profile"] = strip(iam.get_login_profile(UserName=world["user"]))
    snap["password policy"] = strip(iam.get_account_password_policy())
    snap["attached"] = strip(iam.list_attached_user_policies(UserName=world["user"]))
    snap["group"] = strip(iam.get_group(GroupName=world["group"]))
    snap["group policies"] = strip(iam.list_attached_group_policies(GroupName=world["group"]))
    snap["role"] = strip(iam.get_role(RoleName=world["role"]))
    snap["policy"] = strip(iam.get_policy(PolicyArn=world["policy"]))
    # An alarm's state is evaluated by whichever server runs: its configuration is the data.
    snap["alarms"] = [{k: v for k, v in a.items() if not k.startswith("State")}
                      for a in cw.describe_alarms()["MetricAlarms"]]
    west_sm, west_ssm = client(server, "secretsmanager", WEST), client(server, "ssm", WEST)
    snap["west secrets"] = sorted(s["Name"] for s in west_sm.list_secrets()["SecretList"])
    snap["west parameters"] = strip(west_ssm.get_parameters_by_path(Path="/", Recursive=True,
                                                                    WithDecryption=True))
    return snap


def check_values(server, world):
    """The values themselves, the user's access key and KMS's old ciphertexts."""
    sm, kms = client(server, "secretsmanager"), client(server, "kms")
    multi = world["multi"]
    for stage, value in multi["stages"].items():
        got = sm.get_secret_value(SecretId=multi["name"], VersionStage=stage)
        assert got["SecretString"] == value, stage
    assert sm.get_secret_value(SecretId=world["binary"]["name"])["SecretBinary"] == world["binary"]["value"]
    for ct, pt in world["ciphertexts"]:
        assert kms.decrypt(CiphertextBlob=ct)["Plaintext"] == pt
    ssm = client(server, "ssm")
    got = ssm.get_parameter(Name=world["secure"]["name"] + ":old", WithDecryption=True)
    assert got["Parameter"]["Value"] == world["secure"]["old"]
    as_user = client(server, "secretsmanager", key=world["access_key"][0],
                     secret_key=world["access_key"][1])
    assert as_user.get_secret_value(SecretId=multi["name"])["SecretString"] == multi["stages"]["AWSCURRENT"]
    west = client(server, "secretsmanager", WEST)
    assert west.get_secret_value(SecretId=world["west"]["name"])["SecretString"] == world["west"]["value"]


def fill(src):
    """Real data, written by boto3 through the API."""
    sm, ssm, kms = (client(src, s) for s in ("secretsmanager", "ssm", "kms"))
    iam, cw = client(src, "iam"), client(src, "cloudwatch")
    world = {"secrets": [], "parameters": []}

    name = unique("mig-multi")
    v1, v2, v3 = secret("mig-v1"), secret("mig-v2"), secret("mig-v3")
    sm.create_secret(Name=name, SecretString=v1, Tags=[{"Key": "team", "Value": "core"}])
    sm.put_secret_value(SecretId=name, SecretString=v2)
    sm.put_secret_value(SecretId=name, SecretString=v3, VersionStages=["MYLABEL"])
    sm.get_secret_value(SecretId=name)
    world["multi"] = {"name": name, "stages": {"AWSCURRENT": v2, "AWSPREVIOUS": v1, "MYLABEL": v3}}
    bname, bvalue = unique("mig-binary"), b"\x00\xff\x10" + secret("mig-bin").encode()
    sm.create_secret(Name=bname, SecretBinary=bvalue)
    world["binary"] = {"name": bname, "value": bvalue}
    dname = unique("mig-deleted")
    sm.create_secret(Name=dname, SecretString=secret("mig-deleted"))
    sm.delete_secret(SecretId=dname, RecoveryWindowInDays=7)
    world["secrets"] += [name, bname, dname]

    key = kms.create_key(Description="migrated key")["KeyMetadata"]["KeyId"]
    alias = f"alias/mig-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key)
    pt1, pt2 = secret("kms-1").encode(), secret("kms-2").encode()
    ct1 = kms.encrypt(KeyId=alias, Plaintext=pt1)["CiphertextBlob"]
    kms.rotate_key_on_demand(KeyId=key)
    ct2 = kms.encrypt(KeyId=key, Plaintext=pt2)["CiphertextBlob"]
    world.update(key=key, ciphertexts=[(ct1, pt1), (ct2, pt2)])

    ssm.put_parameter(Name="/mig/plain", Value="plain-value", Type="String")
    ssm.put_parameter(Name="/mig/plain", Value="plain-value-2", Type="String", Overwrite=True)
    ssm.put_parameter(Name="/mig/list", Value="a,b,c", Type="StringList")
    old, new = secret("ssm-old"), secret("ssm-new")
    ssm.put_parameter(Name="/mig/secure", Value=old, Type="SecureString")
    ssm.put_parameter(Name="/mig/secure", Value=new, Type="SecureString", Overwrite=True)
    ssm.label_parameter_version(Name="/mig/secure", ParameterVersion=1, Labels=["old"])
    ssm.put_parameter(Name="/mig/cmk", Value=secret("ssm-cmk"), Type="SecureString", KeyId=alias)
    world["secure"] = {"name": "/mig/secure", "old": old}
    world["parameters"] += ["/mig/plain", "/mig/list", "/mig/secure", "/mig/cmk"]

    user, group, role = unique("mig-user"), unique("mig-group"), unique("mig-role")
    iam.create_user(UserName=user)
    ak = iam.create_access_key(UserName=user)["AccessKey"]
    leaks.remember(ak["SecretAccessKey"])
    allow = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}
    iam.put_user_policy(UserName=user, PolicyName="read", PolicyDocument=json.dumps(allow))
    # A console password (moved as its hash) and the account password policy.
    iam.update_account_password_policy(MinimumPasswordLength=10, RequireNumbers=True,
                                       PasswordReusePrevention=2)
    iam.create_login_profile(UserName=user, Password=secret("console"), PasswordResetRequired=True)
    policy = iam.create_policy(PolicyName=unique("mig-policy"),
                               PolicyDocument=json.dumps(allow))["Policy"]["Arn"]
    iam.attach_user_policy(UserName=user, PolicyArn=policy)
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=user)
    iam.attach_group_policy(GroupName=group, PolicyArn=policy)
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
         "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
    world.update(user=user, group=group, role=role, policy=policy,
                 access_key=(ak["AccessKeyId"], ak["SecretAccessKey"]))

    cw.put_metric_alarm(AlarmName=unique("mig-alarm"), MetricName="GetSecretValue",
                        Namespace="AWS/SecretsManager", Period=300, Threshold=10,
                        ComparisonOperator="GreaterThanThreshold", EvaluationPeriods=1,
                        Statistic="Sum")

    wname, wvalue = unique("mig-west"), secret("mig-west")
    client(src, "secretsmanager", WEST).create_secret(Name=wname, SecretString=wvalue)
    client(src, "ssm", WEST).put_parameter(Name="/mig/west", Value=secret("ssm-west"),
                                           Type="SecureString")
    world["west"] = {"name": wname, "value": wvalue}
    return world


class World:
    def __init__(self):
        self.dbs = []
        # SQLite whatever store the run uses: this is the data dir being moved.
        self.src = Server(name="migrate-src", extra_args=["--store", "sqlite", *REGIONS])
        self.dir = self.src.data_dir
        try:
            self.data = fill(self.src)
            self.snapshot = snapshot(self.src, self.data)
        finally:
            assert self.src.stop() == 0
        self.db1 = self.database()

    def database(self):
        db = f"sr_migrate_{uuid.uuid4().hex[:12]}"
        psql(f'CREATE DATABASE "{db}"')
        self.dbs.append(db)
        return f"{PG}/{db}"

    def close(self):
        # The database the data moved to holds no value in plaintext.
        dump = subprocess.run(["pg_dump", "--data-only", self.db1], capture_output=True,
                              text=True, timeout=120)
        for db in self.dbs:
            psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        assert dump.returncode == 0, dump.stderr
        assert "secret_versions" in dump.stdout and "audit_events" in dump.stdout
        found = [v for v in leaks.values() if v in dump.stdout]
        assert not found, f"secret values in the database: {found}"


@pytest.fixture(scope="module")
def world():
    w = World()
    yield w
    w.close()


def test_an_interrupted_migration_resumes_and_verifies(world):
    code, out = migrate("--from", world.dir, "--to", world.db1, "--limit", "7")
    assert code == 1 and "stopped after 7 writes" in out, out
    code, out = migrate("--from", world.dir, "--to", world.db1)
    assert code == 0 and "Verification passed." in out, out
    # The second run found the first one's items there, identical, and copied the rest.
    assert " already there" in out and not [l for l in out.splitlines() if "MISMATCH" in l], out
    counts = {(l.split()[0], " ".join(l.split()[1:-4])): (int(l.split()[-4]), int(l.split()[-3]))
              for l in out.splitlines() if l.startswith((REGION, WEST)) and l.rstrip().endswith(" ok")}
    assert counts[(REGION, "secret versions")] == (5, 5), out
    assert counts[(REGION, "parameter versions")] == (6, 6), out
    assert counts[(WEST, "secrets")] == (1, 1), out
    assert counts[(REGION, "access keys")] == (1, 1), out
    assert "Values opened on the target with the root key: " in out
    opened = int(out.split("Values opened on the target with the root key: ")[1].split()[0].rstrip(";"))
    # 5 secret versions + 1 in us-west-2, 6 parameter versions + 1, 1 access key.
    assert opened >= 14, out
    assert "is in the cluster's history as node" in out and "unbroken chain" in out, out
    # Run again: everything is there already.
    code, again = migrate("--from", world.dir, "--to", world.db1)
    assert code == 0 and " copied, " in again, again
    assert all(" 0 copied, " in l for l in again.splitlines() if l.startswith("migrate: ")), again


def test_a_server_on_postgresql_serves_every_item_identically(world):
    with Server(name="migrate-pg", data_dir=world.dir,
                extra_args=["--store", world.db1, *REGIONS]) as pg:
        try:
            assert snapshot(pg, world.data) == world.snapshot
            check_values(pg, world.data)
        finally:
            assert pg.stop() == 0
    out = subprocess.run([binary(), "audit", "verify", "--cluster", world.db1],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    node = open(os.path.join(world.dir, "node-id")).read().strip()
    assert f"OK: node {node}: " in out.stdout, out.stdout
    records = int(out.stdout.split(f"OK: node {node}: ")[1].split()[0])
    assert records > 30, out.stdout  # the source's calls, then the PostgreSQL server's


def test_a_differing_target_item_is_refused_unless_overwrite(world):
    name = world.data["multi"]["name"]
    with Server(name="migrate-pg-change", data_dir=world.dir,
                extra_args=["--store", world.db1, *REGIONS]) as pg:
        try:
            client(pg, "secretsmanager").put_secret_value(SecretId=name,
                                                          SecretString=secret("changed"))
        finally:
            assert pg.stop() == 0
    code, out = migrate("--from", world.dir, "--to", world.db1)
    assert code == 1, out
    assert "secrets: 0 copied" in out and "left differing" in out, out
    assert "MISMATCH" in out and name in out and "Verification FAILED" in out, out
    code, out = migrate("--from", world.dir, "--to", world.db1, "--overwrite")
    # Replaced: that secret, and those the server there read (their LastAccessedDate).
    assert code == 0 and " replaced" in out and "Verification passed." in out, out


def test_postgresql_to_a_fresh_data_dir_and_back(world):
    fresh = tempfile.mkdtemp(prefix="migrate-back-", dir=work_dir("data"))
    shutil.rmtree(fresh)
    code, out = migrate("--from", world.db1, "--to", fresh, "--data-dir", world.dir)
    assert code == 0 and "Verification passed." in out, out
    assert "stays in the database" in out and "keeps its own chain" in out, out
    for f in ("root.key", "account-id"):
        assert open(os.path.join(fresh, f), "rb").read() == open(os.path.join(world.dir, f), "rb").read()
    assert oct(os.stat(os.path.join(fresh, "root.key")).st_mode & 0o777) == "0o600"
    db2 = world.database()
    code, out = migrate("--from", fresh, "--to", db2)
    assert code == 0 and "Verification passed." in out, out
    with Server(name="migrate-back", data_dir=fresh, extra_args=["--store", "sqlite", *REGIONS]) as s:
        try:
            assert snapshot(s, world.data) == world.snapshot
            check_values(s, world.data)
        finally:
            assert s.stop() == 0


def test_a_database_of_another_root_key_is_refused(world):
    other = world.database()
    s = Server(name="migrate-other", extra_args=["--store", other])
    assert s.stop() == 0
    code, out = migrate("--from", world.dir, "--to", other)
    assert code == 2 and "root key" in out, out
    # Nothing was written there.
    assert psql("SELECT count(*) FROM strongroom.secrets", other.rsplit("/", 1)[1]).strip() == "0"
