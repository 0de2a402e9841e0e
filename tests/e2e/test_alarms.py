"""Seed 003's CloudWatch alarm, with the AWS CLI: the command verbatim, then eleven
GetSecretValue calls put it in ALARM, and the server posts Slack's payload to the webhook the
TOML configuration maps the alarm's SNS topic to."""
import http.server
import json
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import threading
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import secret, sm_client
from server import ACCESS_KEY, REGION, SECRET_KEY, Server, free_port, psql
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


def test_describe_alarm_history_from_the_audit_log(server):
    """DescribeAlarmHistory (boto3, and the AWS CLI's paginator): configuration updates and
    state changes, newest first or oldest first, by type, paged with NextToken, kept after the
    alarm is deleted; a token from other parameters is refused."""
    cw = boto3.client("cloudwatch", endpoint_url=server.endpoint, region_name=REGION,
                      aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    name = f"history-{time.time_ns()}"
    other = name + "-other"
    # A metric no other call feeds: the evaluation must not move the alarm to ALARM by itself
    # (the shared server's GetSecretValue counts would), or the hand-set ALARM changes nothing.
    alarm = dict(Namespace="Strongroom/E2E", MetricName=name, Statistic="Sum",
                 Period=300, EvaluationPeriods=1, ComparisonOperator="GreaterThanThreshold")
    cw.put_metric_alarm(AlarmName=name, Threshold=10, **alarm)
    cw.put_metric_alarm(AlarmName=other, Threshold=1, **alarm)
    cw.put_metric_alarm(AlarmName=name, Threshold=20, **alarm)
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test: by hand")
    cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="test: back")

    items = cw.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
    # The evaluation (every 10 s) may add state changes of its own: look at ours.
    mine = [i for i in items if i["HistoryItemType"] == "ConfigurationUpdate"
            or "test:" in i["HistoryData"]]
    # State changes and configuration updates each newest first. Across the two kinds the
    # order is the audit log's, which may differ from the calls' by a few milliseconds (a
    # state change is recorded as it happens, its call's record when the call ends).
    states = [i for i in mine if i["HistoryItemType"] == "StateUpdate"]
    updates = [i for i in mine if i["HistoryItemType"] == "ConfigurationUpdate"]
    assert states[0]["HistorySummary"] == "Alarm updated from ALARM to OK", items
    assert re.fullmatch(r"Alarm updated from \w+ to ALARM", states[1]["HistorySummary"]), items
    assert len(states) == 2, items
    assert [i["HistorySummary"] for i in updates] == [f'Alarm "{name}" updated'] * 2, items
    assert all(i["AlarmName"] == name and i["AlarmType"] == "MetricAlarm" for i in items)
    assert json.loads(states[0]["HistoryData"])["newState"] == {
        "stateValue": "OK", "stateReason": "test: back"}
    assert json.loads(updates[0]["HistoryData"])["updatedAlarm"]["threshold"] == 20
    # Newest first in the audit log's order (a record is appended when its call ends, so
    # two near-simultaneous ones may be a few milliseconds apart the other way).
    stamps = [int(i["Timestamp"].timestamp()) for i in items]
    assert all(a >= b - 1 for a, b in zip(stamps, stamps[1:])), stamps

    configs = cw.describe_alarm_history(AlarmName=name, HistoryItemType="ConfigurationUpdate")
    assert len(configs["AlarmHistoryItems"]) == 2
    assert json.loads(configs["AlarmHistoryItems"][0]["HistoryData"])["updatedAlarm"][
        "threshold"] == 20
    oldest = cw.describe_alarm_history(AlarmName=name, HistoryItemType="ConfigurationUpdate",
                                       ScanBy="TimestampAscending")["AlarmHistoryItems"]
    assert oldest == configs["AlarmHistoryItems"][::-1]
    assert json.loads(oldest[0]["HistoryData"])["updatedAlarm"]["threshold"] == 10
    assert cw.describe_alarm_history(AlarmName=name, AlarmTypes=["CompositeAlarm"])[
        "AlarmHistoryItems"] == []

    # Paged: one item at a time, the same items in the same order.
    paged, token = [], None
    while True:
        kw = {"NextToken": token} if token else {}
        page = cw.describe_alarm_history(AlarmName=name, MaxRecords=1, **kw)
        assert len(page["AlarmHistoryItems"]) <= 1
        paged += page["AlarmHistoryItems"]
        token = page.get("NextToken")
        if not token:
            break
    assert [i["HistorySummary"] for i in paged][:len(items)] == [
        i["HistorySummary"] for i in items][:len(paged)]
    assert len(paged) >= len(items)
    page = cw.describe_alarm_history(AlarmName=name, MaxRecords=1)
    with pytest.raises(ClientError) as e:
        cw.describe_alarm_history(AlarmName=other, MaxRecords=1, NextToken=page["NextToken"])
    assert e.value.response["Error"]["Code"] == "InvalidNextToken"
    with pytest.raises(ClientError) as e:
        cw.describe_alarm_history(AlarmName=name, HistoryItemType="Sometimes")
    assert e.value.response["Error"]["Code"] in ("InvalidParameterValue", "ValidationError")

    # Deleted: the history stays, its last item the deletion.
    cw.delete_alarms(AlarmNames=[name])
    items = cw.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
    assert items[0]["HistorySummary"] == f'Alarm "{name}" deleted'
    # Without a name: every alarm's (the other one's creation among them), via the CLI.
    p = cli(server, "aws cloudwatch describe-alarm-history --history-item-type ConfigurationUpdate")
    summaries = [i["HistorySummary"] for i in json.loads(p.stdout)["AlarmHistoryItems"]]
    assert f'Alarm "{other}" updated' in summaries and f'Alarm "{name}" deleted' in summaries
    cw.delete_alarms(AlarmNames=[other])
