//! The outbox item: the contract between the function, which writes one per
//! delivery, and the relay and replay, which read them back. Every attribute
//! name lives here and nowhere else.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::{Blob, DateTime, DateTimeFormat};
use aws_sdk_dynamodb::types::AttributeValue;

use crate::dedup::Record;

mod read;
pub use read::{OutboxItem, Unreadable};

/// The table's key: the delivery id.
pub const DELIVERY_ID: &str = "pk";
/// Unix seconds; the table's TTL attribute.
pub const EXPIRES_AT: &str = "expires_at";
/// RFC 3339 UTC, seconds precision, so a string range is a time range.
pub const RECEIVED_AT: &str = "received_at";
pub const FRONT_DOOR: &str = "front_door";
/// The exact verified bytes, as a binary attribute.
pub const BODY: &str = "body";
/// Lowercase hex SHA-256 of the body, to tell a redelivery from an id collision.
pub const BODY_SHA256: &str = "body_sha256";
pub const SCHEME: &str = "scheme";
/// The Genesys topic or Open Messaging message type, where the body names one.
pub const TOPIC: &str = "topic";
/// A partner event's own `detail-type`.
pub const DETAIL_TYPE: &str = "detail_type";
/// Which integration the delivery came through, where the deployment names it.
pub const INTEGRATION: &str = "integration";

/// The write's condition. TTL deletion is lazy, so an expired item may still
/// be there: the second clause lets a redelivery after expiry through.
pub const NEW_OR_EXPIRED: &str = "attribute_not_exists(pk) OR expires_at < :now";
/// A condition that contradicts itself, for a write that must store nothing.
pub const NEVER: &str = "attribute_exists(pk) AND attribute_not_exists(pk)";

/// Seconds since the epoch as the `received_at` text.
pub fn timestamp(unix_seconds: i64) -> String {
    DateTime::from_secs(unix_seconds)
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| unix_seconds.to_string())
}

/// The item that records `r`, expiring `ttl_seconds` after it was received.
pub fn item(r: &Record<'_>, ttl_seconds: i64) -> HashMap<String, AttributeValue> {
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let mut item = HashMap::from([
        (DELIVERY_ID.to_owned(), s(r.delivery_id)),
        (
            EXPIRES_AT.to_owned(),
            AttributeValue::N((r.received_at + ttl_seconds).to_string()),
        ),
        (
            RECEIVED_AT.to_owned(),
            AttributeValue::S(timestamp(r.received_at)),
        ),
        (FRONT_DOOR.to_owned(), s(r.front_door)),
        (BODY.to_owned(), AttributeValue::B(Blob::new(r.body))),
        (BODY_SHA256.to_owned(), s(r.body_sha256)),
        (SCHEME.to_owned(), s(r.scheme)),
    ]);
    if let Some(topic) = r.topic {
        item.insert(TOPIC.to_owned(), s(topic));
    }
    if let Some(detail_type) = r.detail_type {
        item.insert(DETAIL_TYPE.to_owned(), s(detail_type));
    }
    item
}
