//! Raw HTTP requests signed with AWS's own signer (aws-sigv4), for what an SDK won't send:
//! tampered bodies, stale timestamps, malformed JSON, odd headers.
#![allow(dead_code)]

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

pub struct RawResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub json: serde_json::Value,
    pub text: String,
}

impl RawResponse {
    pub fn error_type(&self) -> &str {
        self.json["__type"].as_str().unwrap_or("")
    }
    pub fn message(&self) -> &str {
        self.json["message"].as_str().unwrap_or("")
    }
}

pub struct Req {
    pub target: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub access_key: String,
    pub secret_key: String,
    pub time: SystemTime,
    pub sign: bool,
    /// Applied to the body after signing.
    pub tamper_body: Option<Vec<u8>>,
    pub service: String,
    pub method: String,
    pub path: String,
    /// Sign in the query string (a presigned URL) valid this long, instead of headers.
    pub presign: Option<std::time::Duration>,
    /// Temporary credentials' session token.
    pub session_token: Option<String>,
}

impl Req {
    pub fn new(target: &str, body: &str) -> Self {
        Self {
            target: Some(format!("secretsmanager.{target}")),
            content_type: Some("application/x-amz-json-1.1".into()),
            body: body.as_bytes().to_vec(),
            access_key: super::ACCESS_KEY.into(),
            secret_key: super::SECRET_KEY.into(),
            time: SystemTime::now(),
            sign: true,
            tamper_body: None,
            service: "secretsmanager".into(),
            method: "POST".into(),
            path: "/".into(),
            presign: None,
            session_token: None,
        }
    }

    /// A GET of `path` with no body or target (e.g. `/metrics`), signed for `service`.
    pub fn get(path: &str, service: &str) -> Self {
        Self {
            target: None,
            content_type: None,
            body: Vec::new(),
            service: service.into(),
            method: "GET".into(),
            path: path.into(),
            ..Self::new("", "")
        }
    }

    pub async fn send(self, endpoint: &str) -> RawResponse {
        let mut builder = http::Request::builder()
            .method(self.method.as_str())
            .uri(format!("{endpoint}{}", self.path));
        if let Some(t) = &self.target {
            builder = builder.header("x-amz-target", t);
        }
        if let Some(ct) = &self.content_type {
            builder = builder.header("content-type", ct);
        }
        let host = endpoint.trim_start_matches("http://").to_string();
        builder = builder.header("host", host);
        let mut req = builder.body(self.body.clone()).unwrap();
        if self.sign {
            let identity = Credentials::new(
                &self.access_key,
                &self.secret_key,
                self.session_token.clone(),
                None,
                "test",
            )
            .into();
            let mut settings = SigningSettings::default();
            if let Some(expires) = self.presign {
                settings.signature_location =
                    aws_sigv4::http_request::SignatureLocation::QueryParams;
                settings.expires_in = Some(expires);
            }
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region("us-east-1")
                .name(&self.service)
                .time(self.time)
                .settings(settings)
                .build()
                .unwrap()
                .into();
            let headers: Vec<(String, String)> = req
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
                .collect();
            let signable = SignableRequest::new(
                &self.method,
                req.uri().to_string(),
                headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                SignableBody::Bytes(&self.body),
            )
            .unwrap();
            let (instructions, _) = sign(signable, &params).unwrap().into_parts();
            instructions.apply_to_request_http1x(&mut req);
        }
        let (parts, body) = req.into_parts();
        let body = self.tamper_body.clone().unwrap_or(body);
        let req = http::Request::from_parts(parts, Full::new(bytes::Bytes::from(body)));
        let client = Client::builder(TokioExecutor::new()).build_http();
        let res = client.request(req).await.expect("server answers");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        RawResponse {
            status,
            headers,
            json,
            text,
        }
    }
}
