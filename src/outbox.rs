//! The outbox item: the contract between the function, which writes one per
//! delivery, and the relay and replay, which read them back. Every attribute
//! name lives here and nowhere else.

use std::borrow::Cow;
use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::{Blob, DateTime, DateTimeFormat};
use aws_sdk_dynamodb::types::AttributeValue;
use sha2::{Digest, Sha256};

mod read;
pub use read::{Body, OutboxItem, Unreadable};

/// One delivery as it is recorded.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub delivery_id: &'a str,
    /// The exact verified bytes.
    pub body: &'a [u8],
    pub front_door: &'static str,
    pub scheme: &'static str,
    /// The Genesys topic or event type, where the delivery names one.
    pub topic: Option<&'a str>,
    /// A partner event's own `detail-type`.
    pub detail_type: Option<&'a str>,
    /// The integration the delivery was for, where a deployment serves several.
    pub integration: Option<&'a str>,
    /// Unix seconds.
    pub received_at: i64,
}

impl Record<'_> {
    /// The table key this delivery is deduplicated under: see [`fn@key`].
    pub fn key(&self) -> Cow<'_, str> {
        key(self.integration, self.delivery_id)
    }
}

/// The table's key: the delivery id, under its integration's name where the
/// deployment serves several ([`key`]).
pub const DELIVERY_ID: &str = "pk";
/// Between an integration's name and the delivery id in the key. Names are
/// `[A-Za-z0-9._-]`, so the first `/` in a key always ends the name.
pub const KEY_SEPARATOR: char = '/';
/// Unix seconds; the table's TTL attribute.
pub const EXPIRES_AT: &str = "expires_at";
/// RFC 3339 UTC, seconds precision, so a string range is a time range.
pub const RECEIVED_AT: &str = "received_at";
pub const FRONT_DOOR: &str = "front_door";
/// The exact verified bytes, as a binary attribute, when the item holds them.
pub const BODY: &str = "body";
/// The claim check, in place of [`BODY`] for a body too large for its item:
/// the bucket and object key holding the exact bytes...
pub const BODY_BUCKET: &str = "body_bucket";
pub const BODY_KEY: &str = "body_key";
/// ...their length (a number)...
pub const BODY_SIZE: &str = "body_size";
/// ...and their SHA-256 in lowercase hex, which the relay checks the object
/// against before it publishes.
pub const BODY_SHA256: &str = "body_sha256";
pub const SCHEME: &str = "scheme";
/// The Genesys topic or Open Messaging message type, where the body names one.
pub const TOPIC: &str = "topic";
/// A partner event's own `detail-type`.
pub const DETAIL_TYPE: &str = "detail_type";
/// The integration a delivery was for, where a deployment serves several.
pub const INTEGRATION: &str = "integration";

/// DynamoDB's limit on one item, names and values together.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// Room kept for every attribute but the body. Each is bounded: the id and
/// topic by the envelope, the integration's name (twice: in the key too) by
/// the secret, a detail-type by [`MAX_DETAIL_TYPE_BYTES`].
pub const RESERVED_BYTES: usize = 4 * 1024;
/// The largest body an item can hold beside its other attributes.
pub const MAX_BODY_BYTES: usize = MAX_ITEM_BYTES - RESERVED_BYTES;
/// Longest partner `detail-type` kept; a longer one is left out of the item
/// rather than let it crowd out the body.
pub const MAX_DETAIL_TYPE_BYTES: usize = 256;

/// The write's condition. TTL deletion is lazy, so an expired item may still
/// be there: the second clause lets a redelivery after expiry through.
pub const NEW_OR_EXPIRED: &str = "attribute_not_exists(pk) OR expires_at < :now";
/// A condition that contradicts itself, for a write that must store nothing.
pub const NEVER: &str = "attribute_exists(pk) AND attribute_not_exists(pk)";

