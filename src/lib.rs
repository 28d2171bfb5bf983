//! Receives Genesys Cloud deliveries on AWS Lambda: decodes any front door,
//! verifies the pinned signature scheme over the exact signed bytes, and
//! records each delivery exactly once in DynamoDB.
//!
//! Stages, in the order a delivery meets them: [`envelope`] → [`verify`] →
//! [`dedup`] → [`respond`], wired by [`handler`] with [`config`] read once.
//! [`outbox`] owns the recorded item's layout; [`relay`] publishes each
//! recorded item to an EventBridge bus. Every line either writes goes
//! through [`sink`].

pub mod clock;
pub mod config;
pub mod dedup;
pub mod envelope;
pub mod error;
pub mod handler;
mod json_scan;
pub mod logging;
pub mod metrics;
pub mod outbox;
pub mod outcome;
pub mod payload;
pub mod relay;
pub mod respond;
pub mod sdk;
pub mod secrets;
pub mod sink;
pub mod verify;
