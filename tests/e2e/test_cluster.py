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
        self.a = Server(name="node-a", extra_args=["--store", self.url])
        # The second node's data dir: only a copy of the first's root key.
        self.b_dir = tempfile.mkdtemp(prefix="node-b-", dir=work_dir("data"))
        shutil.copy(os.path.join(self.a.data_dir, "root.key"), self.b_dir)
        self.b = Server(name="node-b", data_dir=self.b_dir, extra_args=["--store", self.url])

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
        Server(name="node-stranger", extra_args=["--store", cluster.url])
    assert "root key is not this node's" in str(e.value)
