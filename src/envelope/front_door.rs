//! Which front door sent an invocation, told from the event's shape alone.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use std::borrow::Cow;

use super::Limits;
use super::body::Text;
use super::headers::{HttpDelivery, header_map};
use super::partner::PartnerFields;
use super::source::alb_source;
use crate::error::{Reject, RejectCode};
use std::net::IpAddr;

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
/// delivered; every other value is skipped unparsed. Header maps and partner
/// fields are held as raw JSON until the door is known: a REST API event
/// carries every header twice.
#[derive(Deserialize)]
pub(super) struct Invocation<'a, Body, Flag, Field> {
    #[serde(rename = "requestContext", borrow)]
    request_context: Option<RequestContext<'a>>,
    #[serde(rename = "httpMethod")]
    http_method: Option<IgnoredAny>,
    #[serde(borrow)]
    headers: Option<&'a RawValue>,
    #[serde(rename = "multiValueHeaders", borrow)]
    multi_value_headers: Option<&'a RawValue>,
    body: Option<Body>,
    #[serde(rename = "isBase64Encoded")]
    is_base64_encoded: Option<Flag>,
    /// The request path of REST APIs and ALBs.
    path: Option<Body>,
    /// The request path of HTTP APIs and Function URLs.
    #[serde(rename = "rawPath")]
    raw_path: Option<Body>,
    // A partner event's keys, typed only once the door is known.
    id: Option<Field>,
    #[serde(rename = "detail-type")]
    detail_type: Option<Field>,
    source: Option<Field>,
    detail: Option<Field>,
    time: Option<Field>,
    version: Option<Field>,
    account: Option<Field>,
    region: Option<Field>,
    resources: Option<Field>,
    /// An SQS batch's messages, read only when no other door matches.
    #[serde(rename = "Records")]
    records: Option<Field>,
}

/// The whole event, read in the one pass an invocation normally needs.
pub(super) type Typed<'a> = Invocation<'a, Text<'a>, bool, &'a RawValue>;

/// Only the keys that decide the front door, for an event that failed to
/// read as [`Typed`]: it is still answered through the door it came in by.
pub(super) type Shape<'a> = Invocation<'a, IgnoredAny, IgnoredAny, IgnoredAny>;

#[derive(Deserialize)]
struct RequestContext<'a> {
    elb: Option<IgnoredAny>,
    #[serde(borrow)]
    http: Option<SourceIp<'a>>,
    /// REST APIs report the caller here.
    #[serde(borrow)]
    identity: Option<SourceIp<'a>>,
    #[serde(rename = "domainName", borrow)]
    domain_name: Option<Cow<'a, str>>,
}

/// A `sourceIp` key, typed only when it is read.
#[derive(Deserialize)]
struct SourceIp<'a> {
    #[serde(rename = "sourceIp", borrow)]
    source_ip: Option<&'a RawValue>,
}

impl SourceIp<'_> {
    fn address(&self) -> Option<IpAddr> {
        serde_json::from_str::<&str>(self.source_ip?.get())
            .ok()?
            .parse()
            .ok()
    }
}

impl<Body, Flag, Field> Invocation<'_, Body, Flag, Field> {
    pub(super) fn front_door(&self) -> Option<FrontDoor> {
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
}

impl<'a> Typed<'a> {
    pub(super) fn records(&self) -> Option<&'a RawValue> {
        self.records
    }

    pub(super) fn partner_fields(&self) -> PartnerFields<'a> {
        PartnerFields {
            id: self.id,
            detail_type: self.detail_type,
            source: self.source,
            detail: self.detail,
            time: self.time,
            version: self.version,
            account: self.account,
            region: self.region,
            resources: self.resources,
        }
    }

    /// Body size is checked before any base64 is decoded, so an oversize
    /// body is never allocated twice.
    pub(super) fn into_http(
        self,
        front_door: FrontDoor,
        limits: &Limits,
    ) -> Result<HttpDelivery, Reject> {
        let headers =
            header_map(self.headers, self.multi_value_headers).map_err(|_| super::mismatch())?;
        let ctx = self.request_context.as_ref();
        let source = match front_door {
            FrontDoor::Alb { .. } => {
                let forwarded = headers.get_all("x-forwarded-for").iter().next_back();
                alb_source(forwarded.and_then(|v| v.to_str().ok()))
            }
            FrontDoor::ApiGatewayV1 => ctx.and_then(|c| c.identity.as_ref()?.address()),
            _ => ctx.and_then(|c| c.http.as_ref()?.address()),
        };
        if !limits.allowed_sources.allows(source) {
            return Err(
                RejectCode::ForbiddenSource.because("source address outside ALLOWED_SOURCE_CIDRS")
            );
        }
        let max_body = limits.max_body_bytes;
        let path = match front_door {
            FrontDoor::ApiGatewayV2 | FrontDoor::FunctionUrl => self.raw_path,
            _ => self.path,
        };
        let path = path.map(|p| p.0.into_owned()).unwrap_or_default();
        let body = self.body.map(|b| b.0).unwrap_or_default();
        let body = super::body_bytes(body, self.is_base64_encoded.unwrap_or(false), max_body)?;
        Ok(HttpDelivery {
            front_door,
            path,
            headers,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{v1, v2};
    use super::*;
    use serde_json::json;

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
}
