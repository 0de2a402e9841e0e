"""`strongroom server --dev`: in-memory, permissive, loud."""
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

from conftest import secret
from server import binary, client_env, free_port, work_dir


def test_dev_mode_accepts_any_well_formed_signature_and_keeps_nothing(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env["NO_COLOR"] = "1"
    log_path = os.path.join(work_dir("logs"), f"dev-{port}.log")
    with open(log_path, "wb") as log:
        p = subprocess.Popen([binary(), "server", "--dev", "--listen", f"127.0.0.1:{port}"],
                             stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
                             stdin=subprocess.DEVNULL)
    try:
        for _ in range(300):
            assert p.poll() is None, "dev server exited"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        endpoint = f"http://127.0.0.1:{port}"
        cli_env = client_env(endpoint, access_key="test", secret_key="test")
        base = ["aws", "--endpoint-url", endpoint, "--output", "json", "secretsmanager"]
        value = secret("dev")
        r = subprocess.run(base + ["create-secret", "--name", "dev", "--secret-string", value],
                           env=cli_env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["ARN"].startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:dev-")
        r = subprocess.run(base + ["get-secret-value", "--secret-id", "dev"],
                           env=cli_env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and json.loads(r.stdout)["SecretString"] == value, r.stderr
        # Unsigned requests are still refused: permissive is not open.
        req = urllib.request.Request(f"{endpoint}/", data=b"{}", method="POST",
                                     headers={"X-Amz-Target": "secretsmanager.ListSecrets",
                                              "Content-Type": "application/x-amz-json-1.1"})
        try:
            urllib.request.urlopen(req, timeout=5)
            raise AssertionError("unsigned request accepted")
        except urllib.error.HTTPError as e:
            assert json.loads(e.read())["__type"] == "MissingAuthenticationTokenException"
    finally:
        p.terminate()
        p.wait(timeout=30)
    assert p.returncode == 0
    with open(log_path, encoding="utf-8", errors="replace") as f:
        out = f.read()
    assert "DEV MODE" in out and "ANY well-formed signature" in out
    assert os.listdir(tmp_path) == [], "dev mode must not write anything to its working directory"
