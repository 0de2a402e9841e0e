"""`strongroom agent` (issue 10 §3): AWS Secrets Manager Agent's HTTP API and the Lambda
Parameters and Secrets extension's, on loopback, cached — and never a rotated-away value: the
agent follows the server's change stream (GET /changes) and drops an entry the moment it
changes; the TTL is the fallback.

Real processes only: the built agent, the server, curl, Python's `requests`, Node. Every agent
log goes under the run's logs/ (the leak scan after the run reads it)."""
import http.client
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime

import boto3
import pytest
import requests
from botocore.config import Config

from conftest import remember, secret
from server import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, Server, binary, work_dir

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})
TAG = uuid.uuid4().hex[:6]
HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN_HEADER = "X-Aws-Parameters-Secrets-Token"


def client(server, service, access_key=ACCESS_KEY, secret_key=SECRET_KEY, token=None):
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION, config=NO_RETRY,
                        aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                        aws_session_token=token)


class Agent:
    """A `strongroom agent` process: stdout's first line names its address (as AWS's agent
    prints it); stderr goes to a log under the run's logs/."""

    def __init__(self, env, config=None, args=("--port", "0"), name="agent"):
        self.log_path = os.path.join(work_dir("logs"), f"{name}-{uuid.uuid4().hex[:6]}.log")
        cmd = [binary(), "agent", *args]
        if config is not None:
            path = os.path.join(tempfile.mkdtemp(prefix="agent-config-"), "agent.toml")
            with open(path, "w") as f:
                f.write(config)
            cmd += ["--config", path]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.log)
        try:
            self.port = self._port()
            self._wait_ping()
        except BaseException:
            self.kill()
            raise

    def _port(self):
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("Agent/"):
            self.proc.wait(timeout=10)
            raise AssertionError(f"agent did not start ({self.proc.returncode}): {line!r}\n{self.logs()}")
        return int(line.strip().rsplit(":", 1)[1])

    def _wait_ping(self):
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if self.get("/ping", token=None)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("agent /ping did not answer")

    def get(self, path, token="", headers=None, method="GET"):
        """(status, body text) of one request on a fresh connection."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        h = dict(headers or {})
        if token is not None:
            h.setdefault(TOKEN_HEADER, token)
        c.request(method, path, headers=h)
        r = c.getresponse()
        body = r.read().decode()
        c.close()
        return r.status, body

    def value(self, secret_id, token, **params):
        q = "&".join(f"{k}={v}" for k, v in params.items())
        status, body = self.get(f"/secretsmanager/get?secretId={secret_id}" + (f"&{q}" if q else ""), token)
        assert status == 200, body
        return json.loads(body)["SecretString"]

    def logs(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        """SIGTERM: the agent wipes its cache and exits 0."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=15)
        self.log.close()
        return code

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.log.closed:
            self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            assert self.stop() == 0, self.logs()
        self.kill()


