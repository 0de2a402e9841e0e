//! A secret's resource policy (Get/Put/DeleteResourcePolicy, ValidateResourcePolicy's
//! findings shown before saving, BlockPublicPolicy), its versions with their staging labels
//! (move, add or remove a stage: UpdateSecretVersionStage) and its replication
//! (DescribeSecret's ReplicationStatus; replicate to a region, remove one, and on a
//! replica's page — the same page in the replica's region — promote it). Pages of their
//! own, linked from the secret's page.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::secrets::{date, detail_href, encode};
use super::{Back, Ctx, Nav, Posted, Refusal, html, redirect};
use crate::http::AppState;
use crate::pipeline::front::JsonService::SecretsManager;

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

pub fn policy_href(id: &str) -> String {
    format!("/console/secret/policy?id={}", encode(id))
}

pub fn versions_href(id: &str) -> String {
    format!("/console/secret/versions?id={}", encode(id))
}

/// The versions and replication page of the secret `id` in `region` (empty: the home
/// region, whose page has no region in its address).
pub fn versions_href_in(id: &str, region: &str) -> String {
    if region.is_empty() {
        versions_href(id)
    } else {
        format!("{}&region={}", versions_href(id), encode(region))
    }
}

/// One of ValidateResourcePolicy's findings.
pub struct Finding {
    pub check: String,
    pub message: String,
}

/// ValidateResourcePolicy's answer: passed, and its findings.
pub fn findings(out: &Value) -> (bool, Vec<Finding>) {
    let list = out["ValidationErrors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| Finding {
            check: text(f, "CheckName"),
            message: text(f, "ErrorMessage"),
        })
        .collect();
    (out["PolicyValidationPassed"].as_bool() == Some(true), list)
}

#[derive(Template)]
#[template(path = "secret_policy.html")]
struct PolicyPage {
    nav: Option<Nav>,
    csrf: String,
    id: String,
    detail_href: String,
    /// The document in the editor (the stored one, or what was typed).
    document: String,
    /// Whether the secret has a policy now.
    stored: bool,
    block_public: bool,
    /// Set once the document has been validated.
    validated: Option<bool>,
    findings: Vec<Finding>,
    /// What happened ("Saved.", "Deleted.").
    notice: Option<String>,
    refusal: Option<Refusal>,
}

impl PolicyPage {
    fn new(ctx: &Ctx, id: String) -> Self {
        Self {
            nav: Some(ctx.nav()),
            csrf: ctx.csrf.clone(),
            detail_href: detail_href(&id),
            id,
            document: String::new(),
            stored: false,
            block_public: true,
            validated: None,
            findings: Vec::new(),
            notice: None,
            refusal: None,
        }
    }

    /// The stored policy, pretty-printed when it is JSON.
    async fn load(&mut self, state: &AppState, ctx: &Ctx) {
        match ctx
            .call(
                state,
                SecretsManager,
                "GetResourcePolicy",
                json!({"SecretId": self.id}),
            )
            .await
        {
            Ok(out) => {
                let doc = text(&out, "ResourcePolicy");
                self.stored = !doc.is_empty();
                self.document = pretty(&doc);
            }
            Err(r) => self.refusal = Some(r),
        }
    }
}

/// A JSON document indented for the editor; anything else as it is.
pub fn pretty(doc: &str) -> String {
    serde_json::from_str::<Value>(doc)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| doc.to_string())
}

pub async fn policy(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, q) = match Ctx::get(&state, peer, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut page = PolicyPage::new(&ctx, q.get("id").cloned().unwrap_or_default());
    page.load(&state, &ctx).await;
    html(&page)
}

