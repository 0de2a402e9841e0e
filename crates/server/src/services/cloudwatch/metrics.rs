//! The API-call metrics the server records about itself (namespace `AWS/SecretsManager`,
//! metric name = operation, e.g. `GetSecretValue`): per-minute counts, kept in memory for
//! 15 days. Pure: no I/O, no clock of its own.

use std::collections::BTreeMap;

/// A metric: namespace, name and dimensions (sorted by name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct MetricKey {
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
}

const MINUTE_MS: i64 = 60_000;
const RETENTION_MS: i64 = 15 * 24 * 3600 * 1000;

#[derive(Debug, Default)]
pub struct MetricStore {
    /// Per metric: minute start (epoch ms) → count of calls in that minute (this node's).
    series: BTreeMap<MetricKey, BTreeMap<i64, u64>>,
    /// Several nodes: the other nodes' counts, as last read from the shared table.
    others: BTreeMap<MetricKey, BTreeMap<i64, u64>>,
    /// This node's minutes changed since they were last shared.
    unshared: std::collections::BTreeSet<(MetricKey, i64)>,
}

/// One node's count of one metric in one minute, as the nodes share them.
pub type Datapoint = (MetricKey, i64, u64);

/// Statistics over a window of per-call samples (each call counts 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub sample_count: u64,
}

impl Stats {
    /// A statistic by its CloudWatch name. Every sample of a call count is 1, so Average,
    /// Minimum and Maximum are 1 when there were calls.
    pub fn get(&self, statistic: &str) -> Option<f64> {
        let n = self.sample_count as f64;
        match statistic {
            "Sum" | "SampleCount" => Some(n),
            "Average" | "Minimum" | "Maximum" => (self.sample_count > 0).then_some(1.0),
            _ => None,
        }
    }
}

impl MetricStore {
    pub fn record(&mut self, key: MetricKey, at_ms: i64) {
        let minute = at_ms.div_euclid(MINUTE_MS) * MINUTE_MS;
        // Once per API call: the key is cloned only for a metric's first call.
        match self.series.get_mut(&key) {
            Some(minutes) => *minutes.entry(minute).or_default() += 1,
            None => {
                self.series
                    .insert(key.clone(), BTreeMap::from([(minute, 1)]));
            }
        }
        self.unshared.insert((key, minute));
    }

    /// This node's counts changed since the last call, to share with the other nodes.
    pub fn take_unshared(&mut self) -> Vec<Datapoint> {
        std::mem::take(&mut self.unshared)
            .into_iter()
            .filter_map(|(k, m)| {
                let n = *self.series.get(&k)?.get(&m)?;
                Some((k, m, n))
            })
            .collect()
    }

    /// Shared counts that could not be written go back to be tried again.
    pub fn unshare(&mut self, points: &[Datapoint]) {
        self.unshared
            .extend(points.iter().map(|(k, m, _)| (k.clone(), *m)));
    }

    /// The other nodes' counts (replacing what was known of them).
    pub fn set_others(&mut self, points: Vec<Datapoint>) {
        let mut others: BTreeMap<MetricKey, BTreeMap<i64, u64>> = BTreeMap::new();
        for (k, m, n) in points {
            *others.entry(k).or_default().entry(m).or_default() += n;
        }
        self.others = others;
    }

    /// Samples in `[from_ms, to_ms)`, at minute resolution.
    pub fn stats(&self, key: &MetricKey, from_ms: i64, to_ms: i64) -> Stats {
        let count = |series: &BTreeMap<MetricKey, BTreeMap<i64, u64>>| -> u64 {
            series
                .get(key)
                .map(|s| s.range(from_ms..to_ms).map(|(_, n)| *n).sum())
                .unwrap_or(0)
        };
        Stats {
            sample_count: count(&self.series) + count(&self.others),
        }
    }

    /// Every metric with data on this node or another.
    pub fn keys(&self) -> impl Iterator<Item = &MetricKey> {
        let mut keys: Vec<&MetricKey> = self.series.keys().chain(self.others.keys()).collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
    }

    pub fn prune(&mut self, now_ms: i64) {
        let cutoff = now_ms - RETENTION_MS;
        for s in self.series.values_mut() {
            *s = s.split_off(&cutoff);
        }
        self.series.retain(|_, s| !s.is_empty());
        self.unshared.retain(|(_, m)| *m >= cutoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MetricKey {
        MetricKey {
            namespace: "AWS/SecretsManager".into(),
            name: "GetSecretValue".into(),
            dimensions: vec![],
        }
    }

    #[test]
    fn calls_are_counted_per_minute_and_summed_over_windows() {
        let mut m = MetricStore::default();
        for t in [0, 59_999, 60_000, 125_000] {
            m.record(key(), t);
        }
        assert_eq!(m.stats(&key(), 0, 60_000).get("Sum"), Some(2.0));
        assert_eq!(m.stats(&key(), 0, 180_000).get("SampleCount"), Some(4.0));
        assert_eq!(m.stats(&key(), 180_000, 240_000).get("Sum"), Some(0.0));
        assert_eq!(m.stats(&key(), 180_000, 240_000).get("Average"), None);
        assert_eq!(m.stats(&key(), 0, 60_000).get("p99"), None);
        m.prune(RETENTION_MS + 61_000);
        assert_eq!(m.stats(&key(), 0, 60_000).get("Sum"), Some(0.0));
        assert_eq!(m.stats(&key(), 0, 200_000).get("Sum"), Some(1.0));
    }

    #[test]
    fn other_nodes_counts_add_to_this_nodes() {
        let mut m = MetricStore::default();
        m.record(key(), 1_000);
        m.record(key(), 2_000);
        // This node shares its minute once, with its total.
        assert_eq!(m.take_unshared(), vec![(key(), 0, 2)]);
        assert!(m.take_unshared().is_empty());
        m.set_others(vec![(key(), 0, 3), (key(), 60_000, 4)]);
        assert_eq!(m.stats(&key(), 0, 60_000).get("Sum"), Some(5.0));
        assert_eq!(m.stats(&key(), 0, 120_000).get("Sum"), Some(9.0));
        // A write that failed is shared again next time.
        m.record(key(), 3_000);
        let points = m.take_unshared();
        m.unshare(&points);
        assert_eq!(m.take_unshared(), vec![(key(), 0, 3)]);
        let other = MetricKey {
            name: "PutSecretValue".into(),
            ..key()
        };
        m.set_others(vec![(other.clone(), 0, 1)]);
        assert_eq!(m.keys().cloned().collect::<Vec<_>>(), vec![key(), other]);
    }
}
