"""The root key sealed with a passphrase: created sealed when the server starts with one,
refused without it or with a wrong one (the data directory alone opens nothing), and
`strongroom root-key seal|unseal|status` converting an existing file — the same key
throughout, so the data stays readable. The passphrase never reaches a log."""
import os
import subprocess
import tempfile

import boto3
import pytest
from botocore.config import Config

from conftest import secret, unique
from leaks import remember
from server import ACCESS_KEY, REGION, SECRET_KEY, Server, binary, work_dir

ONCE = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def sm(server):
    return boto3.client("secretsmanager", endpoint_url=server.endpoint, region_name=REGION,
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        config=ONCE)


def root_key(*args, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    e.update(env or {})
    p = subprocess.run([binary(), "root-key", *args], capture_output=True, text=True,
                       timeout=60, env=e)
    return p.returncode, p.stdout + p.stderr


def test_a_sealed_root_key_opens_only_with_its_passphrase():
    data = tempfile.mkdtemp(prefix="seal-", dir=work_dir("data"))
    passphrase = remember(f"seal-passphrase-{unique('p')}")
    name, value = unique("sealed"), secret("sealed-value")
    s = Server(name="seal-first", data_dir=data, env={"STRONGROOM_SEAL_PASSPHRASE": passphrase})
    sm(s).create_secret(Name=name, SecretString=value)
    assert s.stop() == 0
    with open(os.path.join(data, "root.key")) as f:
        assert f.read().startswith("strongroom-root-key-sealed-v1:")
    assert root_key("status", "--data-dir", data)[1].strip().endswith("sealed with a passphrase")

    with pytest.raises(RuntimeError, match="sealed with a passphrase"):
        Server(name="seal-none", data_dir=data)
    with pytest.raises(RuntimeError, match="passphrase does not open"):
        Server(name="seal-wrong", data_dir=data,
               env={"STRONGROOM_SEAL_PASSPHRASE": "not-the-passphrase"})
    # Outside the run's data dirs: the leak scans rightly find a passphrase in a file.
    pfile = os.path.join(tempfile.mkdtemp(prefix="strongroom-seal-pass-"), "passphrase")
    with open(pfile, "w") as f:
        f.write(passphrase + "\n")
    s = Server(name="seal-file", data_dir=data, extra_args=["--seal-passphrase-file", pfile])
    assert sm(s).get_secret_value(SecretId=name)["SecretString"] == value
    assert s.stop() == 0

    # Unseal (the key stays the same: the data stays readable), then seal again.
    code, out = root_key("unseal", "--data-dir", data,
                         env={"STRONGROOM_SEAL_PASSPHRASE": passphrase})
    assert code == 0, out
    assert root_key("status", "--data-dir", data)[1].strip().endswith("file mode only)")
    s = Server(name="seal-plain", data_dir=data)
    assert sm(s).get_secret_value(SecretId=name)["SecretString"] == value
    assert s.stop() == 0
    code, out = root_key("seal", "--data-dir", data, "--passphrase-file", pfile)
    assert code == 0, out
    assert root_key("seal", "--data-dir", data, "--passphrase-file", pfile)[0] == 2
    code, out = root_key("unseal", "--data-dir", data,
                         env={"STRONGROOM_SEAL_PASSPHRASE": "not-the-passphrase"})
    assert code == 1 and "does not open" in out
    s = Server(name="seal-again", data_dir=data, env={"STRONGROOM_SEAL_PASSPHRASE": passphrase})
    assert sm(s).get_secret_value(SecretId=name)["SecretString"] == value
    assert s.stop() == 0
