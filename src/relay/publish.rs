//! Putting entries on the bus within EventBridge's limits, and parking the
//! ones that can never go there.

use std::future::Future;

use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use thiserror::Error;

use super::entry::Entry;
use crate::config::Timeouts;
use crate::error::cause;

/// Entries one `PutEvents` request may carry.
pub const MAX_ENTRIES: usize = 10;
/// EventBridge's 1 MB, read as 10^6 bytes because AWS does not say which
/// megabyte: an entry's size, and the sum of the sizes in one request.
pub const MAX_REQUEST_BYTES: usize = 1_000_000;
/// The largest SQS message body: 1 MiB.
pub const MAX_QUEUE_MESSAGE_BYTES: usize = 1_048_576;

/// Where entries are published.
pub trait Bus: Send + Sync {
    /// One `PutEvents` request of at most [`MAX_ENTRIES`] entries. `Ok` holds
    /// one answer per entry, in order: `Ok(())` if accepted, else
    /// EventBridge's code and message.
    fn put(
        &self,
        entries: &[&Entry],
    ) -> impl Future<Output = Result<Vec<Result<(), Refusal>>, RequestError>> + Send;
}

/// A `PutEvents` request that failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    /// EventBridge refused the request's shape (`ValidationException`): one
    /// of its entries breaks a field limit. Sending each entry alone finds it.
    #[error("request refused: {0}")]
    Invalid(String),
    /// The bus did not answer, or answered with an error a retry may clear.
    #[error("{0}")]
    Unreachable(String),
}

/// Where an entry that can never be published goes instead.
pub trait FailureQueue: Send + Sync {
    fn send(&self, body: String) -> impl Future<Output = Result<(), QueueError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QueueError {
    /// The queue refused this message; another may still go.
    #[error("{0}")]
    Refused(String),
    /// The queue did not answer; a retry may help.
    #[error("{0}")]
    Unavailable(String),
}

/// EventBridge's answer for one entry it did not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `ErrorCode`, or [`TOO_LARGE`] for an entry never sent.
    pub code: String,
    /// `ErrorMessage`, or what the relay saw.
    pub message: String,
}

/// The code of an entry larger than the bus takes, which is never sent.
pub const TOO_LARGE: &str = "TooLarge";

/// The per-entry codes AWS documents as retryable. Every other code,
/// documented as permanent ([`PERMANENT_CODES`]) or unknown, is a refusal:
/// the entry is parked whole, with its code and message, where a person can
/// redrive it, instead of holding its shard.
pub const RETRYABLE_CODES: &[&str] = &["ThrottlingException", "InternalFailure"];

/// The per-entry codes AWS documents as not retryable.
pub const PERMANENT_CODES: &[&str] = &[
    "InvalidArgument",
    "MalformedDetail",
    "AccessDeniedException",
    "InvalidAccountIdException",
    "RedactionFailure",
    "NotAuthorizedForSourceException",
    "NotAuthorizedForDetailTypeException",
];

impl Refusal {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }

    /// Whether sending the same entry again may succeed.
    pub fn retryable(&self) -> bool {
        RETRYABLE_CODES.contains(&self.code.as_str())
    }
}

/// What became of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    Accepted,
    /// Not accepted, and worth trying again: throttling, an internal
    /// failure, or a request that failed whole. Holds why.
    Retry(String),
    /// Never to be accepted as it is: park it.
    Refused(Refusal),
}

impl Published {
    fn of(answer: Result<(), Refusal>) -> Self {
        match answer {
            Ok(()) => Self::Accepted,
            Err(r) if r.retryable() => Self::Retry(r.code),
            Err(r) => Self::Refused(r),
        }
    }
}

