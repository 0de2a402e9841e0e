"""Memory after a restart does not grow with the stored data (issue 16 §6).

Measured before the fix (release build, 5,000 secrets): 32 MiB fresh, 39 MiB before the stop,
71 MiB after a restart — the rotation scheduler's first tick loaded every secret with all its
versions (and did so every minute), and opening the audit log read its whole last segment (up
to 64 MiB). Now the scheduler asks an index for the secrets due, and the log reads only its
tail. This test stores 4,000 secrets, restarts, lets the background loops run, and bounds the
resident set against the fresh server's."""
import concurrent.futures
import time

import boto3
from botocore.config import Config

from server import ACCESS_KEY, REGION, SECRET_KEY, Server

SECRETS = 4000
SLACK_MIB = 8


def rss_mib(server):
    with open(f"/proc/{server.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_memory_after_a_restart_does_not_grow_with_the_data():
    s = Server(name="memory", extra_args=["--rotation-interval-secs", "1"])
    data_dir = s.data_dir
    try:
        # As long as after the restart below: the same background loops' first ticks and the
        # same one-time work (e.g. the sign-in dummy hash) in both figures.
        time.sleep(3)
        fresh = rss_mib(s)
        c = boto3.client("secretsmanager", endpoint_url=s.endpoint, region_name=REGION,
                         config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=16),
                         aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
        # Not secret values: filler for size (never scanned as secrets).
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: c.create_secret(Name=f"mem-{i}", SecretString="f" * 300), range(SECRETS)))
        assert s.stop() == 0
        s = Server(name="memory-restarted", data_dir=data_dir, extra_args=["--rotation-interval-secs", "1"])
        # Several scheduler ticks, purge and audit loops.
        time.sleep(3)
        after = rss_mib(s)
        assert after <= fresh + SLACK_MIB, (
            f"resident set after a restart with {SECRETS} secrets: {after:.1f} MiB, fresh: {fresh:.1f} MiB")
    finally:
        assert s.stop() == 0
