"""Start, stop or attach to a real `strongroom` server for the end-to-end tests.

Two ways a test gets a server:

* `Server(...)` starts its own process: a fresh data dir, a free loopback port, known root
  credentials through the environment, stdout+stderr captured to a log file (kept for the leak
  scans). `stop()` sends SIGTERM and returns the exit code, which must be 0.
* `AttachedServer.from_env()` uses the server that `tests/e2e/run.sh` started for the whole run
  (STRONGROOM_E2E_ENDPOINT etc.); run.sh itself stops it and checks its exit code.

When STRONGROOM_E2E_WORK is set (run.sh sets it), data dirs and logs of every server started
here go under it (`data/`, `logs/`), so the leak scan after the run sees all of them.
"""
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request

ACCESS_KEY = "AKIAE2ETESTROOT00001"
SECRET_KEY = "e2e/secret/key/0123456789abcdefghijklmno"
ACCOUNT = "123456789012"
REGION = "us-east-1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def work_dir(kind):
    """A directory for `kind` ("data" or "logs") under STRONGROOM_E2E_WORK, or a new temp dir."""
    base = os.environ.get("STRONGROOM_E2E_WORK")
    if not base:
        return tempfile.mkdtemp(prefix=f"strongroom-e2e-{kind}-")
    path = os.path.join(base, kind)
    os.makedirs(path, exist_ok=True)
    return path


def binary():
    path = os.environ.get("STRONGROOM_BIN")
    if not path:
        raise RuntimeError("STRONGROOM_BIN is not set: point it at the strongroom binary "
                           "(scripts/test and tests/e2e/run.sh do this)")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"STRONGROOM_BIN={path} is not an executable file")
    return path


def client_env(endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY):
    """Environment for AWS clients (CLI, boto3, Node) talking to a server at `endpoint`.

    Nothing from the developer's own AWS setup may leak in: no profile, no config files, no
    session token, no global endpoint override, no instance metadata lookups."""
    env = dict(os.environ)
    for k in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
              "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETSMANAGER", "AWS_CA_BUNDLE",
              "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        env.pop(k, None)
    nowhere = os.path.join(tempfile.gettempdir(), "strongroom-e2e-no-aws-config")
    env.update(AWS_ACCESS_KEY_ID=access_key,
               AWS_SECRET_ACCESS_KEY=secret_key,
               AWS_DEFAULT_REGION=REGION,
               AWS_REGION=REGION,
               AWS_CONFIG_FILE=nowhere,
               AWS_SHARED_CREDENTIALS_FILE=nowhere,
               AWS_EC2_METADATA_DISABLED="true",
               AWS_PAGER="",
               AWS_MAX_ATTEMPTS="1",
               STRONGROOM_ENDPOINT=endpoint)
    return env


class Server:
    """A strongroom process of our own. Raises if it does not answer /health within 30 s."""

    def __init__(self, extra_args=(), tls=None, data_dir=None, name="server", env=None,
                 listen_host="127.0.0.1", root_credentials=(ACCESS_KEY, SECRET_KEY), port=None):
        self.bin = binary()
        # `port`: a restart on the address others were configured with.
        self.port = port or free_port()
        self.data_dir = data_dir or tempfile.mkdtemp(prefix=f"{name}-", dir=work_dir("data"))
        self.log_path = os.path.join(work_dir("logs"), f"{name}-{self.port}.log")
        self.tls = tls
        scheme = "https" if tls else "http"
        self.endpoint = f"{scheme}://127.0.0.1:{self.port}"
        args = [self.bin, "server", "--data-dir", self.data_dir,
                "--listen", f"{listen_host}:{self.port}", "--account-id", ACCOUNT, *extra_args]
        if tls:
            args += ["--tls-cert", tls["cert"], "--tls-key", tls["key"]]
        penv = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
        penv.update(STRONGROOM_LOG="debug", NO_COLOR="1")
        if root_credentials:
            penv.update(STRONGROOM_ROOT_ACCESS_KEY_ID=root_credentials[0],
                        STRONGROOM_ROOT_SECRET_ACCESS_KEY=root_credentials[1])
        penv.update(env or {})
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=penv)
        try:
            self._wait_ready()
        except BaseException:
            self.kill()
            raise

    def _wait_ready(self):
        ctx = ssl.create_default_context(cafile=self.tls["ca"]) if self.tls else None
        deadline = time.time() + 30
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early with code {self.proc.returncode}:\n{self.logs()}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/health", timeout=1, context=ctx) as r:
                    if r.status == 200:
                        return
            except Exception as e:  # not listening yet
                last = e
            time.sleep(0.1)
        raise RuntimeError(f"server not ready in 30 s (last error: {last}):\n{self.logs()}")

    def env(self, **kw):
        return client_env(self.endpoint, **kw)

    def logs(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, timeout=30):
        """SIGTERM; the server must drain and exit 0. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.log.close()
                raise AssertionError(f"server did not exit within {timeout} s of SIGTERM")
        self.log.close()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.log.closed:
            self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


class AttachedServer:
    """The server run.sh started for the whole run; run.sh stops it and checks its exit code."""

    def __init__(self, endpoint, data_dir, log_path):
        self.endpoint = endpoint
        self.port = int(endpoint.rsplit(":", 1)[1])
        self.data_dir = data_dir
        self.log_path = log_path
        self.tls = None

    @classmethod
    def from_env(cls):
        endpoint = os.environ.get("STRONGROOM_E2E_ENDPOINT")
        if not endpoint:
            return None
        return cls(endpoint, os.environ["STRONGROOM_E2E_DATA_DIR"], os.environ["STRONGROOM_E2E_LOG"])

    def env(self, **kw):
        return client_env(self.endpoint, **kw)

    def logs(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")
