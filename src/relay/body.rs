//! Bodies behind a claim check: the relay and replay read the object an
//! item names, check it is the recorded bytes, and publish it inline when
//! the whole entry fits the bus, else publish the reference.
//!
//! An object is always read and checked, even when its size already says it
//! cannot go inline: a reference to a missing or altered object would reach
//! consumers as a delivery they can never read. Such a body is hashed chunk
//! by chunk as it arrives and never held.

use std::future::Future;

use sha2::{Digest, Sha256};
use thiserror::Error;

use super::entry::Entry;
use crate::config::Timeouts;
use crate::error::cause;
use crate::outbox::{Body, BodyRef, OutboxItem};

/// `reason` of a parked item whose object is not there.
pub const MISSING_REASON: &str = "body_missing";
/// `reason` of a parked item whose object is not the recorded bytes.
pub const TAMPERED_REASON: &str = "body_tampered";
/// `reason` of a parked item whose object S3 refused to hand over.
pub const DENIED_REASON: &str = "body_unreadable";

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FetchError {
    /// No object under the key (S3's code): no retry brings it back, so the
    /// item is parked.
    #[error("{0}: no object at the recorded key")]
    Missing(String),
    /// S3 refused access (403, S3's code). To a role with `s3:GetObject`
    /// alone S3 answers a missing key so too; otherwise the role or key
    /// does not allow the read. Parked, as the bus's own `AccessDenied` is:
    /// a retry would hold the shard until someone acts, and the item stays
    /// in the table to replay once the object or the grant is back.
    #[error("{0}: S3 refused to read the recorded key")]
    Denied(String),
    /// The object differs in size or SHA-256 from the reference: parked,
    /// never published; no retry changes it.
    #[error("{code}: {message}")]
    Tampered { code: &'static str, message: String },
    /// S3 out of reach, throttling or failing: a retry may help, so the
    /// record is retried.
    #[error("{0}")]
    Unavailable(String),
}

impl FetchError {
    /// The parking reason, for an error that is parked rather than retried.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Self::Missing(_) => Some(MISSING_REASON),
            Self::Denied(_) => Some(DENIED_REASON),
            Self::Tampered { .. } => Some(TAMPERED_REASON),
            Self::Unavailable(_) => None,
        }
    }

    /// S3's error code, or what the check found.
    pub fn code(&self) -> &str {
        match self {
            Self::Missing(code) | Self::Denied(code) => code,
            Self::Tampered { code, .. } => code,
            Self::Unavailable(_) => "Unavailable",
        }
    }

    fn tampered(code: &'static str, message: String) -> Self {
        Self::Tampered { code, message }
    }
}

/// Where bodies too large for their items are kept.
pub trait BodyStore: Send + Sync {
    /// Reads the object `claim` names, handing each chunk to `chunk` in order
    /// and stopping at the first error it returns.
    fn read<F>(
        &self,
        claim: &BodyRef,
        chunk: F,
    ) -> impl Future<Output = Result<(), FetchError>> + Send
    where
        F: FnMut(&[u8]) -> Result<(), FetchError> + Send;
}

/// Reads and checks the object `claim` names: exactly `claim.size` bytes
/// whose SHA-256 is `claim.sha256`. With `keep`, returns the bytes.
pub async fn fetch<S: BodyStore>(
    store: &S,
    claim: &BodyRef,
    keep: bool,
) -> Result<Option<Vec<u8>>, FetchError> {
    let mut hash = Sha256::new();
    let mut seen: u64 = 0;
    let mut kept = keep.then(|| Vec::with_capacity(usize::try_from(claim.size).unwrap_or(0)));
    store
        .read(claim, |chunk| {
            seen += chunk.len() as u64;
            if seen > claim.size {
                return Err(size_mismatch(seen, claim.size));
            }
            hash.update(chunk);
            if let Some(kept) = kept.as_mut() {
                kept.extend_from_slice(chunk);
            }
            Ok(())
        })
        .await?;
    if seen != claim.size {
        return Err(size_mismatch(seen, claim.size));
    }
    if hex::encode(hash.finalize()) != claim.sha256 {
        return Err(FetchError::tampered(
            "Sha256Mismatch",
            "the object's SHA-256 is not the recorded one".into(),
        ));
    }
    Ok(kept)
}