/// The editor's POST: `action=validate` shows the findings only; `action=save` validates,
/// then puts the policy (with BlockPublicPolicy when ticked); `action=delete` removes it.
pub async fn policy_submit(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, form) = match Ctx::post(&state, peer, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut page = PolicyPage::new(&ctx, form.get("id").cloned().unwrap_or_default());
    page.document = form.get("policy").cloned().unwrap_or_default();
    page.block_public = form.contains_key("block_public");
    let action = form.get("action").map(String::as_str).unwrap_or("validate");
    if action == "delete" {
        match ctx
            .call(
                &state,
                SecretsManager,
                "DeleteResourcePolicy",
                json!({"SecretId": page.id}),
            )
            .await
        {
            Ok(_) => {
                page.load(&state, &ctx).await;
                page.notice = Some("The resource policy is deleted.".into());
            }
            Err(r) => page.refusal = Some(r),
        }
        return html(&page);
    }
    match ctx
        .call(
            &state,
            SecretsManager,
            "ValidateResourcePolicy",
            json!({"SecretId": page.id, "ResourcePolicy": page.document}),
        )
        .await
    {
        Ok(out) => {
            let (passed, list) = findings(&out);
            page.validated = Some(passed);
            page.findings = list;
        }
        Err(r) => {
            // A document that does not parse is refused here: nothing to save.
            page.refusal = Some(r);
            return html(&page);
        }
    }
    if action == "save" {
        let input = json!({
            "SecretId": page.id,
            "ResourcePolicy": page.document,
            "BlockPublicPolicy": page.block_public,
        });
        match ctx
            .call(&state, SecretsManager, "PutResourcePolicy", input)
            .await
        {
            Ok(_) => {
                page.stored = true;
                page.notice = Some("The resource policy is saved.".into());
            }
            Err(r) => page.refusal = Some(r),
        }
    }
    html(&page)
}

pub struct Version {
    pub id: String,
    pub stages: Vec<String>,
    pub created: String,
    pub last_accessed: String,
}

pub struct Replica {
    pub region: String,
    pub status: String,
    pub message: String,
    pub kms_key: String,
    pub last_accessed: String,
}

#[derive(Template)]
#[template(path = "secret_versions.html")]
struct VersionsPage {
    nav: Option<Nav>,
    csrf: String,
    id: String,
    /// The region asked for (empty: the home region).
    region: String,
    /// The region the page shows, named.
    region_name: String,
    detail_href: String,
    versions: Vec<Version>,
    primary_region: String,
    /// DescribeSecret answered: the replication section has something to show.
    described: bool,
    /// The secret here is a replica (its primary is in `primary_region`).
    is_replica: bool,
    replicas: Vec<Replica>,
    /// The secret's name, for the pages of its replicas (an ARN names one region).
    name: String,
    /// Regions of this server the secret is not in yet (the "replicate" form's hints).
    candidates: Vec<String>,
    refusal: Option<Refusal>,
}

/// The versions as ListSecretVersionIds answers them, newest first.
pub fn versions(out: &Value) -> Vec<Version> {
    let mut list: Vec<(f64, Version)> = out["Versions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            (
                v["CreatedDate"].as_f64().unwrap_or(0.0),
                Version {
                    id: text(v, "VersionId"),
                    stages: v["VersionStages"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect(),
                    created: date(&v["CreatedDate"]),
                    last_accessed: date(&v["LastAccessedDate"]),
                },
            )
        })
        .collect();
    list.sort_by(|a, b| b.0.total_cmp(&a.0));
    list.into_iter().map(|(_, v)| v).collect()
}

/// DescribeSecret's ReplicationStatus.
pub fn replicas(d: &Value) -> Vec<Replica> {
    d["ReplicationStatus"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| Replica {
            region: text(r, "Region"),
            status: text(r, "Status"),
            message: text(r, "StatusMessage"),
            kms_key: text(r, "KmsKeyId"),
            last_accessed: date(&r["LastAccessedDate"]),
        })
        .collect()
}

pub async fn versions_page(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, q) = match Ctx::get(&state, peer, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let id = q.get("id").cloned().unwrap_or_default();
    let home = state.regions.home().name.clone();
    // The home region's page has one address.
    let region = super::form_field(&q, "region");
    let region = if region == home {
        String::new()
    } else {
        region
    };
    let mut page = VersionsPage {
        nav: Some(ctx.nav()),
        csrf: ctx.csrf.clone(),
        detail_href: detail_href(&id),
        region_name: if region.is_empty() {
            home
        } else {
            region.clone()
        },
        region,
        name: id.clone(),
        id,
        versions: Vec::new(),
        primary_region: String::new(),
        described: false,
        is_replica: false,
        replicas: Vec::new(),
        candidates: Vec::new(),
        refusal: None,
    };
    match ctx
        .call_in(
            &state,
            &page.region,
            SecretsManager,
            "ListSecretVersionIds",
            json!({"SecretId": page.id, "IncludeDeprecated": true}),
        )
        .await
    {
        Ok(out) => page.versions = versions(&out),
        Err(r) => page.refusal = Some(r),
    }
    // Replication is shown when the caller may describe the secret.
    if let Ok(d) = ctx
        .call_in(
            &state,
            &page.region,
            SecretsManager,
            "DescribeSecret",
            json!({"SecretId": page.id}),
        )
        .await
    {
        page.primary_region = text(&d, "PrimaryRegion");
        page.is_replica =
            !page.primary_region.is_empty() && page.primary_region != page.region_name;
        page.replicas = replicas(&d);
        page.name = text(&d, "Name");
        page.described = true;
        if !page.is_replica {
            let taken =
                |r: &String| *r == page.region_name || page.replicas.iter().any(|x| &x.region == r);
            page.candidates = state
                .regions
                .names()
                .into_iter()
                .filter(|r| !taken(r))
                .collect();
        }
    }
    html(&page)
}

