"""The seed documents' AWS CLI commands, verbatim but for --endpoint-url, against a real server."""
import json

from conftest import MARKER, aws

SEED_003_SECRET = '''{
    "MONGODB_URI": "mongodb+srv://user:pass@cluster.mongodb.net/db",
    "JWT_SECRET": "your-secret-key",
    "API_KEY": "your-api-key"
  }'''


def test_seed_004_create_and_read(server):
    # seed 004: aws secretsmanager create-secret --name MySecret --secret-string '{"username":"user","password":"password"}'
    code, out, err = aws(server, "secretsmanager", "create-secret", "--name", "MySecret",
                         "--secret-string", '{"username":"user","password":"password"}', check=False)
    assert code == 0 or "ResourceExistsException" in err, err
    _, out, _ = aws(server, "secretsmanager", "get-secret-value", "--secret-id", "MySecret")
    got = json.loads(out)
    assert json.loads(got["SecretString"]) == {"username": "user", "password": "password"}
    assert got["VersionStages"] == ["AWSCURRENT"]
    assert got["ARN"].startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:MySecret-")


def test_seed_003_create_secret_with_description(server):
    _, out, _ = aws(server, "secretsmanager", "create-secret",
                    "--name", "auth-service-prod-config",
                    "--description", "Production configuration for auth-service",
                    "--secret-string", SEED_003_SECRET)
    created = json.loads(out)
    assert created["Name"] == "auth-service-prod-config"
    _, out, _ = aws(server, "secretsmanager", "get-secret-value", "--secret-id", "auth-service-prod-config")
    value = json.loads(json.loads(out)["SecretString"])
    assert value["JWT_SECRET"] == "your-secret-key"
    assert value["MONGODB_URI"].startswith("mongodb+srv://")
    _, out, _ = aws(server, "secretsmanager", "describe-secret", "--secret-id", created["ARN"])
    assert json.loads(out)["Description"] == "Production configuration for auth-service"


def test_seed_003_rotation_is_refused_clearly_for_now(server):
    code, _, err = aws(server, "secretsmanager", "rotate-secret",
                       "--secret-id", "auth-service-prod-config",
                       "--rotation-lambda-arn", "arn:aws:lambda:us-east-1:123456789012:function:secret-rotation",
                       "--rotation-rules", "AutomaticallyAfterDays=30", check=False)
    assert code != 0
    assert "InvalidRequestException" in err and "rotation" in err, err


def test_tour_put_describe_list_delete_restore(server):
    name = "cli-tour"
    aws(server, "secretsmanager", "create-secret", "--name", name, "--secret-string", f"{MARKER}-one")
    _, out, _ = aws(server, "secretsmanager", "put-secret-value", "--secret-id", name,
                    "--secret-string", f"{MARKER}-two")
    v2 = json.loads(out)["VersionId"]
    _, out, _ = aws(server, "secretsmanager", "get-secret-value", "--secret-id", name,
                    "--version-stage", "AWSPREVIOUS")
    assert json.loads(out)["SecretString"] == f"{MARKER}-one"
    _, out, _ = aws(server, "secretsmanager", "describe-secret", "--secret-id", name)
    stages = json.loads(out)["VersionIdsToStages"]
    assert stages[v2] == ["AWSCURRENT"]
    assert sorted(sum(stages.values(), [])) == ["AWSCURRENT", "AWSPREVIOUS"]

    _, out, _ = aws(server, "secretsmanager", "list-secrets")
    assert name in [s["Name"] for s in json.loads(out)["SecretList"]]
    _, out, _ = aws(server, "secretsmanager", "list-secrets", "--filters", f"Key=name,Values={name}")
    assert [s["Name"] for s in json.loads(out)["SecretList"]] == [name]

    _, out, _ = aws(server, "secretsmanager", "delete-secret", "--secret-id", name,
                    "--recovery-window-in-days", "7")
    assert "DeletionDate" in json.loads(out)
    code, _, err = aws(server, "secretsmanager", "get-secret-value", "--secret-id", name, check=False)
    assert code != 0 and "InvalidRequestException" in err and "marked for deletion" in err
    _, out, _ = aws(server, "secretsmanager", "list-secrets")
    assert name not in [s["Name"] for s in json.loads(out)["SecretList"]]
    _, out, _ = aws(server, "secretsmanager", "list-secrets", "--include-planned-deletion")
    assert name in [s["Name"] for s in json.loads(out)["SecretList"]]
    aws(server, "secretsmanager", "restore-secret", "--secret-id", name)
    _, out, _ = aws(server, "secretsmanager", "get-secret-value", "--secret-id", name)
    assert json.loads(out)["SecretString"] == f"{MARKER}-two"

    aws(server, "secretsmanager", "delete-secret", "--secret-id", name, "--force-delete-without-recovery")
    code, _, err = aws(server, "secretsmanager", "describe-secret", "--secret-id", name, check=False)
    assert code != 0 and "ResourceNotFoundException" in err


