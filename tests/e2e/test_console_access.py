"""The console's access pages in headless chromium (fixtures and helpers from test_console):
a secret's access page (who read it, reads per hour/day as server-drawn SVG, denied attempts
with who and why), the audit search (LookupEvents by attribute and time range, NextToken
paging, records expandable), the account's rotation timeline, and alarms (create/edit in the
console, checked with boto3; the metric chart with its threshold line; history; delete).
A principal without cloudtrail:LookupEvents / cloudwatch:DescribeAlarms sees AWS's refusal.
Markup in names and descriptions stays text. Screenshots go to tests/e2e/artifacts/console/.
"""
import datetime
import json
import re
import time
from html.parser import HTMLParser

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from leaks import remember, secret
from server import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY
from test_console import (FUNCTION_ARN, CSP, browser, browser_problems, client,  # noqa: F401
                          console, csrf_of, http_sign_in, navigate, shot, sign_in, wait_for)

XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>"\'&'
ROOT_ARN = f"arn:aws:iam::{ACCOUNT}:root"


def user_with_key(server, name, policy):
    iam = client(server, "iam")
    iam.create_user(UserName=name)
    if policy:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    remember(key["SecretAccessKey"])
    return key["AccessKeyId"], key["SecretAccessKey"]


def as_user(server, service, key):
    return client(server, service, access_key=key[0], secret_key=key[1])


def buckets(browser, css="#reads-chart svg.chart g.bucket"):
    """(start, value, flagged) of every bucket of the chart."""
    return [(int(g.get_attribute("data-start")), float(g.get_attribute("data-value")),
             float(g.get_attribute("data-flagged")))
            for g in browser.find_elements(By.CSS_SELECTOR, css)]


def inert(browser):
    assert browser.execute_script("return window.__xss === undefined")
    assert not browser.find_elements(By.CSS_SELECTOR, "main img, main script")


