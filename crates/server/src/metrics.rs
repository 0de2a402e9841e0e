//! Prometheus metrics at `GET /metrics`: requests by service, operation, outcome and error
//! code; latency histograms; access denials and signature failures; the audit log's queue and
//! commit latency; the number of secrets (AWS's ResourceCount). One registry per server (no
//! process-global recorder: tests run several servers in one process).

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use strongroom_store::CacheStats;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    service: String,
    operation: String,
    outcome: &'static str,
    error_code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    service: String,
    operation: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 50 µs .. ~1.6 s
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily<OperationLabels>,
    access_denied: Counter,
    signature_failures: Counter,
    audit_commit_seconds: Histogram,
    audit_batch_records: Histogram,
    audit_queue_depth: Gauge,
    secrets: Gauge,
    parameters: Gauge,
    kms_keys: Gauge,
    rotations: Family<RotationLabels, Counter>,
    cache_lookups: Family<CacheLabels, Counter>,
    cache_entries: Family<CacheKindLabels, Gauge>,
    /// Serialises scrapes' catching up of `cache_lookups` with the stores' own counts.
    cache_sync: Mutex<()>,
    /// service → operation → its series in `requests` (ok) and `latency`: a request finds
    /// them by borrowed names, where the families would take owned label strings and hash
    /// them per request (1.2% of an unaudited read's samples, session 24). Operations are
    /// only those the server recognised, so this stays small. An operation's `ok` series
    /// exists (at 0) from its first request, also if that one failed.
    by_operation: RwLock<HashMap<String, HashMap<String, OperationSeries>>>,
}

/// One operation's series: handles into the families (the same counters, shared).
struct OperationSeries {
    ok: Counter,
    latency: Histogram,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    /// `secret` (a secret with its versions) or `value` (one version's sealed value).
    kind: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheKindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct RotationLabels {
    outcome: &'static str,
}

/// A request's outcome, as the HTTP front knows it.
pub struct Outcome<'a> {
    /// `secretsmanager`, `iam`, ... (`unknown` when not identified).
    pub service: &'a str,
    /// Only operations the server recognised; anything else is `unknown` (label values must
    /// not come from arbitrary client input).
    pub operation: &'a str,
    pub error_code: Option<&'static str>,
    pub latency: Duration,
}

