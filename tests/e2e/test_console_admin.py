"""The console's admin pages in Debian's chromium (headless, Selenium), each checked against
what boto3 then sees: a secret's staging labels (moving AWSCURRENT) and resource policy
(ValidateResourcePolicy's findings, BlockPublicPolicy), Parameter Store parameters (a
SecureString's value only in the answer to a POST, never in a URL), KMS keys (created,
disabled, rotation, deletion), IAM (a user with an access key shown once that signs boto3
requests until the console deactivates it; roles created, given policies and deleted;
managed policies' versions listed, made default and deleted, and the policy deleted; a refusal
with AWS's message and the deciding statement), a secret's replication (replicate to a region with a KMS key, remove one, promote
a replica in its own region). Markup in names, values and descriptions is shown as text.

Fixtures and helpers come from test_console.py (the same server options and browser);
screenshots go to the same artifacts directory.
"""
import html
import json
import re
import uuid

import boto3
import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from leaks import remember, secret
from server import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, Server
from test_console import (  # noqa: F401 (fixtures)
    browser, browser_problems, client, console, csrf_of, http_sign_in, shot, sign_in, wait_for)

# Values that must never reach the server's log or the audit records (checked last).
SHOWN_ONCE = []
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>"\'&'


TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})
ALLOW_LIST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "secretsmanager:ListSecrets", "Resource": "*"}]})


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def no_xss(browser):
    return browser.execute_script("return window.__xss === undefined")


def submit(browser, element, css):
    """Click `element` (a submit button) and wait for the next page's `css`."""
    old = browser.find_element(By.TAG_NAME, "html")
    # A DOM click, as test_console's navigate(): chromedriver's own click can report the page
    # it just left as an error (seen once under load).
    browser.execute_script("arguments[0].click()", element)
    WebDriverWait(browser, 15).until(EC.staleness_of(old))
    return wait_for(browser, css)


def root_in(browser, console):
    sign_in(browser, console, ACCESS_KEY, SECRET_KEY)
    wait_for(browser, "#who")


def test_moving_awscurrent_in_the_console_is_seen_by_boto3(console, browser):
    sm = client(console, "secretsmanager")
    name = unique("stages-service-test-config")
    first, second = secret("stage-v1"), secret("stage-v2")
    v1 = sm.create_secret(Name=name, SecretString=first)["VersionId"]
    v2 = sm.put_secret_value(SecretId=name, SecretString=second)["VersionId"]
    assert sm.get_secret_value(SecretId=name)["SecretString"] == second

    root_in(browser, console)
    browser.get(console.endpoint + "/console/secret?id=" + name)
    submit(browser, wait_for(browser, "#versions-link"), "#versions")
    form = browser.find_element(By.CSS_SELECTOR, 'form.move-stage[data-stage="AWSCURRENT"]')
    assert form.get_attribute("data-from") == v2
    Select(form.find_element(By.NAME, "to")).select_by_value(v1)
    shot(browser, "secret-versions")
    submit(browser, form.find_element(By.CSS_SELECTOR, "button.move"), "#versions")

    # boto3 sees the move: the first value is current again, AWSPREVIOUS followed.
    assert sm.get_secret_value(SecretId=name)["SecretString"] == first
    stages = {v["VersionId"]: v["VersionStages"] for v in
              sm.list_secret_version_ids(SecretId=name)["Versions"]}
    assert stages[v1] == ["AWSCURRENT"] and stages[v2] == ["AWSPREVIOUS"]
    row = browser.find_element(By.CSS_SELECTOR, f'tr.version[data-version="{v1}"]')
    assert [s.text for s in row.find_elements(By.CSS_SELECTOR, ".stage")] == ["AWSCURRENT"]

    # A label of one's own, attached then removed.
    browser.find_element(By.ID, "new-stage").send_keys("BLUE")
    Select(browser.find_element(By.ID, "new-stage-version")).select_by_value(v2)
    submit(browser, browser.find_element(By.ID, "add-stage-submit"), "#versions")
    stages = {v["VersionId"]: v["VersionStages"] for v in
              sm.list_secret_version_ids(SecretId=name)["Versions"]}
    assert "BLUE" in stages[v2]
    form = browser.find_element(By.CSS_SELECTOR, 'form.move-stage[data-stage="BLUE"]')
    Select(form.find_element(By.NAME, "to")).select_by_value("")
    submit(browser, form.find_element(By.CSS_SELECTOR, "button.move"), "#versions")
    stages = {v["VersionId"]: v["VersionStages"] for v in
              sm.list_secret_version_ids(SecretId=name)["Versions"]}
    assert "BLUE" not in stages.get(v2, [])

    # AWS's own refusal shown for an impossible move (the label is not on that version).
    s = http_sign_in(console)
    token = csrf_of(s, console, "/console/secret/versions?id=" + name)
    r = s.post(console.endpoint + "/console/secret/stage",
               data={"csrf": token, "id": name, "stage": "AWSCURRENT", "to": v2, "from": v2 + "x"})
    assert r.status_code == 200 and "InvalidParameterException" in r.text
    assert sm.get_secret_value(SecretId=name)["SecretString"] == first
    assert browser_problems(browser) == []


def test_a_public_resource_policy_is_refused_with_its_finding_shown(console, browser):
    sm = client(console, "secretsmanager")
    name = unique("policy-service-test-config")
    sm.create_secret(Name=name, SecretString=secret("policy"))
    public = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "secretsmanager:GetSecretValue",
        "Resource": "*"}]})
    narrow = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})

    root_in(browser, console)
    browser.get(console.endpoint + "/console/secret?id=" + name)
    wait_for(browser, "#policy-link").click()
    editor = wait_for(browser, "#policy")
    assert browser.find_element(By.ID, "block_public").is_selected()
    # Validate first: the finding, nothing saved.
    editor.send_keys(public)
    submit(browser, browser.find_element(By.ID, "validate-policy"), "#findings")
    assert browser.find_elements(By.ID, "validation-failed")
    checks = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#findings .check")]
    assert "PUBLIC_ACCESS" in checks
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId=name)
    # Save with BlockPublicPolicy (ticked by default): refused, and the finding still shown.
    browser.find_element(By.ID, "save-policy").click()
    refusal = wait_for(browser, ".refusal")
    assert "PublicPolicyException" in refusal.text and "BlockPublicPolicy" in refusal.text
    assert "PUBLIC_ACCESS" in browser.find_element(By.ID, "findings").text
    shot(browser, "secret-policy-refused")
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId=name)

    # The account's own root: passes, saved, seen by boto3.
    editor = browser.find_element(By.ID, "policy")
    editor.clear()
    editor.send_keys(narrow)
    submit(browser, browser.find_element(By.ID, "save-policy"), "#notice")
    assert browser.find_elements(By.ID, "validation-passed")
    assert json.loads(sm.get_resource_policy(SecretId=name)["ResourcePolicy"]) == json.loads(narrow)
    # Reloaded, the stored document is in the editor; then deleted.
    browser.get(console.endpoint + "/console/secret/policy?id=" + name)
    assert json.loads(wait_for(browser, "#policy").get_attribute("value")) == json.loads(narrow)
    submit(browser, browser.find_element(By.ID, "delete-policy"), "#notice")
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId=name)
    assert browser_problems(browser) == []


