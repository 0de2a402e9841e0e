"""The AWS CLI against a real server: the seed documents' commands verbatim (only
--endpoint-url added), then every Secrets Manager workflow the seeds and the README describe.

The CLI runs from the venv (awscli v1) with credentials in the environment; outputs are parsed
from JSON, errors read from the exit code (254/255) and `An error occurred (Code)` on stderr."""
import json
import os
import re
import string
import subprocess
import time
from datetime import datetime

import pytest

from conftest import aws, aws_error, aws_json, remember, secret, unique

ACCOUNT = "123456789012"
ARN_RE = r"^arn:aws:secretsmanager:us-east-1:123456789012:secret:{}-[A-Za-z0-9]{{6}}$"
UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
INVALID_INPUT = ("InvalidParameterException", "ValidationException")
PUNCTUATION = set(string.punctuation)  # AWS: !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~

# ---- the seed documents' commands, exactly as written there ----
SEED_004_CREATE = """aws secretsmanager create-secret --name MySecret --secret-string '{"username":"user","password":"password"}'"""

SEED_003_CREATE = """aws secretsmanager create-secret \\
  --name auth-service-prod-config \\
  --description "Production configuration for auth-service" \\
  --secret-string '{
    "MONGODB_URI": "mongodb+srv://user:pass@cluster.mongodb.net/db",
    "JWT_SECRET": "your-secret-key",
    "API_KEY": "your-api-key"
  }'"""
SEED_003_VALUE = """{
    "MONGODB_URI": "mongodb+srv://user:pass@cluster.mongodb.net/db",
    "JWT_SECRET": "your-secret-key",
    "API_KEY": "your-api-key"
  }"""

# Seed 003's rotation command; ${region} and ${account-id} are the document's placeholders.
SEED_003_ROTATE = """aws secretsmanager rotate-secret \\
  --secret-id auth-service-prod-config \\
  --rotation-lambda-arn arn:aws:lambda:${region}:${account-id}:function:secret-rotation \\
  --rotation-rules AutomaticallyAfterDays=30"""


def seed_command(server, text, placeholders=None):
    """Run a seed's command line through bash, verbatim but for `--endpoint-url` after `aws`."""
    for k, v in (placeholders or {}).items():
        text = text.replace(k, v)
    assert text.startswith("aws secretsmanager ")
    line = 'aws --endpoint-url "$STRONGROOM_ENDPOINT" ' + text[len("aws "):]
    p = subprocess.run(["bash", "-c", line], env=server.env(), capture_output=True, text=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def ts(value):
    """A CLI timestamp (epoch number, or ISO 8601 text) as epoch seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def seeds_dir():
    here = os.path.dirname(os.path.abspath(__file__))
    for d in (os.environ.get("STRONGROOM_SEEDS_DIR"), os.path.join(here, "..", "..", "..", "shared", "seeds")):
        if d and os.path.isdir(d):
            return d
    return None


def test_embedded_seed_commands_are_verbatim():
    """The commands above are the seed documents' own text (checked when shared/seeds is there)."""
    d = seeds_dir()
    if d is None:
        pytest.skip("shared/seeds not found next to the repository (set STRONGROOM_SEEDS_DIR)")
    texts = ""
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), encoding="utf-8") as f:
            texts += f.read()
    for cmd in (SEED_004_CREATE, SEED_003_CREATE, SEED_003_ROTATE):
        assert cmd in texts, f"not verbatim in the seeds: {cmd[:60]}..."


# ---- seed 004 ----

def test_seed_004_create_secret_and_read_it(server):
    code, out, err = seed_command(server, SEED_004_CREATE)
    assert code == 0, err
    created = json.loads(out)
    assert created["Name"] == "MySecret"
    assert re.match(ARN_RE.format("MySecret"), created["ARN"]), created["ARN"]
    assert re.match(UUID_RE, created["VersionId"]), created["VersionId"]

    got = aws_json(server, "secretsmanager", "get-secret-value", "--secret-id", "MySecret")
    assert got["SecretString"] == '{"username":"user","password":"password"}'
    assert json.loads(got["SecretString"])["username"] == "user"
    assert got["VersionStages"] == ["AWSCURRENT"]
    assert got["VersionId"] == created["VersionId"]
    assert got["ARN"] == created["ARN"] and got["Name"] == "MySecret"
    assert "SecretBinary" not in got
    assert abs(ts(got["CreatedDate"]) - time.time()) < 300

    # The same command again: the name is taken.
    code, _, err = seed_command(server, SEED_004_CREATE)
    assert code in (254, 255) and "(ResourceExistsException)" in err, err


