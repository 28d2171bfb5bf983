//! Any bytes the runtime could hand over, through the whole handler: envelope
//! decoding, verification and the answer. Nothing may panic.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use genesys_webhook::config::{Config, SecretSource};
use genesys_webhook::dedup::MemoryStore;
use genesys_webhook::handler::Handler;
use genesys_webhook::sample;
use genesys_webhook::verify::scheme_for;
use libfuzzer_sys::fuzz_target;

fn handler() -> Handler<MemoryStore> {
    let c = Config::from_lookup(|k| match k {
        "WEBHOOK_SECRET" => Some(sample::TEST_SECRET.into()),
        "DEDUP_TABLE" => Some("t".into()),
        "MAX_BODY_BYTES" => Some("4096".into()),
        _ => None,
    })
    .unwrap();
    let SecretSource::Inline(secrets) = &c.secrets else {
        unreachable!()
    };
    Handler::new(
        &c,
        scheme_for(&c, secrets).unwrap(),
        MemoryStore::new(86_400),
    )
}

fuzz_target!(|data: &[u8]| {
    // What the runtime does with the invocation's bytes.
    let Ok(event) = serde_json::from_slice::<Box<serde_json::value::RawValue>>(data) else {
        return;
    };
    let h = handler();
    let future = pin!(h.handle_at(event.get(), sample::SAMPLE_TIME));
    if let Poll::Ready(Ok(reply)) = future.poll(&mut Context::from_waker(Waker::noop())) {
        let _ = serde_json::to_vec(&reply);
    }
});
