//! Sign-in and sign-out. A session is created only after the credentials verify; the secret
//! typed in is compared and dropped (zeroized), never kept, logged or echoed.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use zeroize::Zeroizing;

use super::session::COOKIE;
use super::{Ctx, html, redirect};
use crate::audit::{Call, Transport};
use crate::credentials::Principal;
use crate::error::ApiError;
use crate::http::AppState;
use crate::pipeline::front::CONSOLE_USER_AGENT;

/// How a console user proves who they are.
pub enum SignIn {
    /// An access key pair; the account's root signs in with its keys.
    AccessKey {
        access_key_id: String,
        secret_access_key: Zeroizing<String>,
    },
    /// An IAM user's console password (IAM login profiles: lockout after repeated failures,
    /// the account's password policy).
    Password {
        user_name: String,
        password: Zeroizing<String>,
    },
}

impl SignIn {
    /// The form's fields: a password when a user name is given, else an access key pair.
    fn from_form(form: &mut crate::http::query::Params) -> Self {
        match form.remove("user_name").filter(|u| !u.is_empty()) {
            Some(user_name) => SignIn::Password {
                user_name,
                password: Zeroizing::new(form.remove("password").unwrap_or_default()),
            },
            None => SignIn::AccessKey {
                access_key_id: form
                    .remove("access_key_id")
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
                secret_access_key: Zeroizing::new(
                    form.remove("secret_access_key").unwrap_or_default(),
                ),
            },
        }
    }

    /// The principal these credentials sign in as and whether its password must be changed
    /// first, or the message the form shows (the same for every wrong credential: the form
    /// tells nothing about which part was wrong, or whether the user exists).
    async fn verify(&self, state: &AppState) -> Result<(Principal, bool), String> {
        const WRONG: &str = "The credentials are not correct.";
        match self {
            SignIn::AccessKey {
                access_key_id,
                secret_access_key,
            } => state
                .auth
                .verify_key_pair(access_key_id, secret_access_key)
                .map(|p| (p, false))
                .ok_or_else(|| WRONG.to_string()),
            SignIn::Password {
                user_name,
                password,
            } => state
                .auth
                .verify_password(user_name, password)
                .await
                .map(|s| {
                    let change = s.password_reset_required || s.password_expired;
                    (s.principal, change)
                })
                .map_err(|e| e.to_string()),
        }
    }
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    nav: Option<super::Nav>,
    error: Option<String>,
    access_key_id: String,
}

pub async fn page(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    if super::signed_in(&state, &parts).is_some() {
        return redirect("/console/secrets");
    }
    html(&SignInPage {
        nav: None,
        error: None,
        access_key_id: String::new(),
    })
}

