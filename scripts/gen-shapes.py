#!/usr/bin/env python3
"""Generate a service's shapes from botocore's model (issue 15: shapes from the models, not by
hand). Output is committed, so the normal build needs no generator:

    scripts/gen-shapes.py            # every service below
    scripts/gen-shapes.py iam        # crates/server/src/iam/service/shapes.rs
    scripts/gen-shapes.py kms        # crates/server/src/services/kms/shapes.rs

For the operations Strongroom offers (OPERATIONS below), each file holds:
- `MODEL`: every structure's members in model order with their wire types, which the
  model-driven codecs of `http/shapes.rs` read (Query forms in, Query XML out; CloudWatch's
  CBOR too) — so element order, list wrappers and timestamps come from AWS's model (and
  whether the service writes timestamps with milliseconds, as CloudWatch does, or not);
- with `typed`, a Rust struct per input/output structure (serde, the model's member names),
  its documentation's first sentence as rustdoc. Required members are plain fields (a missing
  one is AWS's "Value null at 'x'" validation error, decided once in the codec); others are
  `Option`. Members the model marks `sensitive` are `Sensitive` (zeroized, redacted in Debug),
  as are those a service's `sensitive` list names (secrets the model leaves unmarked).

JSON-protocol services (Secrets Manager, SSM, KMS, CloudTrail) get no `MODEL` table (serde
alone reads and writes their JSON) but an `Input` enum: one variant per offered operation
and `NotOffered` for the model's others, parsed once by the pipeline (`Input::parse`). Their timestamps are epoch seconds (`f64`), blobs
base64 text. Top-level requests have every member optional: these services check required
members themselves, in their own order and with their own error codes; nested structures
follow the model's `required`.
"""
import json

import aws_model
import os
import re
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MODELS = os.path.join(ROOT, "..", "shared", "aws-models")


def service_dir(service):
    """Where a service's wiring lives: IAM and STS with the directory and authorization in
    `iam/`, the others in `services/<svc>/`."""
    return {"iam": ("iam", "service"), "sts": ("iam", "sts")}.get(service, ("services", service))

SERVICES = {
    "iam": dict(typed=True, milliseconds=False, operations=[
        "CreateUser", "GetUser", "ListUsers", "DeleteUser",
        "CreateAccessKey", "ListAccessKeys", "UpdateAccessKey", "DeleteAccessKey",
        "PutUserPolicy", "GetUserPolicy", "ListUserPolicies", "DeleteUserPolicy",
        "CreatePolicy", "GetPolicy", "ListPolicies", "DeletePolicy",
        "CreatePolicyVersion", "GetPolicyVersion", "ListPolicyVersions",
        "SetDefaultPolicyVersion", "DeletePolicyVersion",
        "AttachUserPolicy", "DetachUserPolicy", "ListAttachedUserPolicies",
        "CreateGroup", "GetGroup", "ListGroups", "ListGroupsForUser", "DeleteGroup",
        "AddUserToGroup", "RemoveUserFromGroup",
        "PutGroupPolicy", "GetGroupPolicy", "ListGroupPolicies", "DeleteGroupPolicy",
        "AttachGroupPolicy", "DetachGroupPolicy", "ListAttachedGroupPolicies",
        "CreateRole", "GetRole", "ListRoles", "DeleteRole", "UpdateAssumeRolePolicy",
        "PutRolePolicy", "GetRolePolicy", "ListRolePolicies", "DeleteRolePolicy",
        "AttachRolePolicy", "DetachRolePolicy", "ListAttachedRolePolicies",
        "PutUserPermissionsBoundary", "DeleteUserPermissionsBoundary",
        "PutRolePermissionsBoundary", "DeleteRolePermissionsBoundary",
        "SimulatePrincipalPolicy",
        "CreateLoginProfile", "GetLoginProfile", "UpdateLoginProfile", "DeleteLoginProfile",
        "ChangePassword", "UpdateAccountPasswordPolicy", "GetAccountPasswordPolicy",
        "DeleteAccountPasswordPolicy",
    ]),
    "sts": dict(typed=True, milliseconds=False, operations=["GetCallerIdentity", "AssumeRole", "GetSessionToken"]),
    "cloudtrail": dict(typed=True, json=True, operations=["LookupEvents"]),
    "secretsmanager": dict(typed=True, json=True, operations=[
        "CreateSecret", "DescribeSecret", "UpdateSecret", "DeleteSecret", "RestoreSecret",
        "ListSecrets", "GetSecretValue", "BatchGetSecretValue", "PutSecretValue",
        "UpdateSecretVersionStage", "ListSecretVersionIds", "TagResource", "UntagResource",
        "GetRandomPassword", "RotateSecret", "CancelRotateSecret", "PutResourcePolicy",
        "GetResourcePolicy", "DeleteResourcePolicy", "ValidateResourcePolicy",
        "ReplicateSecretToRegions", "RemoveRegionsFromReplication", "StopReplicationToReplica",
        # Strongroom's own (scripts/extensions/secretsmanager.json): replicas in a peer deployment.
        "PutReplicaSecret", "DeleteReplicaSecret",
    ]),
    # `sensitive`: members that carry a secret though the model does not mark them (SSM's
    # SourceResult is the referenced secret's GetSecretValue answer, SecretString included).
    "ssm": dict(typed=True, json=True, sensitive=["Parameter.SourceResult"], operations=[
        "PutParameter", "GetParameter", "GetParameters", "GetParametersByPath",
        "DeleteParameter", "DeleteParameters", "DescribeParameters", "GetParameterHistory",
        "LabelParameterVersion", "UnlabelParameterVersion", "AddTagsToResource",
        "RemoveTagsFromResource", "ListTagsForResource",
    ]),
    "kms": dict(typed=True, json=True, operations=[
        "CreateKey", "DescribeKey", "ListKeys", "EnableKey", "DisableKey",
        "ScheduleKeyDeletion", "CancelKeyDeletion", "UpdateKeyDescription",
        "EnableKeyRotation", "DisableKeyRotation", "GetKeyRotationStatus", "RotateKeyOnDemand",
        "ListKeyRotations", "TagResource", "UntagResource", "ListResourceTags", "GetKeyPolicy",
        "ListKeyPolicies", "CreateAlias", "UpdateAlias", "DeleteAlias", "ListAliases",
        "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
        "GenerateRandom", "PutKeyPolicy", "CreateGrant", "ListGrants", "RetireGrant", "RevokeGrant",
        "ListRetirableGrants",
    ]),
    "cloudwatch": dict(typed=False, milliseconds=True, operations=[
        "PutMetricAlarm", "DescribeAlarms", "DeleteAlarms", "SetAlarmState",
        "GetMetricStatistics", "GetMetricData", "ListMetrics", "DescribeAlarmHistory",
    ]),
}

