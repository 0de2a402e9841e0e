//! The web console at `/console/`: server-rendered pages (askama templates, escaped by
//! default) with a little JavaScript (htmx and `console.js`, both embedded static files).
//!
//! Every action a page takes is an API call made as the signed-in principal through the one
//! request pipeline ([`crate::pipeline::front::call_as`]): the same IAM authorization, metrics
//! and audit record as the CLI, marked `sessionCredentialFromConsole`. The console holds no
//! power of its own.
//!
//! Around every page: security headers (a strict CSP without inline script or style, no
//! framing, no caching, no referrer), a server-side session (see [`session`]) and a CSRF token
//! required on every POST.

pub mod rotation;
pub mod secrets;
pub mod session;
pub mod signin;
// Access, audit search, account rotation timeline, alarms (issue 12).
pub mod access;
pub mod alarms;
pub mod audit;
pub mod charts;

// Admin pages (issue 12): a secret's policy and stages, parameters, KMS keys, IAM.
pub mod iam;
pub mod kms;
pub mod parameters;
pub mod secret_admin;

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};

use crate::credentials::Principal;
use crate::http::AppState;
use crate::http::query::Params;
use crate::pipeline::front::{ConsoleInfo, JsonService, Refused, call_as, list_secrets_as};
use session::{COOKIE, Session, Sessions};

/// The console's options (`--console`, `--console-secret-name-pattern`,
/// `--console-idle-timeout-secs`, `--console-session-max-secs`).
#[derive(Clone, Debug)]
pub struct ConsoleSettings {
    pub enabled: bool,
    /// New secret names must match this regex in the "Store a new secret" form.
    pub name_pattern: Option<String>,
    pub idle_secs: u64,
    pub max_secs: u64,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            name_pattern: None,
            idle_secs: 15 * 60,
            max_secs: 12 * 3600,
        }
    }
}

impl ConsoleSettings {
    pub fn new(
        mode: Option<&str>,
        name_pattern: Option<String>,
        idle_secs: Option<u64>,
        max_secs: Option<u64>,
    ) -> Result<Self, String> {
        let enabled = match mode.unwrap_or("on") {
            "on" => true,
            "off" => false,
            other => return Err(format!("console must be \"on\" or \"off\", not {other:?}")),
        };
        let name_pattern = name_pattern.filter(|p| !p.is_empty());
        if let Some(p) = &name_pattern {
            regex_lite::Regex::new(p)
                .map_err(|e| format!("console-secret-name-pattern is not a valid regex: {e}"))?;
        }
        let d = Self::default();
        Ok(Self {
            enabled,
            name_pattern,
            idle_secs: idle_secs.unwrap_or(d.idle_secs).max(1),
            max_secs: max_secs.unwrap_or(d.max_secs).max(1),
        })
    }
}

/// The console's state: settings, sessions, what its forms offer.
pub struct Console {
    pub settings: ConsoleSettings,
    pub sessions: Sessions,
    name_pattern: Option<regex_lite::Regex>,
    /// The configured rotation functions' ARNs (`[[rotation-function]]`).
    pub rotation_functions: Vec<String>,
}

impl Console {
    pub fn new(settings: ConsoleSettings, rotation_functions: Vec<String>) -> Self {
        let name_pattern = settings
            .name_pattern
            .as_deref()
            .and_then(|p| regex_lite::Regex::new(p).ok());
        Self {
            sessions: Sessions::new(settings.idle_secs, settings.max_secs),
            settings,
            name_pattern,
            rotation_functions,
        }
    }
}

