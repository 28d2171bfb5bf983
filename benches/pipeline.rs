//! The whole in-process path without the store — event JSON bytes in, answer
//! JSON bytes out — per front door, 2 KiB body, plain and base64. Also counts
//! heap allocations per invocation with a counting allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::Criterion;
use genesys_sign::{self as sample, Accepting, ready};
use genesys_webhook::envelope::FrontDoor;
use genesys_webhook::handler::Handler;
use genesys_webhook::sink;
use genesys_webhook::verify::SchemeName;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn invoke(handler: &Handler<Accepting>, event: &[u8]) -> Vec<u8> {
    // The invocation's bytes as `payload` hands them over; the runtime
    // serialises the reply.
    let reply = ready(handler.handle_at(event, sample::SAMPLE_TIME)).unwrap();
    serde_json::to_vec(&reply).unwrap()
}

fn main() {
    // The line each delivery writes is built either way; only not printed.
    sink::write_lines_to(|_| {});
    let config = sample::config(SchemeName::Genesys, &[]).unwrap();
    let handler = sample::handler(&config, Accepting).unwrap();
    let frame = "{\"topicName\":\"v2.users.1.presence\",\"text\":\"Grüße \"}";
    let body = frame
        .replace(
            "Grüße ",
            &format!("Grüße {}", "x".repeat(2048 - frame.len())),
        )
        .into_bytes();
    let headers = sample::signed_headers(
        SchemeName::Genesys,
        sample::TEST_SECRET,
        &body,
        Some("d-1"),
        sample::SAMPLE_TIME,
    )
    .unwrap();

    let mut c = Criterion::default().configure_from_args();
    let mut allocations = Vec::new();
    let mut group = c.benchmark_group("pipeline-2KiB");
    for (name, door) in sample::DOORS {
        for base64 in [false, true] {
            if door == FrontDoor::EventBridge && base64 {
                continue;
            }
            let event = if door == FrontDoor::EventBridge {
                let detail = serde_json::json!({"topicName": "v2.users.1.presence", "text": String::from_utf8_lossy(&body)});
                sample::partner_event(&detail.to_string(), "d-1", sample::PARTNER_SOURCE, 0)
            } else {
                sample::wrap(door, &headers, &body, base64, sample::SAMPLE_TIME)
            };
            let event = serde_json::to_vec(&event).unwrap();
            let answer: serde_json::Value =
                serde_json::from_slice(&invoke(&handler, &event)).unwrap();
            assert!(answer.to_string().contains("accepted"), "{name}: {answer}");

            let label = format!("{name}{}", if base64 { "-base64" } else { "" });
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            black_box(invoke(&handler, &event));
            allocations.push((label.clone(), ALLOCATIONS.load(Ordering::Relaxed) - before));

            group.bench_function(&label, |b| b.iter(|| invoke(&handler, black_box(&event))));
        }
    }
    group.finish();
    c.final_summary();
    println!("\nheap allocations per invocation (event bytes in -> answer bytes out):");
    for (label, n) in allocations {
        println!("  {label:<24} {n}");
    }
}
