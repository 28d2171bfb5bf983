//! Any bytes an invocation could carry, handed over as `payload` hands them,
//! through the whole handler: envelope decoding, verification and the
//! answer. Nothing may panic.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use genesys_sign as sample;
use genesys_webhook::dedup::MemoryStore;
use genesys_webhook::handler::Handler;
use genesys_webhook::sink;
use genesys_webhook::verify::SchemeName;
use libfuzzer_sys::fuzz_target;

fn handler() -> Handler<MemoryStore> {
    // Each input's line is built, then dropped: neither printed nor kept.
    sink::write_lines_to(|_| {});
    sample::memory_handler(SchemeName::Genesys, &[("MAX_BODY_BYTES", "4096")])
}

fuzz_target!(|data: &[u8]| {
    let h = handler();
    let future = pin!(h.handle_at(data, sample::SAMPLE_TIME));
    if let Poll::Ready(Ok(reply)) = future.poll(&mut Context::from_waker(Waker::noop())) {
        let _ = serde_json::to_vec(&reply);
    }
});
