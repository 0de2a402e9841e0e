"""Failures of a Strongroom cluster (issue 11, "Operations"), driven by boto3:

- three nodes on one PostgreSQL database behind a tiny round-robin client, under a bounded
  mixed load (reads, idempotent writes, rotations by a function that records each run): one
  node is killed with SIGKILL midway — the others keep serving, no acknowledged write is lost,
  the background lease moves within 10 s, no rotation of a secret ever overlaps another, and
  `strongroom audit verify --cluster` passes afterwards;
- PostgreSQL stopped under load (a private instance this test starts, never the machine's):
  requests fail fast with an AWS-shaped retryable 5xx and /ready says 503; started again, the
  same nodes serve and /ready says 200 without a restart.
"""
import glob
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, \
    ReadTimeoutError

from conftest import secret, unique
from server import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, Server, binary, free_port, work_dir

HERE = os.path.dirname(os.path.abspath(__file__))
PG = os.environ.get("STRONGROOM_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432")
ONCE = Config(retries={"total_max_attempts": 1, "mode": "standard"},
              connect_timeout=2, read_timeout=20)
ROLE = "cluster-rotation-role"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:recording-rotation"
# What a client does when a node is gone: the next node gets the call.
NODE_GONE = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError)
# Retryable 5xx codes a node answers while its database is unreachable: the services' own
# internal error, or the audit log refusing a request it cannot record.
RETRYABLE_5XX = {"InternalServiceError", "InternalFailure", "InternalServerError",
                 "KMSInternalException", "ServiceUnavailable", "ServiceUnavailableException"}


def psql(sql, url=f"{PG}/postgres"):
    r = subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-Atc", sql, url],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"psql ({sql!r}): {r.stderr}"
    return r.stdout


def client(endpoint, service):
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        config=ONCE)


class RoundRobin:
    """A load balancer in a list: each call goes to the next node; a node that cannot be
    reached (refused, connection dropped) passes the call to the one after it."""

    def __init__(self, endpoints, service):
        self.clients = [client(e, service) for e in endpoints]
        self.turn = itertools.count()
        self.lock = threading.Lock()

    def __call__(self, op, **kw):
        with self.lock:
            start = next(self.turn)
        last = None
        for i in range(len(self.clients)):
            c = self.clients[(start + i) % len(self.clients)]
            try:
                return getattr(c, op)(**kw)
            except NODE_GONE as e:
                last = e
        raise last


def get(endpoint, path):
    """(status, JSON body) of a GET on a node."""
    try:
        with urllib.request.urlopen(f"{endpoint}{path}", timeout=5) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def eventually(check, what, seconds):
    deadline = time.time() + seconds
    last = None
    while True:
        try:
            got = check()
        except Exception as e:  # noqa: BLE001 (a refused call is a "not yet")
            got, last = False, e
        else:
            last = got
        if got:
            return got
        if time.time() > deadline:
            raise AssertionError(f"{what}: not within {seconds} s (last: {last!r})")
        time.sleep(0.1)


def start_nodes(url, count, extra=()):
    """`count` nodes on the database `url`: the first initializes the cluster, the others
    join with a copy of its root key."""
    first = Server(name="failover-1", extra_args=["--store", url, *extra])
    nodes = [first]
    for i in range(2, count + 1):
        d = tempfile.mkdtemp(prefix=f"failover-{i}-", dir=work_dir("data"))
        shutil.copy(os.path.join(first.data_dir, "root.key"), d)
        nodes.append(Server(name=f"failover-{i}", data_dir=d, extra_args=["--store", url, *extra]))
    return nodes


def background(node):
    return get(node.endpoint, "/health")[1]["background"]


def rotation_config(record, step_delay=0, timeout=30, **env):
    d = tempfile.mkdtemp(prefix="cluster-rotation-", dir=work_dir("data"))
    cfg = os.path.join(d, "strongroom.toml")
    extra = "".join(f", {k} = {json.dumps(v)}" for k, v in env.items())
    with open(cfg, "w") as f:
        f.write("[[rotation-function]]\n"
                f'arn = "{FUNCTION_ARN}"\n'
                f"command = {json.dumps([sys.executable, os.path.join(HERE, 'rotation', 'recording_rotation.py')])}\n"
                f'role-arn = "arn:aws:iam::{ACCOUNT}:role/{ROLE}"\n'
                f"timeout-secs = {timeout}\n"
                f"environment = {{ ROTATION_RECORD = {json.dumps(record)}, "
                f"ROTATION_STEP_DELAY = \"{step_delay}\"{extra} }}\n")
    return cfg