pub async fn submit(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    if !super::same_origin(&parts) {
        return (
            StatusCode::FORBIDDEN,
            "Forbidden: the request comes from another site.\n",
        )
            .into_response();
    }
    let body = match crate::http::read_body(&parts, body, state.body_read_timeout).await {
        Ok(b) => b,
        Err(e) => return (e.status, e.message).into_response(),
    };
    let mut form = crate::http::query::parse_form(&body);
    let sign_in = SignIn::from_form(&mut form);
    drop(form);
    // What the record and the form may repeat of what was typed: only the shape of an access
    // key id (a secret pasted into the wrong field goes nowhere).
    let claimed = match &sign_in {
        SignIn::AccessKey { access_key_id, .. } if looks_like_key_id(access_key_id) => {
            access_key_id.clone()
        }
        SignIn::Password { user_name, .. } => user_name.chars().take(64).collect(),
        SignIn::AccessKey { .. } => String::new(),
    };
    let verified = sign_in.verify(&state).await;
    drop(sign_in);
    // No sign-in without its record, successful or not (CloudTrail's ConsoleLogin).
    if record(
        &state,
        &parts,
        peer,
        verified.as_ref().ok().map(|(p, _)| p),
        &claimed,
    )
    .await
    .is_err()
    {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "The sign-in could not be audited, so it was refused.\n",
        )
            .into_response();
    }
    let (principal, password_change) = match verified {
        Ok(p) => p,
        Err(message) => {
            tracing::info!(peer = %peer.ip(), "console sign-in refused");
            let access_key_id = if looks_like_key_id(&claimed) {
                claimed
            } else {
                String::new()
            };
            let mut res = html(&SignInPage {
                nav: None,
                error: Some(message),
                access_key_id,
            });
            *res.status_mut() = StatusCode::UNAUTHORIZED;
            return res;
        }
    };
    tracing::info!(principal = %principal.arn, peer = %peer.ip(), "console sign-in");
    let (id, _) = state
        .console
        .sessions
        .create(principal, password_change, state.clock.now_ms());
    let secure = if state.tls { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={id}; Path=/console/; HttpOnly; SameSite=Strict{secure}");
    let mut res = redirect(if password_change {
        super::PASSWORD_PATH
    } else {
        "/console/secrets"
    });
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// An access key id's shape: `AKIA`/`ASIA` and 16 more upper-case letters or digits.
fn looks_like_key_id(s: &str) -> bool {
    s.len() == 20
        && (s.starts_with("AKIA") || s.starts_with("ASIA"))
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// The sign-in's audit record, as CloudTrail's `ConsoleLogin` of `signin.amazonaws.com`:
/// `responseElements.ConsoleLogin` Success or Failure; a failure names only the access key
/// (or user name) claimed. Never the secret typed.
async fn record(
    state: &AppState,
    parts: &http::request::Parts,
    peer: SocketAddr,
    principal: Option<&Principal>,
    claimed: &str,
) -> Result<(), ()> {
    let admission = state.audit.admit().map_err(|_| ())?;
    let now_ms = state.clock.now_ms();
    let request_id = uuid::Uuid::new_v4().to_string();
    let outcome = if principal.is_some() {
        "Success"
    } else {
        "Failure"
    };
    let call = Call {
        event_source: crate::audit::event_source("signin"),
        event_name: "ConsoleLogin".into(),
        principal: principal.cloned(),
        claimed_access_key: (principal.is_none() && !claimed.is_empty())
            .then(|| claimed.to_string()),
        response_elements: Some(serde_json::json!({"ConsoleLogin": outcome})),
        from_console: true,
        console_sign_in: true,
        ..Default::default()
    };
    let error = principal.is_none().then(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "FailedAuthentication",
            "Failed authentication",
        )
    });
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|b| {
            format!(
                "{CONSOLE_USER_AGENT} ({})",
                b.chars().take(256).collect::<String>()
            )
        });
    let transport = Transport {
        source_ip: peer.ip(),
        user_agent: user_agent.as_deref().or(Some(CONSOLE_USER_AGENT)),
        request_id: &request_id,
        tls: None,
        time_ms: now_ms,
    };
    let recorded = state.audit.api_call(call, transport, error.as_ref()).await;
    drop(admission);
    recorded.map_err(|e| tracing::error!(error = %e, "console sign-in refused: its audit record could not be written"))
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    nav: Option<super::Nav>,
    /// The session may do nothing else until the password is changed.
    required: bool,
    refusal: Option<super::Refusal>,
}

/// The form changing the signed-in user's console password.
pub async fn password_page(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, _) = match Ctx::get(&state, peer, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    html(&PasswordPage {
        nav: Some(ctx.nav()),
        required: ctx.password_change,
        refusal: None,
    })
}

/// IAM's ChangePassword, called as the signed-in user through the pipeline (authorized by
/// the account's AllowUsersToChangePassword or the user's iam:ChangePassword, the new
/// password checked against the account's policy, audited); then the session is a full one.
pub async fn change_password(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, mut form) = match Ctx::post(&state, peer, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let old = Zeroizing::new(form.remove("old_password").unwrap_or_default());
    let new = Zeroizing::new(form.remove("new_password").unwrap_or_default());
    let again = Zeroizing::new(form.remove("new_password_again").unwrap_or_default());
    let refusal = if *new != *again {
        Some(super::Refusal {
            code: "ValidationError".into(),
            message: "The new passwords do not match.".into(),
            decided_by: None,
        })
    } else {
        let mut params = crate::http::query::Params::new();
        params.insert("OldPassword".into(), old.to_string());
        params.insert("NewPassword".into(), new.to_string());
        match crate::pipeline::front::call_iam_as(
            &state,
            &ctx.principal,
            "ChangePassword",
            params,
            &ctx.origin,
        )
        .await
        {
            Ok(_) => {
                state.console.sessions.password_changed(&ctx.session_id);
                return redirect("/console/secrets");
            }
            Err(e) => Some(super::Refusal::explain(e)),
        }
    };
    let mut res = html(&PasswordPage {
        nav: Some(ctx.nav()),
        required: ctx.password_change,
        refusal,
    });
    *res.status_mut() = StatusCode::BAD_REQUEST;
    res
}

pub async fn signout(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, _) = match Ctx::post(&state, peer, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    state.console.sessions.revoke(&ctx.session_id);
    tracing::info!(principal = %ctx.principal.arn, "console sign-out");
    let mut res = redirect("/console/signin");
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "strongroom_console=; Path=/console/; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_access_key_ids_shape_is_repeated() {
        assert!(looks_like_key_id("AKIAE2ETESTROOT00001"));
        assert!(!looks_like_key_id(
            "e2e/secret/key/0123456789abcdefghijklmno"
        ));
        assert!(!looks_like_key_id("AKIAshort"));
        assert!(!looks_like_key_id("AKIAE2ETESTROOT0000/"));
    }
}
