//! Bodies too large for their item, kept as objects (the claim check). The
//! object is written before the item that names it, so an item never points
//! at a missing object; a failed item write leaves only an orphan object,
//! which the bucket's lifecycle rule removes.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::Record;
use crate::config::{BodyBucketName, Timeouts};
use crate::error::{StoreError, cause};
use crate::outbox::{self, BodyRef};

/// Somewhere to keep a body under the key its reference names.
pub trait Bodies: Send + Sync {
    /// Writes `body` where `claim` says; returns only once it is durable.
    fn put(
        &self,
        claim: &BodyRef,
        body: &[u8],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The bucket and key prefix large bodies go to, and what writes them.
#[derive(Debug, Clone)]
pub struct BodyBucket<B> {
    pub bodies: B,
    pub name: BodyBucketName,
}

impl<B: Bodies> BodyBucket<B> {
    /// Keeps `record`'s body when its item cannot hold it, and returns the
    /// reference the item records instead. A body that fits costs no call.
    pub async fn keep(&self, record: &Record<'_>) -> Result<Option<BodyRef>, StoreError> {
        if record.body.len() <= outbox::MAX_BODY_BYTES {
            return Ok(None);
        }
        let name = &self.name;
        let claim = BodyRef::of(&name.bucket, &name.prefix, &record.key(), record.body);
        self.bodies.put(&claim, record.body).await?;
        Ok(Some(claim))
    }
}

/// Objects in S3, one `PutObject` per body. The endpoint follows the SDK's
/// own `AWS_ENDPOINT_URL_S3`.
#[derive(Debug, Clone)]
pub struct S3Bodies {
    client: Client,
}

impl S3Bodies {
    /// A client from the shared SDK configuration with the store's time
    /// bounds: the object is one more write on the way to acceptance.
    pub fn new(sdk: &aws_config::SdkConfig, timeouts: Timeouts) -> Self {
        Self {
            client: Client::new(&timeouts.write_config(sdk)),
        }
    }
}

impl Bodies for S3Bodies {
    async fn put(&self, claim: &BodyRef, body: &[u8]) -> Result<(), StoreError> {
        // S3 checks the bytes it received against this digest and refuses
        // the write on a mismatch, so a stored object always matches its
        // reference.
        let digest = hex::decode(&claim.sha256)
            .map_err(|_| StoreError("body reference holds no SHA-256".to_owned()))?;
        self.client
            .put_object()
            .bucket(&claim.bucket)
            .key(&claim.key)
            .content_type("application/octet-stream")
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(STANDARD.encode(digest))
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .map_err(|e| StoreError(format!("body bucket: {}", cause(&e))))?;
        Ok(())
    }
}

/// Objects in process memory, for tests and local runs without a bucket.
#[derive(Debug, Default)]
pub struct MemoryBodies {
    objects: Mutex<HashMap<(String, String), Vec<u8>>>,
}

impl MemoryBodies {
    /// The object at `key` in `bucket`.
    pub fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        self.lock()
            .get(&(bucket.to_owned(), key.to_owned()))
            .cloned()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Vec<u8>>> {
        self.objects
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Bodies for MemoryBodies {
    async fn put(&self, claim: &BodyRef, body: &[u8]) -> Result<(), StoreError> {
        self.lock()
            .insert((claim.bucket.clone(), claim.key.clone()), body.to_vec());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn record(body: &[u8]) -> Record<'_> {
        Record {
            delivery_id: "d-1",
            body,
            front_door: "apigw-v2",
            scheme: "genesys",
            topic: None,
            detail_type: None,
            integration: Some("sales"),
            received_at: 0,
        }
    }

    fn bucket() -> BodyBucket<MemoryBodies> {
        BodyBucket {
            bodies: MemoryBodies::default(),
            name: BodyBucketName {
                bucket: "bodies-bucket".into(),
                prefix: "bodies/".into(),
            },
        }
    }

    #[tokio::test]
    async fn a_body_that_fits_its_item_is_not_kept() {
        let b = bucket();
        let body = vec![b'a'; outbox::MAX_BODY_BYTES];
        assert_eq!(b.keep(&record(&body)).await.unwrap(), None);
        assert!(b.bodies.is_empty());
    }

    #[tokio::test]
    async fn a_larger_body_is_kept_whole_under_its_reference() {
        let b = bucket();
        let body = vec![b'a'; outbox::MAX_BODY_BYTES + 1];
        let claim = b.keep(&record(&body)).await.unwrap().expect("a reference");
        assert_eq!(claim.bucket, "bodies-bucket");
        assert!(claim.key.starts_with("bodies/"), "{}", claim.key);
        assert_eq!(claim.size, body.len() as u64);
        assert_eq!(claim.sha256, hex::encode(Sha256::digest(&body)));
        assert_eq!(
            b.bodies.get("bodies-bucket", &claim.key),
            Some(body.clone())
        );
        assert_eq!(b.keep(&record(&body)).await.unwrap(), Some(claim));
        assert_eq!(
            b.bodies.len(),
            1,
            "a retried write lands on the same object"
        );
    }
}
