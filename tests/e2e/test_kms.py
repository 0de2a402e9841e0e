"""KMS (JSON 1.1, `TrentService.<Op>`) through boto3 and the AWS CLI, and the KMS keys behind
Secrets Manager secrets.

What each test asserts is what the botocore model (kms.json) and the KMS documentation say:

* CreateKey's KeyMetadata; DescribeKey by key id, key ARN, alias name and alias ARN;
  NotFoundException; ListKeys paging (Limit/Marker);
* aliases: CreateAlias/ListAliases/UpdateAlias/DeleteAlias, `alias/` required, `alias/aws/`
  reserved, AlreadyExistsException;
* Encrypt/Decrypt (with and without KeyId and EncryptionContext), IncorrectKeyException,
  InvalidCiphertextException, the 4096-byte plaintext limit, GenerateDataKey (KeySpec xor
  NumberOfBytes), GenerateDataKeyWithoutPlaintext, ReEncrypt, GenerateRandom;
* key states: DisableKey/EnableKey (DisabledException), ScheduleKeyDeletion (7-30 days,
  KMSInvalidStateException while pending) and CancelKeyDeletion (the key comes back Disabled);
* rotation: Enable/Disable/GetKeyRotationStatus (90-2560 days), RotateKeyOnDemand and
  ListKeyRotations, old ciphertexts still decrypt;
* tags; Secrets Manager with a customer managed key (DecryptionFailure/EncryptionFailure while
  the key is disabled; kms:Decrypt needed by an IAM user, not for aws/secretsmanager);
* IAM on KMS itself; the AWS CLI with fileb:// files; CloudTrail records without plaintext.

Every plaintext carries MARKER; the KMS client also records every plaintext it sends or receives
(and its base64 form, which is how it travels in JSON), so the leak scans after the run look
for them in every log and data dir. Data keys and random bytes cannot carry MARKER: their
base64 forms are recorded instead.
"""
import base64
import datetime as dt
import json
import time
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import (MARKER, audit_record, aws, aws_error, aws_json, keys_anywhere, remember,
                      request_id, secret, since, sm_client, unique)
from server import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})
KMS_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}"
KMS_SOURCE = "kms.amazonaws.com"


# ---------------------------------------------------------------------------------------------
# helpers


def _remember_blob(value):
    if isinstance(value, (bytes, bytearray)) and value:
        remember(bytes(value))
        remember(base64.b64encode(bytes(value)).decode())


def _remember_request(params, **_):
    _remember_blob(params.get("Plaintext"))


def _remember_response(parsed, **_):
    _remember_blob(parsed.get("Plaintext"))


def kms_client(server, access_key=ACCESS_KEY, secret_key=SECRET_KEY, session_token=None,
               validate=True):
    """A boto3 KMS client for `server` (no retries) that records every plaintext it sends or
    receives. validate=False lets values below the model's minimums reach the server."""
    c = boto3.client("kms", endpoint_url=server.endpoint, region_name=REGION,
                     aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                     aws_session_token=session_token,
                     config=NO_RETRY.merge(Config(parameter_validation=validate)))
    c.meta.events.register("provide-client-params.kms.*", _remember_request)
    c.meta.events.register("after-call.kms.*", _remember_response)
    return c


def client(server, service, access_key=ACCESS_KEY, secret_key=SECRET_KEY):
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION,
                        aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                        config=NO_RETRY)


@pytest.fixture(scope="module")
def kms(server):
    return kms_client(server)


@pytest.fixture(scope="module")
def loose(server):
    """A KMS client without botocore's parameter validation."""
    return kms_client(server, validate=False)


def refused(call, *codes, status=400):
    """Run `call`, which must fail with one of `codes` (and HTTP `status`); returns the error."""
    with pytest.raises(ClientError) as e:
        call()
    err = e.value.response
    assert err["Error"]["Code"] in codes, err
    if status is not None:
        assert err["ResponseMetadata"]["HTTPStatusCode"] == status, err
    return err


def plaintext(label):
    """Fresh bytes carrying MARKER (recorded for the leak scans, raw and base64)."""
    data = secret(label).encode()
    _remember_blob(data)
    return data


def new_key(kms, label="key", **kw):
    return kms.create_key(Description=f"e2e {label}", **kw)["KeyMetadata"]


def new_alias(kms, key_id, label="alias"):
    alias = f"alias/{unique('e2e-' + label)}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    return alias


def state(kms, key_id):
    return kms.describe_key(KeyId=key_id)["KeyMetadata"]


def aliases_of(kms, key_id):
    out = []
    for page in kms.get_paginator("list_aliases").paginate(KeyId=key_id):
        out += page["Aliases"]
    return out


def tags_of(kms, key_id):
    r = kms.list_resource_tags(KeyId=key_id)
    assert r.get("Truncated") is False
    return {t["TagKey"]: t["TagValue"] for t in r["Tags"]}


def user_with(server, statements):
    """An IAM user whose only permissions are `statements`: (name, access key)."""
    iam = client(server, "iam")
    name = unique("e2e-kms-user")
    iam.create_user(UserName=name)
    set_policy(server, name, statements)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    remember(key["SecretAccessKey"])
    return name, key


def set_policy(server, user, statements):
    client(server, "iam").put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": statements}))


# ---------------------------------------------------------------------------------------------
# keys


