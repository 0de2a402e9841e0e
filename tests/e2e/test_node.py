"""Seed 004's Lambda code (Node, aws-sdk v2) and the v3 client, against the session server."""
import os
import subprocess


def test_seed_004_node_handler(server):
    here = os.path.join(os.path.dirname(__file__), "node")
    p = subprocess.run(["node", "seed004.test.js"], cwd=here, env=server.env(),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "node e2e: ok" in p.stdout
