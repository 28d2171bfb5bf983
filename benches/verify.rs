//! Signature verification next to plain SHA-256 of the same bytes, the
//! physical limit on this CPU. Prints throughput ratios at the end.

use std::hint::black_box;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use criterion::{BatchSize, Criterion, Throughput};
use genesys_sign as sample;
use genesys_webhook::envelope::{self, Decoded, Limits};
use genesys_webhook::secrets::{Secret, Secrets};
use genesys_webhook::verify::{Genesys, Keys, Scheme};
use serde_json::json;
use sha2::{Digest, Sha256};

const SIZES: [(usize, &str); 3] = [
    (2 << 10, "2KiB"),
    (64 << 10, "64KiB"),
    (256 << 10, "256KiB"),
];

fn body(size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| b"{\"a\":\"genesys\"}\r\n"[i % 17])
        .collect()
}

fn benches(c: &mut Criterion) {
    let keys = Keys::new(&Secrets {
        current: Secret::new(sample::TEST_SECRET),
        previous: None,
    });
    let scheme = Genesys::new(None, keys.clone());
    let limits = Limits {
        max_body_bytes: 1 << 20,
        source_prefix: "aws.partner/genesys.com/".into(),
        allowed_sources: Default::default(),
    };
    for (size, label) in SIZES {
        let body = body(size);
        let signature = Genesys::sign(&keys, &body);
        let mut group = c.benchmark_group(format!("verify-{label}"));
        group.throughput(Throughput::Bytes(size as u64));

        group.bench_function("sha256", |b| b.iter(|| Sha256::digest(black_box(&body))));

        let event = json!({
            "version": "2.0",
            "headers": {"x-genesys-signature": signature},
            "requestContext": {"http": {"method": "POST"}},
            "isBase64Encoded": false,
            "body": String::from_utf8(body.clone()).unwrap(),
        });
        let Some(Decoded::Http(mut delivery)) =
            envelope::decode(event.to_string().as_bytes(), &limits)
        else {
            unreachable!()
        };
        group.bench_function("hmac_verify", |b| {
            b.iter(|| scheme.verify(black_box(&delivery), 0).unwrap())
        });

        let encoded = STANDARD.encode(&body);
        group.bench_function("base64_decode_and_verify", |b| {
            b.iter_batched(
                || encoded.clone(),
                |text| {
                    delivery.body = envelope::body_bytes(text.into(), true, 1 << 20).unwrap();
                    scheme.verify(&delivery, 0).unwrap();
                },
                BatchSize::LargeInput,
            )
        });

        let mut base64_event = event;
        base64_event["isBase64Encoded"] = json!(true);
        base64_event["body"] = json!(encoded);
        let text = base64_event.to_string();
        group.bench_function("event_json_to_verified", |b| {
            b.iter(|| {
                let Some(Decoded::Http(d)) = envelope::decode(black_box(text.as_bytes()), &limits)
                else {
                    unreachable!()
                };
                scheme.verify(&d, 0).unwrap();
            })
        });
        group.finish();
    }
}

/// Criterion's mean estimate for one benchmark, in nanoseconds.
fn mean_ns(group: &str, function: &str) -> Option<f64> {
    let path = format!("target/criterion/{group}/{function}/new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

/// Prints each ratio criterion has measured.
fn print_ratios() {
    let mut lines = Vec::new();
    for (size, label) in SIZES {
        let group = format!("verify-{label}");
        let Some(sha) = mean_ns(&group, "sha256") else {
            continue;
        };
        for function in [
            "hmac_verify",
            "base64_decode_and_verify",
            "event_json_to_verified",
        ] {
            if let Some(ns) = mean_ns(&group, function) {
                let mb_s = size as f64 / ns * 1e3;
                lines.push(format!(
                    "  {label:>7} {function:<26} {:.2}  ({mb_s:.0} MB/s)",
                    sha / ns
                ));
            }
        }
    }
    if !lines.is_empty() {
        println!(
            "\nthroughput relative to plain SHA-256 of the same bytes (1.00 = the physical limit):"
        );
        println!("{}", lines.join("\n"));
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
    // `cargo bench` passes --bench; `cargo test` runs each benchmark once and
    // measures nothing, so earlier estimates on disk would be stale.
    if std::env::args().any(|a| a == "--bench") {
        print_ratios();
    }
}
