"""Secrets Manager semantics through boto3 (botocore's own SigV4 signer and JSON 1.1 codec)."""
import pytest
from botocore.exceptions import ClientError

from conftest import MARKER, remember, secret, unique

INVALID_INPUT = ("InvalidParameterException", "ValidationException")


def code(e):
    return e.value.response["Error"]["Code"]


def stages(sm, name):
    return sm.describe_secret(SecretId=name).get("VersionIdsToStages", {})


@pytest.fixture(scope="module")
def paged(sm):
    """25 secrets under one prefix: even ones tagged env=prod, odd ones env=stage."""
    prefix = unique("b3-page")
    names = []
    for i in range(25):
        env = "prod" if i % 2 == 0 else "stage"
        name = f"{prefix}-{i:02d}-{env}"
        sm.create_secret(Name=name, SecretString=secret(f"page-{i}"), Description=f"page {env} secret",
                         Tags=[{"Key": "env", "Value": env}, {"Key": f"k{i:02d}", "Value": "x"}])
        names.append(name)
    return prefix, names


def test_list_secrets_pages_by_max_results(sm, paged):
    prefix, names = paged
    seen, pages, token = [], 0, None
    while True:
        kw = {"NextToken": token} if token else {}
        page = sm.list_secrets(MaxResults=10, Filters=[{"Key": "name", "Values": [prefix]}], **kw)
        pages += 1
        assert len(page["SecretList"]) <= 10
        seen += [s["Name"] for s in page["SecretList"]]
        token = page.get("NextToken")
        if not token:
            break
        assert pages < 30, "NextToken never ends"
    assert sorted(seen) == sorted(names), "every secret exactly once"
    assert len(seen) == len(set(seen))
    assert pages >= 3


def test_list_secrets_paginator(sm, paged):
    prefix, names = paged
    seen, sizes = [], []
    for page in sm.get_paginator("list_secrets").paginate(
            Filters=[{"Key": "name", "Values": [prefix]}], PaginationConfig={"PageSize": 10}):
        sizes.append(len(page["SecretList"]))
        seen += [s["Name"] for s in page["SecretList"]]
    assert sorted(seen) == sorted(names) and max(sizes) <= 10 and len(sizes) >= 3
    # MaxItems across pages, then resuming where it stopped.
    first = sm.get_paginator("list_secrets").paginate(
        Filters=[{"Key": "name", "Values": [prefix]}],
        PaginationConfig={"PageSize": 10, "MaxItems": 15}).build_full_result()
    assert len(first["SecretList"]) == 15 and first.get("NextToken")
    rest = sm.get_paginator("list_secrets").paginate(
        Filters=[{"Key": "name", "Values": [prefix]}],
        PaginationConfig={"PageSize": 10, "StartingToken": first["NextToken"]}).build_full_result()
    got = [s["Name"] for s in first["SecretList"] + rest["SecretList"]]
    assert sorted(got) == sorted(names)


def test_list_secrets_filters_and_negation(sm, paged):
    prefix, names = paged

    def listed(*filters, **kw):
        out = []
        for page in sm.get_paginator("list_secrets").paginate(Filters=list(filters), **kw):
            out += [s["Name"] for s in page["SecretList"]]
        return sorted(out)

    mine = {"Key": "name", "Values": [prefix]}
    prod = sorted(n for n in names if n.endswith("-prod"))
    stage = sorted(n for n in names if n.endswith("-stage"))
    assert listed(mine, {"Key": "tag-value", "Values": ["prod"]}) == prod
    assert len(prod) == 13
    assert listed(mine, {"Key": "tag-value", "Values": ["!prod"]}) == stage
    # Negated name prefix: everything under the prefix but 00..09.
    assert listed(mine, {"Key": "name", "Values": [f"!{prefix}-0"]}) == sorted(names[10:])
    # Several values in one filter: either matches.
    assert listed({"Key": "name", "Values": [f"{prefix}-00", f"{prefix}-01"]}) == sorted(names[:2])
    # Several filters: all must match.
    assert listed(mine, {"Key": "tag-key", "Values": ["k07"]}) == [names[7]]
    assert listed(mine, {"Key": "description", "Values": ["page stage"]}) == stage
    assert listed(mine, {"Key": "tag-key", "Values": ["no-such-key"]}) == []
    # Sorting by name.
    asc = sm.list_secrets(Filters=[mine], SortBy="name", SortOrder="asc", MaxResults=3)["SecretList"]
    assert [s["Name"] for s in asc] == names[:3]
    desc = sm.list_secrets(Filters=[mine], SortBy="name", SortOrder="desc", MaxResults=3)["SecretList"]
    assert [s["Name"] for s in desc] == names[::-1][:3]
    # No values in listings.
    for s in sm.list_secrets(Filters=[mine])["SecretList"]:
        assert "SecretString" not in s and s["Name"].startswith(prefix)
    with pytest.raises(ClientError) as e:
        sm.list_secrets(NextToken="bogus")
    assert code(e) == "InvalidNextTokenException"


