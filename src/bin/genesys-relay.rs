use aws_lambda_events::dynamodb::Event;
use genesys_webhook::relay::publish::{EventBridgeBus, SqsQueue};
use genesys_webhook::relay::{Relay, RelayConfig};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    genesys_webhook::logging::init();
    let relay = init()
        .await
        .inspect_err(|e| tracing::error!("init failed: {e}"))?;
    let relay = &relay;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Event>| async move {
        relay.handle(event.payload).await
    }))
    .await
}

/// Configuration and SDK clients, built once.
async fn init() -> Result<Relay<EventBridgeBus, SqsQueue>, Error> {
    let config = RelayConfig::from_env()?;
    let sdk = genesys_webhook::sdk::load().await?;
    let bus = EventBridgeBus::new(&sdk, config.timeouts, config.bus_name.clone());
    let queue = config
        .failure_queue_url
        .clone()
        .map(|url| SqsQueue::new(&sdk, config.timeouts, url));
    Ok(Relay::new(&config, bus, queue))
}
