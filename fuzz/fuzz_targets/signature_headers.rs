//! Any signature header value and body through each body-signing scheme's
//! parser (`genesys`, `open-messaging`, `timestamped`): a defined answer,
//! never a panic.
#![no_main]

use genesys_sign as sample;
use genesys_webhook::envelope::{FrontDoor, HttpDelivery};
use genesys_webhook::secrets::{Secret, Secrets};
use genesys_webhook::verify::{Genesys, Keys, OpenMessaging, Scheme, Timestamped};
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&[u8], &[u8])| {
    let (value, body) = input;
    let Ok(value) = HeaderValue::from_bytes(value) else {
        return;
    };
    let keys = Keys::new(&Secrets {
        current: Secret::new(sample::TEST_SECRET),
        previous: None,
    });
    let schemes: [(Box<dyn Scheme>, &'static str); 3] = [
        (Box::new(Genesys::new(None, keys.clone())), Genesys::HEADER),
        (
            Box::new(OpenMessaging::new(None, keys.clone())),
            OpenMessaging::HEADER,
        ),
        (
            Box::new(Timestamped::new(None, keys, 300)),
            Timestamped::HEADER,
        ),
    ];
    for (scheme, header) in schemes {
        let mut headers = HeaderMap::new();
        headers.insert(HeaderName::from_static(header), value.clone());
        let delivery = HttpDelivery {
            front_door: FrontDoor::ApiGatewayV2,
            path: String::new(),
            headers,
            body: body.to_vec(),
        };
        let _ = scheme.verify(&delivery, sample::SAMPLE_TIME);
    }
});