def test_create_key_metadata(kms):
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    m = kms.create_key(Description="e2e metadata key",
                       Tags=[{"TagKey": "team", "TagValue": "blue"}])["KeyMetadata"]
    assert str(uuid.UUID(m["KeyId"])) == m["KeyId"]
    assert m["Arn"] == f"{KMS_ARN}:key/{m['KeyId']}"
    assert m["AWSAccountId"] == ACCOUNT
    assert m["Description"] == "e2e metadata key"
    assert m["Enabled"] is True and m["KeyState"] == "Enabled"
    assert m["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert m["KeySpec"] == "SYMMETRIC_DEFAULT" and m["CustomerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert m["KeyManager"] == "CUSTOMER" and m["Origin"] == "AWS_KMS"
    assert m["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]
    assert m.get("MultiRegion") is False
    assert "DeletionDate" not in m
    assert before < m["CreationDate"] < dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)
    assert tags_of(kms, m["KeyId"]) == {"team": "blue"}
    # Defaults: no description, the same key type.
    bare = kms.create_key()["KeyMetadata"]
    assert bare["KeyId"] != m["KeyId"] and bare["Description"] == ""
    assert bare["KeyState"] == "Enabled" and bare["KeySpec"] == "SYMMETRIC_DEFAULT"


def test_describe_key_by_every_identifier(kms):
    m = new_key(kms, "describe")
    alias = new_alias(kms, m["KeyId"], "describe")
    for ident in (m["KeyId"], m["Arn"], alias, f"{KMS_ARN}:{alias}"):
        got = kms.describe_key(KeyId=ident)["KeyMetadata"]
        assert (got["KeyId"], got["Arn"]) == (m["KeyId"], m["Arn"]), ident
        assert got["CreationDate"] == m["CreationDate"]


def test_unknown_keys_are_not_found(kms):
    unknown = str(uuid.uuid4())
    for ident in (unknown, f"{KMS_ARN}:key/{unknown}", f"alias/{unique('e2e-no-such-alias')}",
                  f"{KMS_ARN}:alias/{unique('e2e-no-such-alias')}", "not-a-key-id"):
        refused(lambda: kms.describe_key(KeyId=ident), "NotFoundException")
    refused(lambda: kms.encrypt(KeyId=unknown, Plaintext=plaintext("unknown")), "NotFoundException")
    refused(lambda: kms.generate_data_key(KeyId=f"alias/{unique('e2e-nope')}", KeySpec="AES_256"),
            "NotFoundException")
    refused(lambda: kms.enable_key(KeyId=unknown), "NotFoundException")


def test_list_keys_pages_with_limit_and_marker(kms):
    mine = {new_key(kms, f"list-{i}")["KeyId"] for i in range(3)}
    seen, marker, pages = [], None, 0
    while True:
        page = kms.list_keys(Limit=2, **({"Marker": marker} if marker else {}))
        pages += 1
        assert len(page["Keys"]) <= 2
        for k in page["Keys"]:
            assert k["KeyArn"] == f"{KMS_ARN}:key/{k['KeyId']}"
        seen += [k["KeyId"] for k in page["Keys"]]
        if not page["Truncated"]:
            assert "NextMarker" not in page
            break
        marker = page["NextMarker"]
        assert pages < 2000, "NextMarker never ends"
    assert mine <= set(seen) and len(seen) == len(set(seen))
    every = [k["KeyId"] for p in kms.get_paginator("list_keys").paginate(
        PaginationConfig={"PageSize": 3}) for k in p["Keys"]]
    assert mine <= set(every)
    refused(lambda: kms.list_keys(Marker="not-a-marker-this-server-made"), "InvalidMarkerException")
    refused(lambda: kms.list_keys(Limit=1001), "ValidationException")


# ---------------------------------------------------------------------------------------------
# aliases


def test_aliases_create_list_update_delete(kms):
    k1, k2 = new_key(kms, "alias-1"), new_key(kms, "alias-2")
    alias = new_alias(kms, k1["KeyId"], "life")
    entries = [a for a in aliases_of(kms, k1["KeyId"]) if a["AliasName"] == alias]
    assert len(entries) == 1
    assert entries[0]["AliasArn"] == f"{KMS_ARN}:{alias}"
    assert entries[0]["TargetKeyId"] == k1["KeyId"]
    everything = [a for p in kms.get_paginator("list_aliases").paginate() for a in p["Aliases"]]
    assert alias in {a["AliasName"] for a in everything}

    kms.update_alias(AliasName=alias, TargetKeyId=k2["Arn"])
    assert kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == k2["KeyId"]
    assert alias not in {a["AliasName"] for a in aliases_of(kms, k1["KeyId"])}
    assert alias in {a["AliasName"] for a in aliases_of(kms, k2["KeyId"])}
    # A key may have several aliases.
    second = new_alias(kms, k2["KeyId"], "second")
    assert {alias, second} <= {a["AliasName"] for a in aliases_of(kms, k2["KeyId"])}

    kms.delete_alias(AliasName=alias)
    refused(lambda: kms.describe_key(KeyId=alias), "NotFoundException")
    refused(lambda: kms.delete_alias(AliasName=alias), "NotFoundException")
    refused(lambda: kms.update_alias(AliasName=alias, TargetKeyId=k1["KeyId"]), "NotFoundException")
    assert state(kms, k2["KeyId"])["KeyState"] == "Enabled", "deleting an alias leaves the key"
    assert kms.describe_key(KeyId=second)["KeyMetadata"]["KeyId"] == k2["KeyId"]


def test_alias_name_rules(kms):
    k = new_key(kms, "alias-rules")
    taken = new_alias(kms, k["KeyId"], "taken")
    other = new_key(kms, "alias-rules-2")
    refused(lambda: kms.create_alias(AliasName=taken, TargetKeyId=other["KeyId"]),
            "AlreadyExistsException")
    assert kms.describe_key(KeyId=taken)["KeyMetadata"]["KeyId"] == k["KeyId"]
    refused(lambda: kms.create_alias(AliasName=unique("e2e-no-prefix"), TargetKeyId=k["KeyId"]),
            "ValidationException")
    refused(lambda: kms.create_alias(AliasName=f"alias/aws/{unique('e2e')}", TargetKeyId=k["KeyId"]),
            "NotAuthorizedException", status=None)
    refused(lambda: kms.create_alias(AliasName=f"alias/{unique('e2e-orphan')}",
                                     TargetKeyId=str(uuid.uuid4())), "NotFoundException")


# ---------------------------------------------------------------------------------------------
# encryption


def test_encrypt_decrypt_round_trip(kms):
    k = new_key(kms, "roundtrip")
    alias = new_alias(kms, k["KeyId"], "roundtrip")
    data = plaintext("roundtrip")
    for ident in (k["KeyId"], k["Arn"], alias, f"{KMS_ARN}:{alias}"):
        enc = kms.encrypt(KeyId=ident, Plaintext=data)
        assert enc["KeyId"] == k["Arn"] and enc["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
        blob = enc["CiphertextBlob"]
        assert data not in blob and MARKER.encode() not in blob
        # Without KeyId: the ciphertext names its key.
        dec = kms.decrypt(CiphertextBlob=blob)
        assert dec["Plaintext"] == data and dec["KeyId"] == k["Arn"]
        assert dec["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
        assert kms.decrypt(CiphertextBlob=blob, KeyId=ident)["Plaintext"] == data
    # Two encryptions of the same plaintext differ (a fresh IV each time).
    assert kms.encrypt(KeyId=k["KeyId"], Plaintext=data)["CiphertextBlob"] != \
        kms.encrypt(KeyId=k["KeyId"], Plaintext=data)["CiphertextBlob"]
    # Binary plaintexts round-trip byte for byte.
    binary = bytes(range(256)) + MARKER.encode()
    _remember_blob(binary)
    blob = kms.encrypt(KeyId=k["KeyId"], Plaintext=binary)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == binary


def test_encryption_context_must_match(kms):
    k = new_key(kms, "context")
    data = plaintext("context")
    ctx = {"purpose": "e2e", "tenant": "blue"}
    blob = kms.encrypt(KeyId=k["KeyId"], Plaintext=data, EncryptionContext=ctx)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)["Plaintext"] == data
    # Order of the pairs does not matter; every pair, exactly, does.
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=dict(reversed(list(ctx.items()))))[
        "Plaintext"] == data
    for wrong in ({}, {"purpose": "e2e"}, {"purpose": "e2e", "tenant": "red"},
                  {"purpose": "e2e", "tenant": "blue", "extra": "x"}, {"Purpose": "e2e", "tenant": "blue"}):
        refused(lambda: kms.decrypt(CiphertextBlob=blob, **({"EncryptionContext": wrong} if wrong else {})),
                "InvalidCiphertextException")
    # Encrypted without a context: decrypting with one fails too.
    plain_blob = kms.encrypt(KeyId=k["KeyId"], Plaintext=data)["CiphertextBlob"]
    refused(lambda: kms.decrypt(CiphertextBlob=plain_blob, EncryptionContext=ctx),
            "InvalidCiphertextException")


def test_decrypt_with_another_key_is_incorrect_key(kms):
    k1, k2 = new_key(kms, "right"), new_key(kms, "wrong")
    data = plaintext("incorrect")
    blob = kms.encrypt(KeyId=k1["KeyId"], Plaintext=data)["CiphertextBlob"]
    refused(lambda: kms.decrypt(CiphertextBlob=blob, KeyId=k2["KeyId"]), "IncorrectKeyException")
    refused(lambda: kms.decrypt(CiphertextBlob=blob, KeyId=k2["Arn"]), "IncorrectKeyException")
    assert kms.decrypt(CiphertextBlob=blob, KeyId=k1["KeyId"])["Plaintext"] == data


def test_tampered_ciphertext_is_invalid(kms):
    k = new_key(kms, "tamper")
    blob = kms.encrypt(KeyId=k["KeyId"], Plaintext=plaintext("tamper"))["CiphertextBlob"]
    for bad in (blob[:-1] + bytes([blob[-1] ^ 0x01]), blob[:-8], b"\x00" * 64):
        refused(lambda: kms.decrypt(CiphertextBlob=bad), "InvalidCiphertextException")


def test_plaintext_is_at_most_4096_bytes(kms):
    k = new_key(kms, "size")
    data = MARKER.encode() + b"x" * (4096 - len(MARKER))
    _remember_blob(data)
    blob = kms.encrypt(KeyId=k["KeyId"], Plaintext=data)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == data
    refused(lambda: kms.encrypt(KeyId=k["KeyId"], Plaintext=data + b"y"), "ValidationException")


def test_generate_data_key(kms):
    k = new_key(kms, "datakey")
    for kw, size in (({"KeySpec": "AES_256"}, 32), ({"KeySpec": "AES_128"}, 16),
                     ({"NumberOfBytes": 64}, 64), ({"NumberOfBytes": 1}, 1)):
        r = kms.generate_data_key(KeyId=k["KeyId"], **kw)
        assert len(r["Plaintext"]) == size and r["KeyId"] == k["Arn"], kw
        if size >= 16:
            assert r["Plaintext"] not in r["CiphertextBlob"]
        dec = kms.decrypt(CiphertextBlob=r["CiphertextBlob"])
        assert dec["Plaintext"] == r["Plaintext"] and dec["KeyId"] == k["Arn"]
    a = kms.generate_data_key(KeyId=k["KeyId"], KeySpec="AES_256")["Plaintext"]
    b = kms.generate_data_key(KeyId=k["KeyId"], KeySpec="AES_256")["Plaintext"]
    assert a != b
    # With an encryption context, decrypting needs it.
    ctx = {"file": "e2e-report"}
    r = kms.generate_data_key(KeyId=k["KeyId"], KeySpec="AES_256", EncryptionContext=ctx)
    assert kms.decrypt(CiphertextBlob=r["CiphertextBlob"], EncryptionContext=ctx)["Plaintext"] == r["Plaintext"]
    refused(lambda: kms.decrypt(CiphertextBlob=r["CiphertextBlob"]), "InvalidCiphertextException")


def test_generate_data_key_without_plaintext(kms):
    k = new_key(kms, "noplain")
    alias = new_alias(kms, k["KeyId"], "noplain")
    r = kms.generate_data_key_without_plaintext(KeyId=alias, KeySpec="AES_256")
    assert "Plaintext" not in r and r["KeyId"] == k["Arn"]
    key = kms.decrypt(CiphertextBlob=r["CiphertextBlob"])["Plaintext"]
    assert len(key) == 32
    r = kms.generate_data_key_without_plaintext(KeyId=k["KeyId"], NumberOfBytes=48)
    assert len(kms.decrypt(CiphertextBlob=r["CiphertextBlob"])["Plaintext"]) == 48


def test_data_key_length_is_key_spec_or_number_of_bytes(kms, loose):
    k = new_key(kms, "xor")
    refused(lambda: kms.generate_data_key(KeyId=k["KeyId"], KeySpec="AES_256", NumberOfBytes=32),
            "ValidationException")
    refused(lambda: kms.generate_data_key(KeyId=k["KeyId"]), "ValidationException")
    refused(lambda: kms.generate_data_key_without_plaintext(KeyId=k["KeyId"]), "ValidationException")
    refused(lambda: kms.generate_data_key(KeyId=k["KeyId"], NumberOfBytes=1025), "ValidationException")
    refused(lambda: loose.generate_data_key(KeyId=k["KeyId"], NumberOfBytes=0), "ValidationException")


def test_re_encrypt_moves_a_ciphertext_to_another_key(kms):
    k1, k2 = new_key(kms, "re-src"), new_key(kms, "re-dst")
    data = plaintext("reencrypt")
    blob = kms.encrypt(KeyId=k1["KeyId"], Plaintext=data, EncryptionContext={"v": "1"})["CiphertextBlob"]
    r = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"v": "1"},
                       DestinationKeyId=k2["KeyId"], DestinationEncryptionContext={"v": "2"})
    assert "Plaintext" not in r
    assert r["SourceKeyId"] == k1["Arn"] and r["KeyId"] == k2["Arn"]
    assert r["SourceEncryptionAlgorithm"] == r["DestinationEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    dec = kms.decrypt(CiphertextBlob=r["CiphertextBlob"], EncryptionContext={"v": "2"})
    assert dec["Plaintext"] == data and dec["KeyId"] == k2["Arn"]
    refused(lambda: kms.decrypt(CiphertextBlob=r["CiphertextBlob"], KeyId=k1["KeyId"],
                                EncryptionContext={"v": "2"}), "IncorrectKeyException")
    refused(lambda: kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=k2["KeyId"]),
            "InvalidCiphertextException")
    refused(lambda: kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"v": "1"},
                                   SourceKeyId=k2["KeyId"], DestinationKeyId=k2["KeyId"]),
            "IncorrectKeyException")