fn size_mismatch(seen: u64, recorded: u64) -> FetchError {
    let what = if seen > recorded { "over" } else { "only" };
    FetchError::tampered(
        "SizeMismatch",
        format!("the object holds {what} {seen} bytes, not the recorded {recorded}"),
    )
}

/// What an item's entry became.
#[derive(Debug)]
pub enum Resolved {
    Ready(Entry),
    /// The body cannot be published: park the reference entry with why.
    Park {
        entry: Entry,
        fault: FetchError,
        claim: BodyRef,
    },
    /// Worth trying again later; holds why.
    Retry(String),
}

/// Builds the entries of one batch, fetching stored bodies one at a time.
/// Once S3 fails to answer, the batch's remaining stored bodies are not
/// fetched, so a batch fails within one call's bound.
pub struct Resolver<'a, S> {
    store: &'a S,
    source: &'a str,
    max_bytes: usize,
    out_of_reach: Option<String>,
}

impl<'a, S: BodyStore> Resolver<'a, S> {
    pub fn new(store: &'a S, source: &'a str, max_bytes: usize) -> Self {
        Self {
            store,
            source,
            max_bytes,
            out_of_reach: None,
        }
    }

    /// The item's entry: as recorded for an inline body; a stored body
    /// inline when the whole entry fits `max_bytes`, else its reference.
    pub async fn entry(&mut self, mut item: OutboxItem) -> Resolved {
        let Body::Stored(claim) = &item.body else {
            return Resolved::Ready(Entry::of(&item, self.source));
        };
        let claim = claim.clone();
        if let Some(why) = &self.out_of_reach {
            return Resolved::Retry(format!("not fetched: {why}"));
        }
        let reference = Entry::of(&item, self.source);
        let may_inline = reference.inline_floor(&claim) <= self.max_bytes;
        match fetch(self.store, &claim, may_inline).await {
            Ok(Some(bytes)) => {
                item.body = Body::Inline(bytes);
                let inline = Entry::of(&item, self.source);
                Resolved::Ready(if inline.size() <= self.max_bytes {
                    inline
                } else {
                    reference
                })
            }
            Ok(None) => Resolved::Ready(reference),
            Err(FetchError::Unavailable(why)) => {
                self.out_of_reach = Some(why.clone());
                Resolved::Retry(why)
            }
            Err(fault) => Resolved::Park {
                entry: reference,
                fault,
                claim,
            },
        }
    }
}

/// The body bucket in S3. The endpoint follows the SDK's own
/// `AWS_ENDPOINT_URL_S3`; each read is bounded by the relay's timeouts, the
/// whole body included.
#[derive(Debug, Clone)]
pub struct S3Bodies {
    client: aws_sdk_s3::Client,
    timeouts: Timeouts,
}

impl S3Bodies {
    pub fn new(sdk: &aws_config::SdkConfig, timeouts: Timeouts) -> Self {
        Self {
            client: aws_sdk_s3::Client::new(&timeouts.sdk_config(sdk)),
            timeouts,
        }
    }

