//! KMS key pages: list (ListKeys, with ListAliases and DescribeKey for what a row shows),
//! create (description, alias), and a key's page: enable / disable, schedule / cancel
//! deletion, automatic rotation on / off. Each action a KMS call as the signed-in principal.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::secrets::{date, encode};
use super::{Back, Ctx, Nav, Posted, Refusal, html, redirect};
use crate::http::AppState;
use crate::pipeline::front::JsonService::Kms;

/// Keys per list page (each row is one DescribeKey).
const PAGE_SIZE: u32 = 25;

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

pub fn key_href(id: &str) -> String {
    format!("/console/kms/key?id={}", encode(id))
}

/// An action's way back to the key's page.
fn key_back(id: &str) -> Back {
    Back {
        href: key_href(id),
        text: "Back to the key",
    }
}

/// Alias names by the key they point at.
pub fn aliases_by_key(out: &Value) -> HashMap<String, Vec<String>> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for a in out["Aliases"].as_array().into_iter().flatten() {
        if let Some(k) = a["TargetKeyId"].as_str() {
            map.entry(k.to_string())
                .or_default()
                .push(text(a, "AliasName"));
        }
    }
    map
}

/// Every alias of the account (ListAliases pages through them).
async fn all_aliases(state: &AppState, ctx: &Ctx) -> Result<HashMap<String, Vec<String>>, Refusal> {
    let mut all = HashMap::new();
    let mut marker: Option<String> = None;
    // Bounded: 20 pages of 100.
    for _ in 0..20 {
        let mut input = json!({"Limit": 100});
        if let Some(m) = &marker {
            input["Marker"] = Value::String(m.clone());
        }
        let out = ctx.call(state, Kms, "ListAliases", input).await?;
        for (k, v) in aliases_by_key(&out) {
            all.entry(k).or_insert_with(Vec::new).extend(v);
        }
        match out["NextMarker"].as_str() {
            Some(m) if out["Truncated"].as_bool() == Some(true) => marker = Some(m.to_string()),
            _ => break,
        }
    }
    Ok(all)
}

pub struct Row {
    pub id: String,
    pub href: String,
    pub aliases: String,
    pub description: String,
    pub state: String,
    pub manager: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "kms_keys.html")]
struct ListPage {
    nav: Option<Nav>,
    rows: Vec<Row>,
    next_href: Option<String>,
    refusal: Option<Refusal>,
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, q) = match Ctx::get(&state, peer, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut page = ListPage {
        nav: Some(ctx.nav()),
        rows: Vec::new(),
        next_href: None,
        refusal: None,
    };
    let mut input = json!({"Limit": PAGE_SIZE});
    if let Some(m) = q.get("next").filter(|m| !m.is_empty()) {
        input["Marker"] = Value::String(m.clone());
    }
    let keys = match ctx.call(&state, Kms, "ListKeys", input).await {
        Ok(out) => out,
        Err(r) => {
            page.refusal = Some(r);
            return html(&page);
        }
    };
    // Aliases and descriptions are extras: a caller refused them still sees the key ids.
    let aliases = all_aliases(&state, &ctx).await.unwrap_or_default();
    for k in keys["Keys"].as_array().into_iter().flatten() {
        let id = text(k, "KeyId");
        let mut row = Row {
            href: key_href(&id),
            aliases: aliases.get(&id).map(|a| a.join(", ")).unwrap_or_default(),
            id,
            description: String::new(),
            state: String::new(),
            manager: String::new(),
            created: String::new(),
        };
        if let Ok(d) = ctx
            .call(&state, Kms, "DescribeKey", json!({"KeyId": row.id}))
            .await
        {
            let m = &d["KeyMetadata"];
            row.description = text(m, "Description");
            row.state = text(m, "KeyState");
            row.manager = text(m, "KeyManager");
            row.created = date(&m["CreationDate"]);
        }
        page.rows.push(row);
    }
    if keys["Truncated"].as_bool() == Some(true)
        && let Some(m) = keys["NextMarker"].as_str()
    {
        page.next_href = Some(format!("/console/kms?next={}", encode(m)));
    }
    html(&page)
}

#[derive(Template)]
#[template(path = "kms_new.html")]
struct NewPage {
    nav: Option<Nav>,
    csrf: String,
    description: String,
    alias: String,
    refusal: Option<Refusal>,
}

pub async fn new_form(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, _) = match Ctx::get(&state, peer, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    html(&NewPage {
        nav: Some(ctx.nav()),
        csrf: ctx.csrf.clone(),
        description: String::new(),
        alias: String::new(),
        refusal: None,
    })
}

/// An alias as typed, with the `alias/` prefix AWS requires added when missing.
pub fn alias_name(typed: &str) -> Option<String> {
    let t = typed.trim();
    if t.is_empty() {
        return None;
    }
    Some(if t.starts_with("alias/") {
        t.to_string()
    } else {
        format!("alias/{t}")
    })
}

/// CreateKey (a symmetric encryption key), then CreateAlias when one is given.
pub async fn create(State(state): State<Arc<AppState>>, Posted(ctx, form): Posted) -> Response {
    let field = |k: &str| super::form_field(&form, k);
    let mut page = NewPage {
        nav: Some(ctx.nav()),
        csrf: ctx.csrf.clone(),
        description: field("description"),
        alias: field("alias"),
        refusal: None,
    };
    let created = ctx
        .call(
            &state,
            Kms,
            "CreateKey",
            json!({"Description": page.description}),
        )
        .await;
    let id = match created {
        Ok(out) => text(&out["KeyMetadata"], "KeyId"),
        Err(r) => {
            page.refusal = Some(r);
            return html(&page);
        }
    };
    let back = key_back(&id);
    let Some(alias) = alias_name(&page.alias) else {
        return redirect(&back.href);
    };
    let aliased = ctx
        .call(
            &state,
            Kms,
            "CreateAlias",
            json!({"AliasName": alias, "TargetKeyId": id}),
        )
        .await;
    ctx.answer(
        aliased,
        "The key is created, but its alias could not be.",
        &back,
        |_| redirect(&back.href),
    )
}

