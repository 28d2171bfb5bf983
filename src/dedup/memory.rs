//! An in-process store with the same semantics as the DynamoDB one, for
//! tests and local runs without a table.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Record, Recorded, Store};
use crate::error::StoreError;

/// What the store holds under one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub body: Vec<u8>,
    pub expires_at: i64,
}

#[derive(Debug)]
pub struct MemoryStore {
    ttl_seconds: i64,
    items: Mutex<HashMap<String, Held>>,
}

impl MemoryStore {
    pub fn new(ttl_seconds: i64) -> Self {
        Self {
            ttl_seconds,
            items: Mutex::new(HashMap::new()),
        }
    }

    /// What is held under `key` (see [`crate::outbox::key`]).
    pub fn get(&self, key: &str) -> Option<Held> {
        self.lock().get(key).cloned()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.items
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Store for MemoryStore {
    async fn record(&self, record: &Record<'_>) -> Result<Recorded, StoreError> {
        let key = record.key();
        let mut items = self.lock();
        if let Some(held) = items.get(key.as_ref())
            && held.expires_at >= record.received_at
        {
            return Ok(Recorded::Duplicate {
                same_content: held.body == record.body,
            });
        }
        items.insert(
            key.into_owned(),
            Held {
                body: record.body.to_vec(),
                expires_at: record.received_at + self.ttl_seconds,
            },
        );
        Ok(Recorded::Accepted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record<'a>(id: &'a str, body: &'a [u8], at: i64) -> Record<'a> {
        Record {
            delivery_id: id,
            body,
            front_door: "apigw-v2",
            scheme: "genesys",
            topic: None,
            detail_type: None,
            integration: None,
            received_at: at,
        }
    }

    #[tokio::test]
    async fn first_accepted_then_duplicate_then_expired() {
        let store = MemoryStore::new(100);
        assert_eq!(
            store.record(&record("a", b"x", 0)).await.unwrap(),
            Recorded::Accepted
        );
        assert_eq!(
            store.record(&record("a", b"x", 100)).await.unwrap(),
            Recorded::Duplicate { same_content: true }
        );
        assert_eq!(
            store.record(&record("a", b"y", 50)).await.unwrap(),
            Recorded::Duplicate {
                same_content: false
            }
        );
        assert_eq!(
            store.record(&record("a", b"z", 101)).await.unwrap(),
            Recorded::Accepted
        );
        assert_eq!(store.get("a").unwrap().body, b"z");
        assert_eq!(store.len(), 1);
    }

    #[tokio::test]
    async fn one_id_under_two_integrations_is_two_deliveries() {
        let store = MemoryStore::new(100);
        let under = |integration| Record {
            integration,
            ..record("a", b"x", 0)
        };
        for integration in [Some("sales"), Some("support"), None] {
            assert_eq!(
                store.record(&under(integration)).await.unwrap(),
                Recorded::Accepted,
                "{integration:?}"
            );
        }
        assert_eq!(
            store.record(&under(Some("sales"))).await.unwrap(),
            Recorded::Duplicate { same_content: true }
        );
        assert!(store.get("sales/a").is_some() && store.get("support/a").is_some());
        assert!(store.get("a").is_some());
        assert_eq!(store.len(), 3);
    }
}
