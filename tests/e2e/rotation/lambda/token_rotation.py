"""A rotation handler in AWS Lambda's programming model for a `{"token": ...}` secret, configured
the way AWS's rotation templates are: through the function's environment variables
(PASSWORD_LENGTH, EXCLUDE_CHARACTERS, EXCLUDE_PUNCTUATION, read as the templates read them).
Nothing outside Secrets Manager holds the token, so setSecret and testSecret have nothing to do.
It logs (never the token) so the log's format can be checked."""
import json
import logging
import os

import boto3

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def env_bool(name, default):
    return os.environ.get(name, str(default)).lower() in ("true", "1", "y", "yes")


def lambda_handler(event, context):
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    client = boto3.client("secretsmanager", endpoint_url=os.environ["SECRETS_MANAGER_ENDPOINT"])
    versions = client.describe_secret(SecretId=arn)["VersionIdsToStages"]
    if "AWSCURRENT" in versions.get(token, []):
        return
    if step == "createSecret":
        try:
            client.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
        except client.exceptions.ResourceNotFoundException:
            new = client.get_random_password(
                ExcludeCharacters=os.environ.get("EXCLUDE_CHARACTERS", "/@\"'\\"),
                PasswordLength=int(os.environ.get("PASSWORD_LENGTH", 32)),
                ExcludePunctuation=env_bool("EXCLUDE_PUNCTUATION", False),
            )["RandomPassword"]
            client.put_secret_value(SecretId=arn, ClientRequestToken=token,
                                    SecretString=json.dumps({"token": new}),
                                    VersionStages=["AWSPENDING"])
    elif step == "finishSecret":
        current = next(v for v, s in versions.items() if "AWSCURRENT" in s)
        client.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT",
                                           MoveToVersionId=token, RemoveFromVersionId=current)
    logger.info("%s done for %s (TZ=%s)", step, arn, os.environ.get("TZ"))