def test_parameters_created_in_the_console_are_read_back_by_boto3(console, browser):
    ssm, kms = client(console, "ssm"), client(console, "kms")
    base = f"/console-test/{uuid.uuid4().hex[:8]}"
    key_id = kms.create_key(Description="parameters")["KeyMetadata"]["KeyId"]
    alias = f"alias/{unique('params')}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    password = secret("ssm-password")
    SHOWN_ONCE.append(password)

    root_in(browser, console)
    submit(browser, browser.find_element(By.LINK_TEXT, "Parameters"), "#parameters")
    browser.find_element(By.ID, "new-parameter").click()
    wait_for(browser, "#new-parameter-form")
    browser.find_element(By.ID, "name").send_keys(f"{base}/db-password")
    browser.find_element(By.ID, "description").send_keys(XSS)
    browser.find_element(By.ID, "type-securestring").click()
    Select(browser.find_element(By.ID, "kms_key")).select_by_value(alias)
    browser.find_element(By.ID, "value").send_keys(password)
    shot(browser, "parameter-new")
    browser.find_element(By.ID, "create").click()

    # The page: the description as text, the value nowhere until asked for, by POST.
    wait_for(browser, "#overview")
    assert browser.find_element(By.ID, "type").text == "SecureString"
    assert browser.find_element(By.ID, "description").text == XSS and no_xss(browser)
    assert password not in browser.page_source and password not in browser.current_url
    got = ssm.get_parameter(Name=f"{base}/db-password", WithDecryption=True)["Parameter"]
    assert got["Value"] == password and got["Type"] == "SecureString"
    assert ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [
        f"{base}/db-password"]}])["Parameters"][0]["KeyId"] == alias
    browser.find_element(By.ID, "show-value").click()
    assert wait_for(browser, "#decrypted-value").text == password
    assert password not in browser.current_url
    shot(browser, "parameter-value")

    # Edit: a new version, seen by boto3; the history lists both, without values.
    edited = secret("ssm-edited")
    SHOWN_ONCE.append(edited)
    browser.find_element(By.CSS_SELECTOR, "#value-section summary").click()
    browser.find_element(By.ID, "new-value").send_keys(edited)
    submit(browser, browser.find_element(By.ID, "save"), "#history")
    assert browser.find_element(By.ID, "version").text == "2"
    assert ssm.get_parameter(Name=f"{base}/db-password", WithDecryption=True)[
        "Parameter"]["Value"] == edited
    versions = [td.text for td in browser.find_elements(By.CSS_SELECTOR, ".history-version")]
    assert versions == ["2", "1"]
    assert edited not in browser.page_source and password not in browser.page_source
    shot(browser, "parameter-detail")
    # Every version's value, on request (a POST; htmx swaps the table in).
    browser.find_element(By.ID, "show-history-values").click()
    wait_for(browser, "#history-with-values")
    assert [v.text for v in browser.find_elements(By.CSS_SELECTOR, ".history-value")] == [
        edited, password]
    assert edited not in browser.current_url

    # A String whose value is markup: shown (no secret) as text; a StringList.
    browser.get(console.endpoint + "/console/parameters/new")
    browser.find_element(By.ID, "name").send_keys(f"{base}/banner")
    browser.find_element(By.ID, "value").send_keys(XSS)
    browser.find_element(By.ID, "create").click()
    assert wait_for(browser, "#plain-value").text == XSS and no_xss(browser)
    assert ssm.get_parameter(Name=f"{base}/banner")["Parameter"]["Value"] == XSS
    browser.get(console.endpoint + "/console/parameters/new")
    browser.find_element(By.ID, "name").send_keys(f"{base}/hosts")
    browser.find_element(By.ID, "type-stringlist").click()
    browser.find_element(By.ID, "value").send_keys("a.example,b.example")
    submit(browser, browser.find_element(By.ID, "create"), "#overview")
    assert ssm.get_parameter(Name=f"{base}/hosts")["Parameter"]["Type"] == "StringList"

    # The list: by path, by name, by type.
    browser.get(console.endpoint + "/console/parameters?path=" + base)
    names = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "a.parameter-link")]
    assert sorted(names) == sorted([f"{base}/db-password", f"{base}/banner", f"{base}/hosts"])
    assert no_xss(browser)
    shot(browser, "parameters-list")
    browser.get(console.endpoint + f"/console/parameters?path={base}&type=SecureString")
    assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, "a.parameter-link")] == [
        f"{base}/db-password"]
    browser.get(console.endpoint + "/console/parameters?q=" + base.rsplit("/", 1)[1])
    assert len(browser.find_elements(By.CSS_SELECTOR, "a.parameter-link")) == 3

    # Delete.
    browser.get(console.endpoint + "/console/parameter?name=" + f"{base}/banner")
    submit(browser, wait_for(browser, "#delete"), "#parameters")
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=f"{base}/banner")
    assert browser_problems(browser) == []


def test_the_parameter_list_pages_and_a_bad_value_is_refused_in_awss_words(console):
    ssm = client(console, "ssm")
    base = f"/paging-test/{uuid.uuid4().hex[:8]}"
    for i in range(30):
        ssm.put_parameter(Name=f"{base}/p{i:02d}", Value=f"v{i}", Type="String")
    s = http_sign_in(console)
    r = s.get(console.endpoint + "/console/parameters", params={"path": base})
    first = re.findall(r'class="parameter-link" href="[^"]+">([^<]+)<', r.text)
    assert len(first) == 25
    nxt = html.unescape(re.search(r'id="next-page" href="([^"]+)"', r.text).group(1))
    assert "next=" in nxt and "path=" in nxt
    second = re.findall(r'class="parameter-link" href="[^"]+">([^<]+)<',
                        s.get(console.endpoint + nxt).text)
    assert sorted(first + second) == [f"{base}/p{i:02d}" for i in range(30)]
    # A name SSM refuses: AWS's error, the value typed not echoed back.
    token = csrf_of(s, console, "/console/parameters/new")
    value = secret("ssm-refused")
    r = s.post(console.endpoint + "/console/parameters/new", data={
        "csrf": token, "name": "aws-reserved", "type": "SecureString", "value": value})
    assert r.status_code == 200 and "ValidationException" in r.text, r.text
    assert value not in r.text
    # Without the CSRF token nothing is created.
    r = s.post(console.endpoint + "/console/parameters/new", allow_redirects=False,
               data={"name": f"{base}/csrf", "type": "String", "value": "x"})
    assert r.status_code == 403
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=f"{base}/csrf")