def test_generate_random(kms, loose):
    for n in (1, 32, 1024):
        assert len(kms.generate_random(NumberOfBytes=n)["Plaintext"]) == n
    assert kms.generate_random(NumberOfBytes=32)["Plaintext"] != kms.generate_random(NumberOfBytes=32)["Plaintext"]
    refused(lambda: kms.generate_random(NumberOfBytes=1025), "ValidationException")
    refused(lambda: loose.generate_random(NumberOfBytes=0), "ValidationException")


# ---------------------------------------------------------------------------------------------
# key states


def test_disable_and_enable_key(kms):
    k = new_key(kms, "disable")
    data = plaintext("disable")
    blob = kms.encrypt(KeyId=k["KeyId"], Plaintext=data)["CiphertextBlob"]
    kms.disable_key(KeyId=k["KeyId"])
    m = state(kms, k["KeyId"])
    assert m["KeyState"] == "Disabled" and m["Enabled"] is False
    refused(lambda: kms.encrypt(KeyId=k["KeyId"], Plaintext=data), "DisabledException")
    refused(lambda: kms.decrypt(CiphertextBlob=blob), "DisabledException")
    refused(lambda: kms.generate_data_key(KeyId=k["KeyId"], KeySpec="AES_256"), "DisabledException")
    kms.enable_key(KeyId=k["KeyId"])
    m = state(kms, k["KeyId"])
    assert m["KeyState"] == "Enabled" and m["Enabled"] is True
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == data
    kms.encrypt(KeyId=k["KeyId"], Plaintext=data)


