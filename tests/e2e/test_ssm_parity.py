"""Parameter Store answers as AWS gives them (issue 14 §4), through boto3 and the AWS CLI.

* `name` and `/name` are one top-level parameter in every operation; DescribeParameters,
  GetParametersByPath and GetParameterHistory name it `name` (how AWS keeps it), GetParameter
  and GetParameters answer the name as the request wrote it;
* the model's constraints answered in AWS's format, counted and joined ("2 validation errors
  detected: ...; ..."), lists quoted as `[a, b]`;
* ParameterFilters: constraints, then AWS's semantic checks (InvalidFilterKey/Option/Value);
* an empty Value, names with reserved prefixes, a missing Secrets Manager reference.

Where a wording comes from is said in the server's code (crates/domain/src/parameters.rs,
crates/server/src/services/ssm/).
"""
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import aws, aws_error, secret, unique
from test_ssm import refused, ssm_client

REFERENCE = "/aws/reference/secretsmanager/"
BAD_NAME = ("Parameter name: can't be prefixed with \"ssm\" (case-insensitive). If formed as a "
            "path, it can consist of sub-paths divided by slash symbol; each sub-path can be "
            "formed as a mix of letters, numbers and the following 3 symbols .-_")
BAD_PATH = ("The parameter doesn't meet the parameter name requirements. The parameter name must "
            "begin with a forward slash \"/\". It can't be prefixed with \\\"aws\\\" or \\\"ssm\\\" "
            "(case-insensitive). It must use only letters, numbers, or the following symbols: . "
            "(period), - (hyphen), _ (underscore). Special characters are not allowed. All "
            "sub-paths, if specified, must use the forward slash symbol \"/\". Valid example: "
            "/get/parameters2-/by1./path0_.")


@pytest.fixture(scope="module")
def ssm(server):
    return ssm_client(server)


@pytest.fixture(scope="module")
def raw(server):
    """A client that sends what it is given (no client-side checks of the model)."""
    return ssm_client(server, validate=False)


def message(err):
    return err["Error"]["Message"]


def names_of(params):
    return [p["Name"] for p in params]


# ---------------------------------------------------------------------------------------------
# 4, 5, 6: empty values, reserved names, references


def test_an_empty_value_is_the_models_length_error(raw):
    name = unique("e2e-empty")
    err = refused(lambda: raw.put_parameter(Name=name, Value="", Type="String"),
                  "ValidationException")
    assert message(err) == ("1 validation error detected: Value '' at 'value' failed to satisfy "
                            "constraint: Member must have length greater than or equal to 1")
    # Also in the Advanced tier (not the tier's size message), and nothing was created.
    err = refused(lambda: raw.put_parameter(Name=name, Value="", Type="String", Tier="Advanced"),
                  "ValidationException")
    assert "at 'value'" in message(err) and "greater than or equal to 1" in message(err)
    refused(lambda: raw.get_parameter(Name=name), "ParameterNotFound")


def test_reserved_prefixes_and_malformed_names_get_aws_words(raw, server):
    u = uuid.uuid4().hex[:8]
    short = 'Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive).'
    for bad in (f"ssm_{u}", f"SSM_{u}", f"aws_{u}", f"AWS{u}", f"/ssm{u}", f"/awsx{u}"):
        err = refused(lambda: raw.put_parameter(Name=bad, Value=secret("rsv"), Type="String"),
                      "ValidationException")
        assert message(err) == short, bad
    for bad in (f"/ssm_{u}/path/to/var", f"/SSM/{u}", f"/e2e-{u}/bad name", f"/e2e-{u}/x@y"):
        err = refused(lambda: raw.put_parameter(Name=bad, Value=secret("rsv"), Type="String"),
                      "ValidationException")
        assert message(err) == BAD_NAME, bad
    for bad in (f"/aws_{u}/path/to/var", f"/AWS/{u}/x"):
        err = refused(lambda: raw.put_parameter(Name=bad, Value=secret("rsv"), Type="String"),
                      "AccessDeniedException")
        assert message(err) == f"No access to reserved parameter name: {bad}."
    # A read of a malformed name gets the general answer too (the CLI shows it).
    code, _, stderr = aws(server, "ssm", "get-parameter", "--name", f"e2e-{u}/no-slash",
                          check=False)
    assert code != 0 and "ValidationException" in stderr and BAD_NAME in stderr


