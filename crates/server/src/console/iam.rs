//! IAM pages: users (create / delete, attach / detach managed policies, inline policies
//! shown, access keys created — the secret shown once, in the answer to that POST only —
//! activated, deactivated, deleted), roles (create with a trust policy, delete, attach /
//! detach managed policies, put / delete inline policies), managed policies (list, create
//! from JSON, delete; their versions listed, a new one set as the default or not, an older one
//! made the default again, a non-default one deleted). Each action an IAM call as the
//! signed-in principal; a refusal shows AWS's message and the statements that decided.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::secrets::encode;
use super::{Back, Ctx, Nav, Posted, Refusal, html, redirect};
use crate::http::AppState;
use crate::http::query::Params;
use crate::pipeline::front::call_iam_as;

/// An IAM action as the signed-in principal, its result read back as JSON.
async fn call(
    state: &AppState,
    ctx: &Ctx,
    action: &str,
    fields: &[(&str, &str)],
) -> Result<Value, Refusal> {
    let mut params: Params = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    params.insert("Action".into(), action.into());
    params.insert("Version".into(), "2010-05-08".into());
    match call_iam_as(state, &ctx.principal, action, params, &ctx.origin).await {
        Ok(xml) => Ok(xml.map(|x| xml_to_json(&x)).unwrap_or(Value::Null)),
        Err(e) => Err(Refusal::explain(e)),
    }
}

/// IAM's answers, as the server writes them (the inside of `<ActionResult>`: elements
/// without attributes, escaped text), read back: an element of elements is an object, of
/// `<member>`s an array, anything else its text. An empty element reads as "".
pub fn xml_to_json(xml: &str) -> Value {
    let mut pos = 0;
    node(&children(xml, &mut pos))
}

enum Node {
    Text(String),
    Elements(Vec<(String, Node)>),
}

/// The elements (or text) from `pos` up to the closing tag of the enclosing element.
fn children(xml: &str, pos: &mut usize) -> Node {
    let mut items = Vec::new();
    let mut text = String::new();
    while *pos < xml.len() {
        let rest = &xml[*pos..];
        let Some(lt) = rest.find('<') else {
            text.push_str(rest);
            *pos = xml.len();
            break;
        };
        text.push_str(&rest[..lt]);
        let Some(gt) = rest[lt..].find('>') else {
            *pos = xml.len();
            break;
        };
        let tag = &rest[lt + 1..lt + gt];
        *pos += lt + gt + 1;
        if tag.starts_with('/') {
            break;
        }
        if let Some(name) = tag.strip_suffix('/') {
            items.push((name.trim().to_string(), Node::Text(String::new())));
            continue;
        }
        let inner = children(xml, pos);
        items.push((tag.trim().to_string(), inner));
    }
    if items.is_empty() {
        Node::Text(unescape(&text))
    } else {
        Node::Elements(items)
    }
}

fn node(n: &Node) -> Value {
    match n {
        Node::Text(t) => Value::String(t.clone()),
        Node::Elements(items) if items.iter().all(|(k, _)| k == "member") => {
            Value::Array(items.iter().map(|(_, v)| node(v)).collect())
        }
        Node::Elements(items) => {
            let mut m = Map::new();
            for (k, v) in items {
                m.insert(k.clone(), node(v));
            }
            Value::Object(m)
        }
    }
}

fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e => e
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| e.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn list<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

/// A policy document as IAM answers it (URL-encoded), indented for reading.
pub fn document(encoded: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(encoded)
        .decode_utf8_lossy()
        .into_owned();
    super::secret_admin::pretty(&decoded)
}

/// An ISO 8601 date as IAM answers it, shortened for people.
fn when(v: &Value) -> String {
    let t = v.as_str().unwrap_or_default();
    t.get(..19)
        .map(|d| format!("{} UTC", d.replace('T', " ")))
        .unwrap_or_else(|| t.to_string())
}

pub fn user_href(name: &str) -> String {
    format!("/console/iam/user?name={}", encode(name))
}

pub fn role_href(name: &str) -> String {
    format!("/console/iam/role?name={}", encode(name))
}

pub fn policy_href(arn: &str) -> String {
    format!("/console/iam/policy?arn={}", encode(arn))
}

/// A named thing with its page (users, roles, policies in lists).
pub struct Item {
    pub name: String,
    pub href: String,
    pub arn: String,
    pub detail: String,
    pub created: String,
}

