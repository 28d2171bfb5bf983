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
    /// Reads a Secrets Manager `SecretString` in one of the forms
    /// docs/secret.schema.json defines: the secret itself;
    /// `{"current": "...", "previous": "..."}` during a rotation; or
    /// `{"integrations": {"<name>": ...}}`, each value either form. An empty
    /// `previous` means none, so blanking it ends a rotation.
    pub fn from_secret_string(s: &str) -> Result<Self, ConfigError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Pair {
            current: String,
            previous: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Entry {
            Plain(String),
            Pair(Pair),
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Several {
            integrations: BTreeMap<String, Entry>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Held {
            Pair(Pair),
            Several(Several),
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
        let entry = |e: Entry| match e {
            Entry::Plain(current) => pair(Pair {
                current,
                previous: None,
            }),
            Entry::Pair(p) => pair(p),
        };
        if !s.trim_start().starts_with('{') {
            return entry(Entry::Plain(s.to_owned())).map(Self::Single);
        }
        let held: Held = serde_json::from_str(s).map_err(|_| {
            ConfigError::new(
                ARN_VAR,
                "secret is JSON but not a form docs/secret.schema.json defines",
            )
        })?;
        match held {
            Held::Pair(p) => Ok(Self::Single(pair(p)?)),
            Held::Several(Several { integrations }) => {
                if integrations.is_empty() {
                    return Err(ConfigError::new(ARN_VAR, "secret names no integrations"));
                }
                integrations
                    .into_iter()
                    .map(|(name, e)| {
                        if !is_integration_name(&name) {
                            return Err(ConfigError::new(
                                ARN_VAR,
                                "an integration name must be 1 to 64 of A-Z a-z 0-9 . _ -",
                            ));
                        }
                        Ok((name, entry(e)?))
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
    /// Least time between the extra reads a signature mismatch or an unknown
    /// integration triggers, so a flood of either costs at most one call per
    /// interval.
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
            r#"{"integrations":{"a":""}}"#,
            r#"{"integrations":{"a":"y"},"current":"y"}"#,
        ] {
            let err = SecretSet::from_secret_string(bad).unwrap_err();
            assert_eq!(err.var, "WEBHOOK_SECRET_ARN", "{bad}");
            assert!(!err.to_string().contains('x'), "{err}");
        }
    }

    #[test]
    fn several_integrations() {
        let set = SecretSet::from_secret_string(
            r#"{"integrations":{"sales":{"current":"s1","previous":"s0"},"support":{"current":"t1","previous":""},"chat":"c1"}}"#,
        )
        .unwrap();
        let SecretSet::Integrations(by_name) = set else {
            panic!("integrations expected")
        };
        assert_eq!(by_name["sales"].iter().count(), 2);
        assert_eq!(by_name["support"].iter().count(), 1);
        assert_eq!(by_name["support"].current.expose(), b"t1");
        assert_eq!(by_name["chat"].current.expose(), b"c1");
        assert!(by_name["chat"].previous.is_none());
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let debug = format!("{:?}", single(r#"{"current":"n3w","previous":"0ld"}"#));
        assert!(!debug.contains("n3w") && !debug.contains("0ld"), "{debug}");
    }
}
