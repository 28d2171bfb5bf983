//! `genesys-replay`: publishes recorded deliveries from the outbox table to
//! an EventBridge bus again, exactly as the relay publishes them, and parks
//! what the bus refuses for good as the relay does. For a person at a
//! terminal; consumers deduplicate on `deliveryId`, so publishing a delivery
//! twice is safe.

use std::collections::HashMap;
use std::process::ExitCode;

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::types::AttributeValue;
use clap::Parser;
use genesys_replay::Progress;
use genesys_sign::cli::{self, Instant, cause, instant, out};
use genesys_webhook::config::Timeouts;
use genesys_webhook::outbox::{self, OutboxItem};
use genesys_webhook::relay::body::{Resolved, Resolver, S3Bodies};
use genesys_webhook::relay::entry::Entry;
use genesys_webhook::relay::park::{Cause, Facts, park};
use genesys_webhook::relay::publish::{
    EventBridgeBus, MAX_REQUEST_BYTES, Published, SqsQueue, publish,
};
use genesys_webhook::secrets::is_integration_name;

/// Publishes recorded deliveries to BUS again, as the relay does.
#[derive(Parser, Debug)]
#[command(
    name = "genesys-replay",
    version,
    after_help = "Select by delivery id (GetItem), or every delivery received from --from to --to \
inclusive (a Scan of the table). TIME: RFC 3339 (2026-11-24T12:00:00Z) or Unix seconds.\n\
An entry the bus refuses for good is parked on the failure queue with EventBridge's code and \
message, as the relay parks it; without --failure-queue it counts as failed. A body kept in S3 \
is read and checked as the relay does: a missing or altered object is parked, one S3 cannot \
serve now counts as failed.\n\
Exits 1 if anything failed or an id was not found.\n\
Endpoints and credentials come from the usual AWS settings."
)]
struct Cli {
    /// The outbox table.
    #[arg(long)]
    table: String,
    /// The EventBridge bus to publish to.
    #[arg(long)]
    bus: String,
    /// The events' source.
    #[arg(long, default_value = "genesys-webhook")]
    source: String,
    /// The SQS queue URL that entries the bus refuses for good are parked on.
    #[arg(long, value_name = "URL")]
    failure_queue: Option<String>,
    /// The integration the ids were delivered to, where the deployment serves several.
    #[arg(long, value_name = "NAME")]
    integration: Option<String>,
    /// A delivery id to publish again; repeat for more.
    #[arg(long = "id", value_name = "ID")]
    ids: Vec<String>,
    /// The first moment of a window of receipt.
    #[arg(long, value_name = "TIME", value_parser = instant)]
    from: Option<Instant>,
    /// The last moment of a window of receipt.
    #[arg(long, value_name = "TIME", value_parser = instant)]
    to: Option<Instant>,
    /// Lists what would be published, and publishes nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum Selection {
    /// Table keys: each delivery id under its integration, if one was named.
    Keys(Vec<String>),
    /// `received_at` bounds, inclusive, in the stored text form.
    Range(String, String),
}

#[derive(Debug, PartialEq, Eq)]
struct Args {
    table: String,
    bus: String,
    source: String,
    failure_queue: Option<String>,
    selection: Selection,
    dry_run: bool,
}

/// The relations between flags that the parser cannot check.
fn check(cli: Cli) -> Result<Args, String> {
    let Cli {
        table,
        bus,
        source,
        failure_queue,
        integration,
        ids,
        from,
        to,
        dry_run,
    } = cli;
    if let Some(name) = &integration {
        if !is_integration_name(name) {
            return Err("--integration must be 1 to 64 of A-Z a-z 0-9 . _ -".into());
        }
        if ids.is_empty() {
            return Err("--integration names the integration of each --id".into());
        }
    }
    // Stored times are whole seconds: a lower bound rounds up, an upper
    // bound down.
    let from = from.map(|t| t.secs + i64::from(t.fraction));
    let to = to.map(|t| t.secs);
    let selection = match (ids.is_empty(), from, to) {
        (false, None, None) => Selection::Keys(
            ids.iter()
                .map(|id| outbox::key(integration.as_deref(), id).into_owned())
                .collect(),
        ),
        (true, Some(from), Some(to)) if from <= to => {
            Selection::Range(outbox::timestamp(from), outbox::timestamp(to))
        }
        (true, Some(_), Some(_)) => return Err("--from is after --to".into()),
        _ => return Err("give --id, or both --from and --to".into()),
    };
    Ok(Args {
        table,
        bus,
        source,
        failure_queue,
        selection,
        dry_run,
    })
}