def test_schedule_and_cancel_key_deletion(kms):
    k = new_key(kms, "delete")
    data = plaintext("delete")
    blob = kms.encrypt(KeyId=k["KeyId"], Plaintext=data)["CiphertextBlob"]
    now = dt.datetime.now(dt.timezone.utc)
    r = kms.schedule_key_deletion(KeyId=k["KeyId"], PendingWindowInDays=7)
    assert r["KeyId"] == k["Arn"] and r["KeyState"] == "PendingDeletion"
    assert r["PendingWindowInDays"] == 7
    assert now + dt.timedelta(days=6) < r["DeletionDate"] < now + dt.timedelta(days=8)
    m = state(kms, k["KeyId"])
    assert m["KeyState"] == "PendingDeletion" and m["Enabled"] is False
    assert m["DeletionDate"] == r["DeletionDate"]
    refused(lambda: kms.encrypt(KeyId=k["KeyId"], Plaintext=data), "KMSInvalidStateException")
    refused(lambda: kms.decrypt(CiphertextBlob=blob), "KMSInvalidStateException")
    refused(lambda: kms.enable_key(KeyId=k["KeyId"]), "KMSInvalidStateException")
    refused(lambda: kms.schedule_key_deletion(KeyId=k["KeyId"]), "KMSInvalidStateException")

    assert kms.cancel_key_deletion(KeyId=k["KeyId"])["KeyId"] == k["Arn"]
    m = state(kms, k["KeyId"])
    assert m["KeyState"] == "Disabled" and m["Enabled"] is False and "DeletionDate" not in m
    refused(lambda: kms.encrypt(KeyId=k["KeyId"], Plaintext=data), "DisabledException")
    refused(lambda: kms.cancel_key_deletion(KeyId=k["KeyId"]), "KMSInvalidStateException")
    kms.enable_key(KeyId=k["KeyId"])
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == data

    # Without PendingWindowInDays: 30 days.
    other = new_key(kms, "delete-default")
    r = kms.schedule_key_deletion(KeyId=other["Arn"])
    assert r["PendingWindowInDays"] == 30
    assert now + dt.timedelta(days=29) < r["DeletionDate"] < now + dt.timedelta(days=31)
    kms.cancel_key_deletion(KeyId=other["KeyId"])


def test_pending_window_is_7_to_30_days(kms):
    k = new_key(kms, "window")
    for days in (6, 31, 365):
        refused(lambda: kms.schedule_key_deletion(KeyId=k["KeyId"], PendingWindowInDays=days),
                "ValidationException")
    assert state(kms, k["KeyId"])["KeyState"] == "Enabled", "a refused schedule changes nothing"
    assert kms.schedule_key_deletion(KeyId=k["KeyId"], PendingWindowInDays=30)["PendingWindowInDays"] == 30
    kms.cancel_key_deletion(KeyId=k["KeyId"])