fn next_href(out: &Value, base: &str) -> Option<String> {
    (text(out, "IsTruncated") == "true")
        .then(|| text(out, "Marker"))
        .filter(|m| !m.is_empty())
        .map(|m| format!("{base}?next={}", encode(&m)))
}

fn paged<'a>(q: &'a Params, fields: &mut Vec<(&'a str, &'a str)>) {
    if let Some(m) = q.get("next").filter(|m| !m.is_empty()) {
        fields.push(("Marker", m));
    }
}

#[derive(Template)]
#[template(path = "iam_users.html")]
struct UsersPage {
    nav: Option<Nav>,
    csrf: String,
    users: Vec<Item>,
    next_href: Option<String>,
    refusal: Option<Refusal>,
}

pub async fn users(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, q) = match Ctx::get(&state, peer, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut page = UsersPage {
        nav: Some(ctx.nav()),
        csrf: ctx.csrf.clone(),
        users: Vec::new(),
        next_href: None,
        refusal: None,
    };
    let mut fields = vec![("MaxItems", "50")];
    paged(&q, &mut fields);
    match call(&state, &ctx, "ListUsers", &fields).await {
        Ok(out) => {
            page.users = list(&out, "Users")
                .map(|u| {
                    let name = text(u, "UserName");
                    Item {
                        href: user_href(&name),
                        name,
                        arn: text(u, "Arn"),
                        detail: text(u, "Path"),
                        created: when(&u["CreateDate"]),
                    }
                })
                .collect();
            page.next_href = next_href(&out, "/console/iam");
        }
        Err(r) => page.refusal = Some(r),
    }
    html(&page)
}

pub async fn create_user(
    State(state): State<Arc<AppState>>,
    Posted(ctx, form): Posted,
) -> Response {
    let name = form
        .get("name")
        .map(|n| n.trim().to_string())
        .unwrap_or_default();
    let created = call(&state, &ctx, "CreateUser", &[("UserName", &name)]).await;
    let back = Back {
        href: "/console/iam".into(),
        text: "Back to the users",
    };
    ctx.answer(created, "The user could not be created.", &back, |_| {
        redirect(&user_href(&name))
    })
}

pub struct Key {
    pub id: String,
    pub status: String,
    pub created: String,
}

pub struct Attached {
    pub name: String,
    pub arn: String,
    pub href: String,
}

pub struct Inline {
    pub name: String,
    pub document: String,
}

#[derive(Template)]
#[template(path = "iam_user.html")]
struct UserPage {
    nav: Option<Nav>,
    csrf: String,
    name: String,
    found: bool,
    arn: String,
    created: String,
    keys: Vec<Key>,
    attached: Vec<Attached>,
    inline: Vec<Inline>,
    /// Managed policies that may be attached (not attached yet).
    attachable: Vec<Attached>,
    refusals: Vec<Refusal>,
}

/// The attached managed policies of a user or role.
fn attached(out: &Value) -> Vec<Attached> {
    list(out, "AttachedPolicies")
        .map(|p| {
            let arn = text(p, "PolicyArn");
            Attached {
                name: text(p, "PolicyName"),
                href: policy_href(&arn),
                arn,
            }
        })
        .collect()
}