pub fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/console", get(index))
        .route("/console/", get(index))
        .route("/console/signin", get(signin::page).post(signin::submit))
        .route("/console/signout", post(signin::signout))
        .route(
            PASSWORD_PATH,
            get(signin::password_page).post(signin::change_password),
        )
        .route("/console/secrets", get(secrets::list))
        .route(
            "/console/secrets/new",
            get(secrets::new_form).post(secrets::create),
        )
        .route("/console/secret", get(secrets::detail))
        .route("/console/secret/value", post(secrets::value))
        .route("/console/secret/put-value", post(secrets::put_value))
        .route("/console/secret/delete", post(secrets::delete))
        .route("/console/secret/restore", post(secrets::restore))
        .route("/console/secret/tag", post(secrets::tag))
        .route("/console/secret/untag", post(secrets::untag))
        .route("/console/secret/rotate", post(rotation::rotate_now))
        .route("/console/secret/rotation", post(rotation::configure))
        .route("/console/secret/rotation/cancel", post(rotation::cancel))
        .route("/console/secret/timeline", get(rotation::timeline))
        // The account timeline's first address, kept.
        .route("/console/rotations", get(rotation::account_timeline))
        // Admin pages: a secret's policy, versions and replication; parameters; KMS; IAM.
        .route(
            "/console/secret/policy",
            get(secret_admin::policy).post(secret_admin::policy_submit),
        )
        .route("/console/secret/versions", get(secret_admin::versions_page))
        .route("/console/secret/stage", post(secret_admin::move_stage))
        .route(
            "/console/secret/replication",
            post(secret_admin::replication),
        )
        .route("/console/parameters", get(parameters::list))
        .route(
            "/console/parameters/new",
            get(parameters::new_form).post(parameters::create),
        )
        .route("/console/parameter", get(parameters::detail))
        .route("/console/parameter/value", post(parameters::value))
        .route("/console/parameter/put", post(parameters::put))
        .route(
            "/console/parameter/history",
            post(parameters::history_values),
        )
        .route("/console/parameter/delete", post(parameters::delete))
        .route("/console/kms", get(kms::list))
        .route("/console/kms/new", get(kms::new_form).post(kms::create))
        .route("/console/kms/key", get(kms::detail).post(kms::act))
        .route("/console/iam", get(iam::users))
        .route("/console/iam/users/new", post(iam::create_user))
        .route("/console/iam/user", get(iam::user).post(iam::user_act))
        .route("/console/iam/roles", get(iam::roles))
        .route("/console/iam/roles/new", post(iam::create_role))
        .route("/console/iam/role", get(iam::role).post(iam::role_act))
        .route("/console/iam/policies", get(iam::policies))
        .route("/console/iam/policies/new", post(iam::create_policy))
        .route(
            "/console/iam/policy",
            get(iam::policy).post(iam::policy_act),
        )
        // Access, audit search, account rotation timeline, alarms.
        .route("/console/secret/access", get(access::page))
        .route("/console/audit", get(audit::search))
        .route("/console/rotation", get(rotation::account_timeline))
        .route("/console/rotation/preview", post(rotation::preview))
        .route("/console/alarms", get(alarms::list))
        .route("/console/alarms/edit", get(alarms::form).post(alarms::save))
        .route("/console/alarms/preview", post(alarms::preview))
        .route("/console/alarms/delete", post(alarms::delete))
        .route("/console/alarm", get(alarms::detail))
        .route("/console/static/{file}", get(asset))
        // Any other console path: 404 (with the headers), not the API front.
        .route("/console/{*rest}", axum::routing::any(not_found))
        .layer(axum::middleware::map_response_with_state(
            state,
            security_headers,
        ))
}

/// The headers every console answer carries: no inline script or style, no framing, no
/// caching (pages show secret values), no referrer (URLs name secrets).
async fn security_headers(State(state): State<Arc<AppState>>, mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if state.tls {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    res
}

/// The embedded static files.
async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, kind): (&'static [u8], &str) = match file.as_str() {
        "htmx.min.js" => (
            include_bytes!("static/htmx.min.js"),
            "text/javascript; charset=utf-8",
        ),
        "console.js" => (
            include_bytes!("static/console.js"),
            "text/javascript; charset=utf-8",
        ),
        "console.css" => (
            include_bytes!("static/console.css"),
            "text/css; charset=utf-8",
        ),
        _ => return not_found().await,
    };
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not found\n").into_response()
}

async fn index(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    match signed_in(&state, &parts) {
        Some(_) => redirect("/console/secrets"),
        None => redirect("/console/signin"),
    }
}

/// 303 to `to` (after a POST, the browser GETs it).
pub fn redirect(to: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/console/")),
        )],
    )
        .into_response()
}

pub fn html<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(body) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console: a template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be rendered.\n",
            )
                .into_response()
        }
    }
}

