import os
import subprocess

import boto3
import pytest

from server import Server

# Every secret value used by the suites carries this marker, so the leak checks can look for it.
MARKER = "E2E-SECRET-MARKER-5b7c"
# Values from the seed documents, used verbatim by the CLI suite.
SEED_VALUES = ["mongodb+srv://user:pass@cluster.mongodb.net/db", "your-secret-key", "your-api-key"]


@pytest.fixture(scope="session")
def server():
    s = Server()
    yield s
    code = s.stop()
    assert code == 0, f"server exit code {code} after SIGTERM"
    # Leak checks over everything the session's server wrote.
    logs = s.logs()
    for value in [MARKER, *SEED_VALUES]:
        assert value not in logs, f"a secret value ({value[:8]}...) reached the server log"
    for root, _, files in os.walk(s.data_dir):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                data = f.read()
                for value in [MARKER, *SEED_VALUES]:
                    assert value.encode() not in data, f"plaintext secret in {name}"


@pytest.fixture(scope="session")
def sm(server):
    return boto3.client("secretsmanager", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id=server.env()["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=server.env()["AWS_SECRET_ACCESS_KEY"])


def aws(server, *args, check=True):
    """Run the AWS CLI against `server`; returns (exit code, stdout, stderr)."""
    cmd = ["aws", "--endpoint-url", server.endpoint, "--output", "json", *args]
    p = subprocess.run(cmd, env=server.env(), capture_output=True, text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p.returncode, p.stdout, p.stderr
