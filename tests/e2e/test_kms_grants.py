"""KMS grants through boto3 and the AWS CLI (issue 14 §5): CreateGrant, ListGrants,
ListRetirableGrants, RetireGrant, RevokeGrant, and grants in KMS authorization.

What each test asserts is what the botocore model (kms.json) and the KMS developer guide
("Grants in AWS KMS", "Retiring and revoking grants", "Grant constraints") say:

* a grant lets its grantee perform the grant's operations on the key although neither the key
  policy nor IAM allows them, under its encryption context constraint (EncryptionContextSubset:
  the request's context includes the pairs; EncryptionContextEquals: it is exactly them);
* retiring (by the retiring principal, with the grant token or KeyId + GrantId) and revoking
  (by a principal with kms:RevokeGrant) take the access away at once;
* Name makes CreateGrant idempotent: the same parameters give the same GrantId (a new token);
* errors: unknown key NotFoundException, an operation outside GrantOperation
  ValidationException, an unknown grant NotFoundException.
"""
import json

from conftest import MARKER, audit_record, aws_json, request_id, secret, since, sm_client, unique
from server import ACCOUNT
from test_kms import (KMS_SOURCE, kms, kms_client, loose, new_key, plaintext, refused,  # noqa: F401
                      user_with)

ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def root_only_key(kms):
    """A key whose policy names only the account (no IAM user here has kms permissions)."""
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": ROOT},
        "Action": "kms:*", "Resource": "*"}]}
    return new_key(kms, "grants", Policy=json.dumps(policy))


def grantee(server, label="grantee", statements=None):
    """An IAM user without KMS permissions: (ARN, KMS client)."""
    name, key = user_with(server, statements or [
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}])
    return (f"arn:aws:iam::{ACCOUNT}:user/{name}",
            kms_client(server, key["AccessKeyId"], key["SecretAccessKey"]))


def all_grants(kms, key_id, **kw):
    out, marker = [], None
    while True:
        page = kms.list_grants(KeyId=key_id, Limit=1, **({"Marker": marker} if marker else {}), **kw)
        out += page["Grants"]
        assert len(page["Grants"]) <= 1
        if not page["Truncated"]:
            assert "NextMarker" not in page
            return out
        marker = page["NextMarker"]