def test_the_access_page_shows_readers_reads_over_time_and_the_denial(console, browser):
    name = "ledger-service-prod-db"
    sm = client(console, "secretsmanager")
    arn = sm.create_secret(Name=name, SecretString=secret("access"), Description=XSS)["ARN"]
    reader = user_with_key(console, "access-reader", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": arn},
        {"Effect": "Allow", "Action": "secretsmanager:BatchGetSecretValue", "Resource": "*"}]})
    snoop = user_with_key(console, "access-snoop", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:DescribeSecret", "Resource": "*"}]})
    for _ in range(2):
        sm.get_secret_value(SecretId=name)
    rsm = as_user(console, "secretsmanager", reader)
    for _ in range(3):
        rsm.get_secret_value(SecretId=arn)
    batch = rsm.batch_get_secret_value(SecretIdList=[name])
    assert [v["Name"] for v in batch["SecretValues"]] == [name]
    with pytest.raises(rsm.exceptions.ClientError) as denied:
        as_user(console, "secretsmanager", snoop).get_secret_value(SecretId=name)
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"

    # What the audit log holds, by boto3: the times the chart must bucket.
    ct = client(console, "cloudtrail")
    own = ct.lookup_events(LookupAttributes=[
        {"AttributeKey": "ResourceName", "AttributeValue": name}], MaxResults=50)["Events"]
    batches = ct.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "BatchGetSecretValue"}])["Events"]
    times = [int(e["EventTime"].timestamp()) for e in own if e["EventName"] == "GetSecretValue"]
    times += [int(e["EventTime"].timestamp()) for e in batches
              if name in json.loads(e["CloudTrailEvent"])["requestParameters"].get(
                  "secretIdList", [])]
    assert len(times) == 7

    sign_in(browser, console, ACCESS_KEY, SECRET_KEY)
    wait_for(browser, "table#secrets")
    browser.get(console.endpoint + "/console/secret?id=" + name)
    wait_for(browser, "#access-link").click()
    wait_for(browser, "#reads-chart svg.chart")
    assert browser.find_element(By.ID, "secret-name").text == name

    # Who read it: root twice, the reader three times and once in a batch.
    rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in browser.find_elements(By.CSS_SELECTOR, "#readers tbody tr")]
    counts = {r[0]: int(r[1]) for r in rows}
    assert counts == {f"arn:aws:iam::{ACCOUNT}:user/access-reader": 4, ROOT_ARN: 2}, rows

    # The denial, highlighted, with who and AWS's reason.
    denied_rows = browser.find_elements(By.CSS_SELECTOR, "#denied tr.denied")
    assert len(denied_rows) == 1
    text = denied_rows[0].text
    assert f"arn:aws:iam::{ACCOUNT}:user/access-snoop" in text
    assert "AccessDeniedException" in text and "because no identity-based policy allows" in text
    assert len(browser.find_elements(By.CSS_SELECTOR, "#reads tr.denied")) == 1
    assert len(browser.find_elements(By.CSS_SELECTOR, "#reads tr.read")) == 7
    # The red comes from the stylesheet (no inline style).
    bg = denied_rows[0].find_element(By.TAG_NAME, "td").value_of_css_property("background-color")
    assert bg not in ("rgba(0, 0, 0, 0)", "transparent"), bg

    # The chart (default: the last 7 days, per day): one bucket per day, the reads in as many
    # buckets as there are distinct UTC days among their times, one denied flagged.
    b = buckets(browser)
    assert 7 <= len(b) <= 8
    non_empty = [x for x in b if x[1] > 0]
    assert len(non_empty) == len({t // 86400 for t in times})
    assert sum(x[1] for x in b) == 7 and sum(x[2] for x in b) == 1
    assert all(x[0] % 86400 == 0 for x in b)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#reads-chart rect.bar.flagged")) == 1
    inert(browser)
    shot(browser, "access")

    # The last 24 hours, per hour.
    browser.find_element(By.LINK_TEXT, "24h").click()
    wait_for(browser, "#reads-chart svg.chart")
    b = buckets(browser)
    assert len(b) in (24, 25)
    assert all(x[0] % 3600 == 0 for x in b)
    non_empty = [x for x in b if x[1] > 0]
    assert len(non_empty) == len({t // 3600 for t in times})
    assert sum(x[1] for x in b) == 7
    for start, value, _ in non_empty:
        assert value == len([t for t in times if start <= t < start + 3600])
    shot(browser, "access-24h")
    assert browser_problems(browser) == []

    # A name in the query string is text, and the page says nobody read it.
    browser.get(console.endpoint + "/console/secret/access?id=" + requests.utils.quote(XSS))
    assert wait_for(browser, "#secret-name").text == XSS
    inert(browser)
    assert not browser.find_elements(By.CSS_SELECTOR, "#reads tr.read")


def test_audit_search_by_event_name_time_range_and_pages(console, browser):
    sm = client(console, "secretsmanager")
    name = "search-service-test-probe"
    sm.create_secret(Name=name, SecretString=secret("search"), Description=XSS)
    ct = client(console, "cloudtrail")
    created = ct.lookup_events(LookupAttributes=[
        {"AttributeKey": "ResourceName", "AttributeValue": name}])["Events"]
    created = [e for e in created if e["EventName"] == "CreateSecret"][0]
    at = created["EventTime"].astimezone(datetime.timezone.utc)

    sign_in(browser, console, ACCESS_KEY, SECRET_KEY)
    wait_for(browser, "table#secrets")
    browser.find_element(By.ID, "nav-audit").click()
    wait_for(browser, "#audit-search")
    Select(browser.find_element(By.ID, "key")).select_by_value("EventName")
    browser.find_element(By.ID, "value").send_keys("CreateSecret")
    # The search page loads anew; the page it leaves has an #events table too.
    navigate(browser, browser.find_element(By.ID, "search"))
    wait_for(browser, "#events")
    names = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#events td.event-name")]
    assert names and set(names) == {"CreateSecret"}
    resources = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#events td.resource")]
    assert any(r.startswith(f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-")
               for r in resources)
    # Each row expands to its record, markup in it shown as text.
    row = [tr for tr in browser.find_elements(By.CSS_SELECTOR, "#events tbody.event-row")
           if name in tr.find_element(By.CSS_SELECTOR, "td.resource").text][0]
    row.find_element(By.TAG_NAME, "summary").click()
    record = json.loads(row.find_element(By.CSS_SELECTOR, "pre.record").text)
    assert record["eventID"] == created["EventId"]
    assert record["requestParameters"]["description"] == XSS
    inert(browser)
    shot(browser, "audit-search")

    # The time range (the form's datetime-local fields, UTC): the second of the CreateSecret
    # finds it; the minute before it does not.
    def search(start, end):
        browser.get(console.endpoint + "/console/audit")
        wait_for(browser, "#audit-search")
        Select(browser.find_element(By.ID, "key")).select_by_value("ResourceName")
        browser.find_element(By.ID, "value").send_keys(name)
        for field, t in (("start", start), ("end", end)):
            browser.execute_script("document.getElementById(arguments[0]).value = arguments[1]",
                                   field, t.strftime("%Y-%m-%dT%H:%M:%S"))
        navigate(browser, browser.find_element(By.ID, "search"))
        wait_for(browser, "#events")
        assert not browser.find_elements(By.ID, "form-error")
        return [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#events td.event-name")]

    second = at.replace(microsecond=0)
    assert "CreateSecret" in search(second, second + datetime.timedelta(seconds=1))
    assert "start=" in browser.current_url and "end=" in browser.current_url
    assert search(second - datetime.timedelta(minutes=2),
                  second - datetime.timedelta(minutes=1)) == []
    # A value put through the API never shows in a record (the audit keeps no value).
    value = secret("search-put")
    sm.put_secret_value(SecretId=name, SecretString=value)
    browser.get(console.endpoint + "/console/audit?key=EventName&value=PutSecretValue")
    wait_for(browser, "#events pre.record")
    records = [browser.execute_script("return arguments[0].textContent", pre)
               for pre in browser.find_elements(By.CSS_SELECTOR, "pre.record")]
    assert any(name in r for r in records) and not any(value in r for r in records)
    assert value not in browser.page_source

    # By EventId: that one event; by Username: only that user's.
    browser.get(console.endpoint + "/console/audit?key=EventId&value=" + created["EventId"])
    wait_for(browser, "#events")
    assert [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#events td.event-name")] == [
        "CreateSecret"]
    browser.get(console.endpoint + "/console/audit?key=Username&value=root")
    wait_for(browser, "#events")
    assert {td.text for td in browser.find_elements(By.CSS_SELECTOR, "#events td.user")} == {"root"}
    # A value CloudTrail refuses: its error, in its words.
    browser.get(console.endpoint + "/console/audit?key=ReadOnly&value=maybe")
    refusal = wait_for(browser, ".refusal")
    assert "InvalidLookupAttributes" in refusal.text and "true or false" in refusal.text

    # A time that is not one is the form's message, not a failed page.
    browser.get(console.endpoint + "/console/audit?start=yesterday")
    assert "StartTime must be a date" in wait_for(browser, "#form-error").text

    # Paging with NextToken: 60 DescribeSecret calls fill a page of 50 and part of the next,
    # which holds none of the first page's.
    for _ in range(60):
        sm.describe_secret(SecretId=name)
    browser.get(console.endpoint + "/console/audit?key=EventName&value=DescribeSecret")
    wait_for(browser, "#events")

    def ids():
        out = []
        for pre in browser.find_elements(By.CSS_SELECTOR, "pre.record"):
            text = browser.execute_script("return arguments[0].textContent", pre)
            out.append(json.loads(text)["eventID"])
        return out

    first = ids()
    assert len(first) == 50
    wait_for(browser, "#next-page").click()
    wait_for(browser, "#events")
    second_page = ids()
    assert len(second_page) >= 10 and not set(first) & set(second_page)
    assert set(td.text for td in browser.find_elements(
        By.CSS_SELECTOR, "#events td.event-name")) == {"DescribeSecret"}
    assert browser_problems(browser) == []


def test_the_account_rotation_timeline_shows_every_secrets_rotations(console, browser):
    sm = client(console, "secretsmanager")
    names = ["timeline-service-test-token", "timeline-service-stage-token"]
    broken = "timeline-service-prod-token"
    for n in names + [broken]:
        sm.create_secret(Name=n, SecretString=secret(n))
    # The function may not write this one's new version: its rotation fails.
    sm.put_resource_policy(SecretId=broken, ResourcePolicy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*",
                                                "Action": "secretsmanager:PutSecretValue",
                                                "Resource": "*"}]}))
    for n in names + [broken]:
        sm.rotate_secret(SecretId=n, RotationLambdaARN=FUNCTION_ARN,
                         RotationRules={"AutomaticallyAfterDays": 30})
    sign_in(browser, console, ACCESS_KEY, SECRET_KEY)
    wait_for(browser, "table#secrets")
    browser.find_element(By.ID, "nav-rotation").click()
    deadline = time.time() + 60
    while True:
        wait_for(browser, "#timeline")
        entries = [(li.find_element(By.CSS_SELECTOR, ".event-name").text,
                    [a.text for a in li.find_elements(By.CSS_SELECTOR, "a.secret-link")])
                   for li in browser.find_elements(By.CSS_SELECTOR, "#timeline li.event")]
        done = {n for e, s in entries if e in ("RotationSucceeded", "RotationFailed") for n in s}
        if set(names + [broken]) <= done or time.time() > deadline:
            break
        time.sleep(1)
        browser.refresh()
    for n in names:
        mine = [e for e, s in entries if s == [n]]
        # Newest first: its success above its start; API calls (RotateSecret) are not listed.
        assert mine == ["RotationSucceeded", "RotationStarted"], (n, entries)
    # The failure, in red, with its reason.
    failed = [li for li in browser.find_elements(By.CSS_SELECTOR, "#timeline li.failed")
              if [a.text for a in li.find_elements(By.CSS_SELECTOR, "a.secret-link")] == [broken]]
    assert failed, entries
    assert failed[0].find_element(By.CSS_SELECTOR, ".event-name").text == "RotationFailed"
    assert "createSecret" in failed[0].find_element(By.CSS_SELECTOR, ".detail").text
    assert failed[0].value_of_css_property("border-left-color") != "rgb(208, 215, 222)"
    # Each success says how long its rotation took (since its RotationStarted).
    for li in browser.find_elements(By.CSS_SELECTOR, "#timeline li.succeeded"):
        if [a.text for a in li.find_elements(By.CSS_SELECTOR, "a.secret-link")][0] in names:
            assert re.fullmatch(r"after \d+ s", li.find_element(By.CSS_SELECTOR, ".duration").text)
    # Each entry links to its secret.
    link = [a for a in browser.find_elements(By.CSS_SELECTOR, "#timeline a.secret-link")
            if a.text == names[0]][0]
    assert link.get_attribute("href").endswith("/console/secret?id=" + names[0])
    shot(browser, "rotation-account-timeline")
    link.click()
    assert wait_for(browser, "#secret-name").text == names[0]


def test_an_alarm_made_in_the_console_is_cloudwatchs_with_chart_and_history(console, browser):
    cw = client(console, "cloudwatch")
    name = "console-secret-reads"
    sign_in(browser, console, ACCESS_KEY, SECRET_KEY)
    wait_for(browser, "table#secrets")
    browser.find_element(By.ID, "nav-alarms").click()
    wait_for(browser, "#create-alarm").click()
    wait_for(browser, "#alarm-form")
    browser.find_element(By.ID, "alarm-name").send_keys(name)
    browser.find_element(By.ID, "alarm-description").send_keys(XSS)
    Select(browser.find_element(By.ID, "namespace")).select_by_value("AWS/SecretsManager")
    metric = browser.find_element(By.ID, "metric")
    metric.clear()
    metric.send_keys("GetSecretValue")
    Select(browser.find_element(By.ID, "statistic")).select_by_value("Sum")
    for field, value in (("period", "60"), ("evaluation_periods", "1"), ("threshold", "3")):
        el = browser.find_element(By.ID, field)
        el.clear()
        el.send_keys(value)
    Select(browser.find_element(By.ID, "comparison")).select_by_value("GreaterThanThreshold")
    # The form's chart: the default's threshold (100, per 300 s) until "Preview chart" redraws
    # it from what was typed, saving nothing.
    assert browser.find_element(
        By.CSS_SELECTOR, "#alarm-chart line.threshold").get_attribute("data-threshold") == "100"
    browser.find_element(By.ID, "preview-alarm").click()
    # The redrawn chart's line (waiting for any line could find the old one just before the
    # redraw replaces it: a stale element under load).
    wait_for(browser, '#alarm-chart line.threshold[data-threshold="3"]')
    assert len(buckets(browser, "#alarm-chart svg.chart g.bucket")) == 60
    assert all(x[0] % 60 == 0 for x in buckets(browser, "#alarm-chart svg.chart g.bucket"))
    assert browser.find_element(By.ID, "alarm-name").get_attribute("value") == name
    assert browser.find_element(By.ID, "alarm-description").get_attribute("value") == XSS
    assert cw.describe_alarms(AlarmNames=[name])["MetricAlarms"] == []
    inert(browser)
    shot(browser, "alarm-form")
    # The form page has a chart too: wait for the page the save leads to.
    navigate(browser, browser.find_element(By.ID, "save-alarm"))
    wait_for(browser, "#alarm-chart")

    a = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert len(a) == 1
    a = a[0]
    assert (a["Threshold"], a["Period"], a["EvaluationPeriods"]) == (3.0, 60, 1)
    assert (a["MetricName"], a["Namespace"], a["Statistic"]) == (
        "GetSecretValue", "AWS/SecretsManager", "Sum")
    assert a["ComparisonOperator"] == "GreaterThanThreshold"
    assert a["AlarmDescription"] == XSS
    assert browser.find_element(By.ID, "alarm-description").text == XSS
    inert(browser)

    # Reads in this minute; the chart draws each minute's Sum and the threshold line.
    sm = client(console, "secretsmanager")
    sm.create_secret(Name="alarm-service-test-probe", SecretString=secret("alarm"))
    for _ in range(5):
        sm.get_secret_value(SecretId="alarm-service-test-probe")
    browser.refresh()
    wait_for(browser, "#alarm-chart svg.chart")
    line = browser.find_element(By.CSS_SELECTOR, "#alarm-chart line.threshold")
    assert line.get_attribute("data-threshold") == "3"
    b = buckets(browser, "#alarm-chart svg.chart g.bucket")
    assert len(b) == 60 and all(x[0] % 60 == 0 for x in b)
    end = b[-1][0] + 60
    points = cw.get_metric_statistics(
        Namespace="AWS/SecretsManager", MetricName="GetSecretValue", Statistics=["Sum"],
        Period=60, StartTime=datetime.datetime.fromtimestamp(b[0][0], datetime.timezone.utc),
        EndTime=datetime.datetime.fromtimestamp(end, datetime.timezone.utc))["Datapoints"]
    want = {int(p["Timestamp"].timestamp()): p["Sum"] for p in points}
    assert want and {x[0]: x[1] for x in b if x[1] > 0} == want
    # Minutes above the threshold are flagged.
    assert {x[0] for x in b if x[2] > 0} == {t for t, v in want.items() if v > 3}
    assert max(want.values()) >= 5
    shot(browser, "alarm")

    # Edit: the threshold changes, in CloudWatch and on the chart.
    browser.find_element(By.ID, "edit-alarm").click()
    th = wait_for(browser, "#threshold")
    assert th.get_attribute("value") == "3"
    th.clear()
    th.send_keys("7.5")
    # The form page has a chart too: wait for the page the save leads to.
    navigate(browser, browser.find_element(By.ID, "save-alarm"))
    wait_for(browser, "#alarm-chart")
    assert cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["Threshold"] == 7.5
    assert browser.find_element(
        By.CSS_SELECTOR, "#alarm-chart line.threshold").get_attribute("data-threshold") == "7.5"

    # History: both saves, and a state change, as boto3's DescribeAlarmHistory has them.
    # (The evaluation, every 10 s, may change the state again: newer items may come first.)
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="console test")
    items = [i["HistorySummary"] for i in cw.describe_alarm_history(
        AlarmName=name)["AlarmHistoryItems"]]
    browser.refresh()
    wait_for(browser, "#history")
    summaries = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#history td.summary")]
    assert summaries.count(f'Alarm "{name}" updated') == 2, summaries
    assert any(s.endswith("to ALARM") for s in summaries), summaries
    assert summaries[len(summaries) - len(items):] == items
    states = cw.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")
    assert states["AlarmHistoryItems"] and all(
        i["HistoryItemType"] == "StateUpdate" for i in states["AlarmHistoryItems"])
    shot(browser, "alarm-history")

    # An alarm named with markup: text on the list and on its page.
    cw.put_metric_alarm(AlarmName=XSS, Namespace="AWS/SecretsManager", MetricName="GetSecretValue",
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                        ComparisonOperator="GreaterThanThreshold")
    browser.get(console.endpoint + "/console/alarms")
    link = [l for l in browser.find_elements(By.CSS_SELECTOR, "#alarms a.alarm-link")
            if l.text == XSS][0]
    inert(browser)
    link.click()
    assert wait_for(browser, "#alarm-title").text == XSS
    wait_for(browser, "#alarm-chart svg.chart")
    inert(browser)
    cw.delete_alarms(AlarmNames=[XSS])

    # The list, then delete: gone from CloudWatch, its history kept.
    browser.find_element(By.LINK_TEXT, "All alarms").click()
    links = [l.text for l in browser.find_elements(By.CSS_SELECTOR, "#alarms a.alarm-link")]
    assert name in links
    shot(browser, "alarms")
    browser.get(console.endpoint + "/console/alarm?name=" + name)
    wait_for(browser, "#delete-alarm").click()
    wait_for(browser, "#alarms")
    assert cw.describe_alarms(AlarmNames=[name])["MetricAlarms"] == []
    items = cw.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
    assert items[0]["HistorySummary"] == f'Alarm "{name}" deleted'
    assert browser_problems(browser) == []


def test_an_alarm_form_with_a_bad_number_says_so_and_creates_nothing(console):
    s = http_sign_in(console)
    token = csrf_of(s, console, "/console/alarms/edit")
    form = {"csrf": token, "name": "bad-number", "namespace": "AWS/SecretsManager",
            "metric": "GetSecretValue", "statistic": "Sum", "period": "60",
            "evaluation_periods": "1", "threshold": "lots", "comparison": "GreaterThanThreshold"}
    r = s.post(console.endpoint + "/console/alarms/edit", data=form, allow_redirects=False)
    assert r.status_code == 200 and "The threshold must be a number." in r.text
    # CloudWatch's own refusal (a period it does not accept), in its words.
    r = s.post(console.endpoint + "/console/alarms/edit", allow_redirects=False,
               data={**form, "threshold": "1", "period": "90"})
    assert r.status_code == 200 and "InvalidParameterValue" in r.text
    assert client(console, "cloudwatch").describe_alarms(
        AlarmNames=["bad-number"])["MetricAlarms"] == []
    # Without the session's CSRF token: refused, nothing created.
    r = s.post(console.endpoint + "/console/alarms/edit", allow_redirects=False,
               data={**form, "threshold": "1", "csrf": "x"})
    assert r.status_code == 403
    assert client(console, "cloudwatch").describe_alarms(
        AlarmNames=["bad-number"])["MetricAlarms"] == []


def test_a_user_without_lookup_or_alarm_rights_sees_aws_refusal(console, browser):
    key = user_with_key(console, "no-audit", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}]})
    client(console, "secretsmanager").create_secret(Name="refusal-service-test-x",
                                                    SecretString=secret("refusal"))
    sign_in(browser, console, *key)
    wait_for(browser, "table#secrets")
    for path, action in (
            ("/console/secret/access?id=refusal-service-test-x", "cloudtrail:LookupEvents"),
            ("/console/audit?key=EventName&value=GetSecretValue", "cloudtrail:LookupEvents"),
            ("/console/rotation", "cloudtrail:LookupEvents"),
            ("/console/alarms", "cloudwatch:DescribeAlarms")):
        browser.get(console.endpoint + path)
        refusal = wait_for(browser, ".refusal")
        assert f"is not authorized to perform: {action}" in refusal.text, (path, refusal.text)
        assert "implicit deny" in refusal.find_element(By.CLASS_NAME, "decided-by").text
        # No empty result dressed as an answer.
        assert not browser.find_elements(
            By.CSS_SELECTOR, "svg.chart, #events, #timeline, #alarms, .empty")
    shot(browser, "access-refused")


