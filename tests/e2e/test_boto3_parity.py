"""Secrets Manager behaviours where emulators drift from AWS, through boto3:

* a secret that has had tags answers `Tags: []` in DescribeSecret and ListSecrets once the
  last tag is removed (one never tagged has no Tags member), also after a restart;
* DeleteSecret checks RecoveryWindowInDays' range (7–30) before refusing it together with
  ForceDeleteWithoutRecovery;
* PutSecretValue with neither SecretString nor SecretBinary: InvalidRequestException, "You must
  provide either SecretString or SecretBinary."
"""
import pytest
from botocore.exceptions import ClientError

from conftest import secret, sm_client, unique
from server import Server


def error(e):
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def listed(sm, name):
    page = sm.list_secrets(Filters=[{"Key": "name", "Values": [name]}])["SecretList"]
    return next(s for s in page if s["Name"] == name)


def test_untagging_the_last_tag_leaves_an_empty_list(sm):
    never = unique("b3p-never-tagged")
    sm.create_secret(Name=never, SecretString=secret("never"))
    assert "Tags" not in sm.describe_secret(SecretId=never)
    assert "Tags" not in listed(sm, never)

    created = unique("b3p-created-tagged")
    sm.create_secret(Name=created, SecretString=secret("created"),
                     Tags=[{"Key": "team", "Value": "a"}, {"Key": "env", "Value": "b"}])
    sm.untag_resource(SecretId=created, TagKeys=["team"])
    assert sm.describe_secret(SecretId=created)["Tags"] == [{"Key": "env", "Value": "b"}]
    sm.untag_resource(SecretId=created, TagKeys=["env"])
    assert sm.describe_secret(SecretId=created)["Tags"] == []
    assert listed(sm, created)["Tags"] == []

    later = unique("b3p-later-tagged")
    sm.create_secret(Name=later, SecretString=secret("later"))
    sm.tag_resource(SecretId=later, Tags=[{"Key": "k", "Value": "v"}])
    sm.untag_resource(SecretId=later, TagKeys=["k"])
    assert sm.describe_secret(SecretId=later)["Tags"] == []
    sm.tag_resource(SecretId=later, Tags=[{"Key": "k2", "Value": "v2"}])
    assert sm.describe_secret(SecretId=later)["Tags"] == [{"Key": "k2", "Value": "v2"}]
    # Untagging a secret never tagged (a key it does not have) gives it no Tags member.
    sm.untag_resource(SecretId=never, TagKeys=["absent"])
    assert "Tags" not in sm.describe_secret(SecretId=never)


def test_empty_tag_list_survives_a_restart():
    s = Server(name="b3p-tags-restart")
    data_dir = s.data_dir
    try:
        sm = sm_client(s)
        tagged, never = unique("b3p-restart-tagged"), unique("b3p-restart-never")
        sm.create_secret(Name=tagged, SecretString=secret("restart-tagged"),
                         Tags=[{"Key": "k", "Value": "v"}])
        sm.untag_resource(SecretId=tagged, TagKeys=["k"])
        sm.create_secret(Name=never, SecretString=secret("restart-never"))
    finally:
        assert s.stop() == 0
    s = Server(name="b3p-tags-restart-2", data_dir=data_dir)
    try:
        sm = sm_client(s)
        assert sm.describe_secret(SecretId=tagged)["Tags"] == []
        assert "Tags" not in sm.describe_secret(SecretId=never)
    finally:
        assert s.stop() == 0


def test_delete_secret_checks_the_window_range_first(sm):
    name = unique("b3p-del")
    sm.create_secret(Name=name, SecretString=secret("del"))
    for days in (6, 31):
        with pytest.raises(ClientError) as e:
            sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True, RecoveryWindowInDays=days)
        assert error(e) == ("InvalidParameterException",
                            "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
    with pytest.raises(ClientError) as e:
        sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True, RecoveryWindowInDays=7)
    assert error(e) == ("InvalidParameterException",
                        "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
    # Nothing was deleted.
    assert "DeletedDate" not in sm.describe_secret(SecretId=name)


def test_put_secret_value_without_a_value(sm):
    name = unique("b3p-put")
    sm.create_secret(Name=name, SecretString=secret("put"))
    with pytest.raises(ClientError) as e:
        sm.put_secret_value(SecretId=name)
    assert error(e) == ("InvalidRequestException",
                        "You must provide either SecretString or SecretBinary.")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert len(sm.list_secret_version_ids(SecretId=name)["Versions"]) == 1
