"""Limits against abuse (issue 16 §6), against real server processes with small limits: slow
headers (slowloris), idle keep-alive connections, slow bodies, connection floods from one
address, overload (requests in flight) and stalled TLS handshakes — with a normal signed
request answered within 100 ms meanwhile. Attackers connect from 127.0.0.2.. (other loopback
addresses) so the per-address cap does not touch the normal client on 127.0.0.1. Bounded: each
test runs a few seconds."""
import socket
import ssl
import tempfile
import time

import boto3
import pytest
from botocore.config import Config

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from server import ACCESS_KEY, REGION, SECRET_KEY, Server
from test_tls import make_ca_and_cert

HEADER_TIMEOUT = 4
BODY_TIMEOUT = 2
PER_IP = 100
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=5)


@pytest.fixture(scope="module")
def limited():
    s = Server(name="limits", extra_args=[
        "--header-read-timeout-secs", str(HEADER_TIMEOUT), "--idle-timeout-secs", "5",
        "--body-read-timeout-secs", str(BODY_TIMEOUT), "--max-connections", "700",
        "--max-connections-per-ip", str(PER_IP), "--max-requests-in-flight", "600"])
    yield s
    assert s.stop() == 0


def normal_request_ms(server):
    """A signed ListSecrets from 127.0.0.1 on a fresh connection: its latency in ms."""
    c = boto3.client("secretsmanager", endpoint_url=server.endpoint, region_name=REGION, config=NO_RETRY,
                     aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    c.list_secrets(MaxResults=1)  # warm the client (credentials, endpoint resolution)
    c.close()
    c = boto3.client("secretsmanager", endpoint_url=server.endpoint, region_name=REGION, config=NO_RETRY,
                     aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    c.list_secrets(MaxResults=1)
    best = None
    for _ in range(3):
        t0 = time.perf_counter()
        c.list_secrets(MaxResults=1)
        ms = (time.perf_counter() - t0) * 1000
        best = ms if best is None else min(best, ms)
    return best


def connect_from(source, port, n):
    """n TCP connections from `source` (a loopback address); those the server refuses at once
    are returned separately (closed right after connecting)."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind((source, 0))
        s.settimeout(2)
        s.connect(("127.0.0.1", port))
        socks.append(s)
    return socks


def closed(s, wait=0.0):
    """Whether the server has closed `s` (EOF or reset), waiting up to `wait` seconds."""
    s.settimeout(max(wait, 0.01))
    try:
        while True:
            data = s.recv(4096)
            if not data:
                return True
            # A response (e.g. 408) before the close: keep reading to the EOF.
    except (socket.timeout, BlockingIOError):
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def trickle(socks, payload, seconds):
    """Send one byte of `payload` per second on every socket, for `seconds`."""
    for i in range(seconds):
        for s in socks:
            try:
                s.send(payload[i:i + 1])
            except OSError:
                pass
        time.sleep(1)


def test_slowloris_connections_are_closed_and_capped_per_address(limited):
    socks = connect_from("127.0.0.2", limited.port, 300)
    try:
        for s in socks:  # the first header byte at once, as slowloris does
            try:
                s.send(b"P")
            except OSError:
                pass
        time.sleep(0.5)
        refused = [s for s in socks if closed(s)]
        assert len(refused) == 300 - PER_IP, "the per-address cap was not applied"
        held = [s for s in socks if s not in refused]
        ms = normal_request_ms(limited)
        assert ms < 100, f"a normal request took {ms:.0f} ms under 300 trickling connections"
        trickle(held, b"OST / HTTP/1.1\r\nHost: x\r\n", HEADER_TIMEOUT + 2)
        still_open = [s for s in held if not closed(s, 0.05)]
        assert not still_open, f"{len(still_open)} slow-header connections still open after the header timeout"
        assert normal_request_ms(limited) < 100
    finally:
        for s in socks:
            s.close()


def test_idle_keep_alive_connections_are_closed(limited):
    socks = connect_from("127.0.0.3", limited.port, 80)
    # Half of them first make a request and keep the connection alive.
    for s in socks[:40]:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        s.settimeout(2)
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
    try:
        ms = normal_request_ms(limited)
        assert ms < 100, f"a normal request took {ms:.0f} ms beside 80 idle connections"
        time.sleep(HEADER_TIMEOUT + 1.5)
        still_open = [s for s in socks if not closed(s, 0.05)]
        assert not still_open, f"{len(still_open)} idle connections still open"
    finally:
        for s in socks:
            s.close()


def test_slow_bodies_get_408_and_free_their_connection(limited):
    socks = connect_from("127.0.0.4", limited.port, 50)
    head = (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.1\r\n"
            b"X-Amz-Target: secretsmanager.ListSecrets\r\nContent-Length: 1000\r\n\r\n")
    try:
        for s in socks:
            s.sendall(head)
        ms = normal_request_ms(limited)
        assert ms < 100, f"a normal request took {ms:.0f} ms beside 50 slow bodies"
        trickle(socks, b"{" + b" " * 20, BODY_TIMEOUT + 1)
        answers = []
        for s in socks:
            s.settimeout(3)
            try:
                answers.append(s.recv(4096))
            except OSError:
                answers.append(b"")
        timed_out = [a for a in answers if a.startswith(b"HTTP/1.1 408") and b"RequestTimeoutException" in a]
        assert len(timed_out) == len(socks), answers[:3]
    finally:
        for s in socks:
            s.close()


def test_overload_is_refused_with_503_throttling():
    """With 4 requests in flight allowed, 4 slow bodies fill the server; the next request is
    refused at once with 503 ThrottlingException (SDKs retry it), and served once they time out."""
    s = Server(name="limits-overload", extra_args=[
        "--max-requests-in-flight", "4", "--body-read-timeout-secs", str(BODY_TIMEOUT)])
    socks = connect_from("127.0.0.5", s.port, 4)
    head = (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.1\r\n"
            b"X-Amz-Target: secretsmanager.ListSecrets\r\nContent-Length: 100\r\n\r\n{")
    try:
        for sock in socks:
            sock.sendall(head)
        time.sleep(0.3)
        c = boto3.client("secretsmanager", endpoint_url=s.endpoint, region_name=REGION, config=NO_RETRY,
                         aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
        from botocore.exceptions import ClientError
        with pytest.raises(ClientError) as e:
            c.list_secrets()
        assert e.value.response["Error"]["Code"] == "ThrottlingException"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        iam = boto3.client("iam", endpoint_url=s.endpoint, region_name=REGION, config=NO_RETRY,
                           aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
        with pytest.raises(ClientError) as e:
            iam.list_users()
        assert e.value.response["Error"]["Code"] == "Throttling"
        time.sleep(BODY_TIMEOUT + 1)
        assert c.list_secrets()["SecretList"] == []
    finally:
        for sock in socks:
            sock.close()
        assert s.stop() == 0


H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # + empty SETTINGS
H2_PING = b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" + b"12345678"


def pinging_h2_closed_after(sock, seconds):
    """Send the HTTP/2 preface, then a PING every 0.25 s (the server answers each: bytes move
    both ways, but no request ever starts). Returns the seconds after which the server closed
    the connection, or None if it was still open after `seconds`."""
    sock.sendall(H2_PREFACE)
    sock.settimeout(0.05)
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        try:
            sock.sendall(H2_PING)
            while True:
                if sock.recv(4096) == b"":
                    return time.monotonic() - t0
        except (socket.timeout, ssl.SSLWantReadError):
            pass
        except OSError:
            return time.monotonic() - t0
        time.sleep(0.25)
    return None


def test_http2_connections_must_start_requests_too(limited):
    """Hyper also serves HTTP/2 (h2c here), whose connections hyper's header timer does not
    cover: one that only PINGs is still closed at the header deadline, as are idle ones, and a
    normal request meanwhile answers within 100 ms."""
    pinging = connect_from("127.0.0.7", limited.port, 1)[0]
    socks = connect_from("127.0.0.7", limited.port, 20)
    try:
        for x in socks:
            x.sendall(H2_PREFACE)
        ms = normal_request_ms(limited)
        assert ms < 100, f"a normal request took {ms:.0f} ms beside 21 HTTP/2 connections"
        after = pinging_h2_closed_after(pinging, HEADER_TIMEOUT + 3)
        assert after is not None, "an HTTP/2 connection that only sends PINGs is still open"
        assert HEADER_TIMEOUT - 1.5 <= after <= HEADER_TIMEOUT + 1.5, after
        still_open = [x for x in socks if not closed(x, 0.05)]
        assert not still_open, f"{len(still_open)} idle HTTP/2 connections still open"
    finally:
        pinging.close()
        for x in socks:
            x.close()


def test_a_change_stream_outlives_the_request_deadline():
    """A long response (the change stream, a heartbeat every 15 s) is a request in progress:
    the deadline to start a request does not cut it."""
    s = Server(name="limits-stream", extra_args=["--header-read-timeout-secs", "1"])
    req = AWSRequest(method="GET", url=f"{s.endpoint}/changes", headers={"Accept": "text/event-stream"})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "secretsmanager", REGION).add_auth(req)
    sock = socket.create_connection(("127.0.0.1", s.port))
    try:
        head = "".join(f"{k}: {v}\r\n" for k, v in req.headers.items())
        sock.sendall(f"GET /changes HTTP/1.1\r\nHost: 127.0.0.1:{s.port}\r\n{head}\r\n".encode())
        sock.settimeout(3)
        first = sock.recv(4096)
        assert first.startswith(b"HTTP/1.1 200"), first[:200]
        time.sleep(3)
        assert not closed(sock, 0.05), "the change stream was cut by the request deadline"
    finally:
        sock.close()
        assert s.stop() == 0


def test_a_stalled_request_is_closed_after_the_idle_timeout():
    """No byte moving for --idle-timeout-secs while a request is read: the connection is
    closed, well before the (here longer) body deadline."""
    s = Server(name="limits-idle", extra_args=["--idle-timeout-secs", "2", "--body-read-timeout-secs", "30"])
    socks = connect_from("127.0.0.8", s.port, 10)
    try:
        t0 = time.monotonic()
        for x in socks:
            x.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.1\r\n"
                      b"X-Amz-Target: secretsmanager.ListSecrets\r\nContent-Length: 100\r\n\r\n{")
        still_open = [x for x in socks if not closed(x, 4)]
        assert not still_open, f"{len(still_open)} stalled requests still open"
        assert time.monotonic() - t0 < 6
    finally:
        for x in socks:
            x.close()
        assert s.stop() == 0


def test_a_stalled_tls_handshake_is_closed():
    with tempfile.TemporaryDirectory() as d:
        tls = make_ca_and_cert(d)
        s = Server(name="limits-tls", tls=tls, extra_args=["--header-read-timeout-secs", "1"])
        try:
            socks = connect_from("127.0.0.6", s.port, 20)
            # A ClientHello never comes: the handshake deadline closes each connection.
            time.sleep(2.5)
            still_open = [x for x in socks if not closed(x, 0.05)]
            assert not still_open, f"{len(still_open)} stalled handshakes still open"
            for x in socks:
                x.close()
            # HTTP/2 negotiated by ALPN, then only PINGs: closed at the deadline as well.
            ctx = ssl.create_default_context(cafile=tls["ca"])
            ctx.set_alpn_protocols(["h2"])
            raw = socket.create_connection(("127.0.0.1", s.port))
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as t:
                assert t.selected_alpn_protocol() == "h2"
                after = pinging_h2_closed_after(t, 4)
                assert after is not None and after <= 2.5, f"closed after {after} s"
        finally:
            assert s.stop() == 0