def test_a_kms_key_created_and_disabled_in_the_console_is_disabled_for_boto3(console, browser):
    kms = client(console, "kms")
    alias = f"alias/{unique('console-key')}"
    root_in(browser, console)
    submit(browser, browser.find_element(By.LINK_TEXT, "KMS keys"), "#keys")
    browser.find_element(By.ID, "new-key").click()
    wait_for(browser, "#new-key-form")
    browser.find_element(By.ID, "description").send_keys(XSS)
    browser.find_element(By.ID, "alias").send_keys(alias.removeprefix("alias/"))
    shot(browser, "kms-new")
    submit(browser, browser.find_element(By.ID, "create"), "#overview")
    key_id = browser.find_element(By.ID, "key-id").text
    assert browser.find_element(By.ID, "description").text == XSS and no_xss(browser)
    assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#aliases .alias")] == [alias]
    assert browser.find_element(By.ID, "key-state").text == "Enabled"
    meta = kms.describe_key(KeyId=alias)["KeyMetadata"]
    assert meta["KeyId"] == key_id and meta["Description"] == XSS and meta["Enabled"]

    # Disable: boto3's describe_key says Disabled; enable again.
    submit(browser, browser.find_element(By.ID, "disable"), "#enable")
    assert browser.find_element(By.ID, "key-state").text == "Disabled"
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Disabled" and not meta["Enabled"]
    shot(browser, "kms-key-disabled")
    submit(browser, browser.find_element(By.ID, "enable"), "#disable")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"

    # Automatic rotation on, then off.
    submit(browser, browser.find_element(By.ID, "rotation-on"), "#rotation-off")
    assert browser.find_element(By.ID, "rotation-status").text == "enabled"
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]
    submit(browser, browser.find_element(By.ID, "rotation-off"), "#rotation-on")
    assert not kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]

    # Schedule deletion (7 days), then cancel it.
    days = browser.find_element(By.ID, "days")
    days.clear()
    days.send_keys("7")
    submit(browser, browser.find_element(By.ID, "schedule-deletion"), "#cancel-deletion")
    assert browser.find_element(By.ID, "key-state").text == "PendingDeletion"
    assert browser.find_element(By.ID, "deletion-date").text
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion" and "DeletionDate" in meta
    submit(browser, browser.find_element(By.ID, "cancel-deletion"), "#overview")
    # AWS leaves a key Disabled after its deletion is cancelled.
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"

    # The list: the key with its alias and state.
    browser.get(console.endpoint + "/console/kms")
    row = wait_for(browser, f'tr.key[data-key="{key_id}"]')
    assert row.find_element(By.CSS_SELECTOR, ".aliases").text == alias
    assert row.find_element(By.CSS_SELECTOR, ".state").text == "Disabled"
    assert no_xss(browser)
    shot(browser, "kms-keys")

    # A window AWS refuses: its message, the key unchanged.
    s = http_sign_in(console)
    token = csrf_of(s, console, "/console/kms/key?id=" + key_id)
    r = s.post(console.endpoint + "/console/kms/key",
               data={"csrf": token, "id": key_id, "action": "schedule-deletion", "days": "3"})
    assert "ValidationException" in r.text and "PendingWindowInDays must be between 7 and 30" in r.text, r.text
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
    assert browser_problems(browser) == []


def test_an_iam_user_made_in_the_console_signs_requests_until_deactivated(console, browser):
    iam = client(console, "iam")
    user = unique("console-made")
    policy_name = unique("ListSecretsOnly")
    root_in(browser, console)
    submit(browser, browser.find_element(By.LINK_TEXT, "IAM"), "#users")

    # A managed policy from JSON (its description is markup, shown as text).
    browser.find_element(By.ID, "iam-policies").click()
    wait_for(browser, "#new-policy-form")
    browser.find_element(By.ID, "policy-name").send_keys(policy_name)
    browser.find_element(By.ID, "policy-description").send_keys(XSS)
    browser.find_element(By.ID, "policy-document").send_keys(json.dumps({
        "Version": "2012-10-17", "Statement": [{"Sid": "List", "Effect": "Allow",
                                                "Action": "secretsmanager:ListSecrets",
                                                "Resource": "*"}]}))
    submit(browser, browser.find_element(By.ID, "create-policy"), "#overview")
    policy_arn = browser.find_element(By.ID, "policy-arn").text
    assert browser.find_element(By.ID, "description").text == XSS and no_xss(browser)
    assert json.loads(browser.find_element(By.ID, "policy-document").text)["Statement"][0][
        "Sid"] == "List"
    assert iam.get_policy(PolicyArn=policy_arn)["Policy"]["PolicyName"] == policy_name
    shot(browser, "iam-policy")

    # The user, the policy attached, an inline policy (made by boto3) shown.
    browser.find_element(By.ID, "iam-users").click()
    wait_for(browser, "#new-user-form")
    browser.find_element(By.ID, "new-user-name").send_keys(user)
    submit(browser, browser.find_element(By.ID, "create-user"), "#access-keys")
    assert browser.find_element(By.ID, "user-name").text == user
    iam.get_user(UserName=user)
    Select(browser.find_element(By.ID, "policy_arn")).select_by_value(policy_arn)
    submit(browser, browser.find_element(By.ID, "attach"), "#managed-policies")
    assert [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user)[
        "AttachedPolicies"]] == [policy_arn]
    iam.put_user_policy(UserName=user, PolicyName="ReadOne", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action":
            "secretsmanager:DescribeSecret", "Resource": "*"}]}))
    browser.refresh()
    assert wait_for(browser, ".inline-name").text == "ReadOne"
    assert "secretsmanager:DescribeSecret" in browser.find_element(
        By.CSS_SELECTOR, ".inline-document").text

    # An access key: its secret shown once, in the answer to the POST only.
    submit(browser, browser.find_element(By.ID, "create-key"), "#new-key")
    key_id = browser.find_element(By.ID, "new-access-key-id").text
    secret_key = browser.find_element(By.ID, "new-secret-access-key").text
    remember(secret_key)
    SHOWN_ONCE.append(secret_key)
    assert len(secret_key) == 40 and secret_key not in browser.current_url
    shot(browser, "iam-access-key-once")
    submit(browser, browser.find_element(By.ID, "back"), "#access-keys")
    assert secret_key not in browser.page_source
    row = browser.find_element(By.CSS_SELECTOR, f'tr.access-key[data-key="{key_id}"]')
    assert row.find_element(By.CSS_SELECTOR, ".key-status").text == "Active"
    shot(browser, "iam-user")

    # boto3 signs with it: the attached policy allows ListSecrets, nothing else.
    sm = client(console, "secretsmanager", key_id, secret_key)
    sm.list_secrets()
    with pytest.raises(sm.exceptions.ClientError) as e:
        sm.get_random_password()
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"

    # Deactivated in the console: refused.
    row = browser.find_element(By.CSS_SELECTOR, f'tr.access-key[data-key="{key_id}"]')
    submit(browser, row.find_element(By.CSS_SELECTOR, "button.deactivate"), "#access-keys")
    row = browser.find_element(By.CSS_SELECTOR, f'tr.access-key[data-key="{key_id}"]')
    assert row.find_element(By.CSS_SELECTOR, ".key-status").text == "Inactive"
    assert iam.list_access_keys(UserName=user)["AccessKeyMetadata"][0]["Status"] == "Inactive"
    with pytest.raises(sm.exceptions.ClientError) as e:
        sm.list_secrets()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403)
    # Activated again, it works; then deleted, it never will.
    row = browser.find_element(By.CSS_SELECTOR, f'tr.access-key[data-key="{key_id}"]')
    submit(browser, row.find_element(By.CSS_SELECTOR, "button.activate"), "#access-keys")
    sm.list_secrets()
    row = browser.find_element(By.CSS_SELECTOR, f'tr.access-key[data-key="{key_id}"]')
    submit(browser, row.find_element(By.CSS_SELECTOR, "button.delete-key"), "#access-keys")
    assert iam.list_access_keys(UserName=user)["AccessKeyMetadata"] == []

    # Deleting a user that still has policies: IAM's DeleteConflict, shown.
    submit(browser, browser.find_element(By.ID, "delete-user"), "#headline")
    assert "DeleteConflict" in browser.find_element(By.CSS_SELECTOR, ".refusal").text
    iam.delete_user_policy(UserName=user, PolicyName="ReadOne")
    browser.get(console.endpoint + "/console/iam/user?name=" + user)
    submit(browser, wait_for(browser, "button.detach"), "#managed-policies")
    assert iam.list_attached_user_policies(UserName=user)["AttachedPolicies"] == []
    submit(browser, browser.find_element(By.ID, "delete-user"), "#users")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=user)
    assert browser_problems(browser) == []


