"""SSM Parameter Store (JSON 1.1, `AmazonSSM.<Op>`) through boto3 and the AWS CLI.

The thirteen Parameter Store operations: PutParameter, GetParameter, GetParameters,
GetParametersByPath, DeleteParameter, DeleteParameters, DescribeParameters,
GetParameterHistory, LabelParameterVersion, UnlabelParameterVersion, AddTagsToResource,
RemoveTagsFromResource and ListTagsForResource (ResourceType=Parameter). What each test asserts
is what the botocore model (ssm.json) and the Systems Manager user guide document:

* String, StringList and SecureString values; a SecureString read without WithDecryption is a
  ciphertext, under alias/aws/ssm unless a customer managed KMS key is named (KeyId);
* versions (Overwrite), the `name:version` and `name:label` selectors, labels and their moves,
  the label rules (InvalidLabels), GetParameterHistory;
* GetParametersByPath (Recursive, ParameterFilters Type/Label, paging by 10 at most) and
  DescribeParameters (ParameterFilters Name/Type/Path/tag, paging), both "best effort": a page
  may hold fewer than MaxResults items, so paging loops until there is no NextToken;
* the naming rules (fifteen levels, reserved aws/ssm prefixes, fully qualified names,
  characters), AllowedPattern, the 4 KB standard-tier value limit, tags;
* `/aws/reference/secretsmanager/<secret>` (GetParameter with WithDecryption=True only);
* IAM: a user allowed ssm:GetParameter on `parameter/app/*` only, and kms:Decrypt for a
  SecureString under a customer managed key (the AWS managed aws/ssm key needs none);
* CloudTrail: the GetParameter and PutParameter records carry no value.

Every parameter value carries MARKER (secret()), so the leak scans after the run look for each
of them in every log and data dir; the SSM client also records every Value it sends.
"""
import datetime as dt
import json
import math
import time
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import (MARKER, audit_record, aws, aws_error, aws_json, keys_anywhere, remember,
                      request_id, secret, since, unique)
from server import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})
PARAM_ARN = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter"
ROOT_ARN = f"arn:aws:iam::{ACCOUNT}:root"
REFERENCE = "/aws/reference/secretsmanager/"
SSM_SOURCE = "ssm.amazonaws.com"


# ---------------------------------------------------------------------------------------------
# helpers


def _remember_value(params, **_):
    if isinstance(params.get("Value"), str):
        remember(params["Value"])


def ssm_client(server, access_key=ACCESS_KEY, secret_key=SECRET_KEY, session_token=None,
               validate=True):
    """A boto3 SSM client for `server` (no retries) that records every Value it puts."""
    c = boto3.client("ssm", endpoint_url=server.endpoint, region_name=REGION,
                     aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                     aws_session_token=session_token,
                     config=NO_RETRY.merge(Config(parameter_validation=validate)))
    c.meta.events.register("provide-client-params.ssm.PutParameter", _remember_value)
    return c


def client(server, service, access_key=ACCESS_KEY, secret_key=SECRET_KEY):
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION,
                        aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                        config=NO_RETRY)


@pytest.fixture(scope="module")
def ssm(server):
    return ssm_client(server)


@pytest.fixture(scope="module")
def kms(server):
    return client(server, "kms")


def refused(call, *codes, status=400):
    """Run `call`, which must fail with one of `codes` (and HTTP `status`); returns the error."""
    with pytest.raises(ClientError) as e:
        call()
    err = e.value.response
    assert err["Error"]["Code"] in codes, err
    if status is not None:
        assert err["ResponseMetadata"]["HTTPStatusCode"] == status, err
    return err


def root(label):
    """A hierarchy root no other test (or earlier run against the same server) uses."""
    return "/" + unique(f"e2e-{label}")


def new_key(kms, label):
    """A customer managed KMS key with an alias: (key metadata, alias name)."""
    key = kms.create_key(Description=f"e2e ssm {label}")["KeyMetadata"]
    alias = f"alias/{unique('e2e-ssm-' + label)}"
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    return key, alias


def params_by_path(ssm, path, **kw):
    """Every Parameter GetParametersByPath returns over all its pages (a page may hold fewer
    than MaxResults, even none, and still have a NextToken)."""
    out, token = [], None
    for _ in range(200):
        page = ssm.get_parameters_by_path(Path=path, **kw, **({"NextToken": token} if token else {}))
        out += page["Parameters"]
        token = page.get("NextToken")
        if not token:
            return out
    raise AssertionError("NextToken never ends")


def names_by_path(ssm, path, **kw):
    return [p["Name"] for p in params_by_path(ssm, path, **kw)]


def described(ssm, filters, **kw):
    """Every ParameterMetadata DescribeParameters returns for `filters`, over all pages."""
    out, token = [], None
    for _ in range(500):
        page = ssm.describe_parameters(ParameterFilters=filters, **kw,
                                       **({"NextToken": token} if token else {}))
        out += page["Parameters"]
        token = page.get("NextToken")
        if not token:
            return out
    raise AssertionError("NextToken never ends")


def describe_one(ssm, name):
    found = described(ssm, [{"Key": "Name", "Option": "Equals", "Values": [name]}])
    assert [m["Name"] for m in found] == [name]
    return found[0]


def history(ssm, name, **kw):
    out, token = [], None
    for _ in range(100):
        page = ssm.get_parameter_history(Name=name, **kw, **({"NextToken": token} if token else {}))
        out += page["Parameters"]
        token = page.get("NextToken")
        if not token:
            return sorted(out, key=lambda h: h["Version"])
    raise AssertionError("NextToken never ends")


def labels_by_version(ssm, name):
    return {h["Version"]: sorted(h.get("Labels", [])) for h in history(ssm, name)}


def tags_of(ssm, name):
    tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]
    return {t["Key"]: t["Value"] for t in tags}


def user_with(server, statements):
    """An IAM user whose only permissions are `statements`: (name, access key)."""
    iam = client(server, "iam")
    name = unique("e2e-ssm-user")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": statements}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    remember(key["SecretAccessKey"])
    return name, key


# ---------------------------------------------------------------------------------------------
# types and values


