"""The root key sealed with a passphrase, by an AES key in a PKCS#11 HSM (SoftHSM2) or by a
KMS key of another Strongroom (`--seal awskms:...`): created sealed when the server starts with
a seal, refused without it or with a wrong one (the data directory alone opens nothing), and
`strongroom root-key seal|unseal|status` moving an existing key between seals — the same key
throughout, so the data stays readable. Neither the passphrase, the PIN nor the root key ever
reaches a log."""
import base64
import os
import shutil
import subprocess
import tempfile

import boto3
import pytest
from botocore.config import Config

from conftest import secret, unique
from leaks import remember
from server import ACCESS_KEY, REGION, SECRET_KEY, Server, binary, work_dir

SOFTHSM_MODULE = os.environ.get("STRONGROOM_TEST_PKCS11_MODULE",
                                "/usr/lib/softhsm/libsofthsm2.so")

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


class SoftHsm:
    """A SoftHSM2 token of this test's own (a private SOFTHSM2_CONF and token directory,
    outside the run's data dirs) and the environment a server or `root-key` needs for it."""

    def __init__(self, token="strongroom-e2e"):
        assert os.path.exists(SOFTHSM_MODULE), \
            f"{SOFTHSM_MODULE} is missing: apt-get install -y softhsm2 (scripts/test does)"
        self.dir = tempfile.mkdtemp(prefix="strongroom-softhsm-")
        os.makedirs(os.path.join(self.dir, "tokens"))
        self.conf = os.path.join(self.dir, "softhsm2.conf")
        with open(self.conf, "w") as f:
            f.write(f"directories.tokendir = {self.dir}/tokens\n"
                    "objectstore.backend = file\nlog.level = ERROR\n")
        self.token = token
        self.pin = remember(f"pkcs11-pin-{unique('p')}")
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", token,
                        "--so-pin", "so-pin-0000", "--pin", self.pin],
                       check=True, capture_output=True, env={**os.environ, **self.env()})

    def env(self, pin=None):
        return {"SOFTHSM2_CONF": self.conf, "STRONGROOM_PKCS11_PIN": pin or self.pin}

    def spec(self, label="strongroom-root"):
        return f"pkcs11:module={SOFTHSM_MODULE};token={self.token};label={label}"

    def create_key(self, label="strongroom-root"):
        code, out = root_key("create-hsm-key", "--seal", self.spec(label), env=self.env())
        assert code == 0 and "never extractable" in out, out
        return self.spec(label)

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def kms_env():
    """AWS credentials for the KMS seal (the SDK's standard chain reads them), nothing else."""
    nowhere = os.path.join(tempfile.gettempdir(), "strongroom-e2e-no-aws-config")
    return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_CONFIG_FILE": nowhere, "AWS_SHARED_CREDENTIALS_FILE": nowhere,
            "AWS_EC2_METADATA_DISABLED": "true"}


def kms_key(kms_server):
    kms = boto3.client("kms", endpoint_url=kms_server.endpoint, region_name=REGION,
                       aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                       config=ONCE)
    return kms.create_key(Description="seals another Strongroom's root key")["KeyMetadata"]["Arn"]


def read(server, name):
    return sm(server).get_secret_value(SecretId=name)["SecretString"]


