//! Metric alarms: configuration and the state rule, as pure code. An alarm looks at its
//! statistic over the trailing `period × evaluation_periods` and compares it with its
//! threshold. The server's own call-count metrics have a value in every period (zero when
//! nothing was called), so a quiet window is OK, not missing data.

use serde::{Deserialize, Serialize};

use super::metrics::{MetricKey, MetricStore};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    #[serde(rename = "OK")]
    Ok,
    #[serde(rename = "ALARM")]
    Alarm,
    #[serde(rename = "INSUFFICIENT_DATA")]
    InsufficientData,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "OK",
            State::Alarm => "ALARM",
            State::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "OK" => Some(State::Ok),
            "ALARM" => Some(State::Alarm),
            "INSUFFICIENT_DATA" => Some(State::InsufficientData),
            _ => None,
        }
    }
}

pub const COMPARISONS: &[&str] = &[
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
];

pub fn compare(op: &str, value: f64, threshold: f64) -> bool {
    match op {
        "GreaterThanOrEqualToThreshold" => value >= threshold,
        "GreaterThanThreshold" => value > threshold,
        "LessThanThreshold" => value < threshold,
        "LessThanOrEqualToThreshold" => value <= threshold,
        _ => false,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alarm {
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    pub actions_enabled: bool,
    pub ok_actions: Vec<String>,
    pub alarm_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    pub metric: MetricKey,
    pub statistic: String,
    pub period_secs: i64,
    pub evaluation_periods: i64,
    pub threshold: f64,
    pub comparison: String,
    pub treat_missing_data: Option<String>,
    pub state: State,
    pub state_reason: String,
    pub state_updated_ms: i64,
    pub configuration_updated_ms: i64,
}

/// The state the alarm should be in at `now_ms`, and why.
pub fn evaluate(alarm: &Alarm, metrics: &MetricStore, now_ms: i64) -> (State, String) {
    let window_ms = alarm.period_secs * 1000 * alarm.evaluation_periods;
    let stats = metrics.stats(&alarm.metric, now_ms - window_ms, now_ms + 1);
    let Some(value) = stats.get(&alarm.statistic) else {
        return (
            State::InsufficientData,
            format!(
                "No datapoints for the {} statistic in the last {} seconds.",
                alarm.statistic,
                window_ms / 1000
            ),
        );
    };
    let breaching = compare(&alarm.comparison, value, alarm.threshold);
    let relation = match alarm.comparison.as_str() {
        "GreaterThanOrEqualToThreshold" => "greater than or equal to",
        "GreaterThanThreshold" => "greater than",
        "LessThanThreshold" => "less than",
        _ => "less than or equal to",
    };
    let reason = format!(
        "Threshold Crossed: {} datapoint{} [{value} ({} over {}s)] {} {relation} the threshold ({}).",
        alarm.evaluation_periods,
        if alarm.evaluation_periods == 1 {
            ""
        } else {
            "s"
        },
        alarm.statistic,
        window_ms / 1000,
        if breaching { "was" } else { "was not" },
        alarm.threshold
    );
    (if breaching { State::Alarm } else { State::Ok }, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_003_alarm() -> Alarm {
        Alarm {
            name: "prod-secret-access-alert".into(),
            arn: "arn:aws:cloudwatch:us-east-1:123456789012:alarm:prod-secret-access-alert".into(),
            description: None,
            actions_enabled: true,
            ok_actions: vec![],
            alarm_actions: vec![],
            insufficient_data_actions: vec![],
            metric: MetricKey {
                namespace: "AWS/SecretsManager".into(),
                name: "GetSecretValue".into(),
                dimensions: vec![],
            },
            statistic: "Sum".into(),
            period_secs: 300,
            evaluation_periods: 1,
            threshold: 10.0,
            comparison: "GreaterThanThreshold".into(),
            treat_missing_data: None,
            state: State::InsufficientData,
            state_reason: String::new(),
            state_updated_ms: 0,
            configuration_updated_ms: 0,
        }
    }

    #[test]
    fn seed_003_alarm_fires_after_eleven_reads_and_clears_when_the_window_passes() {
        let a = seed_003_alarm();
        let mut m = MetricStore::default();
        let t0 = 1_000_000_000;
        for i in 0..10 {
            m.record(a.metric.clone(), t0 + i * 1000);
        }
        assert_eq!(evaluate(&a, &m, t0 + 20_000).0, State::Ok, "10 is not > 10");
        m.record(a.metric.clone(), t0 + 15_000);
        let (state, reason) = evaluate(&a, &m, t0 + 20_000);
        assert_eq!(state, State::Alarm, "{reason}");
        assert!(
            reason.contains("[11 (Sum over 300s)] was greater than the threshold (10)"),
            "{reason}"
        );
        assert_eq!(evaluate(&a, &m, t0 + 301_000 + 60_000).0, State::Ok);
    }

    #[test]
    fn comparison_operators() {
        assert!(compare("GreaterThanOrEqualToThreshold", 10.0, 10.0));
        assert!(!compare("GreaterThanThreshold", 10.0, 10.0));
        assert!(compare("LessThanThreshold", 9.0, 10.0));
        assert!(compare("LessThanOrEqualToThreshold", 10.0, 10.0));
        assert!(!compare("Sideways", 1.0, 0.0));
    }
}