#[derive(Template)]
#[template(path = "kms_key.html")]
struct KeyPage {
    nav: Option<Nav>,
    csrf: String,
    id: String,
    found: bool,
    arn: String,
    aliases: Vec<String>,
    description: String,
    state: String,
    enabled: bool,
    manager: String,
    spec: String,
    usage: String,
    created: String,
    deletion: String,
    /// `None` when the caller may not read it (or the key is not a symmetric one).
    rotation: Option<bool>,
    refusal: Option<Refusal>,
}

pub async fn detail(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, q) = match Ctx::get(&state, peer, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut page = KeyPage {
        nav: Some(ctx.nav()),
        csrf: ctx.csrf.clone(),
        id: q.get("id").cloned().unwrap_or_default(),
        found: false,
        arn: String::new(),
        aliases: Vec::new(),
        description: String::new(),
        state: String::new(),
        enabled: false,
        manager: String::new(),
        spec: String::new(),
        usage: String::new(),
        created: String::new(),
        deletion: String::new(),
        rotation: None,
        refusal: None,
    };
    match ctx
        .call(&state, Kms, "DescribeKey", json!({"KeyId": page.id}))
        .await
    {
        Ok(d) => {
            let m = &d["KeyMetadata"];
            page.found = true;
            page.id = text(m, "KeyId");
            page.arn = text(m, "Arn");
            page.description = text(m, "Description");
            page.state = text(m, "KeyState");
            page.enabled = m["Enabled"].as_bool() == Some(true);
            page.manager = text(m, "KeyManager");
            page.spec = text(m, "KeySpec");
            page.usage = text(m, "KeyUsage");
            page.created = date(&m["CreationDate"]);
            page.deletion = date(&m["DeletionDate"]);
        }
        Err(r) => {
            page.refusal = Some(r);
            return html(&page);
        }
    }
    if let Ok(out) = ctx
        .call(
            &state,
            Kms,
            "ListAliases",
            json!({"KeyId": page.id, "Limit": 100}),
        )
        .await
    {
        page.aliases = aliases_by_key(&out).remove(&page.id).unwrap_or_default();
    }
    if let Ok(out) = ctx
        .call(
            &state,
            Kms,
            "GetKeyRotationStatus",
            json!({"KeyId": page.id}),
        )
        .await
    {
        page.rotation = out["KeyRotationEnabled"].as_bool();
    }
    html(&page)
}

/// The operation and input of a key page's button.
pub fn action_input(action: &str, id: &str, days: &str) -> Option<(&'static str, Value)> {
    let key = json!({"KeyId": id});
    Some(match action {
        "enable" => ("EnableKey", key),
        "disable" => ("DisableKey", key),
        "rotation-on" => ("EnableKeyRotation", key),
        "rotation-off" => ("DisableKeyRotation", key),
        "cancel-deletion" => ("CancelKeyDeletion", key),
        "schedule-deletion" => {
            let days = days.trim().parse::<u32>().unwrap_or(30);
            (
                "ScheduleKeyDeletion",
                json!({"KeyId": id, "PendingWindowInDays": days}),
            )
        }
        _ => return None,
    })
}

pub async fn act(State(state): State<Arc<AppState>>, Posted(ctx, form): Posted) -> Response {
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let id = field("id");
    let back = key_back(&id);
    let Some((operation, input)) = action_input(&field("action"), &id, &field("days")) else {
        return ctx.outcome(&back, "Unknown action.", None);
    };
    let done = ctx.call(&state, Kms, operation, input).await;
    ctx.answer(done, &format!("{operation} was refused."), &back, |_| {
        redirect(&back.href)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buttons_name_kms_operations() {
        assert_eq!(action_input("disable", "k", "").unwrap().0, "DisableKey");
        assert_eq!(
            action_input("schedule-deletion", "k", " 7 ").unwrap(),
            (
                "ScheduleKeyDeletion",
                json!({"KeyId": "k", "PendingWindowInDays": 7})
            )
        );
        assert_eq!(
            action_input("schedule-deletion", "k", "x").unwrap().1["PendingWindowInDays"],
            30
        );
        assert_eq!(
            action_input("rotation-on", "k", "").unwrap().0,
            "EnableKeyRotation"
        );
        assert!(action_input("delete-everything", "k", "").is_none());
    }

    #[test]
    fn aliases_group_by_key_and_get_their_prefix() {
        let m = aliases_by_key(&json!({"Aliases": [
            {"AliasName": "alias/a", "TargetKeyId": "k1"},
            {"AliasName": "alias/b", "TargetKeyId": "k1"},
            {"AliasName": "alias/aws/ssm"}]}));
        assert_eq!(m["k1"], ["alias/a", "alias/b"]);
        assert_eq!(m.len(), 1);
        assert_eq!(alias_name(" app ").as_deref(), Some("alias/app"));
        assert_eq!(alias_name("alias/app").as_deref(), Some("alias/app"));
        assert_eq!(alias_name(" "), None);
    }
}