/// Where a body too large for its item is kept. The item holds this in
/// place of the body; the relay and replay fetch the object it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyRef {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

impl BodyRef {
    /// The reference for `body`, recorded under the table key `item_key`,
    /// in `bucket` below `prefix`. The object key is
    /// `<prefix><sha256(item key)>/<sha256(body)>`: hex only, so no input
    /// reaches it unsanitised, and the same delivery retried lands on the
    /// same object while a colliding id with other bytes never overwrites it.
    pub fn of(bucket: &str, prefix: &str, item_key: &str, body: &[u8]) -> Self {
        let sha256 = hex::encode(Sha256::digest(body));
        let key = format!(
            "{prefix}{}/{sha256}",
            hex::encode(Sha256::digest(item_key.as_bytes()))
        );
        Self {
            bucket: bucket.to_owned(),
            key,
            size: body.len() as u64,
            sha256,
        }
    }
}

/// The key a delivery is held under: its id alone for a single-secret
/// deployment, `<integration>/<delivery id>` where integrations are
/// configured, so one integration's ids never collide with another's.
pub fn key<'a>(integration: Option<&str>, delivery_id: &'a str) -> Cow<'a, str> {
    match integration {
        None => Cow::Borrowed(delivery_id),
        Some(name) => Cow::Owned(format!("{name}{KEY_SEPARATOR}{delivery_id}")),
    }
}

/// Seconds since the epoch as the `received_at` text.
pub fn timestamp(unix_seconds: i64) -> String {
    DateTime::from_secs(unix_seconds)
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| unix_seconds.to_string())
}

