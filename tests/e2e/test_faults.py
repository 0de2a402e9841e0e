"""Faults (issue 16 §5), with real file-system faults: the audit directory on a small tmpfs that
fills up, and the SQLite store locked by another process. (A read-only remount is not testable
this way: the kernel refuses to remount read-only while the log file is open for writing —
and a full file system exercises the same failed-write path.) The server
must fail closed — refuse with AWS's InternalFailure and serve nothing unaudited — and recover
without a restart when the fault clears; `strongroom audit verify` passes afterwards.

Mounting needs root (CI and these machines run as root); the test fails, never skips, if the
mount is refused."""
import os
import sqlite3
import subprocess
import threading
import time
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import MARKER, secret
from server import ACCESS_KEY, REGION, SECRET_KEY, Server, binary, psql

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30)


def client(server):
    return boto3.client("secretsmanager", endpoint_url=server.endpoint, region_name=REGION, config=NO_RETRY,
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)


def mount(*args):
    p = subprocess.run(["mount", *args], capture_output=True, text=True)
    assert p.returncode == 0, f"mount {' '.join(args)} failed (root is needed for this test): {p.stderr}"


@pytest.fixture
def small_audit_fs(tmp_path):
    """A data dir whose audit/ directory is a 4 MiB tmpfs."""
    data = tmp_path / "data"
    audit = data / "audit"
    audit.mkdir(parents=True)
    mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(audit))
    yield str(data), str(audit)
    subprocess.run(["umount", "-l", str(audit)], capture_output=True)


def refused_internal(call):
    with pytest.raises(ClientError) as e:
        call()
    err = e.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 500, err
    assert err["Error"]["Code"] in ("InternalServiceError", "InternalFailure"), err
    return err


