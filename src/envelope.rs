//! Lambda event → a [`Delivery`]: which front door sent it, its headers, and
//! the exact bytes the sender signed.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

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
    /// no front door sends. Reads only the keys that decide, whatever the
    /// types of the others.
    pub fn detect(event: &str) -> Option<Self> {
        serde_json::from_str::<Shape<'_>>(event).ok()?.front_door()
    }
}

/// The keys of an invocation that say which front door sent it and what it
/// delivered; every other value is skipped unparsed. Header maps are held as
/// raw JSON until one is chosen: a REST API event carries every header twice.
#[derive(Deserialize)]
struct Event<'a, Body, Flag> {
    #[serde(rename = "requestContext", borrow)]
    request_context: Option<ContextShape<'a>>,
    #[serde(rename = "httpMethod")]
    http_method: Option<IgnoredAny>,
    #[serde(borrow)]
    headers: Option<&'a RawValue>,
    #[serde(rename = "multiValueHeaders", borrow)]
    multi_value_headers: Option<&'a RawValue>,
    body: Option<Body>,
    #[serde(rename = "isBase64Encoded")]
    is_base64_encoded: Option<Flag>,
    #[serde(rename = "detail-type")]
    detail_type: Option<IgnoredAny>,
    source: Option<IgnoredAny>,
    detail: Option<IgnoredAny>,
}

/// The whole event, read in the one pass an invocation normally needs.
type Typed<'a> = Event<'a, Text<'a>, bool>;

/// Only the keys that decide the front door, for an event that failed to
/// read as [`Typed`]: it is still answered through the door it came in by.
type Shape<'a> = Event<'a, IgnoredAny, IgnoredAny>;

impl<Body, Flag> Event<'_, Body, Flag> {
    fn front_door(&self) -> Option<FrontDoor> {
        if let Some(ctx) = &self.request_context {
            if ctx.elb.is_some() {
                return Some(FrontDoor::Alb {
                    multi_value: self.multi_value_headers.is_some() && self.headers.is_none(),
                });
            }
            if ctx.http.is_some() {
                let url = ctx
                    .domain_name
                    .as_ref()
                    .is_some_and(|d| d.contains(".lambda-url."));
                return Some(if url {
                    FrontDoor::FunctionUrl
                } else {
                    FrontDoor::ApiGatewayV2
                });
            }
            return self
                .http_method
                .is_some()
                .then_some(FrontDoor::ApiGatewayV1);
        }
        (self.detail_type.is_some() && self.source.is_some() && self.detail.is_some())
            .then_some(FrontDoor::EventBridge)
    }

    /// REST APIs and ALBs send both maps or only the multi-value one; the
    /// multi-value map is the complete one, so repeated headers stay visible.
    fn header_map(&self) -> serde_json::Result<HeaderMap> {
        let parse = |raw: Option<&RawValue>| match raw {
            Some(raw) => serde_json::from_str::<Headers>(raw.get()).map(|h| h.0),
            None => Ok(HeaderMap::new()),
        };
        let multi = parse(self.multi_value_headers)?;
        if multi.is_empty() {
            parse(self.headers)
        } else {
            Ok(multi)
        }
    }
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
    pub detail_type: String,
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

/// Reads an invocation in one pass: the front door it came in by, and its
/// delivery or why it cannot be one. `None` for events no front door sends.
pub fn decode(event: &str, max_body: usize) -> Option<(FrontDoor, Result<Delivery, Reject>)> {
    let Ok(e) = serde_json::from_str::<Typed<'_>>(event) else {
        return FrontDoor::detect(event).map(|door| (door, Err(mismatch())));
    };
    let door = e.front_door()?;
    if door == FrontDoor::EventBridge {
        return Some((door, partner(event, max_body).map(Delivery::Partner)));
    }
    Some((door, e.delivery(door, max_body)))
}

fn mismatch() -> Reject {
    RejectCode::Malformed.because("event does not match its front door")
}

impl Typed<'_> {
    /// Body size is checked before any base64 is decoded, so an oversize
    /// body is never allocated twice.
    fn delivery(self, door: FrontDoor, max_body: usize) -> Result<Delivery, Reject> {
        let headers = self.header_map().map_err(|_| mismatch())?;
        let body = self.body.map(|b| b.0).unwrap_or_default();
        let body = body_bytes(body, self.is_base64_encoded.unwrap_or(false), max_body)?;
        Ok(Delivery::Http(HttpDelivery {
            front_door: door,
            headers,
            body,
        }))
    }
}