/// Counts shown while running and at the end.
#[derive(Default)]
struct Counts {
    found: usize,
    published: usize,
    parked: usize,
    not_found: usize,
    failed: usize,
}

impl Counts {
    fn line(&self) -> String {
        format!(
            "found {}, published {}, parked {}, not found {}, failed {}",
            self.found, self.published, self.parked, self.not_found, self.failed
        )
    }
}

struct Replay {
    bus: EventBridgeBus,
    failure_queue: Option<SqsQueue>,
    bodies: S3Bodies,
    source: String,
    dry_run: bool,
    counts: Counts,
    progress: Progress,
}

impl Replay {
    /// A line on stdout; a failure to write it is noted and counted.
    fn say(&mut self, line: std::fmt::Arguments) {
        if let Err(e) = out(line) {
            self.counts.failed += 1;
            self.progress.note(&format!("genesys-replay: stdout: {e}"));
        }
    }

    /// Publishes one page of items read from the table.
    async fn page(&mut self, items: Vec<HashMap<String, AttributeValue>>) {
        let mut entries = Vec::new();
        let mut facts = Vec::new();
        let bodies = self.bodies.clone();
        let source = self.source.clone();
        let mut resolver = Resolver::new(&bodies, &source, MAX_REQUEST_BYTES);
        for raw in items {
            let id = raw
                .get(outbox::DELIVERY_ID)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            self.counts.found += 1;
            let item = match OutboxItem::from_sdk(raw) {
                Ok(item) => item,
                Err(e) => {
                    self.fail(&id, &e.to_string());
                    continue;
                }
            };
            let item_facts = Facts::of(&item);
            if self.dry_run {
                entries.push(Entry::of(&item, &self.source));
                continue;
            }
            match resolver.entry(item).await {
                Resolved::Ready(entry) => {
                    entries.push(entry);
                    facts.push(item_facts);
                }
                Resolved::Park {
                    entry,
                    fault,
                    claim,
                } => {
                    self.park(&entry, Cause::Body(&fault, &claim), &item_facts)
                        .await;
                }
                Resolved::Retry(reason) => self.fail(&id, &reason),
            }
        }
        if self.dry_run {
            for e in &entries {
                self.say(format_args!(
                    "{}\t{}\t{}",
                    e.delivery_id,
                    e.detail_type,
                    outbox::timestamp(e.time)
                ));
            }
        } else {
            let results = publish(&self.bus, &entries, MAX_REQUEST_BYTES).await;
            for ((e, facts), result) in entries.iter().zip(&facts).zip(results) {
                match result {
                    Published::Accepted => self.counts.published += 1,
                    Published::Retry(reason) => self.fail(&e.delivery_id, &reason),
                    Published::Refused(refusal) => {
                        self.park(e, Cause::Bus(&refusal), facts).await;
                    }
                }
            }
        }
        self.progress.show(&self.counts.line());
    }

    fn fail(&mut self, id: &str, reason: &str) {
        self.counts.failed += 1;
        self.progress.note(&format!("failed: {id}: {reason}"));
    }