def agent_env(server, access_key=ACCESS_KEY, secret_key=SECRET_KEY, **extra):
    env = server.env(access_key=access_key, secret_key=secret_key)
    env["AWS_ENDPOINT_URL"] = server.endpoint
    for k in ("AWS_TOKEN", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"):
        env.pop(k, None)
    env.update(extra)
    return env


def user_with(server, name, statements):
    """An IAM user allowed `statements`; returns (access key id, secret key)."""
    iam = client(server, "iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": statements}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    remember(key["SecretAccessKey"])
    return key["AccessKeyId"], key["SecretAccessKey"]


def read_statement(*arns, describe=True):
    actions = ["secretsmanager:GetSecretValue"] + (["secretsmanager:DescribeSecret"] if describe else [])
    return {"Effect": "Allow", "Action": actions, "Resource": list(arns)}


def until(check, seconds, step=0.01):
    """Poll `check` until it returns truthy; (value, seconds taken) or (None, seconds)."""
    t0 = time.monotonic()
    while True:
        got = check()
        if got:
            return got, time.monotonic() - t0
        if time.monotonic() - t0 > seconds:
            return None, time.monotonic() - t0
        time.sleep(step)


@pytest.fixture(scope="module")
def data(server):
    """A JSON secret, a SecureString and a String parameter, and a least-privilege reader."""
    sm, ssm = client(server, "secretsmanager"), client(server, "ssm")
    value = json.dumps({"username": "app", "password": secret("agent-pw")})
    name = f"agent/{TAG}/db"
    arn = sm.create_secret(Name=name, SecretString=value)["ARN"]
    param = f"/agent/{TAG}/api-key"
    ssm.put_parameter(Name=param, Value=secret("agent-param"), Type="SecureString")
    plain = f"/agent/{TAG}/region"
    ssm.put_parameter(Name=plain, Value="eu-west-1", Type="String")
    key = user_with(server, f"agent-reader-{TAG}", [
        read_statement(arn, f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:agent/{TAG}/missing*"),
        {"Effect": "Allow", "Action": "ssm:GetParameter",
         "Resource": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/agent/{TAG}/*"}])
    return {"name": name, "arn": arn, "value": value, "param": param, "plain": plain, "key": key}


def same_as_get_secret_value(got, expected):
    for k in ("ARN", "Name", "VersionId", "SecretString", "VersionStages"):
        assert got[k] == expected[k], k
    # AWS's agent writes CreatedDate as a string of epoch seconds.
    assert abs(float(got["CreatedDate"]) - expected["CreatedDate"].timestamp()) < 0.002


def same_as_get_parameter(got, expected):
    p, e = got["Parameter"], expected["Parameter"]
    for k in ("ARN", "Name", "Type", "Value", "Version", "DataType"):
        assert p[k] == e[k], k
    modified = datetime.fromisoformat(p["LastModifiedDate"].replace("Z", "+00:00"))
    assert abs(modified.timestamp() - e["LastModifiedDate"].timestamp()) < 0.002
    assert got["ResultMetadata"] == {}


def test_curl_and_python_as_aws_documents_them_get_get_secret_values_json(server, data, tmp_path):
    """The SSRF token in a file (as AWS's install script leaves it), AWS_TOKEN=file://...; the
    README's curl and Python (requests) examples; the same JSON as GetSecretValue."""
    token_file = tmp_path / "awssmatoken"
    token = uuid.uuid4().hex
    token_file.write_text(token + "\n")
    env = agent_env(server, *data["key"], AWS_TOKEN=f"file://{token_file}")
    expected = client(server, "secretsmanager").get_secret_value(SecretId=data["name"])
    expected_param = client(server, "ssm").get_parameter(Name=data["param"], WithDecryption=True)
    with Agent(env) as agent:
        url = f"http://localhost:{agent.port}/secretsmanager/get?secretId={data['name']}"
        p = subprocess.run(["bash", "-c", f'curl -sS -H "{TOKEN_HEADER}: $(<{token_file})" "{url}"'],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        same_as_get_secret_value(json.loads(p.stdout), expected)

        # AWS's README's Python, with its placeholders filled in.
        def get_secret():
            url = f"http://localhost:{agent.port}/secretsmanager/get?secretId={data['arn']}"
            with open(token_file) as fp:
                token = fp.read()
            headers = {"X-Aws-Parameters-Secrets-Token": token.strip()}
            response = requests.get(url, headers=headers)
            if response.status_code == 200:
                return response.text
            raise Exception(f"Status code {response.status_code} - {response.text}")

        same_as_get_secret_value(json.loads(get_secret()), expected)
        # The path form, and refreshNow.
        r = requests.get(f"http://localhost:{agent.port}/v1/{data['name']}?refreshNow=true",
                         headers={TOKEN_HEADER: token})
        same_as_get_secret_value(r.json(), expected)
        # Parameters, the Lambda extension's way.
        r = requests.get(f"http://localhost:{agent.port}/systemsmanager/parameters/get",
                         params={"name": data["param"], "withDecryption": "true"}, headers={TOKEN_HEADER: token})
        assert r.status_code == 200, r.text
        same_as_get_parameter(r.json(), expected_param)
        r = requests.get(f"http://localhost:{agent.port}/systemsmanager/parameters/get",
                         params={"name": data["plain"], "version": "1"}, headers={TOKEN_HEADER: token})
        assert r.json()["Parameter"]["Value"] == "eu-west-1" and r.json()["Parameter"]["Selector"] == ":1"
        log = agent.logs()
    for v in (data["value"], expected_param["Parameter"]["Value"], token):
        assert v not in log


def test_node_lambda_extension_snippet_through_a_role_session(server, data):
    """As in Lambda: the agent runs with the function role's temporary credentials, and the
    function's AWS_SESSION_TOKEN is the SSRF token its code sends (plain http and fetch)."""
    iam = client(server, "iam")
    role = f"agent-fn-{TAG}"
    user = f"agent-invoker-{TAG}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    remember(key["SecretAccessKey"])
    iam.put_user_policy(UserName=user, PolicyName="assume", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Resource": f"arn:aws:iam::{ACCOUNT}:role/{role}"}]}))
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/{user}"}}]}))
    iam.put_role_policy(RoleName=role, PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            read_statement(data["arn"]),
            {"Effect": "Allow", "Action": "ssm:GetParameter",
             "Resource": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/agent/{TAG}/*"}]}))
    sts = client(server, "sts", key["AccessKeyId"], key["SecretAccessKey"])
    creds = until(lambda: _assume(sts, role), 10, step=0.2)[0]["Credentials"]
    remember(creds["SecretAccessKey"])
    env = agent_env(server, creds["AccessKeyId"], creds["SecretAccessKey"],
                    AWS_SESSION_TOKEN=creds["SessionToken"])
    with Agent(env) as agent:
        fn_env = dict(env, PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=str(agent.port),
                      AGENT_SECRET_ID=data["name"], AGENT_PARAMETER_NAME=data["param"])
        p = subprocess.run(["node", os.path.join(HERE, "node", "agent_extension.js")], env=fn_env,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        out = json.loads(p.stdout)
        same_as_get_secret_value(out["secret"], client(server, "secretsmanager").get_secret_value(
            SecretId=data["name"]))
        same_as_get_parameter(out["parameter"], client(server, "ssm").get_parameter(
            Name=data["param"], WithDecryption=True))
        # Without the session token as header: refused.
        fn_env["AWS_SESSION_TOKEN"] = "not-the-token"
        p = subprocess.run(["node", os.path.join(HERE, "node", "agent_extension.js")], env=fn_env,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 1 and "status 403: Bad Token" in p.stderr


def _assume(sts, role):
    try:
        return sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}", RoleSessionName="fn")
    except sts.exceptions.ClientError:
        return None


def test_refusals_use_aws_agents_status_codes_and_bodies(server, data):
    token = uuid.uuid4().hex
    with Agent(agent_env(server, *data["key"], AWS_TOKEN=token)) as agent:
        path = f"/secretsmanager/get?secretId={data['name']}"
        assert agent.get(path, token=None) == (403, "Bad Token")
        assert agent.get(path, token=token[:-1] + "x") == (403, "Bad Token")
        assert agent.get(path, token=token + "x") == (403, "Bad Token")
        assert agent.get(path, token=None, headers={"X-Vault-Token": token})[0] == 200
        assert agent.get(path, token=token, headers={"X-Forwarded-For": "10.0.0.1"}) == (400, "Forwarded")
        for method in ("POST", "PUT", "DELETE"):
            assert agent.get(path, token=token, method=method) == (405, "Not allowed")
        # The token is checked before the method, as AWS's agent does.
        assert agent.get(path, token=None, method="POST") == (403, "Bad Token")
        assert agent.get("/ping", token=None) == (200, "healthy")
        assert agent.get("/nothing-here", token=token) == (404, "Not found")
        assert agent.get(path + "&abc=1", token=token) == (400, "unknown parameter: abc")
        assert agent.get(path + "&refreshNow=maybe", token=token) == (400, "invalid refreshNow value")
        assert agent.get("/secretsmanager/get", token=token) == (400, "missing parameter secretId")
        assert agent.get("/v1/", token=token) == (400, "missing secret ID")
        status, body = agent.get(f"/secretsmanager/get?secretId=agent/{TAG}/missing", token=token)
        assert status == 400 and json.loads(body)["__type"] == "ResourceNotFoundException"
        # The reader may not read other secrets: the server's answer, passed through.
        other = client(server, "secretsmanager").create_secret(Name=f"agent/{TAG}/other",
                                                             SecretString=secret("other"))
        status, body = agent.get(f"/secretsmanager/get?secretId={other['ARN']}", token=token)
        assert status == 400 and json.loads(body)["__type"] == "AccessDeniedException", body
        status, body = agent.get(f"/systemsmanager/parameters/get?name=/elsewhere/{TAG}", token=token)
        assert status == 400 and json.loads(body)["__type"] == "AccessDeniedException", body


def test_too_many_connections_and_an_aws_agent_config_file(server, data):
    """AWS's agent's own keys, written as its test files write them (numbers as numbers and as
    strings); max_conn = 1: a second connection is answered 429 (/ping gets two more)."""
    config = f"""
log_level = "DEBUG"
http_port = "0"
ssrf_headers = ["X-My-Token"]
ssrf_env_variables = ["MY_TOKEN"]
path_prefix = "/other/"
ttl_seconds = 300
cache_size = '1000'
max_conn = 1
region = "{REGION}"
ignore_transient_errors = true
validate_credentials = true
"""
    token = uuid.uuid4().hex
    with Agent(agent_env(server, *data["key"], MY_TOKEN=token), config=config, args=()) as agent:
        # The harness's readiness probe may still hold the one slot for a moment.
        def first_request():
            conn = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=10)
            conn.request("GET", f"/other/{data['name']}", headers={"X-My-Token": token})
            r = conn.getresponse()
            if r.status == 429:
                r.read()
                conn.close()
                return None
            return conn, r
        (first, r), _ = until(first_request, 5)
        assert (r.status, json.loads(r.read())["Name"]) == (200, data["name"])
        assert agent.get(f"/other/{data['name']}", headers={"X-My-Token": token}) == (429, "Connection limit exceeded")
        assert agent.get("/ping", token=None) == (200, "healthy")
        first.close()
        status, _ = until(lambda: agent.get(f"/other/{data['name']}", token=None,
                                            headers={"X-My-Token": token})[0] == 200, 5)
        assert status
        # The default header is not among the configured ones. (With max_conn = 1 the slot
        # of the request before may not be free yet: a 429 then is the limit, not the answer.)
        answer, _ = until(lambda: (lambda r: r if r[0] != 429 else None)(
            agent.get(f"/other/{data['name']}", token=token)), 5)
        assert answer == (403, "Bad Token")


def test_refuses_a_non_loopback_address_a_missing_token_and_bad_config(server, tmp_path):
    env = agent_env(server, AWS_TOKEN="t")
    p = subprocess.run([binary(), "agent", "--port", "0", "--address", "0.0.0.0"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "loopback only" in p.stderr, p.stderr
    env.pop("AWS_TOKEN")
    p = subprocess.run([binary(), "agent", "--port", "0"], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "Could not read SSRF token variable(s)" in p.stderr, p.stderr
    bad = tmp_path / "agent.toml"
    bad.write_text("ttl_seconds = 3601\n")
    p = subprocess.run([binary(), "agent", "--config", str(bad)], env=dict(env, AWS_TOKEN="t"),
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "The TTL in seconds must be in the range 0 to 3600" in p.stderr


def test_changes_reach_the_agent_within_a_second_without_refresh_now(server, data):
    """Default TTL (300 s): only the change stream can make these fresh. PutSecretValue,
    UpdateSecretVersionStage, a parameter overwrite and a label move, DeleteSecret."""
    sm, ssm = client(server, "secretsmanager"), client(server, "ssm")
    name = f"agent/{TAG}/fresh"
    arn = sm.create_secret(Name=name, SecretString=secret("v1"))["ARN"]
    param = f"/agent/{TAG}/fresh"
    ssm.put_parameter(Name=param, Value=secret("p1"), Type="SecureString")
    reader = f"agent-fresh-{TAG}"
    key = user_with(server, reader, [
        read_statement(arn), {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "*"}])
    token = uuid.uuid4().hex
    with Agent(agent_env(server, *key, AWS_TOKEN=token)) as agent:
        # Cached: the same value three times, and the server saw one GetSecretValue for them.
        v1 = agent.value(name, token)
        assert agent.value(name, token) == v1 == agent.value(name, token)
        ct = client(server, "cloudtrail")
        calls = lambda: [e for e in ct.lookup_events(LookupAttributes=[  # noqa: E731
            {"AttributeKey": "Username", "AttributeValue": reader}])["Events"]
            if e["EventName"] == "GetSecretValue"]
        assert len(calls()) == 1
        by_arn = agent.value(arn, token)

        v2 = secret("v2")
        sm.put_secret_value(SecretId=name, SecretString=v2)
        got, took = until(lambda: agent.value(name, token) == v2, 1.0)
        assert got, f"still the old value after {took:.2f} s"
        assert agent.value(arn, token) == v2 and by_arn == v1
        previous = agent.value(name, token, versionStage="AWSPREVIOUS")
        assert previous == v1

        # A new version staged aside, then AWSCURRENT moved to it.
        v3 = secret("v3")
        staged = sm.put_secret_value(SecretId=name, SecretString=v3, VersionStages=["NEXT"])["VersionId"]
        assert agent.value(name, token) == v2
        current = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
        old = next(v for v, s in current.items() if "AWSCURRENT" in s)
        sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=staged,
                                       RemoveFromVersionId=old)
        got, took = until(lambda: agent.value(name, token) == v3, 1.0)
        assert got, f"AWSCURRENT moved, the agent still served the old value after {took:.2f} s"
        got, _ = until(lambda: agent.value(name, token, versionStage="AWSPREVIOUS") == v2, 1.0)
        assert got

        # Parameters: an overwrite, then a label moved to the new version.
        path = f"/systemsmanager/parameters/get?name={param}&withDecryption=true"
        read = lambda p=path: json.loads(agent.get(p, token)[1])["Parameter"]["Value"]  # noqa: E731
        assert read() == ssm.get_parameter(Name=param, WithDecryption=True)["Parameter"]["Value"]
        p2 = secret("p2")
        ssm.put_parameter(Name=param, Value=p2, Type="SecureString", Overwrite=True)
        got, took = until(lambda: read() == p2, 1.0)
        assert got, f"parameter overwrite not seen after {took:.2f} s"
        ssm.label_parameter_version(Name=param, ParameterVersion=1, Labels=["live"])
        labelled = f"/systemsmanager/parameters/get?name={param}&label=live&withDecryption=true"
        assert read(labelled) != p2
        ssm.label_parameter_version(Name=param, ParameterVersion=2, Labels=["live"])
        got, took = until(lambda: read(labelled) == p2, 1.0)
        assert got, f"label move not seen after {took:.2f} s"

        # Deleted: the cached value is no longer served.
        sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
        got, took = until(lambda: agent.get(f"/secretsmanager/get?secretId={name}", token)[0] == 400, 1.0)
        assert got, f"a deleted secret was still served after {took:.2f} s"
        sm.restore_secret(SecretId=name)
        got, _ = until(lambda: agent.get(f"/secretsmanager/get?secretId={name}", token)[0] == 200, 1.0)
        assert got
        log = agent.logs()
    assert not any(v in log for v in (v1, v2, v3, p2))


def test_a_background_rotation_reaches_the_agent_within_a_second(tmp_path):
    """RotateSecret with the built-in MariaDB rotator: the server rotates a real database user's
    password on its own (no API call moves AWSCURRENT; the RotationSucceeded service event is
    what the stream carries). The agent, at the default TTL, serves the new password within a
    second of the SDK first seeing it — and the old one never after that."""
    import pymysql
    fn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:agent-mysql-builtin"
    cfg = tmp_path / "strongroom.toml"
    cfg.write_text(f'[[rotation-function]]\narn = "{fn}"\nbuiltin = "mysql-single-user"\n')
    s = Server(name="agent-rotation", extra_args=["--config", str(cfg), "--rotation-interval-secs", "1"])
    db = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", connect_timeout=5,
                         autocommit=True)
    user = f"agt_{uuid.uuid4().hex[:10]}"
    first = secret("rot-first")
    try:
        with db.cursor() as c:
            c.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (first,))
        sm = client(s, "secretsmanager")
        name = f"agent-rotated-{TAG}"
        sm.create_secret(Name=name, SecretString=json.dumps(
            {"engine": "mariadb", "host": "127.0.0.1", "port": 3306, "username": user, "password": first}))
        token = uuid.uuid4().hex
        password = lambda v: json.loads(v)["password"]  # noqa: E731
        with Agent(agent_env(s, AWS_TOKEN=token)) as agent:
            assert password(agent.value(name, token)) == first
            sm.rotate_secret(SecretId=name, RotationLambdaARN=fn, RotationRules={"AutomaticallyAfterDays": 7})
            sdk_saw = agent_saw = None
            t0 = time.monotonic()
            while time.monotonic() - t0 < 60 and agent_saw is None:
                now = time.monotonic()
                if sdk_saw is None and password(sm.get_secret_value(SecretId=name)["SecretString"]) != first:
                    sdk_saw = now
                served = password(agent.value(name, token))
                if served != first:
                    agent_saw = time.monotonic()
                    remember(served)
                elif sdk_saw is not None:
                    assert now - sdk_saw < 1.0, "the agent served the rotated-away password for over a second"
                time.sleep(0.01)
            assert agent_saw is not None, f"no rotation within 60 s:\n{s.logs()[-2000:]}"
            new = password(sm.get_secret_value(SecretId=name)["SecretString"])
            assert password(agent.value(name, token)) == new
            assert agent_saw - (sdk_saw or agent_saw) < 1.0
            # The new password is the database's.
            pymysql.connect(host="127.0.0.1", port=3306, user=user, password=new, connect_timeout=5).close()
            log = agent.logs()
        assert first not in log and new not in log
    finally:
        with db.cursor() as c:
            c.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        db.close()
        assert s.stop() == 0


def test_ttl_is_the_fallback_when_the_stream_shows_nothing(server, data):
    """A reader without DescribeSecret on the secret is shown none of its changes (the server
    filters its stream); with ttl_seconds = 3 it gets the new value when the TTL runs out — and
    an allowed reader at the same moment within a second."""
    sm = client(server, "secretsmanager")
    name = f"agent/{TAG}/ttl"
    arn = sm.create_secret(Name=name, SecretString=secret("t1"))["ARN"]
    blind = user_with(server, f"agent-blind-{TAG}", [read_statement(arn, describe=False)])
    seeing = user_with(server, f"agent-seeing-{TAG}", [read_statement(arn)])
    token = uuid.uuid4().hex
    config = "ttl_seconds = 3\n"
    with Agent(agent_env(server, *blind, AWS_TOKEN=token), config=config) as slow, \
            Agent(agent_env(server, *seeing, AWS_TOKEN=token), config=config) as fast:
        old = slow.value(name, token)
        assert fast.value(name, token) == old
        # Both streams are up (each got its `ready`) before the write.
        time.sleep(0.3)
        new = secret("t2")
        sm.put_secret_value(SecretId=name, SecretString=new)
        t0 = time.monotonic()
        got, took = until(lambda: fast.value(name, token) == new, 1.0)
        assert got, "the allowed reader's agent did not see the change"
        served = []
        while time.monotonic() - t0 < 1.2:
            served.append(slow.value(name, token))
            time.sleep(0.05)
        assert set(served) == {old}, "the blind reader saw a change its stream may not show"
        got, took = until(lambda: slow.value(name, token) == new, 3.5)
        assert got, "the TTL did not expire the entry"


def test_serve_stale_when_the_server_is_down_bounded_and_logged(tmp_path):
    """The server goes away (kill -9: its stream too). Past the TTL the agent serves the cached
    value (AWS's ignore_transient_errors), logged, for at most max_stale_seconds; refreshNow
    gets the connection error."""
    s = Server(name="agent-stale")
    try:
        sm = client(s, "secretsmanager")
        name = f"stale-{TAG}"
        value = secret("stale")
        sm.create_secret(Name=name, SecretString=value)
        token = uuid.uuid4().hex
        with Agent(agent_env(s, AWS_TOKEN=token), config="ttl_seconds = 1\nmax_stale_seconds = 3\n") as agent:
            assert agent.value(name, token) == value
            s.proc.kill()
            s.proc.wait()
            time.sleep(1.3)
            assert agent.value(name, token) == value
            status, body = agent.get(f"/secretsmanager/get?secretId={name}&refreshNow=true", token)
            assert status == 502 and json.loads(body)["__type"] == "ConnectionError"
            got, _ = until(lambda: agent.get(f"/secretsmanager/get?secretId={name}", token)[0] == 502, 5, step=0.2)
            assert got, "a stale value was served past max_stale_seconds"
            log = agent.logs()
            assert "serving a cached value past its TTL" in log
            assert "change stream unavailable" in log
            assert value not in log
    finally:
        s.kill()


def test_through_a_profile_assuming_a_role(server, data, tmp_path):
    """~/.aws/credentials holds a user's keys; the agent's profile assumes a role with role_arn
    + source_profile (the role's trust policy names the user). Its stream is signed with the
    role session too: a change reaches it within a second."""
    iam = client(server, "iam")
    user = f"agent-profile-{TAG}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    remember(key["SecretAccessKey"])
    iam.put_user_policy(UserName=user, PolicyName="assume", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}))
    role = f"agent-profile-role-{TAG}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/{user}"}}]}))
    sm = client(server, "secretsmanager")
    name = f"agent/{TAG}/profile"
    arn = sm.create_secret(Name=name, SecretString=secret("pr1"))["ARN"]
    iam.put_role_policy(RoleName=role, PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [read_statement(arn)]}))
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text(
        f"[app-user]\naws_access_key_id = {key['AccessKeyId']}\naws_secret_access_key = {key['SecretAccessKey']}\n")
    (home / ".aws" / "config").write_text(
        f"[profile app-user]\nregion = {REGION}\nendpoint_url = {server.endpoint}\n\n"
        f"[profile agent]\nrole_arn = arn:aws:iam::{ACCOUNT}:role/{role}\nsource_profile = app-user\n"
        f"region = {REGION}\nendpoint_url = {server.endpoint}\n")
    env = {k: v for k, v in server.env().items() if not k.startswith("AWS_")}
    token = uuid.uuid4().hex
    env.update(HOME=str(home), AWS_PROFILE="agent", AWS_EC2_METADATA_DISABLED="true", AWS_TOKEN=token)
    # The role's trust policy is enforced: a fresh role may take a moment to be assumable.
    with Agent(env) as agent:
        first = agent.value(name, token)
        new = secret("pr2")
        sm.put_secret_value(SecretId=name, SecretString=new)
        got, took = until(lambda: agent.value(name, token) == new, 1.0)
        assert got, f"old value after {took:.2f} s"
        assert first != new
    # The user's own keys read nothing: the agent's values came through the role.
    env["AWS_PROFILE"] = "app-user"
    with Agent(env) as agent:
        status, body = agent.get(f"/secretsmanager/get?secretId={name}", token)
        assert status == 400 and "AccessDeniedException" in body


def test_the_change_stream_is_audited(server, data):
    """Opening the stream leaves a GetChangeStream record (read-only) for the agent's user."""
    import conftest
    start = conftest.since()
    token = uuid.uuid4().hex
    with Agent(agent_env(server, *data["key"], AWS_TOKEN=token)) as agent:
        agent.value(data["name"], token)
    ct = client(server, "cloudtrail")

    def found():
        events = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName",
                                                     "AttributeValue": "GetChangeStream"}],
                                  StartTime=start)["Events"]
        return [json.loads(e["CloudTrailEvent"]) for e in events
                if json.loads(e["CloudTrailEvent"])["userIdentity"].get("accessKeyId") == data["key"][0]]
    records, _ = until(found, 5, step=0.2)
    assert records and records[0]["readOnly"] is True
    assert records[0]["eventSource"] == "secretsmanager.amazonaws.com"


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