# ---------------------------------------------------------------------------------------------
# rotation


def test_key_rotation_settings(kms, loose):
    k = new_key(kms, "rotation")
    s = kms.get_key_rotation_status(KeyId=k["KeyId"])
    assert s["KeyRotationEnabled"] is False
    kms.enable_key_rotation(KeyId=k["KeyId"])
    s = kms.get_key_rotation_status(KeyId=k["Arn"])
    assert s["KeyRotationEnabled"] is True and s["RotationPeriodInDays"] == 365
    assert dt.datetime.now(dt.timezone.utc) < s["NextRotationDate"]
    kms.enable_key_rotation(KeyId=k["KeyId"], RotationPeriodInDays=90)
    s = kms.get_key_rotation_status(KeyId=k["KeyId"])
    assert s["KeyRotationEnabled"] is True and s["RotationPeriodInDays"] == 90
    kms.enable_key_rotation(KeyId=k["KeyId"], RotationPeriodInDays=2560)
    assert kms.get_key_rotation_status(KeyId=k["KeyId"])["RotationPeriodInDays"] == 2560
    refused(lambda: kms.enable_key_rotation(KeyId=k["KeyId"], RotationPeriodInDays=2561),
            "ValidationException")
    refused(lambda: loose.enable_key_rotation(KeyId=k["KeyId"], RotationPeriodInDays=89),
            "ValidationException")
    kms.disable_key_rotation(KeyId=k["KeyId"])
    assert kms.get_key_rotation_status(KeyId=k["KeyId"])["KeyRotationEnabled"] is False
    # A disabled key's rotation cannot be changed.
    kms.disable_key(KeyId=k["KeyId"])
    refused(lambda: kms.enable_key_rotation(KeyId=k["KeyId"]),
            "DisabledException", "KMSInvalidStateException")
    kms.enable_key(KeyId=k["KeyId"])


def test_rotate_on_demand_keeps_old_ciphertexts_decryptable(kms):
    k = new_key(kms, "ondemand")
    data = plaintext("before-rotation")
    before = kms.encrypt(KeyId=k["KeyId"], Plaintext=data)["CiphertextBlob"]
    assert kms.list_key_rotations(KeyId=k["KeyId"])["Rotations"] == []
    assert kms.rotate_key_on_demand(KeyId=k["KeyId"])["KeyId"] in (k["KeyId"], k["Arn"])
    # Rotation runs in the background: wait for it to be listed.
    deadline = time.time() + 20
    while True:
        rotations = kms.list_key_rotations(KeyId=k["KeyId"])["Rotations"]
        if rotations:
            break
        assert time.time() < deadline, "the on-demand rotation never completed"
        time.sleep(0.2)
    assert len(rotations) == 1 and rotations[0]["RotationType"] == "ON_DEMAND"
    assert isinstance(rotations[0]["RotationDate"], dt.datetime)
    assert kms.decrypt(CiphertextBlob=before)["Plaintext"] == data
    after = kms.encrypt(KeyId=k["KeyId"], Plaintext=data)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=after)["Plaintext"] == data
    m = state(kms, k["KeyId"])
    assert m["KeyState"] == "Enabled" and m["KeyId"] == k["KeyId"], "rotation keeps the key's identity"
    assert kms.get_key_rotation_status(KeyId=k["KeyId"])["KeyRotationEnabled"] is False, \
        "on-demand rotation does not turn automatic rotation on"


# ---------------------------------------------------------------------------------------------
# tags


def test_tags(kms):
    k = new_key(kms, "tags", Tags=[{"TagKey": "env", "TagValue": "dev"}])
    assert tags_of(kms, k["KeyId"]) == {"env": "dev"}
    kms.tag_resource(KeyId=k["Arn"], Tags=[{"TagKey": "env", "TagValue": "prod"},
                                           {"TagKey": "team", "TagValue": ""}])
    assert tags_of(kms, k["KeyId"]) == {"env": "prod", "team": ""}
    kms.untag_resource(KeyId=k["KeyId"], TagKeys=["env", "not-there"])
    assert tags_of(kms, k["KeyId"]) == {"team": ""}
    refused(lambda: kms.tag_resource(KeyId=k["KeyId"], Tags=[{"TagKey": "aws:reserved", "TagValue": "x"}]),
            "TagException")
    refused(lambda: kms.list_resource_tags(KeyId=str(uuid.uuid4())), "NotFoundException")


# ---------------------------------------------------------------------------------------------
# Secrets Manager under a customer managed key


def test_secret_under_a_customer_managed_key(kms, sm):
    k = new_key(kms, "sm")
    alias = new_alias(kms, k["KeyId"], "sm")
    for given in (alias, k["Arn"]):
        name = unique("e2e-kms-secret")
        value = secret("sm-cmk")
        sm.create_secret(Name=name, SecretString=value, KmsKeyId=given)
        described = sm.describe_secret(SecretId=name)
        assert described["KmsKeyId"] in (given, alias, f"{KMS_ARN}:{alias}", k["KeyId"], k["Arn"])
        assert sm.get_secret_value(SecretId=name)["SecretString"] == value
    # The default key: no KmsKeyId shown, and aws/secretsmanager is an AWS managed key.
    name = unique("e2e-kms-secret-default")
    sm.create_secret(Name=name, SecretString=secret("sm-default"))
    assert "KmsKeyId" not in sm.describe_secret(SecretId=name)
    m = kms.describe_key(KeyId="alias/aws/secretsmanager")["KeyMetadata"]
    assert m["KeyManager"] == "AWS" and m["KeyState"] == "Enabled"