/// The item that records `r`, expiring `ttl_seconds` after it was received.
/// With `claim`, the item holds that reference in place of the body.
pub fn item(
    r: &Record<'_>,
    ttl_seconds: i64,
    claim: Option<&BodyRef>,
) -> HashMap<String, AttributeValue> {
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let mut item = HashMap::from([
        (DELIVERY_ID.to_owned(), s(&r.key())),
        (
            EXPIRES_AT.to_owned(),
            AttributeValue::N((r.received_at + ttl_seconds).to_string()),
        ),
        (
            RECEIVED_AT.to_owned(),
            AttributeValue::S(timestamp(r.received_at)),
        ),
        (FRONT_DOOR.to_owned(), s(r.front_door)),
        (SCHEME.to_owned(), s(r.scheme)),
    ]);
    match claim {
        None => {
            item.insert(BODY.to_owned(), AttributeValue::B(Blob::new(r.body)));
        }
        Some(claim) => {
            item.insert(BODY_BUCKET.to_owned(), s(&claim.bucket));
            item.insert(BODY_KEY.to_owned(), s(&claim.key));
            item.insert(
                BODY_SIZE.to_owned(),
                AttributeValue::N(claim.size.to_string()),
            );
            item.insert(BODY_SHA256.to_owned(), s(&claim.sha256));
        }
    }
    if let Some(topic) = r.topic {
        item.insert(TOPIC.to_owned(), s(topic));
    }
    if let Some(integration) = r.integration {
        item.insert(INTEGRATION.to_owned(), s(integration));
    }
    if let Some(detail_type) = r.detail_type.filter(|d| d.len() <= MAX_DETAIL_TYPE_BYTES) {
        item.insert(DETAIL_TYPE.to_owned(), s(detail_type));
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An item's size as DynamoDB documents it: each name's UTF-8 length
    /// plus its value's (raw bytes for binary, about one byte per two digits
    /// plus one for numbers).
    fn dynamodb_size(item: &HashMap<String, AttributeValue>) -> usize {
        item.iter()
            .map(|(name, value)| {
                name.len()
                    + match value {
                        AttributeValue::S(s) => s.len(),
                        AttributeValue::B(b) => b.as_ref().len(),
                        AttributeValue::N(n) => n.len().div_ceil(2) + 1,
                        other => panic!("unexpected attribute {other:?}"),
                    }
            })
            .sum()
    }

    #[test]
    fn the_largest_body_fits_an_item_beside_the_largest_other_attributes() {
        let body = vec![b'a'; MAX_BODY_BYTES];
        let id = "i".repeat(crate::envelope::MAX_DELIVERY_ID_BYTES);
        let topic = "t".repeat(256);
        let detail_type = "d".repeat(MAX_DETAIL_TYPE_BYTES);
        let integration = "n".repeat(crate::secrets::MAX_INTEGRATION_BYTES);
        let record = Record {
            delivery_id: &id,
            body: &body,
            front_door: "function-url",
            scheme: "standard-webhooks",
            topic: Some(&topic),
            detail_type: Some(&detail_type),
            integration: Some(&integration),
            received_at: i64::from(u32::MAX),
        };
        let item = item(&record, 366 * 86_400, None);
        assert!(dynamodb_size(&item) <= MAX_ITEM_BYTES);
        assert!(dynamodb_size(&item) - body.len() < RESERVED_BYTES);
    }

    /// A typical accepted delivery: a 36-character delivery id, a Genesys
    /// topic naming a user, the longest front door and scheme names.
    #[test]
    fn an_item_holds_at_most_200_bytes_beside_the_body() {
        let body = vec![b'a'; 2048];
        let record = Record {
            delivery_id: "0b6a1c7e-3f2d-4a59-9e8b-2c4d6f8a0b1c",
            body: &body,
            front_door: "function-url",
            scheme: "standard-webhooks",
            topic: Some("v2.users.8f5e3f2a-1b2c-4d5e-8f90-123456789abc.presence"),
            detail_type: None,
            integration: None,
            received_at: 1_764_158_189,
        };
        let overhead = dynamodb_size(&item(&record, 7 * 86_400, None)) - body.len();
        assert!(overhead <= 200, "{overhead} bytes beside the body");
    }

    #[test]
    fn an_overlong_detail_type_is_left_out() {
        let long = "d".repeat(MAX_DETAIL_TYPE_BYTES + 1);
        let record = Record {
            delivery_id: "e",
            body: b"{}",
            front_door: "eventbridge",
            scheme: "partner-source",
            topic: None,
            detail_type: Some(&long),
            integration: None,
            received_at: 0,
        };
        assert!(!item(&record, 60, None).contains_key(DETAIL_TYPE));
    }

    #[test]
    fn a_claim_check_takes_the_place_of_the_body_and_keeps_the_item_small() {
        let body = vec![b'x'; 4 * 1024 * 1024];
        let record = Record {
            delivery_id: "../../etc/passwd",
            body: &body,
            front_door: "apigw-v2",
            scheme: "open-messaging",
            topic: None,
            detail_type: None,
            integration: Some("sales"),
            received_at: 0,
        };
        let claim = BodyRef::of("bodies-bucket", "bodies/", &record.key(), &body);
        assert_eq!(claim.size, body.len() as u64);
        assert_eq!(claim.sha256, hex::encode(Sha256::digest(&body)));
        let (prefix, rest) = claim.key.split_at("bodies/".len());
        assert_eq!(prefix, "bodies/");
        assert!(
            rest.bytes().all(|b| b.is_ascii_hexdigit() || b == b'/') && rest.len() == 129,
            "{rest}"
        );
        assert_eq!(
            claim,
            BodyRef::of("bodies-bucket", "bodies/", &record.key(), &body),
            "a retried write lands on the same object"
        );
        assert_ne!(
            claim.key,
            BodyRef::of("bodies-bucket", "bodies/", &record.key(), b"other").key,
            "a colliding id with other bytes gets its own object"
        );
        let item = item(&record, 60, Some(&claim));
        assert!(!item.contains_key(BODY));
        assert!(dynamodb_size(&item) < RESERVED_BYTES);
        assert_eq!(item[BODY_SIZE], AttributeValue::N("4194304".into()));
    }
}
