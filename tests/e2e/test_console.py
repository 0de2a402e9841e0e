"""The web console (/console/) end to end, in Debian's chromium (headless, driven by Selenium
through chromedriver), plus request-level security checks where a browser adds nothing.

Flows: sign in with root's keys; seed 003's console flow (store `auth-service-prod-config` as
key/value pairs following the naming convention, 30-day rotation with a configured function,
rotate now, the timeline's entries); retrieve a value and find the GetSecretValue audited as a
console call; a user holding seed 003's Development Access Policy reads a stage secret but is
refused the prod one, with the reason; sign out (the old cookie opens nothing).
Security: CSRF refused (nothing changed), XSS payloads shown as text, no CSP violation in any
page, the security headers, idle expiry, `--console off`, nothing secret in the server's log.
Screenshots of the main pages go to tests/e2e/artifacts/console/ (git-ignored).
"""
import html
import json
import os
import re
import sys
import time
import uuid

import boto3
import pytest
import requests
from botocore.config import Config
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from leaks import remember, secret
from server import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, Server, work_dir

HERE = os.path.dirname(os.path.abspath(__file__))
ARTIFACTS = os.path.join(HERE, "artifacts", "console")
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:secret-rotation"
BROKEN_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:broken-rotation"
ROLE = "console-rotation"
# Seed 003's naming convention, <service-name>-<environment>-<secret-type>, as a regex.
NAME_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*-(prod|stage|test)-[a-z0-9]+(-[a-z0-9]+)*$"
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})
# Seed 003's Development Access Policy, ${region} and ${account-id} filled in.
DEV_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue", "secretsmanager:UpdateSecret"],
        "Resource": [f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:*-test-*",
                     f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:*-stage-*"],
    }],
}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


def client(server, service, access_key=ACCESS_KEY, secret_key=SECRET_KEY):
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION,
                        aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                        config=NO_RETRY)


@pytest.fixture(scope="module")
def console():
    """A server with a rotation function (a token rotator run with its role's credentials),
    seed 003's naming convention enforced by the console, and due rotations checked every
    second."""
    d = os.path.join(work_dir("data"), f"console-config-{uuid.uuid4().hex[:8]}")
    os.makedirs(d)
    cfg = os.path.join(d, "strongroom.toml")
    record = os.path.join(d, "rotation-record.jsonl")
    with open(cfg, "w") as f:
        f.write("[[rotation-function]]\n"
                f'arn = "{FUNCTION_ARN}"\n'
                f"command = {json.dumps([sys.executable, os.path.join(HERE, 'rotation', 'recording_rotation.py')])}\n"
                f'role-arn = "arn:aws:iam::{ACCOUNT}:role/{ROLE}"\n'
                "timeout-secs = 30\n"
                f"environment = {{ ROTATION_RECORD = {json.dumps(record)} }}\n\n")
        # Fails its setSecret step.
        broken = os.path.join(d, "broken.py")
        with open(broken, "w") as b:
            b.write("import json, sys\nevent = json.load(sys.stdin)\n"
                    "sys.exit(3 if event['Step'] == 'setSecret' else 0)\n")
        f.write("[[rotation-function]]\n"
                f'arn = "{BROKEN_ARN}"\n'
                f"command = {json.dumps([sys.executable, broken])}\n"
                f'role-arn = "arn:aws:iam::{ACCOUNT}:role/{ROLE}"\n'
                "timeout-secs = 30\n")
    s = Server(name="console", extra_args=["--config", cfg, "--rotation-interval-secs", "1",
                                           "--console-secret-name-pattern", NAME_PATTERN])
    iam = client(s, "iam")
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName=ROLE, PolicyName="rotate", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
            "secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
            "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage",
            "secretsmanager:GetRandomPassword"], "Resource": "*"},
            # The secret the console stores is encrypted with a customer managed key.
            {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
             "Resource": "*"}]}))
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1280,1000", "--no-first-run", "--disable-extensions"):
        opts.add_argument(a)
    # The browser's console: CSP violations and script errors show up there.
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    d.implicitly_wait(0)
    yield d
    d.quit()


def shot(browser, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    # Written aside, then renamed: scripts/test runs the SQLite and PostgreSQL passes at once,
    # and both save the same pages.
    path = os.path.join(ARTIFACTS, f"{name}.png")
    aside = os.path.join(ARTIFACTS, f".{name}.{os.getpid()}.png")
    browser.save_screenshot(aside)
    os.replace(aside, path)


def wait_for(browser, css, timeout=10):
    return WebDriverWait(browser, timeout).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, css)))


def navigate(browser, element):
    """Click something that loads a new page, and wait until the old one is gone (so what
    follows reads the new page, not the old one)."""
    old = browser.find_element(By.TAG_NAME, "html")
    # A DOM click (chromedriver's own click can report the page it just left as an error).
    browser.execute_script("arguments[0].click()", element)
    WebDriverWait(browser, 15).until(EC.staleness_of(old))