def test_string_parameter_round_trip(ssm):
    name = f"{root('str')}/db/host"
    value = secret("string")
    put = ssm.put_parameter(Name=name, Value=value, Type="String", Description="e2e string")
    assert put["Version"] == 1 and put["Tier"] == "Standard"
    p = ssm.get_parameter(Name=name)["Parameter"]
    assert p["Name"] == name and p["Type"] == "String" and p["Value"] == value
    assert p["Version"] == 1 and p["DataType"] == "text"
    assert p["ARN"] == f"{PARAM_ARN}{name}"
    assert isinstance(p["LastModifiedDate"], dt.datetime)
    assert "Selector" not in p
    # WithDecryption is ignored for String parameters; the ARN names the parameter too.
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == value
    assert ssm.get_parameter(Name=p["ARN"])["Parameter"]["Value"] == value
    # A name outside any hierarchy: its ARN has the slash the name lacks.
    flat = unique("e2eflat")
    ssm.put_parameter(Name=flat, Value=secret("flat"), Type="String")
    assert ssm.get_parameter(Name=flat)["Parameter"]["ARN"] == f"{PARAM_ARN}/{flat}"


def test_string_list_parameter(ssm):
    name = f"{root('list')}/hosts"
    value = remember(f"{MARKER}-one,{MARKER}-two,{MARKER}-three")
    ssm.put_parameter(Name=name, Value=value, Type="StringList")
    p = ssm.get_parameter(Name=name)["Parameter"]
    assert p["Type"] == "StringList" and p["Value"] == value


def test_secure_string_under_the_default_key(ssm, kms):
    top = root("sec")
    name = f"{top}/db/password"
    value = secret("secure-default")
    ssm.put_parameter(Name=name, Value=value, Type="SecureString")
    cipher = ssm.get_parameter(Name=name)["Parameter"]
    assert cipher["Type"] == "SecureString"
    assert cipher["Value"] != value and MARKER not in cipher["Value"]
    plain = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
    assert plain["Value"] == value and plain["Type"] == "SecureString" and plain["Version"] == 1

    # Every read path: ciphertext without WithDecryption, the value with it.
    for decrypt in (False, True):
        got = ssm.get_parameters(Names=[name], WithDecryption=decrypt)["Parameters"]
        by_path = params_by_path(ssm, f"{top}/db", WithDecryption=decrypt)
        hist = ssm.get_parameter_history(Name=name, WithDecryption=decrypt)["Parameters"]
        for v in (got[0]["Value"], by_path[0]["Value"], hist[0]["Value"]):
            assert (v == value) if decrypt else (v != value and MARKER not in v)

    # The AWS managed key aws/ssm protects it, and exists now.
    meta = describe_one(ssm, name)
    assert meta["Type"] == "SecureString" and meta["KeyId"] == "alias/aws/ssm"
    assert "Value" not in meta
    assert hist[0]["KeyId"] == "alias/aws/ssm"
    assert kms.describe_key(KeyId="alias/aws/ssm")["KeyMetadata"]["KeyManager"] == "AWS"


def test_secure_string_under_a_customer_managed_key(ssm, kms):
    key, alias = new_key(kms, "cmk")
    alias_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:{alias}"
    top = root("cmk")
    for i, given in enumerate((alias, key["KeyId"], key["Arn"])):
        name = f"{top}/p{i}"
        value = secret(f"cmk-{i}")
        ssm.put_parameter(Name=name, Value=value, Type="SecureString", KeyId=given)
        cipher = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        assert cipher != value and MARKER not in cipher
        assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == value
        assert describe_one(ssm, name)["KeyId"] in (given, alias, alias_arn, key["KeyId"], key["Arn"])


def test_secure_string_with_an_unknown_key_is_refused(ssm):
    name = f"{root('nokey')}/p"
    refused(lambda: ssm.put_parameter(Name=name, Value=secret("nokey"), Type="SecureString",
                                      KeyId=f"alias/{unique('e2e-no-such-key')}"),
            "InvalidKeyId", "ValidationException")
    refused(lambda: ssm.get_parameter(Name=name), "ParameterNotFound")


def test_standard_tier_values_are_at_most_4_kb(ssm):
    name = f"{root('size')}/big"
    big = remember(MARKER + "x" * (4096 - len(MARKER)))
    ssm.put_parameter(Name=name, Value=big, Type="String")
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == big
    refused(lambda: ssm.put_parameter(Name=name, Value=big + "y", Type="String", Overwrite=True),
            "ValidationException")
    assert ssm.get_parameter(Name=name)["Parameter"]["Version"] == 1


# ---------------------------------------------------------------------------------------------
# versions, selectors, not found


def test_overwrite_makes_versions_and_duplicates_are_refused(ssm):
    name = f"{root('ver')}/setting"
    v1, v2, v3 = secret("v1"), secret("v2"), secret("v3")
    assert ssm.put_parameter(Name=name, Value=v1, Type="String")["Version"] == 1
    refused(lambda: ssm.put_parameter(Name=name, Value=v2, Type="String"), "ParameterAlreadyExists")
    refused(lambda: ssm.put_parameter(Name=name, Value=v2, Type="String", Overwrite=False),
            "ParameterAlreadyExists")
    p = ssm.get_parameter(Name=name)["Parameter"]
    assert (p["Value"], p["Version"]) == (v1, 1), "a refused put changes nothing"
    assert ssm.put_parameter(Name=name, Value=v2, Type="String", Overwrite=True)["Version"] == 2
    # The type is needed only to create a parameter.
    assert ssm.put_parameter(Name=name, Value=v3, Overwrite=True)["Version"] == 3
    p = ssm.get_parameter(Name=name)["Parameter"]
    assert (p["Value"], p["Version"], p["Type"]) == (v3, 3, "String")
    assert describe_one(ssm, name)["Version"] == 3
    refused(lambda: ssm.put_parameter(Name=f"{name}-untyped", Value=secret("untyped")),
            "ValidationException")


def test_missing_parameters_are_not_found(ssm):
    name = f"{root('missing')}/nothing"
    refused(lambda: ssm.get_parameter(Name=name), "ParameterNotFound")
    refused(lambda: ssm.get_parameter(Name=name, WithDecryption=True), "ParameterNotFound")
    refused(lambda: ssm.delete_parameter(Name=name), "ParameterNotFound")
    refused(lambda: ssm.get_parameter_history(Name=name), "ParameterNotFound")
    refused(lambda: ssm.label_parameter_version(Name=name, Labels=["blue"]), "ParameterNotFound")
    refused(lambda: ssm.unlabel_parameter_version(Name=name, ParameterVersion=1, Labels=["blue"]),
            "ParameterNotFound")


