"""Start and stop a real strongroom server for end-to-end tests."""
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import ssl

ACCESS_KEY = "AKIAE2ETESTROOT00001"
SECRET_KEY = "e2e/secret/key/0123456789abcdefghijklmno"
ACCOUNT = "123456789012"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, extra_args=(), tls=None, data_dir=None):
        self.bin = os.environ["STRONGROOM_BIN"]
        self.port = free_port()
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="strongroom-e2e-")
        self.log_path = os.path.join(tempfile.mkdtemp(prefix="strongroom-e2e-log-"), "server.log")
        self.tls = tls
        scheme = "https" if tls else "http"
        self.endpoint = f"{scheme}://127.0.0.1:{self.port}"
        args = [self.bin, "server", "--data-dir", self.data_dir,
                "--listen", f"127.0.0.1:{self.port}", "--account-id", ACCOUNT, *extra_args]
        if tls:
            args += ["--tls-cert", tls["cert"], "--tls-key", tls["key"]]
        env = dict(os.environ,
                   STRONGROOM_ROOT_ACCESS_KEY_ID=ACCESS_KEY,
                   STRONGROOM_ROOT_SECRET_ACCESS_KEY=SECRET_KEY,
                   STRONGROOM_LOG="debug",
                   NO_COLOR="1")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self._wait_ready()

    def _wait_ready(self):
        ctx = None
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.tls["ca"])
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.logs()}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/health", timeout=1, context=ctx) as r:
                    if r.status == 200:
                        return
            except Exception:
                time.sleep(0.1)
        raise RuntimeError(f"server not ready in 30 s:\n{self.logs()}")

    def env(self):
        """Environment for AWS clients talking to this server."""
        env = dict(os.environ,
                   AWS_ACCESS_KEY_ID=ACCESS_KEY,
                   AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                   AWS_DEFAULT_REGION="us-east-1",
                   AWS_REGION="us-east-1",
                   STRONGROOM_ENDPOINT=self.endpoint)
        for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            env.pop(k, None)
        return env

    def logs(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        """SIGTERM; the server must drain and exit 0."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise
        else:
            code = self.proc.returncode
        self.log.close()
        return code