# ---- seed 003 ----

def test_seed_003_create_secret_with_description(server):
    remember(SEED_003_VALUE)
    code, out, err = seed_command(server, SEED_003_CREATE)
    assert code == 0, err
    created = json.loads(out)
    assert created["Name"] == "auth-service-prod-config"
    assert re.match(ARN_RE.format("auth-service-prod-config"), created["ARN"])

    got = aws_json(server, "secretsmanager", "get-secret-value", "--secret-id", "auth-service-prod-config")
    assert got["SecretString"] == SEED_003_VALUE, "the multi-line JSON must come back byte for byte"
    value = json.loads(got["SecretString"])
    assert value == {"MONGODB_URI": "mongodb+srv://user:pass@cluster.mongodb.net/db",
                     "JWT_SECRET": "your-secret-key", "API_KEY": "your-api-key"}

    d = aws_json(server, "secretsmanager", "describe-secret", "--secret-id", created["ARN"])
    assert d["Description"] == "Production configuration for auth-service"
    assert d["Name"] == "auth-service-prod-config" and d["ARN"] == created["ARN"]
    assert d["VersionIdsToStages"] == {created["VersionId"]: ["AWSCURRENT"]}
    assert "SecretString" not in d
    assert not d.get("RotationEnabled", False)

    # What ECS's `valueFrom: <secret arn>:MONGODB_URI::` does: read by ARN, pick the JSON key.
    by_arn = aws_json(server, "secretsmanager", "get-secret-value", "--secret-id", created["ARN"])
    assert json.loads(by_arn["SecretString"])["MONGODB_URI"] == "mongodb+srv://user:pass@cluster.mongodb.net/db"

    listed = aws_json(server, "secretsmanager", "list-secrets", "--filters",
                      "Key=name,Values=auth-service-prod-config")["SecretList"]
    assert [s["Name"] for s in listed] == ["auth-service-prod-config"]
    assert listed[0]["Description"] == "Production configuration for auth-service"
    assert "SecretString" not in listed[0]


def test_seed_003_rotation_needs_a_configured_function(server):
    """The shared server has no rotation function for the seed's Lambda ARN: the call fails
    as a service error naming what is missing, and changes nothing. (test_rotation.py runs
    the same command against a server that has one, rotating a real database password.)"""
    name = unique("seed003-rotate")
    aws(server, "secretsmanager", "create-secret", "--name", name, "--secret-string", secret("rot"))
    code, out, err = seed_command(server, SEED_003_ROTATE.replace("auth-service-prod-config", name),
                                  {"${region}": "us-east-1", "${account-id}": ACCOUNT})
    assert code in (254, 255), (code, out, err)
    assert "InvalidRequestException" in err and "RotateSecret" in err, err
    assert "no rotation function" in err and "[[rotation-function]]" in err, err
    d = aws_json(server, "secretsmanager", "describe-secret", "--secret-id", name)
    assert not d.get("RotationEnabled", False)
    assert "RotationLambdaARN" not in d


def test_replication_is_refused_for_now(server):
    name = unique("cli-replica")
    aws(server, "secretsmanager", "create-secret", "--name", name, "--secret-string", secret("repl"))
    aws_error(server, "secretsmanager", "replicate-secret-to-regions", "--secret-id", name,
              "--add-replica-regions", "Region=eu-west-1")
    d = aws_json(server, "secretsmanager", "describe-secret", "--secret-id", name)
    assert not d.get("ReplicationStatus")


# ---- the README tour, and every operation through the CLI ----

