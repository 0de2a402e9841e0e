"""The console's secrets pages in headless chromium (fixtures and helpers from test_console):
"Store a new secret" as plaintext and as JSON (checked as typed, switched to and from the
key/value editor), editing a retrieved JSON object in the key/value editor; the list's tag-key
and description filters, its sorts (last accessed; description and next rotation, the
console's own listing, audited as ListSecrets) and rotation filter; a cron(...) rotation
schedule saved and the secret's "Next rotation"; markup in tag keys and values shown as text;
and every POST route of the console's route table refused without the session's CSRF token,
with nothing changed. Screenshots go to tests/e2e/artifacts/console/.
"""
import json
import os
import re
import time
from datetime import datetime, timezone

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from leaks import remember, secret
from server import ACCESS_KEY, SECRET_KEY
from test_console import (FUNCTION_ARN, browser, browser_problems, client,  # noqa: F401
                          console, csrf_of, http_sign_in, navigate, shot, sign_in, wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))
CONSOLE_SRC = os.path.join(HERE, "..", "..", "crates", "server", "src", "console")
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>"\'&'


def listed(browser):
    return [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#secrets a.secret-link")]


def search(browser, server, **fields):
    """The list page's form, filled in and submitted as a person would."""
    browser.get(server.endpoint + "/console/secrets")
    wait_for(browser, "#search")
    for name in ("q", "tag", "tagvalue", "desc"):
        box = browser.find_element(By.ID, name)
        box.clear()
        if name in fields:
            box.send_keys(fields[name])
    for name in ("sort", "order", "rotation"):
        if name in fields:
            Select(browser.find_element(By.ID, name)).select_by_value(fields[name])
    navigate(browser, browser.find_element(By.ID, "search"))
    wait_for(browser, "table#secrets")
    return listed(browser)


def new_secret_form(browser, server):
    browser.get(server.endpoint + "/console/secrets/new")
    return wait_for(browser, "#new-secret")


def test_a_plaintext_secret_is_stored_from_the_form(console, browser):
    sign_in(browser, console, ACCESS_KEY, SECRET_KEY)
    wait_for(browser, "table#secrets")
    new_secret_form(browser, console)
    value = secret("plain") + " line one\nline two, not JSON: {"
    remember(value)
    browser.find_element(By.ID, "kind-plaintext").click()
    browser.find_element(By.ID, "plaintext").send_keys(value)
    browser.find_element(By.ID, "name").send_keys("plain-service-test-note")
    navigate(browser, browser.find_element(By.ID, "store"))
    wait_for(browser, "#overview")
    sm = client(console, "secretsmanager")
    # As typed; a form sends a text box's line breaks as CRLF (HTML's form encoding).
    stored = sm.get_secret_value(SecretId="plain-service-test-note")["SecretString"]
    assert stored == value.replace("\n", "\r\n")
    browser.find_element(By.ID, "retrieve").click()
    assert wait_for(browser, "#plain-value").text.replace("\r", "") == value
    assert not browser.find_elements(By.ID, "edit-pairs")  # text, not key/value pairs
    assert not browser_problems(browser)


def test_json_mode_checks_the_json_and_switches_with_the_key_value_editor(console, browser):
    sm = client(console, "secretsmanager")
    sign_in(browser, console, ACCESS_KEY, SECRET_KEY)
    wait_for(browser, "table#secrets")
    new_secret_form(browser, console)
    password = secret("json-pw")
    keys = browser.find_elements(By.CSS_SELECTOR, "#kv-rows .kv-key")
    values = browser.find_elements(By.CSS_SELECTOR, "#kv-rows .kv-value")
    keys[0].send_keys("username")
    values[0].send_keys("svc")
    keys[1].send_keys("password")
    values[1].send_keys(password)
    # Key/value rows -> JSON text, and the JSON type chosen.
    browser.find_element(By.ID, "kv-to-json").click()
    area = browser.find_element(By.ID, "json")
    assert json.loads(area.get_attribute("value")) == {"username": "svc", "password": password}
    assert browser.find_element(By.ID, "kind-json").is_selected()
    # Not JSON: said at once, and the form is not sent.
    area.send_keys(Keys.END, ",")
    error = browser.find_element(By.ID, "json-error")
    assert error.is_displayed() and "not valid JSON" in error.text
    assert area.get_attribute("aria-invalid") == "true"
    browser.find_element(By.ID, "name").send_keys("json-service-test-login")
    browser.find_element(By.ID, "store").click()
    time.sleep(0.5)
    assert browser.find_elements(By.ID, "new-secret")
    with pytest.raises(sm.exceptions.ResourceNotFoundException):
        sm.describe_secret(SecretId="json-service-test-login")
    shot(browser, "new-secret-json-invalid")
    # A nested value cannot become key/value rows: it stays JSON and the page says why.
    nested = {"db": {"host": "h", "port": 5432}, "password": password}
    area.clear()
    area.send_keys(json.dumps(nested))
    assert not browser.find_element(By.ID, "json-error").is_displayed()
    browser.find_element(By.ID, "json-to-kv").click()
    assert "Only text values" in browser.find_element(By.ID, "json-error").text
    assert browser.find_element(By.ID, "kind-json").is_selected()
    # An object of text values can: JSON -> rows, kv type chosen.
    area.clear()
    area.send_keys(json.dumps({"user": "u1", "token": password, "note": "x"}))
    browser.find_element(By.ID, "json-to-kv").click()
    assert browser.find_element(By.ID, "kind-kv").is_selected()
    rows = [(k.get_attribute("value"), v.get_attribute("value")) for k, v in zip(
        browser.find_elements(By.CSS_SELECTOR, "#kv-rows .row input[name^=key]"),
        browser.find_elements(By.CSS_SELECTOR, "#kv-rows .row input[name^=value]"))]
    assert rows == [("user", "u1"), ("token", password), ("note", "x")]
    # Back to JSON, the nested document, stored as typed.
    browser.find_element(By.ID, "kind-json").click()
    area.clear()
    text = json.dumps(nested, indent=1)
    area.send_keys(text)
    navigate(browser, browser.find_element(By.ID, "store"))
    wait_for(browser, "#overview")
    stored = sm.get_secret_value(SecretId="json-service-test-login")["SecretString"]
    assert stored.replace("\r\n", "\n") == text and json.loads(stored) == nested
    assert not browser_problems(browser)
    # The server checks too (a form sent without the page's script): where, not what.
    s = http_sign_in(console)
    r = s.post(console.endpoint + "/console/secrets/new", allow_redirects=False, data={
        "csrf": csrf_of(s, console), "name": "json-service-test-broken", "kind": "json",
        "json": '{"password": "' + password + '",}'})
    assert r.status_code == 200
    assert "The secret value is not valid JSON (line 1, column" in r.text
    assert 'id="kind-json" checked' in r.text
    with pytest.raises(sm.exceptions.ResourceNotFoundException):
        sm.describe_secret(SecretId="json-service-test-broken")


def test_a_json_object_value_is_edited_in_the_key_value_editor(console, browser):
    sm = client(console, "secretsmanager")
    old = secret("kv-old")
    sm.create_secret(Name="kvedit-service-test-db",
                     SecretString=json.dumps({"username": "app", "password": old}))
    sm.create_secret(Name="kvedit-service-test-typed",
                     SecretString=json.dumps({"port": 5432, "host": "h"}))
    sign_in(browser, console, ACCESS_KEY, SECRET_KEY)
    wait_for(browser, "table#secrets")
    browser.get(console.endpoint + "/console/secret?id=kvedit-service-test-db")
    wait_for(browser, "#retrieve").click()
    wait_for(browser, "#edit-pairs summary").click()
    keys = [k.get_attribute("value") for k in
            browser.find_elements(By.CSS_SELECTOR, "#edit-rows .edit-key")]
    values = browser.find_elements(By.CSS_SELECTOR, "#edit-rows .edit-value")
    assert dict(zip(keys, (v.get_attribute("value") for v in values))) == {
        "username": "app", "password": old}
    new = secret("kv-new")
    values[keys.index("password")].clear()
    values[keys.index("password")].send_keys(new)
    browser.find_element(By.ID, "add-edit-row").click()
    rows = browser.find_elements(By.CSS_SELECTOR, "#edit-rows .row")
    rows[-1].find_elements(By.TAG_NAME, "input")[0].send_keys("dbname")
    rows[-1].find_elements(By.TAG_NAME, "input")[1].send_keys("ledger")
    shot(browser, "edit-value-pairs")
    navigate(browser, browser.find_element(By.ID, "put-pairs"))
    wait_for(browser, "#versions")
    got = sm.get_secret_value(SecretId="kvedit-service-test-db")["SecretString"]
    assert json.loads(got) == {"username": "app", "password": new, "dbname": "ledger"}
    stages = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#versions td:nth-child(2)")]
    assert "AWSPREVIOUS" in stages
    # Numbers would come back as text: such an object is shown, not offered for editing.
    browser.get(console.endpoint + "/console/secret?id=kvedit-service-test-typed")
    wait_for(browser, "#retrieve").click()
    wait_for(browser, "#value-pairs")
    assert not browser.find_elements(By.ID, "edit-pairs")
    assert not browser_problems(browser)


def test_markup_in_a_tag_key_and_value_is_shown_as_text(console, browser):
    sm = client(console, "secretsmanager")
    sm.create_secret(Name="xsstag-service-test-probe", SecretString=secret("xsstag"),
                     Tags=[{"Key": XSS, "Value": XSS + "v"}])
    sign_in(browser, console, ACCESS_KEY, SECRET_KEY)
    wait_for(browser, "table#secrets")
    browser.get(console.endpoint + "/console/secret?id=xsstag-service-test-probe")
    assert wait_for(browser, "td.tag-key").text == XSS
    assert browser.find_element(By.CSS_SELECTOR, "td.tag-value").text == XSS + "v"
    # The untag form carries the key as an attribute value, escaped, and it still works.
    hidden = browser.find_element(By.CSS_SELECTOR, "#tags form input[name=key]")
    assert hidden.get_attribute("value") == XSS
    assert browser.execute_script("return window.__xss === undefined")
    assert not browser.find_elements(By.CSS_SELECTOR, "main img, main script")
    shot(browser, "xss-tags-inert")
    # Typed into the new-secret form and shown again (a refused name): still text.
    new_secret_form(browser, console)
    browser.find_element(By.CSS_SELECTOR, "#tag-rows .tag-key").send_keys(XSS)
    browser.find_element(By.CSS_SELECTOR, "#tag-rows .tag-value").send_keys(XSS)
    browser.find_element(By.ID, "name").send_keys("Not The Convention")
    navigate(browser, browser.find_element(By.ID, "store"))
    wait_for(browser, "#form-error")
    assert browser.find_element(By.CSS_SELECTOR, "#tag-rows .tag-key").get_attribute("value") == XSS
    assert browser.execute_script("return window.__xss === undefined")
    assert not browser.find_elements(By.CSS_SELECTOR, "main img, main script")
    navigate(browser, browser.find_element(By.ID, "signout"))


def test_the_list_filters_by_tag_key_and_description(console, browser):
    sm = client(console, "secretsmanager")
    for name, desc, tags in [
        ("filt-service-test-a", "Ledger database password", [{"Key": "team", "Value": "pay"}]),
        ("filt-service-test-b", "Cache token", [{"Key": "team", "Value": "ops"}]),
        ("filt-service-test-c", "Ledger cache", [{"Key": "owner", "Value": "pay"}]),
    ]:
        sm.create_secret(Name=name, SecretString=secret(name), Description=desc, Tags=tags)
    sign_in(browser, console, ACCESS_KEY, SECRET_KEY)
    wait_for(browser, "table#secrets")
    assert search(browser, console, q="filt-", tag="team") == [
        "filt-service-test-a", "filt-service-test-b"]
    assert search(browser, console, q="filt-", tag="team", tagvalue="ops") == [
        "filt-service-test-b"]
    # Description: word prefixes, any case, every word.
    assert search(browser, console, q="filt-", desc="ledger") == [
        "filt-service-test-a", "filt-service-test-c"]
    assert search(browser, console, q="filt-", desc="led cach") == ["filt-service-test-c"]
    # The form shows what is listed.
    assert browser.find_element(By.ID, "desc").get_attribute("value") == "led cach"
    assert search(browser, console, q="filt-", tag="nobody") == []
    shot(browser, "secrets-filtered")


def test_the_list_sorts_by_last_accessed(console, browser):
    sm = client(console, "secretsmanager")
    names = [f"accsort-service-test-{c}" for c in "abc"]
    for n in names:
        sm.create_secret(Name=n, SecretString=secret(n))
    sm.get_secret_value(SecretId=names[1])
    sign_in(browser, console, ACCESS_KEY, SECRET_KEY)
    wait_for(browser, "table#secrets")
    # LastAccessedDate is a day; a secret never read sorts as the oldest. Stamps reach the
    # store's index in batches (every 500 ms).
    deadline = time.time() + 10
    while True:
        got = search(browser, console, q="accsort-", sort="last-accessed-date", order="asc")
        if got == [names[0], names[2], names[1]] or time.time() > deadline:
            break
        time.sleep(0.5)
    assert got == [names[0], names[2], names[1]]
    assert search(browser, console, q="accsort-", sort="last-accessed-date",
                  order="desc") == [names[1], names[2], names[0]]
    cells = browser.find_elements(By.CSS_SELECTOR, "#secrets tbody tr td:nth-child(4)")
    assert cells[0].text.endswith("UTC") and cells[1].text == "" and cells[2].text == ""


def test_the_list_sorts_by_description_and_next_rotation_and_filters_rotation(console, browser):
    sm = client(console, "secretsmanager")
    ct = client(console, "cloudtrail")
    made = {}
    for suffix, desc, days in [("a", "beta", None), ("b", None, 10), ("c", "Alpha", 3),
                               ("d", "alpha", None)]:
        name = f"rotsort-service-test-{suffix}"
        args = {"Description": desc} if desc else {}
        sm.create_secret(Name=name, SecretString=secret(name), **args)
        if days:
            sm.rotate_secret(SecretId=name, RotationLambdaARN=FUNCTION_ARN,
                             RotationRules={"AutomaticallyAfterDays": days},
                             RotateImmediately=False)
        made[suffix] = name
    a, b, c, d = (made[x] for x in "abcd")
    sign_in(browser, console, ACCESS_KEY, SECRET_KEY)
    wait_for(browser, "table#secrets")
    # Description: none first, then bytes ("Alpha" < "alpha" < "beta").
    assert search(browser, console, q="rotsort-", sort="description") == [b, c, d, a]
    assert search(browser, console, q="rotsort-", sort="description", order="desc") == [
        a, d, c, b]
    # Next rotation: soonest first; secrets without rotation last in either order.
    assert search(browser, console, q="rotsort-", sort="next-rotation-date") == [c, b, a, d]
    assert search(browser, console, q="rotsort-", sort="next-rotation-date",
                  order="desc") == [b, c, d, a]
    rotation = [td.text for td in browser.find_elements(
        By.CSS_SELECTOR, "#secrets tbody tr td:nth-child(5)")]
    assert rotation[0].startswith("on, next ") and rotation[2] == "off", rotation
    assert Select(browser.find_element(By.ID, "sort")).first_selected_option.get_attribute(
        "value") == "next-rotation-date"
    shot(browser, "secrets-by-next-rotation")
    # Rotation on / off.
    assert search(browser, console, q="rotsort-", rotation="on",
                  sort="next-rotation-date") == [c, b]
    assert search(browser, console, q="rotsort-", rotation="off") == [a, d]
    assert Select(browser.find_element(By.ID, "rotation")).first_selected_option.get_attribute(
        "value") == "off"
    # The page follows with its NextToken, keeping the console's sort and filter.
    s = http_sign_in(console)
    r = s.get(console.endpoint + "/console/secrets",
              params={"q": "rotsort-", "sort": "next-rotation-date", "order": "desc"})
    assert re.findall(r'class="secret-link" href="[^"]+">([^<]+)<', r.text) == [b, c, d, a]
    # ListSecrets on the wire keeps AWS's SortBy values.
    with pytest.raises(sm.exceptions.ClientError) as e:
        sm.list_secrets(SortBy="next-rotation-date")
    assert e.value.response["Error"]["Code"] == "ValidationException"
    # Audited as the console's ListSecrets call, with what it asked for.
    events = ct.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "ListSecrets"}],
        MaxResults=50)["Events"]
    records = [json.loads(ev["CloudTrailEvent"]) for ev in events]
    asked = [r for r in records if r.get("sessionCredentialFromConsole") == "true"
             and (r.get("requestParameters") or {}).get("sortBy") == "next-rotation-date"]
    assert asked, [r.get("requestParameters") for r in records]
    assert asked[0]["eventSource"] == "secretsmanager.amazonaws.com"


