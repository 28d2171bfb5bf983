//! The delivery verifies under a scheme the deployment does not pin.

use http::HeaderName;

use super::super::{Keys, SchemeName, SchemeSettings, keyed};
use super::{Diagnosis, default_header};
use crate::envelope::HttpDelivery;

/// The delivery checked by each scheme the deployment does not pin, at its
/// own header and at the pinned one, with the deployment's keys and no bound
/// on the timestamp.
pub(super) fn other_scheme(
    pinned: &SchemeSettings,
    pinned_header: &HeaderName,
    keys: &Keys,
    delivery: &HttpDelivery,
    now: i64,
) -> Option<Diagnosis> {
    for signed in SchemeName::ALL.into_iter().filter(|s| *s != pinned.name) {
        let own = default_header(signed);
        let headers = if own == *pinned_header {
            vec![own]
        } else {
            vec![own, pinned_header.clone()]
        };
        for header in headers {
            let settings = SchemeSettings {
                name: signed,
                header: Some(header.clone()),
                tolerance_seconds: i64::MAX,
            };
            if keyed(&settings, keys.clone()).verify(delivery, now).is_ok() {
                return Some(Diagnosis::OtherScheme {
                    signed,
                    header,
                    pinned: pinned.name,
                });
            }
        }
    }
    None
}
