//! The secrets pages: list (search, filters, sort, paging), "Store a new secret", detail
//! (value on request, edit, versions, tags, rotation, delete / restore). Each action is
//! one or more API calls as the signed-in principal.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::{Ctx, Nav, Refusal, html, redirect};
use crate::http::AppState;
use crate::http::query::Params;
use crate::pipeline::front::JsonService::{Kms, SecretsManager};

/// What a query-string value keeps as is: RFC 3986's unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A query-string value, percent-encoded.
pub fn encode(v: &str) -> String {
    utf8_percent_encode(v, QUERY_VALUE).to_string()
}

/// Secrets per list page.
const PAGE_SIZE: u32 = 25;

/// The detail page's address of a secret.
pub fn detail_href(id: &str) -> String {
    format!("/console/secret?id={}", encode(id))
}

/// An epoch-seconds date as the API answers it, for people (UTC).
pub fn date(v: &Value) -> String {
    let Some(secs) = v.as_f64() else {
        return String::new();
    };
    time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            ))
            .ok()
        })
        .unwrap_or_default()
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The list's ListSecrets input from the page's query: name search, tag and description
/// filters, rotation on / off, sort field (ListSecrets' own and the console's description and
/// next rotation) and order, page token.
pub fn list_input(q: &Params) -> Value {
    let mut filters = Vec::new();
    for (field, key) in [("q", "name"), ("tag", "tag-key"), ("desc", "description")] {
        if let Some(v) = q.get(field).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            filters.push(json!({"Key": key, "Values": [v]}));
        }
    }
    if let Some(v) = q
        .get("tagvalue")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        filters.push(json!({"Key": "tag-value", "Values": [v]}));
    }
    let order = match q.get("order").map(String::as_str) {
        Some("desc") => "desc",
        _ => "asc",
    };
    const SORTS: [&str; 6] = [
        "name",
        "created-date",
        "last-accessed-date",
        "last-changed-date",
        "description",
        "next-rotation-date",
    ];
    let sort = q
        .get("sort")
        .map(String::as_str)
        .filter(|s| SORTS.contains(s))
        .unwrap_or("name");
    let mut input = json!({"MaxResults": PAGE_SIZE, "SortOrder": order, "SortBy": sort,
                           "IncludePlannedDeletion": true});
    if !filters.is_empty() {
        input["Filters"] = Value::Array(filters);
    }
    match q.get("rotation").map(String::as_str) {
        Some("on") => input["RotationEnabled"] = Value::Bool(true),
        Some("off") => input["RotationEnabled"] = Value::Bool(false),
        _ => {}
    }
    if let Some(t) = q.get("next").filter(|t| !t.is_empty()) {
        input["NextToken"] = Value::String(t.clone());
    }
    input
}

pub struct Row {
    pub name: String,
    pub href: String,
    pub description: String,
    pub last_changed: String,
    pub last_accessed: String,
    pub rotation: String,
    pub deleted: bool,
}

