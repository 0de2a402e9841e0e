#!/usr/bin/env python3
"""Run AWS's published rotation templates, unchanged, on Strongroom (issue 14 §3).

    scripts/verify-aws-templates.py TEMPLATES_DIR STRONGROOM_BINARY [--only NAME ...]
        [--venv-dir DIR] [--keep] [--mysql 127.0.0.1:3306] [--postgres private|HOST:PORT]

TEMPLATES_DIR holds a checkout (or a copy) of aws-samples/aws-secrets-manager-rotation-lambdas:
one directory per template with its `lambda_function.py`. Nothing of it is copied or edited:
Strongroom's `[[rotation-function]]` points `python-handler` at
`TEMPLATES_DIR/<template>:lambda_function.lambda_handler`, and the script checks afterwards
that no file in the template's directory changed.

Templates: the MySQL, MariaDB and PostgreSQL single-user and alternating-users (multi-user)
templates and the generic SecretsManagerRotationTemplate (see TEMPLATES below). For each the
script
  * makes a virtualenv with only what the template needs: boto3 (which Lambda's Python runtime
    provides) and the database driver AWS names for it (PyMySQL for MySQL, PyGreSQL for
    PostgreSQL; the generic template needs nothing more);
  * starts one Strongroom server (fresh data dir, loopback, random root credentials) with a
    `[[rotation-function]]` per template, whose execution role is created as AWS's docs set it
    up (trusting lambda.amazonaws.com, allowed the Secrets Manager calls the templates make)
    and whose environment variables set EXCLUDE_CHARACTERS and PASSWORD_LENGTH=40, as AWS's
    rotation applications configure the templates;
  * creates real database users (MariaDB/MySQL at --mysql as root; PostgreSQL in a private
    cluster, see below), and for the alternating-users templates an administrator ("master")
    secret, and secrets in the shape the templates expect (engine/host/username/password/
    dbname/port, and `"ssl": false`: secret data telling the template these local servers
    speak no TLS);
  * rotates each secret twice with the AWS CLI's `rotate-secret` and checks that AWSCURRENT
    moved to the new version, that the new password follows the function's environment, that
    the database accepts the new password and refuses the old
    one (for the alternating-users templates: the clone user is created with the user's
    privileges, and after the second rotation the first password is refused), and that
    CloudTrail's LookupEvents has RotationStarted and RotationSucceeded for the version.
  * SecretsManagerRotationTemplate is AWS's skeleton: its setSecret and testSecret raise
    NotImplementedError, so on AWS a rotation with it fails at setSecret after createSecret
    stored a generated AWSPENDING value. The script checks Strongroom does exactly that.

PostgreSQL: a password rotation can only be shown by a server that checks passwords. By default
(`--postgres private`) the script runs a throwaway cluster of the machine's PostgreSQL binaries
(initdb; as the `postgres` user when run as root) on a free loopback port with scram-sha-256
authentication, and removes it afterwards. `--postgres HOST:PORT` uses an existing server
instead (administrator `postgres`, password in PG_ADMIN_PASSWORD if it needs one); one that
accepts any password from here (`trust`) is refused up front.

Prints PASS/FAIL per template and exits 1 if any failed. Never prints a password."""
import argparse
import glob
import hashlib
import json
import os
import pwd
import secrets
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.request

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE = "aws-template-rotation"
# Lambda's Python runtime provides boto3; a template's own dependencies come on top. Versions
# as AWS's template documentation names them (PyMySQL 1.0.2) and as the template repository's
# requirements.txt pinned them (PyGreSQL 5.0.7).
RUNTIME = ["boto3"]
PYMYSQL = ["PyMySQL==1.0.2"]
PYGRESQL = ["PyGreSQL==5.0.7"]
TEMPLATES = {
    "SecretsManagerRDSMySQLRotationSingleUser": ("mysql", "single", PYMYSQL),
    "SecretsManagerRDSMySQLRotationMultiUser": ("mysql", "multi", PYMYSQL),
    "SecretsManagerRDSMariaDBRotationSingleUser": ("mariadb", "single", PYMYSQL),
    "SecretsManagerRDSMariaDBRotationMultiUser": ("mariadb", "multi", PYMYSQL),
    "SecretsManagerRDSPostgreSQLRotationSingleUser": ("postgres", "single", PYGRESQL),
    "SecretsManagerRDSPostgreSQLRotationMultiUser": ("postgres", "multi", PYGRESQL),
    "SecretsManagerRotationTemplate": (None, "generic", []),
}
STEP_TIMEOUT = 30
# The function's environment variables, as AWS's rotation applications set them (the
# templates read these); a length other than the templates' default 32 shows they arrive.
ENVIRONMENT = {"EXCLUDE_CHARACTERS": "/@\"'\\", "PASSWORD_LENGTH": "40"}
PASSWORD_LENGTH = 40


