"""Rotation handlers written in AWS Lambda's programming model, the way AWS's rotation
templates (aws-samples/aws-secrets-manager-rotation-lambdas) are: `lambda_handler(event,
context)`, a boto3 client built from SECRETS_MANAGER_ENDPOINT, the four steps, and
`context.get_remaining_time_in_millis()`. Single user: the user changes its own password.
`engine` in the secret picks the database (mysql → PyMySQL, postgres → pg8000). Nothing
secret is ever printed."""
import json
import logging
import os

import boto3

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def lambda_handler(event, context):
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    assert context.function_name == os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    assert context.get_remaining_time_in_millis() > 0
    service_client = boto3.client("secretsmanager",
                                  endpoint_url=os.environ["SECRETS_MANAGER_ENDPOINT"])
    metadata = service_client.describe_secret(SecretId=arn)
    if not metadata["RotationEnabled"]:
        raise ValueError(f"Secret {arn} is not enabled for rotation")
    versions = metadata["VersionIdsToStages"]
    if token not in versions:
        raise ValueError(f"Secret version {token} has no stage for rotation of secret {arn}.")
    if "AWSCURRENT" in versions[token]:
        logger.info("Secret version %s already set as AWSCURRENT for secret %s.", token, arn)
        return
    if "AWSPENDING" not in versions[token]:
        raise ValueError(f"Secret version {token} not set as AWSPENDING for rotation of {arn}.")
    {"createSecret": create_secret, "setSecret": set_secret, "testSecret": test_secret,
     "finishSecret": finish_secret}[step](service_client, arn, token)
    logger.info("%s done for %s", step, arn)


def value(client, arn, **kw):
    return json.loads(client.get_secret_value(SecretId=arn, **kw)["SecretString"])


def create_secret(client, arn, token):
    current = value(client, arn, VersionStage="AWSCURRENT")
    try:
        value(client, arn, VersionId=token, VersionStage="AWSPENDING")
        return
    except client.exceptions.ResourceNotFoundException:
        pass
    current["password"] = client.get_random_password(
        PasswordLength=30, ExcludeCharacters="/@\"'\\")["RandomPassword"]
    client.put_secret_value(SecretId=arn, ClientRequestToken=token,
                            SecretString=json.dumps(current), VersionStages=["AWSPENDING"])


def connect(secret):
    if secret["engine"] == "postgres":
        import pg8000.dbapi
        return pg8000.dbapi.connect(host=secret["host"], port=int(secret["port"]),
                                    user=secret["username"], password=secret["password"],
                                    database="postgres", timeout=5)
    import pymysql
    return pymysql.connect(host=secret["host"], port=int(secret["port"]),
                           user=secret["username"], password=secret["password"],
                           connect_timeout=5)


def set_secret(client, arn, token):
    pending = value(client, arn, VersionId=token, VersionStage="AWSPENDING")
    conn = connect(value(client, arn, VersionStage="AWSCURRENT"))
    try:
        cur = conn.cursor()
        if pending["engine"] == "postgres":
            # The password as a literal: ALTER ROLE takes no parameters.
            literal = "'" + pending["password"].replace("'", "''") + "'"
            cur.execute(f'ALTER USER "{pending["username"]}" WITH PASSWORD {literal}')
        else:
            cur.execute("SET PASSWORD = PASSWORD(%s)", (pending["password"],))
        conn.commit()
    finally:
        conn.close()


def test_secret(client, arn, token):
    conn = connect(value(client, arn, VersionId=token, VersionStage="AWSPENDING"))
    try:
        cur = conn.cursor()
        cur.execute("SELECT 1")
        cur.fetchall()
    finally:
        conn.close()


def finish_secret(client, arn, token):
    versions = client.describe_secret(SecretId=arn)["VersionIdsToStages"]
    current = next((v for v, s in versions.items() if "AWSCURRENT" in s), None)
    if current == token:
        return
    client.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT",
                                       MoveToVersionId=token, RemoveFromVersionId=current)