def test_put_secret_value_moves_labels(server):
    name = unique("cli-put")
    v1_value, v2_value, v3_value = secret("v1"), secret("v2"), secret("v3")
    v1 = aws_json(server, "secretsmanager", "create-secret", "--name", name, "--secret-string", v1_value)["VersionId"]
    put = aws_json(server, "secretsmanager", "put-secret-value", "--secret-id", name, "--secret-string", v2_value)
    v2 = put["VersionId"]
    assert v2 != v1 and put["VersionStages"] == ["AWSCURRENT"] and put["Name"] == name

    cur = aws_json(server, "secretsmanager", "get-secret-value", "--secret-id", name)
    assert (cur["SecretString"], cur["VersionId"], cur["VersionStages"]) == (v2_value, v2, ["AWSCURRENT"])
    prev = aws_json(server, "secretsmanager", "get-secret-value", "--secret-id", name, "--version-stage", "AWSPREVIOUS")
    assert (prev["SecretString"], prev["VersionId"], prev["VersionStages"]) == (v1_value, v1, ["AWSPREVIOUS"])
    by_id = aws_json(server, "secretsmanager", "get-secret-value", "--secret-id", name, "--version-id", v1)
    assert by_id["SecretString"] == v1_value

    d = aws_json(server, "secretsmanager", "describe-secret", "--secret-id", name)
    assert d["VersionIdsToStages"] == {v2: ["AWSCURRENT"], v1: ["AWSPREVIOUS"]}

    # A third value: v1 loses its last label and is deprecated (hidden unless asked for).
    v3 = aws_json(server, "secretsmanager", "put-secret-value", "--secret-id", name, "--secret-string", v3_value)["VersionId"]
    d = aws_json(server, "secretsmanager", "describe-secret", "--secret-id", name)
    assert d["VersionIdsToStages"] == {v3: ["AWSCURRENT"], v2: ["AWSPREVIOUS"]}
    listed = aws_json(server, "secretsmanager", "list-secret-version-ids", "--secret-id", name)
    assert {v["VersionId"]: v["VersionStages"] for v in listed["Versions"]} == {v3: ["AWSCURRENT"], v2: ["AWSPREVIOUS"]}
    assert listed["Name"] == name and listed["ARN"] == d["ARN"]
    everything = aws_json(server, "secretsmanager", "list-secret-version-ids", "--secret-id", name, "--include-deprecated")
    stages = {v["VersionId"]: v.get("VersionStages", []) for v in everything["Versions"]}
    assert stages == {v3: ["AWSCURRENT"], v2: ["AWSPREVIOUS"], v1: []}


def test_describe_and_list(server):
    name = unique("cli-describe")
    value = secret("describe")
    created = aws_json(server, "secretsmanager", "create-secret", "--name", name, "--secret-string", value,
                       "--description", "a description", "--tags", "Key=team,Value=core", "Key=env,Value=e2e")
    d = aws_json(server, "secretsmanager", "describe-secret", "--secret-id", name)
    assert d["ARN"] == created["ARN"] and d["Name"] == name and d["Description"] == "a description"
    assert sorted((t["Key"], t["Value"]) for t in d["Tags"]) == [("env", "e2e"), ("team", "core")]
    assert abs(ts(d["CreatedDate"]) - time.time()) < 300
    assert "LastChangedDate" in d
    assert "DeletedDate" not in d
    assert value not in json.dumps(d)
    # Reading the value records an access date.
    aws(server, "secretsmanager", "get-secret-value", "--secret-id", name)
    d = aws_json(server, "secretsmanager", "describe-secret", "--secret-id", name)
    assert "LastAccessedDate" in d

    everything = aws_json(server, "secretsmanager", "list-secrets")["SecretList"]
    assert name in [s["Name"] for s in everything]
    assert value not in json.dumps(everything), "list-secrets must not return values"
    for f in (f"Key=name,Values={name}", "Key=description,Values=a descr", "Key=all,Values=" + name):
        got = aws_json(server, "secretsmanager", "list-secrets", "--filters", f)["SecretList"]
        assert name in [s["Name"] for s in got], f
    got = aws_json(server, "secretsmanager", "list-secrets", "--filters", f"Key=name,Values={name}",
                   "Key=tag-key,Values=team")["SecretList"]
    assert [s["Name"] for s in got] == [name]
    got = aws_json(server, "secretsmanager", "list-secrets", "--filters", f"Key=name,Values={name}",
                   "Key=tag-key,Values=nope")["SecretList"]
    assert got == []