def test_a_grant_lets_its_grantee_use_the_key_under_its_constraint(server, kms):
    k = root_only_key(kms)
    user_arn, me = grantee(server)
    retirer_arn, retirer = grantee(server, "retirer")
    data = plaintext("grant")
    ctx = {"app": "x"}
    blob = kms.encrypt(KeyId=k["KeyId"], Plaintext=data, EncryptionContext=ctx)["CiphertextBlob"]
    # No key policy or IAM statement allows the user.
    refused(lambda: me.encrypt(KeyId=k["KeyId"], Plaintext=data, EncryptionContext=ctx),
            "AccessDeniedException")
    refused(lambda: me.decrypt(CiphertextBlob=blob, EncryptionContext=ctx), "AccessDeniedException")

    g = kms.create_grant(KeyId=k["KeyId"], GranteePrincipal=user_arn,
                         RetiringPrincipal=retirer_arn, Operations=["Encrypt", "Decrypt"],
                         Constraints={"EncryptionContextSubset": ctx})
    assert g["GrantId"] and g["GrantToken"]

    # With the context (or more pairs): allowed. Without it, or another value: denied.
    mine = me.encrypt(KeyId=k["KeyId"], Plaintext=data, EncryptionContext=ctx)["CiphertextBlob"]
    assert me.decrypt(CiphertextBlob=mine, EncryptionContext=ctx)["Plaintext"] == data
    assert me.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)["Plaintext"] == data
    more = me.encrypt(KeyId=k["Arn"], Plaintext=data,
                      EncryptionContext={"app": "x", "env": "prod"})["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=more,
                       EncryptionContext={"app": "x", "env": "prod"})["Plaintext"] == data
    refused(lambda: me.encrypt(KeyId=k["KeyId"], Plaintext=data), "AccessDeniedException")
    refused(lambda: me.encrypt(KeyId=k["KeyId"], Plaintext=data,
                               EncryptionContext={"app": "X"}), "AccessDeniedException")
    refused(lambda: me.decrypt(CiphertextBlob=blob), "AccessDeniedException")
    # Not an operation of the grant.
    refused(lambda: me.generate_data_key(KeyId=k["KeyId"], KeySpec="AES_256",
                                         EncryptionContext=ctx), "AccessDeniedException")
    refused(lambda: me.describe_key(KeyId=k["KeyId"]), "AccessDeniedException")
    # Another user is not the grantee.
    _, other = grantee(server, "other")
    refused(lambda: other.encrypt(KeyId=k["KeyId"], Plaintext=data, EncryptionContext=ctx),
            "AccessDeniedException")

    # ListGrants shows it (key ARN, grantee, retiring principal, operations, constraint).
    listed = all_grants(kms, k["KeyId"])
    assert [x["GrantId"] for x in listed] == [g["GrantId"]]
    entry = listed[0]
    assert entry["KeyId"] == k["Arn"]
    assert entry["GranteePrincipal"] == user_arn
    assert entry["RetiringPrincipal"] == retirer_arn
    assert entry["IssuingAccount"] == ROOT
    assert sorted(entry["Operations"]) == ["Decrypt", "Encrypt"]
    assert entry["Constraints"] == {"EncryptionContextSubset": ctx}
    assert "CreationDate" in entry
    # ListRetirableGrants finds it for its retiring principal.
    retirable = kms.list_retirable_grants(RetiringPrincipal=retirer_arn)["Grants"]
    assert [x["GrantId"] for x in retirable] == [g["GrantId"]]

    # Only the retiring principal (or a kms:RetireGrant holder) may retire it: not the grantee,
    # whose grant lacks RetireGrant.
    refused(lambda: me.retire_grant(GrantToken=g["GrantToken"]), "AccessDeniedException")
    retirer.retire_grant(GrantToken=g["GrantToken"])
    # Access ends at once.
    refused(lambda: me.encrypt(KeyId=k["KeyId"], Plaintext=data, EncryptionContext=ctx),
            "AccessDeniedException")
    refused(lambda: me.decrypt(CiphertextBlob=mine, EncryptionContext=ctx), "AccessDeniedException")
    assert kms.list_grants(KeyId=k["KeyId"])["Grants"] == []
    assert kms.list_retirable_grants(RetiringPrincipal=retirer_arn)["Grants"] == []


def test_equals_constraint_retire_by_id_and_revoke(server, kms):
    k = root_only_key(kms)
    user_arn, me = grantee(server)
    data = plaintext("grant-equals")
    ctx = {"app": "y"}
    g = kms.create_grant(KeyId=k["Arn"], GranteePrincipal=user_arn,
                         Operations=["GenerateDataKey", "Decrypt", "RetireGrant", "DescribeKey"],
                         Constraints={"EncryptionContextEquals": ctx})
    dk = me.generate_data_key(KeyId=k["KeyId"], KeySpec="AES_256", EncryptionContext=ctx)
    plaintext_key = dk["Plaintext"]
    assert me.decrypt(CiphertextBlob=dk["CiphertextBlob"],
                      EncryptionContext=ctx)["Plaintext"] == plaintext_key
    # Equals: a context with more pairs is not allowed.
    refused(lambda: me.generate_data_key(KeyId=k["KeyId"], KeySpec="AES_256",
                                         EncryptionContext={"app": "y", "b": "c"}),
            "AccessDeniedException")
    # The constraint does not apply to DescribeKey.
    assert me.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["Arn"] == k["Arn"]
    refused(lambda: me.encrypt(KeyId=k["KeyId"], Plaintext=data, EncryptionContext=ctx),
            "AccessDeniedException")
    # The grant includes RetireGrant: its grantee may retire it, by key ARN and grant id.
    g2 = kms.create_grant(KeyId=k["KeyId"], GranteePrincipal=user_arn,
                          Operations=["Encrypt"])
    assert me.encrypt(KeyId=k["KeyId"], Plaintext=data)["KeyId"] == k["Arn"]
    # ...but not revoke it: RevokeGrant needs kms:RevokeGrant.
    refused(lambda: me.revoke_grant(KeyId=k["KeyId"], GrantId=g["GrantId"]),
            "AccessDeniedException")
    me.retire_grant(KeyId=k["Arn"], GrantId=g["GrantId"])
    refused(lambda: me.generate_data_key(KeyId=k["KeyId"], KeySpec="AES_256",
                                         EncryptionContext=ctx), "AccessDeniedException")
    # The account revokes the other grant; access ends at once.
    assert [x["GrantId"] for x in all_grants(kms, k["KeyId"])] == [g2["GrantId"]]
    kms.revoke_grant(KeyId=k["KeyId"], GrantId=g2["GrantId"])
    refused(lambda: me.encrypt(KeyId=k["KeyId"], Plaintext=data), "AccessDeniedException")
    # Revoking or retiring it again: it is not found.
    refused(lambda: kms.revoke_grant(KeyId=k["KeyId"], GrantId=g2["GrantId"]), "NotFoundException")
    refused(lambda: kms.retire_grant(KeyId=k["Arn"], GrantId=g["GrantId"]), "NotFoundException")