def test_update_tags_versions_and_stages(server):
    name = "cli-stages"
    aws(server, "secretsmanager", "create-secret", "--name", name, "--secret-string", f"{MARKER}-a",
        "--tags", "Key=env,Value=test")
    _, out, _ = aws(server, "secretsmanager", "update-secret", "--secret-id", name,
                    "--description", "updated", "--secret-string", f"{MARKER}-b")
    v2 = json.loads(out)["VersionId"]
    _, out, _ = aws(server, "secretsmanager", "put-secret-value", "--secret-id", name,
                    "--secret-string", f"{MARKER}-c", "--version-stages", "AWSPENDING")
    v3 = json.loads(out)["VersionId"]
    aws(server, "secretsmanager", "update-secret-version-stage", "--secret-id", name,
        "--version-stage", "AWSCURRENT", "--move-to-version-id", v3, "--remove-from-version-id", v2)
    _, out, _ = aws(server, "secretsmanager", "get-secret-value", "--secret-id", name)
    assert json.loads(out)["SecretString"] == f"{MARKER}-c"
    _, out, _ = aws(server, "secretsmanager", "list-secret-version-ids", "--secret-id", name)
    listed = {v["VersionId"]: v["VersionStages"] for v in json.loads(out)["Versions"]}
    assert sorted(listed[v3]) == ["AWSCURRENT", "AWSPENDING"]
    assert listed[v2] == ["AWSPREVIOUS"]
    _, out, _ = aws(server, "secretsmanager", "list-secret-version-ids", "--secret-id", name,
                    "--include-deprecated")
    assert len(json.loads(out)["Versions"]) == 3

    aws(server, "secretsmanager", "tag-resource", "--secret-id", name, "--tags", "Key=team,Value=core")
    aws(server, "secretsmanager", "untag-resource", "--secret-id", name, "--tag-keys", "env")
    _, out, _ = aws(server, "secretsmanager", "describe-secret", "--secret-id", name)
    d = json.loads(out)
    assert d["Tags"] == [{"Key": "team", "Value": "core"}]
    assert d["Description"] == "updated"


def test_get_random_password_and_batch(server):
    _, out, _ = aws(server, "secretsmanager", "get-random-password", "--password-length", "40",
                    "--exclude-punctuation", "--require-each-included-type")
    pw = json.loads(out)["RandomPassword"]
    assert len(pw) == 40 and pw.isalnum()
    assert any(c.isdigit() for c in pw) and any(c.isupper() for c in pw) and any(c.islower() for c in pw)

    for n in ("cli-batch-1", "cli-batch-2"):
        aws(server, "secretsmanager", "create-secret", "--name", n, "--secret-string", f"{MARKER}-{n}")
    _, out, _ = aws(server, "secretsmanager", "batch-get-secret-value",
                    "--secret-id-list", "cli-batch-1", "cli-batch-2", "cli-batch-missing")
    r = json.loads(out)
    assert sorted(v["Name"] for v in r["SecretValues"]) == ["cli-batch-1", "cli-batch-2"]
    assert r["Errors"][0]["ErrorCode"] == "ResourceNotFoundException"
    _, out, _ = aws(server, "secretsmanager", "batch-get-secret-value",
                    "--filters", "Key=name,Values=cli-batch-")
    assert len(json.loads(out)["SecretValues"]) == 2


def test_cli_errors(server):
    code, _, err = aws(server, "secretsmanager", "get-secret-value", "--secret-id", "does-not-exist", check=False)
    assert code != 0 and "ResourceNotFoundException" in err
    code, _, err = aws(server, "secretsmanager", "create-secret", "--name", "MySecret",
                       "--secret-string", "x", check=False)
    assert code != 0 and "ResourceExistsException" in err
    code, _, err = aws(server, "secretsmanager", "delete-secret", "--secret-id", "MySecret",
                       "--recovery-window-in-days", "3", check=False)
    assert code != 0 and "InvalidParameterException" in err