def test_delete_with_recovery_window_restore_and_force(server):
    name = unique("cli-delete")
    value = secret("delete")
    arn = aws_json(server, "secretsmanager", "create-secret", "--name", name, "--secret-string", value)["ARN"]

    before = time.time()
    r = aws_json(server, "secretsmanager", "delete-secret", "--secret-id", name, "--recovery-window-in-days", "7")
    assert r["ARN"] == arn and r["Name"] == name
    assert abs(ts(r["DeletionDate"]) - (before + 7 * 86400)) < 3600, r["DeletionDate"]

    assert aws_error(server, "secretsmanager", "get-secret-value", "--secret-id", name) == "InvalidRequestException"
    assert aws_error(server, "secretsmanager", "put-secret-value", "--secret-id", name,
                     "--secret-string", secret("late")) == "InvalidRequestException"
    assert aws_error(server, "secretsmanager", "update-secret", "--secret-id", name,
                     "--description", "late") == "InvalidRequestException"
    d = aws_json(server, "secretsmanager", "describe-secret", "--secret-id", name)
    assert "DeletedDate" in d
    assert name not in [s["Name"] for s in aws_json(server, "secretsmanager", "list-secrets")["SecretList"]]
    planned = aws_json(server, "secretsmanager", "list-secrets", "--include-planned-deletion")["SecretList"]
    assert name in [s["Name"] for s in planned]
    # The name stays taken while the secret waits for deletion.
    assert aws_error(server, "secretsmanager", "create-secret", "--name", name,
                     "--secret-string", secret("dup")) == "InvalidRequestException"

    r = aws_json(server, "secretsmanager", "restore-secret", "--secret-id", name)
    assert r["ARN"] == arn and r["Name"] == name
    assert aws_json(server, "secretsmanager", "get-secret-value", "--secret-id", name)["SecretString"] == value
    assert "DeletedDate" not in aws_json(server, "secretsmanager", "describe-secret", "--secret-id", name)

    # No flags: the default recovery window is 30 days.
    before = time.time()
    r = aws_json(server, "secretsmanager", "delete-secret", "--secret-id", name)
    assert abs(ts(r["DeletionDate"]) - (before + 30 * 86400)) < 3600, r["DeletionDate"]
    aws(server, "secretsmanager", "restore-secret", "--secret-id", name)

    # Windows outside 7..30 days, and both a window and force, are refused.
    for days in ("6", "31"):
        assert aws_error(server, "secretsmanager", "delete-secret", "--secret-id", name,
                         "--recovery-window-in-days", days) == "InvalidParameterException"
    assert aws_error(server, "secretsmanager", "delete-secret", "--secret-id", name,
                     "--recovery-window-in-days", "7", "--force-delete-without-recovery") == "InvalidParameterException"
    assert aws_json(server, "secretsmanager", "get-secret-value", "--secret-id", name)["SecretString"] == value

    r = aws_json(server, "secretsmanager", "delete-secret", "--secret-id", name, "--force-delete-without-recovery")
    assert r["Name"] == name and "DeletionDate" in r
    assert aws_error(server, "secretsmanager", "describe-secret", "--secret-id", name) == "ResourceNotFoundException"
    assert aws_error(server, "secretsmanager", "get-secret-value", "--secret-id", arn) == "ResourceNotFoundException"
    assert aws_error(server, "secretsmanager", "restore-secret", "--secret-id", name) == "ResourceNotFoundException"
    # The name is free again, for a new secret with a new ARN.
    again = aws_json(server, "secretsmanager", "create-secret", "--name", name, "--secret-string", secret("again"))
    assert again["ARN"] != arn


