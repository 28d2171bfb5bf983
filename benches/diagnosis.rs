//! A forged delivery against a valid one of the same size, through the
//! handler: the forged one takes the mismatch path with its diagnosis. The
//! body is 60 KB of nested arrays, the shape re-layouts cost most on. Prints
//! forged ÷ valid at the end, and the most heap each held above what was
//! live before it, by a counting allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::Criterion;
use genesys_sign::{self as sample, Accepting, nested_arrays, ready};
use genesys_webhook::envelope::FrontDoor;
use genesys_webhook::handler::Handler;
use genesys_webhook::sink;
use genesys_webhook::verify::SchemeName;

struct Peak;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Peak {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Peak = Peak;

/// The most heap `f` held at once above what was live before it.
fn peak_heap(f: impl FnOnce()) -> usize {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    f();
    PEAK.load(Ordering::Relaxed) - before
}

const SCHEMES: [SchemeName; 2] = [SchemeName::OpenMessaging, SchemeName::Genesys];
const SIZE: usize = 60 * 1024;

fn group(scheme: SchemeName) -> String {
    format!("diagnosis-60KB-{}", scheme.as_str())
}

fn main() {
    // The line each delivery writes is built either way; only not printed.
    sink::write_lines_to(|_| {});
    let body = nested_arrays(SIZE, 100);
    let mut c = Criterion::default().configure_from_args();
    let mut heaps = Vec::new();
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
        // The one pass a forgery can buy: a digest in an encoding the
        // scheme refuses (hex, under open-messaging).
        let hex = {
            let headers: Vec<_> =
                sample::signed_headers(SchemeName::Genesys, "not-the-secret", &body, None, 0)
                    .unwrap()
                    .into_iter()
                    .map(|(k, v)| match k.as_str() {
                        "X-Genesys-Signature" => ("X-Hub-Signature-256".to_owned(), v),
                        _ => (k, v),
                    })
                    .collect();
            let event = sample::wrap(FrontDoor::ApiGatewayV2, &headers, &body, false, 0);
            serde_json::to_vec(&event).unwrap()
        };
        let mut cases = vec![("valid", &valid, 200), ("forged", &forged, 401)];
        if scheme == SchemeName::OpenMessaging {
            cases.push(("forged-hex", &hex, 401));
        }
        let mut group = c.benchmark_group(group(scheme));
        for (name, event, want) in cases {
            let status = |event: &[u8]| {
                let reply = ready(handler.handle_at(event, sample::SAMPLE_TIME)).unwrap();
                serde_json::to_value(reply).unwrap()["statusCode"].as_u64()
            };
            assert_eq!(status(event), Some(want), "{name}");
            let heap = peak_heap(|| {
                black_box(ready(handler.handle_at(event.as_slice(), 0)).unwrap());
            });
            heaps.push((scheme, name, heap));
            group.bench_function(name, |b| {
                b.iter(|| ready(handler.handle_at(black_box(event.as_slice()), 0)))
            });
        }
        group.finish();
    }
    c.final_summary();
    println!(
        "\nmost heap held at once by one invocation, {} B body:",
        body.len()
    );
    for (scheme, name, heap) in heaps {
        println!(
            "  {:<16} {name:<6} {heap:>10} B  ({:.1} × the body)",
            scheme.as_str(),
            heap as f64 / body.len() as f64
        );
    }
    if std::env::args().any(|a| a == "--bench") {
        println!("\nforged ÷ valid, {SIZE}-byte body of nested arrays:");
        for scheme in SCHEMES {
            let mean = |f: &str| {
                let path = format!("target/criterion/{}/{f}/new/estimates.json", group(scheme));
                let v: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
                v["mean"]["point_estimate"].as_f64()
            };
            let Some(valid) = mean("valid") else {
                continue;
            };
            for forged in ["forged", "forged-hex"] {
                if let Some(ns) = mean(forged) {
                    println!(
                        "  {:<16} {forged:<10} {:>9.1} µs  valid {:>9.1} µs  ratio {:.2}",
                        scheme.as_str(),
                        ns / 1e3,
                        valid / 1e3,
                        ns / valid
                    );
                }
            }
        }
    }
}
