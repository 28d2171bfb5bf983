use genesys_webhook::clock::unix_now;
use genesys_webhook::config::{Config, SecretSource};
use genesys_webhook::dedup::{BodyBucket, DynamoStore, S3Bodies};
use genesys_webhook::error::exit;
use genesys_webhook::handler::Handler;
use genesys_webhook::payload::{self, RawPayload};
use genesys_webhook::secrets::{SecretSet, SecretsManager};
use genesys_webhook::verify::{Keyring, LiveKeyring};
use lambda_runtime::layers::TracingLayer;
use lambda_runtime::{Error, LambdaEvent, Runtime};
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    genesys_webhook::logging::init();
    let handler = match init().await {
        Ok(handler) => handler,
        Err(e) => return exit("init", Err(e)),
    };
    let handler = &handler;
    let runtime = Runtime::new(payload::service_fn(
        |payload, event: LambdaEvent<()>| async move {
            handler.handle(&payload, &event.context.request_id).await
        },
    ));
    let served = runtime
        .layer(TracingLayer::new())
        .layer(RawPayload)
        .run()
        .await;
    exit("runtime", served)
}

/// Everything a request needs, built once: configuration, keys, SDK client.
async fn init() -> Result<Handler<DynamoStore>, Error> {
    let config = Config::from_env()?;
    let sdk = genesys_webhook::sdk::load().await?;
    let keys = match &config.secrets {
        SecretSource::Inline(secrets) => {
            let set = SecretSet::Single(secrets.clone());
            LiveKeyring::fixed(Keyring::new(&config.scheme, &set)?)
        }
        SecretSource::SecretsManager { arn } => {
            let source = SecretsManager::new(&sdk, arn.clone(), config.secret_refresh.timeout);
            let keyring = Keyring::new(&config.scheme, &source.fetch().await?)?;
            LiveKeyring::refreshed_from(keyring, source, config.secret_refresh, unix_now())
        }
    };
    let store = DynamoStore::new(
        &sdk,
        config.store_timeouts,
        config.table.clone(),
        config.ttl_seconds,
    );
    // No warm-up for the bucket: only bodies too large for an item go there,
    // and opening its connection at init would cost every cold start.
    let store = match &config.body_bucket {
        Some(name) => store.with_bodies(BodyBucket {
            bodies: S3Bodies::new(&sdk, config.store_timeouts),
            name: name.clone(),
        }),
        None => store,
    };
    if let Err(e) = store.warm().await {
        tracing::warn!("dedup table not reachable at init, will retry per delivery: {e}");
    }
    Ok(Handler::new(&config, keys, store))
}
