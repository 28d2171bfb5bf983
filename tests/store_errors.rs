//! The store's failure reasons are one readable line: the cause chain, never
//! the SDK's `Debug` dump of the error.

mod support;

use genesys_webhook::config::Timeouts;
use genesys_webhook::dedup::DynamoStore;
use support::{LocalDynamo, sdk_config};

const TIMEOUTS: Timeouts = Timeouts::millis(2_000, 1_000, 500, 1);

async fn reason(endpoint: &str, table: &str) -> String {
    let sdk = sdk_config(endpoint).await;
    let store = DynamoStore::new(&sdk, TIMEOUTS, table.into(), 86_400);
    let reason = store.warm().await.unwrap_err().to_string();
    assert!(!reason.contains('\n'), "{reason}");
    for dump in ["{", "Some(", "ErrorMetadata", "DispatchFailure("] {
        assert!(!reason.contains(dump), "{reason}");
    }
    reason
}

#[tokio::test]
async fn a_missing_table_is_named_by_its_error_code() {
    let db = LocalDynamo::start().await;
    let reason = reason(&db.endpoint, "no-such-table").await;
    assert!(reason.contains("ResourceNotFoundException"), "{reason}");
}

#[tokio::test]
async fn an_unreachable_endpoint_says_why() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let reason = reason(&endpoint, "deliveries").await;
    assert!(
        reason.starts_with("dedup store unavailable: dispatch failure"),
        "{reason}"
    );
}