def test_a_missing_secrets_manager_reference(ssm):
    missing = unique("e2e-ssm-ref-missing")
    err = refused(lambda: ssm.get_parameter(Name=REFERENCE + missing, WithDecryption=True),
                  "ParameterNotFound")
    assert message(err) == ("An error occurred (ParameterNotFound) when referencing Secrets "
                            f"Manager: Secret aws/reference/secretsmanager/{missing} not found.")
    # GetParameters lists it as invalid.
    out = ssm.get_parameters(Names=[REFERENCE + missing], WithDecryption=True)
    assert out["Parameters"] == [] and out["InvalidParameters"] == [REFERENCE + missing]


# ---------------------------------------------------------------------------------------------
# 1: `name` and `/name`


def test_name_and_slash_name_are_one_parameter(ssm, server):
    bare = unique("e2e-top")
    slashed = "/" + bare
    first = secret("top1")
    put = ssm.put_parameter(Name=slashed, Value=first, Type="String")
    assert put["Version"] == 1
    refused(lambda: ssm.put_parameter(Name=bare, Value=secret("dup"), Type="String"),
            "ParameterAlreadyExists")
    second = secret("top2")
    assert ssm.put_parameter(Name=bare, Value=second, Overwrite=True)["Version"] == 2

    # GetParameter answers the name as asked, with the one ARN.
    arn = ssm.get_parameter(Name=bare)["Parameter"]["ARN"]
    assert arn.endswith(f":parameter/{bare}")
    for asked in (bare, slashed):
        p = ssm.get_parameter(Name=asked)["Parameter"]
        assert (p["Name"], p["Value"], p["Version"], p["ARN"]) == (asked, second, 2, arn)
    assert ssm.get_parameter(Name=f"{slashed}:1")["Parameter"]["Value"] == first
    got = ssm.get_parameters(Names=[slashed, arn, f"{bare}:1"])
    assert got["InvalidParameters"] == []
    assert sorted((p["Name"], p["Version"]) for p in got["Parameters"]) == sorted(
        [(slashed, 2), (bare, 2), (bare, 1)])

    # Tags, labels and history reach the same parameter by either name.
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=slashed,
                             Tags=[{"Key": "via", "Value": "slash"}])
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=bare,
                             Tags=[{"Key": "also", "Value": "bare"}])
    for rid in (bare, slashed):
        tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=rid)["TagList"]
        assert {t["Key"]: t["Value"] for t in tags} == {"via": "slash", "also": "bare"}
    ssm.label_parameter_version(Name=slashed, ParameterVersion=1, Labels=["first"])
    assert ssm.get_parameter(Name=f"{bare}:first")["Parameter"]["Value"] == first
    assert ssm.unlabel_parameter_version(Name=bare, ParameterVersion=1,
                                         Labels=["first"])["RemovedLabels"] == ["first"]
    hist = ssm.get_parameter_history(Name=slashed)["Parameters"]
    assert [(h["Name"], h["Version"]) for h in hist] == [(bare, 1), (bare, 2)]

    # Listings name it as AWS keeps it: without the slash.
    described = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": [slashed]}])["Parameters"]
    assert names_of(described) == [bare]
    described = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": [bare]}])["Parameters"]
    assert names_of(described) == [bare]
    one_level = []
    token = None
    while True:
        page = ssm.describe_parameters(
            ParameterFilters=[{"Key": "Path", "Values": ["/"]}],
            **({"NextToken": token} if token else {}))
        one_level += names_of(page["Parameters"])
        token = page.get("NextToken")
        if not token:
            break
    assert bare in one_level and slashed not in one_level
    by_path = []
    token = None
    while True:
        page = ssm.get_parameters_by_path(Path="/", **({"NextToken": token} if token else {}))
        by_path += names_of(page["Parameters"])
        token = page.get("NextToken")
        if not token:
            break
    assert bare in by_path and all(n.count("/") <= 1 for n in by_path)

    # The CLI deletes it by the other name; both names are gone.
    aws(server, "ssm", "delete-parameter", "--name", slashed)
    for asked in (bare, slashed):
        refused(lambda: ssm.get_parameter(Name=asked), "ParameterNotFound")
    ssm.put_parameter(Name=bare, Value=secret("top3"), Type="String")
    out = ssm.delete_parameters(Names=[slashed])
    assert out == {**out, "DeletedParameters": [slashed], "InvalidParameters": []}


