"""Sealed values moved in the store by someone with write access to the SQLite file or the
PostgreSQL database (issue 16 §3): the ciphertexts of two versions of one parameter swapped, of two secrets swapped, of two
versions of one secret swapped. Each value is authenticated with its parameter or secret and
version, so a moved value never decrypts as the other one: every read is refused with AWS's
4xx decryption error (Parameter Store InvalidKeyId, Secrets Manager DecryptionFailure), never
a 500 and never the other value, and nothing of either value reaches the answer or the log."""
import os
import sqlite3
import subprocess
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import MARKER, secret
from server import ACCESS_KEY, REGION, SECRET_KEY, Server

CONFIG = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def client(server, service):
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION, config=CONFIG,
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)


def swap_postgres(store, table, keys, a, b):
    """`swap` in a PostgreSQL store (the home region's schema), in one transaction."""
    def where(row):
        return " AND ".join(f"{k} = '{str(v).replace(chr(39), chr(39) * 2)}'" for k, v in zip(keys, row))
    t = f"strongroom.{table}"
    sql = f"""BEGIN;
CREATE TEMP TABLE moved AS SELECT wrapped_key, ciphertext FROM {t} WHERE {where(a)};
UPDATE {t} SET (wrapped_key, ciphertext) = (SELECT wrapped_key, ciphertext FROM {t} WHERE {where(b)})
    WHERE {where(a)} RETURNING 'swapped';
UPDATE {t} SET (wrapped_key, ciphertext) = (SELECT wrapped_key, ciphertext FROM moved)
    WHERE {where(b)} RETURNING 'swapped';
COMMIT;
"""
    p = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-f", "-", store],
                       input=sql, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["swapped", "swapped"], (table, a, b, p.stdout)


def swap(server, table, keys, a, b):
    """Swap the sealed blobs (wrapped data key and ciphertext) of rows `a` and `b`."""
    if server.store:
        return swap_postgres(server.store, table, keys, a, b)
    data_dir = server.data_dir
    db = sqlite3.connect(os.path.join(data_dir, "strongroom.db"), isolation_level=None)
    where = " AND ".join(f"{k} = ?" for k in keys)
    blobs = [db.execute(f"SELECT wrapped_key, ciphertext FROM {table} WHERE {where}", row).fetchone()
             for row in (a, b)]
    assert None not in blobs, (table, a, b)
    db.execute("BEGIN")
    for row, (wrapped, ct) in zip((a, b), reversed(blobs)):
        n = db.execute(f"UPDATE {table} SET wrapped_key = ?, ciphertext = ? WHERE {where}",
                       (wrapped, ct, *row)).rowcount
        assert n == 1
    db.execute("COMMIT")
    db.close()


def refused(call, code):
    """`call` fails with `code`, HTTP 400, and its message shows no value."""
    with pytest.raises(ClientError) as e:
        call()
    err = e.value.response
    assert err["Error"]["Code"] == code, err
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400, err
    assert MARKER not in str(err)
    return err["Error"]["Message"]


