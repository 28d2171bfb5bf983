//! Reading an outbox item back, from a stream record's image (the relay) or
//! from `GetItem`/`Scan` (replay): both become a `serde_dynamo` item first, so
//! one reader serves both.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
use serde_dynamo::{AttributeValue, Item};
use thiserror::Error;

use super::{
    BODY, BODY_BUCKET, BODY_KEY, BODY_SHA256, BODY_SIZE, BodyRef, DELIVERY_ID, DETAIL_TYPE,
    FRONT_DOOR, INTEGRATION, KEY_SEPARATOR, RECEIVED_AT, SCHEME, TOPIC,
};

/// A recorded body: in the item, or in the body bucket behind a claim check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Inline(Vec<u8>),
    Stored(BodyRef),
}

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Self::Inline(bytes) => bytes.len() as u64,
            Self::Stored(claim) => claim.size,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One recorded delivery, as the relay and replay publish it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub delivery_id: String,
    /// The stored RFC 3339 text.
    pub received_at: String,
    /// The same instant in Unix seconds.
    pub received_at_unix: i64,
    pub front_door: String,
    pub scheme: String,
    pub body: Body,
    pub topic: Option<String>,
    pub detail_type: Option<String>,
    pub integration: Option<String>,
}

/// An item that is not an outbox item: an attribute missing or of the wrong
/// type. Names the attribute, never its value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("outbox item unreadable: {attribute} {problem}")]
pub struct Unreadable {
    pub attribute: &'static str,
    pub problem: &'static str,
}

impl OutboxItem {
    /// Reads the item an SDK call (`GetItem`, `Scan`) returned.
    pub fn from_sdk(
        item: HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
    ) -> Result<Self, Unreadable> {
        Self::from_image(Item::from(item))
    }

    /// Reads a stream record's `NewImage`.
    pub fn from_image(item: Item) -> Result<Self, Unreadable> {
        let mut item = item.into_inner();
        let received_at = string(&mut item, RECEIVED_AT)?;
        let received_at_unix = DateTime::from_str(&received_at, DateTimeFormat::DateTime)
            .map_err(|_| Unreadable {
                attribute: RECEIVED_AT,
                problem: "is not an RFC 3339 time",
            })?
            .secs();
        let body = match item.remove(BODY) {
            Some(AttributeValue::B(bytes)) => Body::Inline(bytes),
            Some(_) => return Err(wrong_type(BODY)),
            None if item.contains_key(BODY_KEY) => Body::Stored(claim(&mut item)?),
            None => return Err(missing(BODY)),
        };
        let integration = optional(&mut item, INTEGRATION)?;
        let key = string(&mut item, DELIVERY_ID)?;
        Ok(Self {
            delivery_id: delivery_id(key, integration.as_deref()),
            received_at,
            received_at_unix,
            front_door: string(&mut item, FRONT_DOOR)?,
            scheme: string(&mut item, SCHEME)?,
            body,
            topic: optional(&mut item, TOPIC)?,
            detail_type: optional(&mut item, DETAIL_TYPE)?,
            integration,
        })
    }
}

fn claim(item: &mut HashMap<String, AttributeValue>) -> Result<BodyRef, Unreadable> {
    let size = match item.remove(BODY_SIZE) {
        Some(AttributeValue::N(n)) => n.parse().map_err(|_| Unreadable {
            attribute: BODY_SIZE,
            problem: "is not a size",
        })?,
        Some(_) => return Err(wrong_type(BODY_SIZE)),
        None => return Err(missing(BODY_SIZE)),
    };
    let sha256 = string(item, BODY_SHA256)?;
    if sha256.len() != 64
        || !sha256
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(Unreadable {
            attribute: BODY_SHA256,
            problem: "is not a SHA-256 in lowercase hex",
        });
    }
    Ok(BodyRef {
        bucket: string(item, BODY_BUCKET)?,
        key: string(item, BODY_KEY)?,
        size,
        sha256,
    })
}

/// The delivery id inside a key. An item written before ids were kept per
/// integration has the bare id as its key, and reads back unchanged.
fn delivery_id(key: String, integration: Option<&str>) -> String {
    match integration.and_then(|name| key.strip_prefix(name)?.strip_prefix(KEY_SEPARATOR)) {
        Some(id) => id.to_owned(),
        None => key,
    }
}

fn string(
    item: &mut HashMap<String, AttributeValue>,
    name: &'static str,
) -> Result<String, Unreadable> {
    optional(item, name)?.ok_or_else(|| missing(name))
}

fn optional(
    item: &mut HashMap<String, AttributeValue>,
    name: &'static str,
) -> Result<Option<String>, Unreadable> {
    match item.remove(name) {
        Some(AttributeValue::S(s)) => Ok(Some(s)),
        Some(_) => Err(wrong_type(name)),
        None => Ok(None),
    }
}

fn missing(attribute: &'static str) -> Unreadable {
    Unreadable {
        attribute,
        problem: "is missing",
    }
}