def test_grant_names_make_create_grant_idempotent(server, kms):
    k = root_only_key(kms)
    user_arn, _ = grantee(server)
    name = unique("e2e-grant")
    args = dict(KeyId=k["KeyId"], GranteePrincipal=user_arn, Operations=["Encrypt", "Decrypt"],
                Constraints={"EncryptionContextSubset": {"app": "x"}}, Name=name)
    a = kms.create_grant(**args)
    b = kms.create_grant(**{**args, "Operations": ["Decrypt", "Encrypt"]})
    assert a["GrantId"] == b["GrantId"]
    # "The returned grant token is unique with every CreateGrant request."
    assert a["GrantToken"] != b["GrantToken"]
    # Different parameters: another grant.
    c = kms.create_grant(**{**args, "Operations": ["Encrypt"]})
    assert c["GrantId"] != a["GrantId"]
    # Without a name, every request is a new grant.
    unnamed = {k2: v for k2, v in args.items() if k2 != "Name"}
    assert kms.create_grant(**unnamed)["GrantId"] != kms.create_grant(**unnamed)["GrantId"]
    grants = all_grants(kms, k["KeyId"])
    assert len(grants) == 4
    assert [x["Name"] for x in grants if x["GrantId"] == a["GrantId"]] == [name]
    # Filters: GrantId, GranteePrincipal.
    assert [x["GrantId"] for x in kms.list_grants(KeyId=k["KeyId"], GrantId=c["GrantId"])["Grants"]] \
        == [c["GrantId"]]
    assert kms.list_grants(KeyId=k["KeyId"], GranteePrincipal=f"{user_arn}-none")["Grants"] == []
    assert len(kms.list_grants(KeyId=k["KeyId"], GranteePrincipal=user_arn)["Grants"]) == 4
    # A retried name through the retire token of the first request still works.
    kms.retire_grant(GrantToken=b["GrantToken"])
    assert a["GrantId"] not in [x["GrantId"] for x in all_grants(kms, k["KeyId"])]