    async fn read_all<F>(&self, claim: &BodyRef, mut chunk: F) -> Result<(), FetchError>
    where
        F: FnMut(&[u8]) -> Result<(), FetchError> + Send,
    {
        use aws_sdk_s3::error::{ProvideErrorMetadata as _, SdkError};
        let got = self
            .client
            .get_object()
            .bucket(&claim.bucket)
            .key(&claim.key)
            .send()
            .await;
        let mut object = match got {
            Ok(object) => object,
            Err(SdkError::ServiceError(e)) => {
                let status = e.raw().status().as_u16();
                let err = e.into_err();
                let code = err
                    .code()
                    .unwrap_or(if status == 403 {
                        "AccessDenied"
                    } else {
                        "NotFound"
                    })
                    .to_owned();
                return Err(match (status, code.as_str()) {
                    (404, _) | (_, "NoSuchKey" | "NoSuchBucket") => FetchError::Missing(code),
                    (403, _) => FetchError::Denied(code),
                    _ => FetchError::Unavailable(cause(&err)),
                });
            }
            Err(e) => return Err(FetchError::Unavailable(cause(&e))),
        };
        if let Some(length) = object.content_length.and_then(|n| u64::try_from(n).ok())
            && length != claim.size
        {
            return Err(size_mismatch(length, claim.size));
        }
        while let Some(next) = object.body.try_next().await.transpose() {
            let bytes = next.map_err(|e| FetchError::Unavailable(cause(&e)))?;
            chunk(&bytes)?;
        }
        Ok(())
    }
}