def browser_problems(browser):
    """Console messages about CSP violations or script errors since the last call (answers
    with an error status, such as a refused sign-in's 401, are expected)."""
    return [e["message"] for e in browser.get_log("browser")
            if "Failed to load resource" not in e["message"]
            and (e["level"] == "SEVERE" or "Content Security Policy" in e["message"])]


def sign_in(browser, server, access_key, secret_key):
    browser.delete_all_cookies()
    browser.get(server.endpoint + "/console/")
    wait_for(browser, "#access_key_id")
    browser.find_element(By.ID, "access_key_id").send_keys(access_key)
    browser.find_element(By.ID, "secret_access_key").send_keys(secret_key)
    navigate(browser, browser.find_element(By.ID, "signin"))


def session_cookie(browser):
    c = browser.get_cookie("strongroom_console")
    assert c, "no session cookie after sign-in"
    return c


def test_seed_003_flow_in_the_browser(console, browser):
    # Wrong credentials: the form again, with one message for every wrong part.
    sign_in(browser, console, ACCESS_KEY, "not-the-secret-key-0000000000000000000000")
    assert "not correct" in wait_for(browser, "#signin-error").text
    assert browser.get_cookie("strongroom_console") is None
    shot(browser, "signin")

    # The secret pasted into the key id's field: refused, and repeated nowhere.
    sign_in(browser, console, SECRET_KEY, SECRET_KEY)
    wait_for(browser, "#signin-error")
    assert SECRET_KEY not in browser.page_source

    sign_in(browser, console, ACCESS_KEY, SECRET_KEY)
    wait_for(browser, "table#secrets")
    assert browser.current_url.endswith("/console/secrets")
    # Each attempt is audited as CloudTrail's ConsoleLogin, without the secret.
    ct = client(console, "cloudtrail")
    logins = [json.loads(e["CloudTrailEvent"]) for e in ct.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "ConsoleLogin"}])["Events"]]
    assert [r["responseElements"]["ConsoleLogin"] for r in logins] == [
        "Success", "Failure", "Failure"]
    assert logins[0]["userIdentity"]["type"] == "Root"
    assert logins[0]["eventSource"] == "signin.amazonaws.com"
    # As CloudTrail records console sign-ins: their own eventType, MFAUsed, and a failure as an
    # errorMessage without an errorCode.
    assert {r["eventType"] for r in logins} == {"AwsConsoleSignIn"}
    assert all(r["additionalEventData"]["MFAUsed"] == "No" for r in logins)
    assert logins[1]["errorMessage"] == "Failed authentication" and "errorCode" not in logins[1]
    assert "errorCode" not in logins[0] and "errorMessage" not in logins[0]
    assert logins[2]["userIdentity"]["accessKeyId"] == ACCESS_KEY
    assert "accessKeyId" not in logins[1]["userIdentity"]
    assert SECRET_KEY not in json.dumps(logins)
    assert browser.find_element(By.ID, "who").text == f"arn:aws:iam::{ACCOUNT}:root"
    cookie = session_cookie(browser)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console/"

    kms = client(console, "kms")
    key_id = kms.create_key(Description="auth-service")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/auth-service", TargetKeyId=key_id)

    # Store a new secret → Other type of secret → key/value pairs → the naming convention →
    # rotation, in one form.
    navigate(browser, browser.find_element(By.LINK_TEXT, "Store a new secret"))
    wait_for(browser, "#new-secret")
    assert "auth-service-prod-config" in browser.find_element(By.ID, "naming-hint").text
    values = {"MONGODB_URI": secret("mongodb"), "JWT_SECRET": secret("jwt"),
              "API_KEY": secret("api"), "EXTRA": secret("extra")}
    browser.find_element(By.ID, "add-row").click()  # a fourth row, added by console.js
    keys = browser.find_elements(By.CSS_SELECTOR, "#kv-rows input[name^=key]")
    vals = browser.find_elements(By.CSS_SELECTOR, "#kv-rows input[name^=value]")
    assert len(keys) == 4 and len(vals) == 4
    for (k, v), ki, vi in zip(values.items(), keys, vals):
        ki.send_keys(k)
        vi.send_keys(v)
    browser.find_element(By.ID, "name").send_keys("auth-service-prod-config")
    browser.find_element(By.ID, "description").send_keys("Production configuration for auth-service")
    browser.find_element(By.NAME, "tagkey0").send_keys("environment")
    browser.find_element(By.NAME, "tagvalue0").send_keys("prod")
    Select(browser.find_element(By.ID, "kms_key")).select_by_value("alias/auth-service")
    Select(browser.find_element(By.ID, "rotation_function")).select_by_value(FUNCTION_ARN)
    days = browser.find_element(By.ID, "rotation_days")
    days.clear()
    days.send_keys("30")
    browser.find_element(By.ID, "rotate_immediately").click()
    # A resource policy in the same flow: the rotation role may read it.
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "RotationRole", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"},
        "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}
    browser.find_element(By.ID, "resource_policy").send_keys(json.dumps(policy))
    shot(browser, "new-secret")
    navigate(browser, browser.find_element(By.ID, "store"))

    wait_for(browser, "#overview")
    assert browser.find_element(By.ID, "secret-name").text == "auth-service-prod-config"
    assert browser.find_element(By.ID, "rotation-status").text == "enabled"
    assert '"AutomaticallyAfterDays":30' in browser.find_element(By.ID, "rotation-rules").text
    tags = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#tags td.tag-key, #tags td.tag-value")]
    assert tags == ["environment", "prod"]
    shot(browser, "secret-detail")

    # What the API says the console did.
    sm = client(console, "secretsmanager")
    d = sm.describe_secret(SecretId="auth-service-prod-config")
    assert d["RotationEnabled"] and d["RotationRules"]["AutomaticallyAfterDays"] == 30
    assert d["RotationLambdaARN"] == FUNCTION_ARN
    assert d["KmsKeyId"] in ("alias/auth-service", key_id) or key_id in d["KmsKeyId"]
    stored = json.loads(sm.get_secret_value(SecretId="auth-service-prod-config")["SecretString"])
    assert stored == values
    attached = sm.get_resource_policy(SecretId="auth-service-prod-config")["ResourcePolicy"]
    assert json.loads(attached)["Statement"][0]["Sid"] == "RotationRole"

    # The first rotation (immediately, as asked) and then "Rotate now": the timeline shows
    # each started and succeeded.
    def timeline_until(succeeded):
        deadline = time.time() + 60
        while True:
            names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#timeline .event-name")]
            if names.count("RotationSucceeded") >= succeeded or time.time() > deadline:
                return names
            time.sleep(1)
            browser.refresh()
            wait_for(browser, "#timeline")

    navigate(browser, browser.find_element(By.ID, "timeline-link"))
    wait_for(browser, "#timeline")
    names = timeline_until(1)
    assert names.count("RotationSucceeded") == 1, names
    navigate(browser, browser.find_element(By.LINK_TEXT, "Back to the secret"))
    navigate(browser, wait_for(browser, "#rotate-now"))
    wait_for(browser, "#timeline")
    names = timeline_until(2)
    assert names.count("RotationSucceeded") == 2, names
    assert names.count("RotationStarted") == 2 and names.count("RotateSecret") == 2, names
    # Newest first: the last rotation's success on top.
    assert names[0] == "RotationSucceeded", names
    started = browser.find_element(By.CSS_SELECTOR, "#timeline li.started .detail").text
    assert FUNCTION_ARN in started
    shot(browser, "rotation-timeline")
    navigate(browser, browser.find_element(By.LINK_TEXT, "Rotations"))
    account = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#timeline .secret-link")]
    assert account.count("auth-service-prod-config") == 4, account  # 2 started, 2 succeeded
    shot(browser, "rotations")
    browser.back()
    wait_for(browser, "#timeline")
    current = sm.get_secret_value(SecretId="auth-service-prod-config")
    remember(current["SecretString"])

    # The value stays hidden until asked for; then it comes in the POST's answer (htmx swaps
    # it in), never in a URL.
    navigate(browser, browser.find_element(By.LINK_TEXT, "Back to the secret"))
    wait_for(browser, "#retrieve")
    assert current["SecretString"] not in browser.page_source
    browser.find_element(By.ID, "retrieve").click()
    wait_for(browser, "#secret-value")
    assert browser.find_element(By.ID, "plain-value").text == current["SecretString"]
    assert current["SecretString"] not in browser.current_url
    # The value is kept nowhere in the browser's storage (htmx's history cache is off; it
    # notes only the page's path).
    stored = browser.execute_script(
        "return JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])")
    assert "htmx-history-cache" not in stored and current["SecretString"] not in stored, stored
    assert browser.current_url.endswith("/console/secret?id=auth-service-prod-config")
    shot(browser, "secret-value")

    # Edit the value: a new AWSCURRENT version, the old one AWSPREVIOUS.
    new_value = secret("edited")
    browser.find_element(By.CSS_SELECTOR, "#value-section summary").click()
    browser.find_element(By.ID, "new_value").send_keys(new_value)
    navigate(browser, browser.find_element(By.ID, "put-value"))
    wait_for(browser, "#versions")
    stages = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#versions td:nth-child(2)")]
    assert "AWSCURRENT" in stages and "AWSPREVIOUS" in stages, stages
    assert sm.get_secret_value(SecretId="auth-service-prod-config")["SecretString"] == new_value

    # Audited as the root's console call, with the console's marker and user agent.
    events = ct.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "GetSecretValue"}])["Events"]
    records = [json.loads(e["CloudTrailEvent"]) for e in events]
    from_console = [r for r in records if r.get("sessionCredentialFromConsole") == "true"]
    assert from_console, records
    r = from_console[0]
    assert r["eventSource"] == "secretsmanager.amazonaws.com"
    assert r["userAgent"].startswith("strongroom-console")
    assert r["userIdentity"]["type"] == "Root"
    assert r["requestParameters"]["secretId"] == "auth-service-prod-config"
    # The API's own calls (boto3 above) carry no console marker.
    assert any("sessionCredentialFromConsole" not in x for x in records)
    created = [json.loads(e["CloudTrailEvent"]) for e in ct.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "CreateSecret"}])["Events"]]
    assert created[0]["sessionCredentialFromConsole"] == "true"

    # The list: search, filter by tag, sort.
    sm.create_secret(Name="payment-service-stage-api-keys", SecretString=secret("pay"),
                     Description="stage keys", Tags=[{"Key": "environment", "Value": "stage"}])
    browser.get(console.endpoint + "/console/secrets?q=payment")
    names = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "a.secret-link")]
    assert names == ["payment-service-stage-api-keys"]
    browser.get(console.endpoint + "/console/secrets?tagvalue=prod")
    assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, "a.secret-link")] == [
        "auth-service-prod-config"]
    browser.get(console.endpoint + "/console/secrets?order=desc")
    names = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "a.secret-link")]
    assert names == ["payment-service-stage-api-keys", "auth-service-prod-config"]
    shot(browser, "secrets-list")
    assert browser_problems(browser) == []

    # Delete with a recovery window, then restore.
    browser.get(console.endpoint + "/console/secret?id=payment-service-stage-api-keys")
    days = wait_for(browser, "#recovery_window_days")
    days.clear()
    days.send_keys("7")
    navigate(browser, browser.find_element(By.ID, "delete"))
    wait_for(browser, "#deleted")
    assert "DeletedDate" in sm.describe_secret(SecretId="payment-service-stage-api-keys")
    shot(browser, "secret-scheduled-for-deletion")
    navigate(browser, browser.find_element(By.ID, "restore"))
    wait_for(browser, "#delete")
    assert "DeletedDate" not in sm.describe_secret(SecretId="payment-service-stage-api-keys")

    # Tags: add one, remove one.
    browser.find_element(By.ID, "new-tag-key").send_keys("owner")
    browser.find_element(By.ID, "new-tag-value").send_keys("payments")
    navigate(browser, browser.find_element(By.ID, "tag-submit"))
    wait_for(browser, "#tags")
    assert {"Key": "owner", "Value": "payments"} in sm.describe_secret(
        SecretId="payment-service-stage-api-keys")["Tags"]
    row = [r for r in browser.find_elements(By.CSS_SELECTOR, "#tags tbody tr")
           if r.find_element(By.CSS_SELECTOR, "td.tag-key").text == "environment"][0]
    navigate(browser, row.find_element(By.CSS_SELECTOR, "button.untag"))
    wait_for(browser, "#tags")
    assert sm.describe_secret(SecretId="payment-service-stage-api-keys")["Tags"] == [
        {"Key": "owner", "Value": "payments"}]

    # Rotation configured on an existing secret (a schedule expression), then turned off.
    browser.find_element(By.CSS_SELECTOR, "#rotation summary").click()
    Select(browser.find_element(By.ID, "rotation_function")).select_by_value(FUNCTION_ARN)
    browser.find_element(By.ID, "rotation_schedule").send_keys("rate(10 days)")
    navigate(browser, browser.find_element(By.ID, "configure-rotation"))
    assert wait_for(browser, "#rotation-status").text == "enabled"
    d = sm.describe_secret(SecretId="payment-service-stage-api-keys")
    assert d["RotationRules"]["ScheduleExpression"] == "rate(10 days)"
    navigate(browser, wait_for(browser, "#rotation-off"))
    assert wait_for(browser, "#rotation-status").text == "disabled"
    assert not sm.describe_secret(SecretId="payment-service-stage-api-keys").get("RotationEnabled")

    # Sign out: back to the sign-in page, and the old cookie opens nothing.
    navigate(browser, browser.find_element(By.ID, "signout"))
    wait_for(browser, "#access_key_id")
    old = requests.get(console.endpoint + "/console/secrets", allow_redirects=False,
                       cookies={"strongroom_console": cookie["value"]})
    assert old.status_code == 303 and old.headers["Location"] == "/console/signin"


