"""ClientRequestToken retries racing their original (issue 16 §3): 64 boto3 clients, each on
its own thread and connection, send the same request at the same moment. AWS's contract holds
under any interleaving: the same token with the same value is a no-op success (one version),
with a different value ResourceExistsException."""
import threading
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import secret, unique
from server import ACCESS_KEY, REGION, SECRET_KEY

COPIES = 64
CONFIG = Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=2)


def clients(server, n):
    session = boto3.session.Session()
    return [session.client("secretsmanager", endpoint_url=server.endpoint, region_name=REGION, config=CONFIG,
                           aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY) for _ in range(n)]


def race(server, call):
    """Run call(client, i) on COPIES threads released together; returns results in order."""
    cs = clients(server, COPIES)
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


@pytest.mark.parametrize("operation", ["put_secret_value", "update_secret"])
def test_racing_retries_with_the_same_value_all_succeed(server, sm, operation):
    for attempt in range(3):
        name = unique(f"race-{operation.replace('_', '-')}")
        sm.create_secret(Name=name, SecretString=secret("race-initial"))
        token = str(uuid.uuid4())
        value = secret("race-same")
        method = operation

        def call(c, i):
            kwargs = {"SecretId": name, "ClientRequestToken": token, "SecretString": value}
            return getattr(c, method)(**kwargs)["VersionId"]

        results = race(server, call)
        assert results == [("ok", token)] * COPIES, [r for r in results if r != ("ok", token)][:5]
        versions = sm.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)["Versions"]
        assert len(versions) == 2
        assert sm.get_secret_value(SecretId=name)["SecretString"] == value


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


def test_racing_create_secret_retries_create_one_secret(server, sm):
    name = unique("race-create")
    token = str(uuid.uuid4())
    value = secret("race-create")
    results = race(server, lambda c, i: c.create_secret(Name=name, ClientRequestToken=token,
                                                        SecretString=value)["VersionId"])
    assert results == [("ok", token)] * COPIES, [r for r in results if r != ("ok", token)][:5]
    assert len(sm.list_secret_version_ids(SecretId=name)["Versions"]) == 1