def allow_rotation_role(iam):
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName=ROLE, PolicyName="rotate", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["secretsmanager:DescribeSecret",
                                           "secretsmanager:GetSecretValue",
                                           "secretsmanager:PutSecretValue",
                                           "secretsmanager:UpdateSecretVersionStage",
                                           "secretsmanager:GetRandomPassword"],
             "Resource": "*"}]}))


def overlapping_runs(record_path):
    """Pairs of rotations (tokens) of one secret whose runs — first step's start to last
    step's end — overlap."""
    runs = {}
    with open(record_path) as f:
        for line in f:
            r = json.loads(line)
            key = (r["secret"], r["token"])
            s, e = runs.get(key, (r["start"], r["end"]))
            runs[key] = (min(s, r["start"]), max(e, r["end"]))
    found = []
    by_secret = {}
    for (arn, token), span in runs.items():
        by_secret.setdefault(arn, []).append((span, token))
    for arn, spans in by_secret.items():
        spans.sort()
        for (a, ta), (b, tb) in zip(spans, spans[1:]):
            if b[0] < a[1]:
                found.append((arn, ta, tb))
    return found, runs


def test_three_nodes_keep_serving_when_one_is_killed(tmp_path):
    db = f"sr_failover_{uuid.uuid4().hex[:12]}"
    psql(f'CREATE DATABASE "{db}"')
    url = f"{PG}/{db}"
    record = str(tmp_path / "rotations.jsonl")
    cfg = rotation_config(record)
    nodes = start_nodes(url, 3, ["--config", cfg, "--rotation-interval-secs", "1"])
    try:
        sm = RoundRobin([n.endpoint for n in nodes], "secretsmanager")
        allow_rotation_role(client(nodes[0].endpoint, "iam"))
        time.sleep(1)  # the role reaches every node (bound: 1 s)
        writers, readers = 3, 2
        # Each writer its own secrets (fewer than 100 versions each: AWS's limit).
        owned = {w: [sm("create_secret", Name=unique(f"w{w}"), SecretString=secret("v0"))["ARN"]
                     for _ in range(8)] for w in range(writers)}
        # Several, so some rotate after the kill (one running on the dead node stays pending
        # until the schedule retries it, as AWS's "will be reattempted").
        rotated = [sm("create_secret", Name=unique("rot"), SecretString=secret("r0"))["ARN"]
                   for _ in range(5)]
        acked, reads, errors, rotations = [], [], [], {"started": 0, "in_progress": 0}
        lock = threading.Lock()
        stop = threading.Event()

        def writer(w):
            for i in itertools.count():
                if stop.is_set() or i >= 600:
                    return
                arn, value = owned[w][i % 8], secret(f"w{w}-{i}")
                token = str(uuid.uuid4())
                try:
                    # The same token on every node the call reaches: one version at most.
                    out = sm("put_secret_value", SecretId=arn, SecretString=value,
                             ClientRequestToken=token)
                    assert out["VersionId"] == token
                    with lock:
                        acked.append((arn, token, value, time.time()))
                except Exception as e:  # noqa: BLE001
                    with lock:
                        errors.append(("put", repr(e)))
                time.sleep(0.02)

        def reader():
            arns = [a for v in owned.values() for a in v] + rotated
            for i in itertools.count():
                if stop.is_set() or i >= 1500:
                    return
                try:
                    sm("get_secret_value", SecretId=arns[i % len(arns)])
                    with lock:
                        reads.append(time.time())
                except Exception as e:  # noqa: BLE001
                    with lock:
                        errors.append(("get", repr(e)))
                time.sleep(0.01)

        def rotator():
            for i in itertools.count():
                if stop.is_set() or i >= 100:
                    return
                try:
                    sm("rotate_secret", SecretId=rotated[i % len(rotated)],
                       RotationLambdaARN=FUNCTION_ARN,
                       RotationRules={"AutomaticallyAfterDays": 30})
                    rotations["started"] += 1
                except ClientError as e:
                    # Refused while the previous rotation runs: that is the rule under test.
                    if e.response["Error"]["Code"] == "InvalidRequestException":
                        rotations["in_progress"] += 1
                    else:
                        with lock:
                            errors.append(("rotate", repr(e)))
                except Exception as e:  # noqa: BLE001
                    with lock:
                        errors.append(("rotate", repr(e)))
                time.sleep(0.3)

        roles = eventually(lambda: (lambda r: r if sorted(r) == ["leader", "standby", "standby"]
                                    else None)([background(n) for n in nodes]),
                           "one leader of three", seconds=10)
        threads = ([threading.Thread(target=writer, args=(w,)) for w in range(writers)]
                   + [threading.Thread(target=reader) for _ in range(readers)]
                   + [threading.Thread(target=rotator)])
        for t in threads:
            t.start()
        time.sleep(6)
        # The leader dies without a goodbye: its lease must run out and move.
        dead = nodes[roles.index("leader")]
        dead.kill()
        killed_at = time.time()
        survivors = [n for n in nodes if n is not dead]
        eventually(lambda: "leader" in [background(n) for n in survivors],
                   "a survivor takes the background lease", seconds=10)
        moved_after = time.time() - killed_at
        time.sleep(max(0.0, 14 - (time.time() - killed_at)))
        stop.set()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
        assert moved_after <= 10, moved_after

        # The survivors kept serving: every call that reached the dead node went on to another.
        assert errors == [], errors[:5]
        # ...all along: reads and acknowledged writes after the kill too.
        assert len([a for a in acked if a[3] > killed_at + 1]) >= 20, len(acked)
        assert len([r for r in reads if r > killed_at + 1]) >= 20, len(reads)
        # Zero acknowledged writes lost: each version is there with its value.
        sm_alive = RoundRobin([n.endpoint for n in survivors], "secretsmanager")
        for arn, token, value, _ in acked:
            got = sm_alive("get_secret_value", SecretId=arn, VersionId=token)
            assert got["SecretString"] == value, (arn, token)

        # Rotations ran (some refused as in progress), never two of one secret at once.
        time.sleep(3)  # the last steps finish and write their records
        overlaps, runs = overlapping_runs(record)
        print(f"acked writes {len(acked)}, rotations {rotations}, runs {len(runs)}, "
              f"lease moved after {moved_after:.1f} s")
        assert rotations["started"] >= 2 and len(runs) >= 2, (rotations, len(runs))
        with open(record) as f:
            finished = [r for r in map(json.loads, f) if r["step"] == "finishSecret"
                        and r["outcome"] == "ok"]
        # Rotations were started and finished on the survivors after the kill as well.
        assert [r for r in finished if r["start"] > killed_at], finished
        assert overlaps == [], overlaps

        # Every node's audit chain in the shared history verifies — the dead one's too.
        out = subprocess.run([binary(), "audit", "verify", "--cluster", url],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        assert len([l for l in out.stdout.splitlines() if l.startswith("OK: node ")]) == 3, out.stdout
    finally:
        codes = [n.stop() for n in nodes if n.proc.poll() is None]
        psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    assert codes == [0, 0]


class PrivatePostgres:
    """A PostgreSQL of this test's own (initdb in a temp dir, a free port): stopping it harms
    nobody else. PostgreSQL refuses to run as root: as root, it runs as the postgres user."""

    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not bins:
            pytest.fail("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
        self.bin = os.path.dirname(bins[-1])
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.dir = tempfile.mkdtemp(prefix="strongroom-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.log = os.path.join(self.dir, "postgres.log")
        if self.as_user:
            shutil.chown(self.dir, "postgres", "postgres")
        self.run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "--no-sync")
        self.start()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, program, *args):
        r = subprocess.run([*self.as_user, os.path.join(self.bin, program), *args],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"{program}: {r.stdout}{r.stderr}"

    def pg_ctl(self, *args):
        self.run("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "30", *args)

    def start(self):
        self.pg_ctl("-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                          "-c fsync=off", "start")

    def stop(self):
        self.pg_ctl("-m", "fast", "stop")

    def destroy(self):
        try:
            self.stop()
        except AssertionError:
            pass  # already stopped
        shutil.rmtree(self.dir, ignore_errors=True)


def test_a_rotation_retried_on_another_node_does_not_run_twice(tmp_path):
    """RotateSecret retried with the same token (an SDK retry the balancer sends to another
    node) while the first node is still running the rotation: the second node answers with the
    same version and starts nothing — each step runs once."""
    db = f"sr_rotclaim_{uuid.uuid4().hex[:12]}"
    psql(f'CREATE DATABASE "{db}"')
    url = f"{PG}/{db}"
    record = str(tmp_path / "rotations.jsonl")
    nodes = start_nodes(url, 2, ["--config", rotation_config(record, step_delay=1)])
    try:
        a, b = (client(n.endpoint, "secretsmanager") for n in nodes)
        allow_rotation_role(client(nodes[0].endpoint, "iam"))
        time.sleep(1)  # the role reaches every node (bound: 1 s)
        arn = a.create_secret(Name=unique("claim"), SecretString=secret("c0"))["ARN"]
        token = str(uuid.uuid4())
        first = a.rotate_secret(SecretId=arn, ClientRequestToken=token,
                                RotationLambdaARN=FUNCTION_ARN)
        time.sleep(0.5)  # node A's run is in its first step
        again = b.rotate_secret(SecretId=arn, ClientRequestToken=token,
                                RotationLambdaARN=FUNCTION_ARN)
        assert first["VersionId"] == again["VersionId"] == token

        def done():
            stages = a.describe_secret(SecretId=arn)["VersionIdsToStages"]
            return "AWSCURRENT" in stages.get(token, [])
        eventually(done, "the rotation finished", seconds=30)
        time.sleep(2)  # a second run, had one started, would have recorded steps by now
        with open(record) as f:
            steps = [json.loads(l) for l in f]
        ran = sorted(s["step"] for s in steps if s["token"] == token)
        assert ran == sorted(["createSecret", "setSecret", "testSecret", "finishSecret"]), ran
        assert {s["endpoint"] for s in steps} == {nodes[0].endpoint}, "node A ran it"
        # The claim ended with the run: the next rotation starts at once, on either node.
        nxt = b.rotate_secret(SecretId=arn)["VersionId"]
        eventually(lambda: "AWSCURRENT" in a.describe_secret(SecretId=arn)[
            "VersionIdsToStages"].get(nxt, []), "the next rotation finished", seconds=30)
    finally:
        codes = [n.stop() for n in nodes]
        psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    assert codes == [0, 0]


def test_a_rotation_cut_short_by_a_killed_node_dies_with_it_and_is_resumed_elsewhere(tmp_path):
    """The node running a rotation (the background leader) is killed with SIGKILL in the
    middle of a step: the function process it started dies with it at once (it must not go on
    writing while another node resumes), and the other node — leader within 10 s — resumes the
    rotation as soon as the dead run's claim runs out (four step timeouts and a margin: 27 s
    here), not an hour later; each step then runs once, on the surviving node."""
    db = f"sr_rotkill_{uuid.uuid4().hex[:12]}"
    psql(f'CREATE DATABASE "{db}"')
    url = f"{PG}/{db}"
    record, pids = str(tmp_path / "rotations.jsonl"), str(tmp_path / "pids")
    # The first step ever sleeps 20 s (the run the kill cuts short); every later one is quick.
    cfg = rotation_config(record, step_delay=20, timeout=3, ROTATION_PIDS=pids,
                          ROTATION_SLOW_ONCE=str(tmp_path / "slow-once"))
    nodes = start_nodes(url, 2, ["--config", cfg, "--rotation-interval-secs", "1"])
    dead = None
    try:
        eventually(lambda: sorted(background(n) for n in nodes) == ["leader", "standby"],
                   "one leader", seconds=15)
        dead, alive = sorted(nodes, key=lambda n: background(n) != "leader")
        sm = client(dead.endpoint, "secretsmanager")
        allow_rotation_role(client(dead.endpoint, "iam"))
        time.sleep(1)  # the role reaches every node (bound: 1 s)
        arn = sm.create_secret(Name=unique("cut"), SecretString=secret("k0"))["ARN"]
        token = sm.rotate_secret(SecretId=arn, RotationLambdaARN=FUNCTION_ARN,
                                 RotationRules={"AutomaticallyAfterDays": 30})["VersionId"]
        pid = int(eventually(lambda: open(pids).read().split()[0] if os.path.exists(pids)
                             else None, "the function started", seconds=10))
        assert os.path.exists(f"/proc/{pid}"), "the function is running its first step"
        killed_at = time.time()
        dead.kill()

        def gone():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    return f.read().split(")")[-1].split()[0] == "Z"  # reaped by init later
            except FileNotFoundError:
                return True
        eventually(gone, "the function died with its node", seconds=2)
        assert time.time() - killed_at < 5, "it did not sleep out its step"

        other = client(alive.endpoint, "secretsmanager")
        eventually(lambda: background(alive) == "leader", "the lease moved", seconds=12)

        def resumed():
            return "AWSCURRENT" in other.describe_secret(SecretId=arn)[
                "VersionIdsToStages"].get(token, [])
        eventually(resumed, "the rotation resumed and finished", seconds=45)
        with open(record) as f:
            steps = [json.loads(l) for l in f if json.loads(l)["token"] == token]
        assert sorted(s["step"] for s in steps) == sorted(
            ["createSecret", "setSecret", "testSecret", "finishSecret"]), steps
        assert {s["endpoint"] for s in steps} == {alive.endpoint}, "the survivor ran it"
        assert min(s["start"] for s in steps) - killed_at < 40, "resumed when the claim ran out"
        assert other.get_secret_value(SecretId=arn)["VersionId"] == token
    finally:
        codes = [n.stop() for n in nodes if n is not dead]
        psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    assert codes == [0]


def test_postgresql_restarted_under_load():
    pg = PrivatePostgres()
    nodes = []
    try:
        nodes = start_nodes(pg.url, 2)
        sm = RoundRobin([n.endpoint for n in nodes], "secretsmanager")
        names = [sm("create_secret", Name=unique("pgdown"), SecretString=secret("pg0"))["Name"]
                 for _ in range(2)]
        for n in nodes:
            status, body = get(n.endpoint, "/ready")
            assert status == 200 and body["status"] == "ready", body
            assert body["store"] == {REGION: "ok"} and body["audit"] == "writable", body
        calls = []  # (started, seconds, error code or None, HTTP status)
        lock = threading.Lock()
        stop = threading.Event()

        def load(k):
            for i in itertools.count():
                if stop.is_set() or i >= 2000:
                    return
                t0 = time.time()
                code, status = None, 200
                try:
                    if i % 2:  # a new secret each time: no secret nears its 100 versions
                        sm("create_secret", Name=unique("pgload"), SecretString=secret(f"pg{i}"))
                    else:
                        sm("get_secret_value", SecretId=names[k])
                except ClientError as e:
                    code = e.response["Error"]["Code"]
                    status = e.response["ResponseMetadata"]["HTTPStatusCode"]
                except Exception as e:  # noqa: BLE001 (no answer at all: a hang or a drop)
                    code, status = type(e).__name__, None
                with lock:
                    calls.append((t0, time.time() - t0, code, status))
                if code:
                    time.sleep(0.1)

        threads = [threading.Thread(target=load, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        time.sleep(2)
        stopped_at = time.time()
        pg.stop()
        # While it is down: /ready names the store and refuses; /health stays alive.
        for n in nodes:
            body = eventually(lambda: (lambda s, b: b if s == 503 else None)(*get(n.endpoint, "/ready")),
                              "/ready says 503", seconds=8)
            assert body["status"] == "unavailable" and f"store:{REGION}" in body["failing"], body
            assert get(n.endpoint, "/health")[0] == 200
        time.sleep(max(0.0, 8 - (time.time() - stopped_at)))
        restarted_at = time.time()
        pg.start()
        for n in nodes:
            eventually(lambda: get(n.endpoint, "/ready")[0] == 200, "/ready says 200 again",
                       seconds=15)
        recovered_at = time.time()
        # Both nodes serve again, without a restart.
        for n in nodes:
            c = client(n.endpoint, "secretsmanager")
            value = secret("back")
            eventually(lambda: c.put_secret_value(SecretId=names[0], SecretString=value),
                       "writes succeed again", seconds=10)
            assert c.get_secret_value(SecretId=names[0])["SecretString"] == value
        time.sleep(1)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)

        gap = [c for c in calls if stopped_at + 0.5 < c[0] < restarted_at - 0.5]
        failed = [c for c in gap if c[2]]
        assert failed, "no request failed while PostgreSQL was down"
        # Clean failures: AWS-shaped, 5xx, with a code SDKs retry — never a dropped connection.
        assert all(c[3] and c[3] >= 500 and c[2] in RETRYABLE_5XX for c in failed), \
            sorted({(c[2], c[3]) for c in failed})
        # ...and fast: seconds, not a hang.
        slowest = max(c[1] for c in gap)
        assert slowest < 8, slowest
        after = [c for c in calls if c[0] > recovered_at + 0.5]
        assert after and all(c[2] is None for c in after), after[:5]
        codes = [n.stop() for n in nodes]
        nodes = []
        assert codes == [0, 0]
    finally:
        for n in nodes:
            n.kill()
        pg.destroy()