def test_update_secret(server):
    name = unique("cli-update")
    first, second = secret("u1"), secret("u2")
    v1 = aws_json(server, "secretsmanager", "create-secret", "--name", name, "--secret-string", first)["VersionId"]
    r = aws_json(server, "secretsmanager", "update-secret", "--secret-id", name, "--description", "only metadata")
    assert r["Name"] == name and "VersionId" not in r, "a metadata-only update makes no version"
    d = aws_json(server, "secretsmanager", "describe-secret", "--secret-id", name)
    assert d["Description"] == "only metadata" and d["VersionIdsToStages"] == {v1: ["AWSCURRENT"]}

    r = aws_json(server, "secretsmanager", "update-secret", "--secret-id", name, "--secret-string", second)
    v2 = r["VersionId"]
    assert v2 != v1
    got = aws_json(server, "secretsmanager", "get-secret-value", "--secret-id", name)
    assert (got["SecretString"], got["VersionId"]) == (second, v2)
    d = aws_json(server, "secretsmanager", "describe-secret", "--secret-id", name)
    assert d["VersionIdsToStages"] == {v2: ["AWSCURRENT"], v1: ["AWSPREVIOUS"]}
    assert d["Description"] == "only metadata"


def test_tag_and_untag(server):
    name = unique("cli-tags")
    aws(server, "secretsmanager", "create-secret", "--name", name, "--secret-string", secret("tags"),
        "--tags", "Key=env,Value=test")
    aws(server, "secretsmanager", "tag-resource", "--secret-id", name,
        "--tags", "Key=team,Value=core", "Key=env,Value=prod")
    d = aws_json(server, "secretsmanager", "describe-secret", "--secret-id", name)
    assert sorted((t["Key"], t["Value"]) for t in d["Tags"]) == [("env", "prod"), ("team", "core")]
    got = aws_json(server, "secretsmanager", "list-secrets", "--filters", f"Key=name,Values={name}",
                   "Key=tag-value,Values=prod")["SecretList"]
    assert [s["Name"] for s in got] == [name]
    aws(server, "secretsmanager", "untag-resource", "--secret-id", name, "--tag-keys", "env", "absent-key")
    d = aws_json(server, "secretsmanager", "describe-secret", "--secret-id", name)
    assert d["Tags"] == [{"Key": "team", "Value": "core"}]
    assert aws_error(server, "secretsmanager", "tag-resource", "--secret-id", unique("cli-no-such"),
                     "--tags", "Key=a,Value=b") == "ResourceNotFoundException"


