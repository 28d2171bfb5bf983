//! The pipeline: envelope → verify → dedup → respond, one delivery at a time.

use std::time::Instant;

use futures_util::future::join_all;

use http::HeaderName;
use sha2::{Digest, Sha256};

use crate::clock::unix_now;
use crate::config::Config;
use crate::dedup::{Record, Recorded, Store};
use crate::envelope::{
    self, Decoded, HttpDelivery, Limits, MAX_DELIVERY_ID_BYTES, PARTNER_QUEUE, PARTNER_SCHEME,
    PartnerEvent, Queued, Read,
};
use crate::error::{InvocationError, Reject, RejectCode};
use crate::metrics::{Delivery, Metrics};
use crate::outcome::Outcome;
use crate::respond::{self, Reply};
use crate::verify::diagnose::{self, Diagnosis};
use crate::verify::{LiveKeyring, Refresh, Scheme};

/// Store writes in flight at once for a partner queue batch: the template's
/// `BatchSize`. A larger batch, which only a direct invoke can send, is
/// written this many at a time.
const WRITES_AT_ONCE: usize = 10;

pub struct Handler<S> {
    keys: LiveKeyring,
    store: S,
    delivery_id_header: HeaderName,
    limits: Limits,
    retry_after_seconds: u32,
    metrics: Metrics,
}

/// What one delivery's line says.
struct Report<'a> {
    request_id: Option<&'a str>,
    front_door: &'static str,
    scheme: &'static str,
    integration: Option<&'a str>,
    delivery_id: Option<&'a str>,
    /// The partner queue's id of the message the delivery came in.
    message_id: Option<&'a str>,
    outcome: Outcome,
    /// How long the store write took, when one was made.
    store_ms: Option<f64>,
    /// Why a signature failed, for the line's `reason`.
    diagnosis: Option<Diagnosis>,
}