def test_iam_roles_policies_and_markup_are_shown_as_text(console, browser):
    iam = client(console, "iam")
    role = unique("console-role")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust),
                    Description="<b>role</b> & co")
    iam.put_role_policy(RoleName=role, PolicyName="Inline", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt",
                                                "Resource": "*"}]}))
    root_in(browser, console)
    browser.get(console.endpoint + "/console/iam/roles")
    wait_for(browser, "#roles")
    link = [a for a in browser.find_elements(By.CSS_SELECTOR, "a.role-link") if a.text == role]
    assert link
    shot(browser, "iam-roles")
    submit(browser, link[0], "#trust")
    assert json.loads(browser.find_element(By.ID, "trust-document").text) == trust
    assert browser.find_element(By.ID, "description").text == "<b>role</b> & co"
    assert not browser.find_elements(By.CSS_SELECTOR, "main b")
    assert "kms:Decrypt" in browser.find_element(By.CSS_SELECTOR, ".inline-document").text

    # A name IAM refuses, with markup: AWS's validation message, the markup inert.
    s = http_sign_in(console)
    token = csrf_of(s, console, "/console/iam")
    r = s.post(console.endpoint + "/console/iam/users/new",
               data={"csrf": token, "name": XSS})
    assert r.status_code == 200 and "ValidationError" in r.text
    assert "<script>" not in r.text and "<img" not in r.text
    # A malformed document: MalformedPolicyDocument, nothing created.
    r = s.post(console.endpoint + "/console/iam/policies/new",
               data={"csrf": token, "name": "Broken", "document": "{not json"})
    assert "MalformedPolicyDocument" in r.text
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_policy(PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/Broken")


def test_a_secrets_only_user_sees_iams_refusal_with_awss_message(console, browser):
    iam = client(console, "iam")
    user = unique("secrets-only")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="SecretsOnly", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Sid": "AllSecrets", "Effect": "Allow",
                                                "Action": "secretsmanager:*",
                                                "Resource": "*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    remember(key["SecretAccessKey"])
    sign_in(browser, console, key["AccessKeyId"], key["SecretAccessKey"])
    wait_for(browser, "table#secrets")
    browser.find_element(By.LINK_TEXT, "IAM").click()
    refusal = wait_for(browser, ".refusal")
    assert "AccessDenied" in refusal.text
    assert f"User: arn:aws:iam::{ACCOUNT}:user/{user} is not authorized to perform: iam:ListUsers" \
        in refusal.text
    assert "because no identity-based policy allows the iam:ListUsers action" in refusal.text
    assert "implicit deny" in refusal.find_element(By.CLASS_NAME, "decided-by").text
    assert not browser.find_elements(By.CSS_SELECTOR, "a.user-link")
    shot(browser, "iam-refused")
    for path in ("/console/iam/roles", "/console/iam/policies", "/console/kms",
                 "/console/parameters"):
        browser.get(console.endpoint + path)
        assert "is not authorized to perform" in wait_for(browser, ".refusal").text, path
    # An action refused: the same, and nothing done.
    browser.get(console.endpoint + "/console/iam")
    wait_for(browser, "#new-user-name").send_keys(user + "-child")
    submit(browser, browser.find_element(By.ID, "create-user"), ".refusal")
    assert "iam:CreateUser" in browser.find_element(By.CSS_SELECTOR, ".refusal").text
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=user + "-child")
    # Refusals are audited as the user's console calls.
    ct = client(console, "cloudtrail")
    records = [json.loads(e["CloudTrailEvent"]) for e in ct.lookup_events(LookupAttributes=[
        {"AttributeKey": "Username", "AttributeValue": user}])["Events"]]
    denied = [r for r in records if r["eventName"] == "CreateUser"]
    assert denied and denied[0]["errorCode"] == "AccessDenied"
    assert denied[0]["sessionCredentialFromConsole"] == "true"
    assert denied[0]["eventSource"] == "iam.amazonaws.com"
    assert browser_problems(browser) == []