def test_update_secret_version_stage(server):
    name = unique("cli-stages")
    v1 = aws_json(server, "secretsmanager", "create-secret", "--name", name, "--secret-string", secret("s1"))["VersionId"]
    v2_value = secret("s2")
    p = aws_json(server, "secretsmanager", "put-secret-value", "--secret-id", name,
                 "--secret-string", v2_value, "--version-stages", "AWSPENDING")
    v2 = p["VersionId"]
    assert p["VersionStages"] == ["AWSPENDING"]
    # AWSCURRENT did not move: the pending value is not current.
    got = aws_json(server, "secretsmanager", "get-secret-value", "--secret-id", name)
    assert got["VersionId"] == v1
    assert aws_json(server, "secretsmanager", "get-secret-value", "--secret-id", name,
                    "--version-stage", "AWSPENDING")["SecretString"] == v2_value

    # Moving a label that another version holds needs --remove-from-version-id naming that version.
    assert aws_error(server, "secretsmanager", "update-secret-version-stage", "--secret-id", name,
                     "--version-stage", "AWSCURRENT", "--move-to-version-id", v2) == "InvalidParameterException"
    assert aws_error(server, "secretsmanager", "update-secret-version-stage", "--secret-id", name,
                     "--version-stage", "AWSCURRENT", "--move-to-version-id", v2,
                     "--remove-from-version-id", v2) == "InvalidParameterException"
    r = aws_json(server, "secretsmanager", "update-secret-version-stage", "--secret-id", name,
                 "--version-stage", "AWSCURRENT", "--move-to-version-id", v2, "--remove-from-version-id", v1)
    assert r["Name"] == name
    got = aws_json(server, "secretsmanager", "get-secret-value", "--secret-id", name)
    assert (got["VersionId"], got["SecretString"]) == (v2, v2_value)
    d = aws_json(server, "secretsmanager", "describe-secret", "--secret-id", name)["VersionIdsToStages"]
    # AWSPREVIOUS follows AWSCURRENT's old version automatically.
    assert sorted(d[v2]) == ["AWSCURRENT", "AWSPENDING"] and d[v1] == ["AWSPREVIOUS"]

    # A custom label: attach, move (naming where it was), remove.
    aws(server, "secretsmanager", "update-secret-version-stage", "--secret-id", name,
        "--version-stage", "blue", "--move-to-version-id", v1)
    aws(server, "secretsmanager", "update-secret-version-stage", "--secret-id", name,
        "--version-stage", "blue", "--move-to-version-id", v2, "--remove-from-version-id", v1)
    d = aws_json(server, "secretsmanager", "describe-secret", "--secret-id", name)["VersionIdsToStages"]
    assert sorted(d[v2]) == ["AWSCURRENT", "AWSPENDING", "blue"] and d[v1] == ["AWSPREVIOUS"]
    aws(server, "secretsmanager", "update-secret-version-stage", "--secret-id", name,
        "--version-stage", "AWSPENDING", "--remove-from-version-id", v2)
    aws(server, "secretsmanager", "update-secret-version-stage", "--secret-id", name,
        "--version-stage", "blue", "--remove-from-version-id", v2)
    listed = aws_json(server, "secretsmanager", "list-secret-version-ids", "--secret-id", name)["Versions"]
    assert {v["VersionId"]: v["VersionStages"] for v in listed} == {v2: ["AWSCURRENT"], v1: ["AWSPREVIOUS"]}
    assert aws_error(server, "secretsmanager", "update-secret-version-stage", "--secret-id", name,
                     "--version-stage", "AWSCURRENT", "--move-to-version-id",
                     "00000000-0000-4000-8000-000000000000", "--remove-from-version-id", v2) in (
        "InvalidParameterException", "ResourceNotFoundException")


def password_chars(pw):
    kinds = set()
    for c in pw:
        if c in string.ascii_lowercase:
            kinds.add("lower")
        elif c in string.ascii_uppercase:
            kinds.add("upper")
        elif c in string.digits:
            kinds.add("digit")
        elif c in PUNCTUATION:
            kinds.add("punct")
        elif c == " ":
            kinds.add("space")
        else:
            raise AssertionError(f"unexpected character {c!r} in {pw!r}")
    return kinds


def test_get_random_password(server):
    pw = aws_json(server, "secretsmanager", "get-random-password")["RandomPassword"]
    assert len(pw) == 32, "the default length is 32"
    assert password_chars(pw) == {"lower", "upper", "digit", "punct"}, "by default every type is included"

    pw = aws_json(server, "secretsmanager", "get-random-password", "--password-length", "24",
                  "--exclude-punctuation")["RandomPassword"]
    assert len(pw) == 24 and password_chars(pw) == {"lower", "upper", "digit"}

    pw = aws_json(server, "secretsmanager", "get-random-password", "--password-length", "64",
                  "--exclude-numbers", "--exclude-uppercase", "--require-each-included-type")["RandomPassword"]
    assert len(pw) == 64 and password_chars(pw) == {"lower", "punct"}

    pw = aws_json(server, "secretsmanager", "get-random-password", "--password-length", "100",
                  "--exclude-characters", "abcdefABCDEF012345", "--exclude-punctuation")["RandomPassword"]
    assert len(pw) == 100 and not set(pw) & set("abcdefABCDEF012345")

    pw = aws_json(server, "secretsmanager", "get-random-password", "--password-length", "200",
                  "--include-space", "--exclude-punctuation")["RandomPassword"]
    assert len(pw) == 200 and password_chars(pw) <= {"lower", "upper", "digit", "space"}

    pw = aws_json(server, "secretsmanager", "get-random-password", "--password-length", "4096",
                  "--exclude-lowercase", "--exclude-uppercase", "--exclude-punctuation")["RandomPassword"]
    assert len(pw) == 4096 and set(pw) <= set(string.digits)

    a = aws_json(server, "secretsmanager", "get-random-password")["RandomPassword"]
    b = aws_json(server, "secretsmanager", "get-random-password")["RandomPassword"]
    assert a != b

    assert aws_error(server, "secretsmanager", "get-random-password", "--password-length", "4097") in INVALID_INPUT
    assert aws_error(server, "secretsmanager", "get-random-password", "--exclude-lowercase",
                     "--exclude-uppercase", "--exclude-numbers", "--exclude-punctuation") in INVALID_INPUT


