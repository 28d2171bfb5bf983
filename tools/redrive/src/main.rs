//! `genesys-redrive`: puts failure-queue messages back where they can
//! succeed. Parked relay entries go onto the outbox bus again, with the
//! relay's classification; partner events go onto the partner events queue,
//! whose function deduplicates them on the event id. A message is deleted
//! from the failure queue only after it was put back. For a person at a
//! terminal, after an outage.

use std::collections::HashMap;
use std::process::ExitCode;

use aws_config::BehaviorVersion;
use clap::{ArgGroup, Parser};
use genesys_replay::Progress;
use genesys_sign::cli::{self, cause, out};
use genesys_webhook::config::Timeouts;
use genesys_webhook::relay::entry::{Entry, fit_detail_type};
use genesys_webhook::relay::park::ParkedMessage;
use genesys_webhook::relay::publish::{EventBridgeBus, MAX_REQUEST_BYTES, Published, publish};
use serde_json::Value;
use serde_json::value::RawValue;

/// Reads every message on the failure queue and puts back what can succeed.
#[derive(Parser, Debug)]
#[command(
    name = "genesys-redrive",
    version,
    group(ArgGroup::new("queue").required(true).multiple(true).args(["stack", "failure_queue"])),
    after_help = "  a parked relay entry    -> PutEvents onto --bus (a refusal that is still\n\
                             permanent stays on the queue);\n\
  a partner event, raw or in a Lambda on-failure record\n\
                          -> SendMessage onto --partner-queue.\n\
A stream mapping's on-failure record holds no delivery: its window is\n\
shown, to run genesys-replay over; it stays unless --delete-stream-records.\n\
Anything else stays. A message is deleted only after it was put back.\n\
Exits 1 if putting a message back failed.\n\
Endpoints and credentials come from the usual AWS settings."
)]
struct Args {
    /// Reads FailedDeliveriesQueueUrl, PartnerEventsQueueUrl and OutboxBusName
    /// from this stack's outputs; flags given override them.
    #[arg(long, value_name = "NAME")]
    stack: Option<String>,
    /// The failure queue's URL.
    #[arg(long, value_name = "URL")]
    failure_queue: Option<String>,
    /// The partner events queue's URL, for partner events.
    #[arg(long, value_name = "URL")]
    partner_queue: Option<String>,
    /// The outbox bus, for parked relay entries.
    #[arg(long, value_name = "NAME")]
    bus: Option<String>,
    /// Publishes parked entries under SOURCE instead of their own.
    #[arg(long)]
    source: Option<String>,
    /// Deletes stream mappings' on-failure records too.
    #[arg(long)]
    delete_stream_records: bool,
    /// Shows what would happen and changes nothing.
    #[arg(long)]
    dry_run: bool,
}

/// How long a received message stays hidden from other readers while this
/// run decides on it. Messages left on the queue are made visible again at
/// the end.
const HIDE_SECONDS: i32 = 300;

/// What a failure-queue message is.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// A relay entry the bus refused, whole.
    Parked(Entry),
    /// A relay entry too large for the queue too: only its key is here.
    ParkedKeyOnly {
        delivery_id: String,
    },
    /// An EventBridge partner event, as its exact text.
    Partner(String),
    /// A stream mapping's on-failure record: the window its records
    /// arrived in.
    StreamRecords {
        first: String,
        last: String,
    },
    Unknown,
}

fn classify(body: &str) -> Kind {
    if let Some(parked) = ParkedMessage::read(body) {
        return match parked.entry {
            Some(entry) => Kind::Parked(entry),
            None => Kind::ParkedKeyOnly {
                delivery_id: parked.delivery_id,
            },
        };
    }
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return Kind::Unknown;
    };
    if is_eventbridge_event(&value) {
        return Kind::Partner(body.to_owned());
    }
    if value.get("requestContext").is_some_and(Value::is_object)
        && value
            .get("requestPayload")
            .is_some_and(is_eventbridge_event)
    {
        let fields: Result<HashMap<&str, &RawValue>, _> = serde_json::from_str(body);
        if let Some(payload) = fields.ok().and_then(|f| f.get("requestPayload").copied()) {
            return Kind::Partner(payload.get().to_owned());
        }
    }
    let info = &value["DDBStreamBatchInfo"];
    match (
        info["approximateArrivalOfFirstRecord"].as_str(),
        info["approximateArrivalOfLastRecord"].as_str(),
    ) {
        (Some(first), Some(last)) => Kind::StreamRecords {
            first: first.to_owned(),
            last: last.to_owned(),
        },
        _ => Kind::Unknown,
    }
}

