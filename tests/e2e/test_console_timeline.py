"""Rotation timelines and refusal explanations in the console (headless chromium; fixtures and
helpers from test_console): a secret read far more often than it rotates still shows its
rotations; a timeline longer than a page is paged (every entry once, none lost), the account's
Rotations page too (checked against LookupEvents); it shows a RotationAbandoned entry and keeps
to a chosen time range; a refusal by a
secret's resource policy, or by an identity statement whose condition needs the request's
context, names the statement that actually decided. Screenshots go to
tests/e2e/artifacts/console/.
"""
import datetime
import json
import re
import time

from selenium.webdriver.common.by import By

from leaks import remember, secret
from server import ACCESS_KEY, ACCOUNT, SECRET_KEY
from test_console import (BROKEN_ARN, FUNCTION_ARN, browser, browser_problems,  # noqa: F401
                          client, console, navigate, shot, sign_in, wait_for)


def timeline_names(browser):
    return [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#timeline li.event .event-name")]


def events(server, name, arn):
    ct = client(server, "cloudtrail")
    out = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}],
                           MaxResults=50)["Events"]
    return [e for e in out if e.get("Resources") and e["Resources"][0]["ResourceName"] == arn]


def wait_until(what, check, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def utc_field(t):
    """A `datetime-local` value (UTC), as the range form takes it."""
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def test_a_secret_read_often_still_shows_its_rotations(console, browser):
    sm = client(console, "secretsmanager")
    name = "busy-service-test-token"
    arn = sm.create_secret(Name=name, SecretString=secret("busy"))["ARN"]
    sm.rotate_secret(SecretId=name, RotationLambdaARN=FUNCTION_ARN,
                     RotationRules={"AutomaticallyAfterDays": 30})
    wait_until("the rotation's success", lambda: events(console, "RotationSucceeded", arn))
    # Far more reads than one LookupEvents page holds, all newer than the rotation.
    for _ in range(65):
        remember(sm.get_secret_value(SecretId=name)["SecretString"])
    by_resource = client(console, "cloudtrail").lookup_events(LookupAttributes=[
        {"AttributeKey": "ResourceName", "AttributeValue": arn}], MaxResults=50)["Events"]
    assert {e["EventName"] for e in by_resource} == {"GetSecretValue"}

    sign_in(browser, console, ACCESS_KEY, SECRET_KEY)
    wait_for(browser, "table#secrets")
    browser.get(console.endpoint + "/console/secret?id=" + name)
    navigate(browser, wait_for(browser, "#timeline-link"))
    wait_for(browser, "#timeline")
    names = timeline_names(browser)
    # Newest first, this secret's only, reads left out.
    assert names == ["RotationSucceeded", "RotationStarted", "RotateSecret"], names
    assert FUNCTION_ARN in browser.find_element(By.CSS_SELECTOR, "#timeline li.started .detail").text
    assert re.fullmatch(r"after \d+ s", browser.find_element(
        By.CSS_SELECTOR, "#timeline li.succeeded .duration").text)
    assert not browser.find_elements(By.ID, "next-page")
    shot(browser, "rotation-timeline-busy-secret")
    assert browser_problems(browser) == []


def test_a_long_timeline_is_paged_with_every_entry_once(console, browser):
    sm = client(console, "secretsmanager")
    name = "paged-service-test-token"
    arn = sm.create_secret(Name=name, SecretString=secret("paged"))["ARN"]
    # 120 refused RotateSecret calls (each on the timeline, failed), then a rotation: 121
    # RotateSecret entries, more than a page of them.
    for _ in range(120):
        try:
            sm.rotate_secret(SecretId=name, RotationLambdaARN=FUNCTION_ARN,
                             RotationRules={"ScheduleExpression": "cron(nonsense)"})
        except sm.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "InvalidParameterException", e
        else:
            raise AssertionError("RotateSecret was not refused")
    sm.rotate_secret(SecretId=name, RotationLambdaARN=FUNCTION_ARN,
                     RotationRules={"AutomaticallyAfterDays": 30})
    wait_until("the rotation's success", lambda: events(console, "RotationSucceeded", arn))

    sign_in(browser, console, ACCESS_KEY, SECRET_KEY)
    wait_for(browser, "table#secrets")
    browser.get(console.endpoint + "/console/secret/timeline?id=" + name)
    pages, failed = [], []
    while True:
        wait_for(browser, "#timeline")
        pages.append(timeline_names(browser))
        failed += [li.find_element(By.CSS_SELECTOR, ".event-name").text
                   for li in browser.find_elements(By.CSS_SELECTOR, "#timeline li.failed")]
        nxt = browser.find_elements(By.ID, "next-page")
        if not nxt:
            break
        assert len(pages) < 10, pages
        navigate(browser, nxt[0])
    assert len(pages) >= 2, pages
    every = [n for p in pages for n in p]
    assert every.count("RotateSecret") == 121, pages
    # Newest first across pages: the rotation on top, the refused calls below.
    assert every[:3] == ["RotationSucceeded", "RotationStarted", "RotateSecret"], pages
    assert len(every) == 123, pages
    # The refused calls are marked failed, on whichever pages they fell (the last page can be
    # empty: the lookups' older events there were other secrets' rotations, filtered out).
    assert failed == ["RotateSecret"] * 120, pages
    if not pages[-1]:
        assert browser.find_element(By.CSS_SELECTOR, "#timeline li.empty").text == "No older entries."
    shot(browser, "rotation-timeline-last-page")


def test_the_account_timeline_shows_an_abandoned_rotation_within_a_time_range(console, browser):
    sm = client(console, "secretsmanager")
    name = "abandon-service-test-token"
    before = time.time() - 2
    arn = sm.create_secret(Name=name, SecretString=secret("abandon"))["ARN"]
    token = sm.rotate_secret(SecretId=name, RotationLambdaARN=BROKEN_ARN,
                             RotationRules={"AutomaticallyAfterDays": 30})["VersionId"]
    wait_until("the rotation's failure", lambda: events(console, "RotationFailed", arn))
    # A manual write makes another version AWSCURRENT during the rotation: AWS's
    # RotationAbandoned.
    sm.put_secret_value(SecretId=name, SecretString=secret("abandon-manual"))
    assert events(console, "RotationAbandoned", arn)

    sign_in(browser, console, ACCESS_KEY, SECRET_KEY)
    wait_for(browser, "table#secrets")
    navigate(browser, browser.find_element(By.ID, "nav-rotation"))
    wait_for(browser, "#timeline")

    def abandoned():
        return [li for li in browser.find_elements(By.CSS_SELECTOR, "#timeline li.abandoned")
                if [a.text for a in li.find_elements(By.CSS_SELECTOR, "a.secret-link")] == [name]]

    found = abandoned()
    assert len(found) == 1, browser.find_element(By.ID, "timeline").text
    li = found[0]
    assert li.find_element(By.CSS_SELECTOR, ".event-name").text == "RotationAbandoned"
    assert token in li.find_element(By.CSS_SELECTOR, ".version").text
    assert "new AWSCURRENT version" in li.find_element(By.CSS_SELECTOR, ".detail").text
    shot(browser, "rotation-account-abandoned")

    # A range that ends before the secret existed: none of its entries.
    browser.execute_script("document.getElementById('end').value = arguments[0]",
                           utc_field(before))
    navigate(browser, browser.find_element(By.ID, "show-range"))
    wait_for(browser, "#timeline")
    assert "end=" in browser.current_url
    assert not abandoned()
    assert name not in browser.find_element(By.ID, "timeline").text
    # From then on: its failure and its abandonment, nothing older.
    browser.execute_script("document.getElementById('end').value = ''; "
                           "document.getElementById('start').value = arguments[0]",
                           utc_field(before))
    navigate(browser, browser.find_element(By.ID, "show-range"))
    wait_for(browser, "#timeline")
    assert len(abandoned()) == 1
    times = [li.find_element(By.TAG_NAME, "time").text
             for li in browser.find_elements(By.CSS_SELECTOR, "#timeline li.event")]
    assert times and min(times) >= utc_field(before).replace("T", " "), times
    # A mistyped range is the form's message, not an empty timeline.
    browser.get(console.endpoint + "/console/rotations?start=yesterday")
    assert wait_for(browser, "#form-error").text.startswith("StartTime")
    assert not browser.find_elements(By.ID, "timeline")
    assert browser_problems(browser) == []


def lookup_all(server, name, start, end):
    """Every event named `name` between `start` and `end` (epoch seconds), paged."""
    ct = client(server, "cloudtrail")
    found, kwargs = [], {}
    while True:
        out = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}],
                               StartTime=start, EndTime=end, MaxResults=50, **kwargs)
        found += out["Events"]
        if "NextToken" not in out:
            return found
        kwargs = {"NextToken": out["NextToken"]}


