//! Any `webhook-id`, `webhook-timestamp` and `webhook-signature` values and
//! body under the `standard-webhooks` scheme: a defined answer, never a panic.
#![no_main]

use genesys_sign as sample;
use genesys_webhook::envelope::{FrontDoor, HttpDelivery};
use genesys_webhook::secrets::{Secret, Secrets};
use genesys_webhook::verify::{Scheme, StandardWebhooks};
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&[u8], &[u8], &[u8], &[u8])| {
    let (id, timestamp, signature, body) = input;
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("webhook-id", id),
        ("webhook-timestamp", timestamp),
        ("webhook-signature", signature),
    ] {
        let Ok(value) = HeaderValue::from_bytes(value) else {
            return;
        };
        headers.insert(HeaderName::from_static(name), value);
    }
    let delivery = HttpDelivery {
        front_door: FrontDoor::ApiGatewayV2,
        path: String::new(),
        headers,
        body: body.to_vec(),
    };
    let secrets = Secrets {
        current: Secret::new(sample::TEST_SECRET_STANDARD),
        previous: None,
    };
    let keys = StandardWebhooks::keys(&secrets).unwrap();
    let scheme = StandardWebhooks::new(None, keys, 300);
    let _ = scheme.verify(&delivery, sample::SAMPLE_TIME);
    let _ = scheme.delivery_id(&delivery);
});