def test_a_failed_rotation_shows_on_the_timeline_with_its_step(console, browser):
    sm = client(console, "secretsmanager")
    sm.create_secret(Name="broken-service-test-token", SecretString=secret("broken"))
    sm.rotate_secret(SecretId="broken-service-test-token", RotationLambdaARN=BROKEN_ARN,
                     RotationRules={"AutomaticallyAfterDays": 30})
    s = http_sign_in(console)
    deadline = time.time() + 60
    while time.time() < deadline:
        page = s.get(console.endpoint + "/console/secret/timeline",
                     params={"id": "broken-service-test-token"}).text
        if 'class="event failed"' in page:
            break
        time.sleep(1)
    failed = re.search(r'<li class="event failed">(.*?)</li>', page, re.S)
    assert failed, page
    assert "RotationFailed" in failed.group(1) and "setSecret" in failed.group(1)
    # The account's rotations page lists it too, linked to the secret.
    page = s.get(console.endpoint + "/console/rotations").text
    failed = re.search(r'<li class="event failed">(.*?)</li>', page, re.S)
    assert failed and "broken-service-test-token</a>" in failed.group(1), page
    href = html.unescape(re.search(r'class="secret-link" href="([^"]+)"', failed.group(1)).group(1))
    detail = s.get(console.endpoint + href).text
    assert 'id="overview"' in detail and "broken-service-test-token" in detail
    # While that rotation is unfinished (its AWSPENDING version waits for the retry), "Rotate
    # now" is refused, and the page says why in AWS's words.
    sign_in(browser, console, ACCESS_KEY, SECRET_KEY)
    wait_for(browser, "#who")
    browser.get(console.endpoint + "/console/secret?id=broken-service-test-token")
    navigate(browser, wait_for(browser, "#rotate-now"))
    assert wait_for(browser, "#headline").text == "The rotation could not be started."
    refusal = browser.find_element(By.CSS_SELECTOR, ".refusal").text
    assert "InvalidRequestException" in refusal, refusal
    assert "A previous rotation isn't complete. That rotation will be reattempted." in refusal