def test_a_user_without_listsecrets_is_refused_the_consoles_sorts(console):
    iam = client(console, "iam")
    iam.create_user(UserName="no-list")
    iam.put_user_policy(UserName="no-list", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "secretsmanager:DescribeSecret", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="no-list")["AccessKey"]
    remember(key["SecretAccessKey"])
    s = requests.Session()
    r = s.post(console.endpoint + "/console/signin", allow_redirects=False,
               data={"access_key_id": key["AccessKeyId"],
                     "secret_access_key": key["SecretAccessKey"]})
    assert r.status_code == 303
    for sort in ("description", "next-rotation-date", "name"):
        r = s.get(console.endpoint + "/console/secrets", params={"sort": sort, "rotation": "on"})
        assert "secretsmanager:ListSecrets" in r.text and "class=\"secret-link\"" not in r.text


def test_a_cron_schedule_is_saved_and_the_next_rotation_shown(console, browser):
    sm = client(console, "secretsmanager")
    sign_in(browser, console, ACCESS_KEY, SECRET_KEY)
    wait_for(browser, "table#secrets")
    new_secret_form(browser, console)
    browser.find_element(By.CSS_SELECTOR, "#kv-rows .kv-key").send_keys("token")
    browser.find_element(By.CSS_SELECTOR, "#kv-rows .kv-value").send_keys(secret("cron"))
    browser.find_element(By.ID, "name").send_keys("cron-service-test-token")
    Select(browser.find_element(By.ID, "rotation_function")).select_by_value(FUNCTION_ARN)
    cron = "cron(0 16 1,15 * ? *)"
    browser.find_element(By.ID, "rotation_schedule").send_keys(cron)
    browser.find_element(By.ID, "preview-schedule").click()
    runs = WebDriverWait(browser, 10).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, "#next-runs-list li"))
    dates = [datetime.strptime(li.text, "%Y-%m-%d %H:%M:%S UTC") for li in runs]
    assert dates and all(t.day in (1, 15) and (t.hour, t.minute) == (16, 0) for t in dates)
    navigate(browser, browser.find_element(By.ID, "store"))
    wait_for(browser, "#overview")
    d = sm.describe_secret(SecretId="cron-service-test-token")
    assert d["RotationRules"]["ScheduleExpression"] == cron
    assert d["RotationEnabled"] is True
    shown = browser.find_element(By.ID, "next-rotation").text
    want = d["NextRotationDate"].astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert shown == want
    at = datetime.strptime(shown, "%Y-%m-%d %H:%M:%S UTC")
    assert at.day in (1, 15) and (at.hour, at.minute) == (16, 0)
    assert cron in browser.find_element(By.ID, "rotation-rules").text
    shot(browser, "secret-next-rotation")


