//! The AWS SDK configuration the function and the relay share.
//!
//! Both talk only to AWS endpoints. In the `aws` partition their
//! certificates chain to the Amazon Trust Services roots, so those roots are
//! what the SDK's TLS client trusts there. The SDK's default instead parses
//! the system's whole store on every cold start: three quarters of the
//! instructions a cold start ran. Other partitions (China, GovCloud, the ISO
//! regions, the European Sovereign Cloud) run their own certificate
//! authorities, so there, and in any region not known to be in `aws`, the
//! platform's store is trusted instead. Setting `SSL_CERT_FILE` or
//! `SSL_CERT_DIR` brings back a store of the deployment's choosing (a
//! proxy's own CA, say).

use std::env;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, ConnectorBuilder, HttpClientError};

/// Amazon Root CA 1 to 4 and Starfield Services Root CA G2: the roots AWS
/// names for its endpoints' certificates.
const AMAZON_ROOTS: &[u8] = include_bytes!("sdk/amazon-roots.pem");

/// The first part of every `aws` partition region name, as the SDK's
/// partition table matches them (`^(us|eu|ap|...)-\w+-\d+$`).
const AWS_PARTITION_AREAS: [&str; 9] = ["us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx"];

/// Loads the SDK's settings from the environment, as `aws_config` does,
/// with the HTTPS client built here.
pub async fn load() -> Result<SdkConfig, HttpClientError> {
    let own_store = env::var_os("SSL_CERT_FILE").is_some() || env::var_os("SSL_CERT_DIR").is_some();
    let region = env::var("AWS_REGION")
        .or_else(|_| env::var("AWS_DEFAULT_REGION"))
        .ok();
    let amazon_roots = !own_store && region.as_deref().is_some_and(in_aws_partition);
    let tls = TlsContext::builder()
        .with_trust_store(trust_store(amazon_roots))
        .build()?;
    Ok(aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client(tls, ProxyConfig::from_env()))
        .load()
        .await)
}

/// The SDK's own default HTTPS client (rustls on aws-lc), trusting what
/// `tls` trusts and reaching endpoints through `proxy`.
///
/// The public `Builder::build_https` takes a TLS context but sets no proxy,
/// so `HTTPS_PROXY` would go unheard. The SDK builds its default client
/// through `build_with_connector_fn`, which is `#[doc(hidden)]` and may
/// change in any release: it is called here and nowhere else, and
/// `tests/tls.rs` makes requests through this client, with a test CA and
/// through a proxy, so such a change fails a test.
pub fn https_client(tls: TlsContext, proxy: ProxyConfig) -> SharedHttpClient {
    Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = ConnectorBuilder::default()
            .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(tls.clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(proxy.clone()));
        connector.build()
    })
}

/// Whether `region` is in the `aws` partition: `<area>-<word>-<number>`
/// with one of its areas. `us-gov-west-1`, `cn-north-1` and
/// `eusc-de-east-1` are not.
fn in_aws_partition(region: &str) -> bool {
    let word = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    match region.split('-').collect::<Vec<_>>()[..] {
        [area, name, number] => {
            AWS_PARTITION_AREAS.contains(&area)
                && word(name)
                && !number.is_empty()
                && number.bytes().all(|b| b.is_ascii_digit())
        }
        _ => false,
    }
}

/// Amazon's roots alone, or the platform's store.
fn trust_store(amazon_roots: bool) -> TrustStore {
    if amazon_roots {
        TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(AMAZON_ROOTS)
    } else {
        TrustStore::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use sha2::{Digest, Sha256};

    /// SHA-256 fingerprints as Amazon Trust Services publishes them.
    const FINGERPRINTS: [&str; 5] = [
        "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e", // Amazon Root CA 1
        "1ba5b2aa8c65401a82960118f80bec4f62304d83cec4713a19c39c011ea46db4", // Amazon Root CA 2
        "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4", // Amazon Root CA 3
        "e35d28419ed02025cfa69038cd623962458da5c695fbdea3c22b0bfb25897092", // Amazon Root CA 4
        "568d6905a2c88708a4b3025190edcfedb1974a606a13c6e5290fcb2ae63edab5", // Starfield Services G2
    ];

    fn certificates(pem: &str) -> Vec<Vec<u8>> {
        pem.split("-----BEGIN CERTIFICATE-----")
            .skip(1)
            .map(|block| {
                let base64: String = block
                    .split("-----END CERTIFICATE-----")
                    .next()
                    .unwrap()
                    .split_whitespace()
                    .collect();
                STANDARD.decode(base64).unwrap()
            })
            .collect()
    }

    #[test]
    fn the_embedded_roots_are_amazon_trust_services_and_nothing_else() {
        let pem = std::str::from_utf8(AMAZON_ROOTS).unwrap();
        let found: Vec<String> = certificates(pem)
            .iter()
            .map(|der| hex::encode(Sha256::digest(der)))
            .collect();
        assert_eq!(found, FINGERPRINTS);
    }

    #[test]
    fn the_trust_store_is_amazons_unless_the_deployment_names_one() {
        let amazon = format!("{:?}", trust_store(true));
        assert!(amazon.contains("enable_native_roots: false"), "{amazon}");
        let own = format!("{:?}", trust_store(false));
        assert!(own.contains("enable_native_roots: true"), "{own}");
        assert!(
            TlsContext::builder()
                .with_trust_store(trust_store(true))
                .build()
                .is_ok()
        );
    }

    /// Regions from each partition in the SDK's partition table.
    #[test]
    fn only_the_aws_partition_trusts_amazons_roots_alone() {
        for aws in [
            "us-east-1",
            "eu-central-2",
            "ap-southeast-7",
            "mx-central-1",
            "il-central-1",
            "ca-west-1",
        ] {
            assert!(in_aws_partition(aws), "{aws}");
        }
        for elsewhere in [
            "cn-north-1",
            "cn-northwest-1",
            "us-gov-west-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "us-isof-south-1",
            "eu-isoe-west-1",
            "eusc-de-east-1",
            "us-east",
            "us-east-1a",
            "local",
            "",
        ] {
            assert!(!in_aws_partition(elsewhere), "{elsewhere}");
        }
    }
}
