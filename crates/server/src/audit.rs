//! The server's side of the audit trail: turns a request (who, what, from where, outcome) or
//! a service's own action into a CloudTrail record and hands it to the log. The log itself —
//! chain, group commit, digests, lookups — is `strongroom-audit`.

use std::borrow::Cow;
use std::net::IpAddr;

use futures_util::future::Either;
use serde_json::{Value, json};
use strongroom_audit::event::{EVENT_VERSION, format_time};
use strongroom_audit::{AuditError, AuditLog, Entry, Event, Resource, TlsDetails, UserIdentity};

use crate::credentials::{Principal, PrincipalKind};
use crate::error::ApiError;

pub const SECRET_RESOURCE_TYPE: &str = "AWS::SecretsManager::Secret";
pub const KMS_KEY_RESOURCE_TYPE: &str = "AWS::KMS::Key";
pub const PARAMETER_RESOURCE_TYPE: &str = "AWS::SSM::Parameter";
pub const ROLE_RESOURCE_TYPE: &str = "AWS::IAM::Role";
pub const USER_RESOURCE_TYPE: &str = "AWS::IAM::User";

pub struct Auditor {
    pub log: AuditLog,
    region: String,
    account_id: String,
    /// False only for `--bench-unaudited` (loopback benchmarks measuring the audit's cost).
    enabled: bool,
    /// The change stream (`GET /changes`): every change recorded here is published there.
    pub changes: crate::changes::Feed,
}

/// What a request was, filled in as the request is understood.
#[derive(Debug, Default)]
pub struct Call {
    /// The service's CloudTrail source, e.g. `secretsmanager.amazonaws.com`.
    pub event_source: Cow<'static, str>,
    pub event_name: String,
    /// The region the request was served in (its SigV4 scope's); `None`: the home region.
    pub region: Option<String>,
    pub principal: Option<Principal>,
    /// The access key the request claimed, when its signature did not verify.
    pub claimed_access_key: Option<String>,
    pub request_parameters: Option<Value>,
    pub response_elements: Option<Value>,
    pub resource: Option<CallResource>,
    /// Service events the call caused (a key rotation), recorded after the call's own record.
    pub service_events: Vec<ServiceEvent>,
    /// KMS calls a service made on the caller's behalf (Secrets Manager or Parameter Store
    /// decrypting with a customer managed key), each recorded as its own KMS event.
    pub delegated: Vec<DelegatedKms>,
    /// Made by the web console as the signed-in principal (`sessionCredentialFromConsole`).
    pub from_console: bool,
    /// A console sign-in (`ConsoleLogin`): recorded as CloudTrail records one, with eventType
    /// `AwsConsoleSignIn`, its `additionalEventData`, and a failure as an errorMessage alone.
    pub console_sign_in: bool,
    /// The authorizer's refusal of this call, with its decision: the console explains a
    /// denial by it (never recorded; the record has AWS's message only).
    pub denial: Option<crate::iam::authz::Denial>,
}

/// A KMS operation a service performed for the caller, as CloudTrail records it: the
/// caller's identity `invokedBy` the service, the key as resource, the encryption context.
#[derive(Debug, Clone)]
pub struct DelegatedKms {
    /// `Decrypt`, `GenerateDataKey`, `Encrypt`.
    pub operation: String,
    pub key_arn: String,
    /// The calling service's host, e.g. `secretsmanager.amazonaws.com`.
    pub via: String,
    pub encryption_context: Value,
    /// AccessDenied when the caller was not allowed the key.
    pub denied: Option<String>,
}

/// Something a service did as a consequence of a call, recorded as its own event.
#[derive(Debug, Clone)]
pub struct ServiceEvent {
    /// `kms`, `secretsmanager`, ...
    pub service: &'static str,
    pub name: &'static str,
    pub details: Value,
    pub resource: Option<CallResource>,
}

#[derive(Debug, Clone)]
pub struct CallResource {
    pub arn: String,
    pub kind: &'static str,
    /// Friendly name (a secret's name) that lookups also match.
    pub name: Option<String>,
}

/// How the request arrived.
pub struct Transport<'a> {
    pub source_ip: IpAddr,
    pub user_agent: Option<&'a str>,
    pub request_id: &'a str,
    pub tls: Option<TlsDetails>,
    pub time_ms: i64,
}