/// Publishes `entries` in as few requests as the limits allow, in order, and
/// says what became of each. Once a request fails as a whole the bus is
/// taken to be out of reach: the entries after it are reported for a retry
/// without being sent, so a batch fails within one request's time bound. A
/// request EventBridge refuses as invalid is sent again one entry at a time,
/// so only the entry that breaks a limit is refused.
pub async fn publish<B: Bus>(bus: &B, entries: &[Entry], max_bytes: usize) -> Vec<Published> {
    let mut results: Vec<Option<Published>> = entries
        .iter()
        .map(|e| {
            (e.size() > max_bytes).then(|| {
                Published::Refused(Refusal::new(
                    TOO_LARGE,
                    format!("{} bytes, over the bus's {max_bytes}", e.size()),
                ))
            })
        })
        .collect();
    let sendable: Vec<usize> = (0..entries.len())
        .filter(|&i| results[i].is_none())
        .collect();
    let mut unreachable: Option<String> = None;
    for request in requests(&sendable, entries, max_bytes) {
        if let Some(why) = &unreachable {
            for &i in &request {
                results[i] = Some(Published::Retry(format!("not sent: {why}")));
            }
            continue;
        }
        let batch: Vec<&Entry> = request.iter().map(|&i| &entries[i]).collect();
        match bus.put(&batch).await {
            Ok(answers) => {
                let mut answers = answers.into_iter();
                for &i in &request {
                    results[i] = Some(answers.next().map_or_else(
                        || Published::Retry("no result for the entry".into()),
                        Published::of,
                    ));
                }
            }
            Err(RequestError::Invalid(_)) if request.len() > 1 => {
                for &i in &request {
                    results[i] = Some(match bus.put(&[&entries[i]]).await {
                        Ok(mut one) if one.len() == 1 => Published::of(one.remove(0)),
                        Ok(_) => Published::Retry("no result for the entry".into()),
                        Err(RequestError::Invalid(m)) => {
                            Published::Refused(Refusal::new("ValidationException", m))
                        }
                        Err(e @ RequestError::Unreachable(_)) => Published::Retry(e.to_string()),
                    });
                }
            }
            Err(RequestError::Invalid(why)) => {
                results[request[0]] =
                    Some(Published::Refused(Refusal::new("ValidationException", why)));
            }
            Err(RequestError::Unreachable(why)) => {
                for &i in &request {
                    results[i] = Some(Published::Retry(why.clone()));
                }
                unreachable = Some(why);
            }
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Published::Retry("not sent".into())))
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
        Self {
            client: aws_sdk_eventbridge::Client::new(&timeouts.sdk_config(sdk)),
            bus_name,
        }
    }
}