def test_admin_pages_carry_the_headers_and_refuse_posts_without_the_csrf_token(console):
    from test_console import CSP
    iam, kms, sm = client(console, "iam"), client(console, "kms"), client(console, "secretsmanager")
    user = unique("csrf-user")
    iam.create_user(UserName=user)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    name = unique("csrf-service-test-config")
    sm.create_secret(Name=name, SecretString=secret("csrf-admin"))
    role = unique("csrf-role")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    policy_arn = iam.create_policy(PolicyName=unique("CsrfPolicy"),
                                   PolicyDocument=ALLOW_LIST)["Policy"]["Arn"]
    # A second version, not the default: what the refused forms would make default or delete.
    iam.create_policy_version(PolicyArn=policy_arn, PolicyDocument=ALLOW_LIST)
    other_token = csrf_of(http_sign_in(console), console, "/console/iam/roles")
    s = http_sign_in(console)
    for path in ("/console/parameters", "/console/parameters/new", "/console/kms",
                 "/console/kms/new", f"/console/kms/key?id={key_id}", "/console/iam",
                 f"/console/iam/user?name={user}", "/console/iam/roles",
                 f"/console/iam/role?name={role}", f"/console/iam/policy?arn={policy_arn}",
                 "/console/iam/policies", f"/console/secret/policy?id={name}",
                 f"/console/secret/versions?id={name}"):
        r = s.get(console.endpoint + path, allow_redirects=False)
        assert r.status_code == 200, path
        assert r.headers["Content-Security-Policy"] == CSP, path
        assert r.headers["Cache-Control"] == "no-store" and r.headers["X-Frame-Options"] == "DENY"
        assert not re.search(r"<script(?![^>]*\bsrc=)", r.text) and "<style" not in r.text, path
        # (Inside tags: escaped markup in descriptions may read "onerror=" as text.)
        assert not re.search(r"<[^>]*\son[a-z]+=", r.text), path
        assert not re.search(r"<[^>]*\sstyle=", r.text), path
    # Each state-changing form, without the token: 403 and nothing done.
    refused = [
        ("/console/iam/user", {"name": user, "action": "create-key"}),
        ("/console/iam/user", {"name": user, "action": "delete-user"}),
        ("/console/iam/users/new", {"name": user + "-x"}),
        ("/console/iam/policies/new", {"name": "CsrfPolicy", "document": "{}"}),
        ("/console/kms/key", {"id": key_id, "action": "disable"}),
        ("/console/kms/new", {"description": "csrf"}),
        ("/console/secret/policy", {"id": name, "action": "save", "policy": "{}"}),
        ("/console/secret/stage", {"id": name, "stage": "X", "to": "v"}),
        ("/console/parameter/delete", {"name": "/x"}),
        ("/console/parameter/value", {"name": "/x"}),
        ("/console/iam/roles/new", {"name": role + "-x", "trust": TRUST}),
        ("/console/iam/role", {"name": role, "action": "delete-role"}),
        ("/console/iam/role", {"name": role, "action": "put-inline", "policy_name": "P",
                               "document": ALLOW_LIST}),
        ("/console/iam/policy", {"arn": policy_arn, "action": "new-version",
                                 "document": ALLOW_LIST, "set_default": "on"}),
        ("/console/iam/policy", {"arn": policy_arn, "action": "set-default",
                                 "version_id": "v2"}),
        ("/console/iam/policy", {"arn": policy_arn, "action": "delete-version",
                                 "version_id": "v2"}),
        ("/console/iam/policy", {"arn": policy_arn, "action": "delete-policy"}),
        ("/console/secret/replication", {"id": name, "action": "replicate",
                                         "replica_region": "eu-west-1"}),
        ("/console/secret/replication", {"id": name, "action": "promote"}),
    ]
    keys_before = len(kms.list_keys()["Keys"])
    for path, form in refused:
        r = s.post(console.endpoint + path, data=form, allow_redirects=False)
        assert r.status_code == 403, path
        # A token of another session is no token.
        r = s.post(console.endpoint + path, data={**form, "csrf": other_token},
                   allow_redirects=False)
        assert r.status_code == 403, path
    assert iam.list_access_keys(UserName=user)["AccessKeyMetadata"] == []
    iam.get_user(UserName=user)
    iam.get_role(RoleName=role)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=role + "-x")
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == []
    assert iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"] == "v1"
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in iam.list_policy_versions(
        PolicyArn=policy_arn)["Versions"]] == [("v2", False), ("v1", True)]
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Enabled"]
    assert len(kms.list_keys()["Keys"]) == keys_before


def test_a_replicated_secret_shows_its_replicas_status():
    s_ = Server(name="console-regions", extra_args=["--regions", f"{REGION},eu-west-1"])
    try:
        sm = client(s_, "secretsmanager")
        name = unique("replicated-service-prod-config")
        sm.create_secret(Name=name, SecretString=secret("replicated"),
                         AddReplicaRegions=[{"Region": "eu-west-1"}])
        s = http_sign_in(s_)
        r = s.get(s_.endpoint + "/console/secret/versions", params={"id": name})
        assert 'id="replicas"' in r.text and 'id="no-replication"' not in r.text
        assert re.search(r'class="replica-region"><a class="replica-link" [^>]*>eu-west-1<', r.text)
        status = sm.describe_secret(SecretId=name)["ReplicationStatus"][0]["Status"]
        assert re.search(rf'class="replica-status">{status}<', r.text)
        assert f'id="primary-region">{REGION}<' in r.text
        # A secret without replicas says so.
        sm.create_secret(Name=name + "-single", SecretString=secret("single"))
        r = s.get(s_.endpoint + "/console/secret/versions", params={"id": name + "-single"})
        assert 'id="no-replication"' in r.text
    finally:
        assert s_.stop() == 0