def test_secret_is_unreadable_while_its_key_is_disabled(kms, sm):
    k = new_key(kms, "sm-disable")
    alias = new_alias(kms, k["KeyId"], "sm-disable")
    name = unique("e2e-kms-secret-disabled")
    value = secret("sm-disabled")
    sm.create_secret(Name=name, SecretString=value, KmsKeyId=alias)
    kms.disable_key(KeyId=k["KeyId"])
    refused(lambda: sm.get_secret_value(SecretId=name), "DecryptionFailure")
    refused(lambda: sm.put_secret_value(SecretId=name, SecretString=secret("sm-disabled-put")),
            "EncryptionFailure")
    assert sm.describe_secret(SecretId=name)["Name"] == name, "metadata needs no key"
    kms.enable_key(KeyId=k["KeyId"])
    assert sm.get_secret_value(SecretId=name)["SecretString"] == value
    newer = secret("sm-enabled-put")
    sm.put_secret_value(SecretId=name, SecretString=newer)
    assert sm.get_secret_value(SecretId=name)["SecretString"] == newer


def test_update_secret_kms_key_re_encrypts_the_labelled_versions(kms, sm):
    """As AWS documents for UpdateSecret's KmsKeyId: the new key encrypts new versions and the
    existing AWSCURRENT, AWSPENDING and AWSPREVIOUS ones; unlabelled versions keep theirs."""
    k = new_key(kms, "sm-rekey")
    alias = new_alias(kms, k["KeyId"], "sm-rekey")
    name = unique("e2e-kms-rekey")
    v1, v2, v3 = secret("rekey-1"), secret("rekey-2"), secret("rekey-3")
    sm.create_secret(Name=name, SecretString=v1)
    sm.put_secret_value(SecretId=name, SecretString=v2)
    old = sm.put_secret_value(SecretId=name, SecretString=v3)["VersionId"]
    first = [v["VersionId"] for v in sm.list_secret_version_ids(
        SecretId=name, IncludeDeprecated=True)["Versions"] if not v.get("VersionStages")][0]
    sm.update_secret(SecretId=name, KmsKeyId=alias)
    versions = {v["VersionId"]: v for v in sm.list_secret_version_ids(
        SecretId=name, IncludeDeprecated=True)["Versions"]}
    assert versions[old]["KmsKeyIds"] == [k["Arn"]]
    labelled = [v for v in versions.values() if v.get("VersionStages")]
    assert len(labelled) == 2 and all(v["KmsKeyIds"] == [k["Arn"]] for v in labelled)
    assert versions[first]["KmsKeyIds"] == ["DefaultEncryptionKey"], "unlabelled: untouched"
    # They really are under the new key now: unreadable while it is disabled.
    kms.disable_key(KeyId=k["KeyId"])
    refused(lambda: sm.get_secret_value(SecretId=name), "DecryptionFailure")
    refused(lambda: sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS"),
            "DecryptionFailure")
    assert sm.get_secret_value(SecretId=name, VersionId=first)["SecretString"] == v1
    kms.enable_key(KeyId=k["KeyId"])
    assert sm.get_secret_value(SecretId=name)["SecretString"] == v3
    assert sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")["SecretString"] == v2
    # A disabled key is not escaped by moving the secret to another key.
    kms.disable_key(KeyId=k["KeyId"])
    refused(lambda: sm.update_secret(SecretId=name, KmsKeyId="alias/aws/secretsmanager"),
            "DecryptionFailure")
    kms.enable_key(KeyId=k["KeyId"])
    # And back to the managed key: the customer key is no longer needed.
    sm.update_secret(SecretId=name, KmsKeyId="alias/aws/secretsmanager")
    kms.disable_key(KeyId=k["KeyId"])
    assert sm.get_secret_value(SecretId=name)["SecretString"] == v3
    assert sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")["SecretString"] == v2
    assert "KmsKeyId" not in sm.describe_secret(SecretId=name)
    kms.enable_key(KeyId=k["KeyId"])


