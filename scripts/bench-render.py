#!/usr/bin/env python3
"""`strongroom render` of a template with 100 references: round trips and wall time.

    scripts/bench-render.py [path/to/strongroom]   (default target/release/strongroom)

Starts a server (fresh data dir, loopback, pinned to CPU 0), stores 60 secrets (JSON) and 40
parameters (20 String, 20 SecureString), renders a template with one reference to each — 100 in
all, 60 of them JSON keys — 5 times with the client pinned to CPU 1, and reports the median wall
time and the API calls the render made (counted from the server's CloudTrail records for the
rendering user). Bounded: about a minute. Needs the venv scripts/test makes (.venv: boto3).
"""
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import boto3  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/release/strongroom"))
AK, SK, REGION = "AKIABENCHRENDER00001", "bench/render/secret/key/0123456789abcdef", "us-east-1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    data = tempfile.mkdtemp(prefix="strongroom-bench-render-")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = dict(os.environ, STRONGROOM_ROOT_ACCESS_KEY_ID=AK, STRONGROOM_ROOT_SECRET_ACCESS_KEY=SK)
    server = subprocess.Popen(["taskset", "-c", "0", BIN, "server", "--data-dir", data, "--listen",
                               f"127.0.0.1:{port}", "--account-id", "123456789012"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{endpoint}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        mk = lambda svc: boto3.client(svc, endpoint_url=endpoint, region_name=REGION,  # noqa: E731
                                      aws_access_key_id=AK, aws_secret_access_key=SK)
        sm, ssm, iam, ct = mk("secretsmanager"), mk("ssm"), mk("iam"), mk("cloudtrail")
        refs = []
        for i in range(60):
            sm.create_secret(Name=f"bench/app-{i}", SecretString=json.dumps({"password": f"pw-{i}-xxxxxxxx"}))
            refs.append(f"{{{{resolve:secretsmanager:bench/app-{i}:SecretString:password}}}}")
        for i in range(20):
            ssm.put_parameter(Name=f"/bench/plain/p{i}", Value=f"v{i}", Type="String")
            ssm.put_parameter(Name=f"/bench/secure/p{i}", Value=f"s{i}", Type="SecureString")
            refs.append(f"{{{{resolve:ssm:/bench/plain/p{i}}}}}")
            refs.append(f"{{{{resolve:ssm-secure:/bench/secure/p{i}}}}}")
        template = "\n".join(f"KEY_{i}={r}" for i, r in enumerate(refs)) + "\n"
        iam.create_user(UserName="bench-render")
        iam.put_user_policy(UserName="bench-render", PolicyName="read", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
                "secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue",
                "ssm:GetParameters", "ssm:GetParameter", "kms:Decrypt"]}]}))
        key = iam.create_access_key(UserName="bench-render")["AccessKey"]
        cenv = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        cenv.update(AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"],
                    AWS_REGION=REGION, AWS_ENDPOINT_URL=endpoint, AWS_CONFIG_FILE="/nonexistent",
                    AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_EC2_METADATA_DISABLED="true")
        runs = []
        for _ in range(5):
            t0 = time.perf_counter()
            p = subprocess.run(["taskset", "-c", "1", BIN, "render", "-"], input=template, env=cenv,
                               capture_output=True, text=True, timeout=60)
            runs.append(time.perf_counter() - t0)
            assert p.returncode == 0, p.stderr
            assert p.stdout.count("\n") == 100
        calls = {}
        for page in ct.get_paginator("lookup_events").paginate(
                LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "bench-render"}]):
            for e in page["Events"]:
                calls[e["EventName"]] = calls.get(e["EventName"], 0) + 1
        per_render = {k: v / len(runs) for k, v in sorted(calls.items())}
        print(f"render of 100 references (60 secret JSON keys, 20 ssm, 20 ssm-secure), {len(runs)} runs:")
        print(f"  wall time: median {statistics.median(runs) * 1000:.0f} ms "
              f"(min {min(runs) * 1000:.0f}, max {max(runs) * 1000:.0f}) — process start to exit")
        print(f"  API calls per render: {per_render} = {sum(per_render.values()):.0f} round trips")
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