def test_the_account_timeline_pages_through_more_than_a_page_of_one_kind(console, browser):
    sm = client(console, "secretsmanager")
    start = int(time.time()) - 1
    fleet = [f"fleet{i:02d}-service-test-token" for i in range(52)]
    for n in fleet:
        sm.create_secret(Name=n, SecretString=secret(n))
        sm.rotate_secret(SecretId=n, RotationLambdaARN=BROKEN_ARN,
                         RotationRules={"AutomaticallyAfterDays": 30})
    # 52 RotationFailed (and RotationStarted): more of each kind than one lookup page holds.
    wait_until("every rotation's failure",
               lambda: len(lookup_all(console, "RotationFailed", start, time.time() + 1)) >= 52,
               timeout=120)
    end = int(time.time()) + 1
    expected = sorted(
        (name, e["Resources"][0]["ResourceName"].split(":secret:")[1][:-7])
        for name in ("RotationStarted", "RotationSucceeded", "RotationFailed", "RotationAbandoned")
        for e in lookup_all(console, name, start, end))
    assert len(expected) >= 104

    sign_in(browser, console, ACCESS_KEY, SECRET_KEY)
    wait_for(browser, "table#secrets")
    browser.get(console.endpoint + f"/console/rotations?start={utc_field(start)}&end={utc_field(end)}")
    pages = []
    while True:
        wait_for(browser, "#timeline")
        pages.append([(li.find_element(By.CSS_SELECTOR, ".event-name").text,
                       li.find_element(By.CSS_SELECTOR, "a.secret-link").text)
                      for li in browser.find_elements(By.CSS_SELECTOR, "#timeline li.event")])
        nxt = browser.find_elements(By.ID, "next-page")
        if not nxt:
            break
        assert len(pages) < 10, pages
        # The range goes along with the page.
        assert "start=" in nxt[0].get_attribute("href") and "end=" in nxt[0].get_attribute("href")
        navigate(browser, nxt[0])
    assert len(pages) >= 2, [len(p) for p in pages]
    # Every event of the range once, none twice, across the pages.
    assert sorted(e for p in pages for e in p) == expected
    for n in fleet:
        assert [e for p in pages for e, s in p if s == n] == ["RotationFailed", "RotationStarted"], n
    shot(browser, "rotation-account-older-page")
    assert browser_problems(browser) == []


