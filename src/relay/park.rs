//! Parking: an entry the bus will never take goes to the failure queue with
//! EventBridge's code and message instead of holding its shard, and waits
//! there whole for `genesys-redrive` to put it back on the bus.
//!
//! A parked message is one JSON object:
//! `{"reason": "refused" | "too_large", "deliveryId", "errorCode",
//! "errorMessage", "entryBytes", "entry": {"deliveryId", "source",
//! "detailType", "time", "detail"}}`. An item whose body cannot be published
//! is parked as `"reason": "body_missing" | "body_tampered" |
//! "body_unreadable"` with `"bucket"`
//! and `"key"` and its reference entry; redrive leaves it, since only the
//! object being put back (then a replay) can help. When even the queue cannot hold the
//! entry, `"entryOmitted": true` and the item's key and metadata take its
//! place (the item stays in the table until it expires).

use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::body::{FetchError, MISSING_REASON};
use super::entry::Entry;
use super::publish::{FailureQueue, MAX_QUEUE_MESSAGE_BYTES, QueueError, Refusal, TOO_LARGE};
use crate::outbox::{Body, BodyRef, OutboxItem};

/// `reason` of an entry larger than the bus takes.
pub const TOO_LARGE_REASON: &str = "too_large";
/// `reason` of an entry EventBridge refused with a permanent code.
pub const REFUSED_REASON: &str = "refused";

/// What a person needs to find an item whose entry the queue cannot hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub received_at: String,
    pub front_door: String,
    pub scheme: String,
    pub topic: Option<String>,
    /// Names the body without carrying it.
    pub body_sha256: String,
    pub body_bytes: u64,
}

impl Facts {
    pub fn of(item: &OutboxItem) -> Self {
        Self {
            received_at: item.received_at.clone(),
            front_door: item.front_door.clone(),
            scheme: item.scheme.clone(),
            topic: item.topic.clone(),
            body_sha256: match &item.body {
                Body::Inline(bytes) => hex::encode(Sha256::digest(bytes)),
                Body::Stored(claim) => claim.sha256.clone(),
            },
            body_bytes: item.body.len(),
        }
    }
}

/// How much of the entry the failure queue took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parked {
    Whole,
    KeyOnly,
}

/// Why an entry is parked.
#[derive(Debug, Clone, Copy)]
pub enum Cause<'a> {
    /// The bus refused it for good, or it is larger than the bus takes.
    Bus(&'a Refusal),
    /// Its body's object is missing or not the recorded bytes.
    Body(&'a FetchError, &'a BodyRef),
}

impl Cause<'_> {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Bus(r) if r.code == TOO_LARGE => TOO_LARGE_REASON,
            Self::Bus(_) => REFUSED_REASON,
            Self::Body(fault, _) => fault.reason().unwrap_or(MISSING_REASON),
        }
    }

    pub fn code(&self) -> &str {
        match self {
            Self::Bus(r) => &r.code,
            Self::Body(fault, _) => fault.code(),
        }
    }

    fn message(&self) -> String {
        match self {
            Self::Bus(r) => r.message.clone(),
            Self::Body(fault, _) => fault.to_string(),
        }
    }
}

/// Sends `entry` to `queue` with why it is parked; or, when the queue
/// cannot hold it, its key and `facts`. A body fault also names the bucket
/// and key, never the body. `Err` means nothing was parked.
pub async fn park<Q: FailureQueue>(
    queue: &Q,
    entry: &Entry,
    cause: Cause<'_>,
    facts: &Facts,
) -> Result<Parked, QueueError> {
    let mut head = json!({
        "reason": cause.reason(),
        "deliveryId": entry.delivery_id,
        "errorCode": cause.code(),
        "errorMessage": cause.message(),
        "entryBytes": entry.size(),
    });
    if let Cause::Body(_, claim) = cause {
        head["bucket"] = json!(claim.bucket);
        head["key"] = json!(claim.key);
    }
    let text = head.to_string();
    let whole = format!(
        r#"{},"entry":{}}}"#,
        &text[..text.len() - 1],
        entry.to_json()
    );
    if whole.len() <= MAX_QUEUE_MESSAGE_BYTES {
        match queue.send(whole).await {
            Ok(()) => return Ok(Parked::Whole),
            Err(e @ QueueError::Unavailable(_)) => return Err(e),
            Err(QueueError::Refused(_)) => {}
        }
    }
    let mut key_only = head;
    for (name, value) in [
        ("entryOmitted", json!(true)),
        ("receivedAt", json!(facts.received_at)),
        ("frontDoor", json!(facts.front_door)),
        ("scheme", json!(facts.scheme)),
        ("topic", json!(facts.topic)),
        ("detailType", json!(entry.detail_type)),
        ("bodySha256", json!(facts.body_sha256)),
        ("bodyBytes", json!(facts.body_bytes)),
    ] {
        key_only[name] = value;
    }
    queue.send(key_only.to_string()).await?;
    Ok(Parked::KeyOnly)
}

