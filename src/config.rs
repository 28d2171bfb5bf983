//! Every setting, read from the environment and validated once at init.

use std::fmt;
use std::time::Duration;

use http::HeaderName;
use serde::Deserialize;

use crate::error::ConfigError;

/// The signature scheme a deployment pins. Never detected per request: a
/// body-only signature must not pass where a timestamped one is expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemeName {
    Genesys,
    OpenMessaging,
    Timestamped,
    StandardWebhooks,
}

impl SchemeName {
    pub const ALL: [SchemeName; 4] = [
        Self::Genesys,
        Self::OpenMessaging,
        Self::Timestamped,
        Self::StandardWebhooks,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Genesys => "genesys",
            Self::OpenMessaging => "open-messaging",
            Self::Timestamped => "timestamped",
            Self::StandardWebhooks => "standard-webhooks",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.as_str() == s)
    }
}

/// Key material whose Debug output never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The current secret and, during a rotation, the one it replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secrets {
    pub current: Secret,
    pub previous: Option<Secret>,
}

impl Secrets {
    pub fn iter(&self) -> impl Iterator<Item = &Secret> {
        std::iter::once(&self.current).chain(self.previous.as_ref())
    }

    /// Reads a Secrets Manager `SecretString`: the secret itself, or
    /// `{"current": "...", "previous": "..."}` during a rotation.
    pub fn from_secret_string(s: &str) -> Result<Self, ConfigError> {
        const VAR: &str = "WEBHOOK_SECRET_ARN";
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Pair {
            current: String,
            previous: Option<String>,
        }
        if s.trim_start().starts_with('{') {
            let pair: Pair = serde_json::from_str(s).map_err(|_| {
                ConfigError::new(VAR, "secret is JSON but not {\"current\", \"previous\"}")
            })?;
            return Ok(Self {
                current: non_empty(VAR, pair.current)?,
                previous: pair.previous.map(|p| non_empty(VAR, p)).transpose()?,
            });
        }
        Ok(Self {
            current: non_empty(VAR, s.to_owned())?,
            previous: None,
        })
    }
}

/// Reads the secrets from Secrets Manager, once, at init.
pub async fn fetch_secrets(sdk: &aws_config::SdkConfig, arn: &str) -> Result<Secrets, ConfigError> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let value = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            ConfigError::new(
                "WEBHOOK_SECRET_ARN",
                format!(
                    "cannot read the secret: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                ),
            )
        })?;
    let text = value
        .secret_string()
        .ok_or_else(|| ConfigError::new("WEBHOOK_SECRET_ARN", "secret has no SecretString"))?;
    Secrets::from_secret_string(text)
}

fn non_empty(var: &'static str, s: String) -> Result<Secret, ConfigError> {
    if s.is_empty() {
        Err(ConfigError::new(var, "secret is empty"))
    } else {
        Ok(Secret::new(s))
    }
}

/// Where the secrets come from: the environment, or Secrets Manager at init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Inline(Secrets),
    SecretsManager { arn: String },
}