def test_batch_get_secret_value(server):
    prefix = unique("cli-batch")
    values = {}
    for n in ("a", "b"):
        values[f"{prefix}-{n}"] = secret(f"batch-{n}")
        aws(server, "secretsmanager", "create-secret", "--name", f"{prefix}-{n}", "--secret-string", values[f"{prefix}-{n}"])
    missing = f"{prefix}-missing"
    r = aws_json(server, "secretsmanager", "batch-get-secret-value",
                 "--secret-id-list", f"{prefix}-a", f"{prefix}-b", missing)
    assert {v["Name"]: v["SecretString"] for v in r["SecretValues"]} == values
    assert all(v["VersionStages"] == ["AWSCURRENT"] for v in r["SecretValues"])
    assert [(e["SecretId"], e["ErrorCode"]) for e in r["Errors"]] == [(missing, "ResourceNotFoundException")]

    r = aws_json(server, "secretsmanager", "batch-get-secret-value", "--filters", f"Key=name,Values={prefix}-")
    assert {v["Name"]: v["SecretString"] for v in r["SecretValues"]} == values
    assert not r.get("Errors")

    assert aws_error(server, "secretsmanager", "batch-get-secret-value", "--secret-id-list", f"{prefix}-a",
                     "--filters", f"Key=name,Values={prefix}-") in INVALID_INPUT + ("InvalidRequestException",)


def test_cli_errors(server):
    name = unique("cli-errors")
    aws(server, "secretsmanager", "create-secret", "--name", name, "--secret-string", secret("err"))
    assert aws_error(server, "secretsmanager", "get-secret-value", "--secret-id", unique("cli-absent")) == \
        "ResourceNotFoundException"
    assert aws_error(server, "secretsmanager", "put-secret-value", "--secret-id", unique("cli-absent"),
                     "--secret-string", secret("nowhere")) == "ResourceNotFoundException"
    assert aws_error(server, "secretsmanager", "create-secret", "--name", name,
                     "--secret-string", secret("dup")) == "ResourceExistsException"
    assert aws_error(server, "secretsmanager", "get-secret-value", "--secret-id", name,
                     "--version-stage", "NOPE") == "ResourceNotFoundException"
    assert aws_error(server, "secretsmanager", "get-secret-value", "--secret-id", name,
                     "--version-id", "00000000-0000-4000-8000-000000000000") == "ResourceNotFoundException"
    for bad in ("bad name", "bad*name", "x" * 513):
        assert aws_error(server, "secretsmanager", "create-secret", "--name", bad,
                         "--secret-string", secret("bad")) in INVALID_INPUT, bad
    # The error is the service's, not the CLI's own parameter validation.
    code, _, err = aws(server, "secretsmanager", "create-secret", "--name", "bad name",
                       "--secret-string", secret("bad"), check=False)
    assert "Parameter validation failed" not in err
    # Wrong credentials.
    env = server.env(secret_key="wrong/secret/key/0123456789abcdefghijklm")
    assert aws_error(server, "secretsmanager", "list-secrets", env=env) == "InvalidSignatureException"
    env = server.env(access_key="AKIAUNKNOWNKEY000000")
    assert aws_error(server, "secretsmanager", "list-secrets", env=env) == "UnrecognizedClientException"