def test_an_explicit_deny_on_an_iam_action_is_named_and_the_kms_list_pages(console):
    iam, kms = client(console, "iam"), client(console, "kms")
    user = unique("no-delete")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="IamButNoDelete", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["iam:*", "kms:*"], "Resource": "*"},
            {"Sid": "NeverDeleteUsers", "Effect": "Deny", "Action": "iam:DeleteUser",
             "Resource": "*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    remember(key["SecretAccessKey"])
    victim = unique("victim")
    iam.create_user(UserName=victim)
    s = requests.Session()
    r = s.post(console.endpoint + "/console/signin", allow_redirects=False,
               data={"access_key_id": key["AccessKeyId"],
                     "secret_access_key": key["SecretAccessKey"]})
    assert r.status_code == 303
    token = csrf_of(s, console, "/console/iam/user?name=" + victim)
    r = s.post(console.endpoint + "/console/iam/user",
               data={"csrf": token, "name": victim, "action": "delete-user"})
    assert "with an explicit deny in an identity-based policy" in r.text, r.text
    decided = html.unescape(re.search(r'class="decided-by">([^<]+)<', r.text).group(1))
    assert "ExplicitDeny" in decided and "NeverDeleteUsers" in decided and "statement 2" in decided
    iam.get_user(UserName=victim)

    # The KMS list, 25 keys a page (ListKeys' Marker).
    for _ in range(26):
        kms.create_key(Description="paging")
    total = len(kms.list_keys(Limit=1000)["Keys"])
    r = s.get(console.endpoint + "/console/kms")
    first = re.findall(r'<tr class="key" data-key="([^"]+)"', r.text)
    assert len(first) == 25
    seen = list(first)
    while 'id="next-page"' in r.text:
        nxt = html.unescape(re.search(r'id="next-page" href="([^"]+)"', r.text).group(1))
        r = s.get(console.endpoint + nxt)
        seen += re.findall(r'<tr class="key" data-key="([^"]+)"', r.text)
    assert len(seen) == len(set(seen)) == total


def test_markup_in_the_query_of_any_admin_page_is_shown_as_text(console, browser):
    """Names come from the query string too (a link someone sent): every admin page shows
    them as text, with the service's answer for a name that does not exist."""
    root_in(browser, console)
    quoted = requests.utils.quote(XSS, safe="")
    for path, heading in (("/console/parameter?name=", "#parameter-name"),
                          ("/console/kms/key?id=", "#key-id"),
                          ("/console/iam/user?name=", "#user-name"),
                          ("/console/iam/role?name=", "#role-name"),
                          ("/console/iam/policy?arn=", "#policy-name"),
                          ("/console/secret/policy?id=", "#secret-name"),
                          ("/console/secret/versions?id=", "#secret-name")):
        browser.get(console.endpoint + path + quoted)
        wait_for(browser, ".refusal")
        if heading != "#policy-name":  # the policy's name comes from IAM, not the query
            assert browser.find_element(By.CSS_SELECTOR, heading).text == XSS, path
        assert no_xss(browser), path
        assert not browser.find_elements(By.CSS_SELECTOR, "main img, main script"), path
    shot(browser, "admin-xss-inert")
    assert browser_problems(browser) == []


def type_into(browser, element_id, text):
    field = browser.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(text)


def test_an_iam_role_made_in_the_console_gets_policies_and_is_deleted(console, browser):
    iam = client(console, "iam")
    role = unique("console-made-role")
    trust = json.loads(TRUST)
    policy_arn = iam.create_policy(PolicyName=unique("ForRoles"),
                                   PolicyDocument=ALLOW_LIST)["Policy"]["Arn"]
    inline = {"Version": "2012-10-17", "Statement": [{
        "Sid": "ReadConfig", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
        "Resource": "*"}]}
    root_in(browser, console)
    browser.get(console.endpoint + "/console/iam/roles")
    wait_for(browser, "#new-role-form")
    type_into(browser, "new-role-name", role)
    type_into(browser, "new-role-description", XSS)
    type_into(browser, "new-role-trust", TRUST)
    shot(browser, "iam-role-new")
    submit(browser, browser.find_element(By.ID, "create-role"), "#trust")
    assert browser.find_element(By.ID, "role-name").text == role
    assert browser.find_element(By.ID, "description").text == XSS and no_xss(browser)
    got = iam.get_role(RoleName=role)["Role"]
    assert got["AssumeRolePolicyDocument"] == trust and got["Description"] == XSS

    # A managed policy attached, seen by boto3, then detached.
    Select(browser.find_element(By.ID, "policy_arn")).select_by_value(policy_arn)
    submit(browser, browser.find_element(By.ID, "attach"), "#managed-policies")
    assert [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role)[
        "AttachedPolicies"]] == [policy_arn]
    assert browser.find_elements(By.CSS_SELECTOR, f'tr.attached[data-arn="{policy_arn}"]')

    # An inline policy put, read back by boto3.
    type_into(browser, "inline-policy-name", "ReadConfig")
    type_into(browser, "inline-policy-document", json.dumps(inline))
    submit(browser, browser.find_element(By.ID, "put-inline"), "#inline-policies")
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["ReadConfig"]
    assert iam.get_role_policy(RoleName=role, PolicyName="ReadConfig")[
        "PolicyDocument"] == inline
    assert browser.find_element(By.CSS_SELECTOR, ".inline-name").text == "ReadConfig"
    shot(browser, "iam-role")

    # Deleting a role that still has policies: IAM's DeleteConflict, shown; the role stays.
    submit(browser, browser.find_element(By.ID, "delete-role"), "#headline")
    assert "DeleteConflict" in browser.find_element(By.CSS_SELECTOR, ".refusal").text
    iam.get_role(RoleName=role)
    submit(browser, browser.find_element(By.ID, "back"), "#managed-policies")
    submit(browser, browser.find_element(
        By.CSS_SELECTOR, '.inline-policy[data-name="ReadConfig"] button.delete-inline'),
        "#inline-policies")
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == []
    submit(browser, browser.find_element(
        By.CSS_SELECTOR, f'tr.attached[data-arn="{policy_arn}"] button.detach'),
        "#managed-policies")
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    submit(browser, browser.find_element(By.ID, "delete-role"), "#roles")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=role)
    assert role not in [a.text for a in browser.find_elements(By.CSS_SELECTOR, "a.role-link")]

    # A trust policy that is not JSON: IAM's MalformedPolicyDocument, nothing created.
    s = http_sign_in(console)
    token = csrf_of(s, console, "/console/iam/roles")
    r = s.post(console.endpoint + "/console/iam/roles/new",
               data={"csrf": token, "name": role, "trust": "{not json"})
    assert r.status_code == 200 and "MalformedPolicyDocument" in r.text, r.text
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=role)
    assert browser_problems(browser) == []