/// A replication button: the Secrets Manager operation and its input.
pub fn replication_input(
    action: &str,
    id: &str,
    form: &crate::http::query::Params,
) -> Result<(&'static str, Value), String> {
    let field = |k: &str| super::form_field(form, k);
    let replica_region = field("replica_region");
    match action {
        "replicate" => {
            if replica_region.is_empty() {
                return Err("Name the region to replicate to.".into());
            }
            let mut replica = json!({"Region": replica_region});
            let key = field("kms_key");
            if !key.is_empty() {
                replica["KmsKeyId"] = Value::String(key);
            }
            let mut input = json!({"SecretId": id, "AddReplicaRegions": [replica]});
            // An unticked checkbox is not sent at all.
            if form.contains_key("overwrite") {
                input["ForceOverwriteReplicaSecret"] = Value::Bool(true);
            }
            Ok(("ReplicateSecretToRegions", input))
        }
        "remove" => {
            if replica_region.is_empty() {
                return Err("Name the region to remove.".into());
            }
            Ok((
                "RemoveRegionsFromReplication",
                json!({"SecretId": id, "RemoveReplicaRegions": [replica_region]}),
            ))
        }
        "promote" => Ok(("StopReplicationToReplica", json!({"SecretId": id}))),
        _ => Err("Unknown action.".into()),
    }
}

/// Replicate to a region, remove one, or promote this replica: called as the signed-in
/// principal in the page's region (the primary's for replicate and remove, the replica's
/// for promote, as AWS requires).
pub async fn replication(
    State(state): State<Arc<AppState>>,
    Posted(ctx, form): Posted,
) -> Response {
    let id = super::form_field(&form, "id");
    let region = super::form_field(&form, "region");
    let back = Back {
        href: format!("{}#replication", versions_href_in(&id, &region)),
        text: "Back to the replication",
    };
    let action = form.get("action").map(String::as_str).unwrap_or_default();
    let (operation, input) = match replication_input(action, &id, &form) {
        Ok(x) => x,
        Err(e) => return ctx.outcome(&back, &e, None),
    };
    let done = ctx
        .call_in(&state, &region, SecretsManager, operation, input)
        .await;
    ctx.answer(done, &format!("{operation} was refused."), &back, |_| {
        redirect(&back.href)
    })
}

/// UpdateSecretVersionStage's input from the form: a stage moved to a version (from the one
/// holding it, if any), or removed from one.
pub fn stage_input(id: &str, stage: &str, to: &str, from: &str) -> Result<Value, String> {
    let stage = stage.trim();
    if stage.is_empty() {
        return Err("Name the staging label.".into());
    }
    let mut input = json!({"SecretId": id, "VersionStage": stage});
    if !to.is_empty() {
        input["MoveToVersionId"] = Value::String(to.to_string());
    }
    if !from.is_empty() && from != to {
        input["RemoveFromVersionId"] = Value::String(from.to_string());
    }
    if to.is_empty() && from.is_empty() {
        return Err("Choose the version to move the label to.".into());
    }
    Ok(input)
}