# ---------------------------------------------------------------------------------------------
# 3: constraint messages


def test_constraint_messages_quote_lists_and_count_violations(raw, server):
    names = [f"n{i}" for i in range(11)]
    err = refused(lambda: raw.get_parameters(Names=names), "ValidationException")
    assert message(err) == (
        "1 validation error detected: Value '[n0, n1, n2, n3, n4, n5, n6, n7, n8, n9, n10]' at "
        "'names' failed to satisfy constraint: Member must have length less than or equal to 10")
    err = refused(lambda: raw.delete_parameters(Names=names), "ValidationException")
    assert "at 'names'" in message(err)
    err = refused(lambda: raw.get_parameter_history(Name="", MaxResults=51),
                  "ValidationException")
    assert message(err) == (
        "2 validation errors detected: Value '' at 'name' failed to satisfy constraint: Member "
        "must have length greater than or equal to 1; Value '51' at 'maxResults' failed to "
        "satisfy constraint: Member must have value less than or equal to 50")
    err = refused(lambda: raw.put_parameter(Name=unique("e2e-c"), Value=secret("c"),
                                            Type="Text", Tier="Cheap"), "ValidationException")
    assert message(err) == (
        "2 validation errors detected: Value 'Text' at 'type' failed to satisfy constraint: "
        "Member must satisfy enum value set: [SecureString, StringList, String]; Value 'Cheap' "
        "at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Advanced, "
        "Intelligent-Tiering, Standard]")
    err = refused(lambda: raw.label_parameter_version(Name=unique("e2e-c"), Labels=[]),
                  "ValidationException")
    assert message(err) == ("1 validation error detected: Value '[]' at 'labels' failed to "
                            "satisfy constraint: Member must have length greater than or equal "
                            "to 1")
    err = refused(lambda: raw.get_parameters_by_path(Path="/x", MaxResults=11),
                  "ValidationException")
    assert "Value '11' at 'maxResults'" in message(err)
    # The CLI shows the same words.
    code, _, stderr = aws(server, "ssm", "describe-parameters", "--max-results", "51",
                          check=False)
    assert code != 0 and "ValidationException" in stderr
    assert ("Value '51' at 'maxResults' failed to satisfy constraint: Member must have value "
            "less than or equal to 50") in stderr


# ---------------------------------------------------------------------------------------------
# 2: ParameterFilters


