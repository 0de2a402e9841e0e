"""Multi-Region secrets whose replica region is another Strongroom deployment (a peer), with
boto3 against both: the primary deployment delivers over the peer's own Secrets Manager API,
signed with an IAM user's keys there; replicas follow values, labels, tags and descriptions,
are read-only on the peer, report InSync / Failed honestly on the primary, and a peer that was
down receives everything, in order, when it returns. Name conflicts, ForceOverwriteReplicaSecret,
removal, promotion on the peer and the peer's IAM refusing the delivery are covered too."""
import json
import os
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import secret, unique
from server import ACCESS_KEY, SECRET_KEY, Server, work_dir

ONCE = Config(retries={"total_max_attempts": 1, "mode": "standard"})
EAST, EU = "us-east-1", "eu-west-1"
DELIVERY_ACTIONS = ["secretsmanager:PutReplicaSecret", "secretsmanager:DeleteReplicaSecret"]
# What the primary's IAM user on the peer may do.
DELIVER = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": DELIVERY_ACTIONS, "Resource": "*"}]})


def client(server, service, region, keys=(ACCESS_KEY, SECRET_KEY)):
    return boto3.client(service, endpoint_url=server.endpoint, region_name=region,
                        aws_access_key_id=keys[0], aws_secret_access_key=keys[1], config=ONCE)


def error(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def status(sm, name, region=EU):
    for r in sm.describe_secret(SecretId=name).get("ReplicationStatus", []):
        if r["Region"] == region:
            return r
    return None


def wait_status(sm, name, want, timeout=30):
    deadline, last = time.time() + timeout, None
    while time.time() < deadline:
        last = status(sm, name)
        if last and last["Status"] == want:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{name}: replica status {last} never became {want}")


def wait_value(sm, name, value, timeout=30):
    deadline, last = time.time() + timeout, None
    while time.time() < deadline:
        try:
            last = sm.get_secret_value(SecretId=name)["SecretString"]
            if last == value:
                return
        except ClientError as e:
            last = e.response["Error"]["Code"]
        time.sleep(0.2)
    raise AssertionError(f"{name}: the peer's value is {last!r}, not the primary's")


class Peers:
    """Deployment B serves eu-west-1; deployment A serves us-east-1 and replicates to B."""

    def __init__(self):
        self.b = Server(name="peer-b", extra_args=["--region", EU])
        iam = client(self.b, "iam", EU)
        iam.create_user(UserName="replicator")
        iam.put_user_policy(UserName="replicator", PolicyName="deliver", PolicyDocument=DELIVER)
        key = iam.create_access_key(UserName="replicator")["AccessKey"]
        self.replicator_arn = iam.get_user(UserName="replicator")["User"]["Arn"]
        secret_file = os.path.join(work_dir("data"), f"peer-secret-{self.b.port}")
        with open(secret_file, "w") as f:
            f.write(key["SecretAccessKey"] + "\n")
        os.chmod(secret_file, 0o600)
        self.config = os.path.join(work_dir("data"), f"peer-a-{self.b.port}.toml")
        with open(self.config, "w") as f:
            f.write(f'''[[peer-region]]
region = "{EU}"
endpoint = "{self.b.endpoint}"
access-key-id = "{key["AccessKeyId"]}"
secret-access-key-file = "{secret_file}"
''')
        self.a = Server(name="peer-a", extra_args=["--region", EAST, "--config", self.config])
        self.east = client(self.a, "secretsmanager", EAST)
        self.eu = client(self.b, "secretsmanager", EU)

    def restart_b(self):
        assert self.b.stop() == 0
        self.b = Server(name="peer-b", extra_args=["--region", EU], data_dir=self.b.data_dir,
                        port=self.b.port)
        self.eu = client(self.b, "secretsmanager", EU)


@pytest.fixture(scope="module")
def peers():
    p = Peers()
    yield p
    assert p.a.stop() == 0
    assert p.b.stop() == 0


def test_a_replica_in_a_peer_follows_its_primary_and_is_read_only(peers):
    east, eu = peers.east, peers.eu
    name, v1, v2 = unique("peer"), secret("peer-v1"), secret("peer-v2")
    created = east.create_secret(Name=name, SecretString=v1, Description="first",
                                 Tags=[{"Key": "team", "Value": "a"}],
                                 AddReplicaRegions=[{"Region": EU}])
    # Asynchronous, as in AWS: the first answer may not be InSync yet.
    assert created["ReplicationStatus"][0]["Region"] == EU
    assert created["ReplicationStatus"][0]["Status"] in ("InProgress", "InSync")
    st = wait_status(east, name, "InSync")
    assert st["KmsKeyId"] == "alias/aws/secretsmanager" and "StatusMessage" not in st

    d = eu.describe_secret(SecretId=name)
    assert d["ARN"] == created["ARN"].replace(f":{EAST}:", f":{EU}:")
    assert d["PrimaryRegion"] == EAST
    assert d["Description"] == "first" and d["Tags"] == [{"Key": "team", "Value": "a"}]
    got = eu.get_secret_value(SecretId=name)
    assert got["SecretString"] == v1 and got["VersionId"] == created["VersionId"]

    # Every later change arrives: a value (labels move), tags, the description.
    v2_id = east.put_secret_value(SecretId=name, SecretString=v2)["VersionId"]
    east.tag_resource(SecretId=name, Tags=[{"Key": "tier", "Value": "gold"}])
    east.update_secret(SecretId=name, Description="second")
    wait_status(east, name, "InSync")
    wait_value(eu, name, v2)
    assert eu.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")["SecretString"] == v1
    d = eu.describe_secret(SecretId=name)
    assert d["Description"] == "second"
    assert sorted(t["Key"] for t in d["Tags"]) == ["team", "tier"]
    assert d["VersionIdsToStages"][v2_id] == ["AWSCURRENT"]

    # Read-only on the peer, in AWS's words.
    code, msg = error(lambda: eu.put_secret_value(SecretId=name, SecretString=secret("no")))
    assert code == "InvalidParameterException" and msg.startswith("Operation not permitted on a replica secret")
    code, _ = error(lambda: eu.delete_secret(SecretId=name))
    assert code == "InvalidParameterException"
    # The primary cannot be deleted while it has the replica.
    code, msg = error(lambda: east.delete_secret(SecretId=name))
    assert code == "InvalidParameterException" and EU in msg

    # A read on the peer shows as the replica's LastAccessedDate after the next delivery.
    east.tag_resource(SecretId=name, Tags=[{"Key": "touch", "Value": "1"}])
    wait_status(east, name, "InSync")
    assert "LastAccessedDate" in status(east, name)

    # The peer audited the deliveries as calls of its replicator user, without the values.
    trail = client(peers.b, "cloudtrail", EU)
    events = trail.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "PutReplicaSecret"}])["Events"]
    mine = [json.loads(e["CloudTrailEvent"]) for e in events
            if any(r.get("ResourceName") in (name, d["ARN"]) for r in e.get("Resources", []))
            or name in e["CloudTrailEvent"]]
    assert mine, "no PutReplicaSecret record on the peer"
    assert all(r["userIdentity"]["arn"] == peers.replicator_arn for r in mine)
    assert all(v1 not in json.dumps(r) and v2 not in json.dumps(r) for r in mine)