def log(msg):
    print(msg, flush=True)


def password():
    # Letters and digits only: the script's own SQL quotes them as plain literals.
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(24))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args, input=None, env=None, check=True, user=None, timeout=120):
    if user:
        args = ["runuser", "-u", user, "--", *args]
    p = subprocess.run(args, input=input, env=env, capture_output=True, text=True,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])} … exited {p.returncode}: {p.stderr.strip()[-800:]}")
    return p


def tree_digest(path):
    h = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            h.update(os.path.relpath(full, path).encode() + b"\0")
            with open(full, "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


# ---------------------------------------------------------------- virtualenvs

def venv_for(venv_root, name, deps):
    """A virtualenv with boto3 and `deps` (reused when a previous run made the same one)."""
    path = os.path.join(venv_root, name)
    spec = "\n".join(RUNTIME + deps)
    marker = os.path.join(path, "strongroom-requirements.txt")
    python = os.path.join(path, "bin", "python")
    if os.path.exists(marker) and open(marker).read() == spec and os.access(python, os.X_OK):
        return python
    shutil.rmtree(path, ignore_errors=True)
    run([sys.executable, "-m", "venv", path])
    p = run([python, "-m", "pip", "install", "--disable-pip-version-check", "-q",
             *RUNTIME, *deps], check=False, timeout=900)
    if p.returncode != 0:
        raise RuntimeError(f"cannot install {' '.join(RUNTIME + deps)} into {path}: "
                           f"{p.stderr.strip()[-1500:]}")
    with open(marker, "w") as f:
        f.write(spec)
    return python


# ---------------------------------------------------------------- databases

class MySQL:
    def __init__(self, hostport):
        self.host, _, port = hostport.rpartition(":")
        self.port = int(port)
        self.root_password = os.environ.get("MYSQL_ADMIN_PASSWORD", "")

    def _client(self, user, pw, sql, check=True):
        env = dict(os.environ, MYSQL_PWD=pw)
        return run(["mysql", "--no-defaults", "--protocol=TCP", "-h", self.host,
                    "-P", str(self.port), "-u", user, "--connect-timeout=5", "-N", "-B"],
                   input=sql, env=env, check=check, timeout=30)

    def admin(self, sql):
        return self._client("root", self.root_password, sql).stdout

    def accepts(self, user, pw):
        return self._client(user, pw, "SELECT 1;", check=False).returncode == 0


class Postgres:
    """Either a private throwaway cluster (scram-sha-256 on loopback) or an existing server."""

    def __init__(self, spec, work):
        self.private = spec == "private"
        self.cluster = None
        if self.private:
            try:
                self._start_private(work)
            except BaseException:
                self.stop()
                raise
        else:
            self.host, _, port = spec.rpartition(":")
            self.port = int(port)
            self.admin_env = dict(os.environ, PGPASSFILE=os.devnull,
                                  PGPASSWORD=os.environ.get("PG_ADMIN_PASSWORD", ""))
            self.admin_conn = f"host={self.host} port={self.port} user=postgres dbname=postgres"

    def _bin(self, name):
        found = shutil.which(name) or next(iter(sorted(
            glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
        if not found:
            raise RuntimeError(f"{name} not found: install PostgreSQL's server binaries or "
                               "give --postgres HOST:PORT")
        return found

    def _start_private(self, work):
        # PostgreSQL refuses to run as root: the cluster belongs to the `postgres` user then.
        self.user = "postgres" if os.geteuid() == 0 else None
        self.cluster = tempfile.mkdtemp(prefix="strongroom-templates-pg-")
        if self.user:
            pw_ent = pwd.getpwnam(self.user)
            os.chown(self.cluster, pw_ent.pw_uid, pw_ent.pw_gid)
        data = self.data = os.path.join(self.cluster, "data")
        self.host, self.port = "127.0.0.1", free_port()
        run([self._bin("initdb"), "-D", data, "-U", "postgres", "-E", "UTF8",
             "--auth-local=trust", "--auth-host=scram-sha-256"], user=self.user)
        run([self._bin("pg_ctl"), "-D", data, "-l", os.path.join(self.cluster, "log"), "-w",
             "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.cluster} -c ssl=off", "start"],
            user=self.user)
        self.admin_env = dict(os.environ, PGPASSFILE=os.devnull)
        self.admin_conn = f"host={self.cluster} port={self.port} user=postgres dbname=postgres"

    def stop(self):
        if self.cluster:
            run([self._bin("pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop"],
                user=self.user, check=False)
            shutil.rmtree(self.cluster, ignore_errors=True)
            self.cluster = None

    def admin(self, sql):
        return run(["psql", self.admin_conn, "-v", "ON_ERROR_STOP=1", "-tA"], input=sql,
                   env=self.admin_env, timeout=30).stdout

    def accepts(self, user, pw):
        env = dict(os.environ, PGPASSWORD=pw, PGPASSFILE=os.devnull)
        conn = (f"host={self.host} port={self.port} user={user} dbname=postgres "
                "sslmode=disable connect_timeout=5")
        return run(["psql", conn, "-tAc", "SELECT 1"], env=env, check=False,
                   timeout=30).returncode == 0

    def check_passwords_are_checked(self):
        role = "srtpl_probe_" + secrets.token_hex(3)
        self.admin(f"CREATE ROLE {role} LOGIN PASSWORD '{password()}';")
        try:
            if self.accepts(role, password()):
                raise RuntimeError(
                    f"PostgreSQL at {self.host}:{self.port} accepts any password from here "
                    "(trust): a password rotation cannot be shown on it; use --postgres private")
        finally:
            self.admin(f"DROP ROLE IF EXISTS {role};")


# ---------------------------------------------------------------- Strongroom

def toml_value(v):
    if isinstance(v, dict):  # an inline table
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    # A JSON string is a TOML basic string as long as it is ASCII (json.dumps escapes the rest).
    return json.dumps(v) if isinstance(v, str) else str(v)


class Strongroom:
    def __init__(self, binary, work, functions, aws):
        self.work = work
        self.aws_bin = aws
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.key_id = "AKIA" + "".join(secrets.choice(string.ascii_uppercase + string.digits)
                                       for _ in range(16))
        self.secret_key = secrets.token_urlsafe(30)[:40]
        cfg = os.path.join(work, "strongroom.toml")
        with open(cfg, "w") as f:
            for fn in functions:
                f.write("[[rotation-function]]\n" + "".join(
                    f"{k} = {toml_value(v)}\n" for k, v in fn.items()) + "\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
        env.update(STRONGROOM_ROOT_ACCESS_KEY_ID=self.key_id,
                   STRONGROOM_ROOT_SECRET_ACCESS_KEY=self.secret_key, NO_COLOR="1")
        self.log_path = os.path.join(work, "strongroom.log")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [binary, "server", "--data-dir", os.path.join(work, "data"), "--listen",
             f"127.0.0.1:{self.port}", "--account-id", ACCOUNT, "--region", REGION,
             "--config", cfg, "--rotation-interval-secs", "1"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"strongroom exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"strongroom did not answer /health; see {self.log_path}")
            time.sleep(0.2)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def aws(self, *args, check=True):
        nowhere = os.path.join(self.work, "no-aws-config")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID=self.key_id, AWS_SECRET_ACCESS_KEY=self.secret_key,
                   AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE=nowhere,
                   AWS_SHARED_CREDENTIALS_FILE=nowhere, AWS_EC2_METADATA_DISABLED="true",
                   AWS_PAGER="", AWS_MAX_ATTEMPTS="1")
        p = run([self.aws_bin, "--endpoint-url", self.endpoint, "--output", "json", *args],
                env=env, check=False, timeout=60)
        if check and p.returncode != 0:
            raise RuntimeError(f"aws {' '.join(args[:2])} failed: {p.stderr.strip()[-800:]}")
        return json.loads(p.stdout) if p.stdout.strip() else {}

    def events(self, name, secret_arn):
        out = self.aws("cloudtrail", "lookup-events", "--lookup-attributes",
                       f"AttributeKey=EventName,AttributeValue={name}")
        records = [json.loads(e["CloudTrailEvent"]) for e in out.get("Events", [])]
        return [r for r in records
                if any(res.get("ARN") == secret_arn for res in r.get("resources") or [])]


def function_arn(template):
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{template}"


def create_role(sr):
    sr.aws("iam", "create-role", "--role-name", ROLE, "--assume-role-policy-document",
           json.dumps({"Version": "2012-10-17", "Statement": [{
               "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
               "Action": "sts:AssumeRole"}]}))
    # What AWS's documentation gives a rotation function's execution role.
    sr.aws("iam", "put-role-policy", "--role-name", ROLE, "--policy-name", "rotation",
           "--policy-document", json.dumps({"Version": "2012-10-17", "Statement": [
               {"Effect": "Allow",
                "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
                           "secretsmanager:PutSecretValue",
                           "secretsmanager:UpdateSecretVersionStage"],
                "Resource": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:*"},
               {"Effect": "Allow", "Action": "secretsmanager:GetRandomPassword",
                "Resource": "*"}]}))


# ---------------------------------------------------------------- checks

class Checks:
    def __init__(self, template):
        self.template = template
        self.results = []

    def __call__(self, ok, what):
        self.results.append((bool(ok), what))
        log(f"    [{'ok' if ok else 'FAILED'}] {what}")
        return bool(ok)

    @property
    def passed(self):
        return bool(self.results) and all(ok for ok, _ in self.results)


def rotate(sr, secret_id, template):
    out = sr.aws("secretsmanager", "rotate-secret", "--secret-id", secret_id,
                 "--rotation-lambda-arn", function_arn(template),
                 "--rotation-rules", "AutomaticallyAfterDays=30")
    return out["VersionId"]


def wait_rotation(sr, secret_arn, token, timeout=5 * STEP_TIMEOUT):
    """"succeeded", or the RotationFailed reason; None if neither came in time."""
    deadline = time.time() + timeout
    n = 0
    while time.time() < deadline:
        stages = sr.aws("secretsmanager", "describe-secret", "--secret-id",
                        secret_arn)["VersionIdsToStages"]
        if "AWSCURRENT" in stages.get(token, []):
            return "succeeded"
        n += 1
        if n % 3 == 0:
            for r in sr.events("RotationFailed", secret_arn):
                if token in json.dumps(r):
                    return "failed: " + str(r.get("serviceEventDetails", r))
        time.sleep(0.5)
    return None


def value(sr, secret_id, **kw):
    args = [f"--{k.replace('_', '-')}={v}" for k, v in kw.items()]
    return json.loads(sr.aws("secretsmanager", "get-secret-value", "--secret-id", secret_id,
                             *args)["SecretString"])


def rotation_events(check, sr, secret_arn, token):
    for name in ("RotationStarted", "RotationSucceeded"):
        found = [r for r in sr.events(name, secret_arn) if token in json.dumps(r)]
        check(len(found) == 1, f"CloudTrail LookupEvents has {name} for version {token}")


def log_tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log)"


def db_secret(engine, db, user, pw, dbname):
    return {"engine": engine, "host": db.host, "port": db.port, "username": user,
            "password": pw, "dbname": dbname, "ssl": False}


def verify_database_template(check, sr, template, engine, kind, db, cleanup):
    tag = secrets.token_hex(3)
    user, first = f"srt{tag}", password()  # short: MySQL's _clone must fit 16 characters
    if engine in ("mysql", "mariadb"):
        dbname = f"srtpl_{tag}"
        db.admin(f"CREATE DATABASE {dbname}; CREATE USER '{user}'@'%' IDENTIFIED BY '{first}';"
                 f" GRANT SELECT ON {dbname}.* TO '{user}'@'%';")
        cleanup.append(lambda: db.admin(
            f"DROP USER IF EXISTS '{user}'@'%'; DROP USER IF EXISTS '{user}_clone'@'%';"
            f" DROP DATABASE IF EXISTS {dbname};"))
    else:
        dbname = "postgres"
        db.admin(f"CREATE ROLE {user} LOGIN PASSWORD '{first}';")
        cleanup.append(lambda: db.admin(
            f"DROP ROLE IF EXISTS {user}_clone; DROP ROLE IF EXISTS {user};"))
    check(db.accepts(user, first), f"{engine}: {user} signs in with its first password")
    value_ = db_secret(engine, db, user, first, dbname)
    if kind == "multi":
        admin, admin_pw = f"sra{tag}", password()
        if engine in ("mysql", "mariadb"):
            db.admin(f"CREATE USER '{admin}'@'%' IDENTIFIED BY '{admin_pw}';"
                     f" GRANT ALL PRIVILEGES ON *.* TO '{admin}'@'%' WITH GRANT OPTION;")
            cleanup.append(lambda: db.admin(f"DROP USER IF EXISTS '{admin}'@'%';"))
        else:
            # CREATEROLE, not superuser (RDS's master user is not one either); ADMIN on the
            # user's role lets it grant that role to the clone on every PostgreSQL version.
            db.admin(f"CREATE ROLE {admin} LOGIN CREATEROLE PASSWORD '{admin_pw}';"
                     f" GRANT {user} TO {admin} WITH ADMIN OPTION;")
            cleanup.append(lambda: db.admin(f"DROP ROLE IF EXISTS {admin};"))
        master = sr.aws("secretsmanager", "create-secret", "--name",
                        f"{template}-master-{tag}", "--secret-string",
                        json.dumps(db_secret(engine, db, admin, admin_pw, dbname)))
        value_["masterarn"] = master["ARN"]
    secret = sr.aws("secretsmanager", "create-secret", "--name", f"{template}-{tag}",
                    "--secret-string", json.dumps(value_))
    arn = secret["ARN"]
    seen = [(user, first)]
    for n in (1, 2):
        token = rotate(sr, arn, template)
        outcome = wait_rotation(sr, arn, token)
        if not check(outcome == "succeeded",
                     f"rotation {n} (rotate-secret, version {token}) finished: "
                     f"{outcome or 'timed out'}"):
            return
        check("AWSCURRENT" in sr.aws("secretsmanager", "describe-secret", "--secret-id", arn)
              ["VersionIdsToStages"][token], f"AWSCURRENT moved to version {token}")
        new = value(sr, arn)
        prev = value(sr, arn, version_stage="AWSPREVIOUS")
        check(new["password"] not in (p for _, p in seen), "the new value has a new password")
        check(len(new["password"]) == PASSWORD_LENGTH
              and not set(ENVIRONMENT["EXCLUDE_CHARACTERS"]) & set(new["password"]),
              "the template read its function's environment (PASSWORD_LENGTH, "
              "EXCLUDE_CHARACTERS)")
        check(db.accepts(new["username"], new["password"]),
              f"{engine} accepts {new['username']} with the new password")
        if kind == "single":
            check(new["username"] == user, "the same user (single-user rotation)")
            check(not db.accepts(user, prev["password"]),
                  f"{engine} refuses {user}'s previous password")
        else:
            expected = f"{user}_clone" if n == 1 else user
            check(new["username"] == expected,
                  f"alternating users: rotation {n} made {expected} AWSCURRENT")
            check(db.accepts(prev["username"], prev["password"]),
                  f"{prev['username']} still signs in with its password (AWSPREVIOUS)")
            if n == 1:
                if engine in ("mysql", "mariadb"):
                    grants = db.admin(f"SHOW GRANTS FOR '{user}_clone'@'%';")
                    check(f"`srtpl_{tag}`.*" in grants,
                          f"{user}_clone was given {user}'s privileges (SHOW GRANTS)")
                else:
                    member = db.admin(f"SELECT pg_has_role('{user}_clone', '{user}', 'MEMBER');")
                    check(member.strip() == "t", f"{user}_clone is a member of {user}")
            else:
                check(not db.accepts(user, first),
                      f"{engine} refuses {user}'s first password")
        rotation_events(check, sr, arn, token)
        seen.append((new["username"], new["password"]))


def verify_generic_template(check, sr, template):
    tag = secrets.token_hex(3)
    first = password()
    secret = sr.aws("secretsmanager", "create-secret", "--name", f"{template}-{tag}",
                    "--secret-string", first)
    arn = secret["ARN"]
    token = rotate(sr, arn, template)
    outcome = wait_rotation(sr, arn, token)
    check(outcome and outcome.startswith("failed") and "setSecret" in outcome
          and "NotImplementedError" in outcome,
          "the rotation fails at setSecret with NotImplementedError, as on AWS "
          f"(the template's setSecret is a stub): {outcome or 'timed out'}")
    stages = sr.aws("secretsmanager", "describe-secret", "--secret-id",
                    arn)["VersionIdsToStages"]
    check(stages.get(token) == ["AWSPENDING"], f"version {token} stays AWSPENDING")
    pending = sr.aws("secretsmanager", "get-secret-value", "--secret-id", arn, "--version-id",
                     token, "--version-stage", "AWSPENDING")["SecretString"]
    check(len(pending) == 32 and pending != first
          and not set(ENVIRONMENT["EXCLUDE_CHARACTERS"]) & set(pending),
          "createSecret stored a generated password (32 characters, none of the function's "
          "EXCLUDE_CHARACTERS) as AWSPENDING")
    check(sr.aws("secretsmanager", "get-secret-value", "--secret-id", arn)["SecretString"]
          == first, "AWSCURRENT is unchanged")
    started = [r for r in sr.events("RotationStarted", arn) if token in json.dumps(r)]
    check(len(started) == 1, f"CloudTrail LookupEvents has RotationStarted for version {token}")


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("templates_dir", help="checkout of aws-secrets-manager-rotation-lambdas")
    ap.add_argument("strongroom", help="the strongroom binary")
    ap.add_argument("--only", nargs="+", choices=sorted(TEMPLATES), help="templates to verify")
    ap.add_argument("--venv-dir", help="keep (and reuse) the virtualenvs here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--mysql", default="127.0.0.1:3306", help="MariaDB/MySQL (root; password "
                    "in MYSQL_ADMIN_PASSWORD if it needs one)")
    ap.add_argument("--postgres", default="private", help="'private' or HOST:PORT")
    ap.add_argument("--aws", default=shutil.which("aws") or "aws", help="the AWS CLI")
    args = ap.parse_args()

    templates_dir = os.path.abspath(args.templates_dir)
    binary = os.path.abspath(args.strongroom)
    names = args.only or list(TEMPLATES)
    work = tempfile.mkdtemp(prefix="strongroom-templates-")
    venv_root = os.path.abspath(args.venv_dir) if args.venv_dir else os.path.join(work, "venvs")
    log(f"templates: {templates_dir}\nstrongroom: {binary}\nwork dir: {work}")

    outcome = {}
    functions, pythons, digests = [], {}, {}
    for name in names:
        path = os.path.join(templates_dir, name)
        if not os.path.isfile(os.path.join(path, "lambda_function.py")):
            outcome[name] = f"FAIL ({path}/lambda_function.py not found)"
            continue
        digests[name] = tree_digest(path)
        engine, kind, deps = TEMPLATES[name]
        log(f"virtualenv for {name}: boto3 {' '.join(deps)}")
        try:
            pythons[name] = venv_for(venv_root, name, deps)
        except RuntimeError as e:
            outcome[name] = f"FAIL (dependency not installed: {e})"
            continue
        functions.append({
            "arn": function_arn(name),
            "python-handler": f"{path}:lambda_function.lambda_handler",
            "python": pythons[name],
            "role-arn": f"arn:aws:iam::{ACCOUNT}:role/{ROLE}",
            "timeout-secs": STEP_TIMEOUT,
            "log-file": os.path.join(work, f"{name}.log"),
            "environment": ENVIRONMENT,
        })

    engines = {TEMPLATES[n][0] for n in pythons}
    sr = mysql = pg = None
    cleanup = []
    try:
        if engines & {"mysql", "mariadb"}:
            mysql = MySQL(args.mysql)
        if "postgres" in engines:
            pg = Postgres(args.postgres, work)
            pg.check_passwords_are_checked()
        sr = Strongroom(binary, work, functions, args.aws)
        create_role(sr)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        log(f"setup failed: {e}")
        pythons = {}
    try:
        for name in pythons:
            engine, kind, _ = TEMPLATES[name]
            log(f"\n== {name}")
            check = Checks(name)
            try:
                if kind == "generic":
                    verify_generic_template(check, sr, name)
                else:
                    verify_database_template(check, sr, name, engine, kind,
                                             pg if engine == "postgres" else mysql, cleanup)
            except Exception as e:  # noqa: BLE001 - a template's failure must not stop the rest
                check(False, f"{type(e).__name__}: {e}")
            check(tree_digest(os.path.join(templates_dir, name)) == digests[name],
                  "no file in the template's directory changed")
            outcome[name] = "PASS" if check.passed else "FAIL"
            if not check.passed:
                log(f"    --- the function's log ({name}.log), last lines ---\n"
                    + log_tail(os.path.join(work, f"{name}.log")))
    finally:
        for undo in reversed(cleanup):
            try:
                undo()
            except Exception as e:  # noqa: BLE001 - clean up what can be cleaned
                log(f"cleanup: {e}")
        if sr:
            sr.stop()
        if pg:
            pg.stop()

    log("\n== results")
    for name in names:
        log(f"{outcome.get(name, 'FAIL (not run)'):<6} {name}")
    failed = any(not outcome.get(n, "").startswith("PASS") for n in names)
    if args.keep or failed:
        log(f"work directory kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