/// A parked message read back from the failure queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedMessage {
    pub reason: String,
    pub delivery_id: String,
    pub error_code: Option<String>,
    /// `None` when the queue could hold only the key.
    pub entry: Option<Entry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message<'a> {
    reason: String,
    delivery_id: Option<String>,
    error_code: Option<String>,
    #[serde(borrow)]
    entry: Option<ParkedEntry<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ParkedEntry<'a> {
    delivery_id: String,
    source: String,
    detail_type: String,
    time: i64,
    #[serde(borrow)]
    detail: &'a RawValue,
}

impl ParkedMessage {
    /// The message as the relay parked it, or `None` for anything else.
    pub fn read(body: &str) -> Option<Self> {
        let m: Message<'_> = serde_json::from_str(body).ok()?;
        if m.reason != TOO_LARGE_REASON && m.reason != REFUSED_REASON {
            return None;
        }
        let entry = m.entry.map(|e| Entry {
            delivery_id: e.delivery_id,
            source: e.source,
            detail_type: e.detail_type,
            time: e.time,
            detail: e.detail.get().to_owned(),
        });
        let delivery_id = m
            .delivery_id
            .or_else(|| entry.as_ref().map(|e| e.delivery_id.clone()))?;
        Some(Self {
            reason: m.reason,
            delivery_id,
            error_code: m.error_code,
            entry,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Queue {
        sent: Mutex<Vec<String>>,
        refuse_over: usize,
        down: bool,
    }

    impl FailureQueue for Queue {
        async fn send(&self, body: String) -> Result<(), QueueError> {
            if self.down {
                return Err(QueueError::Unavailable("connection refused".into()));
            }
            if self.refuse_over > 0 && body.len() > self.refuse_over {
                return Err(QueueError::Refused("InvalidMessageContents".into()));
            }
            self.sent.lock().unwrap().push(body);
            Ok(())
        }
    }

    fn entry() -> Entry {
        Entry {
            delivery_id: "d-1".into(),
            source: "genesys-webhook".into(),
            detail_type: "Text".into(),
            time: 1_795_521_600,
            detail: r#"{"deliveryId":"d-1","body": {"n" : 1.50}}"#.into(),
        }
    }

    fn facts() -> Facts {
        Facts {
            received_at: "2026-11-24T12:00:00Z".into(),
            front_door: "alb".into(),
            scheme: "genesys".into(),
            topic: None,
            body_sha256: "ab".into(),
            body_bytes: 12,
        }
    }

    #[tokio::test]
    async fn a_refused_entry_is_parked_whole_with_its_code_and_message_and_reads_back() {
        let queue = Queue::default();
        let refusal = Refusal::new("MalformedDetail", "Detail is malformed.");
        let parked = park(&queue, &entry(), Cause::Bus(&refusal), &facts()).await;
        assert_eq!(parked, Ok(Parked::Whole));
        let sent = queue.sent.lock().unwrap();
        let v: serde_json::Value = serde_json::from_str(&sent[0]).unwrap();
        assert_eq!(v["reason"], "refused");
        assert_eq!(v["deliveryId"], "d-1");
        assert_eq!(v["errorCode"], "MalformedDetail");
        assert_eq!(v["errorMessage"], "Detail is malformed.");
        assert_eq!(v["entry"]["detail"]["body"]["n"], 1.5);
        let back = ParkedMessage::read(&sent[0]).unwrap();
        assert_eq!(back.entry, Some(entry()));
        assert_eq!(back.error_code.as_deref(), Some("MalformedDetail"));
    }

    #[tokio::test]
    async fn the_key_alone_when_the_queue_cannot_hold_the_entry() {
        let queue = Queue {
            refuse_over: 300,
            ..Queue::default()
        };
        let refusal = Refusal::new(TOO_LARGE, "over");
        let mut big = entry();
        big.detail = format!(r#"{{"x":"{}"}}"#, "y".repeat(400));
        assert_eq!(
            park(&queue, &big, Cause::Bus(&refusal), &facts()).await,
            Ok(Parked::KeyOnly)
        );
        let sent = queue.sent.lock().unwrap();
        assert!(!sent[0].contains("yyyy"));
        let back = ParkedMessage::read(&sent[0]).unwrap();
        assert_eq!(back.reason, "too_large");
        assert_eq!(back.delivery_id, "d-1");
        assert_eq!(back.entry, None);
    }

    #[tokio::test]
    async fn a_queue_out_of_reach_parks_nothing() {
        let queue = Queue {
            down: true,
            ..Queue::default()
        };
        let refusal = Refusal::new("InvalidArgument", "bad");
        assert!(matches!(
            park(&queue, &entry(), Cause::Bus(&refusal), &facts()).await,
            Err(QueueError::Unavailable(_))
        ));
    }

    #[test]
    fn only_parked_messages_read_back() {
        for other in [
            "",
            "not json",
            r#"{"reason":"other","deliveryId":"x"}"#,
            r#"{"detail-type":"x","source":"s","detail":{},"id":"1"}"#,
            r#"{"reason":"refused"}"#,
        ] {
            assert_eq!(ParkedMessage::read(other), None, "{other}");
        }
    }
}