def test_a_developer_reads_stage_secrets_and_is_refused_prod_with_the_reason(console, browser):
    sm = client(console, "secretsmanager")
    stage_value = secret("dev-stage")
    sm.create_secret(Name="billing-service-stage-credentials", SecretString=stage_value)
    sm.create_secret(Name="billing-service-prod-credentials", SecretString=secret("dev-prod"))
    iam = client(console, "iam")
    iam.create_user(UserName="developer")
    iam.put_user_policy(UserName="developer", PolicyName="DevelopmentAccess",
                        PolicyDocument=json.dumps(DEV_POLICY))
    key = iam.create_access_key(UserName="developer")["AccessKey"]
    remember(key["SecretAccessKey"])

    sign_in(browser, console, key["AccessKeyId"], key["SecretAccessKey"])
    wait_for(browser, "#who")
    assert browser.find_element(By.ID, "who").text == f"arn:aws:iam::{ACCOUNT}:user/developer"
    # Listing is not among the policy's actions: the page says so, in AWS's words.
    refusal = wait_for(browser, ".refusal")
    assert "AccessDeniedException" in refusal.text and "secretsmanager:ListSecrets" in refusal.text

    browser.get(console.endpoint + "/console/secret?id=billing-service-stage-credentials")
    wait_for(browser, "#retrieve").click()
    assert wait_for(browser, "#plain-value").text == stage_value
    shot(browser, "developer-stage-value")

    browser.get(console.endpoint + "/console/secret?id=billing-service-prod-credentials")
    wait_for(browser, "#retrieve").click()
    refusal = wait_for(browser, "#value .refusal")
    assert "AccessDeniedException" in refusal.text
    assert ("is not authorized to perform: secretsmanager:GetSecretValue" in refusal.text)
    assert "because no identity-based policy allows" in refusal.text
    decided = refusal.find_element(By.CLASS_NAME, "decided-by").text
    assert "implicit deny" in decided
    assert "billing-service-prod" not in browser.current_url or "id=" in browser.current_url
    shot(browser, "developer-prod-refused")
    assert browser_problems(browser) == []

    # The prod secret's page shows who read it: the developer's refused attempt highlighted.
    navigate(browser, browser.find_element(By.ID, "signout"))
    sign_in(browser, console, ACCESS_KEY, SECRET_KEY)
    wait_for(browser, "table#secrets")
    browser.get(console.endpoint + "/console/secret/access?id=billing-service-prod-credentials")
    denied = wait_for(browser, "tr.denied")
    assert denied.find_element(By.CLASS_NAME, "who").text == f"arn:aws:iam::{ACCOUNT}:user/developer"
    assert "AccessDeniedException" in denied.find_element(By.CLASS_NAME, "reason").text
    shot(browser, "secret-access")

    # The refusal is audited as the developer's console call.
    ct = client(console, "cloudtrail")
    records = [json.loads(e["CloudTrailEvent"]) for e in ct.lookup_events(LookupAttributes=[
        {"AttributeKey": "Username", "AttributeValue": "developer"}])["Events"]]
    denied = [r for r in records if r["eventName"] == "GetSecretValue"
              and r.get("errorCode") == "AccessDeniedException"]
    assert denied and denied[0]["sessionCredentialFromConsole"] == "true"
    navigate(browser, browser.find_element(By.ID, "signout"))
    wait_for(browser, "#access_key_id")


