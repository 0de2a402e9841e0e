"""HTTPS with a self-signed CA (AWS_CA_BUNDLE), and the refusal of plain HTTP off loopback."""
import json
import os
import subprocess
import tempfile

from server import Server, free_port


def make_ca_and_cert(d):
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=Strongroom Test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return {"ca": os.path.join(d, "ca.pem"), "cert": os.path.join(d, "server.pem"),
            "key": os.path.join(d, "server.key")}


def test_cli_over_tls_with_custom_ca():
    d = tempfile.mkdtemp(prefix="strongroom-tls-")
    tls = make_ca_and_cert(d)
    s = Server(tls=tls)
    try:
        env = s.env()
        env["AWS_CA_BUNDLE"] = tls["ca"]
        base = ["aws", "--endpoint-url", s.endpoint, "--output", "json", "secretsmanager"]
        p = subprocess.run(base + ["create-secret", "--name", "tls-secret", "--secret-string", "over-tls"],
                           env=env, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        p = subprocess.run(base + ["get-secret-value", "--secret-id", "tls-secret"],
                           env=env, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["SecretString"] == "over-tls"
        # Without our CA the client must refuse the certificate.
        env["AWS_CA_BUNDLE"] = "/etc/ssl/certs/ca-certificates.crt"
        p = subprocess.run(base + ["list-secrets"], env=env, capture_output=True, text=True, timeout=60)
        assert p.returncode != 0
        assert "CERTIFICATE_VERIFY_FAILED" in p.stderr or "certificate" in p.stderr.lower(), p.stderr
    finally:
        assert s.stop() == 0


def test_plaintext_on_non_loopback_is_refused():
    d = tempfile.mkdtemp(prefix="strongroom-plain-")
    p = subprocess.run([os.environ["STRONGROOM_BIN"], "server", "--data-dir", d,
                        "--listen", f"0.0.0.0:{free_port()}"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "--allow-plaintext" in p.stderr and "TLS" in p.stderr.upper(), p.stderr
