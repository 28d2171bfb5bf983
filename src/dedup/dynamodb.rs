//! The DynamoDB store: one conditional `PutItem` per delivery, after the
//! body's object where the item cannot hold the body.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use sha2::{Digest, Sha256};

use super::{Bodies, BodyBucket, Record, Recorded, S3Bodies, Store};
use crate::config::Timeouts;
use crate::error::{StoreError, cause};
use crate::outbox::{self, BodyRef};

/// `B` keeps the bodies too large for an item, once [`DynamoStore::with_bodies`]
/// names a bucket; without one such a body is [`Recorded::TooLarge`].
#[derive(Debug, Clone)]
pub struct DynamoStore<B = S3Bodies> {
    client: Client,
    table: String,
    ttl_seconds: i64,
    bodies: Option<BodyBucket<B>>,
}

impl DynamoStore {
    /// A client from the shared SDK configuration, with this store's time
    /// bounds. The endpoint follows the SDK's own `AWS_ENDPOINT_URL_DYNAMODB`.
    pub fn new(
        sdk: &aws_config::SdkConfig,
        timeouts: Timeouts,
        table: String,
        ttl_seconds: i64,
    ) -> Self {
        Self {
            client: Client::new(&timeouts.write_config(sdk)),
            table,
            ttl_seconds,
            bodies: None,
        }
    }
}

impl<B> DynamoStore<B> {
    /// This store, keeping bodies too large for an item in `bodies`.
    pub fn with_bodies<C>(self, bodies: BodyBucket<C>) -> DynamoStore<C> {
        DynamoStore {
            client: self.client,
            table: self.table,
            ttl_seconds: self.ttl_seconds,
            bodies: Some(bodies),
        }
    }

    /// Opens the connection (DNS, TCP, TLS) at init so the first delivery
    /// does not pay for it. The write's condition contradicts itself, so it
    /// never stores anything and needs no permission beyond `PutItem`.
    pub async fn warm(&self) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(outbox::DELIVERY_ID, AttributeValue::S("warm-up".to_owned()))
            .condition_expression(outbox::NEVER)
            .send()
            .await;
        match result {
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e) => Err(StoreError(cause(&e))),
        }
    }
}

impl<B: Bodies> Store for DynamoStore<B> {
    async fn record(&self, record: &Record<'_>) -> Result<Recorded, StoreError> {
        let claim = match &self.bodies {
            Some(bodies) => bodies.keep(record).await?,
            None => None,
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(outbox::item(record, self.ttl_seconds, claim.as_ref())))
            .condition_expression(outbox::NEW_OR_EXPIRED)
            .expression_attribute_values(":now", AttributeValue::N(record.received_at.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Recorded::Accepted),
            Err(SdkError::ServiceError(e)) => match e.into_err() {
                PutItemError::ConditionalCheckFailedException(held) => {
                    let same_content = held
                        .item()
                        .is_none_or(|held| same_content(held, record.body, claim.as_ref()));
                    Ok(Recorded::Duplicate { same_content })
                }
                other if is_item_too_large(&other) => Ok(Recorded::TooLarge),
                other => Err(StoreError(cause(&other))),
            },
            Err(e) => Err(StoreError(cause(&e))),
        }
    }
}

/// Whether the held item records `body`. The failed condition returns the
/// held item: its body, or the SHA-256 of the body its claim check names.
fn same_content(
    held: &HashMap<String, AttributeValue>,
    body: &[u8],
    claim: Option<&BodyRef>,
) -> bool {
    match (held.get(outbox::BODY), held.get(outbox::BODY_SHA256)) {
        (Some(AttributeValue::B(held)), _) => held.as_ref() == body,
        (_, Some(AttributeValue::S(held))) => match claim {
            Some(claim) => claim.sha256 == *held,
            None => hex::encode(Sha256::digest(body)) == *held,
        },
        _ => true,
    }
}

/// DynamoDB refuses an item over 400 KB with a plain validation error; only
/// its message tells it from the retryable kind.
fn is_item_too_large(e: &PutItemError) -> bool {
    e.meta().code() == Some("ValidationException")
        && e.meta()
            .message()
            .is_some_and(|m| m.contains("Item size has exceeded"))
}