def post_routes():
    """Every path the console's router (crates/server/src/console/mod.rs) serves a POST on."""
    src = open(os.path.join(CONSOLE_SRC, "mod.rs")).read()
    router = src[src.index("pub fn router("):]
    router = router[:router.index("\n}\n")]
    consts = dict(re.findall(r'pub const ([A-Z_]+): &str = "([^"]+)";', src))
    routes = []
    for m in re.finditer(r'\.route\(\s*("([^"]+)"|([A-Z_]+)),\s*', router):
        path = m.group(2) or consts[m.group(3)]
        # The handler expression: up to the parenthesis closing `.route(`.
        depth, i = 1, m.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(router[i], 0)
            i += 1
        handler = router[m.end():i - 1]
        if re.search(r"(^|[.\s])post\(", handler):
            routes.append(path)
    return routes


def snapshot(server):
    """Everything a console POST could change, read with root's keys."""
    sm, ssm, kms = (client(server, s) for s in ("secretsmanager", "ssm", "kms"))
    iam, cw = client(server, "iam"), client(server, "cloudwatch")
    state = {"secrets": [], "parameters": [], "keys": [], "users": [], "alarms": []}
    for page in sm.get_paginator("list_secrets").paginate(IncludePlannedDeletion=True):
        for s in page["SecretList"]:
            versions = sm.list_secret_version_ids(SecretId=s["ARN"], IncludeDeprecated=True)
            policy = sm.get_resource_policy(SecretId=s["ARN"]).get("ResourcePolicy")
            state["secrets"].append((
                s["Name"], s.get("Description"), sorted((t["Key"], t["Value"]) for t in
                                                         s.get("Tags", [])),
                s.get("RotationEnabled"), json.dumps(s.get("RotationRules"), sort_keys=True),
                str(s.get("DeletedDate")), policy,
                sorted((v["VersionId"], tuple(sorted(v.get("VersionStages", []))))
                       for v in versions["Versions"])))
    for page in ssm.get_paginator("describe_parameters").paginate():
        state["parameters"] += [(p["Name"], p["Version"]) for p in page["Parameters"]]
    for k in kms.list_keys()["Keys"]:
        m = kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]
        state["keys"].append((m["KeyId"], m["KeyState"], m.get("Description")))
    state["keys"].append(sorted(a["AliasName"] for a in kms.list_aliases()["Aliases"]))
    for u in iam.list_users()["Users"]:
        keys = iam.list_access_keys(UserName=u["UserName"])["AccessKeyMetadata"]
        state["users"].append((u["UserName"], sorted((k["AccessKeyId"], k["Status"])
                                                     for k in keys)))
    state["users"].append(sorted(p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"]))
    state["users"].append(sorted(r["RoleName"] for r in iam.list_roles()["Roles"]))
    state["alarms"] = sorted(
        (a["AlarmName"], a.get("Threshold")) for a in cw.describe_alarms()["MetricAlarms"])
    return state


def settled_snapshot(server, timeout=60):
    """snapshot() once nothing changes on its own: enabling rotation without rotating at once
    starts the configuration test (testSecret through the rotation Lambda, which adds an
    AWSPENDING version and then removes it), and a test of this module leaves one running;
    in a loaded full run it could still be going between two snapshots."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        state = snapshot(server)
        pending = [s[0] for s in state["secrets"]
                   if any("AWSPENDING" in stages for _, stages in s[7])]
        if not pending and state == last:
            return state
        assert time.monotonic() < deadline, f"still changing after {timeout} s: {pending}"
        last = state
        time.sleep(0.5)


def test_every_post_route_refuses_a_request_without_the_csrf_token(console):
    routes = post_routes()
    # The table as read: the console's forms are all there (a parse that found nothing
    # would prove nothing).
    for known in ("/console/secrets/new", "/console/secret/put-value", "/console/signout",
                  "/console/secret/delete", "/console/iam/user", "/console/kms/key",
                  "/console/alarms/delete", "/console/alarms/edit",
                  "/console/password"):
        assert known in routes, (known, routes)
    assert len(routes) >= 25, routes
    sm, iam = client(console, "secretsmanager"), client(console, "iam")
    victim = sm.create_secret(Name="csrfall-service-test-victim", SecretString=secret("victim"),
                              Tags=[{"Key": "k", "Value": "v"}])["ARN"]
    client(console, "ssm").put_parameter(Name="/csrfall/p", Value="v", Type="String")
    iam.create_user(UserName="csrfall-user")
    key = iam.create_access_key(UserName="csrfall-user")["AccessKey"]
    remember(key["SecretAccessKey"])
    alarm = "csrfall-alarm"
    client(console, "cloudwatch").put_metric_alarm(
        AlarmName=alarm, Namespace="AWS/SecretsManager", MetricName="ResourceCount",
        Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=1.0,
        ComparisonOperator="GreaterThanThreshold")
    kms_key = client(console, "kms").create_key(Description="csrfall")["KeyMetadata"]["KeyId"]
    # A form that would change something on any route that took it.
    form = {
        "id": victim, "name": "csrfall-service-test-new", "kind": "plaintext",
        "plaintext": secret("csrfall"), "secret_string": secret("csrfall2"),
        "recovery_window_days": "7", "key": "k", "value": "changed", "key0": "k",
        "value0": "v", "rotation_function": FUNCTION_ARN, "rotation_days": "5",
        "stage": "AWSCURRENT", "version_id": "x", "resource_policy": "{}",
        "user": "csrfall-user", "user_name": "csrfall-user", "action": "delete",
        "access_key_id": key["AccessKeyId"], "status": "Inactive", "key_id": kms_key,
        "alarm": alarm, "alarm_name": alarm, "threshold": "99", "policy_name": "csrfall-p",
        "document": "{}", "type": "String", "password": "NewPassw0rd!!", "new_password":
        "NewPassw0rd!!", "current_password": "x", "description": "changed",
    }
    before = settled_snapshot(console)
    s = http_sign_in(console)
    token = csrf_of(s, console)
    refused = []
    for path in routes:
        if path == "/console/signin":
            # No session yet, so no token: a cross-site sign-in is refused by its origin.
            r = requests.post(console.endpoint + path, allow_redirects=False,
                              headers={"Origin": "http://evil.example"},
                              data={"access_key_id": ACCESS_KEY,
                                    "secret_access_key": SECRET_KEY})
            assert r.status_code == 403 and "set-cookie" not in r.headers, path
            refused.append(path)
            continue
        for sent, headers in (({}, {}), ({"csrf": ""}, {}), ({"csrf": "x" * len(token)}, {}),
                              ({}, {"X-CSRF-Token": "y" * len(token)}),
                              ({}, {"HX-Request": "true"})):
            r = s.post(console.endpoint + path, data={**form, **sent}, headers=headers,
                       allow_redirects=False)
            assert r.status_code == 403, (path, sent, headers, r.status_code, r.text[:200])
            assert "CSRF token" in r.text, (path, r.text[:200])
        refused.append(path)
    assert refused == routes
    after = snapshot(console)
    # Said in full when it fails (pytest elides nested lists): which entries differ.
    assert after == before, {k: {"before only": [x for x in before[k] if x not in after[k]],
                                 "after only": [x for x in after[k] if x not in before[k]]}
                             for k in before if before[k] != after[k]}
    # The session survived every refused sign-out, and its token still works.
    r = s.post(console.endpoint + "/console/secret/untag", allow_redirects=False,
               data={"csrf": token, "id": victim, "key": "k"})
    assert r.status_code == 303
    assert "Tags" not in sm.describe_secret(SecretId=victim) or \
        sm.describe_secret(SecretId=victim)["Tags"] == []
