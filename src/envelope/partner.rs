//! Events from the Genesys Cloud partner event bus. Unsigned: their trust is
//! the bus and IAM, checked here through `source`.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::{Limits, MAX_DELIVERY_ID_BYTES, mismatch, topic};
use crate::error::{Reject, RejectCode};

/// The `scheme` recorded for partner events, which carry no signature.
pub const PARTNER_SCHEME: &str = "partner-source";

/// A partner event that passed every check: a source under the prefix, an
/// id that fits, and a detail within the size limit.
#[derive(Debug, Clone)]
pub struct PartnerEvent {
    pub id: String,
    pub topic: Option<String>,
    pub detail_type: String,
    /// `detail` as it stands in the event's JSON: the bytes recorded.
    pub detail: Vec<u8>,
}

/// An EventBridge event's keys as raw JSON, borrowed from the invocation.
pub(super) struct PartnerFields<'a> {
    pub id: Option<&'a RawValue>,
    pub detail_type: Option<&'a RawValue>,
    pub source: Option<&'a RawValue>,
    pub detail: Option<&'a RawValue>,
    pub time: Option<&'a RawValue>,
    pub version: Option<&'a RawValue>,
    pub account: Option<&'a RawValue>,
    pub region: Option<&'a RawValue>,
    pub resources: Option<&'a RawValue>,
}

/// Types each key as EventBridge defines it, so an event that could not have
/// come from a bus is refused, then applies the deployment's limits.
pub(super) fn read(fields: PartnerFields<'_>, limits: &Limits) -> Result<PartnerEvent, Reject> {
    let detail_type: String = required(fields.detail_type)?;
    let source: String = required(fields.source)?;
    let detail = fields.detail.ok_or_else(mismatch)?.get();
    let id: Option<String> = optional(fields.id)?;
    optional::<DateTime<Utc>>(fields.time)?;
    optional::<String>(fields.version)?;
    optional::<String>(fields.account)?;
    optional::<String>(fields.region)?;
    optional::<Vec<String>>(fields.resources)?;

    let id = id
        .filter(|id| !id.is_empty())
        .ok_or(RejectCode::Malformed.because("event has no id"))?;
    if detail.len() > limits.max_body_bytes {
        return Err(RejectCode::TooLarge.because("detail over MAX_BODY_BYTES"));
    }
    let names_an_org = source
        .strip_prefix(limits.source_prefix.as_str())
        .is_some_and(|org| !org.trim_matches('/').is_empty());
    if !names_an_org {
        return Err(RejectCode::ForbiddenSource.because("source outside EVENTBRIDGE_SOURCE_PREFIX"));
    }
    if id.len() > MAX_DELIVERY_ID_BYTES {
        return Err(RejectCode::Malformed.because("event id too long"));
    }
    Ok(PartnerEvent {
        id,
        topic: topic(detail.as_bytes()),
        detail_type,
        detail: detail.as_bytes().to_vec(),
    })
}

fn required<T: DeserializeOwned>(raw: Option<&RawValue>) -> Result<T, Reject> {
    optional(raw)?.ok_or_else(mismatch)
}

/// `null` counts as absent, as it does for serde's `Option`.
fn optional<T: DeserializeOwned>(raw: Option<&RawValue>) -> Result<Option<T>, Reject> {
    raw.map(|r| serde_json::from_str::<Option<T>>(r.get()))
        .transpose()
        .map(Option::flatten)
        .map_err(|_| mismatch())
}

#[cfg(test)]
mod tests {
    use super::super::tests::decoded;
    use super::super::{Decoded, FrontDoor};
    use crate::error::RejectCode;
    use serde_json::{Value, json};

    #[test]
    fn partner_event_keeps_id_topic_and_detail() {
        let event: Value =
            serde_json::from_str(include_str!("../../events/eventbridge-user-presence.json"))
                .unwrap();
        let Decoded::Partner(p) = decoded(&event, 262_144) else {
            panic!("partner event expected")
        };
        assert_eq!(p.id, "4cbedb0f-4dfd-4c8e-9e57-0acded092527");
        assert_eq!(
            p.topic.as_deref(),
            Some("v2.audits.entitytype.UserPresence.entityid.278522be-1683-4877-8257-4164a177be89")
        );
        assert_eq!(p.detail_type, event["detail-type"].as_str().unwrap());
        let detail: Value = serde_json::from_slice(&p.detail).unwrap();
        assert_eq!(detail, event["detail"]);
    }

    fn refused(event: Value, max_body_bytes: usize) -> RejectCode {
        match decoded(&event, max_body_bytes) {
            Decoded::Refused { front_door, reject } => {
                assert_eq!(front_door, FrontDoor::EventBridge);
                reject.code
            }
            other => panic!("refusal expected, got {other:?}"),
        }
    }

    #[test]
    fn every_partner_check_lives_here() {
        let ok = json!({"id": "e-1", "detail-type": "t", "source": "aws.partner/genesys.com/x",
                        "time": "2026-11-24T12:00:00Z", "detail": {"a": 1}});
        assert!(matches!(decoded(&ok, 100), Decoded::Partner(_)));
        let with = |k: &str, v: Value| {
            let mut e = ok.clone();
            e[k] = v;
            e
        };
        let cases = [
            (with("id", json!(null)), RejectCode::Malformed),
            (with("id", json!("")), RejectCode::Malformed),
            (with("id", json!("i".repeat(257))), RejectCode::Malformed),
            (with("time", json!("yesterday")), RejectCode::Malformed),
            (with("resources", json!([1])), RejectCode::Malformed),
            (
                with("source", json!("aws.partner/genesys.comx/y")),
                RejectCode::ForbiddenSource,
            ),
            (
                with("source", json!("aws.partner/genesys.com/")),
                RejectCode::ForbiddenSource,
            ),
            (
                with("source", json!("aws.partner/genesys.com//")),
                RejectCode::ForbiddenSource,
            ),
            (
                with("detail", json!({"a": "x".repeat(100)})),
                RejectCode::TooLarge,
            ),
        ];
        for (event, want) in cases {
            assert_eq!(refused(event.clone(), 100), want, "{event}");
        }
    }

    #[test]
    fn topic_follows_the_same_rule_as_http_bodies() {
        let e = json!({"id": "e", "detail-type": "t", "source": "aws.partner/genesys.com/x",
                       "detail": {"type": "Receipt"}});
        let Decoded::Partner(p) = decoded(&e, 100) else {
            panic!("partner event expected")
        };
        assert_eq!(p.topic.as_deref(), Some("Receipt"));
    }
}
