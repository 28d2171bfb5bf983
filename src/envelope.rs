//! Lambda event → a [`Delivery`]: which front door sent it, its headers, and
//! the exact bytes the sender signed.

use aws_lambda_events::alb::AlbTargetGroupRequest;
use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderName};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use std::borrow::Cow;

use crate::error::{Reject, RejectCode};

/// Where a delivery came in. Decides how it is decoded and answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrontDoor {
    ApiGatewayV1,
    ApiGatewayV2,
    FunctionUrl,
    /// `multi_value` is set when the target group sends `multiValueHeaders`;
    /// its answer must then use them too.
    Alb {
        multi_value: bool,
    },
    EventBridge,
}

impl FrontDoor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiGatewayV1 => "apigw-v1",
            Self::ApiGatewayV2 => "apigw-v2",
            Self::FunctionUrl => "function-url",
            Self::Alb { .. } => "alb",
            Self::EventBridge => "eventbridge",
        }
    }

    /// Tells the front door from the event's shape alone; `None` for events
    /// no front door sends. Reads only the keys that decide, allocating
    /// nothing for the rest.
    pub fn detect(event: &str) -> Option<Self> {
        let shape: Shape<'_> = serde_json::from_str(event).ok()?;
        if let Some(ctx) = shape.request_context {
            if ctx.elb.is_some() {
                return Some(Self::Alb {
                    multi_value: shape.multi_value_headers.is_some() && shape.headers.is_none(),
                });
            }
            if ctx.http.is_some() {
                let url = ctx.domain_name.is_some_and(|d| d.contains(".lambda-url."));
                return Some(if url {
                    Self::FunctionUrl
                } else {
                    Self::ApiGatewayV2
                });
            }
            return shape.http_method.is_some().then_some(Self::ApiGatewayV1);
        }
        (shape.detail_type.is_some() && shape.source.is_some() && shape.detail.is_some())
            .then_some(Self::EventBridge)
    }
}

/// The keys that tell front doors apart; every other value is skipped.
#[derive(Deserialize)]
struct Shape<'a> {
    #[serde(rename = "requestContext", borrow)]
    request_context: Option<ContextShape<'a>>,
    #[serde(rename = "httpMethod")]
    http_method: Option<IgnoredAny>,
    headers: Option<IgnoredAny>,
    #[serde(rename = "multiValueHeaders")]
    multi_value_headers: Option<IgnoredAny>,
    #[serde(rename = "detail-type")]
    detail_type: Option<IgnoredAny>,
    source: Option<IgnoredAny>,
    detail: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct ContextShape<'a> {
    elb: Option<IgnoredAny>,
    http: Option<IgnoredAny>,
    #[serde(rename = "domainName", borrow)]
    domain_name: Option<Cow<'a, str>>,
}

/// A delivery over HTTP: headers (looked up case-insensitively) and the body
/// exactly as the sender signed it.
#[derive(Debug, Clone)]
pub struct HttpDelivery {
    pub front_door: FrontDoor,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// An event from the Genesys Cloud partner event bus. Unsigned: its trust is
/// the bus and IAM, checked through `source`.
#[derive(Debug, Clone)]
pub struct PartnerEvent {
    pub id: String,
    pub source: String,
    pub topic: Option<String>,
    /// `detail` as it stands in the event's JSON: the bytes recorded.
    pub detail: Vec<u8>,
}

#[derive(Debug, Clone)]
pub enum Delivery {
    Http(HttpDelivery),
    Partner(PartnerEvent),
}

/// Longest header value looked at; Genesys's are far shorter, and bounding it
/// bounds the work a hostile header can cause.
pub const MAX_HEADER_BYTES: usize = 4096;

impl HttpDelivery {
    /// The one value of `name`, or `None` when absent. A header sent more than
    /// once, overlong, or not visible ASCII is malformed rather than guessed at.
    pub fn header(&self, name: &HeaderName) -> Result<Option<&str>, Reject> {
        let mut values = self.headers.get_all(name).iter();
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(RejectCode::Malformed.because("header repeated"));
        }
        if value.len() > MAX_HEADER_BYTES {
            return Err(RejectCode::Malformed.because("header too long"));
        }
        value
            .to_str()
            .map(|v| Some(v.trim()))
            .map_err(|_| RejectCode::Malformed.because("header not visible ASCII"))
    }
}

