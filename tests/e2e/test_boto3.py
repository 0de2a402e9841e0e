"""Secrets Manager semantics through boto3 (botocore's own SigV4 and JSON 1.1 codec)."""
import base64

import pytest
from botocore.exceptions import ClientError

from conftest import MARKER


def code(e):
    return e.value.response["Error"]["Code"]


def test_pagination_and_filters(sm):
    for i in range(25):
        env = "prod" if i % 2 == 0 else "stage"
        sm.create_secret(Name=f"b3-page-{i:02d}-{env}", SecretString=f"{MARKER}-{i}",
                         Tags=[{"Key": "env", "Value": env}])
    names = []
    for page in sm.get_paginator("list_secrets").paginate(
            Filters=[{"Key": "name", "Values": ["b3-page-"]}], PaginationConfig={"PageSize": 10}):
        assert len(page["SecretList"]) <= 10
        names += [s["Name"] for s in page["SecretList"]]
    assert len(names) == 25 and len(set(names)) == 25

    prod = sm.list_secrets(Filters=[{"Key": "name", "Values": ["b3-page-"]},
                                    {"Key": "tag-value", "Values": ["prod"]}])["SecretList"]
    assert len(prod) == 13
    not_prod = sm.list_secrets(Filters=[{"Key": "name", "Values": ["b3-page-"]},
                                        {"Key": "tag-value", "Values": ["!prod"]}])["SecretList"]
    assert len(not_prod) == 12
    asc = sm.list_secrets(Filters=[{"Key": "name", "Values": ["b3-page-"]}],
                          SortBy="name", SortOrder="asc", MaxResults=2)["SecretList"]
    assert [s["Name"] for s in asc] == ["b3-page-00-prod", "b3-page-01-stage"]
    with pytest.raises(ClientError) as e:
        sm.list_secrets(NextToken="bogus")
    assert code(e) == "InvalidNextTokenException"


def test_client_request_token_idempotency(sm):
    token = "11111111-2222-4333-8444-555555555555"
    sm.create_secret(Name="b3-idem", SecretString=f"{MARKER}-1")
    a = sm.put_secret_value(SecretId="b3-idem", SecretString=f"{MARKER}-2", ClientRequestToken=token)
    b = sm.put_secret_value(SecretId="b3-idem", SecretString=f"{MARKER}-2", ClientRequestToken=token)
    assert a["VersionId"] == b["VersionId"] == token
    versions = sm.list_secret_version_ids(SecretId="b3-idem", IncludeDeprecated=True)["Versions"]
    assert len(versions) == 2
    with pytest.raises(ClientError) as e:
        sm.put_secret_value(SecretId="b3-idem", SecretString=f"{MARKER}-other", ClientRequestToken=token)
    assert code(e) == "ResourceExistsException"
    assert sm.get_secret_value(SecretId="b3-idem")["SecretString"] == f"{MARKER}-2"


def test_scheduled_deletion_restore_and_force(sm):
    sm.create_secret(Name="b3-del", SecretString=f"{MARKER}-del")
    with pytest.raises(ClientError) as e:
        sm.delete_secret(SecretId="b3-del", RecoveryWindowInDays=31)
    assert code(e) == "InvalidParameterException"
    sm.delete_secret(SecretId="b3-del", RecoveryWindowInDays=30)
    with pytest.raises(ClientError) as e:
        sm.get_secret_value(SecretId="b3-del")
    assert code(e) == "InvalidRequestException"
    assert "DeletedDate" in sm.describe_secret(SecretId="b3-del")
    sm.restore_secret(SecretId="b3-del")
    assert sm.get_secret_value(SecretId="b3-del")["SecretString"] == f"{MARKER}-del"
    sm.delete_secret(SecretId="b3-del", ForceDeleteWithoutRecovery=True)
    with pytest.raises(ClientError) as e:
        sm.get_secret_value(SecretId="b3-del")
    assert code(e) == "ResourceNotFoundException"
    sm.create_secret(Name="b3-del", SecretString=f"{MARKER}-again")


def test_binary_and_size_limits(sm):
    blob = bytes(range(256)) * 4 + MARKER.encode()
    sm.create_secret(Name="b3-bin", SecretBinary=blob)
    got = sm.get_secret_value(SecretId="b3-bin")
    assert got["SecretBinary"] == blob and "SecretString" not in got

    sm.create_secret(Name="b3-max", SecretString="x" * 65536)
    assert len(sm.get_secret_value(SecretId="b3-max")["SecretString"]) == 65536
    with pytest.raises(ClientError) as e:
        sm.create_secret(Name="b3-over", SecretString="x" * 65537)
    assert code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        sm.describe_secret(SecretId="b3-over")
    assert code(e) == "ResourceNotFoundException"


def test_staging_label_moves(sm):
    v1 = sm.create_secret(Name="b3-labels", SecretString=f"{MARKER}-v1")["VersionId"]
    v2 = sm.put_secret_value(SecretId="b3-labels", SecretString=f"{MARKER}-v2",
                             VersionStages=["AWSPENDING"])["VersionId"]
    with pytest.raises(ClientError) as e:
        sm.update_secret_version_stage(SecretId="b3-labels", VersionStage="AWSCURRENT", MoveToVersionId=v2)
    assert code(e) == "InvalidParameterException"
    sm.update_secret_version_stage(SecretId="b3-labels", VersionStage="AWSCURRENT",
                                   MoveToVersionId=v2, RemoveFromVersionId=v1)
    d = sm.describe_secret(SecretId="b3-labels")["VersionIdsToStages"]
    assert sorted(d[v2]) == ["AWSCURRENT", "AWSPENDING"] and d[v1] == ["AWSPREVIOUS"]
    sm.update_secret_version_stage(SecretId="b3-labels", VersionStage="AWSPENDING", RemoveFromVersionId=v2)
    assert sm.describe_secret(SecretId="b3-labels")["VersionIdsToStages"][v2] == ["AWSCURRENT"]
    prev = sm.get_secret_value(SecretId="b3-labels", VersionStage="AWSPREVIOUS")
    assert prev["SecretString"] == f"{MARKER}-v1"


def test_partial_and_full_arn(sm):
    arn = sm.create_secret(Name="b3/path/name", SecretString=f"{MARKER}-arn")["ARN"]
    assert sm.get_secret_value(SecretId=arn)["ARN"] == arn
    assert sm.get_secret_value(SecretId=arn[:-7])["ARN"] == arn
    with pytest.raises(ClientError) as e:
        sm.get_secret_value(SecretId=arn.replace("123456789012", "999999999999"))
    assert code(e) == "ResourceNotFoundException"


def test_random_password_flags(sm):
    pw = sm.get_random_password(PasswordLength=50, ExcludeCharacters="0Oo1lI",
                                IncludeSpace=True)["RandomPassword"]
    assert len(pw) == 50 and not set(pw) & set("0Oo1lI")
    with pytest.raises(ClientError) as e:
        sm.get_random_password(PasswordLength=4097)
    assert code(e) == "ValidationException"
