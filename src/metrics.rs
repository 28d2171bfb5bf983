//! Embedded Metric Format documents, the one writer of them: each
//! delivery's line on stdout is a JSON log line that is also an EMF
//! document, so one write carries both the fields users filter on and the
//! metrics, and the hot path makes no API call. The relay's documents are
//! built here too.

use std::fmt::Display;
use std::io::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::clock::unix_now_ms;
use crate::outcome::Outcome;
use crate::sink::write_line;

/// What one delivery's line says besides its metrics.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The Lambda request id, to find the invocation's own platform lines.
    pub request_id: Option<&'a str>,
    pub front_door: &'a str,
    pub scheme: &'a str,
    pub integration: Option<&'a str>,
    pub delivery_id: Option<&'a str>,
    /// The partner queue's message id, to find the message a line is about.
    pub message_id: Option<&'a str>,
    pub outcome: &'a Outcome,
    /// Why a delivery was refused or not stored, diagnosis included.
    pub reason: Option<&'a str>,
    /// How long the store write took, when one was made.
    pub store_ms: Option<f64>,
}

/// A metric's unit, as EMF names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// Writes EMF documents into one namespace.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// The namespace as a JSON string literal, escaped once.
    namespace: String,
}

/// One document being written: the `_aws` directive first, then each field
/// in the order it is added. Written directly rather than through a JSON
/// tree: a delivery's line is on every delivery's path.
#[derive(Debug)]
pub struct Document {
    out: Vec<u8>,
}

/// `s` as a JSON string literal.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(out, s);
}

impl Metrics {
    pub fn new(namespace: &str) -> Self {
        Self {
            namespace: Value::from(namespace).to_string(),
        }
    }

    /// A document declaring `metrics`, whose values the caller adds as
    /// fields, in one dimension set of the fields named in `dimensions`.
    pub fn document(
        &self,
        timestamp_ms: u64,
        dimensions: &[&str],
        metrics: &[(&str, Unit)],
    ) -> Document {
        let mut out = Vec::with_capacity(512);
        let _ = write!(
            out,
            r#"{{"_aws":{{"Timestamp":{timestamp_ms},"CloudWatchMetrics":[{{"Namespace":{},"Dimensions":[["#,
            self.namespace
        );
        for (i, dimension) in dimensions.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_json_str(&mut out, dimension);
        }
        out.extend_from_slice(br#"]],"Metrics":["#);
        for (i, (name, unit)) in metrics.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(br#"{"Name":"#);
            push_json_str(&mut out, name);
            let _ = write!(out, r#","Unit":"{}"}}"#, unit.as_str());
        }
        out.extend_from_slice(b"]}]}");
        Document { out }
    }

    /// One delivery's line, newline included. `Rejected` carries the
    /// `Reason` dimension (the code alone, never the detail); the other
    /// outcomes are dimensionless, so each is one metric. The store's time
    /// is the `store_ms` field, not a metric of its own: a second metric
    /// would hold the same number twice in every line.
    pub fn line(&self, d: &Delivery<'_>, timestamp_ms: u64) -> Vec<u8> {
        let (name, reason_code) = match d.outcome {
            Outcome::Accepted { .. } => ("Accepted", None),
            Outcome::Duplicate { .. } => ("Duplicate", None),
            Outcome::Rejected(r) => ("Rejected", Some(r.code.as_str())),
            Outcome::StoreUnavailable(_) => ("StoreErrors", None),
        };
        let dimensions: &[&str] = if reason_code.is_some() {
            &["Reason"]
        } else {
            &[]
        };
        let mut doc = self.document(timestamp_ms, dimensions, &[(name, Unit::Count)]);
        doc.field("level", "INFO").field("message", "delivery");
        let fields = [
            ("requestId", d.request_id),
            ("front_door", Some(d.front_door)),
            ("scheme", Some(d.scheme)),
            ("integration", d.integration),
            ("delivery_id", d.delivery_id),
            ("message_id", d.message_id),
            ("outcome", Some(d.outcome.label())),
            ("reason", d.reason),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                doc.field(key, value);
            }
        }
        if let Some(ms) = d.store_ms {
            doc.number("store_ms", format_args!("{ms:.3}"));
        }
        doc.number(name, 1);
        if let Some(code) = reason_code {
            doc.field("Reason", code);
        }
        doc.line()
    }

