"""Start, stop or attach to a real `strongroom` server for the end-to-end tests.

Two ways a test gets a server:

* `Server(...)` starts its own process: a fresh data dir, a free loopback port, known root
  credentials through the environment, stdout+stderr captured to a log file (kept for the leak
  scans). `stop()` sends SIGTERM and returns the exit code, which must be 0.
* `AttachedServer.from_env()` uses the server that `tests/e2e/run.sh` started for the whole run
  (STRONGROOM_E2E_ENDPOINT etc.); run.sh itself stops it and checks its exit code.

When STRONGROOM_E2E_WORK is set (run.sh sets it), data dirs and logs of every server started
here go under it (`data/`, `logs/`), so the leak scan after the run sees all of them.

When STRONGROOM_E2E_STORE is a PostgreSQL URL (`postgres://postgres@127.0.0.1:5432`, its
database if any being the one to connect to for CREATE DATABASE), every server — run.sh's and
each `Server(...)` — stores in PostgreSQL (`--store`): in a database of its own named after its
data dir, created on first use, so a restart on the same data dir finds its data again.
"""
import hashlib
import os
import re
import urllib.parse
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


E2E_STORE = os.environ.get("STRONGROOM_E2E_STORE") or None
DB_PREFIX = "sr_e2e_"


def _store_parts():
    """(URL without database, database to connect to for administration)."""
    u = urllib.parse.urlsplit(E2E_STORE)
    admin_db = u.path.lstrip("/") or "postgres"
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "", "", "")), admin_db, u.query


def psql(sql, url=None):
    """Run `sql` with psql on the e2e PostgreSQL server (its administration database, or the
    database of `url`, e.g. a Server's `store`); returns stdout. Raises on failure."""
    base, admin_db, _ = _store_parts()
    r = subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-Atc", sql, url or f"{base}/{admin_db}"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"psql failed ({sql!r}): {r.stderr.strip()}")
    return r.stdout


def run_prefix():
    """Databases of this run start with this: the run's work dir's name, else the process id."""
    work = os.environ.get("STRONGROOM_E2E_WORK")
    tag = os.path.basename(os.path.normpath(work)) if work else f"pid{os.getpid()}"
    return DB_PREFIX + re.sub(r"[^a-z0-9]", "", tag.lower())[-12:] + "_"


def store_url(data_dir):
    """The --store URL for a server on `data_dir`, its database created if missing; None when
    the run uses SQLite."""
    if not E2E_STORE:
        return None
    if not E2E_STORE.startswith(("postgres://", "postgresql://")):
        raise RuntimeError(f"STRONGROOM_E2E_STORE must be a postgres:// URL, not {E2E_STORE!r}")
    # Named after the data dir's whole path (two data dirs may share a base name), so a
    # restart on the same data dir finds its database.
    path = os.path.abspath(data_dir)
    name = re.sub(r"[^a-z0-9_]", "_", os.path.basename(path).lower())[:24]
    db = f"{run_prefix()}{name}_{hashlib.sha256(path.encode()).hexdigest()[:10]}"
    if not psql(f"SELECT 1 FROM pg_database WHERE datname = '{db}'").strip():
        psql(f'CREATE DATABASE "{db}"')
    base, _, query = _store_parts()
    return f"{base}/{db}" + (f"?{query}" if query else "")


def drop_run_databases():
    """Drop every database this run created (run.sh calls it when the run passed)."""
    if not E2E_STORE:
        return []
    dbs = psql(f"SELECT datname FROM pg_database WHERE datname LIKE '{run_prefix()}%'").split()
    for db in dbs:
        psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    return dbs


def dump_run_databases(to_dir):
    """pg_dump every database of this run into `to_dir` (so the leak scan reads the stores)."""
    if not E2E_STORE:
        return []
    base, _, _ = _store_parts()
    os.makedirs(to_dir, exist_ok=True)
    dbs = psql(f"SELECT datname FROM pg_database WHERE datname LIKE '{run_prefix()}%'").split()
    for db in dbs:
        with open(os.path.join(to_dir, f"{db}.sql"), "wb") as f:
            subprocess.run(["pg_dump", "--data-only", f"{base}/{db}"], stdout=f, check=True, timeout=120)
    return dbs


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
        # A test that names its own --store (a cluster's nodes share one) keeps it.
        self.store = (store_url(self.data_dir)
                      if "--dev" not in extra_args and "--store" not in extra_args else None)
        if self.store:
            args += ["--store", self.store]
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


if __name__ == "__main__":
    # For run.sh: `python server.py store-url DATA_DIR | drop | dump DIR`.
    import sys
    cmd = sys.argv[1]
    if cmd == "store-url":
        print(store_url(sys.argv[2]) or "")
    elif cmd == "drop":
        print(" ".join(drop_run_databases()))
    elif cmd == "dump":
        print(" ".join(dump_run_databases(sys.argv[2])))
    else:
        sys.exit(f"unknown command {cmd}")