fn wrong_type(attribute: &'static str) -> Unreadable {
    Unreadable {
        attribute,
        problem: "has the wrong type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::{self, Record};

    fn record(topic: Option<&'static str>) -> Record<'static> {
        Record {
            delivery_id: "d-1",
            body: b"{\"a\":\"\\u00e9\"}",
            front_door: "apigw-v2",
            scheme: "genesys",
            topic,
            detail_type: None,
            integration: None,
            received_at: 1_700_000_000,
        }
    }

    #[test]
    fn reads_back_what_the_function_writes() {
        let item =
            OutboxItem::from_sdk(outbox::item(&record(Some("v2.users.x")), 60, None)).unwrap();
        assert_eq!(
            item,
            OutboxItem {
                delivery_id: "d-1".into(),
                received_at: "2023-11-14T22:13:20Z".into(),
                received_at_unix: 1_700_000_000,
                front_door: "apigw-v2".into(),
                scheme: "genesys".into(),
                body: Body::Inline(b"{\"a\":\"\\u00e9\"}".to_vec()),
                topic: Some("v2.users.x".into()),
                detail_type: None,
                integration: None,
            }
        );
    }

    #[test]
    fn reads_a_stream_image_in_the_lambda_shape() {
        let image: Item = serde_json::from_value(serde_json::json!({
            "pk": {"S": "d-2"},
            "received_at": {"S": "2026-11-24T12:00:00Z"},
            "front_door": {"S": "eventbridge"},
            "scheme": {"S": "eventbridge"},
            "body": {"B": "eyJ4IjoxfQ=="},
            "detail_type": {"S": "v2.users.{id}.presence"},
            "integration": {"S": "main"},
            "expires_at": {"N": "1"}
        }))
        .unwrap();
        let item = OutboxItem::from_image(image).unwrap();
        assert_eq!(item.body, Body::Inline(b"{\"x\":1}".to_vec()));
        assert_eq!(item.detail_type.as_deref(), Some("v2.users.{id}.presence"));
        assert_eq!(item.integration.as_deref(), Some("main"));
        assert_eq!(item.topic, None);
    }

    #[test]
    fn the_key_holds_the_integration_and_the_id_reads_back_bare() {
        let namespaced = Record {
            integration: Some("sales"),
            ..record(None)
        };
        let sdk = outbox::item(&namespaced, 60, None);
        assert_eq!(
            sdk[outbox::DELIVERY_ID],
            aws_sdk_dynamodb::types::AttributeValue::S("sales/d-1".into())
        );
        let item = OutboxItem::from_sdk(sdk).unwrap();
        assert_eq!(item.delivery_id, "d-1");
        assert_eq!(item.integration.as_deref(), Some("sales"));

        let single = outbox::item(&record(None), 60, None);
        assert_eq!(
            single[outbox::DELIVERY_ID],
            aws_sdk_dynamodb::types::AttributeValue::S("d-1".into())
        );
    }

    /// Items written before ids were kept per integration: the key is the
    /// bare id, which may itself hold a `/`.
    #[test]
    fn an_item_keyed_by_the_bare_id_reads_back_unchanged() {
        for (pk, id) in [
            ("d-9", "d-9"),
            ("other/d-9", "other/d-9"),
            ("main/x/y", "x/y"),
        ] {
            let image: Item = serde_json::from_value(serde_json::json!({
                "pk": {"S": pk},
                "received_at": {"S": "2026-11-24T12:00:00Z"},
                "front_door": {"S": "function-url"},
                "scheme": {"S": "open-messaging"},
                "body": {"B": "e30="},
                "integration": {"S": "main"},
            }))
            .unwrap();
            assert_eq!(
                OutboxItem::from_image(image).unwrap().delivery_id,
                id,
                "{pk}"
            );
        }
    }

    #[test]
    fn reads_back_a_claim_check() {
        let r = record(None);
        let claim = outbox::BodyRef::of("b", "bodies/", "d-1", r.body);
        let item = OutboxItem::from_sdk(outbox::item(&r, 60, Some(&claim))).unwrap();
        assert_eq!(item.body, Body::Stored(claim.clone()));
        assert_eq!(item.body.len(), r.body.len() as u64);

        let mut sdk = outbox::item(&r, 60, Some(&claim));
        sdk.insert(
            outbox::BODY_SHA256.into(),
            aws_sdk_dynamodb::types::AttributeValue::S("ABC".into()),
        );
        assert_eq!(
            OutboxItem::from_sdk(sdk).unwrap_err().attribute,
            outbox::BODY_SHA256
        );
        let mut sdk = outbox::item(&r, 60, Some(&claim));
        sdk.remove(outbox::BODY_BUCKET);
        assert_eq!(
            OutboxItem::from_sdk(sdk).unwrap_err().to_string(),
            "outbox item unreadable: body_bucket is missing"
        );
    }

    #[test]
    fn names_what_is_wrong_and_never_a_value() {
        let mut sdk = outbox::item(&record(None), 60, None);
        sdk.remove(outbox::BODY);
        assert_eq!(
            OutboxItem::from_sdk(sdk).unwrap_err().to_string(),
            "outbox item unreadable: body is missing"
        );
        let mut sdk = outbox::item(&record(None), 60, None);
        sdk.insert(
            outbox::RECEIVED_AT.into(),
            aws_sdk_dynamodb::types::AttributeValue::S("secret-ish yesterday".into()),
        );
        let e = OutboxItem::from_sdk(sdk).unwrap_err().to_string();
        assert!(e.contains("received_at") && !e.contains("yesterday"), "{e}");
        let mut sdk = outbox::item(&record(None), 60, None);
        sdk.insert(
            outbox::TOPIC.into(),
            aws_sdk_dynamodb::types::AttributeValue::N("1".into()),
        );
        assert_eq!(
            OutboxItem::from_sdk(sdk).unwrap_err(),
            Unreadable {
                attribute: "topic",
                problem: "has the wrong type"
            }
        );
        assert_eq!(
            OutboxItem::from_image(Item::from(HashMap::<String, AttributeValue>::new()))
                .unwrap_err()
                .problem,
            "is missing"
        );
    }
}