impl BodyStore for S3Bodies {
    async fn read<F>(&self, claim: &BodyRef, chunk: F) -> Result<(), FetchError>
    where
        F: FnMut(&[u8]) -> Result<(), FetchError> + Send,
    {
        tokio::time::timeout(self.timeouts.operation, self.read_all(claim, chunk))
            .await
            .unwrap_or_else(|_| {
                Err(FetchError::Unavailable(format!(
                    "the body was not read within {} ms",
                    self.timeouts.operation.as_millis()
                )))
            })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Objects by key, or a store out of reach.
    #[derive(Default)]
    pub struct FakeBodies {
        pub objects: HashMap<String, Vec<u8>>,
        pub down: bool,
    }

    impl BodyStore for FakeBodies {
        async fn read<F>(&self, claim: &BodyRef, mut chunk: F) -> Result<(), FetchError>
        where
            F: FnMut(&[u8]) -> Result<(), FetchError> + Send,
        {
            if self.down {
                return Err(FetchError::Unavailable("connection refused".into()));
            }
            let object = self
                .objects
                .get(&claim.key)
                .ok_or_else(|| FetchError::Missing("NoSuchKey".into()))?;
            object.chunks(1_000).try_for_each(&mut chunk)
        }
    }

    fn claim(body: &[u8]) -> BodyRef {
        BodyRef::of("bucket", "bodies/", "id", body)
    }

    fn store(key: &str, object: &[u8]) -> FakeBodies {
        FakeBodies {
            objects: HashMap::from([(key.to_owned(), object.to_vec())]),
            down: false,
        }
    }

    #[tokio::test]
    async fn the_exact_bytes_are_kept_only_when_asked() {
        let body: Vec<u8> = (0..5_000u32).map(|i| (i % 251) as u8).collect();
        let c = claim(&body);
        let s = store(&c.key, &body);
        assert_eq!(fetch(&s, &c, true).await, Ok(Some(body.clone())));
        assert_eq!(fetch(&s, &c, false).await, Ok(None));
    }

    #[tokio::test]
    async fn other_bytes_a_longer_or_shorter_object_are_tampered() {
        let body = vec![b'a'; 4_000];
        let c = claim(&body);
        let mut other = body.clone();
        other[3_999] = b'b';
        for (object, code) in [
            (other, "Sha256Mismatch"),
            (vec![b'a'; 4_001], "SizeMismatch"),
            (vec![b'a'; 3_999], "SizeMismatch"),
        ] {
            for keep in [true, false] {
                let got = fetch(&store(&c.key, &object), &c, keep).await;
                let err = got.unwrap_err();
                assert_eq!(err.code(), code);
                assert_eq!(err.reason(), Some(TAMPERED_REASON));
            }
        }
    }

    #[tokio::test]
    async fn a_missing_object_is_parked_and_a_store_out_of_reach_retried() {
        let c = claim(b"{}");
        let missing = fetch(&FakeBodies::default(), &c, true).await.unwrap_err();
        assert_eq!(missing.reason(), Some(MISSING_REASON));
        let down = FakeBodies {
            down: true,
            ..FakeBodies::default()
        };
        assert_eq!(fetch(&down, &c, true).await.unwrap_err().reason(), None);
    }

    fn stored(id: &str, body: &[u8]) -> (OutboxItem, BodyRef) {
        let claim = BodyRef::of("bucket", "bodies/", id, body);
        let item = OutboxItem {
            delivery_id: id.into(),
            received_at: "2026-11-24T12:00:00Z".into(),
            received_at_unix: 1_795_521_600,
            front_door: "apigw-v2".into(),
            scheme: "genesys".into(),
            body: Body::Stored(claim.clone()),
            topic: None,
            detail_type: None,
            integration: None,
        };
        (item, claim)
    }

    fn detail(resolved: Resolved) -> serde_json::Value {
        match resolved {
            Resolved::Ready(entry) => serde_json::from_str(&entry.detail).unwrap(),
            other => panic!("not ready: {other:?}"),
        }
    }

    #[tokio::test]
    async fn inline_when_the_whole_entry_fits_else_the_reference() {
        let json = format!("{{\"t\":\"{}\"}}", "j".repeat(1_000));
        let binary: Vec<u8> = (0..1_500u32).map(|i| (i % 256) as u8).collect();
        let large = vec![b'x'; 5_000];
        let mut bodies = FakeBodies::default();
        let mut items = Vec::new();
        for (id, body) in [
            ("json", json.as_bytes()),
            ("bin", &binary),
            ("large", &large),
        ] {
            let (item, claim) = stored(id, body);
            bodies.objects.insert(claim.key.clone(), body.to_vec());
            items.push((item, claim));
        }
        let mut resolver = Resolver::new(&bodies, "s", 2_000);
        let mut details = Vec::new();
        for (item, _) in items.clone() {
            details.push(detail(resolver.entry(item).await));
        }
        assert_eq!(details[0]["body"]["t"].as_str().map(str::len), Some(1_000));
        // 1,500 bytes go as 2,000 of base64: over the bus's 2,000 with the rest.
        for (d, (_, claim)) in details[1..].iter().zip(&items[1..]) {
            assert_eq!(d["bodyRef"]["sha256"], claim.sha256.as_str());
            assert!(d.get("body").is_none() && d.get("bodyBase64").is_none());
        }
    }

    #[test]
    fn the_inline_floor_is_the_size_of_a_json_body_inline() {
        let json = br#"{"a":[1,2,3]}"#;
        let (mut item, claim) = stored("d", json);
        let reference = Entry::of(&item, "src");
        item.body = Body::Inline(json.to_vec());
        assert_eq!(
            reference.inline_floor(&claim),
            Entry::of(&item, "src").size()
        );
    }

    #[tokio::test]
    async fn a_reference_is_checked_too_and_s3_out_of_reach_stops_the_batch() {
        let large = vec![b'x'; 5_000];
        let (item, claim) = stored("large", &large);
        let altered = store(&claim.key, &[b'y'; 5_000]);
        let mut resolver = Resolver::new(&altered, "s", 2_000);
        assert!(matches!(
            resolver.entry(item.clone()).await,
            Resolved::Park {
                fault: FetchError::Tampered { .. },
                ..
            }
        ));
        let down = FakeBodies {
            down: true,
            ..FakeBodies::default()
        };
        let mut resolver = Resolver::new(&down, "s", 2_000);
        let first = resolver.entry(item.clone()).await;
        assert!(matches!(first, Resolved::Retry(ref why) if why == "connection refused"));
        let second = resolver.entry(item).await;
        assert!(matches!(second, Resolved::Retry(ref why) if why.starts_with("not fetched")));
    }
}
