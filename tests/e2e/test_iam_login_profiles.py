"""IAM console passwords with boto3 (and the AWS CLI): login profiles, ChangePassword, the account
password policy — AWS's shapes, error codes and messages — and that no password ever reaches an
audit record (LookupEvents, the audit files), the server's log or the database in plaintext.

Tests that set the account password policy delete it again: it is account-wide.
"""
import json
import os
import subprocess

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import audit_record, aws_json, request_id, secret, since, unique
from server import ACCESS_KEY, REGION, SECRET_KEY, Server


def iam_client(server, key_id=ACCESS_KEY, secret_key=SECRET_KEY):
    return boto3.client("iam", endpoint_url=server.endpoint, region_name=REGION,
                        aws_access_key_id=key_id, aws_secret_access_key=secret_key)


@pytest.fixture(scope="module")
def iam(server):
    return iam_client(server)


def error(e):
    err = e.value.response["Error"]
    return err["Code"], err["Message"]


@pytest.fixture
def no_password_policy(iam):
    """The account password policy is unset before and after the test."""
    try:
        iam.delete_account_password_policy()
    except ClientError:
        pass
    yield
    try:
        iam.delete_account_password_policy()
    except ClientError:
        pass


def test_login_profile_create_get_update_delete(server, iam):
    user = unique("console")
    iam.create_user(UserName=user)
    pw = secret("pw1")
    created = iam.create_login_profile(UserName=user, Password=pw, PasswordResetRequired=True)["LoginProfile"]
    assert created["UserName"] == user
    assert created["PasswordResetRequired"] is True
    assert created["CreateDate"].year >= 2024
    got = iam.get_login_profile(UserName=user)["LoginProfile"]
    assert got["UserName"] == user and got["PasswordResetRequired"] is True
    assert got["CreateDate"] == created["CreateDate"]
    # The AWS CLI reads the same shape.
    cli = aws_json(server, "iam", "get-login-profile", "--user-name", user)["LoginProfile"]
    assert cli["UserName"] == user and cli["PasswordResetRequired"] is True

    iam.update_login_profile(UserName=user, PasswordResetRequired=False)
    assert iam.get_login_profile(UserName=user)["LoginProfile"]["PasswordResetRequired"] is False
    iam.update_login_profile(UserName=user, Password=secret("pw2"))

    iam.delete_login_profile(UserName=user)
    with pytest.raises(ClientError) as e:
        iam.get_login_profile(UserName=user)
    assert error(e) == ("NoSuchEntity", f"Login Profile for User {user} cannot be found.")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as e:
        iam.delete_login_profile(UserName=user)
    assert error(e)[0] == "NoSuchEntity"
    iam.delete_user(UserName=user)


def test_login_profile_errors(iam, no_password_policy):
    user = unique("console")
    iam.create_user(UserName=user)
    iam.create_login_profile(UserName=user, Password=secret("pw"))
    with pytest.raises(ClientError) as e:
        iam.create_login_profile(UserName=user, Password=secret("pw"))
    assert error(e) == ("EntityAlreadyExists", f"Login Profile for user {user} already exists.")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409

    ghost = unique("ghost")
    for call in (lambda: iam.create_login_profile(UserName=ghost, Password=secret("pw")),
                 lambda: iam.get_login_profile(UserName=ghost),
                 lambda: iam.update_login_profile(UserName=ghost, PasswordResetRequired=True),
                 lambda: iam.delete_login_profile(UserName=ghost)):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e) == ("NoSuchEntity", f"The user with name {ghost} cannot be found.")

    # Without an account policy, IAM's default one: 8 characters, three of four classes.
    other = unique("console")
    iam.create_user(UserName=other)
    with pytest.raises(ClientError) as e:
        iam.create_login_profile(UserName=other, Password="Ab1!")
    assert error(e) == ("PasswordPolicyViolation", "Password should have a minimum length of 8")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as e:
        iam.create_login_profile(UserName=other, Password="abcdefgh1")
    assert error(e) == ("PasswordPolicyViolation",
                        "Password should meet 1 more of the following requirements: "
                        "Password should have at least one uppercase letter, "
                        "Password should have at least one symbol")
    with pytest.raises(ClientError) as e:
        iam.get_login_profile(UserName=other)
    assert error(e)[0] == "NoSuchEntity", "a refused password makes no profile"

    # DeleteUser refuses while the console password exists, as AWS does.
    with pytest.raises(ClientError) as e:
        iam.delete_user(UserName=user)
    assert error(e) == ("DeleteConflict", "Cannot delete entity, must delete login profile first.")
    iam.delete_login_profile(UserName=user)
    iam.delete_user(UserName=user)
    iam.delete_user(UserName=other)


