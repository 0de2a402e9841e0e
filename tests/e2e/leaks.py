"""Registry of every secret value the suites send or receive, and the scans that look for them
where they must never appear: the servers' logs and (after SIGTERM) every file of their data dirs.

Every value the tests make carries MARKER, so scanning for MARKER alone already covers them;
values that cannot carry it (the seed documents' values, passwords and access keys the server
generates) are remembered here explicitly. The registry survives the pytest process as a JSON
file under STRONGROOM_E2E_WORK so that run.sh can scan after it has stopped the server.
"""
import json
import os
import uuid

# Every secret value made by the suites carries this marker.
MARKER = "E2E-SECRET-MARKER-5b7c"

# Values from the seed documents, used verbatim (seed 004 and seed 003), plus their distinctive parts.
SEED_VALUES = [
    '{"username":"user","password":"password"}',
    "mongodb+srv://user:pass@cluster.mongodb.net/db",
    "your-secret-key",
    "your-api-key",
]

# Shorter strings are too likely to occur by chance (and say nothing about a leak).
MIN_LEN = 8
# Fields of requests and responses whose values are secret.
SECRET_FIELDS = {"SecretString", "RandomPassword", "SecretAccessKey"}

_values = set(SEED_VALUES) | {MARKER}


def remember(value):
    """Record a secret value for the leak scans; returns it unchanged."""
    if isinstance(value, (bytes, bytearray)):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return value
    if isinstance(value, str) and len(value) >= MIN_LEN:
        _values.add(value)
    return value


def remember_fields(doc):
    """Record the values of every secret-bearing field anywhere in a request or response."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k in SECRET_FIELDS and isinstance(v, (str, bytes)):
                remember(v)
            else:
                remember_fields(v)
    elif isinstance(doc, list):
        for v in doc:
            remember_fields(v)


def secret(label=""):
    """A fresh, unique secret value carrying MARKER (and remembered)."""
    return remember(f"{MARKER}-{label}-{uuid.uuid4().hex[:12]}")


def values():
    return sorted(_values)


def registry_path():
    base = os.environ.get("STRONGROOM_E2E_WORK")
    return os.path.join(base, "secret-values.json") if base else None


def save():
    """Merge this process's values into the run's registry file (when run by run.sh)."""
    path = registry_path()
    if not path:
        return
    merged = set(_values)
    if os.path.exists(path):
        with open(path) as f:
            merged |= set(json.load(f))
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(sorted(merged), f)
    os.replace(tmp, path)


def load():
    path = registry_path()
    if not path or not os.path.exists(path):
        raise AssertionError(f"no secret-value registry at {path}: did the suites run?")
    with open(path) as f:
        return set(json.load(f))


def scan_text(text, secrets, where):
    """Findings: (where, value excerpt) for every secret found in `text`."""
    return [(where, v[:24] + ("..." if len(v) > 24 else "")) for v in secrets if v in text]


def _needles(secrets):
    """(marked, unmarked): a text without MARKER holds none of the marked values, so each file
    is searched for MARKER and the few unmarked values only — the marked ones (thousands, in a
    whole run) one by one only where MARKER occurs, to name which leaked."""
    marked = [v for v in secrets if MARKER in v and v != MARKER]
    unmarked = [v for v in secrets if MARKER not in v or v == MARKER]
    return marked, unmarked


def _found(data, marked, unmarked):
    """Which of the values occur in `data` (bytes)."""
    hits = [v for v in unmarked if v.encode() in data]
    if MARKER.encode() in data:
        hits += [v for v in marked if v.encode() in data]
    return hits


def scan_logs(log_paths, secrets):
    marked, unmarked = _needles(secrets)
    findings = []
    for path in log_paths:
        with open(path, "rb") as f:
            # Decoded and re-encoded as before: a value split by invalid UTF-8 is not matched
            # differently from the old text scan.
            data = f.read().decode("utf-8", "replace").encode()
        findings += [(path, v[:24] + ("..." if len(v) > 24 else ""))
                     for v in _found(data, marked, unmarked)]
    return findings


def scan_dirs(dirs, secrets):
    """Every file under `dirs`, as raw bytes (SQLite pages, WAL, key files, anything)."""
    marked, unmarked = _needles(secrets)
    findings = []
    scanned = 0
    for d in dirs:
        for root, _, files in os.walk(d):
            for name in files:
                path = os.path.join(root, name)
                with open(path, "rb") as f:
                    data = f.read()
                scanned += 1
                findings += [(path, v[:24] + "...") for v in _found(data, marked, unmarked)]
    return findings, scanned