def test_a_refusal_names_the_resource_policy_or_conditional_statement_that_decided(console, browser):
    iam = client(console, "iam")
    user = "respol-reader"
    iam.create_user(UserName=user)
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/{user}"
    iam.put_user_policy(UserName=user, PolicyName="ReadAll", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"},
            # Decided by the secret's tag: a re-evaluation without the request's context
            # would not see it.
            {"Sid": "NoTaggedProd", "Effect": "Deny", "Action": "secretsmanager:GetSecretValue",
             "Resource": "*",
             "Condition": {"StringEquals": {"secretsmanager:ResourceTag/tier": "restricted"}}}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    remember(key["SecretAccessKey"])
    sm = client(console, "secretsmanager")
    guarded = "respol-service-test-config"
    sm.create_secret(Name=guarded, SecretString=secret("respol"))
    sm.put_resource_policy(SecretId=guarded, ResourcePolicy=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Sid": "NoConsoleReads", "Effect": "Deny", "Principal": {"AWS": user_arn},
             "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}))
    tagged = "tagged-service-test-config"
    sm.create_secret(Name=tagged, SecretString=secret("tagged"),
                     Tags=[{"Key": "tier", "Value": "restricted"}])

    sign_in(browser, console, key["AccessKeyId"], key["SecretAccessKey"])
    wait_for(browser, "#who")
    browser.get(console.endpoint + "/console/secret?id=" + guarded)
    wait_for(browser, "#retrieve").click()
    refusal = wait_for(browser, "#value .refusal")
    assert "with an explicit deny in a resource-based policy" in refusal.text, refusal.text
    decided = refusal.find_element(By.CLASS_NAME, "decided-by").text
    assert "ExplicitDeny" in decided and "NoConsoleReads" in decided, decided
    assert "resource's policy" in decided and "NoTaggedProd" not in decided, decided
    shot(browser, "refusal-resource-policy")

    browser.get(console.endpoint + "/console/secret?id=" + tagged)
    wait_for(browser, "#retrieve").click()
    refusal = wait_for(browser, "#value .refusal")
    assert "with an explicit deny in an identity-based policy" in refusal.text, refusal.text
    decided = refusal.find_element(By.CLASS_NAME, "decided-by").text
    assert "ExplicitDeny" in decided and "NoTaggedProd" in decided and "statement 2" in decided, decided
    assert "implicit deny" not in decided
    assert browser_problems(browser) == []
    navigate(browser, browser.find_element(By.ID, "signout"))
    wait_for(browser, "#access_key_id")
    # What boto3 is told matches: the same refusals, without the statements.
    reader = client(console, "secretsmanager", access_key=key["AccessKeyId"],
                    secret_key=key["SecretAccessKey"])
    for n in (guarded, tagged):
        try:
            reader.get_secret_value(SecretId=n)
        except reader.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "AccessDeniedException"
            assert "NoConsoleReads" not in str(e) and "NoTaggedProd" not in str(e)
        else:
            raise AssertionError(f"{n} was readable")