def test_version_and_label_selectors(ssm):
    name = f"{root('sel')}/endpoint"
    v1, v2, v3 = secret("sel1"), secret("sel2"), secret("sel3")
    ssm.put_parameter(Name=name, Value=v1, Type="String")
    ssm.put_parameter(Name=name, Value=v2, Overwrite=True)
    ssm.put_parameter(Name=name, Value=v3, Overwrite=True)
    ssm.label_parameter_version(Name=name, ParameterVersion=1, Labels=["blue"])

    p = ssm.get_parameter(Name=f"{name}:1")["Parameter"]
    assert (p["Name"], p["Value"], p["Version"], p["Selector"]) == (name, v1, 1, ":1")
    p = ssm.get_parameter(Name=f"{name}:blue")["Parameter"]
    assert (p["Name"], p["Value"], p["Version"], p["Selector"]) == (name, v1, 1, ":blue")
    assert ssm.get_parameter(Name=f"{name}:3")["Parameter"]["Value"] == v3
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == v3

    refused(lambda: ssm.get_parameter(Name=f"{name}:99"), "ParameterVersionNotFound")
    refused(lambda: ssm.get_parameter(Name=f"{name}:nolabel"),
            "ParameterNotFound", "ParameterVersionNotFound")
    got = ssm.get_parameters(Names=[f"{name}:2", f"{name}:blue"])["Parameters"]
    assert sorted((g["Version"], g["Value"]) for g in got) == [(1, v1), (2, v2)]


def test_get_parameters_reports_invalid_parameters(ssm):
    top = root("many")
    a, b, missing = f"{top}/a", f"{top}/b", f"{top}/missing"
    va, vb = secret("many-a"), secret("many-b")
    ssm.put_parameter(Name=a, Value=va, Type="String")
    ssm.put_parameter(Name=b, Value=vb, Type="SecureString")
    r = ssm.get_parameters(Names=[a, b, missing, f"{a}:99"], WithDecryption=True)
    assert {p["Name"]: p["Value"] for p in r["Parameters"]} == {a: va, b: vb}
    assert sorted(r["InvalidParameters"]) == sorted([missing, f"{a}:99"])
    r = ssm.get_parameters(Names=[a])
    assert [p["Name"] for p in r["Parameters"]] == [a] and not r.get("InvalidParameters")
    # At most ten names a call.
    refused(lambda: ssm.get_parameters(Names=[f"{top}/n{i}" for i in range(11)]),
            "ValidationException")


# ---------------------------------------------------------------------------------------------
# GetParametersByPath and DescribeParameters


@pytest.fixture(scope="module")
def tree(ssm):
    """/<top>/a (String, tagged team=blue), /<top>/b (SecureString), /<top>/sub/c (StringList),
    /<top>/sub/deeper/d (SecureString); a and d carry the label `release`."""
    top = root("tree")
    made = {}
    for rel, kind in (("a", "String"), ("b", "SecureString"), ("sub/c", "StringList"),
                      ("sub/deeper/d", "SecureString")):
        name, value = f"{top}/{rel}", secret(f"tree-{rel}")
        kw = {"Tags": [{"Key": "team", "Value": "blue"}]} if rel == "a" else {}
        ssm.put_parameter(Name=name, Value=value, Type=kind, Description=f"tree {rel}", **kw)
        made[rel] = (name, value)
    for rel in ("a", "sub/deeper/d"):
        ssm.label_parameter_version(Name=made[rel][0], Labels=["release"])
    return top, made


def test_get_parameters_by_path_one_level_and_recursive(ssm, tree):
    top, made = tree
    n = {rel: name for rel, (name, _) in made.items()}
    assert sorted(names_by_path(ssm, top)) == sorted([n["a"], n["b"]])
    assert sorted(names_by_path(ssm, top, Recursive=False)) == sorted([n["a"], n["b"]])
    assert sorted(names_by_path(ssm, top, Recursive=True)) == sorted(n.values())
    assert names_by_path(ssm, f"{top}/sub") == [n["sub/c"]]
    assert sorted(names_by_path(ssm, f"{top}/sub", Recursive=True)) == sorted([n["sub/c"], n["sub/deeper/d"]])
    assert names_by_path(ssm, f"{top}/nothing-here", Recursive=True) == []
    values = {p["Name"]: p["Value"] for p in params_by_path(ssm, top, Recursive=True,
                                                            WithDecryption=True)}
    assert values == {name: value for name, value in made.values()}


def test_get_parameters_by_path_filters(ssm, tree):
    top, made = tree
    n = {rel: name for rel, (name, _) in made.items()}
    secure = names_by_path(ssm, top, Recursive=True, ParameterFilters=[
        {"Key": "Type", "Option": "Equals", "Values": ["SecureString"]}])
    assert sorted(secure) == sorted([n["b"], n["sub/deeper/d"]])
    labelled = names_by_path(ssm, top, Recursive=True, ParameterFilters=[
        {"Key": "Label", "Option": "Equals", "Values": ["release"]}])
    assert sorted(labelled) == sorted([n["a"], n["sub/deeper/d"]])
    # Name, Path, Tier and tag filters belong to DescribeParameters only.
    refused(lambda: ssm.get_parameters_by_path(Path=top, ParameterFilters=[
        {"Key": "Name", "Option": "BeginsWith", "Values": [top]}]), "InvalidFilterKey")


def test_get_parameters_by_path_pages(ssm):
    top = root("bypath-pages")
    names = [f"{top}/p{i:02d}" for i in range(10)]
    for name in names:
        ssm.put_parameter(Name=name, Value=secret(name[-3:]), Type="String")
    seen, token, pages = [], None, 0
    while True:
        page = ssm.get_parameters_by_path(Path=top, MaxResults=4, **({"NextToken": token} if token else {}))
        pages += 1
        assert len(page["Parameters"]) <= 4
        seen += [p["Name"] for p in page["Parameters"]]
        token = page.get("NextToken")
        if not token:
            break
        assert pages < 50, "NextToken never ends"
    assert sorted(seen) == names and len(seen) == len(set(seen))
    got = [p["Name"] for page in ssm.get_paginator("get_parameters_by_path").paginate(
        Path=top, PaginationConfig={"PageSize": 3}) for p in page["Parameters"]]
    assert sorted(got) == names
    # MaxResults is at most 10 for this operation.
    refused(lambda: ssm.get_parameters_by_path(Path=top, MaxResults=11), "ValidationException")