/// Decodes an event whose front door is known. Body size is checked before
/// any base64 is decoded, so an oversize body is never allocated twice.
pub fn decode(door: FrontDoor, event: &str, max_body: usize) -> Result<Delivery, Reject> {
    let malformed = |_| RejectCode::Malformed.because("event does not match its front door");
    let (headers, body, is_base64) = match door {
        FrontDoor::ApiGatewayV1 => {
            let r: ApiGatewayProxyRequest = serde_json::from_str(event).map_err(malformed)?;
            (
                prefer_multi(r.headers, r.multi_value_headers),
                r.body,
                r.is_base64_encoded,
            )
        }
        FrontDoor::ApiGatewayV2 | FrontDoor::FunctionUrl => {
            let r: ApiGatewayV2httpRequest = serde_json::from_str(event).map_err(malformed)?;
            (r.headers, r.body, r.is_base64_encoded)
        }
        FrontDoor::Alb { .. } => {
            let r: AlbTargetGroupRequest = serde_json::from_str(event).map_err(malformed)?;
            (
                prefer_multi(r.headers, r.multi_value_headers),
                r.body,
                r.is_base64_encoded,
            )
        }
        FrontDoor::EventBridge => {
            let e: EventBridgeEvent<Box<RawValue>> =
                serde_json::from_str(event).map_err(malformed)?;
            return partner(e, max_body).map(Delivery::Partner);
        }
    };
    let body = body_bytes(body.unwrap_or_default(), is_base64, max_body)?;
    Ok(Delivery::Http(HttpDelivery {
        front_door: door,
        headers,
        body,
    }))
}

/// REST APIs and ALBs send both maps or only the multi-value one; the
/// multi-value map is the complete one, so repeated headers stay visible.
fn prefer_multi(single: HeaderMap, multi: HeaderMap) -> HeaderMap {
    if multi.is_empty() { single } else { multi }
}

/// The exact body bytes: `body` itself, or its base64 decoding when
/// `is_base64`, refused when over `max_body`.
pub fn body_bytes(body: String, is_base64: bool, max_body: usize) -> Result<Vec<u8>, Reject> {
    let too_large = RejectCode::TooLarge.because("body over MAX_BODY_BYTES");
    if !is_base64 {
        return if body.len() > max_body {
            Err(too_large)
        } else {
            Ok(body.into_bytes())
        };
    }
    if base64::decoded_len_estimate(body.len()) > max_body + 2 {
        return Err(too_large);
    }
    let bytes = STANDARD
        .decode(body.as_bytes())
        .map_err(|_| RejectCode::Malformed.because("body is not valid base64"))?;
    if bytes.len() > max_body {
        return Err(too_large);
    }
    Ok(bytes)
}

