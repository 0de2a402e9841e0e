"""`strongroom server --dev`: in-memory, permissive, loud."""
import json
import os
import subprocess
import time
import urllib.request

from server import free_port


def test_dev_mode_accepts_any_well_formed_signature_and_keeps_nothing():
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_ROOT_")}
    p = subprocess.Popen([os.environ["STRONGROOM_BIN"], "server", "--dev", "--listen", f"127.0.0.1:{port}"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        cli_env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                       AWS_DEFAULT_REGION="us-east-1")
        base = ["aws", "--endpoint-url", f"http://127.0.0.1:{port}", "--output", "json", "secretsmanager"]
        r = subprocess.run(base + ["create-secret", "--name", "dev", "--secret-string", "x"],
                           env=cli_env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["ARN"].startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:dev-")
        # Unsigned requests are still refused: permissive is not open.
        req = urllib.request.Request(f"http://127.0.0.1:{port}/", data=b"{}", method="POST",
                                     headers={"X-Amz-Target": "secretsmanager.ListSecrets",
                                              "Content-Type": "application/x-amz-json-1.1"})
        try:
            urllib.request.urlopen(req, timeout=5)
            raise AssertionError("unsigned request accepted")
        except urllib.error.HTTPError as e:
            assert json.loads(e.read())["__type"] == "MissingAuthenticationTokenException"
    finally:
        p.terminate()
        out, _ = p.communicate(timeout=30)
    assert p.returncode == 0
    assert "DEV MODE" in out and "ANY well-formed signature" in out
    assert not os.path.exists("strongroom-data"), "dev mode must not create a data dir"
