"""Multi-Region secrets between the regions of one deployment, with boto3: replicas follow
every change of their primary (values, labels, tags, description), each sealed under its own
region's key; replicas are read-only and answer writes as AWS does; a primary with replicas
cannot be deleted; a same-named secret blocks a replica unless overwriting is asked for;
replicas are removed or promoted."""
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
import boto3

from conftest import secret, unique
from server import ACCESS_KEY, ACCOUNT, SECRET_KEY, Server

ONCE = Config(retries={"total_max_attempts": 1, "mode": "standard"})
EAST, WEST, EU = "us-east-1", "us-west-2", "eu-west-1"


@pytest.fixture(scope="module")
def server():
    s = Server(name="replication", extra_args=["--regions", f"{EAST},{WEST},{EU}"])
    yield s
    assert s.stop() == 0


def client(server, service, region):
    return boto3.client(service, endpoint_url=server.endpoint, region_name=region,
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        config=ONCE)


def error(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def statuses(d):
    return {r["Region"]: r for r in d.get("ReplicationStatus", [])}


def test_replicas_follow_their_primary_and_are_read_only(server):
    east, west, eu = (client(server, "secretsmanager", r) for r in (EAST, WEST, EU))
    eu_key = client(server, "kms", EU).create_key()["KeyMetadata"]
    name, v1, v2 = unique("repl"), secret("repl-v1"), secret("repl-v2")
    primary = east.create_secret(Name=name, SecretString=v1, Description="first",
                                 Tags=[{"Key": "team", "Value": "a"}])
    out = east.replicate_secret_to_regions(
        SecretId=name,
        AddReplicaRegions=[{"Region": WEST}, {"Region": EU, "KmsKeyId": eu_key["KeyId"]}])
    assert out["ARN"] == primary["ARN"]
    st = statuses(out)
    assert st[WEST]["Status"] == st[EU]["Status"] == "InSync", out
    assert st[EU]["KmsKeyId"] == eu_key["KeyId"]
    assert st[WEST]["KmsKeyId"] == "alias/aws/secretsmanager"

    west_arn = primary["ARN"].replace(f":{EAST}:", f":{WEST}:")
    d = west.describe_secret(SecretId=name)
    assert d["ARN"] == west_arn and d["PrimaryRegion"] == EAST
    assert d["Description"] == "first" and d["Tags"] == [{"Key": "team", "Value": "a"}]
    assert west.get_secret_value(SecretId=west_arn)["SecretString"] == v1
    assert eu.get_secret_value(SecretId=name)["SecretString"] == v1
    assert eu.describe_secret(SecretId=name)["KmsKeyId"] == eu_key["KeyId"]
    pd = east.describe_secret(SecretId=name)
    assert pd["PrimaryRegion"] == EAST and set(statuses(pd)) == {WEST, EU}

    # Every change of the primary reaches the replicas in the same request.
    version = east.put_secret_value(SecretId=name, SecretString=v2)["VersionId"]
    east.update_secret(SecretId=name, Description="second")
    east.tag_resource(SecretId=name, Tags=[{"Key": "env", "Value": "prod"}])
    for replica in (west, eu):
        got = replica.get_secret_value(SecretId=name)
        assert got["SecretString"] == v2 and got["VersionId"] == version
        assert replica.get_secret_value(SecretId=name,
                                        VersionStage="AWSPREVIOUS")["SecretString"] == v1
        d = replica.describe_secret(SecretId=name)
        assert d["Description"] == "second"
        assert {t["Key"] for t in d["Tags"]} == {"team", "env"}
    # The replica region's reads are its own: LastAccessedDate shows in the primary's status.
    assert "LastAccessedDate" in statuses(east.describe_secret(SecretId=name))[WEST]

    # Replicas are read-only, in AWS's words; a primary with replicas cannot be deleted.
    read_only = ("InvalidParameterException",
                 "Operation not permitted on a replica secret. "
                 "Call must be made in primary secret's region.")
    assert error(lambda: west.put_secret_value(SecretId=name, SecretString="x")) == read_only
    assert error(lambda: west.tag_resource(SecretId=name,
                                           Tags=[{"Key": "k", "Value": "v"}])) == read_only
    assert error(lambda: west.delete_secret(SecretId=name,
                                            ForceDeleteWithoutRecovery=True)) == read_only
    assert error(lambda: west.replicate_secret_to_regions(
        SecretId=name, AddReplicaRegions=[{"Region": EU}])) == read_only
    code, message = error(lambda: east.delete_secret(SecretId=name))
    assert code == "InvalidParameterException"
    assert message == (f"You can't delete secret {primary['ARN']} that still has replica "
                       f"regions [{WEST}, {EU}].")
    assert east.get_secret_value(SecretId=name)["SecretString"] == v2

    # Listing by primary region finds the replicas.
    listed = west.list_secrets(Filters=[{"Key": "primary-region", "Values": [EAST]}])
    assert name in [s["Name"] for s in listed["SecretList"]]
    assert all(s["PrimaryRegion"] == EAST for s in listed["SecretList"])

    # Removing a region deletes its replica; stopping replication promotes the other.
    out = east.remove_regions_from_replication(SecretId=name, RemoveReplicaRegions=[EU])
    assert set(statuses(out)) == {WEST}
    assert error(lambda: eu.describe_secret(SecretId=name))[0] == "ResourceNotFoundException"
    assert west.stop_replication_to_replica(SecretId=name)["ARN"] == west_arn
    d = west.describe_secret(SecretId=name)
    assert "PrimaryRegion" not in d and "ReplicationStatus" not in d
    assert "ReplicationStatus" not in east.describe_secret(SecretId=name)
    west.put_secret_value(SecretId=name, SecretString=secret("repl-standalone"))
    assert east.get_secret_value(SecretId=name)["SecretString"] == v2
    east.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    west.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


def test_replica_regions_are_checked_and_a_same_named_secret_is_kept_unless_overwritten(server):
    east, west = client(server, "secretsmanager", EAST), client(server, "secretsmanager", WEST)
    name = unique("repl-dup")
    # Refused regions create nothing.
    for regions, words in (([EAST], "Invalid replica region"),
                           (["ap-south-1"], "not a region this deployment serves"),
                           ([WEST, WEST], "more than once")):
        code, message = error(lambda: east.create_secret(
            Name=name, SecretString="x", AddReplicaRegions=[{"Region": r} for r in regions]))
        assert code == "InvalidParameterException" and words in message, message
    assert error(lambda: east.describe_secret(SecretId=name))[0] == "ResourceNotFoundException"

    mine = secret("repl-mine")
    west.create_secret(Name=name, SecretString=mine)
    theirs = secret("repl-theirs")
    created = east.create_secret(Name=name, SecretString=theirs,
                                 AddReplicaRegions=[{"Region": WEST}])
    st = statuses(created)[WEST]
    assert st["Status"] == "Failed"
    assert st["StatusMessage"] == "Secret with this name already exists in this region"
    assert west.get_secret_value(SecretId=name)["SecretString"] == mine
    out = east.replicate_secret_to_regions(SecretId=name, AddReplicaRegions=[{"Region": WEST}],
                                           ForceOverwriteReplicaSecret=True)
    assert statuses(out)[WEST]["Status"] == "InSync"
    assert west.get_secret_value(SecretId=name)["SecretString"] == theirs
    assert west.describe_secret(SecretId=name)["ARN"] == created["ARN"].replace(
        f":{EAST}:", f":{WEST}:")
    east.remove_regions_from_replication(SecretId=name, RemoveReplicaRegions=[WEST])
    east.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    assert ACCOUNT in created["ARN"]