/// CloudTrail marks reads; the rule is the operation's verb.
pub fn is_read_only(event_name: &str) -> bool {
    const READ: &[&str] = &[
        "Get", "List", "Describe", "BatchGet", "Lookup", "Simulate", "Validate",
    ];
    // KMS's cryptographic operations change nothing: CloudTrail marks them read-only.
    const KMS_READS: &[&str] = &[
        "Encrypt",
        "Decrypt",
        "ReEncrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateRandom",
    ];
    READ.iter().any(|p| event_name.starts_with(p))
        || event_name == "AssumeRole"
        || KMS_READS.contains(&event_name)
}

/// The CloudTrail event source of a service's signing name (`secretsmanager` →
/// `secretsmanager.amazonaws.com`): borrowed for the services this server has (every request
/// names one; a `format!` each was ~1% of a read), made only for a name it does not know.
pub fn event_source(service: &str) -> Cow<'static, str> {
    Cow::Borrowed(match service {
        "secretsmanager" => "secretsmanager.amazonaws.com",
        "ssm" => "ssm.amazonaws.com",
        "kms" => "kms.amazonaws.com",
        "sts" => "sts.amazonaws.com",
        "iam" => "iam.amazonaws.com",
        "monitoring" => "monitoring.amazonaws.com",
        "cloudtrail" => "cloudtrail.amazonaws.com",
        "signin" => "signin.amazonaws.com",
        "unknown" => "unknown.amazonaws.com",
        other => return Cow::Owned(format!("{other}.amazonaws.com")),
    })
}

/// The service an event source names (`secretsmanager.amazonaws.com` → `secretsmanager`),
/// the inverse of [`event_source`]; `unknown` for a source not of that form.
pub fn service_of(source: &str) -> &str {
    source.strip_suffix(".amazonaws.com").unwrap_or("unknown")
}

impl Auditor {
    pub fn new(log: AuditLog, region: String, account_id: String, enabled: bool) -> Self {
        Self {
            log,
            region,
            account_id,
            enabled,
            changes: crate::changes::Feed::new(),
        }
    }

    pub fn is_healthy(&self) -> bool {
        self.log.is_healthy()
    }

