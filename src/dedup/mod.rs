//! Exactly-once acceptance: a conditional write keyed on the delivery id.
//! The written item is also the outbox downstream consumers read.

mod dynamodb;
mod memory;

pub use dynamodb::DynamoStore;
pub use memory::MemoryStore;

use std::future::Future;

use crate::error::StoreError;

/// One delivery as it is recorded.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub delivery_id: &'a str,
    /// The exact verified bytes.
    pub body: &'a [u8],
    pub front_door: &'static str,
    pub scheme: &'static str,
    /// The Genesys topic or event type, where the delivery names one.
    pub topic: Option<&'a str>,
    /// A partner event's own `detail-type`.
    pub detail_type: Option<&'a str>,
    /// The integration the delivery was for, where a deployment serves several.
    pub integration: Option<&'a str>,
    /// Unix seconds.
    pub received_at: i64,
}

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