def test_the_root_key_moves_between_seals_and_the_data_stays_readable():
    """plain → PKCS#11 HSM → AWS KMS (another Strongroom) → passphrase → plain, a server
    started on each; wrong PINs, tokens and keys refused with the reason."""
    hsm = SoftHsm()
    kms_server = Server(name="seal-kms-provider")
    try:
        data = tempfile.mkdtemp(prefix="seals-", dir=work_dir("data"))
        names = {}
        logs = []

        def start(name, args=(), env=None):
            s = Server(name=name, data_dir=data, extra_args=list(args), env=env)
            logs.append(s.log_path)
            return s

        def check_and_add(s, tag):
            for n, v in names.items():
                assert read(s, n) == v, f"{n} after {tag}"
            n, v = unique(f"seal-{tag}"), secret(f"seal-{tag}")
            sm(s).create_secret(Name=n, SecretString=v)
            names[n] = v
            assert s.stop() == 0

        check_and_add(start("seals-plain"), "plain")
        with open(os.path.join(data, "root.key")) as f:
            plain = f.read().strip()
        assert plain.startswith("strongroom-root-key-v1:")
        root_hex = plain.split(":", 1)[1]
        # As KMS Encrypt/Decrypt bodies carry it.
        root_b64 = base64.b64encode(bytes.fromhex(root_hex)).decode()

        # → PKCS#11: the key is created in the token, the root key wrapped there.
        spec = hsm.create_key()
        code, out = root_key("create-hsm-key", "--seal", spec, env=hsm.env())
        assert code == 1 and "already exists" in out, out
        code, out = root_key("seal", "--data-dir", data, "--seal", spec, env=hsm.env())
        assert code == 0 and "sealed by the PKCS#11 key label=strongroom-root" in out, out
        code, out = root_key("status", "--data-dir", data)
        assert out.strip().endswith(
            f"sealed by the PKCS#11 key label=strongroom-root on token {hsm.token} "
            f"(module {SOFTHSM_MODULE})"), out
        with open(os.path.join(data, "root.key")) as f:
            text = f.read()
        assert root_hex not in text and hsm.pin not in text
        s = start("seals-pkcs11", ["--seal", spec], env=hsm.env())
        assert "root key unsealed" in s.logs()
        check_and_add(s, "pkcs11")

        # Refused, each with its reason: no seal, a wrong PIN, another key, no such token.
        with pytest.raises(RuntimeError, match=r"sealed by the PKCS#11 key label=strongroom-root"
                                               r".*--seal 'pkcs11:module="):
            start("seals-no-seal")
        with pytest.raises(RuntimeError, match="PKCS#11 PIN for token strongroom-e2e is wrong"):
            start("seals-wrong-pin", ["--seal", spec], env=hsm.env(pin="not-the-pin-0000"))
        other = hsm.create_key("another-key")
        with pytest.raises(RuntimeError, match="label=another-key .*does not open the root key"):
            start("seals-wrong-key", ["--seal", other], env=hsm.env())
        absent = SoftHsm(token="another-token")
        try:
            with pytest.raises(RuntimeError, match="no token labelled strongroom-e2e"):
                start("seals-no-token", ["--seal", spec], env=absent.env())
        finally:
            absent.remove()
        with pytest.raises(RuntimeError, match="both --seal and a seal passphrase"):
            start("seals-both", ["--seal", spec],
                  env={**hsm.env(), "STRONGROOM_SEAL_PASSPHRASE": "a-passphrase-too"})
        code, out = root_key("seal", "--data-dir", data, "--seal", spec, env=hsm.env())
        assert code == 2 and "already sealed by" in out, out
        # --from-seal replaces what the file records; a key that did not wrap it changes nothing.
        code, out = root_key("unseal", "--data-dir", data, "--from-seal", other, env=hsm.env())
        assert code == 1 and "label=another-key" in out and "does not open the root key" in out, out
        assert "sealed by the PKCS#11 key label=strongroom-root" in root_key(
            "status", "--data-dir", data)[1]

        # → AWS KMS of another Strongroom: opened by the HSM (its PIN from the environment),
        # wrapped by KMS Encrypt.
        key_arn = kms_key(kms_server)
        kms_spec = f"awskms:{key_arn};endpoint={kms_server.endpoint}"
        code, out = root_key("seal", "--data-dir", data, "--seal", kms_spec,
                             env={**hsm.env(), **kms_env()})
        assert code == 0 and f"sealed by the AWS KMS key {key_arn}" in out, out
        assert root_key("status", "--data-dir", data)[1].strip().endswith(
            f"sealed by the AWS KMS key {key_arn} (region {REGION}, endpoint {kms_server.endpoint})")
        s = start("seals-awskms", ["--seal", kms_spec], env=kms_env())
        check_and_add(s, "awskms")
        with pytest.raises(RuntimeError, match=r"sealed by the AWS KMS key .*--seal 'awskms:"):
            start("seals-kms-none")
        other_arn = kms_key(kms_server)
        with pytest.raises(RuntimeError, match="IncorrectKeyException.*does not open the root key"):
            start("seals-kms-other", ["--seal", f"awskms:{other_arn};endpoint={kms_server.endpoint}"],
                  env=kms_env())
        with pytest.raises(RuntimeError, match="KMS Decrypt with the key .*Signature"):
            start("seals-kms-creds", ["--seal", kms_spec],
                  env={**kms_env(), "AWS_SECRET_ACCESS_KEY": "wrong/secret/key/0123456789abcdefghij"})

        # → passphrase (opened by KMS), then → plain.
        passphrase = remember(f"seal-passphrase-{unique('p')}")
        pdir = tempfile.mkdtemp(prefix="strongroom-seal-pass-")
        pfile = os.path.join(pdir, "passphrase")
        with open(pfile, "w") as f:
            f.write(passphrase + "\n")
        code, out = root_key("seal", "--data-dir", data, "--passphrase-file", pfile, env=kms_env())
        assert code == 0 and "sealed by a passphrase" in out, out
        assert root_key("status", "--data-dir", data)[1].strip().endswith("sealed with a passphrase")
        check_and_add(start("seals-passphrase", env={"STRONGROOM_SEAL_PASSPHRASE": passphrase}),
                      "passphrase")
        code, out = root_key("unseal", "--data-dir", data, "--passphrase-file", pfile)
        assert code == 0, out
        with open(os.path.join(data, "root.key")) as f:
            assert f.read().strip() == plain, "the same root key throughout"
        check_and_add(start("seals-plain-again"), "plain-again")
        shutil.rmtree(pdir, ignore_errors=True)

        # Neither the root key nor the PIN in any of these servers' logs.
        for path in logs + [kms_server.log_path]:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            assert root_hex not in text and root_b64 not in text and hsm.pin not in text, path
    finally:
        assert kms_server.stop() == 0
        hsm.remove()