#[derive(Template)]
#[template(path = "secrets.html")]
struct ListPage {
    nav: Option<Nav>,
    q: String,
    tag: String,
    tagvalue: String,
    desc: String,
    /// "on", "off" or "" (either).
    rotation: String,
    order: String,
    sort: String,
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
    let field = |k: &str| q.get(k).cloned().unwrap_or_default();
    let input = list_input(&q);
    let mut page = ListPage {
        nav: Some(ctx.nav()),
        q: field("q"),
        tag: field("tag"),
        tagvalue: field("tagvalue"),
        desc: field("desc"),
        rotation: match input["RotationEnabled"].as_bool() {
            Some(true) => "on".into(),
            Some(false) => "off".into(),
            None => String::new(),
        },
        // As asked of ListSecrets (defaults included), so the form shows what is listed.
        order: input["SortOrder"].as_str().unwrap_or_default().to_string(),
        sort: input["SortBy"].as_str().unwrap_or_default().to_string(),
        rows: Vec::new(),
        next_href: None,
        refusal: None,
    };
    match ctx.list_secrets(&state, input).await {
        Ok(out) => {
            for s in out["SecretList"].as_array().into_iter().flatten() {
                let name = text(s, "Name");
                page.rows.push(Row {
                    href: detail_href(&name),
                    name,
                    description: text(s, "Description"),
                    last_changed: date(&s["LastChangedDate"]),
                    last_accessed: date(&s["LastAccessedDate"]),
                    rotation: match (s["RotationEnabled"].as_bool(), date(&s["NextRotationDate"])) {
                        (Some(true), next) if !next.is_empty() => format!("on, next {next}"),
                        (Some(true), _) => "on".into(),
                        _ => "off".into(),
                    },
                    deleted: s.get("DeletedDate").is_some_and(|d| !d.is_null()),
                });
            }
            if let Some(t) = out["NextToken"].as_str() {
                let mut next: Vec<(&str, &str)> =
                    ["q", "tag", "tagvalue", "desc", "rotation", "order", "sort"]
                        .iter()
                        .filter_map(|k| q.get(*k).map(|v| (*k, v.as_str())))
                        .collect();
                next.push(("next", t));
                page.next_href = Some(format!("/console/secrets?{}", query_string(&next)));
            }
        }
        Err(r) => page.refusal = Some(r),
    }
    html(&page)
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One key/value row of the editor.
pub struct Pair {
    pub key: String,
    pub value: String,
}

#[derive(Template)]
#[template(path = "new_secret.html")]
struct NewPage {
    nav: Option<Nav>,
    csrf: String,
    pattern: String,
    name: String,
    description: String,
    /// The secret type chosen: "kv", "json" or "plaintext".
    kind: String,
    plaintext: String,
    /// The JSON mode's text, and why it is not valid JSON ("" when it is).
    json: String,
    json_error: String,
    pairs: Vec<Pair>,
    tags: Vec<Pair>,
    /// A resource policy to attach (JSON), saved with BlockPublicPolicy.
    policy: String,
    kms_keys: Vec<String>,
    functions: Vec<String>,
    error: Option<String>,
    refusal: Option<Refusal>,
}

impl NewPage {
    async fn blank(state: &AppState, ctx: &Ctx) -> Self {
        // The KMS keys the caller may choose: its aliases (refused: the default key only).
        let kms_keys = match ctx
            .call(state, Kms, "ListAliases", json!({"Limit": 100}))
            .await
        {
            Ok(out) => out["Aliases"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| a.get("TargetKeyId").is_some_and(|t| !t.is_null()))
                .map(|a| text(a, "AliasName"))
                .collect(),
            Err(_) => Vec::new(),
        };
        Self {
            nav: Some(ctx.nav()),
            csrf: ctx.csrf.clone(),
            pattern: state
                .console
                .settings
                .name_pattern
                .clone()
                .unwrap_or_default(),
            name: String::new(),
            policy: String::new(),
            description: String::new(),
            kind: "kv".into(),
            plaintext: String::new(),
            json: String::new(),
            json_error: String::new(),
            pairs: (0..3)
                .map(|_| Pair {
                    key: String::new(),
                    value: String::new(),
                })
                .collect(),
            tags: vec![Pair {
                key: String::new(),
                value: String::new(),
            }],
            kms_keys,
            functions: state.console.rotation_functions.clone(),
            error: None,
            refusal: None,
        }
    }
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
    html(&NewPage::blank(&state, &ctx).await)
}

/// The rows `prefix_key{i}` / `prefix_value{i}` of a form, in order, empty keys skipped.
pub fn rows(form: &Params, key: &str, value: &str) -> Vec<Pair> {
    let mut indices: Vec<usize> = form
        .keys()
        .filter_map(|k| k.strip_prefix(key)?.parse().ok())
        .collect();
    indices.sort_unstable();
    indices
        .into_iter()
        .filter_map(|i| {
            let k = form.get(&format!("{key}{i}"))?.trim().to_string();
            let v = form
                .get(&format!("{value}{i}"))
                .cloned()
                .unwrap_or_default();
            (!k.is_empty()).then_some(Pair { key: k, value: v })
        })
        .collect()
}

/// The secret string of the key/value editor: a JSON object, keys in the order typed.
pub fn kv_json(pairs: &[Pair]) -> Zeroizing<String> {
    let mut m = serde_json::Map::new();
    for p in pairs {
        m.insert(p.key.clone(), Value::String(p.value.clone()));
    }
    Zeroizing::new(Value::Object(m).to_string())
}

/// The JSON mode's secret string: the text as typed, if it is one JSON document. The error
/// names where it stops being JSON (line, column), never what the text holds.
pub fn json_value(text: &str) -> Result<Zeroizing<String>, String> {
    match serde_json::from_str::<serde::de::IgnoredAny>(text) {
        Ok(_) => Ok(Zeroizing::new(text.to_string())),
        Err(e) => Err(format!(
            "The secret value is not valid JSON (line {}, column {}).",
            e.line(),
            e.column()
        )),
    }
}

/// RotateSecret's RotationRules from the form: a schedule expression if given, else every N
/// days; and the rotation window (`Duration`, e.g. `3h`) if given.
pub fn rotation_rules(days: &str, schedule: &str, window: &str) -> Result<Value, String> {
    let schedule = schedule.trim();
    let mut rules = if !schedule.is_empty() {
        json!({"ScheduleExpression": schedule})
    } else {
        match days.trim().parse::<u32>() {
            Ok(n) => json!({"AutomaticallyAfterDays": n}),
            Err(_) => {
                return Err(
                    "Give the rotation's interval in days, or a schedule expression.".into(),
                );
            }
        }
    };
    let window = window.trim();
    if !window.is_empty() {
        rules["Duration"] = Value::String(window.to_string());
    }
    Ok(rules)
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, form) = match Ctx::post(&state, peer, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let field = |k: &str| super::form_field(&form, k);
    let mut page = NewPage::blank(&state, &ctx).await;
    page.name = field("name");
    page.description = field("description");
    page.pairs = rows(&form, "key", "value");
    page.tags = rows(&form, "tagkey", "tagvalue");
    page.plaintext = form.get("plaintext").cloned().unwrap_or_default();
    page.json = form.get("json").cloned().unwrap_or_default();
    page.policy = field("resource_policy");
    page.kind = match form.get("kind").map(String::as_str) {
        Some(k @ ("json" | "plaintext")) => k.to_string(),
        _ => "kv".into(),
    };
    if let Some(re) = &state.console.name_pattern
        && !re.is_match(&page.name)
    {
        page.error = Some(format!(
            "The name does not follow the naming convention ({}).",
            page.pattern
        ));
        return html(&page);
    }
    let function = field("rotation_function");
    let rules = if function.is_empty() {
        None
    } else {
        match rotation_rules(
            &field("rotation_days"),
            &field("rotation_schedule"),
            &field("rotation_window"),
        ) {
            Ok(r) => Some(r),
            Err(e) => {
                page.error = Some(e);
                return html(&page);
            }
        }
    };
    let secret_string = match page.kind.as_str() {
        "plaintext" => Zeroizing::new(page.plaintext.clone()),
        "json" => match json_value(&page.json) {
            Ok(v) => v,
            Err(e) => {
                page.json_error = e;
                return html(&page);
            }
        },
        _ => kv_json(&page.pairs),
    };
    let mut input = json!({"Name": page.name, "SecretString": secret_string.as_str()});
    if !page.description.is_empty() {
        input["Description"] = Value::String(page.description.clone());
    }
    let kms = field("kms_key");
    if !kms.is_empty() {
        input["KmsKeyId"] = Value::String(kms);
    }
    if !page.tags.is_empty() {
        input["Tags"] = page
            .tags
            .iter()
            .map(|t| json!({"Key": t.key, "Value": t.value}))
            .collect();
    }
    let created = ctx
        .call(&state, SecretsManager, "CreateSecret", input)
        .await;
    let arn = match created {
        Ok(out) => text(&out, "ARN"),
        Err(r) => {
            page.refusal = Some(r);
            return html(&page);
        }
    };
    // The resource policy, as AWS's console attaches it: after the secret exists, refused if
    // it would grant access outside the account (BlockPublicPolicy).
    if !page.policy.is_empty() {
        let put = json!({
            "SecretId": arn,
            "ResourcePolicy": page.policy,
            "BlockPublicPolicy": true,
        });
        if let Err(r) = ctx
            .call(&state, SecretsManager, "PutResourcePolicy", put)
            .await
        {
            return super::rotation::outcome_page(
                &ctx,
                &page.name,
                "The secret is stored, but its resource policy was refused (nothing else was configured).",
                Some(r),
            );
        }
    }
    if let Some(rules) = rules {
        let rotate = json!({
            "SecretId": arn,
            "RotationLambdaARN": function,
            "RotationRules": rules,
            "RotateImmediately": form.contains_key("rotate_immediately"),
        });
        if let Err(r) = ctx
            .call(&state, SecretsManager, "RotateSecret", rotate)
            .await
        {
            return super::rotation::outcome_page(
                &ctx,
                &page.name,
                "The secret is stored, but its rotation could not be configured.",
                Some(r),
            );
        }
    }
    redirect(&detail_href(&page.name))
}

pub struct Version {
    pub id: String,
    pub stages: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "secret.html")]