/// Bounds on one store write, so a dead or hanging table is answered well
/// inside Genesys's 10 s timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreTimeouts {
    pub operation: Duration,
    pub attempt: Duration,
    pub connect: Duration,
    pub max_attempts: u32,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub scheme: SchemeName,
    /// Replaces the scheme's own signature header name.
    pub signature_header: Option<HeaderName>,
    pub tolerance_seconds: i64,
    pub secrets: SecretSource,
    pub delivery_id_header: HeaderName,
    pub max_body_bytes: usize,
    pub eventbridge_source_prefix: String,
    pub table: String,
    pub ttl_seconds: i64,
    pub store_timeouts: StoreTimeouts,
    pub retry_after_seconds: u32,
    pub metrics_namespace: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// `lookup` returns a variable's value; an empty value counts as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| lookup(k).filter(|v| !v.is_empty());

        let scheme = match get("SIGNATURE_SCHEME") {
            None => SchemeName::Genesys,
            Some(s) => SchemeName::parse(&s).ok_or_else(|| {
                ConfigError::new(
                    "SIGNATURE_SCHEME",
                    "must be one of genesys, open-messaging, timestamped, standard-webhooks",
                )
            })?,
        };
        let signature_header = get("SIGNATURE_HEADER")
            .map(|h| header_name("SIGNATURE_HEADER", &h))
            .transpose()?;
        let tolerance_seconds = number(&get, "SIGNATURE_TOLERANCE_SECONDS", 300, 1, 86_400)?;

        let secrets = match (get("WEBHOOK_SECRET"), get("WEBHOOK_SECRET_ARN")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "WEBHOOK_SECRET_ARN",
                    "set either WEBHOOK_SECRET or WEBHOOK_SECRET_ARN, not both",
                ));
            }
            (Some(current), None) => SecretSource::Inline(Secrets {
                current: Secret::new(current),
                previous: get("WEBHOOK_SECRET_PREVIOUS").map(Secret::new),
            }),
            (None, Some(arn)) => SecretSource::SecretsManager { arn },
            (None, None) => {
                return Err(ConfigError::new(
                    "WEBHOOK_SECRET",
                    "required (or WEBHOOK_SECRET_ARN)",
                ));
            }
        };

        let delivery_id_header = header_name(
            "DELIVERY_ID_HEADER",
            &get("DELIVERY_ID_HEADER").unwrap_or_else(|| "X-Genesys-Delivery-Id".into()),
        )?;
        let max_body_bytes = number(&get, "MAX_BODY_BYTES", 262_144, 1, 6 * 1024 * 1024)?;
        let eventbridge_source_prefix =
            get("EVENTBRIDGE_SOURCE_PREFIX").unwrap_or_else(|| "aws.partner/genesys.com/".into());
        let table = get("DEDUP_TABLE")
            .ok_or_else(|| ConfigError::new("DEDUP_TABLE", "required: the dedup table name"))?;
        let ttl_seconds = number(&get, "DEDUP_TTL_SECONDS", 86_400, 60, 366 * 86_400)?;
        if ttl_seconds < tolerance_seconds {
            return Err(ConfigError::new(
                "DEDUP_TTL_SECONDS",
                "must be at least SIGNATURE_TOLERANCE_SECONDS, or a replay inside the tolerance would be accepted again",
            ));
        }
        let store_timeouts = StoreTimeouts {
            operation: Duration::from_millis(number(&get, "STORE_TIMEOUT_MS", 3_000, 100, 9_000)?),
            attempt: Duration::from_millis(number(
                &get,
                "STORE_ATTEMPT_TIMEOUT_MS",
                1_000,
                50,
                9_000,
            )?),
            connect: Duration::from_millis(number(
                &get,
                "STORE_CONNECT_TIMEOUT_MS",
                500,
                50,
                9_000,
            )?),
            max_attempts: number(&get, "STORE_MAX_ATTEMPTS", 3, 1, 10)?,
        };
        let retry_after_seconds = number(&get, "RETRY_AFTER_SECONDS", 5, 1, 3_600)?;
        let metrics_namespace = get("METRICS_NAMESPACE").unwrap_or_else(|| "GenesysWebhook".into());

        Ok(Self {
            scheme,
            signature_header,
            tolerance_seconds,
            secrets,
            delivery_id_header,
            max_body_bytes,
            eventbridge_source_prefix,
            table,
            ttl_seconds,
            store_timeouts,
            retry_after_seconds,
            metrics_namespace,
        })
    }
}

fn header_name(var: &'static str, value: &str) -> Result<HeaderName, ConfigError> {
    HeaderName::from_bytes(value.as_bytes())
        .map_err(|_| ConfigError::new(var, "not a valid HTTP header name"))
}

