"""Seed 003's CloudWatch alarm, with the AWS CLI: the command verbatim, then eleven
GetSecretValue calls put it in ALARM, and the server posts Slack's payload to the webhook the
TOML configuration maps the alarm's SNS topic to."""
import http.server
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import time

from conftest import secret, sm_client
from server import Server, free_port, psql
from test_tls import make_ca_and_cert

SEED_003_ALARM = ("aws cloudwatch put-metric-alarm --alarm-name prod-secret-access-alert "
                  "--metric-name GetSecretValue --namespace AWS/SecretsManager --period 300 "
                  "--threshold 10 --comparison-operator GreaterThanThreshold --evaluation-periods 1")


def webhook_receiver():
    got = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append(json.loads(body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, got


def cli(s, command, check=True):
    p = subprocess.run(command.replace("aws ", f"aws --endpoint-url {s.endpoint} --output json ", 1),
                       shell=True, env=s.env(), capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def test_seed_003_alarm_fires_the_slack_webhook():
    hook, received = webhook_receiver()
    cfg = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
    cfg.write('alarm-interval-secs = 1\n\n[[alarm-webhook]]\n'
              'topic-arn = "arn:aws:sns:us-east-1:123456789012:security-alerts"\n'
              f'url = "http://127.0.0.1:{hook.server_port}/slack"\nformat = "slack"\n')
    cfg.close()
    s = Server(name="alarms", extra_args=["--config", cfg.name])
    try:
        cli(s, SEED_003_ALARM)  # verbatim (endpoint added)
        out = json.loads(cli(s, "aws cloudwatch describe-alarms --alarm-names prod-secret-access-alert").stdout)
        alarm = out["MetricAlarms"][0]
        assert alarm["Statistic"] == "Sum" and alarm["Threshold"] == 10.0
        assert alarm["StateValue"] in ("OK", "INSUFFICIENT_DATA")
        # Add the action (put-metric-alarm replaces the alarm's configuration).
        cli(s, SEED_003_ALARM + " --alarm-actions arn:aws:sns:us-east-1:123456789012:security-alerts")
        sm = sm_client(s)
        value = secret("alarmed")
        sm.create_secret(Name="alarmed-secret", SecretString=value)
        for _ in range(11):
            sm.get_secret_value(SecretId="alarmed-secret")
        deadline = time.time() + 15
        state = None
        while time.time() < deadline:
            out = json.loads(cli(s, "aws cloudwatch describe-alarms --state-value ALARM").stdout)
            if out["MetricAlarms"]:
                state = out["MetricAlarms"][0]
                break
            time.sleep(0.3)
        assert state and state["AlarmName"] == "prod-secret-access-alert", "never went to ALARM"
        assert "greater than the threshold" in state["StateReason"]
        deadline = time.time() + 10
        while not received and time.time() < deadline:
            time.sleep(0.1)
        assert received, "no webhook call"
        assert "prod-secret-access-alert" in received[0]["text"] and "ALARM" in received[0]["text"]
        assert value not in json.dumps(received)
        stats = json.loads(cli(s, "aws cloudwatch get-metric-statistics --namespace AWS/SecretsManager "
                                  "--metric-name GetSecretValue --statistics Sum --period 3600 "
                                  f"--start-time {int(time.time()) - 1800} --end-time {int(time.time()) + 60}").stdout)
        assert sum(p["Sum"] for p in stats["Datapoints"]) == 11
        bad = cli(s, "aws cloudwatch delete-alarms --alarm-names no-such-alarm", check=False)
        assert bad.returncode != 0 and "ResourceNotFound" in bad.stderr
    finally:
        assert s.stop() == 0
        hook.shutdown()
        os.unlink(cfg.name)


def https_webhook_receiver(tls):
    """The webhook receiver behind TLS, with a certificate from the test CA."""
    srv, got = webhook_receiver()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls["cert"], tls["key"])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    return srv, got


def test_https_webhooks_verify_the_receivers_certificate():
    """An https:// webhook is posted over TLS, trusting the hook's `ca-file`; a hook that
    trusts only the system's roots refuses the same self-signed receiver (nothing sent)."""
    d = tempfile.mkdtemp(prefix="strongroom-hook-tls-")
    tls = make_ca_and_cert(d)
    hook, received = https_webhook_receiver(tls)
    url = f"https://localhost:{hook.server_port}/hooks/T000/B000/XXXXSECRETPATH"
    cfg = os.path.join(d, "strongroom.toml")
    with open(cfg, "w") as f:
        f.write('alarm-interval-secs = 1\n\n'
                '[[alarm-webhook]]\ntopic-arn = "arn:aws:sns:us-east-1:123456789012:trusted"\n'
                f'url = "{url}"\nformat = "json"\nca-file = "{tls["ca"]}"\n\n'
                '[[alarm-webhook]]\ntopic-arn = "arn:aws:sns:us-east-1:123456789012:untrusted"\n'
                f'url = "{url}"\nformat = "json"\n')
    s = Server(name="alarms-https", extra_args=["--config", cfg])
    try:
        for name, topic in (("via-trusted", "trusted"), ("via-untrusted", "untrusted")):
            cli(s, f"aws cloudwatch put-metric-alarm --alarm-name {name} --metric-name GetSecretValue "
                   "--namespace AWS/SecretsManager --period 300 --threshold 1000 "
                   "--comparison-operator GreaterThanThreshold --evaluation-periods 1 "
                   f"--alarm-actions arn:aws:sns:us-east-1:123456789012:{topic}")
            cli(s, f"aws cloudwatch set-alarm-state --alarm-name {name} --state-value ALARM "
                   "--state-reason manual")
        deadline = time.time() + 10
        while not received and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)  # time for the untrusted hook's attempt too
        assert [r["AlarmName"] for r in received] == ["via-trusted"], received
        assert received[0]["NewStateValue"] == "ALARM" and received[0]["NewStateReason"] == "manual"
    finally:
        assert s.stop() == 0
        hook.shutdown()
    log = open(s.log_path).read()
    assert "alarm webhook failed" in log and "via-untrusted" in log
    # The webhook URL is a credential (Slack's are): it is never logged.
    assert "XXXXSECRETPATH" not in log
    shutil.rmtree(d, ignore_errors=True)


def test_alarms_live_in_the_store_across_restarts_and_an_old_alarms_json_is_imported():
    """Alarms are rows of the store (no file written inside a request): one made with the CLI
    survives a restart, a deleted one stays deleted; a data directory from before, whose
    alarms are in alarms.json, starts with them (imported once, the file renamed)."""
    s = Server(name="alarms-store")
    data_dir = s.data_dir
    try:
        for name in ("kept-alarm", "deleted-alarm"):
            cli(s, f"aws cloudwatch put-metric-alarm --alarm-name {name} --metric-name GetSecretValue"
                   " --namespace AWS/SecretsManager --statistic Sum --period 300 --threshold 100"
                   " --comparison-operator GreaterThanThreshold --evaluation-periods 1")
        cli(s, "aws cloudwatch delete-alarms --alarm-names deleted-alarm")
        assert not os.path.exists(os.path.join(data_dir, "alarms.json"))
        # The old format, as an earlier version wrote it: a JSON map of name → alarm, taken
        # from the kept alarm's stored document.
        if s.store:
            doc = psql("SELECT doc FROM strongroom.cw_alarms WHERE name = 'kept-alarm'", url=s.store)
            assert doc.strip(), "the alarm is a row of the PostgreSQL store"
        else:
            import sqlite3
            db = sqlite3.connect(os.path.join(data_dir, "strongroom.db"))
            (doc,) = db.execute("SELECT doc FROM cw_alarms WHERE name = 'kept-alarm'").fetchone()
            db.close()
        legacy = json.loads(doc)
        legacy["name"] = "legacy-alarm"
        legacy["threshold"] = 7.0
    finally:
        assert s.stop() == 0
    with open(os.path.join(data_dir, "alarms.json"), "w") as f:
        json.dump({"legacy-alarm": legacy}, f)
    s = Server(name="alarms-store-again", data_dir=data_dir)
    try:
        got = json.loads(cli(s, "aws cloudwatch describe-alarms").stdout)["MetricAlarms"]
        by_name = {a["AlarmName"]: a for a in got}
        assert set(by_name) == {"kept-alarm", "legacy-alarm"}, sorted(by_name)
        assert by_name["legacy-alarm"]["Threshold"] == 7.0
        assert not os.path.exists(os.path.join(data_dir, "alarms.json"))
        assert os.path.exists(os.path.join(data_dir, "alarms.json.imported"))
    finally:
        assert s.stop() == 0
    # Imported once: the next start reads the store alone.
    s = Server(name="alarms-store-third", data_dir=data_dir)
    try:
        got = json.loads(cli(s, "aws cloudwatch describe-alarms").stdout)["MetricAlarms"]
        assert sorted(a["AlarmName"] for a in got) == ["kept-alarm", "legacy-alarm"]
    finally:
        assert s.stop() == 0