def test_client_request_token_idempotency(sm):
    name = unique("b3-idem")
    create_token = "aaaaaaaa-2222-4333-8444-555555555555"
    token = "11111111-2222-4333-8444-555555555555"
    v1_value, v2_value, v3_value = secret("idem1"), secret("idem2"), secret("idem3")
    created = sm.create_secret(Name=name, SecretString=v1_value, ClientRequestToken=create_token)
    assert created["VersionId"] == create_token

    a = sm.put_secret_value(SecretId=name, SecretString=v2_value, ClientRequestToken=token)
    assert a["VersionId"] == token and a["VersionStages"] == ["AWSCURRENT"]
    b = sm.put_secret_value(SecretId=name, SecretString=v2_value, ClientRequestToken=token)
    assert b["VersionId"] == token
    versions = sm.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)["Versions"]
    assert sorted(v["VersionId"] for v in versions) == sorted([create_token, token]), "no new version"

    # Same token, different value: refused, nothing changes.
    with pytest.raises(ClientError) as e:
        sm.put_secret_value(SecretId=name, SecretString=secret("other"), ClientRequestToken=token)
    assert code(e) == "ResourceExistsException"
    assert sm.get_secret_value(SecretId=name)["SecretString"] == v2_value

    # A retried old request is ignored: it does not take AWSCURRENT back.
    c = sm.put_secret_value(SecretId=name, SecretString=v3_value)
    sm.put_secret_value(SecretId=name, SecretString=v2_value, ClientRequestToken=token)
    assert sm.get_secret_value(SecretId=name)["VersionId"] == c["VersionId"]
    assert stages(sm, name) == {c["VersionId"]: ["AWSCURRENT"], token: ["AWSPREVIOUS"]}

    # boto3 fills in a fresh token itself when none is given: every call is a new version.
    d = sm.put_secret_value(SecretId=name, SecretString=v3_value)
    assert d["VersionId"] != c["VersionId"]


def test_scheduled_deletion_restore_and_force(sm):
    name = unique("b3-del")
    value = secret("del")
    arn = sm.create_secret(Name=name, SecretString=value)["ARN"]
    for days in (6, 31):
        with pytest.raises(ClientError) as e:
            sm.delete_secret(SecretId=name, RecoveryWindowInDays=days)
        assert code(e) == "InvalidParameterException"
    sm.delete_secret(SecretId=name, RecoveryWindowInDays=30)
    with pytest.raises(ClientError) as e:
        sm.get_secret_value(SecretId=name)
    assert code(e) == "InvalidRequestException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "DeletedDate" in sm.describe_secret(SecretId=name)
    with pytest.raises(ClientError) as e:
        sm.put_secret_value(SecretId=name, SecretString=secret("late"))
    assert code(e) == "InvalidRequestException"
    restored = sm.restore_secret(SecretId=name)
    assert restored["ARN"] == arn
    assert sm.get_secret_value(SecretId=name)["SecretString"] == value

    sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    with pytest.raises(ClientError) as e:
        sm.get_secret_value(SecretId=name)
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        sm.describe_secret(SecretId=arn)
    assert code(e) == "ResourceNotFoundException"
    again = sm.create_secret(Name=name, SecretString=secret("again"))
    assert again["ARN"] != arn
    assert sm.get_secret_value(SecretId=name)["ARN"] == again["ARN"]


def test_force_delete_of_a_secret_already_scheduled(sm):
    name = unique("b3-del2")
    sm.create_secret(Name=name, SecretString=secret("del2"))
    sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    with pytest.raises(ClientError) as e:
        sm.describe_secret(SecretId=name)
    assert code(e) == "ResourceNotFoundException"