def test_swapped_values_are_refused_with_decryption_errors_and_leak_nothing():
    s = Server(name="tamper")
    ssm, sm = client(s, "ssm"), client(s, "secretsmanager")
    path = f"/tamper-{uuid.uuid4().hex[:6]}"
    secure, plain, untouched = f"{path}/secure", f"{path}/plain", f"/untouched-{uuid.uuid4().hex[:6]}"
    values = {}
    for name, kind in ((secure, "SecureString"), (plain, "String")):
        for v in (1, 2):
            values[(name, v)] = secret(f"tamper-{kind}-v{v}")
            ssm.put_parameter(Name=name, Value=values[(name, v)], Type=kind, Overwrite=v > 1)
    ssm.put_parameter(Name=untouched, Value=secret("tamper-untouched"), Type="SecureString")
    a = sm.create_secret(Name=f"tamper-a-{uuid.uuid4().hex[:6]}", SecretString=secret("tamper-a"))
    b = sm.create_secret(Name=f"tamper-b-{uuid.uuid4().hex[:6]}", SecretString=secret("tamper-b"))
    c_value = secret("tamper-c-v2")
    c = sm.create_secret(Name=f"tamper-c-{uuid.uuid4().hex[:6]}", SecretString=secret("tamper-c-v1"))
    c2 = sm.put_secret_value(SecretId=c["ARN"], SecretString=c_value)
    d = sm.create_secret(Name=f"tamper-d-{uuid.uuid4().hex[:6]}", SecretString=secret("tamper-d"))
    assert s.stop() == 0

    for name in (secure, plain):
        swap(s, "ssm_parameter_values", ("name", "version"), (name, 1), (name, 2))
    swap(s, "secret_versions", ("secret_arn", "version_id"),
         (a["ARN"], a["VersionId"]), (b["ARN"], b["VersionId"]))
    swap(s, "secret_versions", ("secret_arn", "version_id"),
         (c["ARN"], c["VersionId"]), (c2["ARN"], c2["VersionId"]))

    s = Server(name="tamper-restarted", data_dir=s.data_dir)
    try:
        ssm, sm = client(s, "ssm"), client(s, "secretsmanager")
        for name in (secure, plain):
            for selector in ("", ":1", ":2"):
                refused(lambda: ssm.get_parameter(Name=name + selector, WithDecryption=True), "InvalidKeyId")
            refused(lambda: ssm.get_parameters(Names=[name, untouched], WithDecryption=True), "InvalidKeyId")
            refused(lambda: ssm.get_parameter_history(Name=name, WithDecryption=True), "InvalidKeyId")
        # A String is sealed too: without decryption it is refused the same way.
        refused(lambda: ssm.get_parameter(Name=plain), "InvalidKeyId")
        refused(lambda: ssm.get_parameters_by_path(Path=path, WithDecryption=True), "InvalidKeyId")

        for secret_id, version in ((a["ARN"], None), (b["ARN"], None), (c["ARN"], c["VersionId"]),
                                   (c["ARN"], c2["VersionId"])):
            kw = {"VersionId": version} if version else {}
            refused(lambda: sm.get_secret_value(SecretId=secret_id, **kw), "DecryptionFailure")
        batch = sm.batch_get_secret_value(SecretIdList=[a["ARN"], b["ARN"], d["ARN"]])
        assert sorted(e["ErrorCode"] for e in batch["Errors"]) == ["DecryptionFailure"] * 2, batch["Errors"]
        assert [v["ARN"] for v in batch["SecretValues"]] == [d["ARN"]]
        # Through Parameter Store's reference to Secrets Manager: SSM's KMS error.
        refused(lambda: ssm.get_parameter(Name=f"/aws/reference/secretsmanager/{a['Name']}",
                                          WithDecryption=True), "InvalidKeyId")
        # A retry of the write whose version was altered cannot be compared: refused too, not
        # taken as a new write or a match.
        refused(lambda: sm.put_secret_value(SecretId=c["ARN"], ClientRequestToken=c2["VersionId"],
                                            SecretString=c_value), "DecryptionFailure")

        # What was not moved still reads.
        assert ssm.get_parameter(Name=untouched, WithDecryption=True)["Parameter"]["Value"].startswith(MARKER)
        assert sm.get_secret_value(SecretId=d["ARN"])["SecretString"].startswith(MARKER)
        # A new version of a tampered parameter is readable: the store is not wedged.
        fresh = secret("tamper-fresh")
        ssm.put_parameter(Name=secure, Value=fresh, Type="SecureString", Overwrite=True)
        assert ssm.get_parameter(Name=secure, WithDecryption=True)["Parameter"]["Value"] == fresh
    finally:
        assert s.stop() == 0
    log = s.logs()
    # The operator is told which values failed, and no value is in the log.
    assert "a parameter value does not open" in log
    assert "stored value failed authentication" in log
    for value in list(values.values()) + [c_value]:
        assert value not in log
    assert MARKER not in log