    /// Parks an entry on the failure queue, as the relay does.
    async fn park(&mut self, e: &Entry, cause: Cause<'_>, facts: &Facts) {
        let why = match cause {
            Cause::Bus(refusal) => format!("{}: {}", refusal.code, refusal.message),
            Cause::Body(fault, _) => format!("{}: {fault}", cause.reason()),
        };
        let parked = match &self.failure_queue {
            Some(queue) => park(queue, e, cause, facts)
                .await
                .map_err(|q| format!("{why}; the failure queue failed: {q}")),
            None => Err(format!("{why}; no --failure-queue to park it on")),
        };
        match parked {
            Ok(_) => {
                self.counts.parked += 1;
                self.progress
                    .note(&format!("parked: {}: {why}", e.delivery_id));
            }
            Err(reason) => self.fail(&e.delivery_id, &reason),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = check(cli::parse()).unwrap_or_else(|e| cli::usage_error("genesys-replay", &e));
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let table = aws_sdk_dynamodb::Client::new(&sdk);
    let mut replay = Replay {
        bus: EventBridgeBus::new(&sdk, Timeouts::RELAY, args.bus.clone()),
        failure_queue: args
            .failure_queue
            .clone()
            .map(|url| SqsQueue::new(&sdk, Timeouts::RELAY, url)),
        bodies: S3Bodies::new(&sdk, Timeouts::RELAY),
        source: args.source.clone(),
        dry_run: args.dry_run,
        counts: Counts::default(),
        progress: Progress::default(),
    };
    if let Err(e) = run(&args, &table, &mut replay).await {
        replay
            .progress
            .note(&format!("genesys-replay: stopped: {e}"));
        replay.counts.failed += 1;
    }
    replay.progress.clear();
    let dry = if args.dry_run { " (dry run)" } else { "" };
    let summary = replay.counts.line();
    replay.say(format_args!("{summary}{dry}"));
    let c = &replay.counts;
    if c.failed == 0 && c.not_found == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn run(
    args: &Args,
    table: &aws_sdk_dynamodb::Client,
    replay: &mut Replay,
) -> Result<(), String> {
    match &args.selection {
        Selection::Keys(keys) => {
            let mut items = Vec::new();
            for id in keys {
                let got = table
                    .get_item()
                    .table_name(&args.table)
                    .key(outbox::DELIVERY_ID, AttributeValue::S(id.clone()))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| cause(&e))?;
                match got.item {
                    Some(item) => items.push(item),
                    None => {
                        replay.counts.not_found += 1;
                        replay.progress.note(&format!("not found: {id}"));
                    }
                }
            }
            replay.page(items).await;
        }
        Selection::Range(from, to) => {
            let mut pages = table
                .scan()
                .table_name(&args.table)
                .filter_expression("#received BETWEEN :from AND :to")
                .expression_attribute_names("#received", outbox::RECEIVED_AT)
                .expression_attribute_values(":from", AttributeValue::S(from.clone()))
                .expression_attribute_values(":to", AttributeValue::S(to.clone()))
                .consistent_read(true)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| cause(&e))?;
                replay.page(page.items.unwrap_or_default()).await;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Args, String> {
        let words = std::iter::once("genesys-replay").chain(s.split_whitespace());
        check(Cli::try_parse_from(words).map_err(|e| e.to_string())?)
    }

    #[test]
    fn ids_or_a_range() {
        let a = args("--table t --bus b --id x --id y --dry-run").unwrap();
        assert_eq!(a.selection, Selection::Keys(vec!["x".into(), "y".into()]));
        assert!(a.dry_run);
        assert_eq!(a.source, "genesys-webhook");
        assert_eq!(a.failure_queue, None);
        let a = args("--table t --bus b --failure-queue q --id x").unwrap();
        assert_eq!(a.failure_queue.as_deref(), Some("q"));
        let a = args("--table t --bus b --source s --from 2026-11-24T12:00:00.5+01:00 --to 2026-11-24T12:30:59.9Z")
            .unwrap();
        assert_eq!(
            a.selection,
            Selection::Range("2026-11-24T11:00:01Z".into(), "2026-11-24T12:30:59Z".into())
        );
        assert_eq!(a.source, "s");
        let a = args("--table t --bus b --from 1795521600 --to 2026-11-24T12:30:59Z").unwrap();
        assert_eq!(
            a.selection,
            Selection::Range("2026-11-24T12:00:00Z".into(), "2026-11-24T12:30:59Z".into())
        );
    }

    #[test]
    fn an_integration_keys_each_id_as_the_function_does() {
        let a = args("--table t --bus b --integration sales --id x --id y").unwrap();
        assert_eq!(
            a.selection,
            Selection::Keys(vec!["sales/x".into(), "sales/y".into()])
        );
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        for bad in [
            "--bus b --id x",
            "--table t --id x",
            "--table t --bus b",
            "--table t --bus b --id x --from 2026-11-24T12:00:00Z --to 2026-11-24T12:00:00Z",
            "--table t --bus b --from 2026-11-24T12:00:00Z",
            "--table t --bus b --from 2026-11-25T00:00:00Z --to 2026-11-24T00:00:00Z",
            "--table t --bus b --from yesterday --to 2026-11-24T00:00:00Z",
            "--table t --bus b --id",
            "--table t --bus b --id x --verbose",
            "--table t --bus b --integration sales",
            "--table t --bus b --integration a/b --id x",
            "--table t --bus b --integration sales --from 2026-11-24T12:00:00Z --to 2026-11-24T12:00:00Z",
        ] {
            assert!(args(bad).is_err(), "{bad}");
        }
    }
}