struct DetailPage {
    nav: Option<Nav>,
    csrf: String,
    id: String,
    timeline_href: String,
    access_href: String,
    arn: String,
    description: String,
    kms_key: String,
    created: String,
    last_changed: String,
    last_accessed: String,
    deleted: String,
    rotation_enabled: bool,
    rotation_function: String,
    rotation_rules: String,
    next_rotation: String,
    tags: Vec<Pair>,
    versions: Vec<Version>,
    /// The configured rotation functions, for the rotation form.
    functions: Vec<String>,
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
    let id = q.get("id").cloned().unwrap_or_default();
    let mut page = DetailPage {
        nav: Some(ctx.nav()),
        csrf: ctx.csrf.clone(),
        timeline_href: super::rotation::timeline_href(&id),
        access_href: super::access::access_href(&id),
        id,
        arn: String::new(),
        description: String::new(),
        kms_key: String::new(),
        created: String::new(),
        last_changed: String::new(),
        last_accessed: String::new(),
        deleted: String::new(),
        rotation_enabled: false,
        rotation_function: String::new(),
        rotation_rules: String::new(),
        next_rotation: String::new(),
        tags: Vec::new(),
        versions: Vec::new(),
        functions: state.console.rotation_functions.clone(),
        refusal: None,
    };
    // A caller allowed only some actions (seed 003's developers: GetSecretValue and
    // UpdateSecret) still gets the page and its forms; what was refused says why.
    match ctx
        .call(
            &state,
            SecretsManager,
            "DescribeSecret",
            json!({"SecretId": page.id}),
        )
        .await
    {
        Ok(d) => {
            page.arn = text(&d, "ARN");
            page.description = text(&d, "Description");
            page.kms_key = text(&d, "KmsKeyId");
            page.created = date(&d["CreatedDate"]);
            page.last_changed = date(&d["LastChangedDate"]);
            page.last_accessed = date(&d["LastAccessedDate"]);
            page.deleted = date(&d["DeletedDate"]);
            page.rotation_enabled = d["RotationEnabled"].as_bool() == Some(true);
            page.rotation_function = text(&d, "RotationLambdaARN");
            page.rotation_rules = match &d["RotationRules"] {
                Value::Null => String::new(),
                r => r.to_string(),
            };
            page.next_rotation = date(&d["NextRotationDate"]);
            page.tags = d["Tags"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| Pair {
                    key: text(t, "Key"),
                    value: text(t, "Value"),
                })
                .collect();
            if let Ok(v) = ctx
                .call(
                    &state,
                    SecretsManager,
                    "ListSecretVersionIds",
                    json!({"SecretId": page.id, "IncludeDeprecated": true}),
                )
                .await
            {
                page.versions = v["Versions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|v| Version {
                        id: text(v, "VersionId"),
                        stages: v["VersionStages"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", "),
                        created: date(&v["CreatedDate"]),
                    })
                    .collect();
            }
        }
        Err(r) => page.refusal = Some(r),
    }
    html(&page)
}

