//! CloudWatch metrics as Embedded Metric Format documents on stdout: Lambda
//! ships them with the logs, so the hot path makes no API call.

use std::fmt::Write as _;
use std::io::Write as _;

use serde_json::Value;

use crate::clock::unix_now_ms;
use crate::outcome::Outcome;

/// Writes one EMF document per delivery into `namespace`.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// The namespace as a JSON string literal, escaped once.
    namespace: String,
}

impl Metrics {
    pub fn new(namespace: &str) -> Self {
        Self {
            namespace: Value::from(namespace).to_string(),
        }
    }

    /// The document for one delivery, as one line of JSON. `Rejected` carries
    /// the `Reason` dimension; the others are dimensionless, so each is one
    /// metric. Written directly rather than through a JSON tree: it is on
    /// every delivery's path.
    pub fn document(&self, outcome: &Outcome, store_ms: Option<f64>, timestamp_ms: u64) -> String {
        let (name, reason) = match outcome {
            Outcome::Accepted { .. } => ("Accepted", None),
            Outcome::Duplicate { .. } => ("Duplicate", None),
            Outcome::Rejected(r) => ("Rejected", Some(r.code.as_str())),
            Outcome::StoreUnavailable(_) => ("StoreErrors", None),
        };
        let mut metrics = format!(r#"{{"Name":"{name}","Unit":"Count"}}"#);
        let mut values = format!(r#""{name}":1"#);
        if let Some(ms) = store_ms {
            metrics.push_str(r#",{"Name":"StoreLatency","Unit":"Milliseconds"}"#);
            let _ = write!(values, r#","StoreLatency":{ms:.3}"#);
        }
        let dimensions = match reason {
            Some(reason) => {
                let _ = write!(values, r#","Reason":"{reason}""#);
                r#"[["Reason"]]"#
            }
            None => "[[]]",
        };
        format!(
            r#"{{"_aws":{{"Timestamp":{timestamp_ms},"CloudWatchMetrics":[{{"Namespace":{},"Dimensions":{dimensions},"Metrics":[{metrics}]}}]}},{values}}}"#,
            self.namespace
        )
    }

    /// One count of `name`, dimensionless, for events outside a delivery's
    /// own document.
    pub fn emit_count(&self, name: &str) {
        let line = format!(
            r#"{{"_aws":{{"Timestamp":{},"CloudWatchMetrics":[{{"Namespace":{},"Dimensions":[[]],"Metrics":[{{"Name":"{name}","Unit":"Count"}}]}}]}},"{name}":1}}"#,
            unix_now_ms(),
            self.namespace
        );
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }

    pub fn emit(&self, outcome: &Outcome, store_ms: Option<f64>) {
        let line = self.document(outcome, store_ms, unix_now_ms());
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{RejectCode, StoreError};

    use serde_json::json;

    fn doc(outcome: Outcome, store_ms: Option<f64>) -> Value {
        let line = Metrics::new("GenesysWebhook").document(&outcome, store_ms, 1_700_000_000_000);
        assert!(!line.contains('\n'));
        serde_json::from_str(&line).expect("one JSON document")
    }

    #[test]
    fn accepted_counts_and_times_the_store() {
        let d = doc(
            Outcome::Accepted {
                delivery_id: "d".into(),
            },
            Some(4.25),
        );
        assert_eq!(
            d,
            json!({
                "Accepted": 1,
                "StoreLatency": 4.25,
                "_aws": {
                    "Timestamp": 1_700_000_000_000u64,
                    "CloudWatchMetrics": [{
                        "Namespace": "GenesysWebhook",
                        "Dimensions": [[]],
                        "Metrics": [
                            {"Name": "Accepted", "Unit": "Count"},
                            {"Name": "StoreLatency", "Unit": "Milliseconds"}
                        ]
                    }]
                }
            })
        );
    }

    #[test]
    fn duplicate_and_store_errors() {
        let d = doc(
            Outcome::Duplicate {
                delivery_id: "d".into(),
            },
            Some(1.0),
        );
        assert_eq!(d["Duplicate"], 1);
        let d = doc(
            Outcome::StoreUnavailable(StoreError("x".into())),
            Some(3000.0),
        );
        assert_eq!(d["StoreErrors"], 1);
        assert_eq!(
            d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "StoreErrors"
        );
        assert_eq!(d["StoreLatency"], 3000.0);
    }

    #[test]
    fn namespace_is_escaped() {
        let line = Metrics::new("a\"b").document(
            &Outcome::Duplicate {
                delivery_id: "d".into(),
            },
            None,
            0,
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "a\"b");
    }

    #[test]
    fn rejected_has_a_reason_dimension_and_no_detail() {
        let d = doc(
            Outcome::Rejected(RejectCode::InvalidSignature.because("no secret matches")),
            None,
        );
        assert_eq!(d["Rejected"], 1);
        assert_eq!(d["Reason"], "invalid_signature");
        assert_eq!(
            d["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Reason"]])
        );
        assert!(d.get("StoreLatency").is_none());
        assert!(!d.to_string().contains("no secret matches"));
    }
}
