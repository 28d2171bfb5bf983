//! The relay's CloudWatch metrics, as Embedded Metric Format documents, one
//! per batch, written by [`crate::metrics`].

use crate::clock::unix_now_ms;
use crate::metrics::{Metrics, Unit};
use crate::sink::write_line;

/// EMF takes at most 100 values of one metric per document.
const MAX_VALUES: usize = 100;

const LAG: (&str, Unit) = ("OutboxLagMs", Unit::Milliseconds);

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
    metrics: Metrics,
}

impl RelayMetrics {
    pub fn new(namespace: &str) -> Self {
        Self {
            metrics: Metrics::new(namespace),
        }
    }

    /// `Relayed`, `RelayFailed`, `RelayParked`, `RelayOversize` and
    /// `RelayBodyFaults` counts, and the lags as
    /// `OutboxLagMs` values; lags beyond the first hundred go in further
    /// documents of their own.
    pub fn documents(&self, tally: &Tally, timestamp_ms: u64) -> Vec<Vec<u8>> {
        let counts = [
            ("Relayed", tally.relayed),
            ("RelayFailed", tally.failed),
            ("RelayParked", tally.parked),
            ("RelayOversize", tally.oversize),
            ("RelayBodyFaults", tally.body_faults),
        ];
        let mut chunks = tally.lag_ms.chunks(MAX_VALUES);
        let first = chunks.next();
        let declared: Vec<(&str, Unit)> = counts
            .iter()
            .map(|(name, _)| (*name, Unit::Count))
            .chain(first.map(|_| LAG))
            .collect();
        let mut doc = self.metrics.document(timestamp_ms, &[], &declared);
        for (name, count) in counts {
            doc.number(name, count);
        }
        if let Some(lags) = first {
            doc.field(LAG.0, lags);
        }
        let mut docs = vec![doc.line()];
        docs.extend(chunks.map(|lags| {
            let mut doc = self.metrics.document(timestamp_ms, &[], &[LAG]);
            doc.field(LAG.0, lags);
            doc.line()
        }));
        docs
    }

    pub fn emit(&self, tally: &Tally) {
        for line in self.documents(tally, unix_now_ms()) {
            write_line(&line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::{Value, json};

    fn parse(line: &[u8]) -> Value {
        let line = std::str::from_utf8(line).unwrap();
        assert_eq!(line.find('\n'), Some(line.len() - 1), "one line: {line}");
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

    #[test]
    fn a_batch_documents_go_through_the_sink() {
        let tally = Tally {
            relayed: 1,
            lag_ms: vec![5],
            ..Tally::default()
        };
        RelayMetrics::new("RelaySink").emit(&tally);
        let kept = crate::sink::kept();
        let line = kept
            .lines()
            .find(|l| l.contains("\"RelaySink\""))
            .expect("the batch's document reached the sink");
        let doc = parse(format!("{line}\n").as_bytes());
        assert_eq!(
            (doc["Relayed"].clone(), doc["OutboxLagMs"].clone()),
            (json!(1), json!([5]))
        );
    }
}