fn number<T>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    let Some(raw) = get(var) else {
        return Ok(default);
    };
    match raw.trim().parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(ConfigError::new(
            var,
            format!("must be a whole number from {min} to {max}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const BASE: [(&str, &str); 2] = [("WEBHOOK_SECRET", "s3cret"), ("DEDUP_TABLE", "t")];

    #[test]
    fn defaults() {
        let c = config(&BASE).unwrap();
        assert_eq!(c.scheme, SchemeName::Genesys);
        assert_eq!(c.tolerance_seconds, 300);
        assert_eq!(c.max_body_bytes, 262_144);
        assert_eq!(c.delivery_id_header, "x-genesys-delivery-id");
        assert_eq!(c.eventbridge_source_prefix, "aws.partner/genesys.com/");
        assert_eq!(c.ttl_seconds, 86_400);
        assert_eq!(c.store_timeouts.max_attempts, 3);
        assert!(c.signature_header.is_none());
        assert_eq!(c.metrics_namespace, "GenesysWebhook");
    }

    #[test]
    fn each_error_names_its_variable_and_not_the_value() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("DEDUP_TABLE", "t")], "WEBHOOK_SECRET"),
            (&[("WEBHOOK_SECRET", "s3cret")], "DEDUP_TABLE"),
            (&[("SIGNATURE_SCHEME", "auto")], "SIGNATURE_SCHEME"),
            (
                &[("SIGNATURE_TOLERANCE_SECONDS", "-5")],
                "SIGNATURE_TOLERANCE_SECONDS",
            ),
            (&[("MAX_BODY_BYTES", "lots")], "MAX_BODY_BYTES"),
            (&[("SIGNATURE_HEADER", "bad header")], "SIGNATURE_HEADER"),
            (&[("DELIVERY_ID_HEADER", "a:b")], "DELIVERY_ID_HEADER"),
            (&[("DEDUP_TTL_SECONDS", "120")], "DEDUP_TTL_SECONDS"),
            (&[("STORE_MAX_ATTEMPTS", "0")], "STORE_MAX_ATTEMPTS"),
            (&[("WEBHOOK_SECRET_ARN", "arn:x")], "WEBHOOK_SECRET_ARN"),
        ];
        for (extra, var) in cases {
            let mut vars: Vec<(&str, &str)> = BASE.to_vec();
            for (k, v) in extra.iter() {
                vars.retain(|(bk, _)| bk != k);
                vars.push((k, v));
            }
            if *var == "WEBHOOK_SECRET" || *var == "DEDUP_TABLE" {
                vars = extra.to_vec();
            }
            let err = config(&vars).unwrap_err();
            assert_eq!(err.var, *var, "{err}");
            assert!(!err.to_string().contains("s3cret"));
        }
    }

    #[test]
    fn secrets_with_rotation_and_redacted_debug() {
        let c = config(&[
            ("WEBHOOK_SECRET", "new-one"),
            ("WEBHOOK_SECRET_PREVIOUS", "old-one"),
            ("DEDUP_TABLE", "t"),
        ])
        .unwrap();
        let SecretSource::Inline(s) = &c.secrets else {
            panic!("inline secrets expected")
        };
        let all: Vec<&[u8]> = s.iter().map(Secret::expose).collect();
        assert_eq!(all, [b"new-one".as_slice(), b"old-one"]);
        let debug = format!("{c:?}");
        assert!(!debug.contains("new-one") && !debug.contains("old-one"));
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn secrets_manager_string_forms() {
        let plain = Secrets::from_secret_string("abc").unwrap();
        assert_eq!(plain.current.expose(), b"abc");
        assert!(plain.previous.is_none());
        let pair = Secrets::from_secret_string(r#"{"current":"n","previous":"o"}"#).unwrap();
        assert_eq!(pair.iter().count(), 2);
        let only = Secrets::from_secret_string(r#"{"current":"n"}"#).unwrap();
        assert_eq!(only.iter().count(), 1);
        for bad in ["", r#"{"curent":"n"}"#, r#"{"current":""}"#, "{not json"] {
            let err = Secrets::from_secret_string(bad).unwrap_err();
            assert_eq!(err.var, "WEBHOOK_SECRET_ARN");
        }
    }
}