def test_policy_versions_made_default_and_deleted_in_the_console_then_the_policy(
        console, browser):
    iam = client(console, "iam")
    arn = iam.create_policy(PolicyName=unique("Versioned"),
                            PolicyDocument=ALLOW_LIST)["Policy"]["Arn"]
    v2 = {"Version": "2012-10-17", "Statement": [{
        "Sid": "Second", "Effect": "Allow", "Action": "secretsmanager:DescribeSecret",
        "Resource": "*"}]}
    v3 = {"Version": "2012-10-17", "Statement": [{
        "Sid": "Third", "Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"}]}

    def default():
        return iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]

    root_in(browser, console)
    browser.get(console.endpoint + "/console/iam/policy?arn=" + arn)
    # The form starts from the default version's document.
    assert json.loads(wait_for(browser, "#new-version-document").get_attribute("value")) == \
        json.loads(ALLOW_LIST)
    assert browser.find_element(By.ID, "set-default").is_selected()
    type_into(browser, "new-version-document", json.dumps(v2))
    submit(browser, browser.find_element(By.ID, "create-version"), "#policy-versions")
    assert default() == "v2"
    assert iam.get_policy_version(PolicyArn=arn, VersionId="v2")["PolicyVersion"][
        "Document"] == v2
    assert browser.find_element(By.ID, "default-version").text == "v2"
    assert json.loads(browser.find_element(By.ID, "policy-document").text) == v2
    shot(browser, "iam-policy-version")

    # Not ticked: a new version that is not the default.
    type_into(browser, "new-version-document", json.dumps(v3))
    browser.find_element(By.ID, "set-default").click()
    submit(browser, browser.find_element(By.ID, "create-version"), "#policy-versions")
    assert default() == "v2"
    got = iam.get_policy_version(PolicyArn=arn, VersionId="v3")["PolicyVersion"]
    assert got["Document"] == v3 and not got["IsDefaultVersion"]
    assert browser.find_element(By.ID, "default-version").text == "v2"
    # A document IAM refuses: its message, no version made.
    type_into(browser, "new-version-document", "{not json")
    submit(browser, browser.find_element(By.ID, "create-version"), "#headline")
    assert "MalformedPolicyDocument" in browser.find_element(By.CSS_SELECTOR, ".refusal").text
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_policy_version(PolicyArn=arn, VersionId="v4")

    # A policy with several versions is not deleted: IAM's DeleteConflict, shown.
    submit(browser, browser.find_element(By.ID, "back"), "#delete-policy")
    submit(browser, browser.find_element(By.ID, "delete-policy"), "#headline")
    assert "DeleteConflict" in browser.find_element(By.CSS_SELECTOR, ".refusal").text
    iam.get_policy(PolicyArn=arn)

    # The versions, newest first, the default marked and without buttons of its own.
    submit(browser, browser.find_element(By.ID, "back"), "#policy-versions")

    def rows():
        return [(r.get_attribute("data-version"),
                 r.find_element(By.CSS_SELECTOR, ".version-default").text,
                 len(r.find_elements(By.CSS_SELECTOR, "button")))
                for r in browser.find_elements(By.CSS_SELECTOR, "tr.policy-version")]

    def row_button(version, css):
        return browser.find_element(
            By.CSS_SELECTOR, f'tr.policy-version[data-version="{version}"] {css}')

    assert rows() == [("v3", "", 2), ("v2", "Default", 0), ("v1", "", 2)]
    shot(browser, "iam-policy-versions")
    # "Make default" on v1: boto3 sees v1 in effect, the page shows its document.
    submit(browser, row_button("v1", "button.make-default"), "#policy-versions")
    assert default() == "v1"
    assert browser.find_element(By.ID, "default-version").text == "v1"
    assert json.loads(browser.find_element(By.ID, "policy-document").text) == \
        json.loads(ALLOW_LIST)
    assert rows() == [("v3", "", 2), ("v2", "", 2), ("v1", "Default", 0)]
    # The default version's Delete, posted all the same: AWS's DeleteConflict message, shown.
    s = http_sign_in(console)
    token = csrf_of(s, console, "/console/iam/policy?arn=" + arn)
    r = s.post(console.endpoint + "/console/iam/policy", data={
        "csrf": token, "arn": arn, "action": "delete-version", "version_id": "v1"})
    assert r.status_code == 200 and "DeleteConflict" in r.text \
        and "Cannot delete the default version of a policy." in r.text, r.text
    # "Delete" on the others: gone for boto3, then the policy itself can be deleted.
    for version in ("v2", "v3"):
        submit(browser, row_button(version, "button.delete-version"), "#policy-versions")
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] == \
        ["v1"]
    assert rows() == [("v1", "Default", 0)]
    submit(browser, browser.find_element(By.ID, "delete-policy"), "#policies")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_policy(PolicyArn=arn)
    # One with its only version is: gone from the list and for boto3.
    single = iam.create_policy(PolicyName=unique("Single"),
                               PolicyDocument=ALLOW_LIST)["Policy"]["Arn"]
    browser.get(console.endpoint + "/console/iam/policy?arn=" + single)
    submit(browser, wait_for(browser, "#delete-policy"), "#policies")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_policy(PolicyArn=single)
    assert browser_problems(browser) == []


def test_a_read_only_iam_user_is_refused_role_and_policy_changes_with_awss_message(
        console, browser):
    iam = client(console, "iam")
    user = unique("iam-reader")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="IamReadOnly", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Sid": "Read", "Effect": "Allow",
                                                "Action": ["iam:Get*", "iam:List*"],
                                                "Resource": "*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    remember(key["SecretAccessKey"])
    role = unique("kept-role")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    arn = iam.create_policy(PolicyName=unique("Kept"), PolicyDocument=ALLOW_LIST)["Policy"]["Arn"]
    sign_in(browser, console, key["AccessKeyId"], key["SecretAccessKey"])
    wait_for(browser, "#who")

    browser.get(console.endpoint + "/console/iam/roles")
    type_into(browser, "new-role-name", role + "-new")
    type_into(browser, "new-role-trust", TRUST)
    submit(browser, browser.find_element(By.ID, "create-role"), ".refusal")
    refusal = browser.find_element(By.CSS_SELECTOR, ".refusal").text
    assert f"User: arn:aws:iam::{ACCOUNT}:user/{user} is not authorized to perform: " \
        "iam:CreateRole" in refusal
    assert "because no identity-based policy allows the iam:CreateRole action" in refusal
    assert "implicit deny" in browser.find_element(By.CLASS_NAME, "decided-by").text
    shot(browser, "iam-role-refused")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=role + "-new")

    browser.get(console.endpoint + "/console/iam/role?name=" + role)
    submit(browser, wait_for(browser, "#delete-role"), ".refusal")
    assert "iam:DeleteRole" in browser.find_element(By.CSS_SELECTOR, ".refusal").text
    iam.get_role(RoleName=role)

    browser.get(console.endpoint + "/console/iam/policy?arn=" + arn)
    type_into(browser, "new-version-document", ALLOW_LIST)
    submit(browser, wait_for(browser, "#create-version"), ".refusal")
    assert "iam:CreatePolicyVersion" in browser.find_element(By.CSS_SELECTOR, ".refusal").text
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v1"
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_policy_version(PolicyArn=arn, VersionId="v2")
    assert browser_problems(browser) == []


