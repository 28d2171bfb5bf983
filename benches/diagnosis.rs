//! A forged delivery against a valid one of the same size, through the
//! handler: the forged one takes the mismatch path with its diagnosis. The
//! body is 60 KB of nested arrays, the shape re-layouts cost most on. Prints
//! forged ÷ valid at the end.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use criterion::Criterion;
use genesys_sign as sample;
use genesys_webhook::dedup::{Record, Recorded, Store};
use genesys_webhook::envelope::FrontDoor;
use genesys_webhook::error::StoreError;
use genesys_webhook::handler::Handler;
use genesys_webhook::metrics;
use genesys_webhook::verify::SchemeName;

/// Accepts everything and keeps nothing: the store is not what is measured.
struct Accepting;

impl Store for Accepting {
    async fn record(&self, _: &Record<'_>) -> Result<Recorded, StoreError> {
        Ok(Recorded::Accepted)
    }
}

/// Drives a future that never waits, as the handler over `Accepting` is.
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("nothing here waits"),
    }
}

/// About `size` bytes of JSON arrays nested `depth` deep, filled with small
/// arrays of numbers.
fn nested_arrays(size: usize, depth: usize) -> Vec<u8> {
    let mut body = "[".repeat(depth).into_bytes();
    while body.len() + depth + 8 < size {
        body.extend_from_slice(b"[1,[2]],");
    }
    body.push(b'0');
    body.extend(std::iter::repeat_n(b']', depth));
    body
}

const SCHEMES: [SchemeName; 2] = [SchemeName::OpenMessaging, SchemeName::Genesys];
const SIZE: usize = 60 * 1024;

fn group(scheme: SchemeName) -> String {
    format!("diagnosis-60KB-{}", scheme.as_str())
}

fn main() {
    // The line each delivery writes is built either way; only not printed.
    metrics::write_lines_to(|_| {});
    let body = nested_arrays(SIZE, 100);
    let mut c = Criterion::default().configure_from_args();
    for scheme in SCHEMES {
        let config = sample::config(scheme, &[]).unwrap();
        let handler: Handler<Accepting> = sample::handler(&config, Accepting).unwrap();
        let event = |secret: &str| {
            let headers = sample::signed_headers(scheme, secret, &body, Some("d-1"), 0).unwrap();
            let event = sample::wrap(FrontDoor::ApiGatewayV2, &headers, &body, false, 0);
            serde_json::to_vec(&event).unwrap()
        };
        let valid = event(sample::test_secret(scheme));
        let forged = event("not-the-secret");
        let mut group = c.benchmark_group(group(scheme));
        for (name, event, want) in [("valid", &valid, 200), ("forged", &forged, 401)] {
            let status = |event: &[u8]| {
                let reply = ready(handler.handle_at(event, sample::SAMPLE_TIME)).unwrap();
                serde_json::to_value(reply).unwrap()["statusCode"].as_u64()
            };
            assert_eq!(status(event), Some(want), "{name}");
            group.bench_function(name, |b| {
                b.iter(|| ready(handler.handle_at(black_box(event.as_slice()), 0)))
            });
        }
        group.finish();
    }
    c.final_summary();
    if std::env::args().any(|a| a == "--bench") {
        println!("\nforged ÷ valid, {SIZE}-byte body of nested arrays:");
        for scheme in SCHEMES {
            let mean = |f: &str| {
                let path = format!("target/criterion/{}/{f}/new/estimates.json", group(scheme));
                let v: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
                v["mean"]["point_estimate"].as_f64()
            };
            if let (Some(valid), Some(forged)) = (mean("valid"), mean("forged")) {
                println!(
                    "  {:<16} valid {:>9.1} µs  forged {:>9.1} µs  ratio {:.2}",
                    scheme.as_str(),
                    valid / 1e3,
                    forged / 1e3,
                    forged / valid
                );
            }
        }
    }
}
