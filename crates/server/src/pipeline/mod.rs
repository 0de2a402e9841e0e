//! The one request pipeline every AWS API call passes through, whatever its service and wire
//! protocol. `http/` reads, authenticates and decodes a request (SigV4, throttle, the wire
//! codecs) and then hands it here:
//!
//! ```text
//! parse the operation name (unknown → the protocol's unknown-operation error, here only)
//!   → Service::parse   the input, once
//!   → Service::checks  the authorizations it needs, and the resource the record names
//!   → authorize        every check, with the caller's policies (root passes)
//!   → Service::execute with a Ctx: principal, request facts, the KMS-on-behalf gate, events
//!   → Service::audit   the record's parameters, response elements and resource — also for a
//!                      refused or failed call
//! ```
//!
//! after which `http/` writes the audit record, counts metrics and encodes the reply. Each
//! service implements [`Service`] in its own `services/<svc>/api.rs`; its operations are the
//! generated `services/<svc>/ops.rs` enum (`scripts/gen-ops.py`, from AWS's models).

pub mod front;

use std::future::Future;

use http::StatusCode;
use zeroize::Zeroizing;

use crate::audit::{Call, CallResource, DelegatedKms, ServiceEvent};
use crate::credentials::Principal;
use crate::error::ApiError;
use crate::http::query::Params;
use crate::iam::authz::{Authorizer, Denial, RequestInfo};
use crate::services::Check;

/// A service's operations, generated from its AWS model.
pub trait Operation: Copy + Send + Sync + 'static {
    fn name(self) -> &'static str;
    fn from_name(name: &str) -> Option<Self>;
    /// CloudTrail's `readOnly` for this operation.
    fn read_only(self) -> bool;
}

/// A request body as a wire codec decoded it.
pub enum Wire {
    /// A JSON document (JSON 1.1 and 1.0 protocols). Zeroizing: it may carry a secret value.
    Json(Zeroizing<Vec<u8>>),
    /// Smithy RPC v2 CBOR.
    Cbor(Zeroizing<Vec<u8>>),
    /// Query protocol form fields (body and query string), `Action` and `Version` included.
    Query(Params),
}

impl Wire {
    fn is_query(&self) -> bool {
        matches!(self, Wire::Query(_))
    }
}

/// What an operation answers, for `http/` to encode in the request's protocol.
pub enum Output {
    /// A JSON document (encoded as is, or to CBOR / Query XML for CloudWatch). Zeroizing: a
    /// GetSecretValue answer carries the value.
    Json(Zeroizing<Vec<u8>>),
    /// Query protocol: the inside of `<ActionResult>`, if the action has one.
    Xml(Option<String>),
}

/// The authorizations an operation needs, and what the stages after it may reuse.
pub struct Authorization<R> {
    /// Every one must pass.
    pub checks: Vec<Check>,
    /// The resource the audit record names, also when the call is refused.
    pub resource: Option<CallResource>,
    /// What checking resolved (e.g. the secret), handed to `execute` so it is read once.
    pub resolved: R,
}

impl<R: Default> Authorization<R> {
    /// No checks (root's fast path, or an operation that authorizes itself).
    pub fn none() -> Self {
        Self {
            checks: Vec::new(),
            resource: None,
            resolved: R::default(),
        }
    }

    /// One account-wide or resource check, nothing resolved.
    pub fn one(action: String, resource: String) -> Self {
        Self {
            checks: vec![Check {
                action,
                resource,
                keys: Default::default(),
                policy: None,
                grantees: Vec::new(),
            }],
            resource: None,
            resolved: R::default(),
        }
    }
}

