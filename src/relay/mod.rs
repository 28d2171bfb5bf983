//! The outbox relay: each delivery the function recorded, read from the
//! table's stream, becomes one event on the user's EventBridge bus.
//!
//! [`entry`] turns an item into an entry, [`body`] reads a body kept in S3
//! behind a claim check, [`publish`] puts entries on the bus
//! within its limits, and [`Relay`] answers a stream batch with the records
//! that must be tried again.

pub mod body;
pub mod entry;
pub mod metrics;
pub mod park;
pub mod publish;

use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use thiserror::Error;

use crate::clock::unix_now_ms;
use crate::config::{Timeouts, number, reader, timeout_variables};
use crate::error::{ConfigError, ConfigErrors, Problems};
use crate::outbox::OutboxItem;
use body::{BodyStore, Resolved, Resolver};
use entry::Entry;
use metrics::{RelayMetrics, Tally};
use park::{Cause, Facts, Parked, park};
use publish::{Bus, FailureQueue, MAX_REQUEST_BYTES, Published, TOO_LARGE};

/// The relay's settings, read once at init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    pub bus_name: String,
    pub source: String,
    /// Where entries the bus refuses for good go; without it they fail.
    pub failure_queue_url: Option<String>,
    pub metrics_namespace: String,
    pub timeouts: Timeouts,
    /// The largest entry, and request, sent to the bus.
    pub max_event_bytes: usize,
}

/// Every variable the relay reads, for documentation and its test.
pub const VARIABLES: &[&str] = &[
    "OUTBOX_BUS_NAME",
    "OUTBOX_SOURCE",
    "OUTBOX_TIMEOUT_MS",
    "OUTBOX_ATTEMPT_TIMEOUT_MS",
    "OUTBOX_CONNECT_TIMEOUT_MS",
    "OUTBOX_MAX_ATTEMPTS",
    "OUTBOX_MAX_EVENT_BYTES",
    "FAILED_DELIVERIES_QUEUE_URL",
    "METRICS_NAMESPACE",
];

impl RelayConfig {
    pub fn from_env() -> Result<Self, ConfigErrors> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// `lookup` returns a variable's value; an empty value counts as unset.
    /// Every problem is reported, not just the first.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigErrors> {
        let get = reader(VARIABLES, lookup);
        let mut problems = Problems::default();
        let bus_name = problems.take(
            get("OUTBOX_BUS_NAME")
                .ok_or_else(|| ConfigError::new("OUTBOX_BUS_NAME", "is required")),
        );
        let source = get("OUTBOX_SOURCE").unwrap_or_else(|| "genesys-webhook".into());
        if source.len() > 256 || source.starts_with("aws.") {
            problems.push(ConfigError::new(
                "OUTBOX_SOURCE",
                "must be at most 256 bytes and not start with aws.",
            ));
        }
        let bounds = Timeouts::read(
            &get,
            &mut problems,
            timeout_variables!("OUTBOX"),
            Timeouts::RELAY,
            60_000,
        );
        let max_event_bytes = problems.take(number(
            &get,
            "OUTBOX_MAX_EVENT_BYTES",
            MAX_REQUEST_BYTES,
            1_024,
            MAX_REQUEST_BYTES,
        ));
        let config = (|| {
            Some(Self {
                bus_name: bus_name?,
                source,
                failure_queue_url: get("FAILED_DELIVERIES_QUEUE_URL"),
                metrics_namespace: get("METRICS_NAMESPACE")
                    .unwrap_or_else(|| "GenesysWebhook".into()),
                timeouts: bounds.timeouts?,
                max_event_bytes: max_event_bytes?,
            })
        })();
        problems.finish(config)
    }
}

/// A batch the relay must not answer with item failures: Lambda retries it
/// whole (and bisects it, where the mapping says so).
#[derive(Debug, Error)]
pub enum RelayError {
    /// Every record failed, as Powertools' batch processor treats it.
    #[error("all {0} records failed to publish")]
    AllFailed(usize),
    /// A failed record without a sequence number cannot be reported alone.
    #[error("a failed record has no sequence number")]
    NoSequenceNumber,
}

impl From<RelayError> for lambda_runtime::Diagnostic {
    fn from(e: RelayError) -> Self {
        Self {
            error_type: "RelayFailed".into(),
            error_message: e.to_string(),
        }
    }
}

