"""HTTPS with a self-signed CA (the AWS CLI trusting it through AWS_CA_BUNDLE), and the refusal
to serve plain HTTP on a non-loopback address."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import pytest

from conftest import secret, unique
from server import ACCOUNT, Server, binary, free_port, work_dir


def make_ca_and_cert(d):
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost, with openssl."""
    openssl = shutil.which("openssl")
    assert openssl, "the openssl command is needed to make the test CA (apt-get install openssl)"

    def run(*args):
        p = subprocess.run([openssl, *args], capture_output=True, text=True, cwd=d)
        assert p.returncode == 0, f"openssl {' '.join(args)}: {p.stderr}"
    with open(os.path.join(d, "ca.cnf"), "w") as f:
        f.write("[req]\ndistinguished_name=dn\n[dn]\n[ext]\nbasicConstraints=critical,CA:TRUE\n"
                "keyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n")
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=Strongroom E2E Test CA", "-config", "ca.cnf", "-extensions", "ext")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost")
    with open(os.path.join(d, "server.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "server.cnf")
    return {"ca": os.path.join(d, "ca.pem"), "cert": os.path.join(d, "server.pem"),
            "key": os.path.join(d, "server.key")}


@pytest.fixture(scope="module")
def tls_server():
    d = tempfile.mkdtemp(prefix="strongroom-tls-")
    tls = make_ca_and_cert(d)
    s = Server(tls=tls, name="tls")
    yield s
    assert s.stop() == 0, "TLS server exit code after SIGTERM"
    shutil.rmtree(d, ignore_errors=True)


def cli(s, env, *args):
    cmd = ["aws", "--endpoint-url", s.endpoint, "--output", "json", "secretsmanager", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_cli_over_tls_with_custom_ca(tls_server):
    s = tls_server
    assert s.endpoint.startswith("https://127.0.0.1:")
    env = s.env()
    env["AWS_CA_BUNDLE"] = s.tls["ca"]
    name = unique("tls-secret")
    value = secret("over-tls")
    p = cli(s, env, "create-secret", "--name", name, "--secret-string", value)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["Name"] == name
    p = cli(s, env, "get-secret-value", "--secret-id", name)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert got["SecretString"] == value and got["VersionStages"] == ["AWSCURRENT"]
    # The audit record of a request over TLS says what the handshake negotiated.
    cmd = ["aws", "--endpoint-url", s.endpoint, "--output", "json", "cloudtrail", "lookup-events",
           "--lookup-attributes", "AttributeKey=EventName,AttributeValue=GetSecretValue"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    record = json.loads(json.loads(p.stdout)["Events"][0]["CloudTrailEvent"])
    tls = record["tlsDetails"]
    assert tls["tlsVersion"] in ("TLSv1.2", "TLSv1.3"), tls
    assert tls["cipherSuite"].startswith("TLS_"), tls
    assert tls["clientProvidedHostHeader"] == s.endpoint.removeprefix("https://"), tls
    assert value not in p.stdout


def test_cli_without_the_ca_refuses_the_certificate(tls_server):
    s = tls_server
    env = s.env()  # no AWS_CA_BUNDLE: botocore's own CA bundle does not know our CA
    for k in ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        env.pop(k, None)
    p = cli(s, env, "list-secrets")
    assert p.returncode != 0, p.stdout
    assert "CERTIFICATE_VERIFY_FAILED" in p.stderr or "certificate verify failed" in p.stderr.lower(), p.stderr
    # The system bundle does not know it either.
    env["AWS_CA_BUNDLE"] = "/etc/ssl/certs/ca-certificates.crt"
    if os.path.exists(env["AWS_CA_BUNDLE"]):
        p = cli(s, env, "list-secrets")
        assert p.returncode != 0 and "certificate" in p.stderr.lower(), p.stderr


def test_plain_http_to_the_tls_port_gets_nothing_useful(tls_server):
    s = tls_server
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{s.port}/health", timeout=5)
        raise AssertionError("plain HTTP was answered on the TLS port")
    except AssertionError:
        raise
    except Exception:
        pass
    # And the server still serves TLS afterwards.
    import ssl
    ctx = ssl.create_default_context(cafile=s.tls["ca"])
    with urllib.request.urlopen(f"{s.endpoint}/health", timeout=5, context=ctx) as r:
        assert r.status == 200


def refused(args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(env_extra or {})
    d = tempfile.mkdtemp(prefix="plain-", dir=work_dir("data"))
    p = subprocess.run([binary(), "server", "--data-dir", d, *args], env=env, capture_output=True,
                       text=True, timeout=30, stdin=subprocess.DEVNULL)
    return p


def test_plaintext_on_non_loopback_is_refused():
    p = refused(["--listen", f"0.0.0.0:{free_port()}"])
    assert p.returncode != 0, p.stdout + p.stderr
    msg = p.stdout + p.stderr
    assert "--allow-plaintext" in msg and "TLS" in msg.upper(), msg


def test_plaintext_on_non_loopback_is_refused_when_set_through_the_environment():
    p = refused([], {"STRONGROOM_LISTEN": f"0.0.0.0:{free_port()}"})
    assert p.returncode != 0, p.stdout + p.stderr
    assert "--allow-plaintext" in p.stdout + p.stderr


def test_allow_plaintext_serves_on_a_non_loopback_address():
    """With --allow-plaintext it starts (probed over loopback only) and stops cleanly."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(NO_COLOR="1", STRONGROOM_ROOT_ACCESS_KEY_ID="AKIAE2EPLAINTEXT0001",
               STRONGROOM_ROOT_SECRET_ACCESS_KEY="plaintext-e2e-secret-key-0123456789abcdef")
    d = tempfile.mkdtemp(prefix="allow-plain-", dir=work_dir("data"))
    log = open(os.path.join(work_dir("logs"), f"allow-plaintext-{port}.log"), "wb")
    p = subprocess.Popen([binary(), "server", "--data-dir", d, "--listen", f"0.0.0.0:{port}",
                          "--allow-plaintext", "--account-id", ACCOUNT],
                         env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        ok = False
        for _ in range(300):
            assert p.poll() is None, "the server exited"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    ok = r.status == 200
                    break
            except Exception:
                time.sleep(0.1)
        assert ok, "no /health answer"
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        code = p.wait(timeout=30)
        log.close()
    assert code == 0