/// A user's or role's inline policies, each with its document (GetUserPolicy /
/// GetRolePolicy).
async fn inline_policies(
    state: &AppState,
    ctx: &Ctx,
    kind: &str,
    name: &str,
    refusals: &mut Vec<Refusal>,
) -> Vec<Inline> {
    let (list_action, get_action, member) = match kind {
        "role" => ("ListRolePolicies", "GetRolePolicy", "RoleName"),
        _ => ("ListUserPolicies", "GetUserPolicy", "UserName"),
    };
    let names = match call(state, ctx, list_action, &[(member, name)]).await {
        Ok(out) => list(&out, "PolicyNames")
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect::<Vec<_>>(),
        Err(r) => {
            refusals.push(r);
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for policy in names {
        let document = match call(
            state,
            ctx,
            get_action,
            &[(member, name), ("PolicyName", &policy)],
        )
        .await
        {
            Ok(got) => document(&text(&got, "PolicyDocument")),
            Err(r) => {
                refusals.push(r);
                String::new()
            }
        };
        out.push(Inline {
            name: policy,
            document,
        });
    }
    out
}

pub async fn user(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, q) = match Ctx::get(&state, peer, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let name = q.get("name").cloned().unwrap_or_default();
    let mut page = UserPage {
        nav: Some(ctx.nav()),
        csrf: ctx.csrf.clone(),
        name: name.clone(),
        found: false,
        arn: String::new(),
        created: String::new(),
        keys: Vec::new(),
        attached: Vec::new(),
        inline: Vec::new(),
        attachable: Vec::new(),
        refusals: Vec::new(),
    };
    match call(&state, &ctx, "GetUser", &[("UserName", &name)]).await {
        Ok(out) => {
            page.found = true;
            page.arn = text(&out["User"], "Arn");
            page.created = when(&out["User"]["CreateDate"]);
        }
        Err(r) => {
            page.refusals.push(r);
            return html(&page);
        }
    }
    match call(&state, &ctx, "ListAccessKeys", &[("UserName", &name)]).await {
        Ok(out) => {
            page.keys = list(&out, "AccessKeyMetadata")
                .map(|k| Key {
                    id: text(k, "AccessKeyId"),
                    status: text(k, "Status"),
                    created: when(&k["CreateDate"]),
                })
                .collect()
        }
        Err(r) => page.refusals.push(r),
    }
    match call(
        &state,
        &ctx,
        "ListAttachedUserPolicies",
        &[("UserName", &name)],
    )
    .await
    {
        Ok(out) => page.attached = attached(&out),
        Err(r) => page.refusals.push(r),
    }
    page.inline = inline_policies(&state, &ctx, "user", &name, &mut page.refusals).await;
    page.attachable = attachable(&state, &ctx, &page.attached).await;
    html(&page)
}

/// The attach form's choice: the managed policies not attached yet. Empty for a caller who
/// may not list policies (the form then asks for an ARN).
async fn attachable(state: &AppState, ctx: &Ctx, attached: &[Attached]) -> Vec<Attached> {
    let Ok(out) = call(
        state,
        ctx,
        "ListPolicies",
        &[("Scope", "All"), ("MaxItems", "1000")],
    )
    .await
    else {
        return Vec::new();
    };
    list(&out, "Policies")
        .map(|p| {
            let arn = text(p, "Arn");
            Attached {
                name: text(p, "PolicyName"),
                href: policy_href(&arn),
                arn,
            }
        })
        .filter(|p| !attached.iter().any(|a| a.arn == p.arn))
        .collect()
}

/// The secret access key of a key just created: this page is the only place it is ever
/// shown (the answer to the POST; no-store like every console page).
#[derive(Template)]
#[template(path = "iam_key_once.html")]
struct KeyOncePage {
    nav: Option<Nav>,
    user: String,
    user_href: String,
    access_key_id: String,
    secret_access_key: Zeroizing<String>,
}

/// A user page's button: the IAM action and its fields.
pub fn user_action<'a>(
    action: &str,
    user: &'a str,
    form: &'a Params,
) -> Option<(&'static str, Vec<(&'static str, &'a str)>)> {
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let mut fields = vec![("UserName", user)];
    let name = match action {
        "attach" => {
            fields.push(("PolicyArn", field("policy_arn").trim()));
            "AttachUserPolicy"
        }
        "detach" => {
            fields.push(("PolicyArn", field("policy_arn")));
            "DetachUserPolicy"
        }
        "create-key" => "CreateAccessKey",
        "activate" | "deactivate" => {
            fields.push(("AccessKeyId", field("key_id")));
            fields.push((
                "Status",
                if action == "activate" {
                    "Active"
                } else {
                    "Inactive"
                },
            ));
            "UpdateAccessKey"
        }
        "delete-key" => {
            fields.push(("AccessKeyId", field("key_id")));
            "DeleteAccessKey"
        }
        "delete-user" => "DeleteUser",
        _ => return None,
    };
    Some((name, fields))
}

pub async fn user_act(State(state): State<Arc<AppState>>, Posted(ctx, form): Posted) -> Response {
    let user = form.get("name").cloned().unwrap_or_default();
    let action = form.get("action").cloned().unwrap_or_default();
    let back = Back {
        href: user_href(&user),
        text: "Back to the user",
    };
    let Some((operation, fields)) = user_action(&action, &user, &form) else {
        return ctx.outcome(&back, "Unknown action.", None);
    };
    let done = call(&state, &ctx, operation, &fields).await;
    ctx.answer(
        done,
        &format!("{operation} was refused."),
        &back,
        |out| match operation {
            "CreateAccessKey" => {
                let key = &out["AccessKey"];
                html(&KeyOncePage {
                    nav: Some(ctx.nav()),
                    user_href: back.href.clone(),
                    user: user.clone(),
                    access_key_id: text(key, "AccessKeyId"),
                    secret_access_key: Zeroizing::new(text(key, "SecretAccessKey")),
                })
            }
            "DeleteUser" => redirect("/console/iam"),
            _ => redirect(&back.href),
        },
    )
}

#[derive(Template)]
#[template(path = "iam_roles.html")]
struct RolesPage {
    nav: Option<Nav>,
    csrf: String,
    roles: Vec<Item>,
    next_href: Option<String>,
    refusal: Option<Refusal>,
}

pub async fn roles(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, q) = match Ctx::get(&state, peer, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut page = RolesPage {
        nav: Some(ctx.nav()),
        csrf: ctx.csrf.clone(),
        roles: Vec::new(),
        next_href: None,
        refusal: None,
    };
    let mut fields = vec![("MaxItems", "50")];
    paged(&q, &mut fields);
    match call(&state, &ctx, "ListRoles", &fields).await {
        Ok(out) => {
            page.roles = list(&out, "Roles")
                .map(|r| {
                    let name = text(r, "RoleName");
                    Item {
                        href: role_href(&name),
                        name,
                        arn: text(r, "Arn"),
                        detail: text(r, "Description"),
                        created: when(&r["CreateDate"]),
                    }
                })
                .collect();
            page.next_href = next_href(&out, "/console/iam/roles");
        }
        Err(r) => page.refusal = Some(r),
    }
    html(&page)
}

/// "Create role": CreateRole with the trust policy typed (IAM checks it: a malformed one is
/// refused with AWS's MalformedPolicyDocument message).
pub async fn create_role(
    State(state): State<Arc<AppState>>,
    Posted(ctx, form): Posted,
) -> Response {
    let field = |k: &str| super::form_field(&form, k);
    let (name, description, trust) = (field("name"), field("description"), field("trust"));
    let mut fields = vec![
        ("RoleName", name.as_str()),
        ("AssumeRolePolicyDocument", trust.as_str()),
    ];
    if !description.is_empty() {
        fields.push(("Description", description.as_str()));
    }
    let created = call(&state, &ctx, "CreateRole", &fields).await;
    let back = Back {
        href: "/console/iam/roles".into(),
        text: "Back to the roles",
    };
    ctx.answer(created, "The role could not be created.", &back, |out| {
        redirect(&role_href(&text(&out["Role"], "RoleName")))
    })
}

#[derive(Template)]
#[template(path = "iam_role.html")]
struct RolePage {
    nav: Option<Nav>,
    csrf: String,
    name: String,
    found: bool,
    arn: String,
    description: String,
    trust: String,
    attached: Vec<Attached>,
    inline: Vec<Inline>,
    /// Managed policies that may be attached (not attached yet).
    attachable: Vec<Attached>,
    refusals: Vec<Refusal>,
}

pub async fn role(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, q) = match Ctx::get(&state, peer, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let name = q.get("name").cloned().unwrap_or_default();
    let mut page = RolePage {
        nav: Some(ctx.nav()),
        csrf: ctx.csrf.clone(),
        name: name.clone(),
        found: false,
        arn: String::new(),
        description: String::new(),
        trust: String::new(),
        attached: Vec::new(),
        inline: Vec::new(),
        attachable: Vec::new(),
        refusals: Vec::new(),
    };
    match call(&state, &ctx, "GetRole", &[("RoleName", &name)]).await {
        Ok(out) => {
            let r = &out["Role"];
            page.found = true;
            page.arn = text(r, "Arn");
            page.description = text(r, "Description");
            page.trust = document(&text(r, "AssumeRolePolicyDocument"));
        }
        Err(r) => {
            page.refusals.push(r);
            return html(&page);
        }
    }
    match call(
        &state,
        &ctx,
        "ListAttachedRolePolicies",
        &[("RoleName", &name)],
    )
    .await
    {
        Ok(out) => page.attached = attached(&out),
        Err(r) => page.refusals.push(r),
    }
    page.inline = inline_policies(&state, &ctx, "role", &name, &mut page.refusals).await;
    page.attachable = attachable(&state, &ctx, &page.attached).await;
    html(&page)
}

/// A role page's button: the IAM action and its fields.
pub fn role_action<'a>(
    action: &str,
    role: &'a str,
    form: &'a Params,
) -> Option<(&'static str, Vec<(&'static str, &'a str)>)> {
    let field = |k: &str| form.get(k).map(|v| v.trim()).unwrap_or_default();
    let mut fields = vec![("RoleName", role)];
    let name = match action {
        "attach" => {
            fields.push(("PolicyArn", field("policy_arn")));
            "AttachRolePolicy"
        }
        "detach" => {
            fields.push(("PolicyArn", field("policy_arn")));
            "DetachRolePolicy"
        }
        "put-inline" => {
            fields.push(("PolicyName", field("policy_name")));
            fields.push(("PolicyDocument", field("document")));
            "PutRolePolicy"
        }
        "delete-inline" => {
            fields.push(("PolicyName", field("policy_name")));
            "DeleteRolePolicy"
        }
        "delete-role" => "DeleteRole",
        _ => return None,
    };
    Some((name, fields))
}