def test_a_first_start_with_an_hsm_seal_creates_the_root_key_sealed():
    """A new data directory started with --seal pkcs11: the key is created wrapped by the HSM;
    the data directory alone (or the HSM without its PIN) opens nothing."""
    hsm = SoftHsm()
    try:
        spec = hsm.create_key()
        name, value = unique("hsm-first"), secret("hsm-first")
        s = Server(name="hsm-first", extra_args=["--seal", spec], env=hsm.env())
        data = s.data_dir
        sm(s).create_secret(Name=name, SecretString=value)
        assert s.stop() == 0
        with open(os.path.join(data, "root.key")) as f:
            assert f.read().startswith("strongroom-root-key-sealed-v2:")
        with pytest.raises(RuntimeError, match="sealed by the PKCS#11 key"):
            Server(name="hsm-first-none", data_dir=data)
        with pytest.raises(RuntimeError, match="needs the token's PIN"):
            Server(name="hsm-first-nopin", data_dir=data, extra_args=["--seal", spec],
                   env={"SOFTHSM2_CONF": hsm.conf})
        # The PIN from a file named in the seal instead of the environment.
        pin_file = os.path.join(hsm.dir, "pin")
        with open(pin_file, "w") as f:
            f.write(hsm.pin + "\n")
        s = Server(name="hsm-first-again", data_dir=data,
                   extra_args=["--seal", f"{spec};pin-file={pin_file}"],
                   env={"SOFTHSM2_CONF": hsm.conf})
        assert read(s, name) == value
        assert s.stop() == 0
    finally:
        hsm.remove()