class Inline(HTMLParser):
    """Inline script, style elements, event-handler or style attributes in a page."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        names = [k for k, _ in attrs]
        if tag == "style" or (tag == "script" and "src" not in names):
            self.found.append(tag)
        self.found += [f"{tag}[{k}]" for k in names if k == "style" or k.startswith("on")]


def test_the_new_pages_carry_the_headers_and_no_inline_script_or_style(console):
    s = http_sign_in(console)
    client(console, "secretsmanager").create_secret(Name="headers-service-test-x",
                                                    SecretString=secret("headers"))
    client(console, "cloudwatch").put_metric_alarm(
        AlarmName="headers-alarm", Namespace="AWS/SecretsManager", MetricName="GetSecretValue",
        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
        ComparisonOperator="GreaterThanThreshold")
    for path in ("/console/secret/access?id=headers-service-test-x", "/console/audit",
                 "/console/rotation", "/console/alarms", "/console/alarms/edit",
                 "/console/alarm?name=headers-alarm"):
        r = s.get(console.endpoint + path, allow_redirects=False)
        assert r.status_code == 200, path
        assert r.headers["Content-Security-Policy"] == CSP, path
        assert r.headers["X-Frame-Options"] == "DENY"
        # Parsed, not grepped: escaped markup in records (`&lt;img onerror=...`) is text.
        bad = Inline()
        bad.feed(r.text)
        assert bad.found == [], (path, bad.found)