def test_grant_errors(server, kms, loose):
    k = root_only_key(kms)
    user_arn, me = grantee(server)
    missing = "arn:aws:kms:us-east-1:%s:key/00000000-0000-4000-8000-000000000000" % ACCOUNT
    refused(lambda: kms.create_grant(KeyId=missing, GranteePrincipal=user_arn,
                                     Operations=["Encrypt"]), "NotFoundException")
    refused(lambda: kms.list_grants(KeyId=missing), "NotFoundException")
    refused(lambda: loose.create_grant(KeyId=k["KeyId"], GranteePrincipal=user_arn,
                                       Operations=["Encrypt", "Fly"]), "ValidationException")
    # Sign is a GrantOperation, but not one a symmetric encryption key supports.
    refused(lambda: kms.create_grant(KeyId=k["KeyId"], GranteePrincipal=user_arn,
                                     Operations=["Sign"]), "ValidationException")
    refused(lambda: loose.create_grant(KeyId=k["KeyId"], GranteePrincipal=user_arn,
                                       Operations=[]), "ValidationException")
    refused(lambda: kms.create_grant(
        KeyId=k["KeyId"], GranteePrincipal=user_arn, Operations=["Encrypt"],
        Constraints={"EncryptionContextSubset": {"a": "b"}, "EncryptionContextEquals": {"a": "b"}}),
        "ValidationException")
    refused(lambda: kms.revoke_grant(KeyId=k["KeyId"], GrantId="0" * 64), "NotFoundException")
    refused(lambda: kms.retire_grant(GrantToken="not-a-grant-token"), "InvalidGrantTokenException")
    refused(lambda: kms.list_grants(KeyId=k["KeyId"], Marker="nope"), "InvalidMarkerException")
    refused(lambda: loose.list_grants(KeyId=k["KeyId"], Limit=101), "ValidationException")
    # A caller without permission learns nothing about the key's grants.
    refused(lambda: me.list_grants(KeyId=k["KeyId"]), "AccessDeniedException")
    refused(lambda: me.create_grant(KeyId=k["KeyId"], GranteePrincipal=user_arn,
                                    Operations=["Encrypt"]), "AccessDeniedException")
    refused(lambda: me.revoke_grant(KeyId=k["KeyId"], GrantId="0" * 64), "AccessDeniedException")
    # AWS managed keys take grants only from their services.
    managed = kms.describe_key(KeyId="alias/aws/secretsmanager")["KeyMetadata"]["KeyId"]
    refused(lambda: kms.create_grant(KeyId=managed, GranteePrincipal=user_arn,
                                     Operations=["Decrypt"]), "AccessDeniedException")


def test_grant_condition_keys_and_grants_from_grants(server, kms):
    """kms:GrantOperations / kms:GranteePrincipal / kms:GrantIsForAWSResource limit who may
    create which grants; a grantee with CreateGrant may pass on no more than its grant holds."""
    k = root_only_key(kms)
    app_arn, _ = grantee(server, "app")
    admin_arn, admin = grantee(server, "admin", [{
        "Effect": "Allow", "Action": "kms:CreateGrant", "Resource": k["Arn"],
        "Condition": {"ForAllValues:StringEquals": {"kms:GrantOperations": ["Encrypt", "Decrypt"]},
                      "StringEquals": {"kms:GranteePrincipal": app_arn},
                      "Bool": {"kms:GrantIsForAWSResource": "false"}}}])
    # The identity policy alone cannot reach the key: the key policy delegates to IAM.
    admin.create_grant(KeyId=k["KeyId"], GranteePrincipal=app_arn, Operations=["Encrypt"])
    refused(lambda: admin.create_grant(KeyId=k["KeyId"], GranteePrincipal=app_arn,
                                       Operations=["Encrypt", "GenerateDataKey"]),
            "AccessDeniedException")
    refused(lambda: admin.create_grant(KeyId=k["KeyId"], GranteePrincipal=admin_arn,
                                       Operations=["Encrypt"]), "AccessDeniedException")

    # A grant with CreateGrant lets its grantee create narrower grants only.
    delegate_arn, delegate = grantee(server, "delegate")
    kms.create_grant(KeyId=k["KeyId"], GranteePrincipal=delegate_arn,
                     Operations=["CreateGrant", "Decrypt", "Encrypt"],
                     Constraints={"EncryptionContextSubset": {"app": "x"}})
    delegate.create_grant(KeyId=k["KeyId"], GranteePrincipal=app_arn, Operations=["Decrypt"],
                          Constraints={"EncryptionContextSubset": {"app": "x", "b": "c"}})
    refused(lambda: delegate.create_grant(KeyId=k["KeyId"], GranteePrincipal=app_arn,
                                          Operations=["Decrypt"]), "AccessDeniedException")
    refused(lambda: delegate.create_grant(KeyId=k["KeyId"], GranteePrincipal=app_arn,
                                          Operations=["GenerateDataKey"],
                                          Constraints={"EncryptionContextSubset": {"app": "x"}}),
            "AccessDeniedException")