@pytest.mark.parametrize("filters,code,text", [
    ([{"Key": "key", "Values": ["x"]}], "ValidationException",
     "1 validation error detected: Value 'key' at 'parameterFilters.1.member.key' failed to "
     "satisfy constraint: Member must satisfy regular expression pattern: "
     "^(tag:.+|Name|Type|KeyId|Path|Label|Tier|DataType)$"),
    ([{"Key": "tag:" + "t" * 129}], "ValidationException",
     "Member must have length less than or equal to 132"),
    ([{"Key": "Name", "Option": "over 10 chars", "Values": ["x"]}], "ValidationException",
     "at 'parameterFilters.1.member.option' failed to satisfy constraint: Member must have "
     "length less than or equal to 10"),
    ([{"Key": "Name", "Values": ["test"] * 51}], "ValidationException",
     "Member must have length less than or equal to 50"),
    ([{"Key": "Name", "Values": ["t" * 1025]}], "ValidationException",
     "Member must satisfy constraint: [Member must have length less than or equal to 1024, "
     "Member must have length greater than or equal to 1]"),
    ([{"Key": "Name", "Option": "over 10 chars"}, {"Key": "key"}], "ValidationException",
     "2 validation errors detected: "),
    ([{"Key": "Label", "Values": ["x"]}], "InvalidFilterKey",
     "The following filter key is not valid: Label. Valid filter keys include: [Path, Name, "
     "Type, KeyId, Tier]."),
    ([{"Key": "Name"}], "InvalidFilterValue",
     "The following filter values are missing : null for filter key Name."),
    ([{"Key": "Name", "Values": ["a"]}, {"Key": "Name", "Values": ["b"]}], "InvalidFilterKey",
     "The following filter is duplicated in the request: Name. A request can contain only one "
     "occurrence of a specific filter."),
    ([{"Key": "Path", "Values": ["/aws", "/ssm"]}], "ValidationException",
     "Filters for common parameters can't be prefixed with \"aws\" or \"ssm\" "
     "(case-insensitive). When using global parameters, please specify within a global "
     "namespace."),
    ([{"Key": "Path", "Values": ["/###"]}], "ValidationException", BAD_PATH),
    ([{"Key": "Path", "Values": ["test"]}], "ValidationException", BAD_PATH),
    ([{"Key": "Path", "Option": "Equals", "Values": ["/a"]}], "InvalidFilterOption",
     "The following filter option is not valid: Equals. Valid options include: [Recursive, "
     "OneLevel]."),
    ([{"Key": "Tier", "Values": ["test"]}], "InvalidFilterValue",
     "The following filter value is not valid: test. Valid values include: [Standard, "
     "Advanced, Intelligent-Tiering]."),
    ([{"Key": "Type", "Values": ["test"]}], "InvalidFilterValue",
     "The following filter value is not valid: test. Valid values include: [String, "
     "StringList, SecureString]."),
    ([{"Key": "DataType", "Values": ["json"]}], "InvalidFilterValue",
     "The following filter value is not valid: json. Valid values include: [text, "
     "aws:ec2:image, aws:ssm:integration]."),
    ([{"Key": "Name", "Option": "option", "Values": ["x"]}], "InvalidFilterOption",
     "The following filter option is not valid: option. Valid options include: [BeginsWith, "
     "Equals]."),
])
def test_describe_parameters_filters_are_checked_as_aws_does(raw, filters, code, text):
    err = refused(lambda: raw.describe_parameters(ParameterFilters=filters), code)
    assert text in message(err), message(err)


@pytest.mark.parametrize("filters,code,text", [
    ([{"Key": "Name", "Values": ["x"]}], "InvalidFilterKey",
     "The following filter key is not valid: Name. Valid filter keys include: [Type, KeyId]."),
    ([{"Key": "Path", "Values": ["/x"]}], "InvalidFilterKey",
     "The following filter key is not valid: Path."),
    ([{"Key": "Tier", "Values": ["Standard"]}], "InvalidFilterKey",
     "The following filter key is not valid: Tier."),
    ([{"Key": "Label", "Option": "BeginsWith", "Values": ["x"]}], "InvalidFilterOption",
     "The following filter option is not valid: BeginsWith. Valid options include: [Equals]."),
    ([{"Key": "Type", "Values": []}], "ValidationException",
     "Value '[]' at 'parameterFilters.1.member.values' failed to satisfy constraint: Member "
     "must have length greater than or equal to 1"),
])
def test_get_parameters_by_path_filters_are_checked_as_aws_does(raw, filters, code, text):
    err = refused(lambda: raw.get_parameters_by_path(Path="/x", ParameterFilters=filters), code)
    assert text in message(err), message(err)


