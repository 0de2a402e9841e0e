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
use crate::credentials::Principal;
use crate::http::AppState;

/// How a console user proves who they are.
pub enum SignIn {
    /// An access key pair; the account's root signs in with its keys.
    AccessKey {
        access_key_id: String,
        secret_access_key: Zeroizing<String>,
    },
    /// An IAM user's console password (IAM login profiles). The seam for
    /// `Directory::sign_in_with_password`, which another branch adds: until then refused.
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

    /// The principal these credentials sign in as, or the message the form shows (the same
    /// for every wrong credential: the form tells nothing about which part was wrong).
    fn verify(&self, state: &AppState) -> Result<Principal, &'static str> {
        const WRONG: &str = "The credentials are not correct.";
        match self {
            SignIn::AccessKey {
                access_key_id,
                secret_access_key,
            } => state
                .auth
                .verify_key_pair(access_key_id, secret_access_key)
                .ok_or(WRONG),
            SignIn::Password { .. } => Err(
                "Console passwords are not available on this server yet: sign in with an access key.",
            ),
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
    let body = match crate::http::read_body(&parts, body, state.body_read_timeout).await {
        Ok(b) => b,
        Err(e) => return (e.status, e.message).into_response(),
    };
    let mut form = crate::http::query::parse_form(&body);
    let sign_in = SignIn::from_form(&mut form);
    drop(form);
    let principal = match sign_in.verify(&state) {
        Ok(p) => p,
        Err(message) => {
            tracing::info!(peer = %peer.ip(), "console sign-in refused");
            let access_key_id = match &sign_in {
                SignIn::AccessKey { access_key_id, .. } => access_key_id.clone(),
                SignIn::Password { .. } => String::new(),
            };
            let mut res = html(&SignInPage {
                nav: None,
                error: Some(message.to_string()),
                access_key_id,
            });
            *res.status_mut() = StatusCode::UNAUTHORIZED;
            return res;
        }
    };
    drop(sign_in);
    tracing::info!(principal = %principal.arn, peer = %peer.ip(), "console sign-in");
    let (id, _) = state
        .console
        .sessions
        .create(principal, state.clock.now_ms());
    let secure = if state.tls { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={id}; Path=/console/; HttpOnly; SameSite=Strict{secure}");
    let mut res = redirect("/console/secrets");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
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