#[derive(Template)]
#[template(path = "value.html")]
struct ValuePart {
    csrf: String,
    id: String,
    plain: String,
    pairs: Vec<Pair>,
    /// A JSON object of text values: offered in the key/value editor.
    editable: bool,
    version: String,
    refusal: Option<Refusal>,
}

#[derive(Template)]
#[template(path = "value_page.html")]
struct ValuePage {
    nav: Option<Nav>,
    detail_href: String,
    part: ValuePart,
}

/// The value as the page shows it: a JSON object's fields as rows, anything else as text.
pub fn shown_value(s: &str) -> (String, Vec<Pair>) {
    match serde_json::from_str::<Value>(s) {
        Ok(Value::Object(m)) if !m.is_empty() => (
            String::new(),
            m.into_iter()
                .map(|(key, v)| Pair {
                    key,
                    value: match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    },
                })
                .collect(),
        ),
        _ => (s.to_string(), Vec::new()),
    }
}

/// Whether the key/value editor can edit a value without changing it: a JSON object whose
/// values are all text (numbers, lists or objects would come back as text).
pub fn kv_editable(s: &str) -> bool {
    matches!(serde_json::from_str::<Value>(s),
        Ok(Value::Object(m)) if !m.is_empty() && m.values().all(Value::is_string))
}