pub async fn role_act(State(state): State<Arc<AppState>>, Posted(ctx, form): Posted) -> Response {
    let role = form.get("name").cloned().unwrap_or_default();
    let action = form.get("action").cloned().unwrap_or_default();
    let back = Back {
        href: role_href(&role),
        text: "Back to the role",
    };
    let chosen = role_action(&action, &role, &form);
    run_action(
        &state,
        &ctx,
        &back,
        chosen,
        ("DeleteRole", "/console/iam/roles"),
    )
    .await
}

/// A page's button run as its one IAM call (`None`: the form named no known action), then
/// back to the page — or, once `gone.0` removed what the page showed, to the list `gone.1`.
async fn run_action(
    state: &AppState,
    ctx: &Ctx,
    back: &Back,
    chosen: Option<(&'static str, Vec<(&'static str, &str)>)>,
    gone: (&str, &str),
) -> Response {
    let Some((operation, fields)) = chosen else {
        return ctx.outcome(back, "Unknown action.", None);
    };
    let done = call(state, ctx, operation, &fields).await;
    ctx.answer(done, &format!("{operation} was refused."), back, |_| {
        if operation == gone.0 {
            redirect(gone.1)
        } else {
            redirect(&back.href)
        }
    })
}

#[derive(Template)]
#[template(path = "iam_policies.html")]
struct PoliciesPage {
    nav: Option<Nav>,
    csrf: String,
    scope: String,
    policies: Vec<Item>,
    next_href: Option<String>,
    refusal: Option<Refusal>,
}

