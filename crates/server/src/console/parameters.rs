//! Parameter Store pages: list (name and path filters, paging), create (String, StringList,
//! SecureString with a KMS key), view (a SecureString's value only in the answer to a POST:
//! GetParameter WithDecryption), history (GetParameterHistory, values not shown), edit
//! (PutParameter Overwrite), delete. Each action an SSM call as the signed-in principal.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::secrets::{date, encode};
use super::{Back, Ctx, Nav, Posted, Refusal, html, redirect};
use crate::http::AppState;
use crate::http::query::Params;
use crate::pipeline::front::JsonService::{Kms, Ssm};

/// Parameters per list page.
const PAGE_SIZE: u32 = 25;
const TYPES: [&str; 3] = ["String", "StringList", "SecureString"];

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

pub fn parameter_href(name: &str) -> String {
    format!("/console/parameter?name={}", encode(name))
}

/// An action's way back to the parameter's page.
fn parameter_back(name: &str) -> Back {
    Back {
        href: parameter_href(name),
        text: "Back to the parameter",
    }
}

/// The aliases of the caller's KMS keys (those pointing at a key), for a key choice; none
/// when the caller may not list them (the service's default key is then the only choice).
pub async fn alias_names(state: &AppState, ctx: &Ctx) -> Vec<String> {
    match ctx
        .call(state, Kms, "ListAliases", json!({"Limit": 100}))
        .await
    {
        Ok(out) => out["Aliases"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a.get("TargetKeyId").is_some_and(|t| !t.is_null()))
            .map(|a| text(a, "AliasName"))
            .filter(|a| !a.starts_with("alias/aws/"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// DescribeParameters' input from the list page's query: a name filter (contains), a path
/// (recursive) and the page token.
pub fn list_input(q: &Params) -> Value {
    let mut filters = Vec::new();
    if let Some(v) = q.get("q").map(|v| v.trim()).filter(|v| !v.is_empty()) {
        filters.push(json!({"Key": "Name", "Option": "Contains", "Values": [v]}));
    }
    if let Some(v) = q.get("path").map(|v| v.trim()).filter(|v| !v.is_empty()) {
        let option = if q.get("onelevel").is_some_and(|v| !v.is_empty()) {
            "OneLevel"
        } else {
            "Recursive"
        };
        filters.push(json!({"Key": "Path", "Option": option, "Values": [v]}));
    }
    if let Some(v) = q
        .get("type")
        .map(String::as_str)
        .filter(|t| TYPES.contains(t))
    {
        filters.push(json!({"Key": "Type", "Option": "Equals", "Values": [v]}));
    }
    let mut input = json!({"MaxResults": PAGE_SIZE});
    if !filters.is_empty() {
        input["ParameterFilters"] = Value::Array(filters);
    }
    if let Some(t) = q.get("next").filter(|t| !t.is_empty()) {
        input["NextToken"] = Value::String(t.clone());
    }
    input
}

pub struct Row {
    pub name: String,
    pub href: String,
    pub kind: String,
    pub version: String,
    pub description: String,
    pub last_modified: String,
}

fn row(p: &Value) -> Row {
    let name = text(p, "Name");
    Row {
        href: parameter_href(&name),
        name,
        kind: text(p, "Type"),
        version: text(p, "Version"),
        description: text(p, "Description"),
        last_modified: date(&p["LastModifiedDate"]),
    }
}

#[derive(Template)]
#[template(path = "parameters.html")]
struct ListPage {
    nav: Option<Nav>,
    q: String,
    path: String,
    onelevel: bool,
    kind: String,
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
    let mut page = ListPage {
        nav: Some(ctx.nav()),
        q: field("q"),
        path: field("path"),
        onelevel: !field("onelevel").is_empty(),
        kind: field("type"),
        rows: Vec::new(),
        next_href: None,
        refusal: None,
    };
    match ctx
        .call(&state, Ssm, "DescribeParameters", list_input(&q))
        .await
    {
        Ok(out) => {
            page.rows = out["Parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(row)
                .collect();
            if let Some(t) = out["NextToken"].as_str() {
                let mut next: Vec<String> = ["q", "path", "onelevel", "type"]
                    .iter()
                    .filter_map(|k| q.get(*k).map(|v| format!("{k}={}", encode(v))))
                    .collect();
                next.push(format!("next={}", encode(t)));
                page.next_href = Some(format!("/console/parameters?{}", next.join("&")));
            }
        }
        Err(r) => page.refusal = Some(r),
    }
    html(&page)
}

#[derive(Template)]
#[template(path = "parameter_new.html")]
struct NewPage {
    nav: Option<Nav>,
    csrf: String,
    name: String,
    kind: String,
    description: String,
    kms_keys: Vec<String>,
    error: Option<String>,
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
        name: String::new(),
        kind: "String".into(),
        description: String::new(),
        kms_keys: alias_names(&state, &ctx).await,
        error: None,
        refusal: None,
    })
}

/// PutParameter's input from a create or edit form. The value is moved in, never copied
/// into a page.
pub fn put_input(form: &Params, overwrite: bool) -> Result<Value, String> {
    let field = |k: &str| super::form_field(form, k);
    let kind = field("type");
    if !TYPES.contains(&kind.as_str()) {
        return Err("Choose the parameter's type: String, StringList or SecureString.".into());
    }
    let value = form.get("value").map(String::as_str).unwrap_or_default();
    let mut input = json!({
        "Name": field("name"),
        "Value": value,
        "Type": kind,
        "Overwrite": overwrite,
    });
    let description = field("description");
    if !description.is_empty() || overwrite {
        input["Description"] = Value::String(description);
    }
    let key = field("kms_key");
    if kind == "SecureString" && !key.is_empty() {
        input["KeyId"] = Value::String(key);
    }
    Ok(input)
}

pub async fn create(State(state): State<Arc<AppState>>, Posted(ctx, form): Posted) -> Response {
    let field = |k: &str| super::form_field(&form, k);
    let mut page = NewPage {
        nav: Some(ctx.nav()),
        csrf: ctx.csrf.clone(),
        name: field("name"),
        kind: field("type"),
        description: field("description"),
        kms_keys: Vec::new(),
        error: None,
        refusal: None,
    };
    let input = match put_input(&form, false) {
        Ok(i) => i,
        Err(e) => {
            page.error = Some(e);
            page.kms_keys = alias_names(&state, &ctx).await;
            return html(&page);
        }
    };
    match ctx.call(&state, Ssm, "PutParameter", input).await {
        Ok(_) => redirect(&parameter_href(&page.name)),
        Err(r) => {
            // The form comes back without the value: it is typed again, never echoed.
            page.refusal = Some(r);
            page.kms_keys = alias_names(&state, &ctx).await;
            html(&page)
        }
    }
}

pub struct HistoryRow {
    pub version: String,
    pub kind: String,
    pub modified: String,
    pub user: String,
    pub description: String,
    pub labels: String,
    pub key: String,
    /// Filled only in the answer to "Show values" (a POST).
    pub value: Zeroizing<String>,
}

fn history(out: &Value) -> Vec<HistoryRow> {
    let mut rows: Vec<HistoryRow> = out["Parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| HistoryRow {
            version: text(h, "Version"),
            kind: text(h, "Type"),
            modified: date(&h["LastModifiedDate"]),
            user: text(h, "LastModifiedUser"),
            description: text(h, "Description"),
            labels: h["Labels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            key: text(h, "KeyId"),
            value: Zeroizing::new(String::new()),
        })
        .collect();
    // Newest first.
    rows.reverse();
    rows
}

#[derive(Template)]
#[template(path = "parameter.html")]
struct DetailPage {
    nav: Option<Nav>,
    csrf: String,
    name: String,
    found: bool,
    kind: String,
    version: String,
    description: String,
    key: String,
    tier: String,
    data_type: String,
    last_modified: String,
    last_modified_user: String,
    /// A String or StringList's value (a SecureString's only on request).
    plain_value: Option<String>,
    history: Vec<HistoryRow>,
    kms_keys: Vec<String>,
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
    let name = q.get("name").cloned().unwrap_or_default();
    let mut page = DetailPage {
        nav: Some(ctx.nav()),
        csrf: ctx.csrf.clone(),
        name,
        found: false,
        kind: String::new(),
        version: String::new(),
        description: String::new(),
        key: String::new(),
        tier: String::new(),
        data_type: String::new(),
        last_modified: String::new(),
        last_modified_user: String::new(),
        plain_value: None,
        history: Vec::new(),
        kms_keys: Vec::new(),
        refusal: None,
    };
    let describe = json!({"ParameterFilters": [
        {"Key": "Name", "Option": "Equals", "Values": [page.name]}]});
    match ctx.call(&state, Ssm, "DescribeParameters", describe).await {
        Ok(out) => match out["Parameters"].as_array().and_then(|a| a.first()) {
            Some(p) => {
                page.found = true;
                page.kind = text(p, "Type");
                page.version = text(p, "Version");
                page.description = text(p, "Description");
                page.key = text(p, "KeyId");
                page.tier = text(p, "Tier");
                page.data_type = text(p, "DataType");
                page.last_modified = date(&p["LastModifiedDate"]);
                page.last_modified_user = text(p, "LastModifiedUser");
            }
            None => {
                page.refusal = Some(Refusal {
                    code: "ParameterNotFound".into(),
                    message: "No parameter of this name (or you may not describe it).".into(),
                    decided_by: None,
                })
            }
        },
        Err(r) => page.refusal = Some(r),
    }
    if page.found && page.kind != "SecureString" {
        match ctx
            .call(&state, Ssm, "GetParameter", json!({"Name": page.name}))
            .await
        {
            Ok(out) => page.plain_value = Some(text(&out["Parameter"], "Value")),
            Err(r) => page.refusal = Some(r),
        }
    }
    if page.found {
        // Values are left out: a SecureString's history would otherwise be ciphertext, and
        // old plaintext values are not what this page is for.
        if let Ok(out) = ctx
            .call(
                &state,
                Ssm,
                "GetParameterHistory",
                json!({"Name": page.name, "WithDecryption": false, "MaxResults": 50}),
            )
            .await
        {
            page.history = history(&out);
        }
        page.kms_keys = alias_names(&state, &ctx).await;
    }
    html(&page)
}

#[derive(Template)]
#[template(path = "parameter_value.html")]
struct ValuePart {
    value: Zeroizing<String>,
    version: String,
    refusal: Option<Refusal>,
}

/// "Show decrypted value": GetParameter WithDecryption, answered only to this POST (htmx
/// swaps it into the page; never in a URL or a cached page).
pub async fn value(State(state): State<Arc<AppState>>, Posted(ctx, form): Posted) -> Response {
    let name = form.get("name").cloned().unwrap_or_default();
    let mut part = ValuePart {
        value: Zeroizing::new(String::new()),
        version: String::new(),
        refusal: None,
    };
    match ctx
        .call(
            &state,
            Ssm,
            "GetParameter",
            json!({"Name": name, "WithDecryption": true}),
        )
        .await
    {
        Ok(out) => {
            part.value = Zeroizing::new(text(&out["Parameter"], "Value"));
            part.version = text(&out["Parameter"], "Version");
        }
        Err(r) => part.refusal = Some(r),
    }
    if ctx.partial {
        return html(&part);
    }
    html(&ValuePage {
        nav: Some(ctx.nav()),
        back_href: parameter_href(&name),
        name,
        part,
    })
}

/// The value on a page of its own, for a browser without JavaScript.
#[derive(Template)]
#[template(path = "parameter_value_page.html")]
struct ValuePage {
    nav: Option<Nav>,
    name: String,
    back_href: String,
    part: ValuePart,
}

#[derive(Template)]
#[template(path = "parameter_history_values.html")]
struct HistoryValues {
    rows: Vec<HistoryRow>,
    refusal: Option<Refusal>,
}

#[derive(Template)]
#[template(path = "parameter_history_page.html")]
struct HistoryValuesPage {
    nav: Option<Nav>,
    name: String,
    back_href: String,
    part: HistoryValues,
}

/// "Show values" of the history: GetParameterHistory WithDecryption, answered only to this
/// POST (as a fragment htmx swaps in, or a page without JavaScript).
pub async fn history_values(
    State(state): State<Arc<AppState>>,
    Posted(ctx, form): Posted,
) -> Response {
    let name = form.get("name").cloned().unwrap_or_default();
    let mut part = HistoryValues {
        rows: Vec::new(),
        refusal: None,
    };
    let input = json!({"Name": name, "WithDecryption": true, "MaxResults": 50});
    match ctx.call(&state, Ssm, "GetParameterHistory", input).await {
        Ok(out) => {
            part.rows = history(&out);
            let mut values: Vec<Zeroizing<String>> = out["Parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|h| Zeroizing::new(text(h, "Value")))
                .collect();
            values.reverse();
            for (row, value) in part.rows.iter_mut().zip(values) {
                row.value = value;
            }
        }
        Err(r) => part.refusal = Some(r),
    }
    if ctx.partial {
        return html(&part);
    }
    html(&HistoryValuesPage {
        nav: Some(ctx.nav()),
        back_href: parameter_href(&name),
        name,
        part,
    })
}

/// Edit: a new version (PutParameter Overwrite) with the type kept.
pub async fn put(State(state): State<Arc<AppState>>, Posted(ctx, form): Posted) -> Response {
    let name = form.get("name").cloned().unwrap_or_default();
    let back = parameter_back(&name);
    let input = match put_input(&form, true) {
        Ok(i) => i,
        Err(e) => return ctx.outcome(&back, &e, None),
    };
    let put = ctx.call(&state, Ssm, "PutParameter", input).await;
    ctx.answer(put, "The parameter could not be changed.", &back, |_| {
        redirect(&back.href)
    })
}

pub async fn delete(State(state): State<Arc<AppState>>, Posted(ctx, form): Posted) -> Response {
    let name = form.get("name").cloned().unwrap_or_default();
    let deleted = ctx
        .call(&state, Ssm, "DeleteParameter", json!({"Name": name}))
        .await;
    ctx.answer(
        deleted,
        "The parameter could not be deleted.",
        &parameter_back(&name),
        |_| redirect("/console/parameters"),
    )
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
    fn the_list_asks_for_name_path_type_and_the_page() {
        let i = list_input(&params(&[
            ("q", " db "),
            ("path", "/app/"),
            ("type", "SecureString"),
            ("next", "tok"),
        ]));
        assert_eq!(
            i["ParameterFilters"],
            json!([{"Key": "Name", "Option": "Contains", "Values": ["db"]},
                   {"Key": "Path", "Option": "Recursive", "Values": ["/app/"]},
                   {"Key": "Type", "Option": "Equals", "Values": ["SecureString"]}])
        );
        assert_eq!(i["NextToken"], "tok");
        let one = list_input(&params(&[("path", "/a"), ("onelevel", "1"), ("type", "x")]));
        assert_eq!(
            one["ParameterFilters"],
            json!([{"Key": "Path", "Option": "OneLevel", "Values": ["/a"]}])
        );
        assert!(list_input(&params(&[])).get("ParameterFilters").is_none());
    }

    #[test]
    fn put_input_keeps_the_value_as_typed_and_a_key_for_securestrings_only() {
        let f = params(&[
            ("name", " /app/db "),
            ("type", "SecureString"),
            ("value", " s3cr3t "),
            ("kms_key", "alias/app"),
        ]);
        let i = put_input(&f, false).unwrap();
        assert_eq!(
            i,
            json!({"Name": "/app/db", "Value": " s3cr3t ", "Type": "SecureString",
                   "Overwrite": false, "KeyId": "alias/app"})
        );
        let s = put_input(
            &params(&[("name", "n"), ("type", "String"), ("kms_key", "alias/app")]),
            true,
        )
        .unwrap();
        assert!(s.get("KeyId").is_none() && s["Overwrite"] == true && s["Description"] == "");
        assert!(put_input(&params(&[("type", "Binary")]), false).is_err());
    }

    #[test]
    fn history_is_newest_first_without_values() {
        let h = history(&json!({"Parameters": [
            {"Version": 1, "Type": "SecureString", "Value": "cipher", "Labels": []},
            {"Version": 2, "Type": "SecureString", "Value": "cipher2", "Labels": ["prod"]}]}));
        assert_eq!(h[0].version, "2");
        assert_eq!(h[0].labels, "prod");
    }
}
