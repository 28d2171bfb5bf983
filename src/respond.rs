//! Outcome → the answer its front door expects. Only the outcome's code
//! reaches the caller; details stay in the log.

use aws_lambda_events::alb::AlbTargetGroupResponse;
use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use http::{HeaderMap, HeaderValue, header};
use serde::Serialize;
use serde_json::json;

use crate::envelope::FrontDoor;
use crate::error::{InvocationError, Reject, RejectCode};
use crate::outcome::Outcome;

/// The status and JSON body an outcome is answered with.
fn status_and_body(outcome: &Outcome) -> (u16, serde_json::Value) {
    match outcome {
        Outcome::Accepted { delivery_id } | Outcome::Duplicate { delivery_id } => (
            200,
            json!({"status": outcome.label(), "deliveryId": delivery_id}),
        ),
        Outcome::Rejected(r) => (r.code.status(), json!({"error": r.code.as_str()})),
        Outcome::StoreUnavailable(_) => (503, json!({"error": "store_unavailable"})),
    }
}

/// The function's answer, in the shape of the front door that asked.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Reply {
    ApiGatewayV1(ApiGatewayProxyResponse),
    ApiGatewayV2(ApiGatewayV2httpResponse),
    Alb(AlbTargetGroupResponse),
    Partner(serde_json::Value),
    /// The partner queue's batch answer: the messages to leave on the queue.
    Batch(BatchResponse),
}

/// An SQS partial batch response.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct BatchResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<BatchItemFailure>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct BatchItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

/// Whether a partner event's outcome may be acknowledged: recorded now or
/// before, or refused for a source this deployment never accepts. Anything
/// else stays with the sender, so it is retried and then kept whole in the
/// failure queue.
fn acknowledged(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Accepted { .. } | Outcome::Duplicate { .. } => true,
        Outcome::Rejected(r) => refusal_acknowledged(r),
        Outcome::StoreUnavailable(_) => false,
    }
}

/// The one refusal of a partner event that is final: retrying a foreign
/// source's event cannot make it one this deployment accepts.
fn refusal_acknowledged(reject: &Reject) -> bool {
    reject.code == RejectCode::ForbiddenSource
}

/// The answer to a batch from the partner queue: every message not
/// acknowledged is listed, so SQS receives it again. A batch where every
/// message failed is answered the same way rather than as an error, so each
/// message's fate is told by one rule and the function's error count means
/// only a batch it could not answer.
pub fn batch<'a>(outcomes: impl IntoIterator<Item = (&'a str, &'a Outcome)>) -> Reply {
    let batch_item_failures = outcomes
        .into_iter()
        .filter(|(_, outcome)| !acknowledged(outcome))
        .map(|(message_id, _)| BatchItemFailure {
            item_identifier: message_id.to_owned(),
        })
        .collect();
    Reply::Batch(BatchResponse {
        batch_item_failures,
    })
}

/// The answer for a delivery through `door`. With `message_id`, a 200 also
/// names the delivery as `messageId`, as Multicloud CX's Third-Party
/// Messaging API expects.
pub fn reply(
    door: FrontDoor,
    outcome: Outcome,
    retry_after_seconds: u32,
    message_id: bool,
) -> Result<Reply, InvocationError> {
    match door {
        FrontDoor::EventBridge => partner_reply(outcome),
        _ => Ok(http_reply(door, &outcome, retry_after_seconds, message_id)),
    }
}

