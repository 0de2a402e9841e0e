"""Fixtures shared by the end-to-end suites.

Run through tests/e2e/run.sh (what scripts/test does), the suites share the server run.sh
started; run.sh stops it with SIGTERM, checks the exit code, then runs test_leaks.py over the
logs and data dirs. Run directly (`STRONGROOM_BIN=target/debug/strongroom pytest tests/e2e`),
the session starts its own server and does the same checks when the session ends.
"""
import json
import os
import signal
import subprocess
import uuid

import boto3
import pytest

import leaks
from leaks import MARKER, SEED_VALUES, remember, remember_fields, secret  # noqa: F401 (re-exported)
from server import ACCESS_KEY, REGION, SECRET_KEY, AttachedServer, Server

LEAK_PHASE = os.environ.get("STRONGROOM_E2E_PHASE") == "leaks"

# A suite started as a background job of a non-interactive shell (`./scripts/test &`) inherits
# SIGINT ignored, and so would every program the tests start: a shell exec'd by `strongroom
# run` could then not trap the SIGINT test_run sends (POSIX: signals ignored on entry cannot
# be trapped), and the test would hang. Python may reset it; children get the default.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# test_leaks.py runs on its own, after the server has been stopped; the other suites never in
# that phase.
if LEAK_PHASE:
    collect_ignore_glob = ["test_[!l]*.py", "test_l[!e]*.py"]
else:
    collect_ignore = ["test_leaks.py"]
    # Under run.sh the Node suite runs as its own step (plain `node`), not through pytest.
    if os.environ.get("STRONGROOM_E2E_ENDPOINT"):
        collect_ignore.append("test_node.py")


def pytest_sessionfinish(session, exitstatus):
    leaks.save()


@pytest.fixture(scope="session")
def server():
    attached = AttachedServer.from_env()
    if attached:
        yield attached
        return
    s = Server(name="session")
    yield s
    code = s.stop()
    assert code == 0, f"server exit code {code} after SIGTERM"
    # The same scans test_leaks.py does after a run.sh run.
    secrets = leaks.values()
    findings = leaks.scan_logs([s.log_path], secrets + [SECRET_KEY])
    files, scanned = leaks.scan_dirs([s.data_dir], secrets)
    assert scanned > 0, "the data dir is empty"
    assert not findings + files, f"secret values found: {findings + files}"


def sm_client(server, access_key=ACCESS_KEY, secret_key=SECRET_KEY, session_token=None, **config):
    """A boto3 Secrets Manager client for `server` that records every secret value it sends or
    receives (for the leak scans)."""
    c = boto3.client("secretsmanager", endpoint_url=server.endpoint, region_name=REGION,
                     aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                     aws_session_token=session_token, **config)
    c.meta.events.register("provide-client-params.secretsmanager.*",
                           lambda params, **_: remember_fields(params))
    c.meta.events.register("after-call.secretsmanager.*",
                           lambda parsed, **_: remember_fields(parsed))
    return c


@pytest.fixture(scope="session")
def sm(server):
    from botocore.config import Config
    return sm_client(server, config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def unique(prefix):
    """A secret name no other test (or earlier run against the same server) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def aws(server, *args, check=True, env=None):
    """Run the AWS CLI against `server` with JSON output; returns (exit code, stdout, stderr).

    Secret values on the command line and secret fields in the output are recorded."""
    for i, a in enumerate(args):
        if i and args[i - 1] in ("--secret-string",):
            remember(a)
    cmd = ["aws", "--endpoint-url", server.endpoint, "--output", "json", *args]
    p = subprocess.run(cmd, env=env or server.env(), capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    if p.returncode == 0 and p.stdout.strip():
        try:
            remember_fields(json.loads(p.stdout))
        except ValueError:
            pass
    if check and p.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p.returncode, p.stdout, p.stderr


def aws_json(server, *args, env=None):
    """Run the CLI, require success, and parse its JSON output."""
    _, out, _ = aws(server, *args, env=env)
    return json.loads(out) if out.strip() else {}


def aws_error(server, *args, env=None):
    """Run the CLI expecting a service error; returns the AWS error code it printed.

    The AWS CLI exits 254 (v2, and v1 since 1.x on some paths) or 255 when the service answered
    with an error, and prints `An error occurred (Code) when calling the Op operation: message`."""
    code, out, err = aws(server, *args, check=False, env=env)
    assert code in (254, 255), f"expected a service error, got exit {code}: {out} {err}"
    marker = "An error occurred ("
    assert marker in err, f"no service error in stderr: {err}"
    return err.split(marker, 1)[1].split(")", 1)[0]


# --- audit lookups shared by the suites that check their calls' CloudTrail records ---------


def since(seconds_ago=2):
    """A StartTime a little before now (whole seconds: botocore sends integer epoch seconds)."""
    import datetime as dt
    import math
    import time
    return dt.datetime.fromtimestamp(math.floor(time.time()) - seconds_ago, dt.timezone.utc)


def request_id(resp_or_error):
    """The request id of a boto3 response or ClientError."""
    from botocore.exceptions import ClientError
    meta = (resp_or_error.response if isinstance(resp_or_error, ClientError)
            else resp_or_error)["ResponseMetadata"]
    rid = meta.get("RequestId") or meta["HTTPHeaders"].get("x-amzn-requestid")
    assert rid, f"no request id in {meta}"
    return rid


def keys_anywhere(doc):
    """Every member name in a JSON document, at any depth."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield k
            yield from keys_anywhere(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from keys_anywhere(v)


def audit_record(server, source, event_name, rid, start):
    """The one CloudTrail record of a call to `source` (e.g. kms.amazonaws.com), found by its
    request id among the events since `start`."""
    ct = boto3.client("cloudtrail", endpoint_url=server.endpoint, region_name=REGION,
                      aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    records = []
    for page in ct.get_paginator("lookup_events").paginate(
            LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": source}],
            StartTime=start):
        records += [(e, json.loads(e["CloudTrailEvent"])) for e in page["Events"]]
    hits = [(e, r) for e, r in records if r.get("requestID") == rid]
    assert len(hits) == 1, f"{len(hits)} records carry requestID {rid}"
    e, r = hits[0]
    assert e["EventName"] == r["eventName"] == event_name
    assert e["EventSource"] == r["eventSource"] == source
    return r