def fill(path):
    """Fill the file system holding `path` with a filler file; returns its path."""
    filler = os.path.join(path, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def audit_verify(data_dir):
    p = subprocess.run([binary(), "audit", "verify", "--data-dir", data_dir], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def ready(server):
    """(status, JSON body) of the server's GET /ready."""
    import json
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(f"{server.endpoint}/ready", timeout=5) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def test_a_full_audit_file_system_refuses_requests_and_recovers_without_restart(small_audit_fs):
    data, audit = small_audit_fs
    s = Server(name="faults-full", data_dir=data)
    try:
        sm = client(s)
        name = f"faults-{uuid.uuid4().hex[:6]}x"
        value = secret("faults-full")
        sm.create_secret(Name=name, SecretString=value)
        filler = fill(audit)
        # The log's last page may still take a few records; once a record cannot be written,
        # nothing more is served.
        for _ in range(100):
            try:
                sm.get_secret_value(SecretId=name)
            except ClientError as e:
                assert e.response["Error"]["Code"] == "InternalFailure", e.response
                break
        else:
            raise AssertionError("100 reads served with the audit file system full")
        # Nothing is served while its record cannot be written: not the value, not a write.
        for _ in range(3):
            err = refused_internal(lambda: sm.get_secret_value(SecretId=name))
            assert value not in str(err) and MARKER not in str(err)
        # The log looks again at most once a second whether it can write; a look must not find it
        # writable while the file system is still full (a request admitted then would change the
        # store and only then fail to record it).
        time.sleep(1.2)
        refused_internal(lambda: sm.get_secret_value(SecretId=name))
        time.sleep(0.5)
        refused_internal(lambda: sm.put_secret_value(SecretId=name, SecretString=secret("faults-refused")))
        # Not ready, and /ready says why; still alive.
        status, body = ready(s)
        assert status == 503 and body["failing"] == ["audit"] and body["audit"] == "unwritable", body
        assert body["store"] == {"us-east-1": "ok"}, body
        # Space returns: served again without a restart.
        os.remove(filler)
        deadline = time.time() + 15
        while True:
            try:
                got = sm.get_secret_value(SecretId=name)
                break
            except ClientError:
                assert time.time() < deadline, "the server did not recover within 15 s of space returning"
                time.sleep(0.5)
        assert got["SecretString"] == value
        status, body = ready(s)
        assert status == 200 and body["status"] == "ready" and body["failing"] == [], body
        # The write refused while full did not happen.
        versions = sm.list_secret_version_ids(SecretId=name)["Versions"]
        assert len(versions) == 1, versions
    finally:
        assert s.stop() == 0
    audit_verify(data)


def hold_postgres_lock(store):
    """Another session locks the secrets table against writes for 2 s; returns once it holds
    the lock, and a function that waits for its release."""
    locker = subprocess.Popen(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-c",
                               "BEGIN; LOCK TABLE strongroom.secrets IN EXCLUSIVE MODE; "
                               "SELECT pg_sleep(2); COMMIT;", store],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while psql("SELECT COUNT(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
               "WHERE c.relname = 'secrets' AND l.mode = 'ExclusiveLock' AND l.granted",
               url=store).strip() != "1":
        assert locker.poll() is None and time.time() < deadline, locker.stderr.read()
        time.sleep(0.05)
    return lambda: locker.wait(10) == 0


def test_the_store_locked_by_another_process_delays_but_loses_nothing():
    """Another process holds the store's write lock for 2 s (SQLite's, or a PostgreSQL table
    lock): writes meanwhile either wait and succeed or fail with an AWS-shaped error — and
    every acknowledged one is readable after."""
    s = Server(name="faults-locked")
    try:
        sm = client(s)
        name = f"faults-lock-{uuid.uuid4().hex[:6]}x"
        sm.create_secret(Name=name, SecretString=secret("faults-lock-0"))
        released = threading.Event()
        if s.store:
            wait_postgres = hold_postgres_lock(s.store)

            def release():
                assert wait_postgres()
                released.set()
        else:
            db = sqlite3.connect(os.path.join(s.data_dir, "strongroom.db"), timeout=10,
                                 isolation_level=None, check_same_thread=False)
            db.execute("BEGIN EXCLUSIVE")

            def release():
                time.sleep(2)
                db.execute("COMMIT")
                db.close()
                released.set()

        threading.Thread(target=release).start()
        acked, refused = [], []
        for i in range(3):
            value = secret(f"faults-lock-{i + 1}")
            try:
                acked.append((sm.put_secret_value(SecretId=name, SecretString=value)["VersionId"], value))
            except ClientError as e:
                assert e.response["Error"]["Code"] in ("InternalServiceError", "InternalFailure"), e.response
                refused.append(value)
        released.wait(10)
        for vid, value in acked:
            assert sm.get_secret_value(SecretId=name, VersionId=vid)["SecretString"] == value
        # Once the lock is gone, writes succeed again.
        sm.put_secret_value(SecretId=name, SecretString=secret("faults-lock-after"))
    finally:
        assert s.stop() == 0
    audit_verify(s.data_dir)


@pytest.fixture
def failing_fsync_fs(tmp_path):
    """A data dir on ext4 on a loop device whose backing file lives on a 64 MiB tmpfs: once the
    tmpfs is full, writes still land in the page cache but writeback fails, so fsync returns an
    error — a real fsync failure, no injection. Yields (data dir, a function that fills the
    tmpfs)."""
    outer = tmp_path / "outer"
    inner = tmp_path / "inner"
    outer.mkdir()
    inner.mkdir()
    mount("-t", "tmpfs", "-o", "size=64m", "tmpfs", str(outer))
    image = outer / "disk.img"
    with open(image, "wb") as f:
        f.truncate(48 * 1024 * 1024)
    p = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True, text=True)
    assert p.returncode == 0, f"losetup failed: {p.stderr}"
    loop = p.stdout.strip()
    try:
        p = subprocess.run(["mkfs.ext4", "-q", "-F", loop], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        mount(loop, str(inner))
        yield str(inner / "data"), lambda: fill(str(outer))
    finally:
        subprocess.run(["umount", "-l", str(inner)], capture_output=True)
        subprocess.run(["losetup", "-d", loop], capture_output=True)
        subprocess.run(["umount", "-l", str(outer)], capture_output=True)


def test_an_fsync_failure_is_never_acknowledged(failing_fsync_fs):
    data, break_fsync = failing_fsync_fs
    s = Server(name="faults-fsync", data_dir=data)
    try:
        sm = client(s)
        name = f"faults-fsync-{uuid.uuid4().hex[:6]}x"
        value = secret("faults-fsync")
        sm.create_secret(Name=name, SecretString=value)
        break_fsync()
        # Writes reuse blocks the image already has for a while; new ones soon need the full
        # tmpfs, and then writeback — and so fsync — fails.
        refused = None
        for i in range(300):
            try:
                sm.put_secret_value(SecretId=name, SecretString=secret(f"faults-fsync-{i}") + "x" * 4000)
            except ClientError as e:
                refused = e.response
                break
        assert refused, "300 writes acknowledged with the backing store full"
        assert refused["ResponseMetadata"]["HTTPStatusCode"] == 500, refused
        assert refused["Error"]["Code"] in ("InternalFailure", "InternalServiceError"), refused
        logs = s.logs()
        # SQLite's SQLITE_IOERR_FSYNC (1034) or the audit log's own failed sync.
        assert "(code: 1034) disk I/O error" in logs or "No space left on device" in logs, "no fsync error was logged"
    finally:
        s.kill()