def test_account_password_policy_round_trip_and_enforcement(iam, no_password_policy):
    with pytest.raises(ClientError) as e:
        iam.get_account_password_policy()
    assert error(e) == ("NoSuchEntity", "The Password Policy with domain name 123456789012 cannot be found.")
    with pytest.raises(ClientError) as e:
        iam.delete_account_password_policy()
    assert error(e)[0] == "NoSuchEntity"

    iam.update_account_password_policy(
        MinimumPasswordLength=12, RequireSymbols=True, RequireNumbers=True,
        RequireUppercaseCharacters=True, RequireLowercaseCharacters=True,
        AllowUsersToChangePassword=True, MaxPasswordAge=90, PasswordReusePrevention=3,
        HardExpiry=False)
    p = iam.get_account_password_policy()["PasswordPolicy"]
    assert p == {
        "MinimumPasswordLength": 12, "RequireSymbols": True, "RequireNumbers": True,
        "RequireUppercaseCharacters": True, "RequireLowercaseCharacters": True,
        "AllowUsersToChangePassword": True, "ExpirePasswords": True, "MaxPasswordAge": 90,
        "PasswordReusePrevention": 3, "HardExpiry": False,
    }

    user = unique("console")
    iam.create_user(UserName=user)
    for bad, message in [
        ("Ab1!defghij", "Password should have a minimum length of 12"),
        ("abcdefghij1!", "Password should have at least one uppercase letter"),
        ("ABCDEFGHIJ1!", "Password should have at least one lowercase letter"),
        ("Abcdefghijk!", "Password should have at least one number"),
        ("Abcdefghijk1", "Password should have at least one symbol"),
    ]:
        with pytest.raises(ClientError) as e:
            iam.create_login_profile(UserName=user, Password=bad)
        assert error(e) == ("PasswordPolicyViolation", message), bad
    iam.create_login_profile(UserName=user, Password=secret("ok"))

    # No partial updates: what is not given takes its default again.
    iam.update_account_password_policy(MinimumPasswordLength=20)
    p = iam.get_account_password_policy()["PasswordPolicy"]
    assert p["MinimumPasswordLength"] == 20
    assert p["RequireSymbols"] is False and p["AllowUsersToChangePassword"] is False
    assert p["ExpirePasswords"] is False and "MaxPasswordAge" not in p
    assert "PasswordReusePrevention" not in p

    iam.delete_account_password_policy()
    with pytest.raises(ClientError) as e:
        iam.get_account_password_policy()
    assert error(e)[0] == "NoSuchEntity"
    iam.delete_login_profile(UserName=user)
    iam.delete_user(UserName=user)


def test_change_password_with_the_old_one(server, iam, no_password_policy):
    user = unique("console")
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    me = iam_client(server, key["AccessKeyId"], key["SecretAccessKey"])
    first, second = secret("first"), secret("second")
    iam.create_login_profile(UserName=user, Password=first, PasswordResetRequired=True)

    # No identity policy and no AllowUsersToChangePassword: refused by authorization.
    with pytest.raises(ClientError) as e:
        me.change_password(OldPassword=first, NewPassword=second)
    code, message = error(e)
    assert code == "AccessDenied" and "iam:ChangePassword" in message

    iam.update_account_password_policy(AllowUsersToChangePassword=True, PasswordReusePrevention=2,
                                       MinimumPasswordLength=8)
    # The setting also lets users read the policy.
    assert me.get_account_password_policy()["PasswordPolicy"]["AllowUsersToChangePassword"] is True
    with pytest.raises(ClientError) as e:
        me.change_password(OldPassword=secret("wrong"), NewPassword=second)
    assert error(e) == ("AccessDenied", "The old password is incorrect.")
    me.change_password(OldPassword=first, NewPassword=second)
    assert iam.get_login_profile(UserName=user)["LoginProfile"]["PasswordResetRequired"] is False
    # The old password no longer works; the new one does.
    with pytest.raises(ClientError) as e:
        me.change_password(OldPassword=first, NewPassword=secret("third"))
    assert error(e)[0] == "AccessDenied"
    # PasswordReusePrevention: the previous password may not come back.
    with pytest.raises(ClientError) as e:
        me.change_password(OldPassword=second, NewPassword=first)
    assert error(e) == ("PasswordPolicyViolation",
                        "Password should not be one of your previous 2 passwords")
    third = secret("third")
    me.change_password(OldPassword=second, NewPassword=third)

    # The account setting allows what no policy does, never what one explicitly denies.
    deny = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "iam:ChangePassword", "Resource": "*"}]}
    iam.put_user_policy(UserName=user, PolicyName="no-change", PolicyDocument=json.dumps(deny))
    with pytest.raises(ClientError) as e:
        me.change_password(OldPassword=third, NewPassword=secret("fourth"))
    code, message = error(e)
    assert code == "AccessDenied" and "explicit deny" in message, message
    iam.delete_user_policy(UserName=user, PolicyName="no-change")

    # Root is not an IAM user: InvalidUserType.
    with pytest.raises(ClientError) as e:
        iam.change_password(OldPassword=first, NewPassword=second)
    assert error(e)[0] == "InvalidUserType"

    iam.delete_login_profile(UserName=user)
    iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    iam.delete_user(UserName=user)