def test_binary_values(sm):
    name = unique("b3-bin")
    blob = bytes(range(256)) * 4 + MARKER.encode()
    created = sm.create_secret(Name=name, SecretBinary=blob)
    got = sm.get_secret_value(SecretId=name)
    assert got["SecretBinary"] == blob and "SecretString" not in got
    assert got["VersionId"] == created["VersionId"]
    # A string version after a binary one: each version keeps its own kind.
    text = secret("after-binary")
    sm.put_secret_value(SecretId=name, SecretString=text)
    assert sm.get_secret_value(SecretId=name)["SecretString"] == text
    prev = sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")
    assert prev["SecretBinary"] == blob and "SecretString" not in prev
    with pytest.raises(ClientError) as e:
        sm.create_secret(Name=unique("b3-both"), SecretString=secret("both"), SecretBinary=b"also-" + MARKER.encode())
    assert code(e) in INVALID_INPUT


def test_secret_without_a_value(sm):
    """CreateSecret with no value makes a secret with no version (AWS allows it)."""
    name = unique("b3-empty")
    created = sm.create_secret(Name=name, Description="no value yet")
    assert "VersionId" not in created
    assert not stages(sm, name)
    with pytest.raises(ClientError) as e:
        sm.get_secret_value(SecretId=name)
    assert code(e) == "ResourceNotFoundException"
    value = secret("first-value")
    v = sm.put_secret_value(SecretId=name, SecretString=value)
    assert v["VersionStages"] == ["AWSCURRENT"]
    assert stages(sm, name) == {v["VersionId"]: ["AWSCURRENT"]}
    assert sm.get_secret_value(SecretId=name)["SecretString"] == value


def test_value_size_limits(sm):
    big = remember(MARKER + "x" * (65536 - len(MARKER)))
    name = unique("b3-max")
    sm.create_secret(Name=name, SecretString=big)
    assert sm.get_secret_value(SecretId=name)["SecretString"] == big
    over = unique("b3-over")
    with pytest.raises(ClientError) as e:
        sm.create_secret(Name=over, SecretString=big + "x")
    assert code(e) in INVALID_INPUT
    with pytest.raises(ClientError) as e:
        sm.describe_secret(SecretId=over)
    assert code(e) == "ResourceNotFoundException", "a refused secret is not created"
    with pytest.raises(ClientError) as e:
        sm.put_secret_value(SecretId=name, SecretString=big + "y")
    assert code(e) in INVALID_INPUT
    assert sm.get_secret_value(SecretId=name)["SecretString"] == big

    blob = MARKER.encode() + bytes(65536 - len(MARKER))
    bname = unique("b3-maxbin")
    sm.create_secret(Name=bname, SecretBinary=blob)
    assert sm.get_secret_value(SecretId=bname)["SecretBinary"] == blob
    with pytest.raises(ClientError) as e:
        sm.put_secret_value(SecretId=bname, SecretBinary=blob + b"\0")
    assert code(e) in INVALID_INPUT


def test_staging_label_moves(sm):
    name = unique("b3-labels")
    v1 = sm.create_secret(Name=name, SecretString=secret("v1"))["VersionId"]
    v2 = sm.put_secret_value(SecretId=name, SecretString=secret("v2"), VersionStages=["AWSPENDING"])["VersionId"]
    assert stages(sm, name) == {v1: ["AWSCURRENT"], v2: ["AWSPENDING"]}

    # AWSCURRENT is on v1: moving it needs RemoveFromVersionId=v1, exactly.
    for remove in ({}, {"RemoveFromVersionId": v2}):
        with pytest.raises(ClientError) as e:
            sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=v2, **remove)
        assert code(e) == "InvalidParameterException"
    assert stages(sm, name) == {v1: ["AWSCURRENT"], v2: ["AWSPENDING"]}, "refused moves change nothing"

    sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=v2,
                                   RemoveFromVersionId=v1)
    d = stages(sm, name)
    assert sorted(d[v2]) == ["AWSCURRENT", "AWSPENDING"] and d[v1] == ["AWSPREVIOUS"]

    # Back again: AWSPREVIOUS follows to the version AWSCURRENT left.
    sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=v1,
                                   RemoveFromVersionId=v2)
    d = stages(sm, name)
    assert d[v1] == ["AWSCURRENT"] and sorted(d[v2]) == ["AWSPENDING", "AWSPREVIOUS"]

    # Removing a label from the version that has it.
    sm.update_secret_version_stage(SecretId=name, VersionStage="AWSPENDING", RemoveFromVersionId=v2)
    assert stages(sm, name) == {v1: ["AWSCURRENT"], v2: ["AWSPREVIOUS"]}

    # PutSecretValue with a custom label another version holds: the label moves by itself.
    v3 = sm.put_secret_value(SecretId=name, SecretString=secret("v3"), VersionStages=["blue"])["VersionId"]
    v4 = sm.put_secret_value(SecretId=name, SecretString=secret("v4"), VersionStages=["blue"])["VersionId"]
    d = stages(sm, name)
    assert d[v4] == ["blue"] and v3 not in d, "v3 lost its only label: deprecated, not described"
    assert d[v1] == ["AWSCURRENT"] and d[v2] == ["AWSPREVIOUS"]
    assert sm.get_secret_value(SecretId=name, VersionStage="blue")["VersionId"] == v4


