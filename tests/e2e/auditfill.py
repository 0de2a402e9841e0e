"""Grow a stopped server's audit log quickly, for memory-after-restart tests and measurements.

Requests would take minutes to leave 200 MB of records; this writes the same thing in seconds:
copies of the log's own last record (each with a new eventID and time), appended to the
segments with the chain continued exactly as the server links it (crates/audit/src/chain.rs:
H(domain || seq || prev || H(record))), rolling segments at 64 MiB as the server does. The
index (audit-index.db) is left behind, as after a crash; the next start catches it up from the
segments. `strongroom audit verify` passes on the result (the new records are unsigned)."""
import hashlib
import json
import os
import uuid

DOMAIN = b"strongroom-audit-v1\0"
ROLL_BYTES = 64 * 1024 * 1024


def _segments(audit_dir):
    return sorted(f for f in os.listdir(audit_dir)
                  if f.endswith(".log") and len(f) == 24 and f[:20].isdigit())


def _last_line(path):
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 1024 * 1024))
        lines = f.read().rstrip(b"\n").split(b"\n")
    return lines[-1].decode() if lines and lines[-1] else None


def fill(data_dir, target_bytes, record_pad=0):
    """Append records to `data_dir`'s audit log until it holds about `target_bytes` more.
    `record_pad` adds a filler request parameter of that many bytes to each copy. Returns the
    number of records appended."""
    audit_dir = os.path.join(data_dir, "audit")
    segs = _segments(audit_dir)
    last = None
    for name in reversed(segs):
        last = _last_line(os.path.join(audit_dir, name))
        if last:
            break
    if not last:
        raise RuntimeError("the audit log is empty: make at least one request first")
    seq, _prev, head, time_ms, record = last.split("\t", 4)
    seq, prev, time_ms = int(seq), bytes.fromhex(head), int(time_ms)
    template = json.loads(record)
    if record_pad:
        params = template.get("requestParameters") or {}
        params["filler"] = "f" * record_pad  # not a secret: size only
        template["requestParameters"] = params
    path = os.path.join(audit_dir, segs[-1])
    out = open(path, "ab")
    size = out.tell()
    written = appended = 0
    try:
        while written < target_bytes:
            seq += 1
            time_ms += 1
            template["eventID"] = str(uuid.uuid4())
            rec = json.dumps(template, separators=(",", ":"))
            content = hashlib.sha256(rec.encode()).digest()
            h = hashlib.sha256(DOMAIN + seq.to_bytes(8, "big", signed=True) + prev + content).digest()
            line = f"{seq}\t{prev.hex()}\t{h.hex()}\t{time_ms}\t{rec}\n".encode()
            if size >= ROLL_BYTES:
                out.close()
                out = open(os.path.join(audit_dir, f"{seq:020}.log"), "ab")
                size = 0
            out.write(line)
            size += len(line)
            written += len(line)
            appended += 1
            prev = h
    finally:
        out.close()
    return appended


def log_bytes(data_dir):
    audit_dir = os.path.join(data_dir, "audit")
    return sum(os.path.getsize(os.path.join(audit_dir, f)) for f in _segments(audit_dir))