/// `detail-type`, `source` and `id` as strings and `detail` an object.
fn is_eventbridge_event(v: &Value) -> bool {
    ["detail-type", "source", "id"]
        .iter()
        .all(|k| v.get(*k).is_some_and(Value::is_string))
        && v.get("detail").is_some_and(Value::is_object)
}

/// What the run did, shown while running and at the end.
#[derive(Default)]
struct Counts {
    received: usize,
    to_bus: usize,
    to_partner_queue: usize,
    still_refused: usize,
    stream_records: usize,
    unknown: usize,
    failed: usize,
}

impl Counts {
    fn line(&self) -> String {
        format!(
            "received {}, to the bus {}, to the partner queue {}, still refused {}, stream records {}, unknown {}, failed {}",
            self.received,
            self.to_bus,
            self.to_partner_queue,
            self.still_refused,
            self.stream_records,
            self.unknown,
            self.failed
        )
    }
}

struct Redrive {
    sqs: aws_sdk_sqs::Client,
    failure_queue: String,
    partner_queue: Option<String>,
    bus: Option<EventBridgeBus>,
    source: Option<String>,
    delete_stream_records: bool,
    dry_run: bool,
    counts: Counts,
    progress: Progress,
    /// Receipt handles of messages left on the queue.
    left: Vec<String>,
}

/// One received message: its id, to name it, and its receipt handle.
struct Message {
    id: String,
    receipt: String,
}

impl Redrive {
    /// A line on stdout; a failure to write it is noted and counted.
    fn say(&mut self, line: std::fmt::Arguments) {
        if let Err(e) = out(line) {
            self.counts.failed += 1;
            self.progress.note(&format!("genesys-redrive: stdout: {e}"));
        }
    }

    async fn run(&mut self) -> Result<(), String> {
        loop {
            let got = self
                .sqs
                .receive_message()
                .queue_url(&self.failure_queue)
                .max_number_of_messages(10)
                .visibility_timeout(HIDE_SECONDS)
                .wait_time_seconds(1)
                .send()
                .await
                .map_err(|e| cause(&e))?;
            let messages = got.messages.unwrap_or_default();
            if messages.is_empty() {
                return Ok(());
            }
            let mut parked = Vec::new();
            for m in messages {
                self.counts.received += 1;
                let message = Message {
                    id: m.message_id.unwrap_or_default(),
                    receipt: m.receipt_handle.unwrap_or_default(),
                };
                match classify(m.body.as_deref().unwrap_or_default()) {
                    Kind::Parked(entry) => parked.push((message, entry)),
                    kind => self.one(message, kind).await,
                }
            }
            self.parked(parked).await;
            self.progress.show(&self.counts.line());
        }
    }

    /// One message; parked entries go together through [`Self::parked`].
    async fn one(&mut self, m: Message, kind: Kind) {
        match kind {
            Kind::Partner(event) => {
                let Some(queue) = self.partner_queue.clone() else {
                    self.failed(m, "a partner event, and no --partner-queue");
                    return;
                };
                if self.dry_run {
                    self.say(format_args!(
                        "{}\tpartner event\twould go to the partner queue",
                        m.id
                    ));
                    self.counts.to_partner_queue += 1;
                    self.left.push(m.receipt);
                    return;
                }
                let sent = self
                    .sqs
                    .send_message()
                    .queue_url(queue)
                    .message_body(event)
                    .send()
                    .await;
                match sent {
                    Ok(_) => {
                        self.counts.to_partner_queue += 1;
                        self.delete(m).await;
                    }
                    Err(e) => {
                        let why = format!("partner queue: {}", cause(&e));
                        self.failed(m, &why);
                    }
                }
            }
            Kind::StreamRecords { first, last } => {
                self.counts.stream_records += 1;
                self.progress.note(&format!(
                    "stream records: {}: arrived {first} to {last}; run genesys-replay --from {first} --to {last}, a minute wider on each side",
                    m.id
                ));
                if self.delete_stream_records && !self.dry_run {
                    self.delete(m).await;
                } else {
                    self.left.push(m.receipt);
                }
            }
            Kind::ParkedKeyOnly { delivery_id } => {
                self.counts.still_refused += 1;
                self.progress.note(&format!(
                    "left: {}: parked key only for {delivery_id}: the entry was too large for the queue; its item stays in the table until it expires",
                    m.id
                ));
                self.left.push(m.receipt);
            }
            Kind::Unknown => {
                self.counts.unknown += 1;
                self.progress
                    .note(&format!("left: {}: not a message this tool knows", m.id));
                self.left.push(m.receipt);
            }
            Kind::Parked(entry) => self.parked(vec![(m, entry)]).await,
        }
    }