pub async fn policies(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, q) = match Ctx::get(&state, peer, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let scope = match q.get("scope").map(String::as_str) {
        Some("All") => "All",
        Some("AWS") => "AWS",
        _ => "Local",
    };
    let mut page = PoliciesPage {
        nav: Some(ctx.nav()),
        csrf: ctx.csrf.clone(),
        scope: scope.into(),
        policies: Vec::new(),
        next_href: None,
        refusal: None,
    };
    let mut fields = vec![("MaxItems", "50"), ("Scope", scope)];
    paged(&q, &mut fields);
    match call(&state, &ctx, "ListPolicies", &fields).await {
        Ok(out) => {
            page.policies = list(&out, "Policies")
                .map(|p| {
                    let arn = text(p, "Arn");
                    Item {
                        name: text(p, "PolicyName"),
                        href: policy_href(&arn),
                        detail: format!("{} attachment(s)", text(p, "AttachmentCount")),
                        arn,
                        created: when(&p["CreateDate"]),
                    }
                })
                .collect();
            page.next_href =
                next_href(&out, "/console/iam/policies").map(|h| format!("{h}&scope={scope}"));
        }
        Err(r) => page.refusal = Some(r),
    }
    html(&page)
}

/// "Create policy": CreatePolicy from the JSON typed (IAM checks it: a malformed document
/// is refused with AWS's MalformedPolicyDocument message).
pub async fn create_policy(
    State(state): State<Arc<AppState>>,
    Posted(ctx, form): Posted,
) -> Response {
    let field = |k: &str| super::form_field(&form, k);
    let (name, description, doc) = (field("name"), field("description"), field("document"));
    let mut fields = vec![
        ("PolicyName", name.as_str()),
        ("PolicyDocument", doc.as_str()),
    ];
    if !description.is_empty() {
        fields.push(("Description", description.as_str()));
    }
    let created = call(&state, &ctx, "CreatePolicy", &fields).await;
    let back = Back {
        href: "/console/iam/policies".into(),
        text: "Back to the policies",
    };
    ctx.answer(created, "The policy could not be created.", &back, |out| {
        redirect(&policy_href(&text(&out["Policy"], "Arn")))
    })
}