/// Move, add or remove a staging label (UpdateSecretVersionStage).
pub async fn move_stage(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, form) = match Ctx::post(&state, peer, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let field = |k: &str| super::form_field(&form, k);
    let (id, region) = (field("id"), field("region"));
    let input = match stage_input(&id, &field("stage"), &field("to"), &field("from")) {
        Ok(i) => i,
        Err(e) => return super::rotation::outcome_page(&ctx, &id, &e, None),
    };
    match ctx
        .call_in(
            &state,
            &region,
            SecretsManager,
            "UpdateSecretVersionStage",
            input,
        )
        .await
    {
        Ok(_) => redirect(&versions_href_in(&id, &region)),
        Err(r) => super::rotation::outcome_page(
            &ctx,
            &id,
            "The staging label could not be moved.",
            Some(r),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_moves_from_its_holder_or_is_added_or_removed() {
        assert_eq!(
            stage_input("s", " AWSCURRENT ", "v1", "v2").unwrap(),
            json!({"SecretId": "s", "VersionStage": "AWSCURRENT",
                   "MoveToVersionId": "v1", "RemoveFromVersionId": "v2"})
        );
        // A new label: nothing to remove it from.
        assert_eq!(
            stage_input("s", "BLUE", "v1", "").unwrap(),
            json!({"SecretId": "s", "VersionStage": "BLUE", "MoveToVersionId": "v1"})
        );
        // Moved to where it is: nothing removed.
        assert!(stage_input("s", "X", "v1", "v1").unwrap()["RemoveFromVersionId"].is_null());
        assert_eq!(
            stage_input("s", "BLUE", "", "v1").unwrap(),
            json!({"SecretId": "s", "VersionStage": "BLUE", "RemoveFromVersionId": "v1"})
        );
        assert!(stage_input("s", " ", "v1", "").is_err());
        assert!(stage_input("s", "X", "", "").is_err());
    }

    fn form(pairs: &[(&str, &str)]) -> crate::http::query::Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn replication_buttons_name_secrets_manager_operations() {
        let f = form(&[("replica_region", " eu-west-1 "), ("kms_key", "alias/eu")]);
        assert_eq!(
            replication_input("replicate", "s", &f).unwrap(),
            (
                "ReplicateSecretToRegions",
                json!({"SecretId": "s",
                       "AddReplicaRegions": [{"Region": "eu-west-1", "KmsKeyId": "alias/eu"}]})
            )
        );
        // No key: the region's default (aws/secretsmanager); overwrite only when ticked.
        let f = form(&[
            ("replica_region", "eu-west-1"),
            ("kms_key", " "),
            ("overwrite", "on"),
        ]);
        assert_eq!(
            replication_input("replicate", "s", &f).unwrap().1,
            json!({"SecretId": "s", "AddReplicaRegions": [{"Region": "eu-west-1"}],
                   "ForceOverwriteReplicaSecret": true})
        );
        assert_eq!(
            replication_input("remove", "s", &f).unwrap(),
            (
                "RemoveRegionsFromReplication",
                json!({"SecretId": "s", "RemoveReplicaRegions": ["eu-west-1"]})
            )
        );
        assert_eq!(
            replication_input("promote", "s", &form(&[])).unwrap(),
            ("StopReplicationToReplica", json!({"SecretId": "s"}))
        );
        assert!(replication_input("replicate", "s", &form(&[])).is_err());
        assert!(replication_input("remove", "s", &form(&[])).is_err());
        assert!(replication_input("delete", "s", &f).is_err());
    }

    #[test]
    fn findings_and_versions_are_read_from_the_answers() {
        let (passed, f) = findings(&json!({"PolicyValidationPassed": false,
            "ValidationErrors": [{"CheckName": "PUBLIC_ACCESS", "ErrorMessage": "broad"}]}));
        assert!(!passed);
        assert_eq!(
            (f[0].check.as_str(), f[0].message.as_str()),
            ("PUBLIC_ACCESS", "broad")
        );
        let v = versions(&json!({"Versions": [
            {"VersionId": "old", "VersionStages": ["AWSPREVIOUS"], "CreatedDate": 1.0},
            {"VersionId": "new", "VersionStages": ["AWSCURRENT", "X"], "CreatedDate": 2.0}]}));
        assert_eq!(v[0].id, "new");
        assert_eq!(v[0].stages, ["AWSCURRENT", "X"]);
        let r = replicas(&json!({"ReplicationStatus": [
            {"Region": "eu-west-1", "Status": "InSync", "KmsKeyId": "alias/aws/secretsmanager"}]}));
        assert_eq!(
            (r[0].region.as_str(), r[0].status.as_str()),
            ("eu-west-1", "InSync")
        );
        assert!(replicas(&json!({})).is_empty());
        assert_eq!(
            versions_href_in("a b", "eu-west-1"),
            "/console/secret/versions?id=a%20b&region=eu-west-1"
        );
        assert_eq!(versions_href_in("a", ""), "/console/secret/versions?id=a");
        assert_eq!(pretty(r#"{"a":1}"#), "{\n  \"a\": 1\n}");
        assert_eq!(pretty("not json"), "not json");
    }
}
