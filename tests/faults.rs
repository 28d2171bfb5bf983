//! Store faults and load, against moto behind a small fault-injecting proxy:
//! throttling, 500s, dropped and hanging connections are answered 503 inside
//! the bound and never 200; once the store is back, every delivery is
//! accepted exactly once.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use genesys_sign as sample;
use genesys_webhook::clock::unix_now as now;
use genesys_webhook::config::Timeouts;
use genesys_webhook::dedup::DynamoStore;
use genesys_webhook::envelope::FrontDoor;
use genesys_webhook::handler::Handler;
use genesys_webhook::verify::SchemeName;
use serde_json::Value;
use support::{LocalDynamo, PATIENT, TIMEOUTS, dynamo_handler};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(u8)]
enum Mode {
    Healthy,
    Throttle,
    ServerError,
    Drop,
    Hang,
}

/// Forwards to moto while healthy; otherwise answers each new connection
/// with the fault `mode` names.
struct FaultProxy {
    endpoint: String,
    mode: watch::Sender<u8>,
}

impl FaultProxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let (mode, watching) = watch::channel(Mode::Healthy as u8);
        let upstream = upstream.trim_start_matches("http://").to_owned();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let watching = watching.clone();
                tokio::spawn(async move { serve(client, watching, &upstream).await });
            }
        });
        Self { endpoint, mode }
    }

    fn set(&self, mode: Mode) {
        self.mode.send_replace(mode as u8);
    }
}

/// A forwarded connection lives until the proxy turns faulty, so a kept-alive
/// connection cannot carry requests past a fault.
async fn serve(mut client: TcpStream, mut watching: watch::Receiver<u8>, upstream: &str) {
    let mode = *watching.borrow_and_update();
    let error_type = match mode {
        m if m == Mode::Healthy as u8 => {
            let Ok(mut server) = TcpStream::connect(upstream).await else {
                return;
            };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                _ = watching.wait_for(|m| *m != Mode::Healthy as u8) => {}
            }
            return;
        }
        m if m == Mode::Drop as u8 => return,
        m if m == Mode::Hang as u8 => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            return;
        }
        m if m == Mode::Throttle as u8 => {
            ("400 Bad Request", "ProvisionedThroughputExceededException")
        }
        _ => ("500 Internal Server Error", "InternalServerError"),
    };
    read_request(&mut client).await;
    let body = format!(
        "{{\"__type\":\"com.amazonaws.dynamodb.v20120810#{}\",\"message\":\"injected\"}}",
        error_type.1
    );
    let response = format!(
        "HTTP/1.1 {}\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        error_type.0,
        body.len()
    );
    let _ = client.write_all(response.as_bytes()).await;
}

/// Reads one HTTP request: headers, then `Content-Length` bytes of body.
async fn read_request(client: &mut TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Ok(n) = client.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + length {
            return;
        }
    }
}

async fn handler(endpoint: &str, timeouts: Timeouts) -> Handler<DynamoStore> {
    dynamo_handler(endpoint, 86_400, timeouts).await
}

fn body_for(id: &str) -> Vec<u8> {
    format!("{{\"id\":\"{id}\",\"pad\":\"{}\"}}", "p".repeat(400)).into_bytes()
}

fn event(id: &str) -> Value {
    let body = body_for(id);
    sample::signed_event(
        SchemeName::Genesys,
        FrontDoor::ApiGatewayV2,
        &body,
        Some(id),
        0,
    )
}

/// The HTTP status and `status`/`error` of one delivery.
async fn deliver(h: &Handler<DynamoStore>, id: &str) -> (u16, String) {
    let reply = h.handle_at(&event(id).to_string(), now()).await.unwrap();
    let (code, body) = support::answer_of(&serde_json::to_value(reply).unwrap());
    (code, support::verdict(&body))
}

