//! Partner events by way of the partner queue: an SQS batch whose message
//! bodies are the EventBridge events the partner rule sent, each held to the
//! same checks as an event through the EventBridge door.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::body::Text;
use super::front_door::Typed;
use super::{FrontDoor, Limits, PartnerEvent, partner};
use crate::error::{Reject, RejectCode};

/// The front door's name in logs and recorded items.
pub const PARTNER_QUEUE: &str = "partner-queue";

/// One message of the batch: its id, which the batch answer names, and what
/// its body held.
#[derive(Debug, Clone)]
pub struct Queued {
    pub message_id: String,
    pub event: Result<PartnerEvent, Reject>,
}

/// The keys of a message this door reads; the rest are SQS's own.
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(rename = "eventSource", borrow)]
    event_source: Option<Text<'a>>,
    #[serde(rename = "messageId", borrow)]
    message_id: Option<&'a RawValue>,
    #[serde(borrow)]
    body: Option<&'a RawValue>,
}

/// `None` unless `records` is a non-empty array of SQS messages. `Err` when a
/// message has no id: the batch answer could not name it, so the whole batch
/// must fail rather than be acknowledged.
pub(super) fn read(records: &RawValue, limits: &Limits) -> Option<Result<Vec<Queued>, Reject>> {
    let messages: Vec<Message<'_>> = serde_json::from_str(records.get()).ok()?;
    let from_sqs = |m: &Message<'_>| m.event_source.as_ref().is_some_and(|s| s.0 == "aws:sqs");
    if messages.is_empty() || !messages.iter().all(from_sqs) {
        return None;
    }
    Some(
        messages
            .into_iter()
            .map(|m| {
                let message_id = m
                    .message_id
                    .and_then(|id| serde_json::from_str::<String>(id.get()).ok())
                    .filter(|id| !id.is_empty())
                    .ok_or(RejectCode::Malformed.because("queue message has no messageId"))?;
                Ok(Queued {
                    message_id,
                    event: event_in(m.body, limits),
                })
            })
            .collect(),
    )
}

/// The EventBridge event a message body holds, read as the EventBridge door
/// reads one.
fn event_in(body: Option<&RawValue>, limits: &Limits) -> Result<PartnerEvent, Reject> {
    let not_an_event = RejectCode::Malformed.because("message body is not an EventBridge event");
    let text = body
        .and_then(|b| serde_json::from_str::<Text<'_>>(b.get()).ok())
        .ok_or(not_an_event)?;
    let event: Typed<'_> = serde_json::from_str(&text.0).map_err(|_| not_an_event)?;
    if event.front_door() != Some(FrontDoor::EventBridge) {
        return Err(not_an_event);
    }
    partner::read(event.partner_fields(), limits)
}

#[cfg(test)]
mod tests {
    use super::super::tests::limits;
    use super::super::{Read, read as read_event};
    use super::*;
    use serde_json::{Value, json};

    fn sqs(bodies: &[Value]) -> Value {
        let records: Vec<Value> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                json!({"messageId": format!("m-{i}"), "receiptHandle": "h", "body": body,
                       "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                       "md5OfBody": "x", "eventSource": "aws:sqs",
                       "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:partner",
                       "awsRegion": "us-east-1"})
            })
            .collect();
        json!({ "Records": records })
    }

    fn read_batch(event: &Value, max_body_bytes: usize) -> Option<Read> {
        read_event(event.to_string().as_bytes(), &limits(max_body_bytes))
    }

    fn batch(event: &Value, max_body_bytes: usize) -> Vec<Queued> {
        match read_batch(event, max_body_bytes) {
            Some(Read::Batch(Ok(batch))) => batch,
            other => panic!("a queued batch expected, got {other:?}"),
        }
    }

    fn partner(id: &str, source: &str, detail: Value) -> String {
        json!({"version": "0", "id": id, "detail-type": "t", "source": source,
               "time": "2026-11-24T12:00:00Z", "detail": detail})
        .to_string()
    }

    #[test]
    fn the_sample_holds_the_eventbridge_sample_verbatim() {
        let event: Value =
            serde_json::from_str(include_str!("../../events/sqs-partner-user-presence.json"))
                .unwrap();
        let direct: Value =
            serde_json::from_str(include_str!("../../events/eventbridge-user-presence.json"))
                .unwrap();
        let body: Value =
            serde_json::from_str(event["Records"][0]["body"].as_str().unwrap()).unwrap();
        assert_eq!(body, direct);
        let [queued] = &batch(&event, 262_144)[..] else {
            panic!("one message expected")
        };
        let p = queued.event.as_ref().unwrap();
        assert_eq!(queued.message_id, event["Records"][0]["messageId"]);
        assert_eq!(p.id, direct["id"]);
        let detail: Value = serde_json::from_slice(&p.detail).unwrap();
        assert_eq!(detail, direct["detail"]);
    }

    #[test]
    fn each_message_gets_the_partner_checks_on_its_own() {
        let ok = "aws.partner/genesys.com/cloud/o/s";
        let event = sqs(&[
            json!(partner("e-1", ok, json!({"a": 1}))),
            json!(partner("e-2", "aws.partner/genesys.com.evil/x", json!({}))),
            json!(partner("e-3", ok, json!({"pad": "p".repeat(100)}))),
            json!(partner("", ok, json!({}))),
            json!("not json"),
            json!({"an": "object, not a string"}),
            json!(json!({"id": "e-4", "source": ok}).to_string()),
            json!(json!({"requestContext": {"http": {}}, "body": "x"}).to_string()),
        ]);
        let codes: Vec<Result<String, RejectCode>> = batch(&event, 64)
            .into_iter()
            .map(|q| q.event.map(|p| p.id).map_err(|r| r.code))
            .collect();
        use RejectCode::*;
        assert_eq!(
            codes,
            [
                Ok("e-1".into()),
                Err(ForbiddenSource),
                Err(TooLarge),
                Err(Malformed),
                Err(Malformed),
                Err(Malformed),
                Err(Malformed),
                Err(Malformed),
            ]
        );
    }

    #[test]
    fn a_message_without_an_id_fails_the_batch() {
        let mut event = sqs(&[json!(partner(
            "e-1",
            "aws.partner/genesys.com/o",
            json!({})
        ))]);
        for id in [json!(null), json!(""), json!(7)] {
            event["Records"][0]["messageId"] = id.clone();
            let Some(Read::Batch(Err(reject))) = read_batch(&event, 64) else {
                panic!("a refused batch expected for messageId {id}")
            };
            assert_eq!(reject.code, RejectCode::Malformed);
        }
    }

    #[test]
    fn only_a_batch_of_sqs_messages_is_this_door() {
        let one = sqs(&[json!("{}")]);
        let mut mixed = sqs(&[json!("{}"), json!("{}")]);
        mixed["Records"][1]["eventSource"] = json!("aws:dynamodb");
        for event in [
            json!({"Records": []}),
            json!({"Records": [{"body": "x"}]}),
            json!({"Records": "x"}),
            json!({"Records": [{"eventSource": 5, "body": "x"}]}),
            mixed,
        ] {
            assert!(read_batch(&event, 64).is_none(), "{event}");
        }
        assert!(matches!(read_batch(&one, 64), Some(Read::Batch(Ok(_)))));
    }
}
