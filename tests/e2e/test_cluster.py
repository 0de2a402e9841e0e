"""Several Strongroom nodes on one PostgreSQL database (issue 11), driven by boto3 and the
CLI: the first node initializes the cluster, a second joins with a copy of its root key and
serves the same secrets; a node with another root key is refused; every node's audit records
are in one history — LookupEvents on either node finds a call the other served, at once — and
`strongroom audit verify --cluster` checks every node's chain."""
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
NODE_ARGS = ["--alarm-interval-secs", "1"]
PG = os.environ.get("STRONGROOM_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432")


def psql(sql, db="postgres"):
    r = subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-Atc", sql, f"{PG}/{db}"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"psql ({sql!r}): {r.stderr}"
    return r.stdout


def client(server, service):
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION,
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        config=ONCE)


class Cluster:
    def __init__(self):
        self.db = f"sr_cluster_{uuid.uuid4().hex[:12]}"
        psql(f'CREATE DATABASE "{self.db}"')
        self.url = f"{PG}/{self.db}"
        self.a = Server(name="node-a", extra_args=["--store", self.url, *NODE_ARGS])
        # The second node's data dir: only a copy of the first's root key.
        self.b_dir = tempfile.mkdtemp(prefix="node-b-", dir=work_dir("data"))
        shutil.copy(os.path.join(self.a.data_dir, "root.key"), self.b_dir)
        self.b = Server(name="node-b", data_dir=self.b_dir, extra_args=["--store", self.url, *NODE_ARGS])

    def close(self):
        codes = [self.a.stop(), self.b.stop()]
        # The shared database holds no value in plaintext (stores and audit history alike).
        dump = subprocess.run(["pg_dump", "--data-only", self.url], capture_output=True,
                              text=True, timeout=120)
        psql(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
        assert dump.returncode == 0, dump.stderr
        assert "audit_events" in dump.stdout and "CreateSecret" in dump.stdout
        found = [v for v in leaks.values() if v in dump.stdout]
        assert not found, f"secret values in the cluster's database: {found}"
        assert codes == [0, 0]


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    yield c
    c.close()


def test_a_node_with_the_root_key_joins_and_serves_the_same_secrets(cluster):
    a, b = client(cluster.a, "secretsmanager"), client(cluster.b, "secretsmanager")
    name, v1, v2 = unique("cluster"), secret("cluster-v1"), secret("cluster-v2")
    created = a.create_secret(Name=name, SecretString=v1)
    got = b.get_secret_value(SecretId=name)
    assert got["SecretString"] == v1 and got["ARN"] == created["ARN"]
    b.put_secret_value(SecretId=name, SecretString=v2)
    assert b.get_secret_value(SecretId=name)["SecretString"] == v2
    # The joining node adopted the cluster's account (its data dir had none).
    with open(os.path.join(cluster.b_dir, "account-id")) as f:
        assert f.read().strip() == created["ARN"].split(":")[4]
    # Each node has its own id for its audit chain.
    ids = {open(os.path.join(d, "node-id")).read().strip()
           for d in (cluster.a.data_dir, cluster.b_dir)}
    assert len(ids) == 2


def test_every_nodes_records_are_in_one_history(cluster):
    a, b = client(cluster.a, "secretsmanager"), client(cluster.b, "secretsmanager")
    name = unique("audited")
    a.create_secret(Name=name, SecretString=secret("audited"))
    request_id = b.describe_secret(SecretId=name)["ResponseMetadata"]["RequestId"]
    # Read-your-writes across nodes: node A finds at once the call node B served.
    trail = client(cluster.a, "cloudtrail")
    events = trail.lookup_events(LookupAttributes=[
        {"AttributeKey": "ResourceName", "AttributeValue": name}])["Events"]
    records = [json.loads(e["CloudTrailEvent"]) for e in events]
    names = sorted(r["eventName"] for r in records)
    assert names == ["CreateSecret", "DescribeSecret"], names
    assert any(r.get("requestID") == request_id for r in records)

    out = subprocess.run([binary(), "audit", "verify", "--cluster", cluster.url],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = [l for l in out.stdout.splitlines() if l.startswith("OK: node ")]
    assert len(lines) == 2, out.stdout

    # Tampering with a record in the shared table is found and named.
    psql("UPDATE strongroom_audit.audit_events SET record = replace(record, 'DescribeSecret', "
         "'DeleteSecret') WHERE pos = (SELECT max(pos) FROM strongroom_audit.audit_events "
         "WHERE event_name = 'DescribeSecret')", cluster.db)
    out = subprocess.run([binary(), "audit", "verify", "--cluster", cluster.url],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "TAMPERED" in out.stdout and "altered" in out.stdout.lower(), out.stdout


def test_a_node_with_another_root_key_is_refused(cluster):
    with pytest.raises(RuntimeError) as e:
        Server(name="node-stranger", extra_args=["--store", cluster.url, *NODE_ARGS])
    assert "root key is not this node's" in str(e.value)


def eventually(check, what, seconds=2.0):
    """`check` true within `seconds` (the nodes' bound is 1 s; announcements take ms)."""
    import time
    deadline = time.time() + seconds
    while True:
        try:
            got = check()
        except Exception as e:  # noqa: BLE001 (a refused call is a "not yet")
            got, last = False, e
        else:
            last = got
        if got:
            return got
        if time.time() > deadline:
            raise AssertionError(f"{what}: not within {seconds} s (last: {last!r})")
        time.sleep(0.05)


def test_each_nodes_memory_follows_the_others_writes(cluster):
    a_sm, b_sm = client(cluster.a, "secretsmanager"), client(cluster.b, "secretsmanager")
    # A cached secret on B is dropped when A writes it.
    name, v1, v2 = unique("cached"), secret("cached-v1"), secret("cached-v2")
    a_sm.create_secret(Name=name, SecretString=v1)
    for _ in range(3):
        assert b_sm.get_secret_value(SecretId=name)["SecretString"] == v1
    a_sm.put_secret_value(SecretId=name, SecretString=v2)
    eventually(lambda: b_sm.get_secret_value(SecretId=name)["SecretString"] == v2,
               "B serves A's new value")

    # An access key made on A works on B; deactivated on A, B refuses it.
    iam = client(cluster.a, "iam")
    user = unique("clusteruser")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "secretsmanager:DescribeSecret", "Resource": "*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    as_user = boto3.client("secretsmanager", endpoint_url=cluster.b.endpoint, region_name=REGION,
                           aws_access_key_id=key["AccessKeyId"],
                           aws_secret_access_key=key["SecretAccessKey"], config=ONCE)
    eventually(lambda: as_user.describe_secret(SecretId=name)["Name"] == name,
               "B knows A's new user, key and policy")
    iam.update_access_key(UserName=user, AccessKeyId=key["AccessKeyId"], Status="Inactive")

    def refused():
        try:
            as_user.describe_secret(SecretId=name)
            return False
        except Exception as e:  # noqa: BLE001
            return "UnrecognizedClient" in str(e) or "InvalidClientTokenId" in str(e)
    eventually(refused, "B refuses the key A deactivated")

    # A KMS key and alias made on A are usable on B.
    kms_a, kms_b = client(cluster.a, "kms"), client(cluster.b, "kms")
    k = kms_a.create_key()["KeyMetadata"]["KeyId"]
    alias = f"alias/{unique('cluster')}"
    kms_a.create_alias(AliasName=alias, TargetKeyId=k)
    blob = eventually(lambda: kms_b.encrypt(KeyId=alias, Plaintext=b"across-nodes")["CiphertextBlob"],
                      "B encrypts with A's new key by its alias")
    assert kms_a.decrypt(CiphertextBlob=blob)["Plaintext"] == b"across-nodes"


def test_a_policy_changed_on_one_node_is_enforced_on_the_other_within_a_second(cluster):
    import time
    name = unique("policed")
    client(cluster.a, "secretsmanager").create_secret(Name=name, SecretString=secret("policed"))
    iam = client(cluster.a, "iam")
    user = unique("policeduser")
    iam.create_user(UserName=user)

    def allow(*actions):
        return json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": list(actions), "Resource": "*"}]})
    iam.put_user_policy(UserName=user, PolicyName="read", PolicyDocument=allow(
        "secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    on_b = boto3.client("secretsmanager", endpoint_url=cluster.b.endpoint, region_name=REGION,
                        aws_access_key_id=key["AccessKeyId"],
                        aws_secret_access_key=key["SecretAccessKey"], config=ONCE)
    eventually(lambda: on_b.get_secret_value(SecretId=name)["Name"] == name,
               "B knows A's user, key and policy")

    def denied(call):
        def check():
            try:
                call()
                return False
            except on_b.exceptions.ClientError as e:
                return e.response["Error"]["Code"] == "AccessDeniedException"
        return check

    # A permission removed through A (the policy replaced by a narrower one)...
    iam.put_user_policy(UserName=user, PolicyName="read",
                        PolicyDocument=allow("secretsmanager:DescribeSecret"))
    changed = time.time()
    eventually(denied(lambda: on_b.get_secret_value(SecretId=name)),
               "B refuses what A's new policy no longer allows", seconds=1.0)
    assert time.time() - changed <= 1.0
    assert on_b.describe_secret(SecretId=name)["Name"] == name
    # ...and an explicit Deny added through A: B enforces both within a second.
    iam.put_user_policy(UserName=user, PolicyName="deny", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Action": "secretsmanager:DescribeSecret", "Resource": "*"}]}))
    changed = time.time()
    eventually(denied(lambda: on_b.describe_secret(SecretId=name)),
               "B enforces the Deny added on A", seconds=1.0)
    assert time.time() - changed <= 1.0


def test_an_alarm_counts_the_calls_of_every_node(cluster):
    name = unique("alarmed")
    client(cluster.a, "secretsmanager").create_secret(Name=name, SecretString=secret("alarmed"))
    cw_a, cw_b = client(cluster.a, "cloudwatch"), client(cluster.b, "cloudwatch")
    alarm = unique("versions-alarm")
    cw_a.put_metric_alarm(AlarmName=alarm, MetricName="ListSecretVersionIds",
                          Namespace="AWS/SecretsManager", Statistic="Sum", Period=300,
                          EvaluationPeriods=1, Threshold=10,
                          ComparisonOperator="GreaterThanThreshold")
    a, b = client(cluster.a, "secretsmanager"), client(cluster.b, "secretsmanager")
    for _ in range(5):
        a.list_secret_version_ids(SecretId=name)
        b.list_secret_version_ids(SecretId=name)
    # Ten calls, five on each node: not more than ten.
    import time
    time.sleep(3)
    for cw in (cw_a, cw_b):
        assert cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"] in ("OK", "INSUFFICIENT_DATA")
    b.list_secret_version_ids(SecretId=name)
    for cw in (cw_a, cw_b):
        eventually(lambda: cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"] == "ALARM",
                   "the alarm fires on eleven calls spread over two nodes", seconds=8)
    # Either node's statistics count both nodes' calls.
    import datetime
    now = datetime.datetime.now(datetime.timezone.utc)
    for cw in (cw_a, cw_b):
        stats = eventually(lambda: cw.get_metric_statistics(
            Namespace="AWS/SecretsManager", MetricName="ListSecretVersionIds",
            StartTime=now - datetime.timedelta(minutes=10), EndTime=now + datetime.timedelta(minutes=1),
            Period=3600, Statistics=["Sum"])["Datapoints"], "datapoints", seconds=3)
        assert sum(d["Sum"] for d in stats) == 11, stats

def background_role(server):
    import urllib.request
    with urllib.request.urlopen(f"{server.endpoint}/health", timeout=2) as r:
        return json.load(r)["background"]


def test_one_node_runs_the_background_work_and_another_takes_over_when_it_dies(cluster):
    import time
    nodes = {"a": cluster.a, "b": cluster.b}
    roles = eventually(lambda: (lambda r: r if sorted(r.values()) == ["leader", "standby"] else None)(
        {k: background_role(s) for k, s in nodes.items()}), "exactly one leader", seconds=5)
    leader = next(k for k, r in roles.items() if r == "leader")
    other = "b" if leader == "a" else "a"
    dead = nodes[leader]
    dead.kill()  # no goodbye: its lease must run out
    t0 = time.time()
    eventually(lambda: background_role(nodes[other]) == "leader", "the other node takes over",
               seconds=12)
    assert time.time() - t0 <= 12
    # Back on its data dir it is a standby: the lease stays where it is.
    back = Server(name=f"node-{leader}", data_dir=dead.data_dir, extra_args=["--store", cluster.url, *NODE_ARGS])
    setattr(cluster, leader, back)
    time.sleep(3)
    assert background_role(back) == "standby"
    assert background_role(nodes[other]) == "leader"
    # A node that stops cleanly hands the work over at once (it releases its lease).
    assert nodes[other].stop() == 0
    eventually(lambda: background_role(back) == "leader", "the clean hand-over", seconds=4)
    setattr(cluster, other, Server(name=f"node-{other}", data_dir=nodes[other].data_dir,
                                   extra_args=["--store", cluster.url, *NODE_ARGS]))


def test_nodes_started_together_on_an_empty_database_make_one_cluster():
    """Three nodes with the same root key and no configured root credentials, started at once
    on an empty database: one initializes the cluster (account, generated root credentials,
    managed keys) and the others join it — one set of managed keys, and the generated
    credentials work on every node."""
    from concurrent.futures import ThreadPoolExecutor
    db = f"sr_together_{uuid.uuid4().hex[:12]}"
    psql(f'CREATE DATABASE "{db}"')
    url = f"{PG}/{db}"
    dirs = [tempfile.mkdtemp(prefix=f"together-{i}-", dir=work_dir("data")) for i in range(3)]
    key_line = "strongroom-root-key-v1:" + os.urandom(32).hex() + "\n"
    for d in dirs:
        with open(os.path.join(d, "root.key"), "w") as f:
            f.write(key_line)
        os.chmod(os.path.join(d, "root.key"), 0o600)
    nodes = []
    try:
        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(Server, name=f"together-{i}", data_dir=d, root_credentials=None,
                                   extra_args=["--store", url, *NODE_ARGS])
                       for i, d in enumerate(dirs)]
            for f in futures:
                try:
                    nodes.append(f.result())
                except Exception as e:  # keep the others to stop them
                    nodes.append(e)
        started = [n for n in nodes if isinstance(n, Server)]
        assert len(started) == 3, [str(n) for n in nodes if not isinstance(n, Server)]
        # Exactly one node generated root credentials; the others use the cluster's.
        made = [d for d in dirs if os.path.exists(os.path.join(d, "root-credentials.json"))]
        assert len(made) == 1, made
        with open(os.path.join(made[0], "root-credentials.json")) as f:
            creds = json.load(f)
        targets = set()
        for n in started:
            kms = boto3.client("kms", endpoint_url=n.endpoint, region_name=REGION,
                               aws_access_key_id=creds["access_key_id"],
                               aws_secret_access_key=creds["secret_access_key"], config=ONCE)
            aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
            targets.add(aliases["alias/aws/secretsmanager"])
            assert len(kms.list_keys()["Keys"]) == len(
                [a for a in aliases if a.startswith("alias/aws/")]), "one key per managed alias"
        assert len(targets) == 1, f"the nodes made their own managed keys: {targets}"
        # The credentials are in the database only sealed.
        dump = subprocess.run(["pg_dump", "--data-only", url], capture_output=True, text=True,
                              timeout=120)
        assert dump.returncode == 0, dump.stderr
        assert creds["secret_access_key"] not in dump.stdout
        assert psql("SELECT count(*) FROM strongroom.cluster WHERE root_credentials IS NOT NULL",
                    db).strip() == "1"
    finally:
        codes = [n.stop() for n in nodes if isinstance(n, Server)]
        psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    assert codes == [0, 0, 0]
