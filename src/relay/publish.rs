//! Putting entries on the bus within EventBridge's limits, and parking the
//! ones that can never go there.

use std::future::Future;
use std::time::Duration;

use aws_sdk_eventbridge::config::retry::RetryConfig;
use aws_sdk_eventbridge::config::timeout::TimeoutConfig;
use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use super::entry::Entry;

/// Entries one `PutEvents` request may carry.
pub const MAX_ENTRIES: usize = 10;
/// EventBridge's 1 MB, read as 10^6 bytes because AWS does not say which
/// megabyte: an entry's size, and the sum of the sizes in one request.
pub const MAX_REQUEST_BYTES: usize = 1_000_000;
/// The largest SQS message body: 1 MiB.
pub const MAX_QUEUE_MESSAGE_BYTES: usize = 1_048_576;

/// Time bounds of one call to EventBridge or SQS, retries included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub operation: Duration,
    pub attempt: Duration,
    pub connect: Duration,
    pub max_attempts: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            operation: Duration::from_millis(5_000),
            attempt: Duration::from_millis(2_000),
            connect: Duration::from_millis(1_000),
            max_attempts: 3,
        }
    }
}

impl Timeouts {
    fn timeout_config(self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .operation_timeout(self.operation)
            .operation_attempt_timeout(self.attempt)
            .connect_timeout(self.connect)
            .read_timeout(self.attempt)
            .build()
    }

    fn retry_config(self) -> RetryConfig {
        RetryConfig::standard().with_max_attempts(self.max_attempts)
    }
}

/// Where entries are published.
pub trait Bus: Send + Sync {
    /// One `PutEvents` request of at most [`MAX_ENTRIES`] entries. `Ok` holds
    /// one result per entry, in order: `None` if accepted, else its error
    /// code. `Err` means the request as a whole failed.
    fn put(
        &self,
        entries: &[&Entry],
    ) -> impl Future<Output = Result<Vec<Option<String>>, String>> + Send;
}

/// Where an entry that can never be published goes instead.
pub trait FailureQueue: Send + Sync {
    fn send(&self, body: String) -> impl Future<Output = Result<(), QueueError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueError {
    /// The queue refused this message; another may still go.
    Refused(String),
    /// The queue did not answer.
    Unavailable(String),
}

/// What became of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    Accepted,
    /// Not accepted: EventBridge's error code, or why the request failed.
    Failed(String),
    /// Larger than any entry may be; never sent.
    TooLarge,
}

/// Publishes `entries` in as few requests as the limits allow, in order, and
/// says what became of each. Once a request fails as a whole the bus is
/// taken to be out of reach: the entries after it are reported failed without
/// being sent, so a batch fails within one request's time bound.
pub async fn publish<B: Bus>(bus: &B, entries: &[Entry], max_bytes: usize) -> Vec<Published> {
    let mut results: Vec<Option<Published>> = entries
        .iter()
        .map(|e| (e.size() > max_bytes).then_some(Published::TooLarge))
        .collect();
    let sendable: Vec<usize> = (0..entries.len())
        .filter(|&i| results[i].is_none())
        .collect();
    let mut unreachable: Option<String> = None;
    for request in requests(&sendable, entries, max_bytes) {
        if let Some(why) = &unreachable {
            for &i in &request {
                results[i] = Some(Published::Failed(format!("not sent: {why}")));
            }
            continue;
        }
        let batch: Vec<&Entry> = request.iter().map(|&i| &entries[i]).collect();
        match bus.put(&batch).await {
            Ok(answers) => {
                for (n, &i) in request.iter().enumerate() {
                    results[i] = Some(match answers.get(n) {
                        Some(None) => Published::Accepted,
                        Some(Some(code)) => Published::Failed(code.clone()),
                        None => Published::Failed("no result for the entry".into()),
                    });
                }
            }
            Err(why) => {
                for &i in &request {
                    results[i] = Some(Published::Failed(why.clone()));
                }
                unreachable = Some(why);
            }
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Published::Failed("not sent".into())))
        .collect()
}

/// Indexes of `entries` grouped into requests: at most [`MAX_ENTRIES`] each,
/// sizes summing to at most `max_bytes`, order kept.
fn requests(indexes: &[usize], entries: &[Entry], max_bytes: usize) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut bytes = 0;
    for &i in indexes {
        let size = entries[i].size();
        if !current.is_empty() && (current.len() == MAX_ENTRIES || bytes + size > max_bytes) {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(i);
        bytes += size;
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// An EventBridge bus. The endpoint follows the SDK's own
/// `AWS_ENDPOINT_URL_EVENTBRIDGE`.
#[derive(Debug, Clone)]
pub struct EventBridgeBus {
    client: aws_sdk_eventbridge::Client,
    bus_name: String,
}

impl EventBridgeBus {
    pub fn new(sdk: &aws_config::SdkConfig, timeouts: Timeouts, bus_name: String) -> Self {
        let conf = aws_sdk_eventbridge::config::Builder::from(sdk)
            .timeout_config(timeouts.timeout_config())
            .retry_config(timeouts.retry_config())
            .build();
        Self {
            client: aws_sdk_eventbridge::Client::from_conf(conf),
            bus_name,
        }
    }
}

impl Bus for EventBridgeBus {
    async fn put(&self, entries: &[&Entry]) -> Result<Vec<Option<String>>, String> {
        let request = entries
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus_name)
                    .source(&e.source)
                    .detail_type(&e.detail_type)
                    .time(DateTime::from_secs(e.time))
                    .detail(&e.detail)
                    .build()
            })
            .collect();
        let answer = self
            .client
            .put_events()
            .set_entries(Some(request))
            .send()
            .await
            .map_err(|e| DisplayErrorContext(e).to_string())?;
        Ok(answer
            .entries()
            .iter()
            .map(|r| match (r.event_id(), r.error_code()) {
                (_, Some(code)) => Some(code.to_owned()),
                (Some(_), None) => None,
                (None, None) => Some("no event id".to_owned()),
            })
            .collect())
    }
}