def test_xss_payloads_are_shown_as_text_and_never_run(console, browser):
    sm = client(console, "secretsmanager")
    payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>"\'&'
    sm.create_secret(Name="xss-service-test-probe", SecretString=secret("xss"),
                     Description=payload)
    sign_in(browser, console, ACCESS_KEY, SECRET_KEY)
    wait_for(browser, "table#secrets")
    browser.get(console.endpoint + "/console/secrets?q=xss")
    cell = wait_for(browser, "td.description")
    assert cell.text == payload
    assert browser.execute_script("return window.__xss === undefined")
    browser.get(console.endpoint + "/console/secret?id=xss-service-test-probe")
    assert wait_for(browser, "#description").text == payload
    assert browser.execute_script("return window.__xss === undefined")
    assert not browser.find_elements(By.CSS_SELECTOR, "main img")
    # A name the API refuses never reaches a page; a name in the query string is text too.
    browser.get(console.endpoint + "/console/secret?id=" + requests.utils.quote(payload))
    assert wait_for(browser, "#secret-name").text == payload
    assert browser.execute_script("return window.__xss === undefined")
    shot(browser, "xss-inert")
    # A value is attacker-controlled too: shown as text, in the page and in the htmx fragment.
    value = secret("html") + "<script>window.__xss=3</script>"
    remember(value)
    sm.put_secret_value(SecretId="xss-service-test-probe", SecretString=value)
    s = http_sign_in(console)
    token = csrf_of(s, console, "/console/secret?id=xss-service-test-probe")
    for headers in ({}, {"HX-Request": "true"}):
        r = s.post(console.endpoint + "/console/secret/value", headers=headers,
                   data={"csrf": token, "id": "xss-service-test-probe"})
        assert r.status_code == 200
        # askama's escapes: < as &#60;, > as &#62;.
        assert value.replace("<", "&#60;").replace(">", "&#62;") in r.text, r.text
        assert "<script>window.__xss=3" not in r.text
        assert ("<html" in r.text) == (not headers)
    navigate(browser, browser.find_element(By.ID, "signout"))