#[tokio::test]
async fn every_fault_is_503_within_the_bound_and_recovery_accepts_exactly_once() {
    let db = LocalDynamo::start().await;
    db.create_table("deliveries").await;
    let proxy = FaultProxy::start(db.endpoint.clone()).await;
    let h = handler(&proxy.endpoint, TIMEOUTS).await;

    for (round, fault) in [Mode::Throttle, Mode::ServerError, Mode::Drop, Mode::Hang]
        .into_iter()
        .enumerate()
    {
        proxy.set(fault);
        let ids: Vec<String> = (0..3).map(|i| format!("f{round}-{i}")).collect();
        for id in &ids {
            let started = Instant::now();
            let answer = tokio::time::timeout(Duration::from_secs(20), deliver(&h, id))
                .await
                .expect("the store's time bound did not apply");
            assert_eq!(answer, (503, "store_unavailable".into()), "{fault:?}");
            eprintln!("{fault:?}: 503 after {:?}", started.elapsed());
        }
        assert_eq!(
            db.count("deliveries").await,
            round * 3,
            "{fault:?} stored something"
        );

        proxy.set(Mode::Healthy);
        for id in &ids {
            assert_eq!(
                deliver(&h, id).await,
                (200, "accepted".into()),
                "{fault:?} {id}"
            );
            assert_eq!(
                deliver(&h, id).await,
                (200, "duplicate".into()),
                "{fault:?} {id}"
            );
        }
    }
    assert_eq!(db.count("deliveries").await, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_lost_mid_run_loses_nothing_and_doubles_nothing() {
    let db = LocalDynamo::start().await;
    db.create_table("deliveries").await;
    let proxy = Arc::new(FaultProxy::start(db.endpoint.clone()).await);
    let h = Arc::new(handler(&proxy.endpoint, TIMEOUTS).await);
    let ids: Vec<String> = (0..60).map(|i| format!("m-{i}")).collect();

    let mut accepted = std::collections::HashMap::<String, usize>::new();
    let mut pending = ids.clone();
    for attempt in 0..4 {
        let mut tasks = Vec::new();
        for (n, id) in pending.iter().enumerate() {
            let (h, proxy, id) = (h.clone(), proxy.clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                if attempt == 0 && n == 20 {
                    proxy.set(Mode::Drop);
                }
                if attempt == 0 && n == 40 {
                    proxy.set(Mode::Throttle);
                }
                let answer = deliver(&h, &id).await;
                (id, answer)
            }));
        }
        let mut retry = Vec::new();
        for t in tasks {
            let (id, (code, what)) = t.await.unwrap();
            match (code, what.as_str()) {
                (200, "accepted") => *accepted.entry(id).or_default() += 1,
                (200, "duplicate") => {}
                (503, "store_unavailable") => retry.push(id),
                other => panic!("{id}: {other:?}"),
            }
        }
        proxy.set(Mode::Healthy);
        pending = retry;
    }
    assert!(
        pending.is_empty(),
        "still failing after the store came back: {pending:?}"
    );
    assert_eq!(db.count("deliveries").await, ids.len());
    for id in &ids {
        assert!(
            accepted.get(id).copied().unwrap_or(0) <= 1,
            "{id} accepted twice"
        );
    }
}

/// 10,000 deliveries, 30% of them redeliveries, through 8 function instances
/// at once (each handling one delivery at a time, as a Lambda instance does).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn load_ten_thousand_deliveries_thirty_percent_duplicates_eight_instances() {
    let db = LocalDynamo::start().await;
    db.create_table("deliveries").await;
    let (total, distinct, instances) = (10_000usize, 7_000usize, 8usize);
    // Delivery n carries id n for the first 7,000; the rest repeat earlier ids,
    // spread so some redeliveries race their originals on another instance.
    let ids: Vec<String> = (0..total)
        .map(|n| {
            format!(
                "load-{}",
                if n < distinct {
                    n
                } else {
                    (n * 7919) % distinct
                }
            )
        })
        .collect();
    let ids = Arc::new(ids);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..instances {
        let h = handler(&db.endpoint, PATIENT).await;
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            let mut results = Vec::new();
            for n in (i..total).step_by(instances) {
                let t = Instant::now();
                let answer = deliver(&h, &ids[n]).await;
                results.push((ids[n].clone(), answer, t.elapsed()));
            }
            results
        }));
    }
    let mut accepted = std::collections::HashMap::<String, usize>::new();
    let (mut duplicates, mut latencies) = (0, Vec::new());
    for t in tasks {
        for (id, (code, what), latency) in t.await.unwrap() {
            latencies.push(latency);
            match (code, what.as_str()) {
                (200, "accepted") => *accepted.entry(id).or_default() += 1,
                (200, "duplicate") => duplicates += 1,
                other => panic!("{id}: {other:?}"),
            }
        }
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    eprintln!(
        "load: {total} deliveries in {elapsed:.1?} = {:.0}/s through {instances} instances; p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        total as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        latencies[latencies.len() - 1],
    );

    assert_eq!(accepted.len(), distinct, "lost deliveries");
    assert!(
        accepted.values().all(|&n| n == 1),
        "a delivery was accepted twice"
    );
    assert_eq!(duplicates, total - distinct);

    let client = db.client().await;
    let mut stored = 0;
    let mut start_key = None;
    loop {
        let page = client
            .scan()
            .table_name("deliveries")
            .set_exclusive_start_key(start_key)
            .send()
            .await
            .unwrap();
        for item in page.items() {
            let id = item["pk"].as_s().unwrap();
            assert_eq!(item["body"], AttributeValue::B(body_for(id).into()), "{id}");
            stored += 1;
        }
        start_key = page.last_evaluated_key().cloned();
        if start_key.is_none() {
            break;
        }
    }
    assert_eq!(stored, distinct);
}
