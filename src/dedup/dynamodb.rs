//! The DynamoDB store: one conditional `PutItem` per delivery.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::StalledStreamProtectionConfig;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::primitives::{Blob, DateTime, DateTimeFormat};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::{Record, Recorded, Store};
use crate::config::StoreTimeouts;
use crate::error::StoreError;

/// TTL deletion is lazy, so an expired item may still be there: the second
/// clause lets a redelivery after expiry through.
const CONDITION: &str = "attribute_not_exists(pk) OR expires_at < :now";

#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    ttl_seconds: i64,
}

impl DynamoStore {
    /// A client from the shared SDK configuration, with this store's time
    /// bounds. The endpoint follows the SDK's own `AWS_ENDPOINT_URL_DYNAMODB`.
    pub fn new(
        sdk: &aws_config::SdkConfig,
        timeouts: StoreTimeouts,
        table: String,
        ttl_seconds: i64,
    ) -> Self {
        let conf = aws_sdk_dynamodb::config::Builder::from(sdk)
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(timeouts.operation)
                    .operation_attempt_timeout(timeouts.attempt)
                    .connect_timeout(timeouts.connect)
                    .read_timeout(timeouts.attempt)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(timeouts.max_attempts))
            // The read and attempt timeouts already bound a stalled response
            // to a body of a few kilobytes; the SDK's throughput watch adds a
            // timer and a body wrapper to every request for nothing more.
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .build();
        Self {
            client: Client::from_conf(conf),
            table,
            ttl_seconds,
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
            .item("pk", AttributeValue::S("warm-up".to_owned()))
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e) => Err(StoreError(DisplayErrorContext(e).to_string())),
        }
    }

    fn item(&self, r: &Record<'_>) -> HashMap<String, AttributeValue> {
        let received_at = DateTime::from_secs(r.received_at)
            .fmt(DateTimeFormat::DateTime)
            .unwrap_or_else(|_| r.received_at.to_string());
        let mut item = HashMap::from([
            ("pk".to_owned(), AttributeValue::S(r.delivery_id.to_owned())),
            (
                "expires_at".to_owned(),
                AttributeValue::N((r.received_at + self.ttl_seconds).to_string()),
            ),
            ("received_at".to_owned(), AttributeValue::S(received_at)),
            (
                "source".to_owned(),
                AttributeValue::S(r.front_door.to_owned()),
            ),
            ("body".to_owned(), AttributeValue::B(Blob::new(r.body))),
            (
                "body_sha256".to_owned(),
                AttributeValue::S(r.body_sha256.to_owned()),
            ),
            ("scheme".to_owned(), AttributeValue::S(r.scheme.to_owned())),
        ]);
        if let Some(topic) = r.topic {
            item.insert("topic".to_owned(), AttributeValue::S(topic.to_owned()));
        }
        item
    }
}

impl Store for DynamoStore {
    async fn record(&self, record: &Record<'_>) -> Result<Recorded, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.item(record)))
            .condition_expression(CONDITION)
            .expression_attribute_values(":now", AttributeValue::N(record.received_at.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Recorded::Accepted),
            Err(SdkError::ServiceError(e)) => match e.into_err() {
                PutItemError::ConditionalCheckFailedException(held) => {
                    let held_sha = held.item().and_then(|i| i.get("body_sha256"));
                    let same_content = match held_sha {
                        Some(AttributeValue::S(sha)) => sha == record.body_sha256,
                        _ => true,
                    };
                    Ok(Recorded::Duplicate { same_content })
                }
                other => Err(StoreError(DisplayErrorContext(other).to_string())),
            },
            Err(e) => Err(StoreError(DisplayErrorContext(e).to_string())),
        }
    }
}