impl Bus for EventBridgeBus {
    async fn put(&self, entries: &[&Entry]) -> Result<Vec<Result<(), Refusal>>, RequestError> {
        use aws_sdk_eventbridge::error::{ProvideErrorMetadata as _, SdkError};
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
        let answer = match self
            .client
            .put_events()
            .set_entries(Some(request))
            .send()
            .await
        {
            Ok(answer) => answer,
            Err(SdkError::ServiceError(e)) if e.err().code() == Some("ValidationException") => {
                return Err(RequestError::Invalid(
                    e.err()
                        .message()
                        .unwrap_or("ValidationException")
                        .to_owned(),
                ));
            }
            Err(e) => {
                return Err(RequestError::Unreachable(cause(&e)));
            }
        };
        Ok(answer
            .entries()
            .iter()
            .map(|r| match (r.event_id(), r.error_code()) {
                (_, Some(code)) => Err(Refusal::new(code, r.error_message().unwrap_or_default())),
                (Some(_), None) => Ok(()),
                (None, None) => Err(Refusal::new(
                    "InternalFailure",
                    "no event id and no error code",
                )),
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
        Self {
            client: aws_sdk_sqs::Client::new(&timeouts.sdk_config(sdk)),
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
            Err(SdkError::ServiceError(e)) => Err(QueueError::Refused(cause(&e.into_err()))),
            Err(e) => Err(QueueError::Unavailable(cause(&e))),
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
        /// Delivery ids whose entries the bus refuses, with the code.
        pub refuse: Vec<(&'static str, &'static str)>,
        /// Every request fails as a whole.
        pub down: bool,
        /// A request holding this delivery id is refused as invalid.
        pub invalid: Option<&'static str>,
        pub requests: Mutex<Vec<Vec<String>>>,
    }

    impl Bus for FakeBus {
        async fn put(&self, entries: &[&Entry]) -> Result<Vec<Result<(), Refusal>>, RequestError> {
            assert!(entries.len() <= MAX_ENTRIES);
            self.requests
                .lock()
                .unwrap()
                .push(entries.iter().map(|e| e.delivery_id.clone()).collect());
            if self.down {
                return Err(RequestError::Unreachable("connection refused".into()));
            }
            if entries
                .iter()
                .any(|e| Some(e.delivery_id.as_str()) == self.invalid)
            {
                return Err(RequestError::Invalid("detailType too long".into()));
            }
            Ok(entries
                .iter()
                .map(
                    |e| match self.refuse.iter().find(|(id, _)| *id == e.delivery_id) {
                        Some((_, code)) => {
                            Err(Refusal::new(*code, format!("{code} for {}", e.delivery_id)))
                        }
                        None => Ok(()),
                    },
                )
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
            refuse: vec![("3", "ThrottlingException"), ("11", "MalformedDetail")],
            ..FakeBus::default()
        };
        let mut entries: Vec<Entry> = (0..12).map(|i| entry(&i.to_string(), 10)).collect();
        entries[5] = entry("5", 2_000);
        let results = publish(&bus, &entries, 1_000).await;
        for (i, r) in results.iter().enumerate() {
            let want = match i {
                3 => Published::Retry("ThrottlingException".into()),
                11 => Published::Refused(Refusal::new("MalformedDetail", "MalformedDetail for 11")),
                5 => Published::Refused(Refusal::new(TOO_LARGE, "2016 bytes, over the bus's 1000")),
                _ => Published::Accepted,
            };
            assert_eq!(*r, want, "entry {i}");
        }
        let requests = bus.requests.lock().unwrap();
        assert_eq!(requests.len(), 2);
        assert!(requests.iter().flatten().all(|id| id != "5"));
    }

    #[test]
    fn only_throttling_and_internal_failure_are_retried() {
        for code in ["ThrottlingException", "InternalFailure"] {
            assert!(Refusal::new(code, "").retryable(), "{code}");
        }
        let others = ["ValidationException", TOO_LARGE, "SomeCodeNotYetDocumented"];
        for code in PERMANENT_CODES.iter().chain(&others) {
            assert!(!Refusal::new(*code, "").retryable(), "{code}");
        }
    }

    #[tokio::test]
    async fn an_invalid_request_is_sent_again_one_entry_at_a_time() {
        let bus = FakeBus {
            invalid: Some("2"),
            ..FakeBus::default()
        };
        let entries: Vec<Entry> = (0..4).map(|i| entry(&i.to_string(), 10)).collect();
        let results = publish(&bus, &entries, MAX_REQUEST_BYTES).await;
        assert_eq!(
            results[2],
            Published::Refused(Refusal::new("ValidationException", "detailType too long"))
        );
        for i in [0, 1, 3] {
            assert_eq!(results[i], Published::Accepted, "entry {i}");
        }
        assert_eq!(bus.requests.lock().unwrap().len(), 5);
    }

    #[tokio::test]
    async fn a_bus_out_of_reach_fails_everything_after_one_request() {
        let bus = FakeBus {
            down: true,
            ..FakeBus::default()
        };
        let entries: Vec<Entry> = (0..25).map(|i| entry(&i.to_string(), 10)).collect();
        let results = publish(&bus, &entries, MAX_REQUEST_BYTES).await;
        assert!(results.iter().all(|r| matches!(r, Published::Retry(_))));
        assert_eq!(bus.requests.lock().unwrap().len(), 1);
    }
}
