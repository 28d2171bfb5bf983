use aws_config::BehaviorVersion;
use genesys_webhook::config::{Config, SecretSource};
use genesys_webhook::dedup::DynamoStore;
use genesys_webhook::handler::Handler;
use genesys_webhook::secrets::fetch_secrets;
use genesys_webhook::verify::scheme_for;
use lambda_runtime::{Error, LambdaEvent, service_fn, tracing};
use serde_json::value::RawValue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let handler = init()
        .await
        .inspect_err(|e| tracing::error!("init failed: {e}"))?;
    let handler = &handler;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Box<RawValue>>| async move {
        handler.handle(event.payload.get()).await
    }))
    .await
}

/// Everything a request needs, built once: configuration, keys, SDK client.
async fn init() -> Result<Handler<DynamoStore>, Error> {
    let config = Config::from_env()?;
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let secrets = match &config.secrets {
        SecretSource::Inline(secrets) => secrets.clone(),
        SecretSource::SecretsManager { arn } => fetch_secrets(&sdk, arn).await?,
    };
    let scheme = scheme_for(&config.scheme, &secrets)?;
    let store = DynamoStore::new(
        &sdk,
        config.store_timeouts,
        config.table.clone(),
        config.ttl_seconds,
    );
    if let Err(e) = store.warm().await {
        tracing::warn!("dedup table not reachable at init, will retry per delivery: {e}");
    }
    Ok(Handler::new(&config, scheme, store))
}