    /// Leave for a request to go ahead (see [`strongroom_audit::AuditLog::admit`]); always
    /// given when auditing is off.
    pub fn admit(&self) -> Result<Option<strongroom_audit::Admission<'_>>, AuditError> {
        if !self.enabled {
            return Ok(None);
        }
        self.log.admit().map(Some)
    }

    /// Record one request; `Err` means it could not be made durable and the caller must fail
    /// the request. The record is made now; the future returned only waits for it to be
    /// durable (small: see [`AuditLog::append`]).
    pub fn api_call<'s>(
        &'s self,
        call: Call,
        t: Transport<'_>,
        error: Option<&ApiError>,
    ) -> impl Future<Output = Result<(), AuditError>> + Send + use<'s> {
        self.changes.api_call(&call, error.is_none(), t.time_ms);
        if self.enabled {
            Either::Left(self.log.append(self.api_call_entry(call, t, error)))
        } else {
            Either::Right(std::future::ready(Ok(())))
        }
    }

    fn api_call_entry(&self, call: Call, t: Transport<'_>, error: Option<&ApiError>) -> Entry {
        let user_identity = match call.principal {
            Some(p) => identity(p),
            None => UserIdentity {
                kind: "Unknown".into(),
                access_key_id: call.claimed_access_key,
                ..Default::default()
            },
        };
        let read_only = is_read_only(&call.event_name);
        let (resources, name) = self.resources(call.resource);
        Entry {
            event: Event {
                event_version: EVENT_VERSION.into(),
                user_identity,
                event_time: format_time(t.time_ms),
                event_source: call.event_source,
                event_name: call.event_name,
                aws_region: call.region.unwrap_or_else(|| self.region.clone()),
                source_ip_address: Some(crate::address::IpText::new(t.source_ip).as_str().into()),
                user_agent: t.user_agent.map(|u| truncate(u, 1024)),
                // CloudTrail's failed console sign-in carries only errorMessage.
                error_code: error
                    .filter(|_| !call.console_sign_in)
                    .map(|e| e.code.to_string()),
                error_message: error.map(|e| e.message.clone()),
                request_parameters: call.request_parameters,
                response_elements: call.response_elements,
                request_id: Some(t.request_id.to_string()),
                event_id: strongroom_domain::names::random_uuid(),
                read_only,
                resources,
                event_type: if call.console_sign_in {
                    "AwsConsoleSignIn"
                } else {
                    "AwsApiCall"
                }
                .into(),
                service_event_details: None,
                additional_event_data: call.console_sign_in.then(|| {
                    serde_json::json!({
                        "LoginTo": "/console/",
                        "MobileVersion": "No",
                        "MFAUsed": "No",
                    })
                }),
                management_event: true,
                recipient_account_id: self.account_id.clone(),
                event_category: "Management".into(),
                tls_details: t.tls,
                session_credential_from_console: call.from_console.then(|| "true".to_string()),
            },
            time_ms: t.time_ms,
            resource_short_name: name,
        }
    }

    fn resources(&self, r: Option<CallResource>) -> (Vec<Resource>, Option<String>) {
        match r {
            Some(r) => (
                vec![Resource {
                    arn: r.arn,
                    account_id: self.account_id.clone(),
                    kind: r.kind.into(),
                }],
                r.name,
            ),
            None => (Vec::new(), None),
        }
    }

    /// Record a KMS call a service made for `principal` (see [`DelegatedKms`]). The request
    /// it served is already recorded; a failure here is logged loudly.
    pub async fn delegated_kms(
        &self,
        region: &str,
        principal: &Principal,
        d: DelegatedKms,
        time_ms: i64,
    ) {
        if !self.enabled {
            return;
        }
        let mut user_identity = identity(principal.clone());
        user_identity.invoked_by = Some(d.via.clone());
        let (resources, name) = self.resources(Some(CallResource {
            arn: d.key_arn,
            kind: KMS_KEY_RESOURCE_TYPE,
            name: None,
        }));
        let mut event = self.event_skeleton(
            region,
            user_identity,
            event_source("kms"),
            &d.operation,
            resources,
            time_ms,
        );
        // As CloudTrail shows calls a service makes for you.
        event.source_ip_address = Some(d.via.clone());
        event.user_agent = Some(d.via);
        event.error_code = d.denied.as_ref().map(|_| "AccessDenied".to_string());
        event.error_message = d.denied;
        event.request_parameters = Some(json!({
            "encryptionContext": d.encryption_context,
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
        }));
        event.request_id = Some(strongroom_domain::names::random_uuid());
        event.read_only = true;
        event.event_type = "AwsApiCall".into();
        let entry = Entry {
            event,
            time_ms,
            resource_short_name: name,
        };
        if let Err(e) = self.log.append(entry).await {
            tracing::error!(error = %e, operation = %d.operation, "could not record a KMS call made for a caller");
        }
    }

    /// A service event's fields (AwsServiceEvent); other kinds set what differs.
    fn event_skeleton(
        &self,
        region: &str,
        user_identity: UserIdentity,
        source: Cow<'static, str>,
        event_name: &str,
        resources: Vec<Resource>,
        time_ms: i64,
    ) -> Event {
        Event {
            event_version: EVENT_VERSION.into(),
            user_identity,
            event_time: format_time(time_ms),
            event_source: source,
            event_name: event_name.into(),
            aws_region: region.to_string(),
            source_ip_address: None,
            user_agent: None,
            error_code: None,
            error_message: None,
            request_parameters: None,
            response_elements: None,
            request_id: None,
            event_id: strongroom_domain::names::random_uuid(),
            read_only: false,
            resources,
            event_type: "AwsServiceEvent".into(),
            service_event_details: None,
            management_event: true,
            recipient_account_id: self.account_id.clone(),
            event_category: "Management".into(),
            tls_details: None,
            session_credential_from_console: None,
            additional_event_data: None,
        }
    }

    /// Record something the service did on its own (a scheduled deletion, a rotation step,
    /// an alarm changing state). It cannot fail a request, so a failure is logged loudly.
    pub async fn service_event(
        &self,
        region: &str,
        service: &str,
        event_name: &str,
        details: Value,
        resource: Option<CallResource>,
        time_ms: i64,
    ) {
        self.changes
            .service_event(service, event_name, resource.as_ref(), time_ms);
        let (resources, name) = self.resources(resource);
        let source = event_source(service);
        let identity = UserIdentity {
            kind: "AWSService".into(),
            invoked_by: Some(source.to_string()),
            ..Default::default()
        };
        let mut event =
            self.event_skeleton(region, identity, source, event_name, resources, time_ms);
        event.service_event_details = Some(details);
        let entry = Entry {
            event,
            time_ms,
            resource_short_name: name,
        };
        if let Err(e) = self.log.append(entry).await {
            tracing::error!(error = %e, event_name, "a service event could not be audited");
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// The caller as CloudTrail's `userIdentity`, made from the call's own copy (moved, not
/// copied: once per record).
fn identity(p: Principal) -> UserIdentity {
    let Principal {
        account_id,
        arn,
        access_key_id,
        kind,
        ..
    } = p;
    let (kind, principal_id, user_name, session_context) = match kind {
        PrincipalKind::Root => ("Root", account_id.clone(), None, None),
        PrincipalKind::User { name, id } => ("IAMUser", id, Some(name), None),
        PrincipalKind::AssumedRole {
            role_name,
            role_arn,
            principal_id,
            source_identity,
            ..
        } => {
            let mut context = json!({
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": principal_id.split(':').next(),
                    "arn": role_arn,
                    "accountId": account_id,
                    "userName": role_name,
                },
                "attributes": { "mfaAuthenticated": "false" },
            });
            if let Some(source) = source_identity {
                context["sourceIdentity"] = json!(source);
            }
            ("AssumedRole", principal_id, None, Some(context))
        }
    };
    UserIdentity {
        kind: kind.into(),
        principal_id: Some(principal_id),
        arn: Some(arn),
        account_id: Some(account_id),
        access_key_id: Some(access_key_id),
        user_name,
        session_context,
        invoked_by: None,
    }
}

/// The service a SigV4 credential scope names (`AKIA.../DATE/REGION/SERVICE/aws4_request`), for
/// records of Query requests whose signature failed. Only known services are returned.
pub fn claimed_service(
    parts: &http::request::Parts,
    known: &[&'static str],
) -> Option<&'static str> {
    let cred = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .map(|c| c.split([',', ' ']).next().unwrap_or("").to_string())
        .or_else(|| {
            parts.uri.query().and_then(|q| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix("X-Amz-Credential="))
                    .map(|c| c.replace("%2F", "/").replace("%2f", "/"))
            })
        })?;
    let service = cred.split('/').nth(3)?;
    known.iter().copied().find(|k| *k == service)
}