/// What an operation may use besides its input.
pub struct Ctx<'a> {
    pub principal: &'a Principal,
    pub info: &'a RequestInfo,
    pub authz: &'a Authorizer,
    /// Checks a service makes on the caller's behalf (KMS keys, Secrets Manager for SSM
    /// references); KMS ones are also recorded as the KMS calls CloudTrail shows.
    pub gate: &'a KmsGate<'a>,
    /// Service events the call caused, recorded after the call's own record.
    pub events: Vec<ServiceEvent>,
    /// The record's `responseElements`, when the operation builds them itself (STS: never
    /// the credentials' secrets). `Service::audit` may still replace them.
    pub response_elements: Option<serde_json::Value>,
}

impl Ctx<'_> {
    /// The gate in the shape the services' operations take.
    pub fn check(
        &self,
        action: &str,
        resource: &str,
        policy: Option<&str>,
        keys: strongroom_policy::matching::Keys,
        grantees: &[String],
    ) -> Result<(), String> {
        self.gate.check(action, resource, policy, keys, grantees)
    }
}

/// One AWS service behind the pipeline.
pub trait Service: Send + Sync {
    type Op: Operation;
    /// The operation's input after [`Service::parse`].
    type Input: Send + Sync;
    /// What [`Service::checks`] resolved for [`Service::execute`].
    type Resolved: Send + Default;

    /// The service's CloudTrail event source, e.g. `secretsmanager.amazonaws.com`.
    const EVENT_SOURCE: &'static str;

    /// The input, once.
    fn parse(&self, op: Self::Op, wire: Wire) -> Result<Self::Input, ApiError>;

    /// The authorizations the operation needs.
    fn checks(
        &self,
        op: Self::Op,
        input: &Self::Input,
        principal: &Principal,
    ) -> impl Future<Output = Authorization<Self::Resolved>> + Send;

    /// Run the operation (authorized).
    fn execute(
        &self,
        op: Self::Op,
        input: &Self::Input,
        resolved: Self::Resolved,
        ctx: &mut Ctx<'_>,
    ) -> impl Future<Output = Result<Output, ApiError>> + Send;

    /// Fill the audit record's parameters, response elements and resource. Called for every
    /// call that reached the operation, refused or not.
    fn audit(
        &self,
        op: Self::Op,
        input: &Self::Input,
        result: Result<&Output, &ApiError>,
        call: &mut Call,
    ) -> impl Future<Output = ()> + Send;

    /// The refusal of an authorization (JSON services: 400 AccessDeniedException).
    fn denied(&self, message: String) -> ApiError {
        ApiError::bad_request("AccessDeniedException", message)
    }
}

/// A name the service's model does not know: the protocol's unknown-operation error. The one
/// place such a request is answered, after authentication and before authorization.
pub fn unknown_operation(query: bool, service: &str, name: &str) -> ApiError {
    if query {
        ApiError::bad_request(
            "InvalidAction",
            format!("The action {name} is not valid for this web service."),
        )
    } else {
        ApiError::bad_request(
            "UnknownOperationException",
            format!("Unknown operation: {service} has no operation {name:?}."),
        )
    }
}

/// An authenticated, admitted request through parse → checks → authorize → execute → audit.
/// `call` gets the operation's name, resource, parameters, events and delegated KMS uses.
pub async fn run<S: Service>(
    svc: &S,
    name: &str,
    wire: Wire,
    principal: &Principal,
    info: &RequestInfo,
    authz: &Authorizer,
    call: &mut Call,
) -> Result<Output, ApiError> {
    let service = crate::audit::service_of(S::EVENT_SOURCE);
    let Some(op) = S::Op::from_name(name) else {
        return Err(unknown_operation(wire.is_query(), service, name));
    };
    let input = svc.parse(op, wire)?;
    let authorization = svc.checks(op, &input, principal).await;
    call.resource = authorization.resource;
    let gate = KmsGate::new(S::EVENT_SOURCE, authz, principal, info);
    let mut ctx = Ctx {
        principal,
        info,
        authz,
        gate: &gate,
        events: Vec::new(),
        response_elements: None,
    };
    let mut result = Ok(());
    for c in authorization.checks {
        if let Err(d) = authz.check_granted(
            principal,
            &c.action,
            &c.resource,
            c.policy.as_deref(),
            &c.grantees,
            c.keys,
            info,
        ) {
            result = Err(svc.denied(d.message.clone()));
            call.denial = Some(d);
            break;
        }
    }
    let result = match result {
        Ok(()) => {
            svc.execute(op, &input, authorization.resolved, &mut ctx)
                .await
        }
        Err(e) => Err(e),
    };
    call.service_events.append(&mut ctx.events);
    if let Some(r) = ctx.response_elements.take() {
        call.response_elements = Some(r);
    }
    let (uses, gate_denial) = gate.into_parts();
    call.delegated = uses;
    // A denial on the caller's behalf (a KMS key's) explains the call's refusal only when
    // the refusal is that denial: a service may have survived it and failed otherwise.
    if let (Err(e), None, Some(d)) = (&result, &call.denial, gate_denial)
        && e.message == d.message
    {
        call.denial = Some(d);
    }
    svc.audit(op, &input, result.as_ref(), call).await;
    result
}