def test_a_peer_that_was_down_gets_every_change_in_order_when_it_returns(peers):
    east = peers.east
    name, v1 = unique("away"), secret("away-v1")
    east.create_secret(Name=name, SecretString=v1, AddReplicaRegions=[{"Region": EU}])
    wait_status(east, name, "InSync")
    assert peers.b.stop() == 0

    v2, v3 = secret("away-v2"), secret("away-v3")
    v2_id = east.put_secret_value(SecretId=name, SecretString=v2)["VersionId"]
    v3_id = east.put_secret_value(SecretId=name, SecretString=v3)["VersionId"]
    east.tag_resource(SecretId=name, Tags=[{"Key": "while", "Value": "away"}])
    failed = wait_status(east, name, "Failed")
    assert "could not be reached" in failed["StatusMessage"] and EU in failed["StatusMessage"]
    # The primary itself is unaffected.
    assert east.get_secret_value(SecretId=name)["SecretString"] == v3

    peers.restart_b()
    wait_status(east, name, "InSync", timeout=60)
    eu = peers.eu
    assert eu.get_secret_value(SecretId=name)["SecretString"] == v3
    assert eu.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")["SecretString"] == v2
    assert eu.get_secret_value(SecretId=name, VersionId=v2_id)["SecretString"] == v2
    ids = {v["VersionId"]: v.get("VersionStages", []) for v in eu.list_secret_version_ids(
        SecretId=name, IncludeDeprecated=True)["Versions"]}
    primary_ids = {v["VersionId"]: v.get("VersionStages", []) for v in east.list_secret_version_ids(
        SecretId=name, IncludeDeprecated=True)["Versions"]}
    assert ids == primary_ids and ids[v3_id] == ["AWSCURRENT"]
    assert {"Key": "while", "Value": "away"} in eu.describe_secret(SecretId=name)["Tags"]