#[derive(Template)]
#[template(path = "iam_policy.html")]
struct PolicyPage {
    nav: Option<Nav>,
    csrf: String,
    arn: String,
    found: bool,
    name: String,
    description: String,
    version: String,
    attachments: String,
    document: String,
    versions: Vec<PolicyVersionRow>,
    refusals: Vec<Refusal>,
}

/// A row of a policy's versions (ListPolicyVersions: the newest first).
struct PolicyVersionRow {
    id: String,
    created: String,
    is_default: bool,
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
    let arn = q.get("arn").cloned().unwrap_or_default();
    let mut page = PolicyPage {
        nav: Some(ctx.nav()),
        csrf: ctx.csrf.clone(),
        arn: arn.clone(),
        found: false,
        name: String::new(),
        description: String::new(),
        version: String::new(),
        attachments: String::new(),
        document: String::new(),
        versions: Vec::new(),
        refusals: Vec::new(),
    };
    match call(&state, &ctx, "GetPolicy", &[("PolicyArn", &arn)]).await {
        Ok(out) => {
            let p = &out["Policy"];
            page.found = true;
            page.name = text(p, "PolicyName");
            page.description = text(p, "Description");
            page.version = text(p, "DefaultVersionId");
            page.attachments = text(p, "AttachmentCount");
        }
        Err(r) => {
            page.refusals.push(r);
            return html(&page);
        }
    }
    match call(
        &state,
        &ctx,
        "GetPolicyVersion",
        &[("PolicyArn", &arn), ("VersionId", &page.version)],
    )
    .await
    {
        Ok(out) => page.document = document(&text(&out["PolicyVersion"], "Document")),
        Err(r) => page.refusals.push(r),
    }
    // At most five versions: one page.
    match call(&state, &ctx, "ListPolicyVersions", &[("PolicyArn", &arn)]).await {
        Ok(out) => {
            page.versions = list(&out, "Versions")
                .map(|v| PolicyVersionRow {
                    id: text(v, "VersionId"),
                    created: when(&v["CreateDate"]),
                    is_default: text(v, "IsDefaultVersion") == "true",
                })
                .collect();
        }
        Err(r) => page.refusals.push(r),
    }
    html(&page)
}

/// A policy page's button: the IAM action and its fields.
pub fn policy_action<'a>(
    action: &str,
    arn: &'a str,
    form: &'a Params,
) -> Option<(&'static str, Vec<(&'static str, &'a str)>)> {
    let field = |k: &str| form.get(k).map(|v| v.trim()).unwrap_or_default();
    let mut fields = vec![("PolicyArn", arn)];
    let name = match action {
        "new-version" => {
            fields.push(("PolicyDocument", field("document")));
            // An unticked checkbox is not sent at all.
            let default = if form.contains_key("set_default") {
                "true"
            } else {
                "false"
            };
            fields.push(("SetAsDefault", default));
            "CreatePolicyVersion"
        }
        "set-default" => {
            fields.push(("VersionId", field("version_id")));
            "SetDefaultPolicyVersion"
        }
        "delete-version" => {
            fields.push(("VersionId", field("version_id")));
            "DeletePolicyVersion"
        }
        "delete-policy" => "DeletePolicy",
        _ => return None,
    };
    Some((name, fields))
}

