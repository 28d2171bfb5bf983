//! The relay's CloudWatch metrics, as Embedded Metric Format documents on
//! stdout, one per batch.

use std::io::Write as _;

use serde_json::{Value, json};

/// EMF takes at most 100 values of one metric per document.
const MAX_VALUES: usize = 100;

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub relayed: usize,
    pub failed: usize,
    /// Refused for good and parked on the failure queue, oversize included.
    pub parked: usize,
    pub oversize: usize,
    /// Parked because the body's object is missing or altered.
    pub body_faults: usize,
    /// Received → published, per relayed entry.
    pub lag_ms: Vec<u64>,
}

#[derive(Debug, Clone)]
pub struct RelayMetrics {
    namespace: String,
}

impl RelayMetrics {
    pub fn new(namespace: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
        }
    }

    /// `Relayed`, `RelayFailed`, `RelayParked`, `RelayOversize` and
    /// `RelayBodyFaults` counts, and the lags as
    /// `OutboxLagMs` values; lags beyond the first hundred go in further
    /// documents of their own.
    pub fn documents(&self, tally: &Tally, timestamp_ms: u64) -> Vec<String> {
        let mut chunks = tally.lag_ms.chunks(MAX_VALUES);
        let first = chunks.next().unwrap_or_default();
        let mut docs = vec![self.document(
            &[
                ("Relayed", "Count", json!(tally.relayed)),
                ("RelayFailed", "Count", json!(tally.failed)),
                ("RelayParked", "Count", json!(tally.parked)),
                ("RelayOversize", "Count", json!(tally.oversize)),
                ("RelayBodyFaults", "Count", json!(tally.body_faults)),
                ("OutboxLagMs", "Milliseconds", json!(first)),
            ],
            timestamp_ms,
        )];
        docs.extend(chunks.map(|lags| {
            self.document(
                &[("OutboxLagMs", "Milliseconds", json!(lags))],
                timestamp_ms,
            )
        }));
        docs
    }

    fn document(&self, metrics: &[(&str, &str, Value)], timestamp_ms: u64) -> String {
        let mut doc = json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [[]],
                    "Metrics": metrics
                        .iter()
                        .filter(|(_, _, v)| v.as_array().is_none_or(|a| !a.is_empty()))
                        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
                        .collect::<Vec<_>>(),
                }]
            }
        });
        for (name, _, value) in metrics {
            if value.as_array().is_none_or(|a| !a.is_empty()) {
                doc[*name] = value.clone();
            }
        }
        doc.to_string()
    }

    pub fn emit(&self, tally: &Tally) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut out = std::io::stdout().lock();
        for line in self.documents(tally, now) {
            let _ = writeln!(out, "{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Value {
        assert!(!line.contains('\n'));
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn one_document_with_counts_and_lags() {
        let tally = Tally {
            relayed: 2,
            failed: 1,
            parked: 3,
            oversize: 0,
            body_faults: 2,
            lag_ms: vec![1_200, 800],
        };
        let docs = RelayMetrics::new("Ns\"x").documents(&tally, 7);
        assert_eq!(docs.len(), 1);
        assert_eq!(
            parse(&docs[0]),
            json!({
                "_aws": {
                    "Timestamp": 7,
                    "CloudWatchMetrics": [{
                        "Namespace": "Ns\"x",
                        "Dimensions": [[]],
                        "Metrics": [
                            {"Name": "Relayed", "Unit": "Count"},
                            {"Name": "RelayFailed", "Unit": "Count"},
                            {"Name": "RelayParked", "Unit": "Count"},
                            {"Name": "RelayOversize", "Unit": "Count"},
                            {"Name": "RelayBodyFaults", "Unit": "Count"},
                            {"Name": "OutboxLagMs", "Unit": "Milliseconds"}
                        ]
                    }]
                },
                "Relayed": 2,
                "RelayFailed": 1,
                "RelayParked": 3,
                "RelayOversize": 0,
                "RelayBodyFaults": 2,
                "OutboxLagMs": [1_200, 800]
            })
        );
    }

    #[test]
    fn no_lag_without_a_relayed_entry_and_at_most_a_hundred_values_a_document() {
        let none = RelayMetrics::new("N").documents(&Tally::default(), 0);
        let doc = parse(&none[0]);
        assert!(doc.get("OutboxLagMs").is_none());
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len(),
            5
        );

        let many = Tally {
            relayed: 250,
            lag_ms: (0..250).collect(),
            ..Tally::default()
        };
        let docs = RelayMetrics::new("N").documents(&many, 0);
        let lags: Vec<usize> = docs
            .iter()
            .map(|d| parse(d)["OutboxLagMs"].as_array().unwrap().len())
            .collect();
        assert_eq!(lags, [100, 100, 50]);
        assert!(parse(&docs[1]).get("Relayed").is_none());
    }
}