def http_sign_in(server):
    s = requests.Session()
    r = s.post(server.endpoint + "/console/signin", allow_redirects=False,
               data={"access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY})
    assert r.status_code == 303, r.text
    return s


def csrf_of(session, server, path="/console/secrets/new"):
    page = session.get(server.endpoint + path).text
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def test_a_post_without_the_sessions_csrf_token_is_refused_and_changes_nothing(console):
    s = http_sign_in(console)
    token = csrf_of(s, console)
    sm = client(console, "secretsmanager")
    form = {"name": "csrf-service-test-probe", "kind": "kv", "key0": "k",
            "value0": secret("csrf")}
    for sent in ({}, {"csrf": "x" * len(token)}, {"csrf": ""}):
        r = s.post(console.endpoint + "/console/secrets/new", data={**form, **sent},
                   allow_redirects=False)
        assert r.status_code == 403, (sent, r.status_code)
        with pytest.raises(sm.exceptions.ResourceNotFoundException):
            sm.describe_secret(SecretId="csrf-service-test-probe")
    # Another session's token is no better.
    other = http_sign_in(console)
    r = s.post(console.endpoint + "/console/secrets/new",
               data={**form, "csrf": csrf_of(other, console)}, allow_redirects=False)
    assert r.status_code == 403
    # The right token from another site's page: refused (browsers name the page's origin).
    r = s.post(console.endpoint + "/console/secrets/new", data={**form, "csrf": token},
               headers={"Origin": "http://evil.example"}, allow_redirects=False)
    assert r.status_code == 403
    # A cross-site sign-in (no session token exists yet): refused by where it comes from.
    for headers in ({"Origin": "http://evil.example"},
                    {"Origin": "null", "Sec-Fetch-Site": "cross-site"}):
        r = requests.post(console.endpoint + "/console/signin", allow_redirects=False,
                          headers=headers,
                          data={"access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY})
        assert r.status_code == 403 and "set-cookie" not in r.headers, headers
    # No session at all: 403 too.
    r = requests.post(console.endpoint + "/console/secrets/new", data={**form, "csrf": token},
                      allow_redirects=False)
    assert r.status_code == 403
    # The right token (form field or htmx header) works: the refusals above were the token's.
    r = s.post(console.endpoint + "/console/secrets/new", data={**form, "csrf": token},
               allow_redirects=False)
    assert r.status_code == 303, r.text
    sm.describe_secret(SecretId="csrf-service-test-probe")
    r = s.post(console.endpoint + "/console/secret/delete", headers={"X-CSRF-Token": token},
               data={"id": "csrf-service-test-probe", "recovery_window_days": "7"},
               allow_redirects=False)
    assert r.status_code == 303
    assert "DeletedDate" in sm.describe_secret(SecretId="csrf-service-test-probe")


def test_the_form_checks_the_naming_convention(console):
    s = http_sign_in(console)
    token = csrf_of(s, console)
    r = s.post(console.endpoint + "/console/secrets/new", allow_redirects=False,
               data={"csrf": token, "name": "MyBadName", "kind": "plaintext",
                     "plaintext": secret("badname")})
    assert r.status_code == 200 and "does not follow the naming convention" in r.text
    with pytest.raises(client(console, "secretsmanager").exceptions.ResourceNotFoundException):
        client(console, "secretsmanager").describe_secret(SecretId="MyBadName")


def test_every_console_answer_carries_the_security_headers(console):
    s = http_sign_in(console)
    for path in ("/console/signin", "/console/secrets", "/console/secrets/new",
                 "/console/static/console.js", "/console/nowhere"):
        r = s.get(console.endpoint + path, allow_redirects=False)
        assert r.headers["Content-Security-Policy"] == CSP, path
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        assert r.headers["Cache-Control"] == "no-store"
    # No inline script or style in the pages themselves (the CSP would block them anyway).
    page = s.get(console.endpoint + "/console/secrets/new").text
    assert not re.search(r"<script(?![^>]*\bsrc=)", page) and "<style" not in page
    assert not re.search(r"\son[a-z]+=", page) and "style=" not in page


def test_the_list_pages_with_listsecrets_next_token(console):
    sm = client(console, "secretsmanager")
    for i in range(30):
        sm.create_secret(Name=f"paging-service-test-s{i:02d}", SecretString=secret(f"page{i}"))
    s = http_sign_in(console)
    r = s.get(console.endpoint + "/console/secrets", params={"q": "paging-service"})
    first = re.findall(r'class="secret-link" href="[^"]+">([^<]+)<', r.text)
    assert first == [f"paging-service-test-s{i:02d}" for i in range(25)]
    nxt = html.unescape(re.search(r'id="next-page" href="([^"]+)"', r.text).group(1))
    assert "q=paging-service" in nxt and "next=" in nxt
    r = s.get(console.endpoint + nxt)
    second = re.findall(r'class="secret-link" href="[^"]+">([^<]+)<', r.text)
    assert second == [f"paging-service-test-s{i:02d}" for i in range(25, 30)]
    assert 'id="next-page"' not in r.text


def test_a_refusal_names_the_statement_that_denied(console):
    iam = client(console, "iam")
    iam.create_user(UserName="no-prod")
    iam.put_user_policy(UserName="no-prod", PolicyName="NoProd", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"},
            {"Sid": "NeverProd", "Effect": "Deny", "Action": "secretsmanager:GetSecretValue",
             "Resource": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:*-prod-*"}]}))
    key = iam.create_access_key(UserName="no-prod")["AccessKey"]
    remember(key["SecretAccessKey"])
    client(console, "secretsmanager").create_secret(Name="deny-service-prod-config",
                                                    SecretString=secret("deny"))
    s = requests.Session()
    r = s.post(console.endpoint + "/console/signin", allow_redirects=False,
               data={"access_key_id": key["AccessKeyId"],
                     "secret_access_key": key["SecretAccessKey"]})
    assert r.status_code == 303
    token = csrf_of(s, console, "/console/secret?id=deny-service-prod-config")
    r = s.post(console.endpoint + "/console/secret/value",
               data={"csrf": token, "id": "deny-service-prod-config"})
    assert "with an explicit deny in an identity-based policy" in r.text
    decided = re.search(r'class="decided-by">([^<]+)<', r.text).group(1)
    assert "ExplicitDeny" in decided and "NeverProd" in decided and "statement 2" in decided
    # Deactivating the access key the session signed in with ends the session.
    iam.update_access_key(UserName="no-prod", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    r = s.get(console.endpoint + "/console/secrets", allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/console/signin"


def test_the_session_cookie_is_secure_over_tls():
    from test_tls import make_ca_and_cert
    d = os.path.join(work_dir("data"), f"console-tls-{uuid.uuid4().hex[:8]}")
    os.makedirs(d)
    tls = make_ca_and_cert(d)
    s = Server(name="console-tls", tls=tls)
    try:
        r = requests.post(s.endpoint + "/console/signin", allow_redirects=False, verify=tls["ca"],
                          data={"access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY})
        assert r.status_code == 303
        cookie = r.headers["Set-Cookie"]
        assert "; Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        assert s.stop() == 0


def test_a_session_expires_when_idle_and_at_its_absolute_limit():
    s_ = Server(name="console-expiry", extra_args=["--console-idle-timeout-secs", "2",
                                                   "--console-session-max-secs", "5"])
    try:
        s = http_sign_in(s_)
        assert s.get(s_.endpoint + "/console/secrets", allow_redirects=False).status_code == 200
        time.sleep(1.2)
        assert s.get(s_.endpoint + "/console/secrets", allow_redirects=False).status_code == 200
        time.sleep(2.5)
        r = s.get(s_.endpoint + "/console/secrets", allow_redirects=False)
        assert r.status_code == 303 and r.headers["Location"] == "/console/signin"
        # Active every second, the session still ends 5 s after sign-in.
        s = http_sign_in(s_)
        started = time.time()
        statuses = []
        while time.time() - started < 6.5:
            statuses.append((time.time() - started,
                             s.get(s_.endpoint + "/console/secrets",
                                   allow_redirects=False).status_code))
            time.sleep(1)
        assert all(code == 200 for t, code in statuses if t < 4.5), statuses
        assert statuses[-1][1] == 303, statuses
    finally:
        assert s_.stop() == 0


@pytest.mark.parametrize("how", ["flag", "config file"])
def test_console_off_serves_no_console_route(how):
    if how == "flag":
        args = ["--console", "off"]
    else:
        d = os.path.join(work_dir("data"), f"console-off-{uuid.uuid4().hex[:8]}")
        os.makedirs(d)
        cfg = os.path.join(d, "strongroom.toml")
        with open(cfg, "w") as f:
            f.write('console = "off"\n')
        args = ["--config", cfg]
    s = Server(name="console-off", extra_args=args)
    try:
        for path in ("/console", "/console/", "/console/signin", "/console/static/htmx.min.js"):
            assert requests.get(s.endpoint + path).status_code == 404, path
        r = requests.post(s.endpoint + "/console/signin",
                          data={"access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY})
        assert r.status_code == 404 and "set-cookie" not in r.headers
        # The API is still served.
        client(s, "secretsmanager").list_secrets()
    finally:
        assert s.stop() == 0


def test_nothing_secret_reaches_the_servers_log(console):
    """Runs last in this module: everything above has been logged by now."""
    s = http_sign_in(console)
    token = csrf_of(s, console)
    session_id = s.cookies["strongroom_console"]
    log = console.logs()
    for needle in (SECRET_KEY, token, session_id):
        assert needle not in log, needle[:6]
    assert "console sign-in" in log


def test_the_rotation_form_shows_the_next_runs_and_saves_a_window(console, browser):
    from datetime import datetime
    from selenium.webdriver.support.ui import WebDriverWait as Wait
    sign_in(browser, console, ACCESS_KEY, SECRET_KEY)
    wait_for(browser, "table#secrets")
    browser.get(console.endpoint + "/console/secrets/new")
    wait_for(browser, "#new-secret")
    Select(browser.find_element(By.ID, "rotation_function")).select_by_value(FUNCTION_ARN)
    schedule = browser.find_element(By.ID, "rotation_schedule")
    schedule.send_keys("rate(10 days)")
    browser.find_element(By.ID, "preview-schedule").click()
    runs = Wait(browser, 10).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, "#next-runs-list li"))
    dates = [datetime.strptime(li.text, "%Y-%m-%d %H:%M:%S UTC") for li in runs]
    assert len(dates) == 3
    assert all((b - a).days == 10 for a, b in zip(dates, dates[1:])), dates
    # A schedule the service refuses: its reason, not dates.
    schedule.clear()
    schedule.send_keys("cron(not a schedule)")
    browser.find_element(By.ID, "preview-schedule").click()
    assert Wait(browser, 10).until(
        lambda b: b.find_elements(By.ID, "next-runs-error"))[0].text
    shot(browser, "rotation-next-runs")
    # The window is saved with the rules.
    schedule.clear()
    schedule.send_keys("rate(10 days)")
    browser.find_element(By.ID, "rotation_window").send_keys("3h")
    browser.find_element(By.CSS_SELECTOR, "#kv-rows input[name^=key]").send_keys("token")
    browser.find_element(By.CSS_SELECTOR, "#kv-rows input[name^=value]").send_keys(secret("window"))
    browser.find_element(By.ID, "name").send_keys("window-service-test-token")
    navigate(browser, browser.find_element(By.ID, "store"))
    wait_for(browser, "#overview")
    rules = client(console, "secretsmanager").describe_secret(
        SecretId="window-service-test-token")["RotationRules"]
    assert rules.get("ScheduleExpression") == "rate(10 days)" and rules.get("Duration") == "3h", rules
