//! The TLS client `sdk` builds in place of the SDK's default, in the real
//! binary: it still verifies the server, and `SSL_CERT_FILE` still names
//! the roots it trusts. (Which roots it trusts by default is checked in
//! `sdk`'s own tests.) A local TLS server stands in for DynamoDB with a
//! certificate from a test-only CA (`tests/fixtures/tls`), and reports
//! whether each handshake completed.

mod support;

use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use support::runtime_api::{Running, RuntimeApi, function};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");

/// A TLS server for `localhost`; each handshake's outcome goes to the receiver.
async fn tls_server() -> (u16, mpsc::Receiver<Result<(), String>>) {
    let chain = CertificateDer::pem_file_iter(format!("{FIXTURES}/localhost.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(format!("{FIXTURES}/localhost.key")).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let outcome = acceptor.accept(stream).await.map(drop);
            let _ = tx.send(outcome.map_err(|e| e.to_string())).await;
        }
    });
    (port, rx)
}

/// The first handshake the function makes with the store's endpoint at init.
async fn first_handshake(extra: &[(&str, &str)]) -> Result<(), String> {
    let (port, mut handshakes) = tls_server().await;
    let api = RuntimeApi::start().await;
    let endpoint = format!("https://localhost:{port}");
    let mut vars = vec![
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.as_str()),
        ("WEBHOOK_SECRET", "a-test-secret-of-some-length"),
        ("DEDUP_TABLE", "deliveries"),
    ];
    vars.extend_from_slice(extra);
    let _function = Running::start(&mut function(&api, &vars));
    tokio::time::timeout(Duration::from_secs(60), handshakes.recv())
        .await
        .expect("the function never connected to the store")
        .expect("server stopped")
}

#[tokio::test]
async fn a_certificate_no_amazon_root_signed_is_refused() {
    let outcome = first_handshake(&[]).await;
    assert!(outcome.is_err(), "handshake completed: {outcome:?}");
}

/// Outside the `aws` partition the platform's store is trusted instead of
/// Amazon's roots alone; it still refuses a CA it does not hold.
#[tokio::test]
async fn outside_the_aws_partition_the_server_is_still_verified() {
    for region in ["cn-north-1", "us-gov-west-1", "eusc-de-east-1"] {
        let outcome = first_handshake(&[("AWS_REGION", region)]).await;
        assert!(
            outcome.is_err(),
            "{region}: handshake completed: {outcome:?}"
        );
    }
}

#[tokio::test]
async fn ssl_cert_file_names_the_roots_trusted_instead() {
    let ca = format!("{FIXTURES}/ca.pem");
    let outcome = first_handshake(&[("SSL_CERT_FILE", &ca)]).await;
    assert_eq!(outcome, Ok(()));
}