    /// Parked entries, published together as the relay publishes them.
    async fn parked(&mut self, parked: Vec<(Message, Entry)>) {
        if parked.is_empty() {
            return;
        }
        let (messages, entries): (Vec<Message>, Vec<Entry>) = parked
            .into_iter()
            .map(|(m, e)| {
                let entry = Entry {
                    source: self.source.clone().unwrap_or_else(|| e.source.clone()),
                    detail_type: fit_detail_type(&e.detail_type),
                    ..e
                };
                (m, entry)
            })
            .unzip();
        let Some(bus) = &self.bus else {
            for m in messages {
                self.failed(m, "a parked entry, and no --bus");
            }
            return;
        };
        if self.dry_run {
            for (m, e) in messages.into_iter().zip(&entries) {
                self.say(format_args!(
                    "{}\tparked entry {}\twould go to the bus",
                    m.id, e.delivery_id
                ));
                self.counts.to_bus += 1;
                self.left.push(m.receipt);
            }
            return;
        }
        let results = publish(bus, &entries, MAX_REQUEST_BYTES).await;
        for ((m, e), result) in messages.into_iter().zip(&entries).zip(results) {
            match result {
                Published::Accepted => {
                    self.counts.to_bus += 1;
                    self.delete(m).await;
                }
                Published::Retry(reason) => {
                    let why = format!("{}: {reason}", e.delivery_id);
                    self.failed(m, &why);
                }
                Published::Refused(r) => {
                    self.counts.still_refused += 1;
                    self.progress.note(&format!(
                        "left: {}: {} still refused: {}: {}",
                        m.id, e.delivery_id, r.code, r.message
                    ));
                    self.left.push(m.receipt);
                }
            }
        }
    }

    async fn delete(&mut self, m: Message) {
        let deleted = self
            .sqs
            .delete_message()
            .queue_url(&self.failure_queue)
            .receipt_handle(&m.receipt)
            .send()
            .await;
        if let Err(e) = deleted {
            // Put back but still on the queue: a later run puts it back
            // again, which the consumers' deduplication absorbs.
            self.counts.failed += 1;
            self.progress.note(&format!(
                "failed: {}: put back, but not deleted: {}",
                m.id,
                cause(&e)
            ));
        }
    }

    fn failed(&mut self, m: Message, why: &str) {
        self.counts.failed += 1;
        self.progress.note(&format!("failed: {}: {why}", m.id));
        self.left.push(m.receipt);
    }

    /// Makes every message left on the queue visible again at once.
    async fn release(&self) {
        for receipt in &self.left {
            let _ = self
                .sqs
                .change_message_visibility()
                .queue_url(&self.failure_queue)
                .receipt_handle(receipt)
                .visibility_timeout(0)
                .send()
                .await;
        }
    }
}