def test_describe_parameters_filters(ssm, tree):
    top, made = tree
    n = {rel: name for rel, (name, _) in made.items()}

    def names(*filters):
        return sorted(m["Name"] for m in described(ssm, list(filters)))

    mine = {"Key": "Name", "Option": "BeginsWith", "Values": [top]}
    assert names(mine) == sorted(n.values())
    assert names(mine, {"Key": "Type", "Option": "Equals", "Values": ["SecureString"]}) == \
        sorted([n["b"], n["sub/deeper/d"]])
    assert names({"Key": "Path", "Option": "Recursive", "Values": [top]}) == sorted(n.values())
    assert names({"Key": "Path", "Option": "OneLevel", "Values": [top]}) == sorted([n["a"], n["b"]])
    assert names({"Key": "Path", "Option": "Recursive", "Values": [top]},
                 {"Key": "Type", "Option": "Equals", "Values": ["StringList"]}) == [n["sub/c"]]
    assert names({"Key": "Name", "Option": "Equals", "Values": [n["a"]]}) == [n["a"]]
    # One filter per key (AWS refuses a key given twice: InvalidFilterKey).
    assert names({"Key": "Path", "Option": "Recursive", "Values": [top]},
                 {"Key": "Name", "Option": "Contains", "Values": ["deeper"]}) == [n["sub/deeper/d"]]
    assert names(mine, {"Key": "tag:team", "Values": ["blue"]}) == [n["a"]]

    # Metadata only: never a value.
    meta = {m["Name"]: m for m in described(ssm, [mine])}
    for rel, (name, value) in made.items():
        m = meta[name]
        assert "Value" not in m and value not in json.dumps(m, default=str)
        assert m["Version"] == 1 and m["Description"] == f"tree {rel}"
        assert m["LastModifiedUser"] == ROOT_ARN
        assert m["ARN"] == f"{PARAM_ARN}{name}"
    assert meta[n["b"]]["KeyId"] == "alias/aws/ssm" and "KeyId" not in meta[n["a"]]
    assert meta[n["sub/c"]]["Type"] == "StringList"

    # Label is a GetParametersByPath filter, not a DescribeParameters one.
    refused(lambda: ssm.describe_parameters(ParameterFilters=[
        {"Key": "Label", "Option": "Equals", "Values": ["release"]}]), "InvalidFilterKey")


def test_describe_parameters_pages(ssm):
    top = root("desc-pages")
    names = [f"{top}/p{i:02d}" for i in range(12)]
    for name in names:
        ssm.put_parameter(Name=name, Value=secret(name[-3:]), Type="String")
    mine = [{"Key": "Name", "Option": "BeginsWith", "Values": [top]}]
    seen, token, pages = [], None, 0
    while True:
        page = ssm.describe_parameters(ParameterFilters=mine, MaxResults=5,
                                       **({"NextToken": token} if token else {}))
        pages += 1
        assert len(page["Parameters"]) <= 5
        seen += [m["Name"] for m in page["Parameters"]]
        token = page.get("NextToken")
        if not token:
            break
        assert pages < 500, "NextToken never ends"
    assert sorted(seen) == names and len(seen) == len(set(seen))
    got = [m["Name"] for page in ssm.get_paginator("describe_parameters").paginate(
        ParameterFilters=mine, PaginationConfig={"PageSize": 4}) for m in page["Parameters"]]
    assert sorted(got) == names
    refused(lambda: ssm.describe_parameters(MaxResults=51), "ValidationException")


# ---------------------------------------------------------------------------------------------
# history and labels


def test_parameter_history_lists_versions_with_labels(ssm):
    name = f"{root('hist')}/conn"
    values = [secret(f"hist{i}") for i in range(1, 4)]
    ssm.put_parameter(Name=name, Value=values[0], Type="String", Description="first")
    for v in values[1:]:
        ssm.put_parameter(Name=name, Value=v, Overwrite=True)
    ssm.label_parameter_version(Name=name, ParameterVersion=1, Labels=["Deprecated"])
    ssm.label_parameter_version(Name=name, ParameterVersion=3, Labels=["Current", "live"])
    h = history(ssm, name)
    assert [x["Version"] for x in h] == [1, 2, 3]
    assert [x["Value"] for x in h] == values
    assert all(x["Name"] == name and x["Type"] == "String" for x in h)
    assert all(x["LastModifiedUser"] == ROOT_ARN for x in h)
    assert labels_by_version(ssm, name) == {1: ["Deprecated"], 2: [], 3: ["Current", "live"]}
    # Paging by MaxResults.
    pages, token, seen = 0, None, []
    while True:
        page = ssm.get_parameter_history(Name=name, MaxResults=2, **({"NextToken": token} if token else {}))
        assert len(page["Parameters"]) <= 2
        seen += [x["Version"] for x in page["Parameters"]]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
        assert pages < 20
    assert sorted(seen) == [1, 2, 3]

    # A SecureString's history is ciphertext unless asked to decrypt.
    sname = f"{name}-secure"
    svalues = [secret("shist1"), secret("shist2")]
    ssm.put_parameter(Name=sname, Value=svalues[0], Type="SecureString")
    ssm.put_parameter(Name=sname, Value=svalues[1], Overwrite=True)
    assert [x["Value"] for x in history(ssm, sname, WithDecryption=True)] == svalues
    for x in history(ssm, sname):
        assert x["Value"] not in svalues and MARKER not in x["Value"]
        assert x["Type"] == "SecureString" and x["KeyId"] == "alias/aws/ssm"


def test_labels_move_between_versions(ssm):
    name = f"{root('move')}/cfg"
    v1, v2, v3 = secret("mv1"), secret("mv2"), secret("mv3")
    ssm.put_parameter(Name=name, Value=v1, Type="String")
    ssm.put_parameter(Name=name, Value=v2, Overwrite=True)
    r = ssm.label_parameter_version(Name=name, ParameterVersion=1, Labels=["blue"])
    assert r["ParameterVersion"] == 1 and not r.get("InvalidLabels")
    assert ssm.get_parameter(Name=f"{name}:blue")["Parameter"]["Value"] == v1
    # The same label on another version moves it there.
    r = ssm.label_parameter_version(Name=name, ParameterVersion=2, Labels=["blue"])
    assert r["ParameterVersion"] == 2
    assert ssm.get_parameter(Name=f"{name}:blue")["Parameter"]["Value"] == v2
    assert labels_by_version(ssm, name) == {1: [], 2: ["blue"]}
    # Without a version: the latest one.
    assert ssm.label_parameter_version(Name=name, Labels=["green"])["ParameterVersion"] == 2
    ssm.put_parameter(Name=name, Value=v3, Overwrite=True)
    assert ssm.label_parameter_version(Name=name, Labels=["blue"])["ParameterVersion"] == 3
    assert labels_by_version(ssm, name) == {1: [], 2: ["green"], 3: ["blue"]}
    assert ssm.get_parameter(Name=f"{name}:blue")["Parameter"]["Version"] == 3
    refused(lambda: ssm.label_parameter_version(Name=name, ParameterVersion=9, Labels=["red"]),
            "ParameterVersionNotFound")