def test_iam_secret_under_a_customer_key_needs_kms_decrypt(server, kms, sm):
    k = new_key(kms, "sm-iam")
    prefix = unique("e2e-kms-iam")
    default_name, cmk_name = f"{prefix}-default", f"{prefix}-cmk"
    dv, cv = secret("iam-default"), secret("iam-cmk")
    sm.create_secret(Name=default_name, SecretString=dv)
    sm.create_secret(Name=cmk_name, SecretString=cv, KmsKeyId=k["Arn"])
    read = {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
            "Resource": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{prefix}-*"}
    user, key = user_with(server, [read])
    me = sm_client(server, key["AccessKeyId"], key["SecretAccessKey"], config=NO_RETRY)
    # aws/secretsmanager needs no KMS permission; a customer managed key does.
    assert me.get_secret_value(SecretId=default_name)["SecretString"] == dv
    err = refused(lambda: me.get_secret_value(SecretId=cmk_name), "AccessDeniedException")
    assert "KMS" in err["Error"]["Message"]
    set_policy(server, user, [read, {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": k["Arn"]}])
    assert me.get_secret_value(SecretId=cmk_name)["SecretString"] == cv


# ---------------------------------------------------------------------------------------------
# IAM on KMS


def test_update_alias_needs_the_action_on_the_current_key_too(server, kms):
    current, target = new_key(kms, "alias-current"), new_key(kms, "alias-target")
    alias = new_alias(kms, current["KeyId"], "moving")
    alias_arn = f"{KMS_ARN}:{alias}"
    user, key = user_with(server, [{"Effect": "Allow", "Action": "kms:UpdateAlias",
                                    "Resource": [alias_arn, target["Arn"]]}])
    me = kms_client(server, key["AccessKeyId"], key["SecretAccessKey"])
    refused(lambda: me.update_alias(AliasName=alias, TargetKeyId=target["KeyId"]),
            "AccessDeniedException")
    assert kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == current["KeyId"]
    set_policy(server, user, [{"Effect": "Allow", "Action": "kms:UpdateAlias",
                               "Resource": [alias_arn, target["Arn"], current["Arn"]]}])
    me.update_alias(AliasName=alias, TargetKeyId=target["KeyId"])
    assert kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == target["KeyId"]


def test_secrets_manager_kms_condition_keys(server, kms, sm):
    """Secrets Manager decrypts with the encryption context SecretARN: a kms:Decrypt grant
    conditioned on it opens that secret only."""
    k = new_key(kms, "sm-ctx")
    mine, theirs = unique("e2e-ctx-mine"), unique("e2e-ctx-theirs")
    arns = {n: sm.create_secret(Name=n, SecretString=secret("ctx"), KmsKeyId=k["Arn"])["ARN"]
            for n in (mine, theirs)}
    user, key = user_with(server, [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": k["Arn"],
         "Condition": {"StringEquals": {"kms:EncryptionContext:SecretARN": arns[mine],
                                        "kms:CallerAccount": ACCOUNT}}}])
    me = client(server, "secretsmanager", key["AccessKeyId"], key["SecretAccessKey"])
    start = since(2)
    assert MARKER in me.get_secret_value(SecretId=mine)["SecretString"]
    refused(lambda: me.get_secret_value(SecretId=theirs), "AccessDeniedException")
    # Each read decrypted (or was refused the key) as a KMS call Secrets Manager made for the
    # user: recorded as CloudTrail does, invokedBy the service, with the encryption context.
    ct = client(server, "cloudtrail")
    records = [json.loads(e["CloudTrailEvent"]) for e in ct.lookup_events(
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": k["Arn"]}],
        StartTime=start)["Events"]]
    decrypts = {r["requestParameters"]["encryptionContext"]["SecretARN"]: r for r in records
                if r["eventName"] == "Decrypt"}
    assert set(decrypts) == set(arns.values()), records
    ok, denied = decrypts[arns[mine]], decrypts[arns[theirs]]
    for r in (ok, denied):
        assert r["eventSource"] == "kms.amazonaws.com" and r["readOnly"] is True
        assert r["userIdentity"]["arn"].endswith(f":user/{user}")
        assert r["userIdentity"]["invokedBy"] == "secretsmanager.amazonaws.com"
        assert r["sourceIPAddress"] == "secretsmanager.amazonaws.com"
        assert r["resources"][0]["ARN"] == k["Arn"]
        assert "SecretVersionId" in r["requestParameters"]["encryptionContext"]
    assert "errorCode" not in ok and denied["errorCode"] == "AccessDenied"


def test_key_policies_grant_and_deny_with_iam(server, kms, sm):
    """A key policy is the key's resource policy: with AWS's default statement (which
    Strongroom requires, as the lockout safety check does), it can grant a user directly and
    its explicit Deny beats an IAM allow — also for Secrets Manager reading through the key."""
    user, key = user_with(server, [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}])
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/{user}"
    root_statement = {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                      "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                      "Action": "kms:*", "Resource": "*"}
    lockout = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "kms:*", "Resource": "*"}]}
    refused(lambda: kms.create_key(Policy=json.dumps(lockout)),
            "MalformedPolicyDocumentException")
    refused(lambda: kms.create_key(Policy="{not json"), "MalformedPolicyDocumentException")
    granting = {"Version": "2012-10-17", "Statement": [root_statement, {
        "Sid": "app", "Effect": "Allow", "Principal": {"AWS": user_arn},
        "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}]}
    k = kms.create_key(Policy=json.dumps(granting))["KeyMetadata"]
    assert json.loads(kms.get_key_policy(KeyId=k["KeyId"], PolicyName="default")["Policy"]) == granting
    me = kms_client(server, key["AccessKeyId"], key["SecretAccessKey"])
    blob = me.encrypt(KeyId=k["KeyId"], Plaintext=plaintext("policy"))["CiphertextBlob"]
    # Secrets Manager decrypts for the user through the same policy.
    name = unique("e2e-kms-policy")
    sm.create_secret(Name=name, SecretString=secret("policy"), KmsKeyId=k["Arn"])
    me_sm = client(server, "secretsmanager", key["AccessKeyId"], key["SecretAccessKey"])
    assert MARKER in me_sm.get_secret_value(SecretId=name)["SecretString"]
    # An explicit Deny in the key policy beats the grant (and would beat any IAM allow).
    denying = {"Version": "2012-10-17", "Statement": granting["Statement"] + [{
        "Effect": "Deny", "Principal": {"AWS": user_arn}, "Action": "kms:Decrypt",
        "Resource": "*"}]}
    kms.put_key_policy(KeyId=k["KeyId"], PolicyName="default", Policy=json.dumps(denying))
    refused(lambda: me.decrypt(CiphertextBlob=blob), "AccessDeniedException")
    refused(lambda: me_sm.get_secret_value(SecretId=name), "AccessDeniedException")
    refused(lambda: kms.put_key_policy(KeyId=k["KeyId"], PolicyName="default",
                                       Policy=json.dumps(lockout)),
            "MalformedPolicyDocumentException")
    managed = kms.describe_key(KeyId="alias/aws/ssm")["KeyMetadata"]["KeyId"]
    refused(lambda: kms.put_key_policy(KeyId=managed, PolicyName="default",
                                       Policy=json.dumps(granting)), "AccessDeniedException")


def test_aws_managed_keys_cannot_be_changed(kms):
    managed = kms.describe_key(KeyId="alias/aws/secretsmanager")["KeyMetadata"]
    refused(lambda: kms.disable_key(KeyId=managed["KeyId"]), "AccessDeniedException")
    refused(lambda: kms.schedule_key_deletion(KeyId=managed["KeyId"]), "AccessDeniedException")
    refused(lambda: kms.tag_resource(KeyId=managed["KeyId"],
                                     Tags=[{"TagKey": "k", "TagValue": "v"}]),
            "AccessDeniedException")
    refused(lambda: kms.disable_key_rotation(KeyId=managed["KeyId"]),
            "UnsupportedOperationException")
    status = kms.get_key_rotation_status(KeyId=managed["KeyId"])
    assert status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 365
    assert kms.describe_key(KeyId=managed["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_rotation_status_and_list_limits(kms, loose):
    k = new_key(kms, "status")
    kms.enable_key_rotation(KeyId=k["KeyId"])
    kms.schedule_key_deletion(KeyId=k["KeyId"], PendingWindowInDays=7)
    # "While a KMS key is pending deletion, its key rotation status is false."
    assert kms.get_key_rotation_status(KeyId=k["KeyId"])["KeyRotationEnabled"] is False
    kms.cancel_key_deletion(KeyId=k["KeyId"])
    refused(lambda: loose.list_aliases(Limit=101), "ValidationException")
    refused(lambda: loose.list_resource_tags(KeyId=k["KeyId"], Limit=51), "ValidationException")
    assert loose.list_keys(Limit=1000)["Truncated"] in (True, False)
    refused(lambda: loose.describe_key(KeyId=""), "ValidationException")


def test_iam_user_without_kms_encrypt_is_denied(server, kms):
    k = new_key(kms, "iam")
    data = plaintext("iam-kms")
    blob = kms.encrypt(KeyId=k["KeyId"], Plaintext=data)["CiphertextBlob"]
    decrypt_only = {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": k["Arn"]}
    user, key = user_with(server, [decrypt_only])
    me = kms_client(server, key["AccessKeyId"], key["SecretAccessKey"])
    assert me.decrypt(CiphertextBlob=blob)["Plaintext"] == data
    assert me.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["Arn"] == k["Arn"]
    err = refused(lambda: me.encrypt(KeyId=k["KeyId"], Plaintext=data), "AccessDeniedException")
    msg = err["Error"]["Message"]
    assert f"user/{user}" in msg and "kms:Encrypt" in msg and k["Arn"] in msg
    refused(lambda: me.generate_data_key(KeyId=k["KeyId"], KeySpec="AES_256"), "AccessDeniedException")
    refused(lambda: me.disable_key(KeyId=k["KeyId"]), "AccessDeniedException")
    refused(lambda: me.create_key(), "AccessDeniedException")
    # Another key: not even Decrypt.
    other = new_key(kms, "iam-other")
    other_blob = kms.encrypt(KeyId=other["KeyId"], Plaintext=data)["CiphertextBlob"]
    refused(lambda: me.decrypt(CiphertextBlob=other_blob), "AccessDeniedException")
    set_policy(server, user, [decrypt_only, {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": k["Arn"]}])
    blob2 = me.encrypt(KeyId=k["KeyId"], Plaintext=data)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob2)["Plaintext"] == data
    assert state(kms, k["KeyId"])["KeyState"] == "Enabled"


# ---------------------------------------------------------------------------------------------
# the AWS CLI


def test_cli_create_key_encrypt_and_decrypt_files(server, tmp_path):
    meta = aws_json(server, "kms", "create-key", "--description", "e2e cli key")["KeyMetadata"]
    assert meta["KeyState"] == "Enabled" and meta["KeyManager"] == "CUSTOMER"
    alias = f"alias/{unique('e2e-cli')}"
    aws(server, "kms", "create-alias", "--alias-name", alias, "--target-key-id", meta["KeyId"])
    described = aws_json(server, "kms", "describe-key", "--key-id", alias)["KeyMetadata"]
    assert described["Arn"] == meta["Arn"]

    data = plaintext("cli")
    pt, ct = tmp_path / "plaintext.bin", tmp_path / "ciphertext.bin"
    pt.write_bytes(data)
    try:
        enc = aws_json(server, "kms", "encrypt", "--key-id", alias, "--plaintext", f"fileb://{pt}")
        assert enc["KeyId"] == meta["Arn"] and enc["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
        ct.write_bytes(base64.b64decode(enc["CiphertextBlob"]))
        dec = aws_json(server, "kms", "decrypt", "--ciphertext-blob", f"fileb://{ct}")
        assert base64.b64decode(dec["Plaintext"]) == data and dec["KeyId"] == meta["Arn"]

        enc = aws_json(server, "kms", "encrypt", "--key-id", meta["KeyId"], "--plaintext", f"fileb://{pt}",
                       "--encryption-context", "purpose=e2e")
        ct.write_bytes(base64.b64decode(enc["CiphertextBlob"]))
        dec = aws_json(server, "kms", "decrypt", "--ciphertext-blob", f"fileb://{ct}",
                       "--encryption-context", "purpose=e2e")
        assert base64.b64decode(dec["Plaintext"]) == data
        assert aws_error(server, "kms", "decrypt", "--ciphertext-blob", f"fileb://{ct}") == \
            "InvalidCiphertextException"
    finally:
        pt.unlink()
    assert aws_error(server, "kms", "describe-key", "--key-id", str(uuid.uuid4())) == "NotFoundException"


# ---------------------------------------------------------------------------------------------
# audit


def test_kms_calls_are_audited_without_plaintext(server, kms):
    start = since()
    k = new_key(kms, "audit")
    alias = new_alias(kms, k["KeyId"], "audit")
    data = plaintext("audit")
    encoded = base64.b64encode(data).decode()
    enc = kms.encrypt(KeyId=alias, Plaintext=data, EncryptionContext={"purpose": "audit"})
    dec = kms.decrypt(CiphertextBlob=enc["CiphertextBlob"], EncryptionContext={"purpose": "audit"})
    assert dec["Plaintext"] == data
    dk = kms.generate_data_key(KeyId=k["KeyId"], KeySpec="AES_256")
    dk_encoded = base64.b64encode(dk["Plaintext"]).decode()

    encrypt = audit_record(server, KMS_SOURCE, "Encrypt", request_id(enc), start)
    assert encrypt["requestParameters"]["keyId"] == alias
    assert encrypt["requestParameters"]["encryptionContext"] == {"purpose": "audit"}
    decrypt = audit_record(server, KMS_SOURCE, "Decrypt", request_id(dec), start)
    generate = audit_record(server, KMS_SOURCE, "GenerateDataKey", request_id(dk), start)
    for record in (encrypt, decrypt, generate):
        assert not [key for key in keys_anywhere(record) if key.lower() == "plaintext"], record
        text = json.dumps(record)
        assert MARKER not in text and encoded not in text and dk_encoded not in text, record

    # The CLI's lookup by event source finds them, and shows no plaintext either.
    out = aws_json(server, "cloudtrail", "lookup-events", "--lookup-attributes",
                   f"AttributeKey=EventSource,AttributeValue={KMS_SOURCE}",
                   "--start-time", start.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert {e["EventSource"] for e in out["Events"]} == {KMS_SOURCE}
    assert {request_id(enc), request_id(dec)} <= \
        {json.loads(e["CloudTrailEvent"])["requestID"] for e in out["Events"]}
    text = json.dumps(out)
    assert MARKER not in text and encoded not in text and dk_encoded not in text