def test_passwords_never_reach_audit_records_logs_or_the_database(no_password_policy):
    # A server of its own (also: the lockout settings are accepted), so its store and audit
    # files can be read after it stops.
    s = Server(name="logins", extra_args=["--sign-in-max-failures", "3",
                                          "--sign-in-lockout-secs", "60"])
    try:
        iam = iam_client(s)
        user = unique("console")
        iam.create_user(UserName=user)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        pw1, pw2, pw3 = secret("audit1"), secret("audit2"), secret("audit3")
        start = since()
        created = iam.create_login_profile(UserName=user, Password=pw1, PasswordResetRequired=True)
        updated = iam.update_login_profile(UserName=user, Password=pw2)
        iam.update_account_password_policy(AllowUsersToChangePassword=True)
        me = iam_client(s, key["AccessKeyId"], key["SecretAccessKey"])
        changed = me.change_password(OldPassword=pw2, NewPassword=pw3)
        with pytest.raises(ClientError) as refused:
            me.change_password(OldPassword=pw1, NewPassword=pw3)

        r = audit_record(s, "iam.amazonaws.com", "CreateLoginProfile", request_id(created), start)
        assert r["requestParameters"] == {"userName": user, "passwordResetRequired": "true"}
        r = audit_record(s, "iam.amazonaws.com", "UpdateLoginProfile", request_id(updated), start)
        assert r["requestParameters"] == {"userName": user}
        r = audit_record(s, "iam.amazonaws.com", "ChangePassword", request_id(changed), start)
        assert r["userIdentity"]["userName"] == user
        assert not r.get("requestParameters"), r
        r = audit_record(s, "iam.amazonaws.com", "ChangePassword", request_id(refused.value), start)
        assert r["errorCode"] == "AccessDenied"
        for text in (json.dumps(r),):
            assert not any(p in text for p in (pw1, pw2, pw3))
        iam.delete_account_password_policy()
    finally:
        code = s.stop()
    assert code == 0
    passwords = [p.encode() for p in (pw1, pw2, pw3)]
    with open(s.log_path, "rb") as f:
        log = f.read()
    assert not [p for p in passwords if p in log], "a password is in the server log"
    # Every file of the data dir: the SQLite store (and WAL) and the audit segments.
    audit_files = 0
    for root, _, files in os.walk(s.data_dir):
        for name in files:
            path = os.path.join(root, name)
            audit_files += "audit" in path
            with open(path, "rb") as f:
                data = f.read()
            assert not [p for p in passwords if p in data], f"a password is in {path}"
    assert audit_files > 0, "no audit files were scanned"
    if s.store:
        dump = subprocess.run(["pg_dump", "--data-only", s.store], capture_output=True,
                              check=True, timeout=120).stdout
        assert not [p for p in passwords if p in dump], "a password is in the PostgreSQL store"
        assert b"$argon2id$" in dump, "the store holds the password's Argon2id hash"
    else:
        with open(os.path.join(s.data_dir, "strongroom.db"), "rb") as f:
            db = f.read()
        wal = os.path.join(s.data_dir, "strongroom.db-wal")
        if os.path.exists(wal):
            with open(wal, "rb") as f:
                db += f.read()
        assert b"$argon2id$" in db, "the store holds the password's Argon2id hash"