def test_invalid_labels_are_returned_not_attached(ssm):
    name = f"{root('badlabel')}/cfg"
    ssm.put_parameter(Name=name, Value=secret("badlabel"), Type="String")
    bad = ["1st", "awsLabel", "AWS-upper", "ssmLabel", "SSM.upper", "has/slash"]
    good = "Good_label-1.x"
    r = ssm.label_parameter_version(Name=name, ParameterVersion=1, Labels=[good] + bad)
    assert sorted(r["InvalidLabels"]) == sorted(bad)
    assert labels_by_version(ssm, name) == {1: [good]}
    # A label is 100 characters at most (a model constraint: a validation error).
    refused(lambda: ssm.label_parameter_version(Name=name, Labels=["L" * 101]), "ValidationException")
    assert ssm.label_parameter_version(Name=name, Labels=["L" * 100])["ParameterVersion"] == 1


def test_a_version_holds_at_most_ten_labels(ssm):
    name = f"{root('tenlabels')}/cfg"
    ssm.put_parameter(Name=name, Value=secret("ten1"), Type="String")
    ssm.label_parameter_version(Name=name, ParameterVersion=1, Labels=[f"l{i}" for i in range(10)])
    refused(lambda: ssm.label_parameter_version(Name=name, ParameterVersion=1, Labels=["l10"]),
            "ParameterVersionLabelLimitExceeded")
    assert len(labels_by_version(ssm, name)[1]) == 10
    # Moving one away makes room.
    ssm.put_parameter(Name=name, Value=secret("ten2"), Overwrite=True)
    ssm.label_parameter_version(Name=name, ParameterVersion=2, Labels=["l0"])
    ssm.label_parameter_version(Name=name, ParameterVersion=1, Labels=["l10"])
    assert labels_by_version(ssm, name) == {1: sorted(f"l{i}" for i in range(1, 11)), 2: ["l0"]}


def test_unlabel_parameter_version(ssm):
    name = f"{root('unlabel')}/cfg"
    ssm.put_parameter(Name=name, Value=secret("un1"), Type="String")
    ssm.put_parameter(Name=name, Value=secret("un2"), Overwrite=True)
    ssm.label_parameter_version(Name=name, ParameterVersion=1, Labels=["a1", "a2"])
    r = ssm.unlabel_parameter_version(Name=name, ParameterVersion=1, Labels=["a1", "nope"])
    assert r["RemovedLabels"] == ["a1"] and r["InvalidLabels"] == ["nope"]
    assert labels_by_version(ssm, name) == {1: ["a2"], 2: []}
    refused(lambda: ssm.get_parameter(Name=f"{name}:a1"), "ParameterNotFound", "ParameterVersionNotFound")
    # A label the version does not carry is invalid there, and stays where it is.
    r = ssm.unlabel_parameter_version(Name=name, ParameterVersion=2, Labels=["a2"])
    assert not r.get("RemovedLabels") and r["InvalidLabels"] == ["a2"]
    assert labels_by_version(ssm, name)[1] == ["a2"]
    refused(lambda: ssm.unlabel_parameter_version(Name=name, ParameterVersion=9, Labels=["a2"]),
            "ParameterVersionNotFound")


# ---------------------------------------------------------------------------------------------
# tags, deletion


def test_tags(ssm):
    name = f"{root('tags')}/cfg"
    ssm.put_parameter(Name=name, Value=secret("tags"), Type="String",
                      Tags=[{"Key": "env", "Value": "dev"}])
    assert tags_of(ssm, name) == {"env": "dev"}
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=name,
                             Tags=[{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "blue"}])
    assert tags_of(ssm, name) == {"env": "prod", "team": "blue"}
    ssm.remove_tags_from_resource(ResourceType="Parameter", ResourceId=name, TagKeys=["env"])
    assert tags_of(ssm, name) == {"team": "blue"}
    # Tags survive a new version (they belong to the parameter).
    ssm.put_parameter(Name=name, Value=secret("tags2"), Overwrite=True)
    assert tags_of(ssm, name) == {"team": "blue"}
    missing = f"{name}-missing"
    refused(lambda: ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=missing),
            "InvalidResourceId")
    refused(lambda: ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=missing,
                                             Tags=[{"Key": "a", "Value": "b"}]), "InvalidResourceId")
    # PutParameter takes Tags only when it creates a parameter.
    refused(lambda: ssm.put_parameter(Name=name, Value=secret("tags3"), Overwrite=True,
                                      Tags=[{"Key": "x", "Value": "y"}]), "ValidationException")


def test_delete_parameter(ssm):
    name = f"{root('del')}/cfg"
    ssm.put_parameter(Name=name, Value=secret("del"), Type="SecureString")
    ssm.put_parameter(Name=name, Value=secret("del2"), Overwrite=True)
    ssm.delete_parameter(Name=name)
    refused(lambda: ssm.get_parameter(Name=name), "ParameterNotFound")
    refused(lambda: ssm.get_parameter(Name=f"{name}:1"), "ParameterNotFound")
    refused(lambda: ssm.get_parameter_history(Name=name), "ParameterNotFound")
    refused(lambda: ssm.delete_parameter(Name=name), "ParameterNotFound")
    assert described(ssm, [{"Key": "Name", "Option": "Equals", "Values": [name]}]) == []


def test_delete_parameters_reports_deleted_and_invalid(ssm):
    top = root("delmany")
    a, b, missing = f"{top}/a", f"{top}/b", f"{top}/missing"
    ssm.put_parameter(Name=a, Value=secret("dm-a"), Type="String")
    ssm.put_parameter(Name=b, Value=secret("dm-b"), Type="SecureString")
    r = ssm.delete_parameters(Names=[a, b, missing])
    assert sorted(r["DeletedParameters"]) == [a, b]
    assert r["InvalidParameters"] == [missing]
    for name in (a, b):
        refused(lambda: ssm.get_parameter(Name=name), "ParameterNotFound")
    assert names_by_path(ssm, top, Recursive=True) == []


# ---------------------------------------------------------------------------------------------
# naming rules, AllowedPattern


