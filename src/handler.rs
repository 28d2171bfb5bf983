//! The pipeline: envelope → verify → dedup → respond, one delivery at a time.

use std::time::Instant;

use http::HeaderName;
use sha2::{Digest, Sha256};

use crate::clock::unix_now;
use crate::config::Config;
use crate::dedup::{Record, Recorded, Store};
use crate::envelope::{
    self, Decoded, HttpDelivery, Limits, MAX_DELIVERY_ID_BYTES, PARTNER_SCHEME, PartnerEvent,
};
use crate::error::{InvocationError, Reject, RejectCode};
use crate::metrics::Metrics;
use crate::outcome::Outcome;
use crate::respond::{self, Reply};
use crate::verify::Scheme;
use crate::verify::diagnose::{self, Diagnosis};

pub struct Handler<S> {
    scheme: Box<dyn Scheme>,
    store: S,
    delivery_id_header: HeaderName,
    limits: Limits,
    retry_after_seconds: u32,
    metrics: Metrics,
}

/// What one delivery's log line and metrics document say.
struct Report<'a> {
    front_door: &'static str,
    scheme: &'static str,
    delivery_id: Option<&'a str>,
    outcome: Outcome,
    /// How long the store write took, when one was made.
    store_ms: Option<f64>,
    /// Why a signature failed, for the log's `reason`.
    diagnosis: Option<Diagnosis>,
}

impl<S: Store> Handler<S> {
    pub fn new(config: &Config, scheme: Box<dyn Scheme>, store: S) -> Self {
        Self {
            scheme,
            store,
            delivery_id_header: config.delivery_id_header.clone(),
            limits: config.limits.clone(),
            retry_after_seconds: config.retry_after_seconds,
            metrics: Metrics::new(&config.metrics_namespace),
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// `event` is the invocation's JSON exactly as the runtime received it.
    pub async fn handle(&self, event: &str) -> Result<Reply, InvocationError> {
        self.handle_at(event, unix_now()).await
    }

    /// `now` is Unix seconds: the clock for timestamps and expiry.
    pub async fn handle_at(&self, event: &str, now: i64) -> Result<Reply, InvocationError> {
        let Some(decoded) = envelope::decode(event, &self.limits) else {
            tracing::warn!(
                outcome = "invocation_error",
                "event is not from any front door"
            );
            return Err(InvocationError::UnknownEvent);
        };
        let front_door = decoded.front_door();
        let outcome = match decoded {
            Decoded::Http(d) => self.verify_and_record(&d, now).await,
            Decoded::Partner(p) => self.record_partner_event(&p, now).await,
            Decoded::Refused { reject, .. } => self.report(Report {
                front_door: front_door.as_str(),
                scheme: self.scheme_recorded(front_door),
                delivery_id: None,
                outcome: Outcome::Rejected(reject),
                store_ms: None,
                diagnosis: None,
            }),
        };
        respond::reply(front_door, outcome, self.retry_after_seconds)
    }

    fn scheme_recorded(&self, door: envelope::FrontDoor) -> &'static str {
        match door {
            envelope::FrontDoor::EventBridge => PARTNER_SCHEME,
            _ => self.scheme.name().as_str(),
        }
    }

    async fn verify_and_record(&self, delivery: &HttpDelivery, now: i64) -> Outcome {
        let scheme = self.scheme.name().as_str();
        let front_door = delivery.front_door.as_str();
        let rejected = |reject, diagnosis| Report {
            front_door,
            scheme,
            delivery_id: None,
            outcome: Outcome::Rejected(reject),
            store_ms: None,
            diagnosis,
        };
        if let Err(reject) = self.scheme.verify(delivery, now) {
            let diagnosis = diagnose::diagnose(&*self.scheme, delivery, &reject, now, &[]);
            return self.report(rejected(reject, diagnosis));
        }
        let body_sha256 = hex::encode(Sha256::digest(&delivery.body));
        let delivery_id = match self.delivery_id(delivery, &body_sha256) {
            Ok(id) => id,
            Err(reject) => return self.report(rejected(reject, None)),
        };
        let topic = envelope::topic(&delivery.body);
        let record = Record {
            delivery_id: &delivery_id,
            body: &delivery.body,
            body_sha256: &body_sha256,
            front_door,
            scheme,
            topic: topic.as_deref(),
            detail_type: None,
            received_at: now,
        };
        self.record(record).await
    }

    async fn record_partner_event(&self, event: &PartnerEvent, now: i64) -> Outcome {
        let body_sha256 = hex::encode(Sha256::digest(&event.detail));
        let record = Record {
            delivery_id: &event.id,
            body: &event.detail,
            body_sha256: &body_sha256,
            front_door: envelope::FrontDoor::EventBridge.as_str(),
            scheme: PARTNER_SCHEME,
            topic: event.topic.as_deref(),
            detail_type: Some(&event.detail_type),
            received_at: now,
        };
        self.record(record).await
    }

    /// The scheme's signed id, else the delivery-id header where the scheme
    /// honours one, else a hash of the exact body (Open Messaging sends no id,
    /// and a message and its receipts share `id`). A comma in the header is
    /// a repeat that HTTP API or a Function URL joined, never an id.
    fn delivery_id(&self, d: &HttpDelivery, body_sha256: &str) -> Result<String, Reject> {
        let named = match self.scheme.delivery_id(d)? {
            Some(id) if !id.is_empty() => Some(id),
            _ if self.scheme.honours_id_header() => d
                .header(&self.delivery_id_header)?
                .filter(|id| !id.is_empty()),
            _ => None,
        };
        match named {
            Some(id) if id.contains(',') => {
                Err(RejectCode::Malformed.because("delivery-id header repeated"))
            }
            Some(id) if id.len() > MAX_DELIVERY_ID_BYTES => {
                Err(RejectCode::Malformed.because("delivery id too long"))
            }
            Some(id) => Ok(id.to_owned()),
            None => Ok(format!("sha256:{body_sha256}")),
        }
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
            Ok(Recorded::TooLarge) => {
                Outcome::Rejected(RejectCode::TooLarge.because("item over the store's size limit"))
            }
            Err(e) => Outcome::StoreUnavailable(e),
        };
        self.report(Report {
            front_door: record.front_door,
            scheme: record.scheme,
            delivery_id: Some(record.delivery_id),
            outcome,
            store_ms: Some(store_ms),
            diagnosis: None,
        })
    }

    /// Writes one delivery's log line and metrics document, and hands its
    /// outcome on. Never a secret, a signature value or a body.
    fn report(&self, report: Report<'_>) -> Outcome {
        let Report {
            front_door,
            scheme,
            delivery_id,
            outcome,
            store_ms,
            diagnosis,
        } = report;
        let reason = match (&outcome, diagnosis) {
            (Outcome::Rejected(r), Some(d)) => Some(format!("{} ({d})", r.code.as_str())),
            (Outcome::Rejected(r), None) => Some(r.to_string()),
            (Outcome::StoreUnavailable(e), _) => Some(e.to_string()),
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
}
