//! Lambda event → a finished delivery: the front door it came in by, its
//! headers and the exact bytes the sender signed, or why it can never be one.
//! Every check of an event's shape happens here, so later stages see only
//! complete deliveries.

mod body;
mod front_door;
mod headers;
mod partner;
mod queue;
mod source;

pub use body::{body_bytes, topic};
pub use front_door::FrontDoor;
pub use headers::{HttpDelivery, MAX_HEADER_BYTES};
pub use partner::{PARTNER_SCHEME, PartnerEvent};
pub use queue::{PARTNER_QUEUE, Queued};
pub use source::{Allowlist, Cidr};

use crate::error::{Reject, RejectCode};
use front_door::{Shape, Typed};

/// Longest delivery id kept; DynamoDB allows 2048 bytes, real ids are UUIDs.
pub const MAX_DELIVERY_ID_BYTES: usize = 256;

/// What the deployment allows of an envelope.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: usize,
    /// Partner event sources accepted; a source must name something after it.
    pub source_prefix: String,
    /// Networks HTTP deliveries may come from; partner events are exempt.
    pub allowed_sources: Allowlist,
}

/// One invocation, read.
#[derive(Debug, Clone)]
pub enum Decoded {
    Http(HttpDelivery),
    Partner(PartnerEvent),
    /// Came in by `front_door` but can never be a delivery.
    Refused {
        front_door: FrontDoor,
        reject: Reject,
    },
}

impl Decoded {
    /// The door the answer goes back through.
    pub fn front_door(&self) -> FrontDoor {
        match self {
            Self::Http(d) => d.front_door,
            Self::Partner(_) => FrontDoor::EventBridge,
            Self::Refused { front_door, .. } => *front_door,
        }
    }
}

/// One invocation: a single event, or a batch from the partner queue.
#[derive(Debug, Clone)]
pub enum Read {
    One(Decoded),
    /// `Err` when a message cannot be named, so no answer could list it.
    Batch(Result<Vec<Queued>, Reject>),
}

/// A single event, as [`read`] reads it; `None` for a batch too.
pub fn decode(event: &[u8], limits: &Limits) -> Option<Decoded> {
    match read(event, limits)? {
        Read::One(decoded) => Some(decoded),
        Read::Batch(_) => None,
    }
}

/// Reads an invocation's bytes in one pass. `None` for events no front door
/// sends, including anything that is not JSON.
pub fn read(event: &[u8], limits: &Limits) -> Option<Read> {
    let Ok(e) = serde_json::from_slice::<Typed<'_>>(event) else {
        let front_door = serde_json::from_slice::<Shape<'_>>(event)
            .ok()?
            .front_door()?;
        return Some(Read::One(Decoded::Refused {
            front_door,
            reject: mismatch(),
        }));
    };
    let Some(front_door) = e.front_door() else {
        return queue::read(e.records()?, limits).map(Read::Batch);
    };
    let read = match front_door {
        FrontDoor::EventBridge => partner::read(e.partner_fields(), limits).map(Decoded::Partner),
        _ => e.into_http(front_door, limits).map(Decoded::Http),
    };
    Some(Read::One(read.unwrap_or_else(|reject| Decoded::Refused {
        front_door,
        reject,
    })))
}

fn mismatch() -> Reject {
    RejectCode::Malformed.because("event does not match its front door")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    pub(super) fn v1(headers: Value, body: Value, b64: bool) -> Value {
        json!({"resource": "/webhooks/genesys", "path": "/webhooks/genesys", "httpMethod": "POST",
               "headers": headers, "multiValueHeaders": null, "body": body, "isBase64Encoded": b64,
               "requestContext": {"requestId": "r", "httpMethod": "POST", "stage": "prod"}})
    }

    pub(super) fn v2(domain: &str, headers: Value, body: Value, b64: bool) -> Value {
        json!({"version": "2.0", "routeKey": "POST /webhooks/genesys", "rawPath": "/webhooks/genesys",
               "headers": headers, "body": body, "isBase64Encoded": b64,
               "requestContext": {"domainName": domain, "requestId": "r",
                                  "http": {"method": "POST", "path": "/webhooks/genesys"}}})
    }

    pub(super) fn limits(max_body_bytes: usize) -> Limits {
        Limits {
            max_body_bytes,
            source_prefix: "aws.partner/genesys.com/".into(),
            allowed_sources: Allowlist::default(),
        }
    }

    pub(super) fn decoded(event: &Value, max_body_bytes: usize) -> Decoded {
        decode(event.to_string().as_bytes(), &limits(max_body_bytes)).expect("known front door")
    }

    pub(super) fn http(event: Value) -> Result<HttpDelivery, Reject> {
        match decoded(&event, 64) {
            Decoded::Http(d) => Ok(d),
            Decoded::Refused { reject, .. } => Err(reject),
            Decoded::Partner(_) => panic!("http delivery expected"),
        }
    }

    #[test]
    fn shape_mismatch_is_malformed() {
        for event in [
            json!({"requestContext": {"http": {}}, "headers": 5}),
            json!({"requestContext": {"http": {}}, "headers": {"x-a": 5}}),
            json!({"requestContext": {"http": {}}, "headers": {"x-a": ["ok", 5]}}),
            json!({"requestContext": {"http": {}}, "headers": {"x a": "v"}}),
            json!({"requestContext": {"http": {}}, "body": 5}),
            json!({"requestContext": {"http": {}}, "body": "", "isBase64Encoded": "yes"}),
            v1(json!({}), json!({"not": "a string"}), false),
        ] {
            let err = http(event.clone()).unwrap_err();
            assert_eq!(err.code, RejectCode::Malformed, "{event}");
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_are_never_a_delivery() {
        let mut broken = v1(json!({}), json!("caf#"), false).to_string().into_bytes();
        let at = broken.iter().position(|&b| b == b'#').unwrap();
        broken[at] = 0xE9; // Latin-1 é: never valid alone in UTF-8
        match decode(&broken, &limits(64)) {
            Some(Decoded::Refused { reject, front_door }) => {
                assert_eq!(reject.code, RejectCode::Malformed);
                assert_eq!(front_door, FrontDoor::ApiGatewayV1);
            }
            other => panic!("refusal expected, got {other:?}"),
        }
        assert!(decode(&[0xFF, 0xFE, b'{'], &limits(64)).is_none());
    }

    #[test]
    fn the_answer_goes_back_through_the_door_it_came_in_by() {
        let refused = decoded(&json!({"requestContext": {"http": {}}, "body": 5}), 64);
        assert_eq!(refused.front_door(), FrontDoor::ApiGatewayV2);
        let partner = decoded(
            &json!({"id": "e", "detail-type": "t", "source": "aws.partner/genesys.com/o", "detail": {}}),
            64,
        );
        assert_eq!(partner.front_door(), FrontDoor::EventBridge);
    }
}
