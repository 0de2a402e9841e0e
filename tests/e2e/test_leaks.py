"""After every suite has run and every server has been stopped (SIGTERM): no secret value used
by the suites may appear in any server's log or in any file of any server's data dir.

run.sh runs this on its own (STRONGROOM_E2E_PHASE=leaks) with STRONGROOM_E2E_WORK pointing at
the run's directory: logs/ (every server's stdout+stderr), data/ (every data dir), and
secret-values.json (the values the suites registered)."""
import glob
import os

import pytest

import leaks
from leaks import MARKER, SEED_VALUES
from server import SECRET_KEY

WORK = os.environ.get("STRONGROOM_E2E_WORK")


@pytest.fixture(scope="module")
def secrets():
    assert WORK, "STRONGROOM_E2E_WORK is not set: run tests/e2e/run.sh, not this file alone"
    values = leaks.load()
    # The registry must hold what the suites really used, not just the built-in values.
    assert MARKER in values and all(v in values for v in SEED_VALUES)
    made = [v for v in values if MARKER in v and v != MARKER]
    assert len(made) >= 20, f"only {len(made)} marked secret values were registered"
    return sorted(values)


def log_files():
    logs = sorted(glob.glob(os.path.join(WORK, "logs", "*.log")))
    assert logs, "no server logs were captured"
    return logs


def test_main_server_log_is_real():
    """The scan means something only if the main server really logged the run's requests."""
    main = os.environ.get("STRONGROOM_E2E_LOG") or os.path.join(WORK, "logs", "main.log")
    with open(main, encoding="utf-8", errors="replace") as f:
        text = f.read()
    assert "secretsmanager.GetSecretValue" in text, "the main log shows no GetSecretValue request"
    assert "secretsmanager.CreateSecret" in text


def test_no_secret_value_in_any_server_log(secrets):
    findings = leaks.scan_logs(log_files(), secrets + [SECRET_KEY])
    assert not findings, f"secret values in server logs: {findings}"


def test_no_secret_value_in_any_data_dir_after_shutdown(secrets):
    data_dirs = [d for d in glob.glob(os.path.join(WORK, "data", "*")) if os.path.isdir(d)]
    assert data_dirs, "no data dirs to scan"
    findings, scanned = leaks.scan_dirs(data_dirs, secrets)
    assert scanned >= len(data_dirs), f"only {scanned} files in {len(data_dirs)} data dirs"
    assert not findings, f"plaintext secret values in data dirs: {findings}"


def test_the_scan_can_fail(tmp_path):
    """Guard against a scan that never finds anything."""
    (tmp_path / "x.log").write_text(f"oops {MARKER}-abc leaked")
    assert leaks.scan_logs([str(tmp_path / "x.log")], [MARKER])
    findings, _ = leaks.scan_dirs([str(tmp_path)], [MARKER])
    assert findings
    # A marked value is named, and an unmarked one (a generated password) found too.
    (tmp_path / "y.log").write_text(f"x {MARKER}-abc y Gen3rated!Passw0rd z")
    named = leaks.scan_logs([str(tmp_path / "y.log")], [MARKER, f"{MARKER}-abc",
                                                         f"{MARKER}-zzz", "Gen3rated!Passw0rd"])
    assert sorted(v for _, v in named) == sorted(
        [MARKER, f"{MARKER}-abc"[:24] + "...", "Gen3rated!Passw0rd"])