def test_cli_list_grants(server, kms):
    k = root_only_key(kms)
    user_arn, _ = grantee(server)
    g = kms.create_grant(KeyId=k["KeyId"], GranteePrincipal=user_arn, Operations=["Decrypt"])
    out = aws_json(server, "kms", "list-grants", "--key-id", k["KeyId"])
    assert [(x["GrantId"], x["GranteePrincipal"], x["Operations"]) for x in out["Grants"]] == \
        [(g["GrantId"], user_arn, ["Decrypt"])]
    # The CLI pages through NextMarker itself (--max-items stops it early).
    first = aws_json(server, "kms", "list-grants", "--key-id", k["Arn"], "--max-items", "1")
    assert [x["GrantId"] for x in first["Grants"]] == [g["GrantId"]]


def test_grant_calls_are_audited(server, kms):
    start = since()
    k = root_only_key(kms)
    user_arn, me = grantee(server)
    g = kms.create_grant(KeyId=k["KeyId"], GranteePrincipal=user_arn, Operations=["Encrypt"],
                         RetiringPrincipal=user_arn)
    enc = me.encrypt(KeyId=k["KeyId"], Plaintext=plaintext("grant-audit"))
    listed = kms.list_grants(KeyId=k["KeyId"])
    me.retire_grant(GrantToken=g["GrantToken"])
    create = audit_record(server, KMS_SOURCE, "CreateGrant", request_id(g), start)
    assert create["requestParameters"]["granteePrincipal"] == user_arn
    assert create["requestParameters"]["operations"] == ["Encrypt"]
    assert create["responseElements"] == {"grantId": g["GrantId"]}
    assert g["GrantToken"] not in json.dumps(create)
    assert create["resources"][0]["ARN"] == k["Arn"]
    used = audit_record(server, KMS_SOURCE, "Encrypt", request_id(enc), start)
    assert used["userIdentity"]["arn"] == user_arn and "errorCode" not in used
    audit_record(server, KMS_SOURCE, "ListGrants", request_id(listed), start)


def test_secrets_manager_decrypts_for_a_grantee(server, kms):
    """Secrets Manager uses the key on the caller's behalf: a grant to the caller (constrained
    to the secret's SecretARN context) is what lets it read a secret under a key whose policy
    and IAM give it no kms:Decrypt."""
    k = root_only_key(kms)
    sm = sm_client(server)
    name = unique("e2e-grant-secret")
    arn = sm.create_secret(Name=name, SecretString=secret("grant-secret"), KmsKeyId=k["Arn"])["ARN"]
    user, key = user_with(server, [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}])
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/{user}"
    me = sm_client(server, key["AccessKeyId"], key["SecretAccessKey"])
    refused(lambda: me.get_secret_value(SecretId=name), "AccessDeniedException")
    other = sm.create_secret(Name=unique("e2e-grant-other"), SecretString=secret("grant-other"),
                             KmsKeyId=k["Arn"])["ARN"]
    g = kms.create_grant(KeyId=k["KeyId"], GranteePrincipal=user_arn, Operations=["Decrypt"],
                         Constraints={"EncryptionContextSubset": {"SecretARN": arn}})
    assert MARKER in me.get_secret_value(SecretId=name)["SecretString"]
    # The constraint names this secret only.
    refused(lambda: me.get_secret_value(SecretId=other), "AccessDeniedException")
    kms.revoke_grant(KeyId=k["KeyId"], GrantId=g["GrantId"])
    refused(lambda: me.get_secret_value(SecretId=name), "AccessDeniedException")