def test_partial_and_full_arn(sm):
    name = unique("b3/path/name")
    arn = sm.create_secret(Name=name, SecretString=secret("arn"))["ARN"]
    assert arn.startswith(f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-")
    assert len(arn) == len(f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-") + 6
    assert sm.get_secret_value(SecretId=arn)["ARN"] == arn
    assert sm.get_secret_value(SecretId=arn[:-7])["ARN"] == arn, "a partial ARN (no random suffix) works"
    assert sm.describe_secret(SecretId=name)["ARN"] == arn
    with pytest.raises(ClientError) as e:
        sm.get_secret_value(SecretId=arn[:-6] + "ZZZZZZ")
    assert code(e) == "ResourceNotFoundException"


def test_invalid_names_and_duplicates(sm):
    for bad in ("bad name", "bad*name", "x" * 513, "bad#name"):
        with pytest.raises(ClientError) as e:
            sm.create_secret(Name=bad, SecretString=secret("bad"))
        assert code(e) in INVALID_INPUT, bad
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    ok = unique("b3/ok_name+=.@-chars")
    sm.create_secret(Name=ok, SecretString=secret("ok"))
    with pytest.raises(ClientError) as e:
        sm.create_secret(Name=ok, SecretString=secret("dup"))
    assert code(e) == "ResourceExistsException"


def test_tags(sm):
    name = unique("b3-tags")
    sm.create_secret(Name=name, SecretString=secret("tags"), Tags=[{"Key": "a", "Value": "1"}])
    sm.tag_resource(SecretId=name, Tags=[{"Key": "a", "Value": "2"}, {"Key": "b", "Value": "3"}])
    tags = {t["Key"]: t["Value"] for t in sm.describe_secret(SecretId=name)["Tags"]}
    assert tags == {"a": "2", "b": "3"}
    sm.untag_resource(SecretId=name, TagKeys=["a"])
    assert sm.describe_secret(SecretId=name)["Tags"] == [{"Key": "b", "Value": "3"}]


def test_batch_get_secret_value_by_filter_pages(sm, paged):
    prefix, names = paged
    got, token = {}, None
    while True:
        kw = {"NextToken": token} if token else {}
        page = sm.batch_get_secret_value(Filters=[{"Key": "name", "Values": [prefix]}], MaxResults=10, **kw)
        assert len(page["SecretValues"]) <= 10
        for v in page["SecretValues"]:
            got[v["Name"]] = v["SecretString"]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(got) == sorted(names)
    assert all(v.startswith(MARKER) for v in got.values())


def test_random_password_flags(sm):
    pw = sm.get_random_password(PasswordLength=50, ExcludeCharacters="0Oo1lI", IncludeSpace=True)["RandomPassword"]
    assert len(pw) == 50 and not set(pw) & set("0Oo1lI")
    pw = sm.get_random_password(PasswordLength=20, ExcludeNumbers=True, ExcludePunctuation=True,
                                ExcludeUppercase=True)["RandomPassword"]
    assert len(pw) == 20 and pw.isalpha() and pw.islower()
    with pytest.raises(ClientError) as e:
        sm.get_random_password(PasswordLength=4097)
    assert code(e) in INVALID_INPUT


def test_values_round_trip_byte_for_byte(sm):
    """Unicode, JSON metacharacters, whitespace and very long lines come back unchanged."""
    cases = [
        MARKER + ' pässwörd 🔑 秘密 "quoted" \\backslash\\ </script> \t tab \n newline \r\n crlf',
        MARKER + "\u2028\u2029 line separators, \ufeff BOM, \u00a0 nbsp",
        MARKER + " " * 100 + "trailing spaces " * 3,
        "{\n  " + f'"key": "{MARKER}",\n  "nested": {{"a": [1, 2.5, null, true]}}\n' + "}",
    ]
    name = unique("b3-unicode")
    sm.create_secret(Name=name, SecretString=remember(cases[0]))
    assert sm.get_secret_value(SecretId=name)["SecretString"] == cases[0]
    for value in cases[1:]:
        sm.put_secret_value(SecretId=name, SecretString=remember(value))
        assert sm.get_secret_value(SecretId=name)["SecretString"] == value
    for blob in (b"\x00" * 16 + MARKER.encode(), bytes(range(255, -1, -1)) + MARKER.encode()):
        sm.put_secret_value(SecretId=name, SecretBinary=blob)
        assert sm.get_secret_value(SecretId=name)["SecretBinary"] == blob


def test_listing_shapes(sm):
    """ListSecrets and ListSecretVersionIds entries carry AWS's fields (and never a value)."""
    name = unique("b3-shapes")
    v1 = sm.create_secret(Name=name, SecretString=secret("s1"), Description="shape")["VersionId"]
    v2 = sm.put_secret_value(SecretId=name, SecretString=secret("s2"))["VersionId"]
    entry = sm.list_secrets(Filters=[{"Key": "name", "Values": [name]}])["SecretList"][0]
    assert entry["Name"] == name and entry["Description"] == "shape"
    assert entry["ARN"] == sm.describe_secret(SecretId=name)["ARN"]
    assert entry["SecretVersionsToStages"] == {v2: ["AWSCURRENT"], v1: ["AWSPREVIOUS"]}
    assert "CreatedDate" in entry and "LastChangedDate" in entry
    assert "SecretString" not in entry and "SecretBinary" not in entry
    versions = sm.list_secret_version_ids(SecretId=name)["Versions"]
    assert {v["VersionId"] for v in versions} == {v1, v2}
    assert all("CreatedDate" in v for v in versions)
    assert all("SecretString" not in v for v in versions)

    sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    assert sm.list_secrets(Filters=[{"Key": "name", "Values": [name]}])["SecretList"] == []
    planned = sm.list_secrets(Filters=[{"Key": "name", "Values": [name]}], IncludePlannedDeletion=True)["SecretList"]
    assert [e["Name"] for e in planned] == [name] and "DeletedDate" in planned[0]


def test_dates(sm):
    name = unique("b3-dates")
    sm.create_secret(Name=name, SecretString=secret("d1"))
    d1 = sm.describe_secret(SecretId=name)
    assert "LastAccessedDate" not in d1, "never read yet"
    sm.get_secret_value(SecretId=name)
    d2 = sm.describe_secret(SecretId=name)
    # AWS records the access date to the day (midnight UTC), not the instant.
    accessed = d2["LastAccessedDate"]
    assert (accessed.hour, accessed.minute, accessed.second, accessed.microsecond) == (0, 0, 0, 0), accessed
    import time
    time.sleep(1.1)
    sm.put_secret_value(SecretId=name, SecretString=secret("d2"))
    d3 = sm.describe_secret(SecretId=name)
    assert d3["LastChangedDate"] > d1["LastChangedDate"]
    assert d3["CreatedDate"] == d1["CreatedDate"]


def test_concurrent_writers_keep_one_current_version(sm):
    """20 PutSecretValue calls at once: every one is a version, exactly one is AWSCURRENT,
    exactly one AWSPREVIOUS, and the current value is one that was written."""
    from concurrent.futures import ThreadPoolExecutor
    name = unique("b3-race")
    sm.create_secret(Name=name, SecretString=secret("r0"))
    values = [secret(f"r{i}") for i in range(1, 21)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda v: sm.put_secret_value(SecretId=name, SecretString=v), values))
    ids = {r["VersionId"] for r in results}
    assert len(ids) == 20
    versions = sm.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)["Versions"]
    assert len(versions) == 21
    labels = [s for v in versions for s in v.get("VersionStages", [])]
    assert labels.count("AWSCURRENT") == 1 and labels.count("AWSPREVIOUS") == 1
    current = sm.get_secret_value(SecretId=name)
    assert current["VersionId"] in ids and current["SecretString"] in values
