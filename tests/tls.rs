//! The TLS client `sdk` builds in place of the SDK's default, in the real
//! binary: it still verifies the server, and `SSL_CERT_FILE` still names
//! the roots it trusts. (Which roots it trusts by default is checked in
//! `sdk`'s own tests.) A local TLS server stands in for DynamoDB with a
//! certificate from a test-only CA (`tests/fixtures/tls`), and reports
//! whether each handshake completed. `sdk::https_client` rests on an SDK
//! call its authors keep out of their documentation; the tests that drive
//! it directly fail if a new SDK version changes what that call does.

mod support;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{TlsContext, TrustStore};
use genesys_webhook::sdk::https_client;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use support::runtime_api::{Running, RuntimeApi, function};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
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

/// An HTTP proxy that tunnels every `CONNECT` to `port` on this machine and
/// reports each request line it was sent.
async fn connect_proxy(port: u16) -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let line = String::from_utf8_lossy(&head);
                let _ = tx.send(line.lines().next().unwrap_or("").to_owned()).await;
                let Ok(mut server) = TcpStream::connect(("127.0.0.1", port)).await else {
                    return;
                };
                let established = b"HTTP/1.1 200 Connection established\r\n\r\n";
                if client.write_all(established).await.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    (proxy_port, rx)
}

/// The first handshake a DynamoDB client on `https_client(trust, proxy)`
/// makes with the server on `port`.
async fn handshake_through_the_client(
    trust: TrustStore,
    proxy: ProxyConfig,
    port: u16,
    handshakes: &mut mpsc::Receiver<Result<(), String>>,
) -> Result<(), String> {
    let tls = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .unwrap();
    let sdk = support::sdk_config(&format!("https://localhost:{port}")).await;
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .http_client(https_client(tls, proxy))
        .retry_config(RetryConfig::disabled())
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(conf);
    let _ = client.list_tables().send().await;
    tokio::time::timeout(Duration::from_secs(20), handshakes.recv())
        .await
        .expect("the client never connected")
        .expect("server stopped")
}

fn test_ca() -> TrustStore {
    TrustStore::empty().with_pem_certificate(std::fs::read(format!("{FIXTURES}/ca.pem")).unwrap())
}

#[tokio::test]
async fn the_client_trusts_its_trust_store_and_nothing_else() {
    let (port, mut handshakes) = tls_server().await;
    let trusted =
        handshake_through_the_client(test_ca(), ProxyConfig::disabled(), port, &mut handshakes)
            .await;
    assert_eq!(trusted, Ok(()));
    let nothing = TrustStore::empty();
    let refused =
        handshake_through_the_client(nothing, ProxyConfig::disabled(), port, &mut handshakes).await;
    assert!(refused.is_err(), "handshake completed: {refused:?}");
}

#[tokio::test]
async fn the_client_reaches_the_endpoint_through_its_proxy() {
    let (port, mut handshakes) = tls_server().await;
    let (proxy_port, mut requests) = connect_proxy(port).await;
    let proxy = ProxyConfig::all(format!("http://127.0.0.1:{proxy_port}")).unwrap();
    let outcome = handshake_through_the_client(test_ca(), proxy, port, &mut handshakes).await;
    assert_eq!(outcome, Ok(()));
    let request = requests.try_recv().expect("the proxy was not asked");
    assert_eq!(request, format!("CONNECT localhost:{port} HTTP/1.1"));
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