/// What the relay keeps of an item once its entry is built: enough to log
/// it, or to name it on the failure queue when its entry cannot go there.
struct Pending {
    sequence_number: Option<String>,
    facts: Facts,
}

pub struct Relay<B, Q, S> {
    bus: B,
    failure_queue: Option<Q>,
    bodies: S,
    source: String,
    max_event_bytes: usize,
    metrics: RelayMetrics,
}

impl<B: Bus, Q: FailureQueue, S: BodyStore> Relay<B, Q, S> {
    pub fn new(config: &RelayConfig, bus: B, failure_queue: Option<Q>, bodies: S) -> Self {
        Self {
            bus,
            failure_queue,
            bodies,
            source: config.source.clone(),
            max_event_bytes: config.max_event_bytes,
            metrics: RelayMetrics::new(&config.metrics_namespace),
        }
    }

    /// Publishes every INSERT and MODIFY of `event` and skips REMOVEs. Every
    /// record the bus did not accept, and that did not go to the failure
    /// queue instead, is reported by its sequence number; Lambda restarts
    /// from the lowest one. A body kept in S3 is fetched first: a missing or
    /// altered one is parked, one S3 cannot serve now is reported.
    pub async fn handle(&self, event: Event) -> Result<DynamoDbEventResponse, RelayError> {
        let total = event.records.len();
        let mut skipped = 0;
        let mut failed: Vec<Option<String>> = Vec::new();
        let mut pending = Vec::new();
        let mut entries = Vec::new();
        let mut tally = Tally::default();
        let mut resolver = Resolver::new(&self.bodies, &self.source, self.max_event_bytes);
        for record in event.records {
            let sequence_number = record.change.sequence_number;
            if record.event_name == "REMOVE" {
                skipped += 1;
                continue;
            }
            let item = match OutboxItem::from_image(record.change.new_image) {
                Ok(item) => item,
                Err(e) => {
                    tracing::warn!(sequence_number, reason = %e, "relay failed");
                    failed.push(sequence_number);
                    continue;
                }
            };
            let delivery_id = item.delivery_id.clone();
            let p = Pending {
                sequence_number,
                facts: Facts::of(&item),
            };
            let reason = match resolver.entry(item).await {
                Resolved::Ready(entry) => {
                    entries.push(entry);
                    pending.push(p);
                    continue;
                }
                Resolved::Park {
                    entry,
                    fault,
                    claim,
                } => match self.park(&entry, Cause::Body(&fault, &claim), &p).await {
                    Ok(()) => {
                        tally.parked += 1;
                        tally.body_faults += 1;
                        continue;
                    }
                    Err(reason) => reason,
                },
                Resolved::Retry(reason) => reason,
            };
            tracing::warn!(
                delivery_id,
                sequence_number = p.sequence_number,
                reason,
                "relay failed"
            );
            failed.push(p.sequence_number);
        }

        let results = publish::publish(&self.bus, &entries, self.max_event_bytes).await;
        let published_at_ms = unix_now_ms();
        for ((entry, p), result) in entries.iter().zip(&pending).zip(results) {
            let reason = match result {
                Published::Accepted => {
                    tally.relayed += 1;
                    let received_ms = u64::try_from(entry.time).unwrap_or(0) * 1_000;
                    tally
                        .lag_ms
                        .push(published_at_ms.saturating_sub(received_ms));
                    continue;
                }
                Published::Refused(refusal) => {
                    match self.park(entry, Cause::Bus(&refusal), p).await {
                        Ok(()) => {
                            tally.parked += 1;
                            tally.oversize += usize::from(refusal.code == TOO_LARGE);
                            continue;
                        }
                        Err(reason) => reason,
                    }
                }
                Published::Retry(reason) => reason,
            };
            tracing::warn!(
                delivery_id = entry.delivery_id,
                sequence_number = p.sequence_number,
                reason,
                "relay failed"
            );
            failed.push(p.sequence_number.clone());
        }
        tally.failed = failed.len();
        tracing::info!(
            records = total,
            relayed = tally.relayed,
            failed = tally.failed,
            parked = tally.parked,
            oversize = tally.oversize,
            body_faults = tally.body_faults,
            skipped,
            max_lag_ms = tally.lag_ms.iter().max(),
            "batch"
        );
        self.metrics.emit(&tally);

        if !failed.is_empty() && failed.len() == total {
            return Err(RelayError::AllFailed(total));
        }
        let batch_item_failures = failed
            .into_iter()
            .map(|seq| {
                seq.map(|s| {
                    let mut f = DynamoDbBatchItemFailure::default();
                    f.item_identifier = Some(s);
                    f
                })
                .ok_or(RelayError::NoSequenceNumber)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut response = DynamoDbEventResponse::default();
        response.batch_item_failures = batch_item_failures;
        Ok(response)
    }

    /// Parks an entry the bus refused for good, or whose body cannot be
    /// published. `Err` says why it could not be parked, and the record is
    /// then reported failed.
    async fn park(&self, entry: &Entry, cause: Cause<'_>, p: &Pending) -> Result<(), String> {
        let code = cause.code();
        let claim = match cause {
            Cause::Body(_, claim) => Some(claim),
            Cause::Bus(_) => None,
        };
        let Some(queue) = &self.failure_queue else {
            return Err(format!("{code}, and no failure queue"));
        };
        let parked = park(queue, entry, cause, &p.facts)
            .await
            .map_err(|e| format!("{code}, and the failure queue failed: {e}"))?;
        tracing::warn!(
            delivery_id = entry.delivery_id,
            sequence_number = p.sequence_number,
            reason = cause.reason(),
            code,
            bucket = claim.map(|c| c.bucket.as_str()),
            key = claim.map(|c| c.key.as_str()),
            entry_bytes = entry.size(),
            whole = parked == Parked::Whole,
            "parked on the failure queue"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::body::tests::FakeBodies;
    use super::publish::QueueError;
    use super::publish::tests::FakeBus;
    use super::*;
    use serde_json::json;
    use std::sync::Mutex;

    #[derive(Default)]
    struct FakeQueue {
        sent: Mutex<Vec<String>>,
        refuse_over: Option<usize>,
        down: bool,
    }

    impl FailureQueue for FakeQueue {
        async fn send(&self, body: String) -> Result<(), QueueError> {
            if self.down {
                return Err(QueueError::Unavailable("connection refused".into()));
            }
            if self.refuse_over.is_some_and(|n| body.len() > n) {
                return Err(QueueError::Refused("InvalidMessageContents".into()));
            }
            self.sent.lock().unwrap().push(body);
            Ok(())
        }
    }

    /// A relay over `bus` with no failure queue and no stored bodies.
    fn unparked(bus: FakeBus) -> Relay<FakeBus, FakeQueue, FakeBodies> {
        Relay::new(&config(MAX_REQUEST_BYTES), bus, None, FakeBodies::default())
    }

    fn config(max_event_bytes: usize) -> RelayConfig {
        RelayConfig {
            max_event_bytes,
            ..RelayConfig::from_lookup(|k| (k == "OUTBOX_BUS_NAME").then(|| "bus".into())).unwrap()
        }
    }

    fn record(name: &str, seq: &str, id: &str, body: &str) -> serde_json::Value {
        use base64::Engine as _;
        json!({
            "eventID": seq,
            "eventName": name,
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": 1_795_521_600.0,
                "Keys": {"pk": {"S": id}},
                "NewImage": if name == "REMOVE" { json!(null) } else { json!({
                    "pk": {"S": id},
                    "received_at": {"S": "2026-11-24T12:00:00Z"},
                    "front_door": {"S": "apigw-v2"},
                    "scheme": {"S": "genesys"},
                    "body": {"B": base64::engine::general_purpose::STANDARD.encode(body)},
                    "expires_at": {"N": "1795526000"}
                })},
                "SequenceNumber": seq,
                "SizeBytes": 100,
                "StreamViewType": "NEW_IMAGE"
            }
        })
    }

    fn event(records: Vec<serde_json::Value>) -> Event {
        serde_json::from_value(json!({ "Records": records })).unwrap()
    }

    fn reported(r: &DynamoDbEventResponse) -> Vec<&str> {
        r.batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_deref().unwrap())
            .collect()
    }

    #[test]
    fn config_needs_a_bus_and_bounds_its_numbers() {
        let e = RelayConfig::from_lookup(|_| None).unwrap_err();
        assert_eq!(e.vars(), ["OUTBOX_BUS_NAME"]);
        let c = config(MAX_REQUEST_BYTES);
        assert_eq!(c.source, "genesys-webhook");
        assert_eq!(c.failure_queue_url, None);
        assert_eq!(c.timeouts, Timeouts::RELAY);
        for (var, value) in [
            ("OUTBOX_TIMEOUT_MS", "7"),
            ("OUTBOX_TIMEOUT_MS", "60001"),
            ("OUTBOX_ATTEMPT_TIMEOUT_MS", "6000"),
            ("OUTBOX_MAX_ATTEMPTS", "11"),
            ("OUTBOX_MAX_EVENT_BYTES", "1000001"),
            ("OUTBOX_SOURCE", "aws.events"),
        ] {
            let e = RelayConfig::from_lookup(|k| match k {
                "OUTBOX_BUS_NAME" => Some("bus".into()),
                k if k == var => Some(value.into()),
                _ => None,
            })
            .unwrap_err();
            assert_eq!(e.vars(), [var]);
            assert!(!e.to_string().contains(value), "{e}");
        }
    }

    #[tokio::test]
    async fn removes_are_skipped_and_the_rest_published() {
        let relay = unparked(FakeBus::default());
        let answer = relay
            .handle(event(vec![
                record("INSERT", "100", "a", "{}"),
                record("REMOVE", "200", "a", ""),
                record("MODIFY", "300", "b", "[]"),
            ]))
            .await
            .unwrap();
        assert!(answer.batch_item_failures.is_empty());
        assert_eq!(*relay.bus.requests.lock().unwrap(), vec![vec!["a", "b"]]);
    }

    #[tokio::test]
    async fn exactly_the_refused_records_are_reported() {
        let bus = FakeBus {
            refuse: vec![("b", "InternalFailure"), ("d", "ThrottlingException")],
            ..FakeBus::default()
        };
        let relay = unparked(bus);
        let answer = relay
            .handle(event(vec![
                record("INSERT", "1", "a", "{}"),
                record("INSERT", "2", "b", "{}"),
                record("INSERT", "3", "c", "{}"),
                record("MODIFY", "4", "d", "{}"),
            ]))
            .await
            .unwrap();
        assert_eq!(reported(&answer), ["2", "4"]);
    }

    #[tokio::test]
    async fn an_unreadable_item_is_reported_not_published() {
        let mut broken = record("INSERT", "7", "x", "{}");
        broken["dynamodb"]["NewImage"]["body"] = json!({"S": "not binary"});
        let relay = unparked(FakeBus::default());
        let answer = relay
            .handle(event(vec![record("INSERT", "6", "ok", "{}"), broken]))
            .await
            .unwrap();
        assert_eq!(reported(&answer), ["7"]);
        assert_eq!(*relay.bus.requests.lock().unwrap(), vec![vec!["ok"]]);
    }

    #[tokio::test]
    async fn a_batch_that_failed_whole_is_an_error() {
        let bus = FakeBus {
            down: true,
            ..FakeBus::default()
        };
        let relay = unparked(bus);
        let e = relay
            .handle(event(vec![
                record("INSERT", "1", "a", "{}"),
                record("INSERT", "2", "b", "{}"),
            ]))
            .await
            .unwrap_err();
        assert!(matches!(e, RelayError::AllFailed(2)));
    }

    #[tokio::test]
    async fn an_oversize_entry_goes_whole_to_the_failure_queue() {
        let big = format!("{{\"text\":\"{}\"}}", "é".repeat(800));
        let queue = FakeQueue::default();
        let relay = Relay::new(
            &config(1_024),
            FakeBus::default(),
            Some(queue),
            FakeBodies::default(),
        );
        let answer = relay
            .handle(event(vec![
                record("INSERT", "1", "small", "{}"),
                record("INSERT", "2", "big", &big),
            ]))
            .await
            .unwrap();
        assert!(answer.batch_item_failures.is_empty());
        assert_eq!(*relay.bus.requests.lock().unwrap(), vec![vec!["small"]]);
        let sent = relay.failure_queue.as_ref().unwrap().sent.lock().unwrap();
        assert_eq!(sent.len(), 1);
        let msg: serde_json::Value = serde_json::from_str(&sent[0]).unwrap();
        assert_eq!(msg["reason"], "too_large");
        assert_eq!(msg["entry"]["deliveryId"], "big");
        assert_eq!(msg["entry"]["detail"]["body"]["text"], "é".repeat(800));
        assert!(sent[0].contains(&big));
    }

    #[tokio::test]
    async fn the_key_alone_when_the_queue_cannot_hold_the_entry() {
        let big = format!("{{\"text\":\"{}\"}}", "x".repeat(3_000));
        let queue = FakeQueue {
            refuse_over: Some(2_000),
            ..FakeQueue::default()
        };
        let relay = Relay::new(
            &config(1_024),
            FakeBus::default(),
            Some(queue),
            FakeBodies::default(),
        );
        let answer = relay
            .handle(event(vec![record("INSERT", "1", "big", &big)]))
            .await
            .unwrap();
        assert!(answer.batch_item_failures.is_empty());
        let sent = relay.failure_queue.as_ref().unwrap().sent.lock().unwrap();
        let msg: serde_json::Value = serde_json::from_str(&sent[0]).unwrap();
        assert_eq!(msg["entryOmitted"], true);
        assert_eq!(msg["deliveryId"], "big");
        assert_eq!(msg["receivedAt"], "2026-11-24T12:00:00Z");
        assert_eq!(msg["bodyBytes"], big.len());
        assert!(!sent[0].contains("xxxx"));
    }

    #[tokio::test]
    async fn without_a_failure_queue_an_oversize_entry_fails() {
        let big = format!("{{\"text\":\"{}\"}}", "x".repeat(3_000));
        let relay = Relay::new(
            &config(1_024),
            FakeBus::default(),
            None::<FakeQueue>,
            FakeBodies::default(),
        );
        let answer = relay
            .handle(event(vec![
                record("INSERT", "1", "big", &big),
                record("INSERT", "2", "small", "{}"),
            ]))
            .await
            .unwrap();
        assert_eq!(reported(&answer), ["1"]);
    }

    #[tokio::test]
    async fn a_permanent_refusal_is_parked_not_reported_and_neighbours_are_unaffected() {
        let bus = FakeBus {
            refuse: vec![("b", "MalformedDetail"), ("c", "SomeFutureCode")],
            ..FakeBus::default()
        };
        let relay = Relay::new(
            &config(MAX_REQUEST_BYTES),
            bus,
            Some(FakeQueue::default()),
            FakeBodies::default(),
        );
        let answer = relay
            .handle(event(vec![
                record("INSERT", "1", "a", "{}"),
                record("INSERT", "2", "b", "{}"),
                record("INSERT", "3", "c", "{}"),
            ]))
            .await
            .unwrap();
        assert!(answer.batch_item_failures.is_empty());
        assert_eq!(
            *relay.bus.requests.lock().unwrap(),
            vec![vec!["a", "b", "c"]]
        );
        let sent = relay.failure_queue.as_ref().unwrap().sent.lock().unwrap();
        let parked: Vec<serde_json::Value> = sent
            .iter()
            .map(|m| serde_json::from_str(m).unwrap())
            .collect();
        assert_eq!(parked.len(), 2);
        assert_eq!(parked[0]["errorCode"], "MalformedDetail");
        assert_eq!(parked[0]["errorMessage"], "MalformedDetail for b");
        assert_eq!(parked[0]["entry"]["deliveryId"], "b");
        assert_eq!(parked[1]["errorCode"], "SomeFutureCode");
    }

    #[tokio::test]
    async fn a_refusal_that_cannot_be_parked_is_reported() {
        let down = FakeQueue {
            down: true,
            ..FakeQueue::default()
        };
        for queue in [Some(down), None] {
            let bus = FakeBus {
                refuse: vec![("b", "InvalidArgument")],
                ..FakeBus::default()
            };
            let relay = Relay::new(
                &config(MAX_REQUEST_BYTES),
                bus,
                queue,
                FakeBodies::default(),
            );
            let answer = relay
                .handle(event(vec![
                    record("INSERT", "1", "a", "{}"),
                    record("INSERT", "2", "b", "{}"),
                ]))
                .await
                .unwrap();
            assert_eq!(reported(&answer), ["2"]);
        }
    }
}