/// The access key id a SigV4 request names (header or presigned query), for records of
/// requests whose signature failed. Not a secret; bounded in length.
pub fn claimed_access_key(parts: &http::request::Parts) -> Option<String> {
    let from_header = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1));
    let from_query = || {
        parts.uri.query().and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("X-Amz-Credential="))
        })
    };
    let cred = from_header.or_else(from_query)?;
    let id: String = cred
        .split(['/', '%'])
        .next()?
        .chars()
        .take(128)
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    (!id.is_empty()).then_some(id)
}

/// Form parameters as an audit record's `requestParameters`: protocol fields (Action,
/// Version, signature parts) dropped, sensitive members removed, keys in lowerCamelCase.
pub fn form_parameters(
    event_source: &str,
    params: &std::collections::HashMap<String, String>,
) -> serde_json::Value {
    let mut keys: Vec<&String> = params
        .keys()
        .filter(|k| !matches!(k.as_str(), "Action" | "Version") && !k.starts_with("X-Amz-"))
        .filter(|k| !strongroom_audit::redact::form_key_is_sensitive(event_source, k))
        .collect();
    keys.sort();
    let mut out = serde_json::Map::new();
    for k in keys {
        out.insert(
            strongroom_audit::redact::lower_first(k),
            serde_json::Value::String(params[k].clone()),
        );
    }
    serde_json::Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_marked_read_only() {
        for r in [
            "GetSecretValue",
            "ListSecrets",
            "DescribeSecret",
            "BatchGetSecretValue",
        ] {
            assert!(is_read_only(r), "{r}");
        }
        for w in [
            "PutSecretValue",
            "CreateSecret",
            "DeleteSecret",
            "TagResource",
        ] {
            assert!(!is_read_only(w), "{w}");
        }
    }

    #[test]
    fn the_claimed_service_is_read_from_the_scope() {
        let req = http::Request::builder()
            .uri("/")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=abc",
            )
            .body(())
            .unwrap();
        let parts = req.into_parts().0;
        assert_eq!(claimed_service(&parts, &["iam", "sts"]), Some("sts"));
        assert_eq!(claimed_service(&parts, &["iam"]), None);
    }

    #[test]
    fn the_claimed_key_is_read_from_either_signature_form() {
        let req = http::Request::builder()
            .uri("/")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=abc",
            )
            .body(())
            .unwrap();
        assert_eq!(
            claimed_access_key(&req.into_parts().0).as_deref(),
            Some("AKIAEXAMPLE")
        );
        let req = http::Request::builder()
            .uri("/?X-Amz-Credential=AKIAQUERY%2F20260101%2Fus-east-1%2Fsts%2Faws4_request")
            .body(())
            .unwrap();
        assert_eq!(
            claimed_access_key(&req.into_parts().0).as_deref(),
            Some("AKIAQUERY")
        );
    }
}