impl<S: Store> Handler<S> {
    pub fn new(config: &Config, keys: LiveKeyring, store: S) -> Self {
        Self {
            keys,
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

    /// `event` is the invocation's bytes exactly as Lambda sent them;
    /// `request_id` is Lambda's, named in the delivery's line.
    pub async fn handle(&self, event: &[u8], request_id: &str) -> Result<Reply, InvocationError> {
        self.invoke(event, unix_now(), Some(request_id)).await
    }

    /// `now` is Unix seconds: the clock for timestamps and expiry.
    pub async fn handle_at(
        &self,
        event: impl AsRef<[u8]>,
        now: i64,
    ) -> Result<Reply, InvocationError> {
        self.invoke(event.as_ref(), now, None).await
    }

    async fn invoke(
        &self,
        event: &[u8],
        now: i64,
        request_id: Option<&str>,
    ) -> Result<Reply, InvocationError> {
        let decoded = match envelope::read(event, &self.limits) {
            Some(Read::One(decoded)) => decoded,
            Some(Read::Batch(batch)) => return self.record_batch(batch, now, request_id).await,
            None => {
                tracing::warn!(
                    outcome = "invocation_error",
                    "event is not from any front door"
                );
                return Err(InvocationError::UnknownEvent);
            }
        };
        let front_door = decoded.front_door();
        let outcome = match decoded {
            Decoded::Http(d) => self.verify_and_record(&d, now, request_id).await,
            Decoded::Partner(p) => {
                self.record_partner_event(&p, front_door.as_str(), None, now, request_id)
                    .await
            }
            Decoded::Refused { reject, .. } => {
                let scheme = self.scheme_recorded(front_door);
                self.refused(front_door.as_str(), scheme, None, reject, request_id)
            }
        };
        let message_id = self.keys.get().scheme_name().answers_message_id();
        respond::reply(front_door, outcome, self.retry_after_seconds, message_id)
    }

    /// Records each message of a partner queue batch, the mapping's batch at
    /// once so a slow store costs one store timeout rather than one per
    /// message, and lists those not acknowledged. A message that cannot be named fails the whole
    /// batch: nothing in it is acknowledged.
    async fn record_batch(
        &self,
        batch: Result<Vec<Queued>, Reject>,
        now: i64,
        request_id: Option<&str>,
    ) -> Result<Reply, InvocationError> {
        let batch = batch.map_err(|reject| {
            self.refused(PARTNER_QUEUE, PARTNER_SCHEME, None, reject, request_id);
            InvocationError::PartnerRefused(reject)
        })?;
        let mut outcomes = Vec::with_capacity(batch.len());
        for chunk in batch.chunks(WRITES_AT_ONCE) {
            let writes = chunk.iter().map(|q| self.record_queued(q, now, request_id));
            outcomes.extend(join_all(writes).await);
        }
        let ids = batch.iter().map(|q| q.message_id.as_str());
        Ok(respond::batch(ids.zip(&outcomes)))
    }

    async fn record_queued(&self, queued: &Queued, now: i64, request_id: Option<&str>) -> Outcome {
        let message_id = Some(queued.message_id.as_str());
        match &queued.event {
            Ok(event) => {
                self.record_partner_event(event, PARTNER_QUEUE, message_id, now, request_id)
                    .await
            }
            Err(reject) => self.refused(
                PARTNER_QUEUE,
                PARTNER_SCHEME,
                message_id,
                *reject,
                request_id,
            ),
        }
    }

    /// The line and outcome of an event refused before it was verified.
    fn refused(
        &self,
        front_door: &'static str,
        scheme: &'static str,
        message_id: Option<&str>,
        reject: Reject,
        request_id: Option<&str>,
    ) -> Outcome {
        self.report(Report {
            request_id,
            front_door,
            scheme,
            integration: None,
            delivery_id: None,
            message_id,
            outcome: Outcome::Rejected(reject),
            store_ms: None,
            diagnosis: None,
        })
    }

    fn scheme_recorded(&self, door: envelope::FrontDoor) -> &'static str {
        match door {
            envelope::FrontDoor::EventBridge => PARTNER_SCHEME,
            _ => self.keys.get().scheme_name().as_str(),
        }
    }

    async fn verify_and_record(
        &self,
        delivery: &HttpDelivery,
        now: i64,
        request_id: Option<&str>,
    ) -> Outcome {
        self.note_refresh(self.keys.refresh_if_stale(now).await);
        let mut keyring = self.keys.get();
        let scheme = keyring.scheme_name().as_str();
        let front_door = delivery.front_door.as_str();
        let rejected = |integration, reject, diagnosis| Report {
            request_id,
            front_door,
            scheme,
            integration,
            delivery_id: None,
            message_id: None,
            outcome: Outcome::Rejected(reject),
            store_ms: None,
            diagnosis,
        };
        let mut verified = keyring
            .for_path(&delivery.path)
            .and_then(|(_, s)| s.verify(delivery, now));
        // The secret may have been rotated, or an integration added, since it
        // was read: read it again (at most once per recheck interval) before
        // refusing for good.
        if verified.is_err_and(|r| {
            matches!(
                r.code,
                RejectCode::InvalidSignature | RejectCode::UnknownIntegration
            )
        }) {
            let refresh = self.keys.recheck(now).await;
            if matches!(refresh, Refresh::Done) {
                keyring = self.keys.get();
                verified = keyring
                    .for_path(&delivery.path)
                    .and_then(|(_, s)| s.verify(delivery, now));
            }
            self.note_refresh(refresh);
        }
        let (integration, scheme_keyed) = match keyring.for_path(&delivery.path) {
            Ok(found) => found,
            Err(reject) => return self.report(rejected(None, reject, None)),
        };
        if let Err(reject) = verified {
            let others = keyring.other_integrations(integration);
            let pin = keyring.settings();
            let diagnosis =
                diagnose::diagnose(pin, scheme_keyed.keys(), delivery, &reject, now, &others);
            return self.report(rejected(integration, reject, diagnosis));
        }
        let delivery_id = match self.delivery_id(scheme_keyed, delivery) {
            Ok(id) => id,
            Err(reject) => return self.report(rejected(integration, reject, None)),
        };
        let topic = envelope::topic(&delivery.body);
        let record = Record {
            delivery_id: &delivery_id,
            body: &delivery.body,
            front_door,
            scheme,
            topic: topic.as_deref(),
            detail_type: None,
            integration,
            received_at: now,
        };
        self.record(record, None, request_id).await
    }

    /// Logs and counts a failed read of the secret; the held keys stay.
    fn note_refresh(&self, refresh: Refresh) {
        if let Refresh::Failed(e) = refresh {
            tracing::warn!(error = %e, "secret refresh failed; keeping the secrets held");
            self.metrics.emit_count("SecretRefreshErrors");
        }
    }

    async fn record_partner_event(
        &self,
        event: &PartnerEvent,
        front_door: &'static str,
        message_id: Option<&str>,
        now: i64,
        request_id: Option<&str>,
    ) -> Outcome {
        let record = Record {
            delivery_id: &event.id,
            body: &event.detail,
            front_door,
            scheme: PARTNER_SCHEME,
            topic: event.topic.as_deref(),
            detail_type: Some(&event.detail_type),
            integration: None,
            received_at: now,
        };
        self.record(record, message_id, request_id).await
    }

    /// The scheme's signed id, else the delivery-id header where the scheme
    /// honours one, else a hash of the exact body (Open Messaging sends no id,
    /// and a message and its receipts share `id`). A comma in the header is
    /// a repeat that HTTP API or a Function URL joined, never an id.
    fn delivery_id(&self, scheme: &dyn Scheme, d: &HttpDelivery) -> Result<String, Reject> {
        let named = match scheme.delivery_id(d)? {
            Some(id) if !id.is_empty() => Some(id),
            _ if scheme.honours_id_header() => d
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
            None => Ok(format!("sha256:{}", hex::encode(Sha256::digest(&d.body)))),
        }
    }

    async fn record(
        &self,
        record: Record<'_>,
        message_id: Option<&str>,
        request_id: Option<&str>,
    ) -> Outcome {
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
            request_id,
            front_door: record.front_door,
            scheme: record.scheme,
            integration: record.integration,
            delivery_id: Some(record.delivery_id),
            message_id,
            outcome,
            store_ms: Some(store_ms),
            diagnosis: None,
        })
    }

    /// Writes one delivery's line and hands its outcome on. Never a
    /// secret, a signature value or a body.
    fn report(&self, report: Report<'_>) -> Outcome {
        let Report {
            request_id,
            front_door,
            scheme,
            integration,
            delivery_id,
            message_id,
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
        self.metrics.emit(&Delivery {
            request_id,
            front_door,
            scheme,
            integration,
            delivery_id,
            message_id,
            outcome: &outcome,
            reason: reason.as_deref(),
            store_ms,
        });
        outcome
    }
}
