"""`strongroom backup`: a consistent copy of a running server's data directory. Restored, it
serves what existed at the backup (secrets under the managed key and under a customer key,
parameters), its audit log verifies, and nothing in it is plaintext. Without --include-keys
the keys stay out — and the copy cannot be opened without the original root key."""
import json
import os
import subprocess
import tempfile

import boto3
import pytest
from botocore.config import Config

import leaks
from conftest import secret, unique
from server import ACCESS_KEY, E2E_STORE, REGION, SECRET_KEY, Server, binary, work_dir

# `strongroom backup` copies SQLite stores; on PostgreSQL (STRONGROOM_E2E_STORE) it refuses,
# which test_backup_refuses_a_postgres_data_dir checks instead.
sqlite_only = pytest.mark.skipif(bool(E2E_STORE), reason="strongroom backup copies SQLite stores")

ONCE = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def client(server, service):
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION,
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        config=ONCE)


def backup(*args):
    p = subprocess.run([binary(), "backup", *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


@sqlite_only
def test_backup_of_a_running_server_restores_what_it_held():
    s = Server(name="backup-source")
    restored = None
    try:
        sm, kms, ssm = client(s, "secretsmanager"), client(s, "kms"), client(s, "ssm")
        plain_name, cmk_name, param = unique("bk-plain"), unique("bk-cmk"), f"/{unique('bk')}/p"
        v1, v_cmk, v_param = secret("backup-1"), secret("backup-cmk"), secret("backup-param")
        sm.create_secret(Name=plain_name, SecretString=v1)
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        sm.create_secret(Name=cmk_name, SecretString=v_cmk, KmsKeyId=key)
        ssm.put_parameter(Name=param, Value=v_param, Type="SecureString", KeyId=key)

        dest = os.path.join(tempfile.mkdtemp(prefix="bk-", dir=work_dir("data")), "copy")
        code, out, err = backup("--data-dir", s.data_dir, "--to", dest, "--include-keys")
        assert code == 0, err
        assert "strongroom.db" in out and "audit/" in out
        # Written after the backup: not in the copy.
        sm.put_secret_value(SecretId=plain_name, SecretString=secret("backup-later"))
        assert s.stop() == 0

        # Nothing readable in the copy (values, and the root credentials' secret half aside).
        found, scanned = leaks.scan_dirs([dest], leaks.values())
        assert scanned > 0 and not found, found
        for name in ("root.key", "audit-signing.key", "strongroom.db"):
            assert os.stat(os.path.join(dest, name)).st_mode & 0o077 == 0, name

        restored = Server(name="backup-restored", data_dir=dest)
        sm, ssm = client(restored, "secretsmanager"), client(restored, "ssm")
        assert sm.get_secret_value(SecretId=plain_name)["SecretString"] == v1
        assert sm.get_secret_value(SecretId=cmk_name)["SecretString"] == v_cmk
        assert ssm.get_parameter(Name=param, WithDecryption=True)["Parameter"]["Value"] == v_param
        # The audit log came along, verifies, and the index was rebuilt for lookups.
        ct = client(restored, "cloudtrail")
        created = ct.lookup_events(LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": "CreateKey"}])["Events"]
        assert created and json.loads(created[0]["CloudTrailEvent"])["eventName"] == "CreateKey"
        assert restored.stop() == 0
        restored = None
        v = subprocess.run([binary(), "audit", "verify", "--data-dir", dest],
                           capture_output=True, text=True, timeout=120)
        assert v.returncode == 0, v.stdout + v.stderr
    finally:
        s.kill()
        if restored:
            restored.kill()


@sqlite_only
def test_backup_without_keys_and_bad_targets():
    s = Server(name="backup-nokeys")
    try:
        client(s, "secretsmanager").create_secret(Name=unique("bk-nokeys"),
                                                  SecretString=secret("nokeys"))
        dest = os.path.join(tempfile.mkdtemp(prefix="bk-", dir=work_dir("data")), "copy")
        code, _, err = backup("--data-dir", s.data_dir, "--to", dest)
        assert code == 0, err
        assert "root key was not copied" in err
        for name in ("root.key", "audit-signing.key", "root-credentials.json"):
            assert not os.path.exists(os.path.join(dest, name)), name
        # A copy is never written over something.
        code, _, err = backup("--data-dir", s.data_dir, "--to", dest)
        assert code == 2 and "already exists" in err
        code, _, err = backup("--data-dir", dest + "-nothing-here", "--to", dest + "-2")
        assert code == 2 and "not a Strongroom data directory" in err
        # Without the original root key the copy does not open: a new key cannot unwrap the
        # stored KMS keys, and the server refuses to start.
        p = subprocess.run([binary(), "server", "--data-dir", dest, "--listen", "127.0.0.1:0"],
                           capture_output=True, text=True, timeout=60,
                           env={k: v for k, v in os.environ.items()
                                if not k.startswith("STRONGROOM_")})
        assert p.returncode != 0 and "root key does not match" in p.stderr, p.stderr
    finally:
        assert s.stop() == 0


@pytest.mark.skipif(not E2E_STORE, reason="needs STRONGROOM_E2E_STORE (a PostgreSQL store)")
def test_backup_refuses_a_postgres_data_dir():
    s = Server(name="backup-postgres")
    try:
        dest = os.path.join(tempfile.mkdtemp(prefix="bk-pg-", dir=work_dir("data")), "copy")
        code, out, err = backup("--data-dir", s.data_dir, "--to", dest)
        assert code == 2 and "PostgreSQL" in err and "pg_dump" in err, (code, out, err)
        assert not os.path.exists(dest)
    finally:
        assert s.stop() == 0