SCALARS = {"string": "Ty::Str", "integer": "Ty::Int", "long": "Ty::Int", "double": "Ty::Float",
           "float": "Ty::Float", "boolean": "Ty::Bool", "timestamp": "Ty::Time",
           "blob": "Ty::Str"}
RUST_SCALARS = {"string": "String", "integer": "i64", "long": "i64", "double": "f64",
                "float": "f64", "boolean": "bool", "timestamp": "Timestamp", "blob": "String"}
KEYWORDS = {"type", "match", "ref", "move", "self", "loop", "where", "use", "mod", "fn",
            "in", "as", "box", "enum", "struct", "trait", "impl", "return", "static"}


def snake(name):
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()
    return s + "_" if s in KEYWORDS else s


def type_name(shape):
    return shape[0].upper() + shape[1:]


def first_sentence(doc):
    text = re.sub(r"<[^>]+>", "", doc or "")
    text = re.sub(r"\s+", " ", text).strip()
    m = re.match(r"(.+?\.)(\s|$)", text)
    return (m.group(1) if m else text)[:300]


def main(service):
    cfg = SERVICES[service]
    json_protocol = cfg.get("json", False)
    model = aws_model.load(MODELS, service)
    shapes = model["shapes"]
    structs = {}

    def ty(name):
        s = shapes[name]
        t = s["type"]
        if t in SCALARS:
            return SCALARS[t]
        if t == "list":
            return f"Ty::List(&{ty(s['member']['shape'])})"
        if t == "map":
            return f"Ty::Map(&{ty(s['value']['shape'])})"
        if t == "structure":
            if name not in structs:
                structs[name] = None
                structs[name] = [(m, ty(v["shape"])) for m, v in s["members"].items()]
            return f'Ty::Struct("{name}")'
        raise SystemExit(f"unsupported shape type {t} ({name})")

    def rust(ref):
        name = ref["shape"]
        s = shapes[name]
        t = s["type"]
        if t in ("string", "blob") and (ref.get("sensitive") or s.get("sensitive")):
            return "Sensitive"
        if json_protocol and t == "timestamp":
            return "f64"
        if t in RUST_SCALARS:
            return RUST_SCALARS[t]
        if t == "list":
            return f"Vec<{rust(s['member'])}>"
        if t == "map":
            return f"BTreeMap<String, {rust(s['value'])}>"
        return type_name(name)

    ops = []
    for op in cfg["operations"]:
        o = model["operations"][op]
        inp = o.get("input", {}).get("shape")
        out = o.get("output", {}).get("shape")
        for s in (inp, out):
            if s:
                ty(s)
        ops.append((op, inp, out))

    title = model["metadata"].get("serviceFullName", service)
    w = []
    w.append(f"//! Generated by `scripts/gen-shapes.py {service}` from botocore's {title} model")
    w.append(f"//! (`aws-models/{service}.json`): do not edit by hand.")
    w.append("")
    if cfg["typed"]:
        w.append("#![allow(dead_code, unused_imports)]")
        w.append("")
        w.append("use std::collections::BTreeMap;")
        w.append("")
        w.append("use serde::{Deserialize, Serialize};")
        w.append("")
        if json_protocol:
            w.append("use super::ops::Op;")
        else:
            w.append("use crate::http::shapes::Timestamp;")
        w.append("use crate::sensitive::Sensitive;")
    if not json_protocol:
        w.append("use crate::http::shapes::{Model, Ty};")
    w.append("")
    def model_table():
        """`MODEL`, the wire-type tables the Query and CBOR codecs read."""
        w = []
        w.append("/// The offered operations and every structure they reach, in model order.")
        w.append("pub static MODEL: Model = Model {")
        w.append("    operations: &[")
        for op, inp, out in ops:
            out_s = f'Some("{out}")' if out else "None"
            inp_s = f'Some("{inp}")' if inp else "None"
            w.append(f'        ("{op}", {inp_s}, {out_s}),')
        w.append("    ],")
        errors = sorted({(shapes[e["shape"]].get("error", {}).get("code", e["shape"]), e["shape"])
                         for op in cfg["operations"]
                         for e in model["operations"][op].get("errors", [])})
        w.append("    errors: &[")
        for code, name in errors:
            w.append(f'        ("{code}", "{name}"),')
        w.append("    ],")
        w.append("    structures: &[")
        for name in sorted(structs):
            w.append(f'        ("{name}", &[')
            for m, t in structs[name]:
                w.append(f'            ("{m}", {t}),')
            w.append("        ]),")
        w.append("    ],")
        w.append(f"    milliseconds: {'true' if cfg.get('milliseconds') else 'false'},")
        w.append("};")
        return w

    if not json_protocol:
        w.extend(model_table())
    else:
        partial = len(ops) < len(model["operations"])
        w.append("/// An operation's input, parsed once by the pipeline.")
        w.append("#[derive(Debug)]")
        w.append("pub enum Input {")
        for op, inp, out in ops:
            w.append(f"    {op}({type_name(inp)}),")
        if partial:
            w.append("    /// An operation of the model this server does not offer, with its request as sent")
            w.append("    /// (for authorization and the audit record of its refusal).")
            w.append("    NotOffered(Op, serde_json::Value),")
        w.append("}")
        w.append("")
        w.append("impl Input {")
        w.append("    /// The operation's input from its JSON body (an empty body is the empty input).")
        w.append("    pub fn parse(op: Op, body: &[u8]) -> Result<Input, String> {")
        w.append("        use crate::services::input::parse;")
        w.append("        Ok(match op {")
        for op, inp, out in ops:
            w.append(f"            Op::{op} => Input::{op}(parse(body)?),")
        if partial:
            w.append("            other => Input::NotOffered(other, parse(body)?),")
        w.append("        })")
        w.append("    }")
        w.append("")
        w.append("    /// The operation this is the input of.")
        w.append("    pub fn op(&self) -> Op {")
        w.append("        match self {")
        for op, inp, out in ops:
            w.append(f"            Input::{op}(_) => Op::{op},")
        if partial:
            w.append("            Input::NotOffered(op, _) => *op,")
        w.append("        }")
        w.append("    }")
        w.append("")
        w.append("    /// The input as a JSON document (sensitive members included: redact before recording).")
        w.append("    pub fn to_json(&self) -> serde_json::Value {")
        w.append("        match self {")
        for op, inp, out in ops:
            w.append(f"            Input::{op}(i) => serde_json::to_value(i),")
        if partial:
            w.append("            Input::NotOffered(_, v) => Ok(v.clone()),")
        w.append("        }")
        w.append("        .unwrap_or_default()")
        w.append("    }")
        w.append("}")

    if cfg["typed"]:
        for name in sorted(structs):
            s = shapes[name]
            required = set(s.get("required", []))
            if json_protocol and name in {inp for _, inp, _ in ops}:
                required = set()
            w.append("")
            doc = first_sentence(s.get("documentation"))
            if doc:
                w.append(f"/// {doc}")
            w.append("#[derive(Debug, Clone, Default, Serialize, Deserialize)]")
            w.append(f"pub struct {type_name(name)} {{")
            for m, ref in s["members"].items():
                doc = first_sentence(ref.get("documentation"))
                if doc:
                    w.append(f"    /// {doc}")
                t = rust(ref)
                if f"{name}.{m}" in cfg.get("sensitive", ()):
                    t = "Sensitive"
                if m in required:
                    w.append(f'    #[serde(rename = "{m}")]')
                    w.append(f"    pub {snake(m)}: {t},")
                else:
                    w.append(f'    #[serde(rename = "{m}", default, '
                             f'skip_serializing_if = "Option::is_none")]')
                    w.append(f"    pub {snake(m)}: Option<{t}>,")
            w.append("}")

    text = "\n".join(w) + "\n"
    text = subprocess.run(["rustfmt", "--edition", "2024", "--emit", "stdout"], input=text,
                          capture_output=True, text=True, check=True).stdout
    path = os.path.join(ROOT, "crates", "server", "src", *service_dir(service), "shapes.rs")
    open(path, "w").write(text)
    print(f"wrote {path} ({len(structs)} structures, {len(ops)} operations)")


if __name__ == "__main__":
    for s in sys.argv[1:] or SERVICES:
        main(s)
