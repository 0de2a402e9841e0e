#!/usr/bin/env python3
"""Measure a strongroom server's memory before a stop and after a restart (issue 16 §6).

    .venv/bin/python scripts/restart-memory.py --bin target/release/strongroom \
        [--secrets 5000] [--audit-mb 180]

Starts a server on a fresh data dir (loopback, free port), creates the secrets (16 threads,
boto3), stops it, grows the audit log by --audit-mb with copies of its own records
(tests/e2e/auditfill.py: seconds instead of minutes of requests) and starts it once to catch
the audit index up from the segments (what a start after a crash does), restarts it, and
prints VmRSS (anonymous part too) and VmHWM (the peak so far) from /proc/PID/status at each
step, a few background ticks after each start. Bounded: creating secrets is the slow part (~1 s per 1,000 on
a release build)."""
import argparse
import concurrent.futures
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0]) / 1024
    return out


def wait_for_log(server, text, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in server.logs():
            return True
        time.sleep(0.2)
    return False


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "strongroom"))
    p.add_argument("--secrets", type=int, default=0)
    p.add_argument("--audit-mb", type=int, default=0)
    p.add_argument("--settle", type=float, default=3.0, help="seconds to wait after each start")
    a = p.parse_args()
    os.environ["STRONGROOM_BIN"] = os.path.abspath(a.bin)

    import boto3
    from botocore.config import Config

    import auditfill
    from server import ACCESS_KEY, REGION, SECRET_KEY, Server

    rows = []
    extra = ["--rotation-interval-secs", "1"]
    s = Server(name="restart-memory", extra_args=extra)
    data_dir = s.data_dir
    try:
        time.sleep(a.settle)
        rows.append(("fresh", status(s.proc.pid)))
        c = boto3.client("secretsmanager", endpoint_url=s.endpoint, region_name=REGION,
                         config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                                       max_pool_connections=16),
                         aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
        c.create_secret(Name="restart-memory-0", SecretString="f" * 300)  # filler, not a secret
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: c.create_secret(Name=f"restart-memory-{i}", SecretString="f" * 300),
                          range(1, a.secrets)))
        time.sleep(a.settle)
        rows.append((f"before the stop ({max(a.secrets, 1)} secrets)", status(s.proc.pid)))
    finally:
        assert s.stop() == 0
    if a.audit_mb:
        t0 = time.time()
        n = auditfill.fill(data_dir, a.audit_mb * 1024 * 1024)
        print(f"audit log grown by {n} records in {time.time() - t0:.1f} s: "
              f"{auditfill.log_bytes(data_dir) / 1e6:.0f} MB", file=sys.stderr)
        # The index is behind, as after a crash: this start catches it up from the segments.
        s = Server(name="restart-memory-index", data_dir=data_dir, extra_args=extra)
        try:
            t0 = time.time()
            assert wait_for_log(s, "audit index rebuilt", 900), "no index rebuild"
            print(f"index caught up in {time.time() - t0:.1f} s", file=sys.stderr)
            time.sleep(a.settle)
            rows.append(("a start that catches the index up", status(s.proc.pid)))
        finally:
            assert s.stop() == 0
    s = Server(name="restart-memory-after", data_dir=data_dir, extra_args=extra)
    try:
        time.sleep(a.settle)
        rows.append(("after a restart", status(s.proc.pid)))
        c = boto3.client("secretsmanager", endpoint_url=s.endpoint, region_name=REGION,
                         aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
        c.get_secret_value(SecretId="restart-memory-0")
        rows.append(("after a restart and one GetSecretValue", status(s.proc.pid)))
    finally:
        assert s.stop() == 0
    log_mb = auditfill.log_bytes(data_dir) / 1e6
    print(f"\n{os.path.basename(a.bin)}: {max(a.secrets, 1)} secrets, audit log {log_mb:.0f} MB\n")
    print("| step | VmRSS MiB | of which anonymous | VmHWM (peak) MiB |\n|---|---|---|---|")
    for label, st in rows:
        print(f"| {label} | {st['VmRSS']:.1f} | {st['RssAnon']:.1f} | {st['VmHWM']:.1f} |")


if __name__ == "__main__":
    main()
