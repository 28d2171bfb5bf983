//! The pipeline: envelope → verify → dedup → respond, one delivery at a time.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use http::HeaderName;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::dedup::{Record, Recorded, Store};
use crate::envelope::{self, Delivery, FrontDoor, HttpDelivery, PartnerEvent};
use crate::error::{InvocationError, Reject, RejectCode};
use crate::metrics::Metrics;
use crate::respond::{self, Outcome, Reply};
use crate::verify::Scheme;

/// Longest delivery id kept; DynamoDB allows 2048 bytes, real ids are UUIDs.
pub const MAX_DELIVERY_ID_BYTES: usize = 256;

/// The `scheme` recorded for partner events, which carry no signature.
pub const PARTNER_SCHEME: &str = "partner-source";

pub struct Handler<S> {
    scheme: Box<dyn Scheme>,
    store: S,
    delivery_id_header: HeaderName,
    max_body_bytes: usize,
    source_prefix: String,
    retry_after_seconds: u32,
    metrics: Metrics,
}

impl<S: Store> Handler<S> {
    pub fn new(config: &Config, scheme: Box<dyn Scheme>, store: S) -> Self {
        Self {
            scheme,
            store,
            delivery_id_header: config.delivery_id_header.clone(),
            max_body_bytes: config.max_body_bytes,
            source_prefix: config.eventbridge_source_prefix.clone(),
            retry_after_seconds: config.retry_after_seconds,
            metrics: Metrics::new(&config.metrics_namespace),
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// `event` is the invocation's JSON exactly as the runtime received it.
    pub async fn handle(&self, event: &str) -> Result<Reply, InvocationError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.handle_at(event, now).await
    }

    /// `now` is Unix seconds: the clock for timestamps and expiry.
    pub async fn handle_at(&self, event: &str, now: i64) -> Result<Reply, InvocationError> {
        let Some((door, delivery)) = envelope::decode(event, self.max_body_bytes) else {
            tracing::warn!(
                outcome = "invocation_error",
                "event is not from any front door"
            );
            return Err(InvocationError::UnknownEvent);
        };
        let outcome = match delivery {
            Err(reject) => Outcome::Rejected(reject),
            Ok(Delivery::Http(d)) => self.http(&d, now).await,
            Ok(Delivery::Partner(p)) => self.partner(&p, now).await,
        };
        respond::reply(door, outcome, self.retry_after_seconds)
    }

    async fn http(&self, delivery: &HttpDelivery, now: i64) -> Outcome {
        let scheme = self.scheme.name().as_str();
        let door = delivery.front_door.as_str();
        if let Err(reject) = self.scheme.verify(delivery, now) {
            return self.log(door, scheme, None, Outcome::Rejected(reject), None);
        }
        let body_sha256 = hex::encode(Sha256::digest(&delivery.body));
        let delivery_id = match self.delivery_id(delivery, &body_sha256) {
            Ok(id) => id,
            Err(reject) => return self.log(door, scheme, None, Outcome::Rejected(reject), None),
        };
        let topic = topic_of(&delivery.body);
        let record = Record {
            delivery_id: &delivery_id,
            body: &delivery.body,
            body_sha256: &body_sha256,
            front_door: door,
            scheme,
            topic: topic.as_deref(),
            detail_type: None,
            received_at: now,
        };
        self.record(record).await
    }

    async fn partner(&self, event: &PartnerEvent, now: i64) -> Outcome {
        let door = FrontDoor::EventBridge.as_str();
        if !event.source.starts_with(&self.source_prefix) {
            let reject =
                RejectCode::ForbiddenSource.because("source outside EVENTBRIDGE_SOURCE_PREFIX");
            return self.log(
                door,
                PARTNER_SCHEME,
                Some(&event.id),
                Outcome::Rejected(reject),
                None,
            );
        }
        if event.id.len() > MAX_DELIVERY_ID_BYTES {
            let reject = RejectCode::Malformed.because("event id too long");
            return self.log(door, PARTNER_SCHEME, None, Outcome::Rejected(reject), None);
        }
        let body_sha256 = hex::encode(Sha256::digest(&event.detail));
        let record = Record {
            delivery_id: &event.id,
            body: &event.detail,
            body_sha256: &body_sha256,
            front_door: door,
            scheme: PARTNER_SCHEME,
            topic: event.topic.as_deref(),
            detail_type: Some(&event.detail_type),
            received_at: now,
        };
        self.record(record).await
    }

    /// The scheme's signed id, else the delivery-id header where the scheme
    /// honours one, else a hash of the exact body (Open Messaging sends no id,
    /// and a message and its receipts share `id`).
    fn delivery_id(&self, d: &HttpDelivery, body_sha256: &str) -> Result<String, Reject> {
        let named = match self.scheme.delivery_id(d)? {
            Some(id) if !id.is_empty() => Some(id),
            _ if self.scheme.honours_id_header() => d
                .header(&self.delivery_id_header)?
                .filter(|id| !id.is_empty()),
            _ => None,
        };
        match named {
            Some(id) if id.len() > MAX_DELIVERY_ID_BYTES => {
                Err(RejectCode::Malformed.because("delivery id too long"))
            }
            Some(id) => Ok(id.to_owned()),
            None => Ok(format!("sha256:{body_sha256}")),
        }
    }

    /// One log line and one metrics document per delivery. Never a secret, a
    /// signature value or a body.
    fn log(
        &self,
        front_door: &str,
        scheme: &str,
        delivery_id: Option<&str>,
        outcome: Outcome,
        store_ms: Option<f64>,
    ) -> Outcome {
        let reason = match &outcome {
            Outcome::Rejected(r) => Some(r.to_string()),
            Outcome::StoreUnavailable(e) => Some(e.to_string()),
            _ => None,
        };
        tracing::info!(
            front_door,
            scheme,
            delivery_id,
            outcome = outcome.label(),
            reason,
            store_ms,
            "delivery"
        );
        self.metrics.emit(&outcome, store_ms);
        outcome
    }

    async fn record(&self, record: Record<'_>) -> Outcome {
        let started = Instant::now();
        let result = self.store.record(&record).await;
        let store_ms = started.elapsed().as_secs_f64() * 1e3;
        let id = record.delivery_id.to_owned();
        let outcome = match result {
            Ok(Recorded::Accepted) => Outcome::Accepted { delivery_id: id },
            Ok(Recorded::Duplicate { same_content }) => {
                if !same_content {
                    tracing::warn!(
                        delivery_id = record.delivery_id,
                        "delivery-id collision: same id, different content; answered duplicate"
                    );
                }
                Outcome::Duplicate { delivery_id: id }
            }
            Err(e) => Outcome::StoreUnavailable(e),
        };
        self.log(
            record.front_door,
            record.scheme,
            Some(record.delivery_id),
            outcome,
            Some(store_ms),
        )
    }
}

/// The Genesys topic (`topicName`) or message type (`type`) of a JSON body,
/// for consumers filtering the outbox; `None` for anything else.
fn topic_of(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Peek {
        #[serde(rename = "topicName")]
        topic_name: Option<String>,
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    if body.first() != Some(&b'{') {
        return None;
    }
    let peek: Peek = serde_json::from_slice(body).ok()?;
    peek.topic_name.or(peek.kind).filter(|t| t.len() <= 256)
}