/// The gate services get for checks they make on the caller's behalf: each KMS check is also
/// noted as the KMS call the service makes for the caller (recorded after the request as its
/// own KMS event, as CloudTrail does).
pub struct KmsGate<'a> {
    via: &'static str,
    authz: &'a Authorizer,
    principal: &'a Principal,
    info: &'a RequestInfo,
    uses: std::sync::Mutex<Vec<DelegatedKms>>,
    /// The last check it refused, with the decision.
    denial: std::sync::Mutex<Option<Denial>>,
}

impl<'a> KmsGate<'a> {
    pub fn new(
        via: &'static str,
        authz: &'a Authorizer,
        principal: &'a Principal,
        info: &'a RequestInfo,
    ) -> Self {
        Self {
            via,
            authz,
            principal,
            info,
            uses: std::sync::Mutex::new(Vec::new()),
            denial: std::sync::Mutex::new(None),
        }
    }

    pub fn check(
        &self,
        action: &str,
        resource: &str,
        policy: Option<&str>,
        mut keys: strongroom_policy::matching::Keys,
        grantees: &[String],
    ) -> Result<(), String> {
        // A request this service makes to another with the caller's identity (AWS's forward
        // access sessions: KMS for Secrets Manager or Parameter Store, Secrets Manager for a
        // Parameter Store reference) has aws:ViaAWSService true. A check of the service's own
        // action (BatchGetSecretValue's GetSecretValue per secret) is the caller's own call.
        let own = self.via.strip_suffix(".amazonaws.com").unwrap_or(self.via);
        if action.split_once(':').map(|(svc, _)| svc) != Some(own) {
            keys.insert("aws:viaawsservice".into(), vec!["true".into()]);
        }
        let Some(operation) = action.strip_prefix("kms:") else {
            let result = self.authz.check_granted(
                self.principal,
                action,
                resource,
                policy,
                &[],
                keys,
                self.info,
            );
            return self.noted(result);
        };
        // The context's keys in their own spelling, values from the condition keys.
        let mut context = serde_json::Map::new();
        for k in keys.get("kms:encryptioncontextkeys").into_iter().flatten() {
            if let Some(v) = keys
                .get(&format!("kms:encryptioncontext:{}", k.to_ascii_lowercase()))
                .and_then(|v| v.first())
            {
                context.insert(k.clone(), serde_json::Value::String(v.clone()));
            }
        }
        let result = self.noted(self.authz.check_granted(
            self.principal,
            action,
            resource,
            policy,
            grantees,
            keys,
            self.info,
        ));
        if let Ok(mut u) = self.uses.lock() {
            u.push(DelegatedKms {
                operation: operation.to_string(),
                key_arn: resource.to_string(),
                via: self.via.to_string(),
                encryption_context: serde_json::Value::Object(context),
                denied: result.as_ref().err().cloned(),
            });
        }
        result
    }