/// The stack's outputs that name the failure queue, the partner queue and
/// the bus, under the flags given.
async fn from_stack(sdk: &aws_config::SdkConfig, args: &mut Args) -> Result<(), String> {
    let Some(stack) = &args.stack else {
        return Ok(());
    };
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    let described = cfn
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| cause(&e))?;
    let outputs = described
        .stacks()
        .first()
        .map(|s| s.outputs())
        .unwrap_or_default();
    let output = |key: &str| {
        outputs
            .iter()
            .find(|o| o.output_key() == Some(key))
            .and_then(|o| o.output_value().map(str::to_owned))
    };
    args.failure_queue = args
        .failure_queue
        .take()
        .or_else(|| output("FailedDeliveriesQueueUrl"));
    args.partner_queue = args
        .partner_queue
        .take()
        .or_else(|| output("PartnerEventsQueueUrl"));
    args.bus = args.bus.take().or_else(|| output("OutboxBusName"));
    if args.failure_queue.is_none() {
        return Err(format!(
            "stack {stack} has no FailedDeliveriesQueueUrl output"
        ));
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args: Args = cli::parse();
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    if let Err(e) = from_stack(&sdk, &mut args).await {
        eprintln!("genesys-redrive: stopped: {e}");
        return ExitCode::FAILURE;
    }
    let mut redrive = Redrive {
        sqs: aws_sdk_sqs::Client::new(&sdk),
        failure_queue: args.failure_queue.clone().unwrap_or_default(),
        partner_queue: args.partner_queue.clone(),
        bus: args
            .bus
            .clone()
            .map(|bus| EventBridgeBus::new(&sdk, Timeouts::RELAY, bus)),
        source: args.source.clone(),
        delete_stream_records: args.delete_stream_records,
        dry_run: args.dry_run,
        counts: Counts::default(),
        progress: Progress::default(),
        left: Vec::new(),
    };
    if let Err(e) = redrive.run().await {
        redrive.counts.failed += 1;
        redrive
            .progress
            .note(&format!("genesys-redrive: stopped: {e}"));
    }
    redrive.release().await;
    redrive.progress.clear();
    let dry = if args.dry_run { " (dry run)" } else { "" };
    let summary = redrive.counts.line();
    redrive.say(format_args!("{summary}{dry}"));
    if redrive.counts.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"version":"0","id":"e-1","detail-type":"v2.users.{id}.presence","source":"aws.partner/genesys.com/cloud/o/s","account":"1","time":"2026-11-24T12:00:00Z","region":"us-east-1","resources":[],"detail":{"topicName":"v2.users.u.presence"}}"#;

    #[test]
    fn each_shape_is_recognised() {
        assert_eq!(classify(EVENT), Kind::Partner(EVENT.into()));
        let on_failure = format!(
            r#"{{"version":"1.0","timestamp":"2026-11-24T12:05:00Z","requestContext":{{"requestId":"r","functionArn":"arn:aws:lambda:us-east-1:1:function:f","condition":"RetriesExhausted","approximateInvokeCount":3}},"requestPayload":{EVENT},"responseContext":{{"statusCode":200,"functionError":"Unhandled"}},"responsePayload":{{"errorType":"StoreUnavailable"}}}}"#
        );
        assert_eq!(classify(&on_failure), Kind::Partner(EVENT.into()));
        let stream = r#"{"requestContext":{"condition":"RetryAttemptsExhausted"},"DDBStreamBatchInfo":{"shardId":"s","approximateArrivalOfFirstRecord":"2026-11-24T12:00:04Z","approximateArrivalOfLastRecord":"2026-11-24T12:03:10Z","batchSize":2}}"#;
        assert_eq!(
            classify(stream),
            Kind::StreamRecords {
                first: "2026-11-24T12:00:04Z".into(),
                last: "2026-11-24T12:03:10Z".into()
            }
        );
        let parked = r#"{"reason":"refused","deliveryId":"d","errorCode":"InvalidArgument","errorMessage":"m","entryBytes":9,"entry":{"deliveryId":"d","source":"s","detailType":"t","time":1,"detail":{"a":1}}}"#;
        assert!(matches!(classify(parked), Kind::Parked(e) if e.detail == r#"{"a":1}"#));
        let key_only = r#"{"reason":"too_large","deliveryId":"d","entryOmitted":true}"#;
        assert_eq!(
            classify(key_only),
            Kind::ParkedKeyOnly {
                delivery_id: "d".into()
            }
        );
        for other in [
            "",
            "plain",
            "[]",
            r#"{"detail-type":"x","source":"s","id":"1","detail":"not an object"}"#,
            r#"{"requestContext":{},"requestPayload":{"some":"other payload"}}"#,
        ] {
            assert_eq!(classify(other), Kind::Unknown, "{other}");
        }
    }

    #[test]
    fn a_stack_or_a_failure_queue_is_needed() {
        let args = |s: &str| {
            Args::try_parse_from(std::iter::once("genesys-redrive").chain(s.split_whitespace()))
        };
        assert!(args("").is_err());
        assert!(args("--bus b").is_err());
        assert!(args("--stack s --verbose").is_err());
        let a = args("--failure-queue f --partner-queue p --bus b --dry-run").unwrap();
        assert_eq!(a.failure_queue.as_deref(), Some("f"));
        assert!(a.dry_run && !a.delete_stream_records);
        assert_eq!(args("--stack s").unwrap().stack.as_deref(), Some("s"));
    }
}