def test_replication_in_the_console_replicate_remove_and_promote(browser):
    west, eu = "us-west-2", "eu-west-1"
    s_ = Server(name="console-replication",
                extra_args=["--regions", f"{REGION},{eu},{west}"])
    try:
        def regional(service, region):
            return boto3.client(service, endpoint_url=s_.endpoint, region_name=region,
                                aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
        home_sm, eu_sm, west_sm = (regional("secretsmanager", r) for r in (REGION, eu, west))
        eu_key = regional("kms", eu).create_key(Description="eu replicas")["KeyMetadata"]["KeyId"]
        name = unique("replicated-service-prod-config")
        value = secret("console-replicated")
        home_sm.create_secret(Name=name, SecretString=value)

        sign_in(browser, s_, ACCESS_KEY, SECRET_KEY)
        wait_for(browser, "#who")
        browser.get(s_.endpoint + "/console/secret?id=" + name)
        submit(browser, wait_for(browser, "#replication-link"), "#replicate-form")
        assert browser.find_element(By.ID, "no-replication")
        offered = [o.get_attribute("value") for o in
                   browser.find_elements(By.CSS_SELECTOR, "#replica-regions option")]
        assert sorted(offered) == sorted([eu, west])

        # Replicate to eu-west-1 under a key of that region: boto3 reads the replica there.
        type_into(browser, "replica-region", eu)
        type_into(browser, "replica-kms-key", eu_key)
        submit(browser, browser.find_element(By.ID, "replicate"), "#replicas")
        status = {r["Region"]: r for r in
                  home_sm.describe_secret(SecretId=name)["ReplicationStatus"]}
        assert set(status) == {eu} and status[eu]["KmsKeyId"] == eu_key
        assert eu_sm.get_secret_value(SecretId=name)["SecretString"] == value
        assert eu_sm.describe_secret(SecretId=name)["KmsKeyId"] == eu_key
        row = browser.find_element(By.CSS_SELECTOR, f'tr.replica[data-region="{eu}"]')
        assert row.find_element(By.CSS_SELECTOR, ".replica-key").text == eu_key
        # And to us-west-2 with the region's default key; then removed again.
        type_into(browser, "replica-region", west)
        submit(browser, browser.find_element(By.ID, "replicate"), "#replicas")
        assert west_sm.get_secret_value(SecretId=name)["SecretString"] == value
        shot(browser, "secret-replication")
        submit(browser, browser.find_element(
            By.CSS_SELECTOR, f'tr.replica[data-region="{west}"] button.remove-replica'),
            "#replicas")
        assert [r["Region"] for r in
                home_sm.describe_secret(SecretId=name)["ReplicationStatus"]] == [eu]
        with pytest.raises(west_sm.exceptions.ResourceNotFoundException):
            west_sm.describe_secret(SecretId=name)
        # A region this server does not serve: Secrets Manager's refusal, nothing added.
        type_into(browser, "replica-region", "ap-south-1")
        submit(browser, browser.find_element(By.ID, "replicate"), "#headline")
        assert "ReplicateSecretToRegions was refused." in browser.find_element(
            By.ID, "headline").text
        assert browser.find_element(By.CSS_SELECTOR, ".refusal .code").text
        assert [r["Region"] for r in
                home_sm.describe_secret(SecretId=name)["ReplicationStatus"]] == [eu]

        # The replica's page, in its own region: read-only, and promoted from there.
        browser.get(s_.endpoint + "/console/secret/versions?id=" + name)
        submit(browser, wait_for(browser, f'tr.replica[data-region="{eu}"] a.replica-link'),
               "#replica-of")
        assert browser.find_element(By.ID, "page-region").text == eu
        assert browser.find_element(By.ID, "primary-region").text == REGION
        assert not browser.find_elements(By.ID, "add-stage-form")
        assert not browser.find_elements(By.ID, "replicate-form")
        shot(browser, "secret-replica")
        submit(browser, browser.find_element(By.ID, "promote"), "#replicate-form")
        assert browser.find_element(By.ID, "page-region").text == eu
        assert not browser.find_elements(By.ID, "promote")
        d = eu_sm.describe_secret(SecretId=name)
        assert "PrimaryRegion" not in d and "ReplicationStatus" not in d
        assert "ReplicationStatus" not in home_sm.describe_secret(SecretId=name)
        # Called in the replica's region, and audited there as the console's call.
        records = [json.loads(e["CloudTrailEvent"]) for e in regional("cloudtrail", eu)
                   .lookup_events(LookupAttributes=[{"AttributeKey": "EventName",
                                                     "AttributeValue": "StopReplicationToReplica"}])[
                       "Events"]]
        assert [(r["awsRegion"], r["sessionCredentialFromConsole"]) for r in records] == [
            (eu, "true")], records
        # Standalone now: written to in its region, the primary's value unchanged.
        eu_sm.put_secret_value(SecretId=name, SecretString=secret("eu-standalone"))
        assert home_sm.get_secret_value(SecretId=name)["SecretString"] == value

        # A region the server does not serve is said so, not shown as the home region's.
        browser.get(s_.endpoint + f"/console/secret/versions?id={name}&region=ap-south-1")
        refusal = wait_for(browser, ".refusal").text
        assert "does not serve the region ap-south-1" in refusal
        assert not browser.find_elements(By.CSS_SELECTOR, "tr.version")
        assert not browser.find_elements(By.ID, "replicate-form")

        # A user who may read the secret but not replicate it: AWS's refusal, nothing done.
        iam = regional("iam", REGION)
        user = unique("replication-reader")
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="ReadSecrets", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Resource": "*", "Action": [
                    "secretsmanager:DescribeSecret", "secretsmanager:ListSecretVersionIds",
                    "secretsmanager:ListSecrets"]}]}))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        remember(key["SecretAccessKey"])
        sign_in(browser, s_, key["AccessKeyId"], key["SecretAccessKey"])
        wait_for(browser, "#who")
        browser.get(s_.endpoint + "/console/secret/versions?id=" + name)
        type_into(browser, "replica-region", west)
        submit(browser, wait_for(browser, "#replicate"), ".refusal")
        refusal = browser.find_element(By.CSS_SELECTOR, ".refusal").text
        assert f"User: arn:aws:iam::{ACCOUNT}:user/{user} is not authorized to perform: " \
            "secretsmanager:ReplicateSecretToRegions" in refusal, refusal
        shot(browser, "secret-replication-refused")
        assert "ReplicationStatus" not in home_sm.describe_secret(SecretId=name)
        with pytest.raises(west_sm.exceptions.ResourceNotFoundException):
            west_sm.describe_secret(SecretId=name)
        assert browser_problems(browser) == []
    finally:
        assert s_.stop() == 0



def test_nothing_secret_reaches_the_servers_log_or_the_audit_records(console):
    """Runs last in this module: the values above (a SecureString's, an access key's secret)
    are in neither the server's log nor any audit record of the console's calls."""
    assert len(SHOWN_ONCE) >= 3, "run with the whole module"
    log = console.logs()
    ct = client(console, "cloudtrail")
    records = []
    for name in ("CreateAccessKey", "PutParameter", "GetParameter"):
        records += [e["CloudTrailEvent"] for e in ct.lookup_events(LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": name}])["Events"]]
    assert any('"sessionCredentialFromConsole":"true"' in r.replace(" ", "") for r in records)
    for value in SHOWN_ONCE:
        assert value not in log, value[:12]
        assert not [r for r in records if value in r], value[:12]