def test_a_same_named_secret_on_the_peer_blocks_the_replica_unless_overwriting(peers):
    east, eu = peers.east, peers.eu
    name = unique("clash")
    eu.create_secret(Name=name, SecretString=secret("theirs"))
    mine = secret("mine")
    east.create_secret(Name=name, SecretString=mine, AddReplicaRegions=[{"Region": EU}])
    failed = wait_status(east, name, "Failed")
    assert "Secret with this name already exists in this region" in failed["StatusMessage"]
    assert "PrimaryRegion" not in eu.describe_secret(SecretId=name)

    east.replicate_secret_to_regions(SecretId=name, AddReplicaRegions=[{"Region": EU}],
                                     ForceOverwriteReplicaSecret=True)
    wait_status(east, name, "InSync")
    assert eu.describe_secret(SecretId=name)["PrimaryRegion"] == EAST
    assert eu.get_secret_value(SecretId=name)["SecretString"] == mine


def test_removal_deletes_the_peer_replica_and_promotion_there_stops_deliveries(peers):
    east, eu = peers.east, peers.eu
    gone, kept = unique("removed"), unique("promoted")
    for n in (gone, kept):
        east.create_secret(Name=n, SecretString=secret(n), AddReplicaRegions=[{"Region": EU}])
        wait_status(east, n, "InSync")

    out = east.remove_regions_from_replication(SecretId=gone, RemoveReplicaRegions=[EU])
    assert out["ReplicationStatus"] == []
    code, _ = error(lambda: eu.describe_secret(SecretId=gone))
    assert code == "ResourceNotFoundException"
    east.delete_secret(SecretId=gone, ForceDeleteWithoutRecovery=True)

    # Promoted on the peer: a standalone, writable secret there; the primary's next delivery
    # is refused and says why.
    eu.stop_replication_to_replica(SecretId=kept)
    assert "PrimaryRegion" not in eu.describe_secret(SecretId=kept)
    local = secret("local")
    eu.put_secret_value(SecretId=kept, SecretString=local)
    east.put_secret_value(SecretId=kept, SecretString=secret("later"))
    failed = wait_status(east, kept, "Failed")
    assert "already exists" in failed["StatusMessage"]
    assert eu.get_secret_value(SecretId=kept)["SecretString"] == local
    # Removing the region then forgets it without touching the promoted secret.
    east.remove_regions_from_replication(SecretId=kept, RemoveReplicaRegions=[EU])
    assert eu.get_secret_value(SecretId=kept)["SecretString"] == local


def test_the_peers_iam_decides_whether_deliveries_land(peers):
    east = peers.east
    iam = client(peers.b, "iam", EU)
    iam.delete_user_policy(UserName="replicator", PolicyName="deliver")
    try:
        name = unique("denied")
        east.create_secret(Name=name, SecretString=secret("denied"),
                           AddReplicaRegions=[{"Region": EU}])
        failed = wait_status(east, name, "Failed")
        assert failed["StatusMessage"].startswith("AccessDeniedException"), failed
        assert "secretsmanager:PutReplicaSecret" in failed["StatusMessage"]
    finally:
        iam.put_user_policy(UserName="replicator", PolicyName="deliver", PolicyDocument=DELIVER)
    # Allowed again: the retry lands.
    wait_status(east, name, "InSync", timeout=90)


def test_peer_configuration_errors_stop_the_start():
    cfg = os.path.join(work_dir("data"), "peer-bad.toml")
    with open(cfg, "w") as f:
        f.write(f'[[peer-region]]\nregion = "{EAST}"\nendpoint = "http://127.0.0.1:1"\n'
                'access-key-id = "AKIA"\nsecret-access-key-env = "NOPE_NOT_SET"\n')
    with pytest.raises(RuntimeError) as e:
        Server(name="peer-bad", extra_args=["--region", EAST, "--config", cfg])
    assert "peer-region" in str(e.value) and "served here" in str(e.value)
    with open(cfg, "w") as f:
        f.write(f'[[peer-region]]\nregion = "{EU}"\nendpoint = "http://127.0.0.1:1"\n'
                'access-key-id = "AKIA"\nsecret-access-key-env = "NOPE_NOT_SET"\n')
    with pytest.raises(RuntimeError) as e:
        Server(name="peer-bad", extra_args=["--region", EAST, "--config", cfg])
    assert "NOPE_NOT_SET" in str(e.value)