    /// A check's result in the services' shape, a refusal's decision kept.
    fn noted(&self, result: Result<(), Denial>) -> Result<(), String> {
        result.map_err(|d| {
            let message = d.message.clone();
            if let Ok(mut last) = self.denial.lock() {
                *last = Some(d);
            }
            message
        })
    }

    /// The KMS uses to record, and the last refusal.
    fn into_parts(self) -> (Vec<DelegatedKms>, Option<Denial>) {
        (
            self.uses.into_inner().unwrap_or_default(),
            self.denial.into_inner().unwrap_or_default(),
        )
    }
}

/// JSON input for the JSON services: the body as sent (an empty body is `{}`).
pub fn json_body(wire: Wire) -> Zeroizing<Vec<u8>> {
    match wire {
        Wire::Json(b) | Wire::Cbor(b) => b,
        Wire::Query(_) => Zeroizing::new(b"{}".to_vec()),
    }
}

/// An IAM/STS-style refusal (Query protocol): 403 AccessDenied.
pub fn query_denied(message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "AccessDenied", message)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::credentials::PrincipalKind;
    use crate::test_support::ACCOUNT;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum FakeOp {
        Read,
        Write,
    }

    impl Operation for FakeOp {
        fn name(self) -> &'static str {
            match self {
                FakeOp::Read => "Read",
                FakeOp::Write => "Write",
            }
        }
        fn from_name(name: &str) -> Option<Self> {
            match name {
                "Read" => Some(FakeOp::Read),
                "Write" => Some(FakeOp::Write),
                _ => None,
            }
        }
        fn read_only(self) -> bool {
            self == FakeOp::Read
        }
    }

    /// A service that counts what reaches each stage.
    #[derive(Default)]
    struct Fake {
        parsed: AtomicUsize,
        executed: AtomicUsize,
        audited: AtomicUsize,
    }

    impl Service for Fake {
        type Op = FakeOp;
        type Input = Zeroizing<Vec<u8>>;
        type Resolved = ();
        const EVENT_SOURCE: &'static str = "fake.amazonaws.com";

        fn parse(&self, _op: FakeOp, wire: Wire) -> Result<Zeroizing<Vec<u8>>, ApiError> {
            self.parsed.fetch_add(1, Ordering::SeqCst);
            Ok(json_body(wire))
        }
        async fn checks(
            &self,
            op: FakeOp,
            _: &Zeroizing<Vec<u8>>,
            _: &Principal,
        ) -> Authorization<()> {
            let mut a = Authorization::one(
                format!("fake:{}", op.name()),
                format!("arn:aws:fake:us-east-1:{ACCOUNT}:thing/t"),
            );
            a.resource = Some(CallResource {
                arn: format!("arn:aws:fake:us-east-1:{ACCOUNT}:thing/t"),
                kind: "AWS::Fake::Thing",
                name: Some("t".into()),
            });
            a
        }
        async fn execute(
            &self,
            _op: FakeOp,
            _: &Zeroizing<Vec<u8>>,
            _: (),
            ctx: &mut Ctx<'_>,
        ) -> Result<Output, ApiError> {
            self.executed.fetch_add(1, Ordering::SeqCst);
            ctx.events.push(ServiceEvent {
                service: "fake",
                name: "Happened",
                details: serde_json::json!({}),
                resource: None,
            });
            Ok(Output::Json(Zeroizing::new(b"{\"Done\":true}".to_vec())))
        }
        async fn audit(
            &self,
            _op: FakeOp,
            input: &Zeroizing<Vec<u8>>,
            _result: Result<&Output, &ApiError>,
            call: &mut Call,
        ) {
            self.audited.fetch_add(1, Ordering::SeqCst);
            call.request_parameters = serde_json::from_slice(input).ok();
        }
    }

    async fn authorizer() -> Authorizer {
        use crate::test_support as ts;
        let directory = ts::directory(ts::store().await, ts::barrier()).await;
        Authorizer::new(Arc::new(directory))
    }

    fn info() -> RequestInfo {
        RequestInfo {
            source_ip: None,
            secure_transport: false,
            now_ms: 0,
        }
    }

    /// A user the directory does not know: no policies, every action implicitly denied.
    fn nobody() -> Principal {
        Principal {
            account_id: ACCOUNT.into(),
            arn: format!("arn:aws:iam::{ACCOUNT}:user/nobody"),
            access_key_id: "AKIANOBODY0000000000".into(),
            kind: PrincipalKind::User {
                name: "nobody".into(),
                id: "AIDANOBODY".into(),
            },
            session_issued_ms: None,
        }
    }

    #[tokio::test]
    async fn an_unknown_operation_is_refused_before_anything_else_in_the_protocols_words() {
        let authz = authorizer().await;
        let fake = Fake::default();
        for (wire, code) in [
            (
                Wire::Json(Zeroizing::new(b"{}".to_vec())),
                "UnknownOperationException",
            ),
            (
                Wire::Cbor(Zeroizing::new(b"{}".to_vec())),
                "UnknownOperationException",
            ),
            (Wire::Query(Params::new()), "InvalidAction"),
        ] {
            let mut call = Call::default();
            let e = run(&fake, "Bogus", wire, &nobody(), &info(), &authz, &mut call)
                .await
                .err()
                .unwrap();
            assert_eq!(e.code, code);
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert!(call.request_parameters.is_none() && call.resource.is_none());
        }
        assert_eq!(fake.parsed.load(Ordering::SeqCst), 0);
        assert_eq!(fake.audited.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_denied_call_is_audited_with_its_parameters_and_resource_and_not_executed() {
        let authz = authorizer().await;
        let fake = Fake::default();
        let mut call = Call::default();
        let body = Zeroizing::new(br#"{"Thing":"t"}"#.to_vec());
        let e = run(
            &fake,
            "Write",
            Wire::Json(body),
            &nobody(),
            &info(),
            &authz,
            &mut call,
        )
        .await
        .err()
        .unwrap();
        assert_eq!(e.code, "AccessDeniedException");
        assert!(e.message.contains("fake:Write"), "{}", e.message);
        assert_eq!(fake.executed.load(Ordering::SeqCst), 0);
        assert_eq!(fake.audited.load(Ordering::SeqCst), 1);
        assert_eq!(
            call.request_parameters,
            Some(serde_json::json!({"Thing": "t"}))
        );
        assert_eq!(call.resource.unwrap().name.as_deref(), Some("t"));
        assert!(call.service_events.is_empty());
        // The authorizer's decision comes with the refusal (the console explains it).
        let denial = call.denial.expect("the denial's decision");
        assert_eq!(denial.message, e.message);
        assert_eq!(denial.action, "fake:Write");
        assert_eq!(
            denial.decision.outcome,
            strongroom_policy::Outcome::ImplicitDeny
        );
    }

    #[tokio::test]
    async fn an_allowed_call_runs_once_and_hands_its_events_to_the_record() {
        let authz = authorizer().await;
        let fake = Fake::default();
        let mut call = Call::default();
        let root = Principal::root(ACCOUNT, "AKIAROOT");
        let out = run(
            &fake,
            "Read",
            Wire::Json(Zeroizing::new(b"{}".to_vec())),
            &root,
            &info(),
            &authz,
            &mut call,
        )
        .await
        .unwrap();
        assert!(matches!(out, Output::Json(b) if b.as_slice() == b"{\"Done\":true}"));
        assert_eq!(fake.parsed.load(Ordering::SeqCst), 1);
        assert_eq!(fake.executed.load(Ordering::SeqCst), 1);
        assert_eq!(fake.audited.load(Ordering::SeqCst), 1);
        assert_eq!(call.service_events.len(), 1);
        assert!(call.delegated.is_empty() && call.denial.is_none());
    }
}