def test_hierarchy_is_at_most_fifteen_levels(ssm):
    # The user guide's own examples: fifteen levels are valid, seventeen are not.
    fifteen = f"{root('Level-1')}/" + "/".join(f"L{i}" for i in range(2, 15)) + "/parameter-name"
    assert len(fifteen.strip("/").split("/")) == 15
    ssm.put_parameter(Name=fifteen, Value=secret("deep15"), Type="String")
    assert ssm.get_parameter(Name=fifteen)["Parameter"]["Name"] == fifteen
    seventeen = f"{root('Level-1')}/" + "/".join(f"L{i}" for i in range(2, 17)) + "/parameter-name"
    assert len(seventeen.strip("/").split("/")) == 17
    refused(lambda: ssm.put_parameter(Name=seventeen, Value=secret("deep17"), Type="String"),
            "HierarchyLevelLimitExceededException")
    refused(lambda: ssm.get_parameter(Name=seventeen), "ParameterNotFound", "ValidationException")


def test_allowed_pattern(ssm):
    name = f"{root('pattern')}/token"
    # The pattern is metadata, stored and shown in clear: it must not contain MARKER itself.
    assert MARKER.startswith("E2E-SECRET-MARKER-")
    pattern = "^E2E-SECRET-MARKER-[0-9a-f]{4}-ok-[0-9a-f]{12}$"
    assert MARKER not in pattern
    refused(lambda: ssm.put_parameter(Name=name, Value=secret("bad"), Type="String",
                                      AllowedPattern=pattern), "ParameterPatternMismatchException")
    refused(lambda: ssm.get_parameter(Name=name), "ParameterNotFound")
    good = secret("ok")
    ssm.put_parameter(Name=name, Value=good, Type="String", AllowedPattern=pattern)
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == good
    assert describe_one(ssm, name)["AllowedPattern"] == pattern
    refused(lambda: ssm.put_parameter(Name=name, Value=secret("bad2"), Type="String",
                                      AllowedPattern=pattern, Overwrite=True),
            "ParameterPatternMismatchException")
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == good


def test_invalid_names_are_refused(ssm):
    u = uuid.uuid4().hex[:8]
    for bad in (f"/e2e-{u}/bad name", f"e2e-{u}/not/fully/qualified", f"/e2e-{u}/bad#name",
                f"/e2e-{u}/bad*name", f"awsTestParameter{u}", f"SSM-testparameter{u}",
                f"/ssm/e2e-{u}"):
        refused(lambda: ssm.put_parameter(Name=bad, Value=secret("badname"), Type="String"),
                "ValidationException")
    # The /aws namespace is reserved: refused as access to it.
    refused(lambda: ssm.put_parameter(Name=f"/aws/e2e-{u}", Value=secret("reserved"), Type="String"),
            "AccessDeniedException")
    refused(lambda: ssm.get_parameter(Name=f"/e2e-{u}/bad name"), "ValidationException")


# ---------------------------------------------------------------------------------------------
# Secrets Manager references


def test_secrets_manager_reference_returns_the_secret(ssm, sm):
    name = unique("e2e-ssm-ref")
    first, second = secret("ref1"), secret("ref2")
    arn = sm.create_secret(Name=name, SecretString=first)["ARN"]
    first_version = next(iter(sm.describe_secret(SecretId=name)["VersionIdsToStages"]))
    sm.put_secret_value(SecretId=name, SecretString=second)

    ref = REFERENCE + name
    p = ssm.get_parameter(Name=ref, WithDecryption=True)["Parameter"]
    assert p["Name"] == ref and p["Type"] == "SecureString"
    assert p["Value"] == second and p["ARN"] == arn
    assert "SourceResult" in p
    # Version stages and version ids select, as Secrets Manager does.
    prev = ssm.get_parameter(Name=f"{ref}:AWSPREVIOUS", WithDecryption=True)["Parameter"]
    assert prev["Value"] == first and prev["Selector"] == ":AWSPREVIOUS" and prev["Name"] == ref
    by_id = ssm.get_parameter(Name=f"{ref}:{first_version}", WithDecryption=True)["Parameter"]
    assert by_id["Value"] == first and by_id["Selector"] == f":{first_version}"
    # GetParameters resolves references too.
    got = ssm.get_parameters(Names=[ref], WithDecryption=True)["Parameters"]
    assert [(g["Name"], g["Value"]) for g in got] == [(ref, second)]
    # A secret that does not exist.
    refused(lambda: ssm.get_parameter(Name=REFERENCE + unique("e2e-ssm-ref-missing"),
                                      WithDecryption=True), "ParameterNotFound")


def test_secrets_manager_reference_needs_with_decryption(ssm, sm):
    name = unique("e2e-ssm-ref-plain")
    sm.create_secret(Name=name, SecretString=secret("ref-plain"))
    for kw in ({}, {"WithDecryption": False}):
        err = refused(lambda: ssm.get_parameter(Name=REFERENCE + name, **kw), "ValidationException")
        assert "WithDecryption" in err["Error"]["Message"]


# ---------------------------------------------------------------------------------------------
# the AWS CLI


def test_cli_put_and_get_secure_string(server):
    top = root("app")
    name = f"{top}/db/password"
    value = secret("cli-password")
    put = aws_json(server, "ssm", "put-parameter", "--name", name, "--value", value,
                   "--type", "SecureString")
    assert put == {"Version": 1, "Tier": "Standard"}
    got = aws_json(server, "ssm", "get-parameter", "--name", name, "--with-decryption")["Parameter"]
    assert got["Value"] == value and got["Type"] == "SecureString" and got["Name"] == name
    cipher = aws_json(server, "ssm", "get-parameter", "--name", name)["Parameter"]["Value"]
    assert cipher != value and MARKER not in cipher
    assert aws_error(server, "ssm", "put-parameter", "--name", name, "--value", secret("cli-dup"),
                     "--type", "SecureString") == "ParameterAlreadyExists"
    newer = secret("cli-password-2")
    assert aws_json(server, "ssm", "put-parameter", "--name", name, "--value", newer,
                    "--type", "SecureString", "--overwrite")["Version"] == 2
    listed = aws_json(server, "ssm", "get-parameters-by-path", "--path", f"{top}/db",
                      "--with-decryption")["Parameters"]
    assert [(p["Name"], p["Value"]) for p in listed] == [(name, newer)]
    aws(server, "ssm", "label-parameter-version", "--name", name, "--parameter-version", "1",
        "--labels", "previous")
    old = aws_json(server, "ssm", "get-parameter", "--name", f"{name}:previous",
                   "--with-decryption")["Parameter"]
    assert old["Value"] == value and old["Version"] == 1
    aws(server, "ssm", "delete-parameter", "--name", name)
    assert aws_error(server, "ssm", "get-parameter", "--name", name) == "ParameterNotFound"


