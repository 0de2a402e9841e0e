"""Console sign-in with an IAM user's console password (CreateLoginProfile), in Debian's
chromium: a password an administrator set with PasswordResetRequired must be changed first
(nothing else opens until then; IAM's ChangePassword called as the user, the account's
password policy enforced, audited without the passwords); the user then acts with its own
policies; repeated failures lock the user out, even with the right password; deleting the
login profile ends the user's console sessions."""
import json
import uuid

import pytest
import requests
from selenium.webdriver.common.by import By

from leaks import remember
from server import ACCOUNT, Server
from test_console import browser, client, navigate, shot, wait_for  # noqa: F401 (fixture)

MAX_FAILURES = 3


@pytest.fixture(scope="module")
def server():
    s = Server(name="console-password",
               extra_args=["--sign-in-max-failures", str(MAX_FAILURES)])
    yield s
    assert s.stop() == 0


def password_sign_in(browser, server, user, password):
    browser.delete_all_cookies()
    browser.get(server.endpoint + "/console/signin")
    wait_for(browser, "#user_name")
    browser.find_element(By.ID, "user_name").send_keys(user)
    browser.find_element(By.ID, "password").send_keys(password)
    navigate(browser, browser.find_element(By.ID, "signin-password"))


def user_with_password(server, password, reset_required, policy=None):
    iam = client(server, "iam")
    name = f"dana-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    if policy:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    iam.create_login_profile(UserName=name, Password=password,
                             PasswordResetRequired=reset_required)
    remember(password)
    return name


def test_a_password_that_must_be_reset_is_changed_first_then_the_user_acts_as_itself(
        server, browser):
    iam = client(server, "iam")
    iam.update_account_password_policy(MinimumPasswordLength=14, AllowUsersToChangePassword=True)
    first = "Initial-pass-0001"
    name = user_with_password(server, first, True, {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "secretsmanager:ListSecrets",
                       "Resource": "*"}]})

    password_sign_in(browser, server, name, "not-the-password-1")
    assert "incorrect" in wait_for(browser, "#signin-error").text
    assert browser.get_cookie("strongroom_console") is None

    password_sign_in(browser, server, name, first)
    wait_for(browser, "#password-required")
    assert browser.current_url.endswith("/console/password")
    shot(browser, "password-change")
    # Nothing else opens until the password is changed.
    browser.get(server.endpoint + "/console/secrets")
    wait_for(browser, "#password-required")
    assert browser.current_url.endswith("/console/password")

    def change(old, new, again=None):
        for field, value in (("old_password", old), ("new_password", new),
                             ("new_password_again", again or new)):
            browser.find_element(By.ID, field).send_keys(value)
        navigate(browser, browser.find_element(By.ID, "change"))

    # The account's policy: at least 14 characters, IAM's own message shown.
    change(first, "short-1")
    assert "PasswordPolicyViolation" in wait_for(browser, ".refusal").text
    change(first, "Another-pass-0002", "Mistyped-pass-0002")
    assert "do not match" in wait_for(browser, ".refusal").text
    second = "Another-pass-0002"
    remember(second)
    change(first, second)
    wait_for(browser, "table#secrets")
    assert browser.find_element(By.ID, "who").text == f"arn:aws:iam::{ACCOUNT}:user/{name}"

    # Its own policies: ListSecrets allowed, KMS not.
    browser.get(server.endpoint + "/console/kms")
    assert "AccessDenied" in wait_for(browser, ".refusal").text

    # Audited as console calls, the passwords in no record.
    ct = client(server, "cloudtrail")
    records = [json.loads(e["CloudTrailEvent"]) for e in ct.lookup_events(LookupAttributes=[
        {"AttributeKey": "Username", "AttributeValue": name}])["Events"]]
    changes = [r for r in records if r["eventName"] == "ChangePassword"]
    assert [r.get("errorCode") for r in changes].count(None) == 1, changes
    assert all(r.get("sessionCredentialFromConsole") == "true" for r in changes), changes
    logins = [r for r in records if r["eventName"] == "ConsoleLogin"]
    assert [r["responseElements"]["ConsoleLogin"] for r in logins].count("Success") == 1
    assert all(r["eventType"] == "AwsConsoleSignIn" for r in logins), logins
    text = json.dumps(records)
    assert first not in text and second not in text

    # Signed out and in again with the new password: no change asked.
    navigate(browser, browser.find_element(By.ID, "signout"))
    password_sign_in(browser, server, name, second)
    wait_for(browser, "table#secrets")
    # An administrator removes the console password: the session ends.
    iam.delete_login_profile(UserName=name)
    browser.get(server.endpoint + "/console/secrets")
    wait_for(browser, "#user_name")
    assert browser.current_url.endswith("/console/signin")


def test_repeated_failures_lock_the_user_out_even_with_the_right_password(server, browser):
    password = "Locked-out-pass-03"
    name = user_with_password(server, password, False)
    for _ in range(MAX_FAILURES):
        password_sign_in(browser, server, name, "wrong-password-000")
        wait_for(browser, "#signin-error")
    password_sign_in(browser, server, name, password)
    message = wait_for(browser, "#signin-error").text
    # The same words as any failure: a lock tells nothing an attacker could use.
    assert "incorrect" in message
    assert browser.get_cookie("strongroom_console") is None
    # Another user is not locked.
    other_password = "Other-user-pass-04"
    other = user_with_password(server, other_password, False)
    password_sign_in(browser, server, other, other_password)
    wait_for(browser, "table#secrets")


def test_a_password_sign_in_from_another_site_is_refused(server):
    r = requests.post(server.endpoint + "/console/signin",
                      data={"user_name": "x", "password": "y"},
                      headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
                      allow_redirects=False, timeout=10)
    assert r.status_code == 403
