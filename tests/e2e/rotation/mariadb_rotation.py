#!/usr/bin/env python3
"""A rotation function for a MariaDB/MySQL user's password, written to Secrets Manager's
rotation contract (the four steps AWS's rotation templates implement), run by strongroom's
rotation runner: the event arrives as JSON on standard input; the endpoint and the role's
temporary credentials in the environment.

The secret is JSON: {"engine": "mysql", "host", "port", "username", "password"}. The user
changes its own password (SET PASSWORD, which needs no privilege), so no administrator
credentials are involved. Nothing secret is ever printed.
"""
import json
import os
import sys

import boto3
import pymysql


def connect(secret):
    return pymysql.connect(host=secret["host"], port=int(secret["port"]), user=secret["username"],
                           password=secret["password"], connect_timeout=5)


def main():
    event = json.loads(sys.stdin.read())
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    sm = boto3.client("secretsmanager", endpoint_url=os.environ["SECRETS_MANAGER_ENDPOINT"])

    stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
    if token not in stages:
        sys.exit(f"version {token} is not a version of the secret")
    if "AWSCURRENT" in stages[token]:
        return  # already done
    if "AWSPENDING" not in stages[token]:
        sys.exit(f"version {token} is not AWSPENDING")

    def value(**kw):
        return json.loads(sm.get_secret_value(SecretId=arn, **kw)["SecretString"])

    if step == "createSecret":
        current = value(VersionStage="AWSCURRENT")
        try:
            value(VersionId=token, VersionStage="AWSPENDING")
            return  # a retried rotation: the pending value exists
        except sm.exceptions.ResourceNotFoundException:
            pass
        current["password"] = sm.get_random_password(
            PasswordLength=32, ExcludeCharacters="/@\"'\\")["RandomPassword"]
        sm.put_secret_value(SecretId=arn, ClientRequestToken=token,
                            SecretString=json.dumps(current), VersionStages=["AWSPENDING"])
    elif step == "setSecret":
        pending = value(VersionId=token, VersionStage="AWSPENDING")
        try:
            connect(pending).close()
            return  # already set
        except pymysql.err.OperationalError:
            pass
        conn = connect(value(VersionStage="AWSCURRENT"))
        with conn.cursor() as c:
            c.execute("SET PASSWORD = PASSWORD(%s)", (pending["password"],))
        conn.commit()
        conn.close()
    elif step == "testSecret":
        conn = connect(value(VersionId=token, VersionStage="AWSPENDING"))
        with conn.cursor() as c:
            c.execute("SELECT 1")
        conn.close()
    elif step == "finishSecret":
        current = next(v for v, s in stages.items() if "AWSCURRENT" in s)
        sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT",
                                       MoveToVersionId=token, RemoveFromVersionId=current)
    else:
        sys.exit(f"unknown step {step}")


if __name__ == "__main__":
    main()