/// "Retrieve secret value": an audited GetSecretValue, answered only to this POST (never in
/// a URL or a cached page).
pub async fn value(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, form) = match Ctx::post(&state, peer, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let id = form.get("id").cloned().unwrap_or_default();
    let mut part = ValuePart {
        csrf: ctx.csrf.clone(),
        id: id.clone(),
        plain: String::new(),
        pairs: Vec::new(),
        editable: false,
        version: String::new(),
        refusal: None,
    };
    match ctx
        .call(
            &state,
            SecretsManager,
            "GetSecretValue",
            json!({"SecretId": id}),
        )
        .await
    {
        Ok(out) => {
            part.version = text(&out, "VersionId");
            match out["SecretString"].as_str() {
                Some(s) => {
                    (part.plain, part.pairs) = shown_value(s);
                    part.editable = kv_editable(s);
                }
                None => part.plain = "(a binary value)".into(),
            }
        }
        Err(r) => part.refusal = Some(r),
    }
    if ctx.partial {
        return html(&part);
    }
    html(&ValuePage {
        nav: Some(ctx.nav()),
        detail_href: detail_href(&id),
        part,
    })
}

/// One action on a secret, then back to its page (or the refusal).
async fn act(
    state: &AppState,
    peer: SocketAddr,
    req: Request,
    operation: &'static str,
    input: impl FnOnce(&str, &Params) -> Value,
) -> Response {
    let (ctx, form) = match Ctx::post(state, peer, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let id = form.get("id").cloned().unwrap_or_default();
    match ctx
        .call(state, SecretsManager, operation, input(&id, &form))
        .await
    {
        Ok(_) => redirect(&detail_href(&id)),
        Err(r) => {
            super::rotation::outcome_page(&ctx, &id, &format!("{operation} was refused."), Some(r))
        }
    }
}

pub async fn put_value(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    // From the key/value editor (a retrieved JSON object's rows) or the text box.
    act(&state, peer, req, "PutSecretValue", |id, f| {
        let value = match f.get("kind").map(String::as_str) {
            Some("kv") => kv_json(&rows(f, "key", "value")),
            _ => Zeroizing::new(f.get("secret_string").cloned().unwrap_or_default()),
        };
        json!({"SecretId": id, "SecretString": value.as_str()})
    })
    .await
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    act(&state, peer, req, "DeleteSecret", |id, f| {
        let days = f
            .get("recovery_window_days")
            .and_then(|d| d.trim().parse::<u32>().ok())
            .unwrap_or(30);
        json!({"SecretId": id, "RecoveryWindowInDays": days})
    })
    .await
}

pub async fn tag(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    act(&state, peer, req, "TagResource", |id, f| {
        let field = |k: &str| f.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
        json!({"SecretId": id, "Tags": [{"Key": field("key"), "Value": field("value")}]})
    })
    .await
}

pub async fn untag(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    act(
        &state,
        peer,
        req,
        "UntagResource",
        |id, f| json!({"SecretId": id, "TagKeys": [f.get("key").cloned().unwrap_or_default()]}),
    )
    .await
}

pub async fn restore(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    act(
        &state,
        peer,
        req,
        "RestoreSecret",
        |id, _| json!({"SecretId": id}),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_list_asks_listsecrets_for_filters_sort_and_the_page() {
        let i = list_input(&params(&[
            ("q", " auth "),
            ("tag", "env"),
            ("desc", ""),
            ("order", "desc"),
            ("sort", "last-changed-date"),
            ("next", "tok"),
        ]));
        assert_eq!(
            i["Filters"],
            json!([{"Key": "name", "Values": ["auth"]}, {"Key": "tag-key", "Values": ["env"]}])
        );
        assert_eq!(
            (i["SortOrder"].as_str(), i["SortBy"].as_str()),
            (Some("desc"), Some("last-changed-date"))
        );
        assert_eq!(i["NextToken"], "tok");
        assert!(i.get("RotationEnabled").is_none());
        let console = list_input(&params(&[
            ("sort", "next-rotation-date"),
            ("rotation", "off"),
        ]));
        assert_eq!(console["SortBy"], "next-rotation-date");
        assert_eq!(console["RotationEnabled"], false);
        let by_description = list_input(&params(&[("sort", "description"), ("rotation", "on")]));
        assert_eq!(by_description["SortBy"], "description");
        assert_eq!(by_description["RotationEnabled"], true);
        let plain = list_input(&params(&[("sort", "bogus"), ("rotation", "maybe")]));
        assert!(plain.get("RotationEnabled").is_none());
        assert!(plain.get("Filters").is_none() && plain.get("NextToken").is_none());
        assert_eq!(
            (plain["SortOrder"].as_str(), plain["SortBy"].as_str()),
            (Some("asc"), Some("name"))
        );
    }

    #[test]
    fn editor_rows_come_in_order_and_empty_keys_are_dropped() {
        let f = params(&[
            ("key10", "C"),
            ("value10", "3"),
            ("key2", "B"),
            ("value2", "2"),
            ("key0", "A"),
            ("value0", "1"),
            ("key1", " "),
            ("value1", "ignored"),
        ]);
        let r = rows(&f, "key", "value");
        assert_eq!(
            r.iter().map(|p| p.key.as_str()).collect::<Vec<_>>(),
            ["A", "B", "C"]
        );
        assert_eq!(kv_json(&r).as_str(), r#"{"A":"1","B":"2","C":"3"}"#);
    }

    #[test]
    fn rotation_rules_prefer_a_schedule_and_need_one_or_the_other() {
        assert_eq!(
            rotation_rules("30", "", "").unwrap(),
            json!({"AutomaticallyAfterDays": 30})
        );
        assert_eq!(
            rotation_rules("30", "rate(10 days)", " ").unwrap(),
            json!({"ScheduleExpression": "rate(10 days)"})
        );
        assert_eq!(
            rotation_rules("7", "", "3h").unwrap(),
            json!({"AutomaticallyAfterDays": 7, "Duration": "3h"})
        );
        assert!(rotation_rules("soon", " ", "").is_err());
    }

    #[test]
    fn a_json_object_value_is_shown_as_fields_anything_else_as_text() {
        let (plain, pairs) = shown_value(r#"{"A":"x","N":1}"#);
        assert!(plain.is_empty());
        assert_eq!((pairs[1].key.as_str(), pairs[1].value.as_str()), ("N", "1"));
        assert_eq!(shown_value("just text").0, "just text");
        assert_eq!(shown_value("[1]").0, "[1]");
    }

    #[test]
    fn json_mode_takes_one_json_document_and_says_where_it_breaks() {
        assert_eq!(
            json_value(r#"{"a": [1, {"b": null}]}"#).unwrap().as_str(),
            r#"{"a": [1, {"b": null}]}"#
        );
        assert!(json_value("\"text\"").is_ok());
        let e = json_value("{\"user\": \"hunter2\",\n \"pw\" }").unwrap_err();
        assert_eq!(e, "The secret value is not valid JSON (line 2, column 7).");
        assert!(json_value("").is_err() && json_value("{} {}").is_err());
    }

    #[test]
    fn only_objects_of_text_values_go_to_the_key_value_editor() {
        assert!(kv_editable(r#"{"user": "a", "pw": "b"}"#));
        for s in [
            r#"{"n": 1}"#,
            r#"{"o": {"x": "y"}}"#,
            "{}",
            "[\"a\"]",
            "text",
        ] {
            assert!(!kv_editable(s), "{s}");
        }
    }

    #[test]
    fn hrefs_encode_names_and_dates_read_epoch_seconds() {
        assert_eq!(
            detail_href("a-b_c.d/e f+g"),
            "/console/secret?id=a-b_c.d%2Fe%20f%2Bg"
        );
        assert_eq!(date(&json!(1700000000.5)), "2023-11-14 22:13:20 UTC");
        assert_eq!(date(&Value::Null), "");
    }
}