const SIGNATURE_ERRORS: &[&str] = &[
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "IncompleteSignatureException",
    "IncompleteSignature",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "MissingAuthenticationTokenException",
    "MissingAuthenticationToken",
    "ExpiredTokenException",
    "ExpiredToken",
    "InvalidSignature",
];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("strongroom");
        let requests = Family::<RequestLabels, Counter>::default();
        r.register(
            "requests",
            "API requests by service, operation, outcome and AWS error code",
            requests.clone(),
        );
        let latency: HistogramFamily<OperationLabels> =
            Family::new_with_constructor(latency_histogram);
        r.register(
            "request_duration_seconds",
            "Time from request to response, audit commit included",
            latency.clone(),
        );
        let access_denied = Counter::default();
        r.register(
            "access_denied",
            "Requests refused by IAM policy evaluation",
            access_denied.clone(),
        );
        let signature_failures = Counter::default();
        r.register(
            "signature_failures",
            "Requests refused by SigV4 authentication (bad signature, unknown or expired key)",
            signature_failures.clone(),
        );
        let audit_commit_seconds = latency_histogram();
        r.register(
            "audit_commit_duration_seconds",
            "Duration of one audit group commit",
            audit_commit_seconds.clone(),
        );
        let audit_batch_records = Histogram::new(exponential_buckets(1.0, 2.0, 11));
        r.register(
            "audit_commit_records",
            "Records per audit group commit",
            audit_batch_records.clone(),
        );
        let audit_queue_depth = Gauge::default();
        r.register(
            "audit_queue_depth",
            "Audit records waiting for the next commit",
            audit_queue_depth.clone(),
        );
        let secrets = Gauge::default();
        r.register(
            "secrets",
            "Secrets stored, including those scheduled for deletion (ResourceCount)",
            secrets.clone(),
        );
        let parameters = Gauge::default();
        r.register(
            "parameters",
            "SSM parameters stored (ResourceCount)",
            parameters.clone(),
        );
        let kms_keys = Gauge::default();
        r.register(
            "kms_keys",
            "KMS keys, including managed keys and keys pending deletion",
            kms_keys.clone(),
        );
        let rotations = Family::<RotationLabels, Counter>::default();
        r.register(
            "rotations",
            "Secret rotations by outcome (succeeded, failed, abandoned)",
            rotations.clone(),
        );
        let cache_lookups = Family::<CacheLabels, Counter>::default();
        r.register(
            "store_cache_lookups",
            "Secret and value reads answered from the store's cache (hit) or read from the store (miss)",
            cache_lookups.clone(),
        );
        let cache_entries = Family::<CacheKindLabels, Gauge>::default();
        r.register(
            "store_cache_entries",
            "Secrets and values the store's cache holds",
            cache_entries.clone(),
        );
        Self {
            rotations,
            cache_lookups,
            cache_entries,
            cache_sync: Mutex::new(()),
            by_operation: RwLock::default(),
            registry: Mutex::new(r),
            requests,
            latency,
            access_denied,
            signature_failures,
            audit_commit_seconds,
            audit_batch_records,
            audit_queue_depth,
            secrets,
            parameters,
            kms_keys,
        }
    }

    pub fn record_request(&self, o: &Outcome<'_>) {
        self.with_operation_series(o.service, o.operation, |series| {
            series.latency.observe(o.latency.as_secs_f64());
            if o.error_code.is_none() {
                series.ok.inc();
            }
        });
        let Some(error_code) = o.error_code else {
            return;
        };
        self.requests
            .get_or_create(&RequestLabels {
                service: o.service.to_string(),
                operation: o.operation.to_string(),
                outcome: "error",
                error_code,
            })
            .inc();
        if matches!(error_code, "AccessDeniedException" | "AccessDenied") {
            self.access_denied.inc();
        }
        if SIGNATURE_ERRORS.contains(&error_code) {
            self.signature_failures.inc();
        }
    }

    /// `f` on the operation's series, created in the families at its first request.
    fn with_operation_series(
        &self,
        service: &str,
        operation: &str,
        f: impl FnOnce(&OperationSeries),
    ) {
        {
            let known = self.by_operation.read().unwrap_or_else(|e| e.into_inner());
            if let Some(s) = known.get(service).and_then(|ops| ops.get(operation)) {
                return f(s);
            }
        }
        let series = OperationSeries {
            ok: self
                .requests
                .get_or_create(&RequestLabels {
                    service: service.to_string(),
                    operation: operation.to_string(),
                    outcome: "ok",
                    error_code: "",
                })
                .clone(),
            latency: self
                .latency
                .get_or_create(&OperationLabels {
                    service: service.to_string(),
                    operation: operation.to_string(),
                })
                .clone(),
        };
        f(self
            .by_operation
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(service.to_string())
            .or_default()
            .entry(operation.to_string())
            .or_insert(series))
    }

    pub fn audit_commit(&self, latency: Duration, records: usize) {
        self.audit_commit_seconds.observe(latency.as_secs_f64());
        self.audit_batch_records.observe(records as f64);
    }

    pub fn set_audit_queue_depth(&self, n: usize) {
        self.audit_queue_depth.set(n as i64);
    }

    /// A rotation ended: `succeeded`, `failed` or `abandoned`.
    pub fn rotation(&self, outcome: &'static str) {
        self.rotations
            .get_or_create(&RotationLabels { outcome })
            .inc();
    }

    pub fn set_parameters(&self, n: usize) {
        self.parameters.set(n as i64);
    }

    pub fn set_kms_keys(&self, n: usize) {
        self.kms_keys.set(n as i64);
    }

    pub fn set_secrets(&self, n: usize) {
        self.secrets.set(n as i64);
    }

    /// The stores' cache counts (summed over regions), read at scrape time: the counters are
    /// brought up to the stores' totals.
    pub fn set_cache_stats(&self, stats: &CacheStats) {
        let _one_scrape = self.cache_sync.lock().unwrap_or_else(|e| e.into_inner());
        for (kind, result, total) in [
            ("secret", "hit", stats.secret_hits),
            ("secret", "miss", stats.secret_misses),
            ("value", "hit", stats.value_hits),
            ("value", "miss", stats.value_misses),
        ] {
            let counter = self
                .cache_lookups
                .get_or_create(&CacheLabels { kind, result });
            counter.inc_by(total.saturating_sub(counter.get()));
        }
        for (kind, n) in [
            ("secret", stats.secrets_cached),
            ("value", stats.values_cached),
        ] {
            self.cache_entries
                .get_or_create(&CacheKindLabels { kind })
                .set(n as i64);
        }
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_failures_are_counted_by_label() {
        let m = Metrics::new();
        for code in [
            None,
            None,
            Some("AccessDeniedException"),
            Some("InvalidSignatureException"),
        ] {
            m.record_request(&Outcome {
                service: "secretsmanager",
                operation: "GetSecretValue",
                error_code: code,
                latency: Duration::from_micros(300),
            });
        }
        // Another operation's series are its own.
        m.record_request(&Outcome {
            service: "secretsmanager",
            operation: "DescribeSecret",
            error_code: None,
            latency: Duration::from_micros(100),
        });
        m.audit_commit(Duration::from_millis(1), 12);
        m.set_secrets(3);
        let text = m.render();
        assert!(text.contains(
            r#"strongroom_requests_total{service="secretsmanager",operation="DescribeSecret",outcome="ok",error_code=""} 1"#
        ), "{text}");
        assert!(text.contains(
            r#"strongroom_requests_total{service="secretsmanager",operation="GetSecretValue",outcome="error",error_code="AccessDeniedException"} 1"#
        ), "{text}");
        assert!(text.contains(
            r#"strongroom_request_duration_seconds_count{service="secretsmanager",operation="DescribeSecret"} 1"#
        ), "{text}");
        assert!(text.contains(
            r#"strongroom_requests_total{service="secretsmanager",operation="GetSecretValue",outcome="ok",error_code=""} 2"#
        ), "{text}");
        assert!(text.contains("strongroom_access_denied_total 1"), "{text}");
        assert!(
            text.contains("strongroom_signature_failures_total 1"),
            "{text}"
        );
        assert!(text.contains("strongroom_secrets 3"), "{text}");
        assert!(
            text.contains("strongroom_audit_commit_records_count 1"),
            "{text}"
        );
        assert!(text.contains(
            r#"strongroom_request_duration_seconds_count{service="secretsmanager",operation="GetSecretValue"} 4"#
        ), "{text}");
    }

    #[test]
    fn cache_counters_follow_the_stores_totals() {
        let m = Metrics::new();
        let mut stats = CacheStats {
            secret_hits: 5,
            secret_misses: 2,
            value_hits: 4,
            value_misses: 3,
            secrets_cached: 2,
            values_cached: 1,
        };
        m.set_cache_stats(&stats);
        stats.secret_hits = 9;
        stats.values_cached = 0;
        m.set_cache_stats(&stats);
        // Scraped again with nothing new: no change.
        m.set_cache_stats(&stats);
        let text = m.render();
        for line in [
            r#"strongroom_store_cache_lookups_total{kind="secret",result="hit"} 9"#,
            r#"strongroom_store_cache_lookups_total{kind="secret",result="miss"} 2"#,
            r#"strongroom_store_cache_lookups_total{kind="value",result="hit"} 4"#,
            r#"strongroom_store_cache_lookups_total{kind="value",result="miss"} 3"#,
            r#"strongroom_store_cache_entries{kind="secret"} 2"#,
            r#"strongroom_store_cache_entries{kind="value"} 0"#,
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
