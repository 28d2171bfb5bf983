//! The keys deliveries are signed with: held so they never print, read from
//! the environment or Secrets Manager, for one integration or several.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::error::ConfigError;

/// Key material whose Debug output never shows the key. Remembers the
/// variable it came from, so an error about it can name that variable.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    bytes: Vec<u8>,
    var: &'static str,
}

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self::held_in("WEBHOOK_SECRET", bytes)
    }

    pub fn held_in(var: &'static str, bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            bytes: bytes.into(),
            var,
        }
    }

    pub fn expose(&self) -> &[u8] {
        &self.bytes
    }

    /// The variable that holds this secret.
    pub fn var(&self) -> &'static str {
        self.var
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({}: <redacted>)", self.var)
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
}

/// Longest integration name; it is the last segment of a URL path.
pub const MAX_INTEGRATION_BYTES: usize = 64;

/// Everything a deployment's secret holds: one pair, or one pair for each
/// named integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSet {
    Single(Secrets),
    Integrations(BTreeMap<String, Secrets>),
}

const ARN_VAR: &str = "WEBHOOK_SECRET_ARN";

impl SecretSet {
    /// Reads a Secrets Manager `SecretString`: the secret itself;
    /// `{"current": "...", "previous": "..."}` during a rotation; or
    /// `{"integrations": {"<name>": {"current": ..., "previous": ...}}}`. An
    /// empty `previous` means none, so blanking it ends a rotation.
    pub fn from_secret_string(s: &str) -> Result<Self, ConfigError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Pair {
            current: String,
            previous: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Held {
            Pair(Pair),
            Integrations {
                integrations: BTreeMap<String, Pair>,
            },
        }
        let pair = |p: Pair| -> Result<Secrets, ConfigError> {
            Ok(Secrets {
                current: non_empty(p.current)?,
                previous: p
                    .previous
                    .filter(|p| !p.is_empty())
                    .map(|p| Secret::held_in(ARN_VAR, p)),
            })
        };
        if !s.trim_start().starts_with('{') {
            return Ok(Self::Single(Secrets {
                current: non_empty(s.to_owned())?,
                previous: None,
            }));
        }
        let held: Held = serde_json::from_str(s).map_err(|_| {
            ConfigError::new(
                ARN_VAR,
                "secret is JSON but neither {\"current\", \"previous\"} nor {\"integrations\": {...}}",
            )
        })?;
        match held {
            Held::Pair(p) => Ok(Self::Single(pair(p)?)),
            Held::Integrations { integrations } => {
                if integrations.is_empty() {
                    return Err(ConfigError::new(ARN_VAR, "secret names no integrations"));
                }
                integrations
                    .into_iter()
                    .map(|(name, p)| {
                        if !is_integration_name(&name) {
                            return Err(ConfigError::new(
                                ARN_VAR,
                                "an integration name must be 1 to 64 of A-Z a-z 0-9 . _ -",
                            ));
                        }
                        Ok((name, pair(p)?))
                    })
                    .collect::<Result<_, _>>()
                    .map(Self::Integrations)
            }
        }
    }
}

/// What may name an integration: a URL path segment that needs no escaping.
pub fn is_integration_name(name: &str) -> bool {
    (1..=MAX_INTEGRATION_BYTES).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn non_empty(s: String) -> Result<Secret, ConfigError> {
    if s.is_empty() {
        Err(ConfigError::new(ARN_VAR, "secret is empty"))
    } else {
        Ok(Secret::held_in(ARN_VAR, s))
    }
}

/// How a warm instance keeps secrets from Secrets Manager current, so a
/// rotation never has to wait for Lambda to recycle it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretRefresh {
    /// Oldest the held secrets may be before a delivery reads them again.
    pub max_age_seconds: i64,
    /// Least time between the extra reads a signature mismatch triggers, so
    /// a flood of forgeries costs at most one call per interval.
    pub recheck_seconds: i64,
    /// The whole read, retries included.
    pub timeout: Duration,
}

/// Reads a deployment's secret from Secrets Manager, within a time bound.
#[derive(Debug, Clone)]
pub struct SecretsManager {
    client: aws_sdk_secretsmanager::Client,
    arn: String,
}

impl SecretsManager {
    /// A client from the shared SDK configuration whose every call, retries
    /// included, ends within `timeout`.
    pub fn new(sdk: &aws_config::SdkConfig, arn: String, timeout: Duration) -> Self {
        let conf = aws_sdk_secretsmanager::config::Builder::from(sdk)
            .timeout_config(
                aws_sdk_secretsmanager::config::timeout::TimeoutConfig::builder()
                    .operation_timeout(timeout)
                    .connect_timeout(timeout)
                    .build(),
            )
            .build();
        Self {
            client: aws_sdk_secretsmanager::Client::from_conf(conf),
            arn,
        }
    }

    pub async fn fetch(&self) -> Result<SecretSet, ConfigError> {
        let value = self
            .client
            .get_secret_value()
            .secret_id(&self.arn)
            .send()
            .await
            .map_err(|e| {
                ConfigError::new(
                    ARN_VAR,
                    format!(
                        "cannot read the secret: {}",
                        aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                    ),
                )
            })?;
        let text = value
            .secret_string()
            .ok_or_else(|| ConfigError::new(ARN_VAR, "secret has no SecretString"))?;
        SecretSet::from_secret_string(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(s: &str) -> Secrets {
        match SecretSet::from_secret_string(s).unwrap() {
            SecretSet::Single(s) => s,
            other => panic!("one pair expected, got {other:?}"),
        }
    }

    #[test]
    fn secrets_manager_string_forms() {
        let plain = single("abc");
        assert_eq!(plain.current.expose(), b"abc");
        assert!(plain.previous.is_none());
        assert_eq!(
            single(r#"{"current":"n","previous":"o"}"#).iter().count(),
            2
        );
        assert_eq!(single(r#"{"current":"n"}"#).iter().count(), 1);
        assert_eq!(single(r#"{"current":"n","previous":""}"#).iter().count(), 1);
        for bad in [
            "",
            r#"{"curent":"n"}"#,
            r#"{"current":""}"#,
            "{not json",
            r#"{"integrations":{}}"#,
            r#"{"integrations":{"a/b":{"current":"x"}}}"#,
            r#"{"integrations":{"a":{"current":""}}}"#,
        ] {
            let err = SecretSet::from_secret_string(bad).unwrap_err();
            assert_eq!(err.var, "WEBHOOK_SECRET_ARN", "{bad}");
            assert!(!err.to_string().contains('x'), "{err}");
        }
    }

    #[test]
    fn several_integrations() {
        let set = SecretSet::from_secret_string(
            r#"{"integrations":{"sales":{"current":"s1","previous":"s0"},"support":{"current":"t1","previous":""}}}"#,
        )
        .unwrap();
        let SecretSet::Integrations(by_name) = set else {
            panic!("integrations expected")
        };
        assert_eq!(by_name["sales"].iter().count(), 2);
        assert_eq!(by_name["support"].iter().count(), 1);
        assert_eq!(by_name["support"].current.expose(), b"t1");
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let debug = format!("{:?}", single(r#"{"current":"n3w","previous":"0ld"}"#));
        assert!(!debug.contains("n3w") && !debug.contains("0ld"), "{debug}");
    }
}
