//! Exactly-once acceptance: a conditional write keyed on the delivery id
//! (under its integration, where there are several).
//! The written item is also the outbox downstream consumers read.

mod bodies;
mod dynamodb;
mod memory;

pub use bodies::{Bodies, BodyBucket, MemoryBodies, S3Bodies};
pub use dynamodb::DynamoStore;
pub use memory::MemoryStore;

use std::future::Future;

use crate::error::StoreError;
pub use crate::outbox::Record;

/// What the store says of a delivery it has recorded or already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Accepted,
    /// `same_content` is false when the earlier delivery under this id had a
    /// different body: a delivery-id collision.
    Duplicate {
        same_content: bool,
    },
    /// The store can never hold this delivery: final, not worth a retry.
    TooLarge,
}

pub trait Store: Send + Sync {
    /// Records `record` unless its id is held and not yet expired. Returns
    /// only once the item is durable.
    fn record(
        &self,
        record: &Record<'_>,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;
}
