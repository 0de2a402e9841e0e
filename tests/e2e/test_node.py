"""Seed 004's Lambda code (Node, aws-sdk v2) and the v3 client, when pytest runs the suites on its
own (tests/e2e/run.sh runs node/seed004.test.js directly instead and does not collect this)."""
import os
import subprocess

from leaks import MARKER, remember


def test_seed_004_node_handler(server, tmp_path):
    here = os.path.join(os.path.dirname(__file__), "node")
    registry = tmp_path / "node-values.txt"
    env = server.env()
    env.update(E2E_MARKER=MARKER, E2E_REGISTRY=str(registry), AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE="1")
    p = subprocess.run(["node", "seed004.test.js"], cwd=here, env=env,
                       capture_output=True, text=True, timeout=120)
    if registry.exists():
        for line in registry.read_text().splitlines():
            remember(line)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "node e2e: ok" in p.stdout
