"""The server as an operator runs it: restarts on the same data dir, configuration through
STRONGROOM_* environment variables, generated root credentials, graceful SIGTERM."""
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import secret, sm_client, unique
from server import Server, binary, client_env, free_port, work_dir


def cli(endpoint, env, *args):
    p = subprocess.run(["aws", "--endpoint-url", endpoint, "--output", "json", "secretsmanager", *args],
                       env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    return p


def test_data_survives_a_restart():
    s = Server(name="restart")
    data_dir = s.data_dir
    try:
        sm = sm_client(s)
        name, gone, doomed = unique("restart"), unique("restart-forced"), unique("restart-doomed")
        v1, v2 = secret("restart-1"), secret("restart-2")
        first = sm.create_secret(Name=name, SecretString=v1, Tags=[{"Key": "k", "Value": "v"}])
        second = sm.put_secret_value(SecretId=name, SecretString=v2)
        sm.create_secret(Name=gone, SecretString=secret("forced"))
        sm.delete_secret(SecretId=gone, ForceDeleteWithoutRecovery=True)
        sm.create_secret(Name=doomed, SecretString=secret("doomed"))
        sm.delete_secret(SecretId=doomed, RecoveryWindowInDays=7)
        before = sm.describe_secret(SecretId=name)
    finally:
        assert s.stop() == 0
    s = Server(name="restart-again", data_dir=data_dir)
    try:
        sm = sm_client(s)
        got = sm.get_secret_value(SecretId=name)
        assert (got["SecretString"], got["VersionId"]) == (v2, second["VersionId"])
        assert got["ARN"] == first["ARN"]
        assert sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")["SecretString"] == v1
        after = sm.describe_secret(SecretId=name)
        for k in ("ARN", "Name", "Tags", "VersionIdsToStages", "CreatedDate", "LastChangedDate"):
            assert after[k] == before[k], k
        with pytest.raises(ClientError) as e:
            sm.describe_secret(SecretId=gone)
        assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
        with pytest.raises(ClientError) as e:
            sm.get_secret_value(SecretId=doomed)
        assert e.value.response["Error"]["Code"] == "InvalidRequestException"
        sm.restore_secret(SecretId=doomed)
        assert sm.get_secret_value(SecretId=doomed)["SecretString"].startswith("E2E-SECRET-MARKER")
    finally:
        assert s.stop() == 0


def test_configuration_through_the_environment():
    """Every flag is also STRONGROOM_<FLAG>: data dir, listen address, account, region."""
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="env-config-", dir=work_dir("data"))
    log_path = os.path.join(work_dir("logs"), f"env-config-{port}.log")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(STRONGROOM_DATA_DIR=data_dir, STRONGROOM_LISTEN=f"127.0.0.1:{port}",
               STRONGROOM_ACCOUNT_ID="210987654321", STRONGROOM_REGION="eu-west-1",
               STRONGROOM_ROOT_ACCESS_KEY_ID="AKIAE2EENVCONFIG0001",
               STRONGROOM_ROOT_SECRET_ACCESS_KEY="env-config-secret-key-0123456789abcdefgh",
               NO_COLOR="1")
    with open(log_path, "wb") as log:
        p = subprocess.Popen([binary(), "server"], env=env, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            assert p.poll() is None, open(log_path).read()
            try:
                with urllib.request.urlopen(f"{endpoint}/health", timeout=1):
                    break
            except Exception:
                time.sleep(0.1)
        cenv = client_env(endpoint, access_key="AKIAE2EENVCONFIG0001",
                          secret_key="env-config-secret-key-0123456789abcdefgh")
        cenv["AWS_DEFAULT_REGION"] = cenv["AWS_REGION"] = "eu-west-1"
        r = cli(endpoint, cenv, "create-secret", "--name", "env-configured", "--secret-string", secret("env"))
        assert r.returncode == 0, r.stderr
        arn = json.loads(r.stdout)["ARN"]
        assert arn.startswith("arn:aws:secretsmanager:eu-west-1:210987654321:secret:env-configured-"), arn
        # Requests signed for another region are refused.
        cenv["AWS_DEFAULT_REGION"] = cenv["AWS_REGION"] = "us-east-1"
        r = cli(endpoint, cenv, "list-secrets")
        assert r.returncode != 0 and "InvalidSignatureException" in r.stderr, r.stderr
        assert any(os.scandir(data_dir)), "the store is in STRONGROOM_DATA_DIR"
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0


def test_generated_root_credentials_refuse_others():
    """Without STRONGROOM_ROOT_* the server makes its own credentials; ours are then unknown."""
    s = Server(name="generated-creds", root_credentials=None)
    try:
        r = cli(s.endpoint, client_env(s.endpoint), "list-secrets")
        assert r.returncode != 0 and "UnrecognizedClientException" in r.stderr, r.stderr
    finally:
        assert s.stop() == 0