    /// Writes one delivery's line.
    pub fn emit(&self, delivery: &Delivery<'_>) {
        write_line(&self.line(delivery, unix_now_ms()));
    }

    /// One count of `name`, dimensionless, for events outside a delivery's
    /// own line.
    pub fn emit_count(&self, name: &str) {
        let mut doc = self.document(unix_now_ms(), &[], &[(name, Unit::Count)]);
        doc.number(name, 1);
        write_line(&doc.line());
    }
}

impl Document {
    /// Adds `key` with `value` as JSON.
    pub fn field(&mut self, key: &str, value: impl Serialize) -> &mut Self {
        self.key(key);
        let _ = serde_json::to_writer(&mut self.out, &value);
        self
    }

    /// Adds `key` with `value`, which displays as a JSON number, written as
    /// it displays (a rounded time, say).
    pub fn number(&mut self, key: &str, value: impl Display) -> &mut Self {
        self.key(key);
        let _ = write!(self.out, "{value}");
        self
    }

    fn key(&mut self, key: &str) {
        self.out.push(b',');
        push_json_str(&mut self.out, key);
        self.out.push(b':');
    }

    /// The finished document, one line with its newline.
    pub fn line(mut self) -> Vec<u8> {
        self.out.extend_from_slice(b"}\n");
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{RejectCode, StoreError};

    use serde_json::json;

    const UUID: &str = "0b6a1c7e-3f2d-4a59-9e8b-2c4d6f8a0b1c";

    fn delivery<'a>(outcome: &'a Outcome, store_ms: Option<f64>) -> Delivery<'a> {
        Delivery {
            request_id: Some("8f5e3f2a-1b2c-4d5e-8f90-123456789abc"),
            front_door: "apigw-v2",
            scheme: "genesys",
            integration: None,
            delivery_id: Some(UUID),
            message_id: None,
            outcome,
            reason: None,
            store_ms,
        }
    }

    fn parse(line: &[u8]) -> Value {
        let line = std::str::from_utf8(line).unwrap();
        assert_eq!(line.find('\n'), Some(line.len() - 1), "one line: {line}");
        serde_json::from_str(line).expect("one JSON document")
    }

    fn doc(outcome: Outcome, store_ms: Option<f64>) -> Value {
        let line =
            Metrics::new("GenesysWebhook").line(&delivery(&outcome, store_ms), 1_700_000_000_000);
        parse(&line)
    }

    #[test]
    fn accepted_is_one_log_line_and_one_metrics_document() {
        let d = doc(
            Outcome::Accepted {
                delivery_id: UUID.into(),
            },
            Some(4.25),
        );
        assert_eq!(
            d,
            json!({
                "_aws": {
                    "Timestamp": 1_700_000_000_000u64,
                    "CloudWatchMetrics": [{
                        "Namespace": "GenesysWebhook",
                        "Dimensions": [[]],
                        "Metrics": [{"Name": "Accepted", "Unit": "Count"}]
                    }]
                },
                "level": "INFO",
                "message": "delivery",
                "requestId": "8f5e3f2a-1b2c-4d5e-8f90-123456789abc",
                "front_door": "apigw-v2",
                "scheme": "genesys",
                "delivery_id": UUID,
                "outcome": "accepted",
                "store_ms": 4.25,
                "Accepted": 1
            })
        );
    }

    /// Byte for byte, so the order of fields and the store time's three
    /// decimals stay as the template's alarms and dashboard have them.
    #[test]
    fn a_rejected_line_byte_for_byte() {
        let outcome = Outcome::Rejected(RejectCode::InvalidSignature.because("no secret matches"));
        let mut d = delivery(&outcome, Some(4.25));
        d.reason = Some("invalid_signature");
        let line = Metrics::new("GenesysWebhook").line(&d, 1_700_000_000_000);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            concat!(
                r#"{"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"GenesysWebhook","#,
                r#""Dimensions":[["Reason"]],"Metrics":[{"Name":"Rejected","Unit":"Count"}]}]},"#,
                r#""level":"INFO","message":"delivery","requestId":"8f5e3f2a-1b2c-4d5e-8f90-123456789abc","#,
                r#""front_door":"apigw-v2","scheme":"genesys","delivery_id":"0b6a1c7e-3f2d-4a59-9e8b-2c4d6f8a0b1c","#,
                r#""outcome":"rejected","reason":"invalid_signature","store_ms":4.250,"#,
                r#""Rejected":1,"Reason":"invalid_signature"}"#,
                "\n"
            )
        );
    }

    #[test]
    fn a_count_is_a_dimensionless_document_through_the_sink() {
        Metrics::new("Counted").emit_count("SecretRefreshErrors");
        let kept = crate::sink::kept();
        let line = kept
            .lines()
            .find(|l| l.contains("\"Counted\""))
            .expect("the count reached the sink");
        let mut d: Value = serde_json::from_str(line).unwrap();
        assert!(d["_aws"]["Timestamp"].as_u64().unwrap() > 0);
        d["_aws"]["Timestamp"] = json!(0);
        assert_eq!(
            d,
            json!({
                "_aws": {
                    "Timestamp": 0,
                    "CloudWatchMetrics": [{
                        "Namespace": "Counted",
                        "Dimensions": [[]],
                        "Metrics": [{"Name": "SecretRefreshErrors", "Unit": "Count"}]
                    }]
                },
                "SecretRefreshErrors": 1
            })
        );
    }

    /// The size CloudWatch Logs bills for an accepted delivery, with a
    /// 36-character delivery id and request id, a store time of five
    /// significant digits, and one integration (so no `integration` field).
    #[test]
    fn an_accepted_line_is_at_most_400_bytes() {
        let outcome = Outcome::Accepted {
            delivery_id: UUID.into(),
        };
        let d = delivery(&outcome, Some(12.345));
        let line = Metrics::new("GenesysWebhook").line(&d, 1_764_158_189_123);
        let text = String::from_utf8_lossy(&line);
        assert!(line.len() <= 400, "{} bytes: {text}", line.len());
    }

    #[test]
    fn duplicate_and_store_errors() {
        let d = doc(
            Outcome::Duplicate {
                delivery_id: "d".into(),
            },
            Some(1.0),
        );
        assert_eq!(
            (d["Duplicate"].clone(), d["outcome"].clone()),
            (json!(1), json!("duplicate"))
        );
        let d = doc(
            Outcome::StoreUnavailable(StoreError("x".into())),
            Some(3000.0),
        );
        assert_eq!(d["StoreErrors"], 1);
        assert_eq!(
            d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "StoreErrors"
        );
        assert_eq!(d["store_ms"], 3000.0);
    }

    #[test]
    fn namespace_and_fields_are_escaped() {
        let outcome = Outcome::Duplicate {
            delivery_id: "d".into(),
        };
        let mut d = delivery(&outcome, None);
        d.delivery_id = Some("a\"b\n\\c");
        let v = parse(&Metrics::new("a\"b").line(&d, 0));
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "a\"b");
        assert_eq!(v["delivery_id"], "a\"b\n\\c");
    }

    #[test]
    fn rejected_has_a_reason_dimension_of_the_code_alone() {
        let outcome = Outcome::Rejected(RejectCode::InvalidSignature.because("no secret matches"));
        let mut d = delivery(&outcome, None);
        d.reason = Some("invalid_signature (no secret matches)");
        let d = parse(&Metrics::new("GenesysWebhook").line(&d, 0));
        assert_eq!(d["Rejected"], 1);
        assert_eq!(d["Reason"], "invalid_signature");
        assert_eq!(
            d["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Reason"]])
        );
        assert_eq!(d["reason"], "invalid_signature (no secret matches)");
        assert!(d.get("store_ms").is_none());
    }
}
