use aws_lambda_events::dynamodb::Event;
use genesys_webhook::error::exit;
use genesys_webhook::relay::body::S3Bodies;
use genesys_webhook::relay::publish::{EventBridgeBus, SqsQueue};
use genesys_webhook::relay::{Relay, RelayConfig};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    genesys_webhook::logging::init();
    let relay = match init().await {
        Ok(relay) => relay,
        Err(e) => return exit("init", Err(e)),
    };
    let relay = &relay;
    let served = lambda_runtime::run(service_fn(|event: LambdaEvent<Event>| async move {
        relay.handle(event.payload).await
    }))
    .await;
    exit("runtime", served)
}

/// Configuration and SDK clients, built once.
async fn init() -> Result<Relay<EventBridgeBus, SqsQueue, S3Bodies>, Error> {
    let config = RelayConfig::from_env()?;
    let sdk = genesys_webhook::sdk::load().await?;
    let bus = EventBridgeBus::new(&sdk, config.timeouts, config.bus_name.clone());
    let queue = config
        .failure_queue_url
        .clone()
        .map(|url| SqsQueue::new(&sdk, config.timeouts, url));
    let bodies = S3Bodies::new(&sdk, config.timeouts);
    Ok(Relay::new(&config, bus, queue, bodies))
}