pub async fn policy_act(State(state): State<Arc<AppState>>, Posted(ctx, form): Posted) -> Response {
    let arn = form.get("arn").cloned().unwrap_or_default();
    let action = form.get("action").cloned().unwrap_or_default();
    let back = Back {
        href: policy_href(&arn),
        text: "Back to the policy",
    };
    let chosen = policy_action(&action, &arn, &form);
    run_action(
        &state,
        &ctx,
        &back,
        chosen,
        ("DeletePolicy", "/console/iam/policies"),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn iam_answers_read_back_as_json() {
        let xml = "<Users><member><UserName>a&amp;b</UserName><Arn>arn:1</Arn>\
                   <Tags></Tags></member><member><UserName>&lt;i&gt;&#39;&#x41;</UserName></member></Users>\
                   <IsTruncated>true</IsTruncated><Marker>m</Marker>";
        assert_eq!(
            xml_to_json(xml),
            json!({"Users": [{"UserName": "a&b", "Arn": "arn:1", "Tags": ""},
                             {"UserName": "<i>'A"}],
                   "IsTruncated": "true", "Marker": "m"})
        );
        assert_eq!(xml_to_json(""), json!(""));
        assert_eq!(unescape("a &unknown; b &amp"), "a &unknown; b &amp");
    }

    #[test]
    fn documents_are_url_decoded_and_indented() {
        assert_eq!(
            document("%7B%22Version%22%3A%222012-10-17%22%7D"),
            "{\n  \"Version\": \"2012-10-17\"\n}"
        );
        assert_eq!(
            when(&json!("2024-01-02T03:04:05Z")),
            "2024-01-02 03:04:05 UTC"
        );
    }

    #[test]
    fn user_buttons_name_iam_actions() {
        let form: Params = [("policy_arn", " arn:p "), ("key_id", "AKIA1")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(
            user_action("attach", "u", &form).unwrap(),
            (
                "AttachUserPolicy",
                vec![("UserName", "u"), ("PolicyArn", "arn:p")]
            )
        );
        assert_eq!(
            user_action("deactivate", "u", &form).unwrap(),
            (
                "UpdateAccessKey",
                vec![
                    ("UserName", "u"),
                    ("AccessKeyId", "AKIA1"),
                    ("Status", "Inactive")
                ]
            )
        );
        assert_eq!(
            user_action("create-key", "u", &form).unwrap().0,
            "CreateAccessKey"
        );
        assert!(user_action("become-root", "u", &form).is_none());
    }

    fn form(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn role_buttons_name_iam_actions() {
        let f = form(&[
            ("policy_arn", " arn:p "),
            ("policy_name", " Inline "),
            ("document", "{}"),
        ]);
        assert_eq!(
            role_action("attach", "r", &f).unwrap(),
            (
                "AttachRolePolicy",
                vec![("RoleName", "r"), ("PolicyArn", "arn:p")]
            )
        );
        assert_eq!(
            role_action("detach", "r", &f).unwrap().0,
            "DetachRolePolicy"
        );
        assert_eq!(
            role_action("put-inline", "r", &f).unwrap(),
            (
                "PutRolePolicy",
                vec![
                    ("RoleName", "r"),
                    ("PolicyName", "Inline"),
                    ("PolicyDocument", "{}")
                ]
            )
        );
        assert_eq!(
            role_action("delete-inline", "r", &f).unwrap(),
            (
                "DeleteRolePolicy",
                vec![("RoleName", "r"), ("PolicyName", "Inline")]
            )
        );
        assert_eq!(
            role_action("delete-role", "r", &f).unwrap(),
            ("DeleteRole", vec![("RoleName", "r")])
        );
        assert!(role_action("delete-user", "r", &f).is_none());
    }

    #[test]
    fn policy_buttons_name_iam_actions_and_the_default_box_is_read() {
        let ticked = form(&[("document", "{}"), ("set_default", "on")]);
        assert_eq!(
            policy_action("new-version", "arn:p", &ticked).unwrap(),
            (
                "CreatePolicyVersion",
                vec![
                    ("PolicyArn", "arn:p"),
                    ("PolicyDocument", "{}"),
                    ("SetAsDefault", "true")
                ]
            )
        );
        let unticked = form(&[("document", "{}")]);
        assert_eq!(
            policy_action("new-version", "arn:p", &unticked).unwrap().1[2],
            ("SetAsDefault", "false")
        );
        assert_eq!(
            policy_action("delete-policy", "arn:p", &unticked).unwrap(),
            ("DeletePolicy", vec![("PolicyArn", "arn:p")])
        );
        let version = form(&[("version_id", " v2 ")]);
        assert_eq!(
            policy_action("set-default", "arn:p", &version).unwrap(),
            (
                "SetDefaultPolicyVersion",
                vec![("PolicyArn", "arn:p"), ("VersionId", "v2")]
            )
        );
        assert_eq!(
            policy_action("delete-version", "arn:p", &version).unwrap(),
            (
                "DeletePolicyVersion",
                vec![("PolicyArn", "arn:p"), ("VersionId", "v2")]
            )
        );
        assert!(policy_action("attach", "arn:p", &unticked).is_none());
    }
}