fn partner(
    event: EventBridgeEvent<Box<RawValue>>,
    max_body: usize,
) -> Result<PartnerEvent, Reject> {
    #[derive(Deserialize)]
    struct Topic {
        #[serde(rename = "topicName")]
        topic_name: Option<String>,
    }
    let id = event
        .id
        .filter(|id| !id.is_empty())
        .ok_or(RejectCode::Malformed.because("event has no id"))?;
    let detail = event.detail.get();
    if detail.len() > max_body {
        return Err(RejectCode::TooLarge.because("detail over MAX_BODY_BYTES"));
    }
    let topic = serde_json::from_str::<Topic>(detail)
        .ok()
        .and_then(|t| t.topic_name);
    Ok(PartnerEvent {
        id,
        source: event.source,
        topic,
        detail: detail.as_bytes().to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn v1(headers: Value, body: Value, b64: bool) -> Value {
        json!({"resource": "/webhooks/genesys", "path": "/webhooks/genesys", "httpMethod": "POST",
               "headers": headers, "multiValueHeaders": null, "body": body, "isBase64Encoded": b64,
               "requestContext": {"requestId": "r", "httpMethod": "POST", "stage": "prod"}})
    }

    fn v2(domain: &str, headers: Value, body: Value, b64: bool) -> Value {
        json!({"version": "2.0", "routeKey": "POST /webhooks/genesys", "rawPath": "/webhooks/genesys",
               "headers": headers, "body": body, "isBase64Encoded": b64,
               "requestContext": {"domainName": domain, "requestId": "r",
                                  "http": {"method": "POST", "path": "/webhooks/genesys"}}})
    }

    fn http(event: Value) -> Result<HttpDelivery, Reject> {
        let event = event.to_string();
        let door = FrontDoor::detect(&event).expect("known front door");
        match decode(door, &event, 64)? {
            Delivery::Http(d) => Ok(d),
            Delivery::Partner(_) => panic!("http delivery expected"),
        }
    }

    #[test]
    fn detects_each_front_door() {
        let alb = json!({"requestContext": {"elb": {}}, "httpMethod": "POST", "headers": {}});
        let alb_mv =
            json!({"requestContext": {"elb": {}}, "httpMethod": "POST", "multiValueHeaders": {}});
        let cases = [
            (
                v1(json!({}), json!("x"), false),
                Some(FrontDoor::ApiGatewayV1),
            ),
            (
                v2(
                    "abc.execute-api.eu-west-1.amazonaws.com",
                    json!({}),
                    json!("x"),
                    false,
                ),
                Some(FrontDoor::ApiGatewayV2),
            ),
            (
                v2(
                    "abc.lambda-url.eu-west-1.on.aws",
                    json!({}),
                    json!("x"),
                    false,
                ),
                Some(FrontDoor::FunctionUrl),
            ),
            (alb, Some(FrontDoor::Alb { multi_value: false })),
            (alb_mv, Some(FrontDoor::Alb { multi_value: true })),
            (
                json!({"detail-type": "t", "source": "s", "detail": {}}),
                Some(FrontDoor::EventBridge),
            ),
            (json!({"detail-type": "t", "source": "s"}), None),
            (json!({"requestContext": {}}), None),
            (json!([1, 2]), None),
            (json!("body"), None),
            (json!(null), None),
            (json!({}), None),
        ];
        for (event, want) in cases {
            assert_eq!(FrontDoor::detect(&event.to_string()), want, "{event}");
        }
    }

    #[test]
    fn plain_and_base64_bodies_give_the_same_bytes() {
        let text = "{\"a\":\"é ✓\"}\r\n";
        let b64 = STANDARD.encode(text);
        for event in [
            v1(json!({}), json!(text), false),
            v1(json!({}), json!(b64), true),
            v2("x", json!({}), json!(text), false),
            v2("x.lambda-url.y", json!({}), json!(b64), true),
        ] {
            assert_eq!(http(event).unwrap().body, text.as_bytes());
        }
    }

    #[test]
    fn binary_base64_body_is_kept_byte_for_byte() {
        let raw = [0xffu8, 0x00, 0xfe, b'\r', b'\n'];
        let d = http(v2("x", json!({}), json!(STANDARD.encode(raw)), true)).unwrap();
        assert_eq!(d.body, raw);
    }

    #[test]
    fn bad_base64_is_malformed_not_a_panic() {
        for bad in ["%%%", "abc", "YWJj=", "YW Jj", "YWJj\n", "-_-_"] {
            let err = http(v2("x", json!({}), json!(bad), true)).unwrap_err();
            assert_eq!(err.code, RejectCode::Malformed, "{bad}");
        }
    }

    #[test]
    fn size_is_checked_before_and_after_decoding() {
        let exact = "a".repeat(64);
        assert_eq!(
            http(v1(json!({}), json!(exact), false)).unwrap().body.len(),
            64
        );
        let over = "a".repeat(65);
        let err = http(v1(json!({}), json!(over), false)).unwrap_err();
        assert_eq!(err.code, RejectCode::TooLarge);
        let err = http(v1(json!({}), json!(STANDARD.encode(&over)), true)).unwrap_err();
        assert_eq!(err.code, RejectCode::TooLarge);
        let err = http(v1(json!({}), json!("A".repeat(10_000)), true)).unwrap_err();
        assert_eq!(err.code, RejectCode::TooLarge);
        let ok = http(v1(json!({}), json!(STANDARD.encode(&exact)), true)).unwrap();
        assert_eq!(ok.body.len(), 64);
    }

    #[test]
    fn null_or_missing_body_is_empty() {
        assert!(
            http(v1(json!({}), json!(null), false))
                .unwrap()
                .body
                .is_empty()
        );
    }

    #[test]
    fn headers_are_case_insensitive_on_every_door() {
        let name = HeaderName::from_static("x-genesys-signature");
        for event in [
            v1(json!({"X-Genesys-Signature": "abc"}), json!(""), false),
            v2("x", json!({"x-genesys-signature": "abc"}), json!(""), false),
            v1(json!({"X-GENESYS-SIGNATURE": " abc "}), json!(""), false),
        ] {
            assert_eq!(http(event).unwrap().header(&name).unwrap(), Some("abc"));
        }
    }

    #[test]
    fn repeated_header_in_multi_value_map_is_malformed() {
        let mut event = v1(json!({"X-Genesys-Signature": "b"}), json!(""), false);
        event["multiValueHeaders"] = json!({"X-Genesys-Signature": ["a", "b"]});
        let d = http(event).unwrap();
        let err = d
            .header(&HeaderName::from_static("x-genesys-signature"))
            .unwrap_err();
        assert_eq!(err.code, RejectCode::Malformed);
    }

    #[test]
    fn alb_multi_value_headers() {
        let event = json!({"requestContext": {"elb": {"targetGroupArn": "arn"}}, "httpMethod": "POST",
            "path": "/", "multiValueHeaders": {"x-genesys-signature": ["abc"]}, "body": "x", "isBase64Encoded": false});
        let d = http(event).unwrap();
        assert_eq!(d.front_door, FrontDoor::Alb { multi_value: true });
        assert_eq!(
            d.header(&HeaderName::from_static("x-genesys-signature"))
                .unwrap(),
            Some("abc")
        );
    }

    #[test]
    fn shape_mismatch_is_malformed() {
        let event = json!({"requestContext": {"http": {}}, "headers": 5});
        let err = http(event).unwrap_err();
        assert_eq!(err.code, RejectCode::Malformed);
    }

    #[test]
    fn partner_event_keeps_id_topic_and_detail() {
        let event: Value =
            serde_json::from_str(include_str!("../events/eventbridge-user-presence.json")).unwrap();
        let Delivery::Partner(p) =
            decode(FrontDoor::EventBridge, &event.to_string(), 262_144).unwrap()
        else {
            panic!("partner event expected")
        };
        assert_eq!(p.id, "4cbedb0f-4dfd-4c8e-9e57-0acded092527");
        assert!(p.source.starts_with("aws.partner/genesys.com/cloud/"));
        assert_eq!(
            p.topic.as_deref(),
            Some("v2.audits.entitytype.UserPresence.entityid.278522be-1683-4877-8257-4164a177be89")
        );
        let detail: Value = serde_json::from_slice(&p.detail).unwrap();
        assert_eq!(detail, event["detail"]);
    }

    #[test]
    fn partner_event_without_id_is_malformed() {
        let event =
            json!({"detail-type": "t", "source": "aws.partner/genesys.com/x", "detail": {}});
        let err = decode(FrontDoor::EventBridge, &event.to_string(), 100).unwrap_err();
        assert_eq!(err.code, RejectCode::Malformed);
    }
}