/// An SQS queue. The endpoint follows the SDK's own `AWS_ENDPOINT_URL_SQS`.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    pub fn new(sdk: &aws_config::SdkConfig, timeouts: Timeouts, url: String) -> Self {
        let conf = aws_sdk_sqs::config::Builder::from(sdk)
            .timeout_config(timeouts.timeout_config())
            .retry_config(timeouts.retry_config())
            .build();
        Self {
            client: aws_sdk_sqs::Client::from_conf(conf),
            url,
        }
    }
}

impl FailureQueue for SqsQueue {
    async fn send(&self, body: String) -> Result<(), QueueError> {
        use aws_sdk_sqs::error::SdkError;
        match self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) => Err(QueueError::Refused(
                aws_sdk_sqs::error::DisplayErrorContext(e.into_err()).to_string(),
            )),
            Err(e) => Err(QueueError::Unavailable(
                aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
            )),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A bus that answers from a script and remembers every request.
    #[derive(Default)]
    pub struct FakeBus {
        /// Delivery ids whose entries the bus refuses.
        pub refuse: Vec<String>,
        /// Every request fails as a whole.
        pub down: bool,
        pub requests: Mutex<Vec<Vec<String>>>,
    }

    impl Bus for FakeBus {
        async fn put(&self, entries: &[&Entry]) -> Result<Vec<Option<String>>, String> {
            assert!(entries.len() <= MAX_ENTRIES);
            self.requests
                .lock()
                .unwrap()
                .push(entries.iter().map(|e| e.delivery_id.clone()).collect());
            if self.down {
                return Err("connection refused".into());
            }
            Ok(entries
                .iter()
                .map(|e| {
                    self.refuse
                        .contains(&e.delivery_id)
                        .then(|| "InternalFailure".to_owned())
                })
                .collect())
        }
    }

    pub fn entry(id: &str, detail_bytes: usize) -> Entry {
        Entry {
            delivery_id: id.into(),
            source: "s".into(),
            detail_type: "t".into(),
            time: 0,
            detail: "x".repeat(detail_bytes),
        }
    }

    #[test]
    fn requests_hold_ten_entries_at_most() {
        let entries: Vec<Entry> = (0..23).map(|i| entry(&i.to_string(), 10)).collect();
        let all: Vec<usize> = (0..23).collect();
        let sizes: Vec<usize> = requests(&all, &entries, MAX_REQUEST_BYTES)
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [10, 10, 3]);
    }

    #[test]
    fn requests_keep_within_the_byte_limit_and_order() {
        // Each entry is 16 + 400 bytes: two fit in 1000, three do not.
        let entries: Vec<Entry> = (0..5).map(|i| entry(&i.to_string(), 400)).collect();
        let all: Vec<usize> = (0..5).collect();
        assert_eq!(
            requests(&all, &entries, 1_000),
            vec![vec![0, 1], vec![2, 3], vec![4]]
        );
        assert_eq!(
            requests(&all, &entries, 832),
            vec![vec![0, 1], vec![2, 3], vec![4]]
        );
        assert_eq!(
            requests(&all, &entries, 831),
            vec![vec![0], vec![1], vec![2], vec![3], vec![4]]
        );
    }

    #[tokio::test]
    async fn each_entry_gets_its_own_result() {
        let bus = FakeBus {
            refuse: vec!["3".into(), "11".into()],
            ..FakeBus::default()
        };
        let mut entries: Vec<Entry> = (0..12).map(|i| entry(&i.to_string(), 10)).collect();
        entries[5] = entry("5", 2_000);
        let results = publish(&bus, &entries, 1_000).await;
        for (i, r) in results.iter().enumerate() {
            let want = match i {
                3 | 11 => Published::Failed("InternalFailure".into()),
                5 => Published::TooLarge,
                _ => Published::Accepted,
            };
            assert_eq!(*r, want, "entry {i}");
        }
        let requests = bus.requests.lock().unwrap();
        assert_eq!(requests.len(), 2);
        assert!(requests.iter().flatten().all(|id| id != "5"));
    }

    #[tokio::test]
    async fn a_bus_out_of_reach_fails_everything_after_one_request() {
        let bus = FakeBus {
            down: true,
            ..FakeBus::default()
        };
        let entries: Vec<Entry> = (0..25).map(|i| entry(&i.to_string(), 10)).collect();
        let results = publish(&bus, &entries, MAX_REQUEST_BYTES).await;
        assert!(results.iter().all(|r| matches!(r, Published::Failed(_))));
        assert_eq!(bus.requests.lock().unwrap().len(), 1);
    }
}