/// The HTTP answer; EventBridge never asks for one.
fn http_reply(
    door: FrontDoor,
    outcome: &Outcome,
    retry_after_seconds: u32,
    message_id: bool,
) -> Reply {
    let (status, mut body) = status_and_body(outcome);
    if message_id && status == 200 {
        body["messageId"] = body["deliveryId"].clone();
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if matches!(outcome, Outcome::StoreUnavailable(_)) {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
    }
    let body = Some(Body::Text(body.to_string()));
    match door {
        FrontDoor::ApiGatewayV1 | FrontDoor::EventBridge => {
            let mut r = ApiGatewayProxyResponse::default();
            r.status_code = status.into();
            r.headers = headers;
            r.body = body;
            Reply::ApiGatewayV1(r)
        }
        FrontDoor::ApiGatewayV2 | FrontDoor::FunctionUrl => {
            let mut r = ApiGatewayV2httpResponse::default();
            r.status_code = status.into();
            r.headers = headers;
            r.body = body;
            Reply::ApiGatewayV2(r)
        }
        FrontDoor::Alb { multi_value } => {
            let mut r = AlbTargetGroupResponse::default();
            r.status_code = status.into();
            r.status_description = Some(status_description(status));
            if multi_value {
                r.multi_value_headers = headers;
            } else {
                r.headers = headers;
            }
            r.body = body;
            Reply::Alb(r)
        }
    }
}

/// The answer to a partner event through the EventBridge door. What is not
/// acknowledged is an invocation error, so Lambda retries it and then hands
/// the whole event to its on-failure destination.
fn partner_reply(outcome: Outcome) -> Result<Reply, InvocationError> {
    match outcome {
        Outcome::StoreUnavailable(e) => Err(e.into()),
        Outcome::Rejected(r) if refusal_acknowledged(&r) => Ok(Reply::Partner(
            json!({"status": "rejected", "reason": r.code.as_str()}),
        )),
        Outcome::Rejected(r) => Err(InvocationError::PartnerRefused(r)),
        other => Ok(Reply::Partner(status_and_body(&other).1)),
    }
}

fn status_description(status: u16) -> String {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("{status} {reason}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{RejectCode, StoreError};
    use serde_json::Value;

    fn to_json(reply: &Reply) -> Value {
        serde_json::to_value(reply).unwrap()
    }

    fn accepted() -> Outcome {
        Outcome::Accepted {
            delivery_id: "d-1".into(),
        }
    }

    #[test]
    fn every_http_door_answers_status_and_json_body() {
        for door in [
            FrontDoor::ApiGatewayV1,
            FrontDoor::ApiGatewayV2,
            FrontDoor::FunctionUrl,
            FrontDoor::Alb { multi_value: false },
        ] {
            let v = to_json(&http_reply(door, &accepted(), 5, false));
            assert_eq!(v["statusCode"], 200, "{door:?}");
            let body: Value = serde_json::from_str(v["body"].as_str().unwrap()).unwrap();
            assert_eq!(body, json!({"status": "accepted", "deliveryId": "d-1"}));
            assert_eq!(v["headers"]["content-type"], "application/json");
        }
    }

    #[test]
    fn message_id_names_the_delivery_beside_the_usual_fields() {
        let duplicate = Outcome::Duplicate {
            delivery_id: "d-2".into(),
        };
        for (outcome, label, id) in [
            (accepted(), "accepted", "d-1"),
            (duplicate, "duplicate", "d-2"),
        ] {
            let v = to_json(&http_reply(FrontDoor::FunctionUrl, &outcome, 5, true));
            let body: Value = serde_json::from_str(v["body"].as_str().unwrap()).unwrap();
            assert_eq!(
                body,
                json!({"status": label, "deliveryId": id, "messageId": id})
            );
        }
    }

    #[test]
    fn alb_answers_with_a_status_description_and_matching_header_style() {
        let v = to_json(&http_reply(
            FrontDoor::Alb { multi_value: true },
            &accepted(),
            5,
            false,
        ));
        assert_eq!(v["statusDescription"], "200 OK");
        assert_eq!(
            v["multiValueHeaders"]["content-type"],
            json!(["application/json"])
        );
    }

    #[test]
    fn rejections_and_store_failures() {
        let cases = [
            (RejectCode::MissingSignature, 401),
            (RejectCode::InvalidSignature, 401),
            (RejectCode::StaleTimestamp, 401),
            (RejectCode::Malformed, 400),
            (RejectCode::TooLarge, 413),
            (RejectCode::ForbiddenSource, 403),
            (RejectCode::UnknownIntegration, 404),
        ];
        for (code, status) in cases {
            let outcome = Outcome::Rejected(code.because("secret detail"));
            let v = to_json(&http_reply(FrontDoor::ApiGatewayV2, &outcome, 5, true));
            assert_eq!(v["statusCode"], status);
            let body = v["body"].as_str().unwrap();
            assert_eq!(body, json!({"error": code.as_str()}).to_string());
            assert!(!body.contains("secret detail"));
        }
        let outcome = Outcome::StoreUnavailable(StoreError("timeout".into()));
        let v = to_json(&http_reply(FrontDoor::ApiGatewayV1, &outcome, 7, true));
        assert_eq!(v["statusCode"], 503);
        assert_eq!(v["headers"]["retry-after"], "7");
        assert_eq!(v["body"], json!({"error": "store_unavailable"}).to_string());
    }

    #[test]
    fn partner_answers() {
        let v = to_json(&partner_reply(accepted()).unwrap());
        assert_eq!(v, json!({"status": "accepted", "deliveryId": "d-1"}));
        let v = to_json(
            &partner_reply(Outcome::Rejected(RejectCode::ForbiddenSource.because("x"))).unwrap(),
        );
        assert_eq!(
            v,
            json!({"status": "rejected", "reason": "forbidden_source"})
        );
        let err = partner_reply(Outcome::StoreUnavailable(StoreError("down".into())));
        assert!(matches!(err, Err(InvocationError::Store(_))));
        for code in [RejectCode::Malformed, RejectCode::TooLarge] {
            let err = partner_reply(Outcome::Rejected(code.because("x")));
            assert!(
                matches!(err, Err(InvocationError::PartnerRefused(r)) if r.code == code),
                "{code:?}"
            );
        }
    }

    #[test]
    fn a_batch_lists_every_message_not_acknowledged() {
        let outcomes = [
            ("m-accepted", accepted()),
            (
                "m-duplicate",
                Outcome::Duplicate {
                    delivery_id: "d-1".into(),
                },
            ),
            (
                "m-foreign",
                Outcome::Rejected(RejectCode::ForbiddenSource.because("x")),
            ),
            (
                "m-malformed",
                Outcome::Rejected(RejectCode::Malformed.because("x")),
            ),
            (
                "m-large",
                Outcome::Rejected(RejectCode::TooLarge.because("x")),
            ),
            (
                "m-store",
                Outcome::StoreUnavailable(StoreError("down".into())),
            ),
        ];
        let v = to_json(&batch(outcomes.iter().map(|(id, o)| (*id, o))));
        assert_eq!(
            v,
            json!({"batchItemFailures": [
                {"itemIdentifier": "m-malformed"},
                {"itemIdentifier": "m-large"},
                {"itemIdentifier": "m-store"}
            ]})
        );
        let none: [(&str, &Outcome); 0] = [];
        assert_eq!(to_json(&batch(none)), json!({"batchItemFailures": []}));
    }
}