/// The session cookie's value, if the request carries one.
fn cookie(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

/// The live session of the request, its principal as it is now (a deleted user or a
/// deactivated access key ends the session).
fn signed_in(state: &AppState, parts: &Parts) -> Option<(String, Session)> {
    let id = cookie(parts)?;
    let mut session = state.console.sessions.get(id, state.clock.now_ms())?;
    // Who the session acts as now: a deactivated key, a deleted user or a removed console
    // password ends it.
    let now = match &session.principal.kind {
        crate::credentials::PrincipalKind::User { name, .. }
            if session.principal.access_key_id.is_empty() =>
        {
            state.auth.principal_of_console_user(name)
        }
        _ => state
            .auth
            .principal_of_key(&session.principal.access_key_id),
    };
    match now {
        Some(p) => session.principal = p,
        None => {
            state.console.sessions.revoke(id);
            return None;
        }
    }
    Some((id.to_string(), session))
}

/// A form field as the handlers read it: trimmed, empty when absent.
pub fn form_field(form: &Params, key: &str) -> String {
    form.get(key)
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// Where a user changes its console password (the only page of a session that must).
pub const PASSWORD_PATH: &str = "/console/password";

/// A signed-in request: who, from where, and the token its forms must carry back.
pub struct Ctx {
    pub session_id: String,
    pub principal: Principal,
    pub csrf: String,
    pub origin: ConsoleInfo,
    /// htmx asked for a fragment, not a page.
    pub partial: bool,
    /// The session must change its console password before anything else.
    pub password_change: bool,
}

impl Ctx {
    fn new(parts: &Parts, peer: SocketAddr, id: String, session: Session) -> Self {
        Self {
            session_id: id,
            principal: session.principal,
            csrf: session.csrf,
            origin: ConsoleInfo {
                source_ip: peer.ip(),
                user_agent: parts
                    .headers
                    .get(header::USER_AGENT)
                    .and_then(|v| v.to_str().ok())
                    .map(|u| u.chars().take(256).collect()),
            },
            partial: parts.headers.contains_key("hx-request"),
            password_change: session.password_change,
        }
    }

    /// A page's signed-in context, or the sign-in page.
    // The error is the answer to send (a redirect or a refusal), returned at once.
    #[allow(clippy::result_large_err)]
    pub fn get(
        state: &AppState,
        peer: SocketAddr,
        req: Request,
    ) -> Result<(Self, Params), Response> {
        let (parts, _) = req.into_parts();
        let Some((id, session)) = signed_in(state, &parts) else {
            return Err(redirect("/console/signin"));
        };
        if session.password_change && parts.uri.path() != PASSWORD_PATH {
            return Err(redirect(PASSWORD_PATH));
        }
        let query = crate::http::query::parse_form(parts.uri.query().unwrap_or("").as_bytes());
        Ok((Self::new(&parts, peer, id, session), query))
    }

    /// A state-changing request: signed in, and carrying the session's CSRF token (form
    /// field `csrf` or header `X-CSRF-Token`), else 403 and nothing is done.
    #[allow(clippy::result_large_err)]
    pub async fn post(
        state: &AppState,
        peer: SocketAddr,
        req: Request,
    ) -> Result<(Self, Params), Response> {
        let (parts, body) = req.into_parts();
        if !same_origin(&parts) {
            return Err(forbidden("The request comes from another site."));
        }
        let Some((id, session)) = signed_in(state, &parts) else {
            return Err(forbidden(
                "You are not signed in, or your session has expired.",
            ));
        };
        if session.password_change
            && !matches!(parts.uri.path(), PASSWORD_PATH | "/console/signout")
        {
            return Err(forbidden("Change your password first."));
        }
        let body = crate::http::read_body(&parts, body, state.body_read_timeout)
            .await
            .map_err(|e| (e.status, e.message).into_response())?;
        let form = crate::http::query::parse_form(&body);
        let sent = form
            .get("csrf")
            .map(String::as_str)
            .or_else(|| {
                parts
                    .headers
                    .get("x-csrf-token")
                    .and_then(|v| v.to_str().ok())
            })
            .unwrap_or("");
        if !same(sent, &session.csrf) {
            tracing::info!("console: a POST without this session's CSRF token was refused");
            return Err(forbidden("The request's CSRF token is missing or wrong."));
        }
        Ok((Self::new(&parts, peer, id, session), form))
    }

    /// An API call as the signed-in principal, in the home region.
    pub async fn call(
        &self,
        state: &AppState,
        service: JsonService,
        operation: &str,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, Refusal> {
        self.call_in(state, "", service, operation, input).await
    }

    /// An API call as the signed-in principal in `region` (empty: the home region). A
    /// region this server does not serve is refused before any call: the API front would
    /// serve it in the home region, which a page naming the region must not pretend.
    pub async fn call_in(
        &self,
        state: &AppState,
        region: &str,
        service: JsonService,
        operation: &str,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, Refusal> {
        let served = if region.is_empty() {
            Some(state.regions.home())
        } else {
            state.regions.get(region)
        };
        let Some(served) = served else {
            return Err(Refusal {
                code: "InvalidParameterException".into(),
                message: format!(
                    "This server does not serve the region {region}; it serves {}.",
                    state.regions.names().join(", ")
                ),
                decided_by: None,
            });
        };
        call_as(
            state,
            &self.principal,
            served,
            service,
            operation,
            &input,
            &self.origin,
        )
        .await
        .map_err(Refusal::explain)
    }

    /// The secrets list's ListSecrets, with the console's own sorts and rotation filter
    /// ([`list_secrets_as`]): authorized and audited as ListSecrets.
    pub async fn list_secrets(
        &self,
        state: &AppState,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, Refusal> {
        list_secrets_as(state, &self.principal, &input, &self.origin)
            .await
            .map_err(Refusal::explain)
    }

    pub fn nav(&self) -> Nav {
        Nav {
            who: self.principal.arn.clone(),
            csrf: self.csrf.clone(),
        }
    }
}

/// A browser's POST says where it comes from: `Sec-Fetch-Site` (sent by current browsers
/// whatever the referrer policy) must be `same-origin`, and an `Origin` naming a site must be
/// this one. (With `Referrer-Policy: no-referrer` browsers send `Origin: null` even for this
/// site's own forms, so "null" is left to `Sec-Fetch-Site`.) This is what refuses a cross-site
/// sign-in, which has no session token yet. Clients that send neither (not browsers) are
/// judged by the session and token alone.
pub fn same_origin(parts: &Parts) -> bool {
    let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site").is_some_and(|s| s != "same-origin") {
        return false;
    }
    match (
        header(header::ORIGIN.as_str()),
        header(header::HOST.as_str()),
    ) {
        (None | Some("null"), _) => true,
        (Some(o), Some(h)) => origin_matches(o, h),
        (Some(_), None) => false,
    }
}

/// `origin` is `http(s)://` and the request's host exactly. Either
/// scheme: behind a proxy that terminates TLS the browser's page is https, the listener not.
fn origin_matches(origin: &str, host: &str) -> bool {
    origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .is_some_and(|h| h.eq_ignore_ascii_case(host))
}

/// Constant-time equality of two tokens.
fn same(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

fn forbidden(message: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("Forbidden: {message}\n"),
    )
        .into_response()
}

/// A signed-in POST and its form (see [`Ctx::post`]), taken as a handler's argument.
pub struct Posted(pub Ctx, pub Params);

impl FromRequest<Arc<AppState>> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Response> {
        // The listener always records the peer (it is audited); without it, nothing is done.
        let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied()
        else {
            return Err((StatusCode::INTERNAL_SERVER_ERROR, "No peer address.\n").into_response());
        };
        let (ctx, form) = Ctx::post(state, peer, req).await?;
        Ok(Self(ctx, form))
    }
}

/// Where an action's outcome page leads back to.
pub struct Back {
    pub href: String,
    pub text: &'static str,
}

/// What became of an action on an admin page, why when refused, and the way back.
#[derive(Template)]
#[template(path = "admin_outcome.html")]
struct Outcome {
    nav: Option<Nav>,
    headline: String,
    back_href: String,
    back_text: String,
    refusal: Option<Refusal>,
}

impl Ctx {
    /// The outcome page of an action: `headline`, the refusal's reason if there is one, and
    /// the way `back`.
    pub fn outcome(&self, back: &Back, headline: &str, refusal: Option<Refusal>) -> Response {
        html(&Outcome {
            nav: Some(self.nav()),
            headline: headline.to_string(),
            back_href: back.href.clone(),
            back_text: back.text.to_string(),
            refusal,
        })
    }

    /// How a form's action ends, once its API call (made as the signed-in principal) has
    /// answered: `done` with the answer (a redirect, mostly), or for a refusal the outcome
    /// page headed `refused`, with AWS's reason and the way `back`.
    pub fn answer(
        &self,
        result: Result<serde_json::Value, Refusal>,
        refused: &str,
        back: &Back,
        done: impl FnOnce(serde_json::Value) -> Response,
    ) -> Response {
        match result {
            Ok(out) => done(out),
            Err(r) => self.outcome(back, refused, Some(r)),
        }
    }
}

/// What every page's header shows.
pub struct Nav {
    pub who: String,
    pub csrf: String,
}

/// A refused or failed API call as a page shows it: AWS's code and message, and for an
/// access denial the statements that decided (IAM's own evaluation, as
/// simulate-principal-policy answers it).
pub struct Refusal {
    pub code: String,
    pub message: String,
    pub decided_by: Option<String>,
}

impl Refusal {
    /// AWS's code and message; for the authorizer's refusal, the decision it made for this
    /// very request (resource policy, conditions and all), in words.
    pub fn explain(r: Refused) -> Self {
        Self {
            code: r.error.code.to_string(),
            message: r.error.message,
            decided_by: r.denial.map(|d| explanation(&d.decision, &d.action)),
        }
    }
}

/// Which statements decided, in words: simulate-principal-policy's EvalDecision and
/// matched statements (each statement's policy and its type).
fn explanation(d: &strongroom_policy::Decision, action: &str) -> String {
    use strongroom_policy::eval::Source;
    if d.statements.is_empty() {
        let policies = match d.source {
            Some(Source::Boundary) => "the principal's permissions boundary",
            Some(Source::Session) => "the session's policies",
            Some(Source::Resource) => "the resource's policy",
            _ => "the principal's policies",
        };
        return format!(
            "No statement of {policies} allows {action} on this resource (implicit deny)."
        );
    }
    let cited: Vec<String> = d
        .statements
        .iter()
        .map(|s| {
            let sid = s
                .sid
                .as_deref()
                .map(|x| format!(" ({x})"))
                .unwrap_or_default();
            let policy = match crate::iam::service::simulate::source_type(&s.policy) {
                "resource" => "the resource's policy (resource)".to_string(),
                kind => format!("policy {} ({kind})", s.policy),
            };
            format!("{:?} statement {}{sid} of {policy}", s.effect, s.index + 1)
        })
        .collect();
    format!("{:?}: {}", d.outcome, cited.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_explanation_names_the_deciding_statement_and_its_policy() {
        use strongroom_policy::eval::{Decision, Outcome, Source, StatementRef};
        let by = |policy: &str, sid: Option<&str>| Decision {
            outcome: Outcome::ExplicitDeny,
            statements: vec![StatementRef {
                policy: policy.into(),
                index: 1,
                sid: sid.map(str::to_string),
                effect: strongroom_policy::Effect::Deny,
            }],
            source: Some(Source::Resource),
        };
        let a = "secretsmanager:GetSecretValue";
        assert_eq!(
            explanation(&by("resource policy", Some("NoConsole")), a),
            "ExplicitDeny: Deny statement 2 (NoConsole) of the resource's policy (resource)"
        );
        assert_eq!(
            explanation(&by("user/dev/NoProd", None), a),
            "ExplicitDeny: Deny statement 2 of policy user/dev/NoProd (user)"
        );
        let implicit = Decision {
            outcome: Outcome::ImplicitDeny,
            statements: Vec::new(),
            source: Some(Source::Boundary),
        };
        assert_eq!(
            explanation(&implicit, a),
            "No statement of the principal's permissions boundary allows \
             secretsmanager:GetSecretValue on this resource (implicit deny)."
        );
    }

    #[test]
    fn settings_refuse_a_bad_mode_or_pattern_and_default_sensibly() {
        assert!(ConsoleSettings::new(Some("maybe"), None, None, None).is_err());
        assert!(ConsoleSettings::new(None, Some("(".into()), None, None).is_err());
        let s = ConsoleSettings::new(Some("off"), Some(String::new()), Some(0), None).unwrap();
        assert!(!s.enabled && s.name_pattern.is_none());
        assert_eq!((s.idle_secs, s.max_secs), (1, 43200));
    }

    #[test]
    fn an_origin_must_be_this_server_exactly() {
        let host = "127.0.0.1:8790";
        assert!(origin_matches("http://127.0.0.1:8790", host));
        assert!(origin_matches(
            "https://Secrets.internal",
            "secrets.internal"
        ));
        assert!(!origin_matches("http://evil.example", host));
        assert!(!origin_matches("http://127.0.0.1:8790.evil", host));
        assert!(!origin_matches("ftp://127.0.0.1:8790", host));
        assert!(!origin_matches("null", host));
    }

    #[test]
    fn a_post_from_another_site_is_told_apart_by_its_fetch_metadata_or_origin() {
        let parts = |headers: &[(&str, &str)]| {
            let mut b = http::Request::builder().header("host", "127.0.0.1:8790");
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            b.body(()).unwrap().into_parts().0
        };
        // This site's own form under Referrer-Policy: no-referrer.
        assert!(same_origin(&parts(&[
            ("origin", "null"),
            ("sec-fetch-site", "same-origin")
        ])));
        assert!(same_origin(&parts(&[("origin", "http://127.0.0.1:8790")])));
        assert!(same_origin(&parts(&[])));
        assert!(!same_origin(&parts(&[
            ("origin", "null"),
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(!same_origin(&parts(&[("sec-fetch-site", "same-site")])));
        assert!(!same_origin(&parts(&[("origin", "http://evil.example")])));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd") && !same("", "abc") && !same("ab", "abc"));
    }
}