def test_valid_filters_still_select(ssm):
    top = "/" + unique("e2e-filt")
    ssm.put_parameter(Name=f"{top}/a", Value=secret("fa"), Type="String")
    ssm.put_parameter(Name=f"{top}/b", Value=secret("fb"), Type="SecureString")
    ssm.label_parameter_version(Name=f"{top}/b", Labels=["live"])
    got = ssm.describe_parameters(ParameterFilters=[
        {"Key": "Path", "Option": "Recursive", "Values": [top]},
        {"Key": "Type", "Values": ["SecureString"]},
        {"Key": "Name", "Option": "Contains", "Values": ["/b"]}])["Parameters"]
    assert names_of(got) == [f"{top}/b"]
    got = ssm.get_parameters_by_path(Path=top, ParameterFilters=[
        {"Key": "Label", "Option": "Equals", "Values": ["live"]}])["Parameters"]
    assert names_of(got) == [f"{top}/b"]


# ---------------------------------------------------------------------------------------------
# 7: parameter policies (validation, storage and display; the enforcing sweep is not built yet)


EXPIRE = '{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2099-01-02T00:00:00.000Z"}}'
WARN = '{"Type":"ExpirationNotification","Version":"1.0","Attributes":{"Before":"2","Unit":"Days"}}'
STALE = '{"Type":"NoChangeNotification","Version":"1.0","Attributes":{"After":"30","Unit":"Days"}}'


def test_policies_are_validated_stored_and_shown(ssm, server):
    name = "/" + unique("e2e-pol") + "/p"
    policies = f"[{EXPIRE},{WARN},{STALE}]"
    # Standard tier parameters take no policies.
    err = refused(lambda: ssm.put_parameter(Name=name, Value=secret("pol"), Type="String",
                                            Policies=policies), "ValidationException")
    assert "advanced" in message(err)
    for bad, code in (('[{"Type":"Rotate","Version":"1.0","Attributes":{}}]',
                       "InvalidPolicyTypeException"),
                      ('[{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"soon"}}]',
                       "InvalidPolicyAttributeException"),
                      (f"[{WARN}]", "InvalidPolicyAttributeException"),
                      (f"[{','.join([EXPIRE] * 11)}]", "PoliciesLimitExceededException")):
        refused(lambda: ssm.put_parameter(Name=name, Value=secret("pol"), Type="String",
                                          Tier="Advanced", Policies=bad), code)
    refused(lambda: ssm.get_parameter(Name=name), "ParameterNotFound")

    # Intelligent-Tiering picks Advanced for a parameter with policies.
    put = ssm.put_parameter(Name=name, Value=secret("pol"), Type="String",
                            Tier="Intelligent-Tiering", Policies=policies)
    assert put["Tier"] == "Advanced"
    meta = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"][0]
    shown = {p["PolicyType"]: p for p in meta["Policies"]}
    assert set(shown) == {"Expiration", "ExpirationNotification", "NoChangeNotification"}
    assert {p["PolicyStatus"] for p in shown.values()} == {"Pending"}
    assert '"2099-01-02T00:00:00.000Z"' in shown["Expiration"]["PolicyText"]
    # A new version keeps them (the CLI writes it); `[]` removes them.
    aws(server, "ssm", "put-parameter", "--name", name, "--value", secret("pol2"),
        "--overwrite")
    hist = ssm.get_parameter_history(Name=name)["Parameters"]
    assert [len(h["Policies"]) for h in hist] == [3, 3]
    ssm.put_parameter(Name=name, Value=secret("pol3"), Overwrite=True, Policies="[]")
    hist = ssm.get_parameter_history(Name=name)["Parameters"]
    assert [len(h["Policies"]) for h in hist] == [3, 3, 0]