# ---------------------------------------------------------------------------------------------
# IAM


def test_iam_user_reads_only_the_path_it_is_allowed(server, ssm):
    u = uuid.uuid4().hex[:8]
    allowed, plain_secure = f"/app/e2e-{u}/x", f"/app/e2e-{u}/secure"
    other = f"/other/e2e-{u}/y"
    va, vs, vo = secret("iam-app"), secret("iam-app-secure"), secret("iam-other")
    ssm.put_parameter(Name=allowed, Value=va, Type="String")
    ssm.put_parameter(Name=plain_secure, Value=vs, Type="SecureString")
    ssm.put_parameter(Name=other, Value=vo, Type="String")
    user, key = user_with(server, [{
        "Effect": "Allow", "Action": "ssm:GetParameter",
        "Resource": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/app/*"}])
    me = ssm_client(server, key["AccessKeyId"], key["SecretAccessKey"])
    assert me.get_parameter(Name=allowed)["Parameter"]["Value"] == va
    # A SecureString under aws/ssm: the AWS managed key lets every principal of the account
    # decrypt through Parameter Store, no kms:Decrypt needed.
    assert me.get_parameter(Name=plain_secure, WithDecryption=True)["Parameter"]["Value"] == vs
    err = refused(lambda: me.get_parameter(Name=other), "AccessDeniedException")
    msg = err["Error"]["Message"]
    assert f"user/{user}" in msg and "ssm:GetParameter" in msg and f"{PARAM_ARN}{other}" in msg
    # Each read operation is its own action.
    refused(lambda: me.get_parameters(Names=[allowed]), "AccessDeniedException")
    refused(lambda: me.get_parameters_by_path(Path=f"/app/e2e-{u}"), "AccessDeniedException")
    refused(lambda: me.get_parameter_history(Name=allowed), "AccessDeniedException")
    refused(lambda: me.put_parameter(Name=allowed, Value=secret("iam-put"), Overwrite=True),
            "AccessDeniedException")
    assert ssm.get_parameter(Name=allowed)["Parameter"]["Value"] == va


def test_iam_secure_string_under_a_customer_key_needs_kms_decrypt(server, ssm, kms):
    key, alias = new_key(kms, "iam")
    name = f"/app/e2e-{uuid.uuid4().hex[:8]}/cmk"
    value = secret("iam-cmk")
    ssm.put_parameter(Name=name, Value=value, Type="SecureString", KeyId=alias)
    read = {"Effect": "Allow", "Action": "ssm:GetParameter",
            "Resource": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/app/*"}
    user, k = user_with(server, [read])
    me = ssm_client(server, k["AccessKeyId"], k["SecretAccessKey"])
    # The ciphertext needs no key; the value does.
    assert MARKER not in me.get_parameter(Name=name)["Parameter"]["Value"]
    refused(lambda: me.get_parameter(Name=name, WithDecryption=True), "AccessDeniedException")
    client(server, "iam").put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            read, {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key["Arn"]}]}))
    assert me.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == value


def test_iam_checks_the_parameter_the_operation_reads(server, ssm):
    """A Deny on a path holds however the name is spelled: as the parameter's ARN, with
    surrounding spaces, or with a selector — the check and the read resolve it alike."""
    u = uuid.uuid4().hex[:8]
    guarded = f"/prod-{u}/db"
    ssm.put_parameter(Name=guarded, Value=secret("guarded"), Type="String")
    user, key = user_with(server, [
        {"Effect": "Allow", "Action": ["ssm:GetParameter", "ssm:GetParameters",
                                       "ssm:GetParameterHistory"], "Resource": "*"},
        {"Effect": "Deny", "Action": "ssm:*",
         "Resource": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/prod-{u}/*"}])
    me = ssm_client(server, key["AccessKeyId"], key["SecretAccessKey"])
    for spelling in (guarded, f"{PARAM_ARN}{guarded}", f"  {guarded} ", f"{guarded}:1"):
        refused(lambda: me.get_parameter(Name=spelling), "AccessDeniedException")
        refused(lambda: me.get_parameters(Names=[spelling]), "AccessDeniedException")
    refused(lambda: me.get_parameter_history(Name=f"{PARAM_ARN}{guarded}"),
            "AccessDeniedException")
    # Root reads it by ARN, as AWS allows.
    assert ssm.get_parameter(Name=f"{PARAM_ARN}{guarded}")["Parameter"]["Name"] == guarded
    assert ssm.get_parameter_history(Name=f"{PARAM_ARN}{guarded}")["Parameters"][0]["Version"] == 1


def test_kms_condition_keys_for_parameter_store(server, ssm, kms):
    """Parameter Store decrypts with the encryption context PARAMETER_ARN: a kms:Decrypt
    grant conditioned on kms:EncryptionContext:PARAMETER_ARN opens that parameter only."""
    key, alias = new_key(kms, "ctx")
    u = uuid.uuid4().hex[:8]
    mine, theirs = f"/ctx-{u}/mine", f"/ctx-{u}/theirs"
    for n in (mine, theirs):
        ssm.put_parameter(Name=n, Value=secret("ctx"), Type="SecureString", KeyId=alias)
    user, k = user_with(server, [
        {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "*"},
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key["Arn"],
         "Condition": {"StringEquals": {"kms:EncryptionContext:PARAMETER_ARN": f"{PARAM_ARN}{mine}",
                                        "kms:ViaService": f"ssm.{REGION}.amazonaws.com",
                                        "kms:CallerAccount": ACCOUNT}}}])
    me = ssm_client(server, k["AccessKeyId"], k["SecretAccessKey"])
    start = since(2)
    assert MARKER in me.get_parameter(Name=mine, WithDecryption=True)["Parameter"]["Value"]
    refused(lambda: me.get_parameter(Name=theirs, WithDecryption=True), "AccessDeniedException")
    # The decryptions Parameter Store made for the user are KMS events of their own.
    ct = client(server, "cloudtrail")
    decrypts = [json.loads(e["CloudTrailEvent"]) for e in ct.lookup_events(
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": key["Arn"]}],
        StartTime=start)["Events"]]
    by_param = {r["requestParameters"]["encryptionContext"]["PARAMETER_ARN"]: r
                for r in decrypts if r["eventName"] == "Decrypt"}
    assert by_param[f"{PARAM_ARN}{mine}"]["userIdentity"]["invokedBy"] == "ssm.amazonaws.com"
    assert "errorCode" not in by_param[f"{PARAM_ARN}{mine}"]
    assert by_param[f"{PARAM_ARN}{theirs}"]["errorCode"] == "AccessDenied"


def test_model_rules_for_tiers_data_types_filters_and_references(ssm):
    u = uuid.uuid4().hex[:8]
    big = f"/tier-{u}/p"
    ssm.put_parameter(Name=big, Value=secret("x" * 5000), Type="String", Tier="Advanced")
    # Intelligent-Tiering never takes a parameter back from Advanced.
    put = ssm.put_parameter(Name=big, Value=secret("small"), Type="String", Overwrite=True,
                            Tier="Intelligent-Tiering")
    assert put["Tier"] == "Advanced"
    # (An account id made up here: a fixed one could be some server's own account id, which
    # the leak scans would then find everywhere.)
    account = str(uuid.uuid4().int)[:12].rjust(12, "7")
    for data_type, good, bad in (("integer", "42", "4.2"), ("boolean", "true", "yes"),
                                 ("ipv4-address", "10.0.0.1", "10.0.0.300"),
                                 ("aws:account:id", account, "12345")):
        name = f"/dt-{u}/{data_type.replace(':', '-')}"
        ssm.put_parameter(Name=name, Value=good, Type="String", DataType=data_type)
        assert ssm.get_parameter(Name=name)["Parameter"]["DataType"] == data_type
        refused(lambda: ssm.put_parameter(Name=name, Value=bad, Type="String", DataType=data_type,
                                          Overwrite=True), "ValidationException")
    refused(lambda: ssm.put_parameter(Name=f"/dt-{u}/nested", Type="String",
                                      Value="{{ssm:/other/param}}"), "ValidationException")
    # GetParametersByPath takes no tag or DataType filter (the model's words).
    for key in ("tag:env", "DataType"):
        refused(lambda: ssm.get_parameters_by_path(
            Path=f"/dt-{u}", ParameterFilters=[{"Key": key, "Values": ["x"]}]),
            "InvalidFilterKey")
    # GetParameters lists what it found alphabetically.
    names = [p["Name"] for p in ssm.get_parameters(
        Names=[f"/dt-{u}/integer", f"/dt-{u}/boolean", f"/dt-{u}/ipv4-address"])["Parameters"]]
    assert names == sorted(names)


# ---------------------------------------------------------------------------------------------
# audit


def test_reads_and_writes_are_audited_without_the_value(server, ssm):
    start = since()
    name = f"{root('audit')}/password"
    value = secret("audited")
    put = ssm.put_parameter(Name=name, Value=value, Type="SecureString")
    got = ssm.get_parameter(Name=name, WithDecryption=True)
    assert got["Parameter"]["Value"] == value

    read = audit_record(server, SSM_SOURCE, "GetParameter", request_id(got), start)
    assert read["requestParameters"]["name"] == name
    written = audit_record(server, SSM_SOURCE, "PutParameter", request_id(put), start)
    assert written["requestParameters"]["name"] == name
    for record in (read, written):
        text = json.dumps(record)
        assert value not in text and MARKER not in text, record
    assert not [k for k in keys_anywhere(read) if k.lower() == "value"], read

    # The CLI's lookup finds it by event source as well.
    out = aws_json(server, "cloudtrail", "lookup-events", "--lookup-attributes",
                   f"AttributeKey=EventSource,AttributeValue={SSM_SOURCE}",
                   "--start-time", start.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert out["Events"] and {e["EventSource"] for e in out["Events"]} == {SSM_SOURCE}
    assert MARKER not in json.dumps(out)


# ---------------------------------------------------------------------------------------------
# Metrics


def test_parameter_calls_are_cloudwatch_metrics_and_parameters_are_counted(server, ssm):
    """Parameter Store calls are counted in namespace AWS/SSM (GetMetricStatistics,
    ListMetrics), and /metrics reports how many parameters exist (ResourceCount)."""
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    cw = client(server, "cloudwatch")
    name = f"{root('metrics')}/p"
    ssm.put_parameter(Name=name, Value=secret("metrics"), Type="String")
    start = dt.datetime.fromtimestamp(math.floor(time.time()) - 120, dt.timezone.utc)
    for _ in range(3):
        ssm.get_parameter(Name=name)

    def total():
        got = cw.get_metric_statistics(
            Namespace="AWS/SSM", MetricName="GetParameter", StartTime=start,
            EndTime=dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1),
            Period=60, Statistics=["Sum"])
        return sum(p["Sum"] for p in got["Datapoints"])
    assert total() >= 3
    listed = {m["MetricName"] for m in cw.list_metrics(Namespace="AWS/SSM")["Metrics"]}
    assert {"PutParameter", "GetParameter"} <= listed

    # /metrics, signed (scope monitoring) by root.
    req = AWSRequest(method="GET", url=f"{server.endpoint}/metrics")
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "monitoring", REGION).add_auth(req)
    prepared = req.prepare()
    text = urllib.request.urlopen(urllib.request.Request(
        prepared.url, headers=dict(prepared.headers)), timeout=10).read().decode()
    counts = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
              if line.startswith(("strongroom_parameters ", "strongroom_kms_keys "))}
    assert counts["strongroom_parameters"] >= 1
    assert counts["strongroom_kms_keys"] >= 2, "the managed aws/secretsmanager and aws/ssm keys"
    before = counts["strongroom_parameters"]
    ssm.delete_parameter(Name=name)
    text = urllib.request.urlopen(urllib.request.Request(
        prepared.url, headers=dict(prepared.headers)), timeout=10).read().decode()
    after = [float(l.split()[1]) for l in text.splitlines()
             if l.startswith("strongroom_parameters ")][0]
    assert after == before - 1


def test_get_parameters_answers_a_name_given_twice_once(ssm):
    name, missing = f"/dup/{uuid.uuid4().hex[:8]}", f"/dup/{uuid.uuid4().hex[:8]}-missing"
    ssm.put_parameter(Name=name, Value="v", Type="String")
    out = ssm.get_parameters(Names=[name, name, missing, missing])
    assert [p["Name"] for p in out["Parameters"]] == [name]
    assert out["InvalidParameters"] == [missing]