/// A partner event is read again as the `EventBridgeEvent` it must be, so
/// that everything EventBridge guarantees about it is checked.
fn partner(event: &str, max_body: usize) -> Result<PartnerEvent, Reject> {
    #[derive(Deserialize)]
    struct Topic {
        #[serde(rename = "topicName")]
        topic_name: Option<String>,
    }
    let event: EventBridgeEvent<Box<RawValue>> =
        serde_json::from_str(event).map_err(|_| mismatch())?;
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
        detail_type: event.detail_type,
        detail: detail.as_bytes().to_vec(),
    })
}

/// A header map as the front doors write it: each name to a string or to a
/// list of strings, or `null` for none. A name given twice (in any letter
/// case) keeps both values, so a repeat is seen rather than one copy winning.
struct Headers(HeaderMap);

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_option(HeadersVisitor)
    }
}

struct HeadersVisitor;

impl<'de> Visitor<'de> for HeadersVisitor {
    type Value = Headers;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of header names to strings or lists of strings")
    }

    fn visit_none<E: de::Error>(self) -> Result<Headers, E> {
        Ok(Headers(HeaderMap::new()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Headers, E> {
        Ok(Headers(HeaderMap::new()))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Headers, D::Error> {
        deserializer.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Headers, A::Error> {
        let mut map = HeaderMap::with_capacity(access.size_hint().unwrap_or(0));
        while let Some(Text(name)) = access.next_key()? {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| de::Error::custom("invalid header name"))?;
            access.next_value_seed(Append {
                map: &mut map,
                name,
            })?;
        }
        Ok(Headers(map))
    }
}

/// Appends one header's value, or each of a list of values, to the map.
struct Append<'m> {
    map: &'m mut HeaderMap,
    name: HeaderName,
}

impl Append<'_> {
    fn push<E: de::Error>(&mut self, value: &str) -> Result<(), E> {
        let value = HeaderValue::from_str(value).map_err(|_| E::custom("invalid header value"))?;
        self.map.append(&self.name, value);
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Append<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Append<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a header value or a list of them")
    }

    fn visit_str<E: de::Error>(mut self, value: &str) -> Result<(), E> {
        self.push(value)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(Text(value)) = seq.next_element()? {
            self.push(&value)?;
        }
        Ok(())
    }
}

/// A string borrowed from the event where it has no escapes (serde's own
/// `Cow` always copies).
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(TextVisitor(std::marker::PhantomData))
    }
}

/// The exact body bytes: `body` itself, or its base64 decoding when
/// `is_base64`, refused when over `max_body`.
pub fn body_bytes(body: Cow<'_, str>, is_base64: bool, max_body: usize) -> Result<Vec<u8>, Reject> {
    let too_large = RejectCode::TooLarge.because("body over MAX_BODY_BYTES");
    if !is_base64 {
        return if body.len() > max_body {
            Err(too_large)
        } else {
            Ok(body.into_owned().into_bytes())
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
        let (_, delivery) = decode(&event, 64).expect("known front door");
        match delivery? {
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
    fn a_header_named_twice_in_any_case_is_seen_twice() {
        let event = v1(
            json!({"X-Genesys-Signature": "a", "x-genesys-signature": "b"}),
            json!(""),
            false,
        );
        let err = http(event)
            .unwrap()
            .header(&HeaderName::from_static("x-genesys-signature"))
            .unwrap_err();
        assert_eq!(err.code, RejectCode::Malformed);
    }

    #[test]
    fn single_value_map_is_used_when_the_multi_value_map_is_empty() {
        let mut event = v1(json!({"X-Genesys-Signature": "abc"}), json!(""), false);
        event["multiValueHeaders"] = json!({});
        let d = http(event).unwrap();
        let name = HeaderName::from_static("x-genesys-signature");
        assert_eq!(d.header(&name).unwrap(), Some("abc"));
    }

    #[test]
    fn escaped_json_strings_decode_to_the_signed_bytes() {
        let body = "{\"a\":\"caf\u{e9} \\\" \\n\"}";
        let d = http(v2("x", json!({"x-k": "v\u{e9}"}), json!(body), false)).unwrap();
        assert_eq!(d.body, body.as_bytes());
    }

    #[test]
    fn partner_event_keeps_id_topic_and_detail() {
        let event: Value =
            serde_json::from_str(include_str!("../events/eventbridge-user-presence.json")).unwrap();
        let Delivery::Partner(p) = decode(&event.to_string(), 262_144).unwrap().1.unwrap() else {
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
        let (door, delivery) = decode(&event.to_string(), 100).unwrap();
        assert_eq!(door, FrontDoor::EventBridge);
        let err = delivery.unwrap_err();
        assert_eq!(err.code, RejectCode::Malformed);
    }
}
