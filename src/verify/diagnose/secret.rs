//! The digest matches a copy of the secret pasted with extra or missing
//! characters, or another integration's secret.

use super::super::{Algorithm, Keys, Pasted, SchemeSettings, keyed};
use crate::envelope::HttpDelivery;

/// How a pasted copy of a secret would have signed `message` as one of
/// `digests`, if one would.
pub(super) fn pasted(
    keys: &Keys,
    algorithm: Algorithm,
    message: &[&[u8]],
    digests: &[&[u8]],
) -> Option<Pasted> {
    if digests.is_empty() {
        return None;
    }
    keys.pasted_macs(algorithm)
        .into_iter()
        .find(|(_, mac)| {
            let mut mac = mac.clone();
            for part in message {
                mac.update(part);
            }
            mac.matches_any(digests)
        })
        .map(|(how, _)| how)
}

/// The first of `others` whose keys verify `delivery` under the pinned
/// scheme.
pub(super) fn other_integration<'a>(
    settings: &SchemeSettings,
    delivery: &HttpDelivery,
    now: i64,
    others: &[(&'a str, &Keys)],
) -> Option<&'a str> {
    others
        .iter()
        .find(|(_, k)| keyed(settings, (*k).clone()).verify(delivery, now).is_ok())
        .map(|(name, _)| *name)
}
