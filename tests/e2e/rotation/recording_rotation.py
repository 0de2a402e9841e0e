#!/usr/bin/env python3
"""A rotation function that records each step it runs — secret, token, step, start and end
times, and which node ran it — as one JSON line appended to $ROTATION_RECORD, so a test can
check that no two rotations of one secret ever ran at once, whichever node ran them.

It rotates a plain token: createSecret puts a random AWSPENDING value, finishSecret moves
AWSCURRENT to it (setSecret and testSecret have nothing to do). Event on standard input,
endpoint and role credentials in the environment, as strongroom's runner gives them. The
record holds no secret value.
"""
import json
import os
import sys
import time

import boto3
from botocore.config import Config


def main():
    started = time.time()
    event = json.loads(sys.stdin.read())
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    endpoint = os.environ["SECRETS_MANAGER_ENDPOINT"]
    # One attempt: a function orphaned by a killed node must not linger retrying.
    sm = boto3.client("secretsmanager", endpoint_url=endpoint,
                      config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
    outcome = "ok"
    if os.environ.get("ROTATION_PIDS"):
        with open(os.environ["ROTATION_PIDS"], "a") as f:
            f.write(f"{os.getpid()}\n")
    # A slow function (a test that needs a run to be still going when it acts) — with
    # ROTATION_SLOW_ONCE (a marker file's path), only its first step ever is slow.
    delay = float(os.environ.get("ROTATION_STEP_DELAY", "0"))
    once = os.environ.get("ROTATION_SLOW_ONCE")
    if once:
        try:
            os.close(os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            delay = 0
    time.sleep(delay)
    try:
        stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
        if step == "createSecret":
            try:
                sm.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
            except sm.exceptions.ResourceNotFoundException:
                value = sm.get_random_password(PasswordLength=24)["RandomPassword"]
                sm.put_secret_value(SecretId=arn, ClientRequestToken=token, SecretString=value,
                                    VersionStages=["AWSPENDING"])
        elif step == "finishSecret" and "AWSCURRENT" not in stages.get(token, []):
            current = next(v for v, s in stages.items() if "AWSCURRENT" in s)
            sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT",
                                           MoveToVersionId=token, RemoveFromVersionId=current)
    except Exception as e:  # noqa: BLE001 (recorded, then the step fails)
        outcome = type(e).__name__
    line = json.dumps({"secret": arn, "token": token, "step": step, "start": started,
                       "end": time.time(), "endpoint": endpoint, "outcome": outcome})
    # One write of one line in append mode: lines of concurrent steps never interleave.
    fd = os.open(os.environ["ROTATION_RECORD"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)
    if outcome != "ok":
        sys.exit(f"step {step} failed: {outcome}")


if __name__ == "__main__":
    main()
