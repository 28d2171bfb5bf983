//! The keys deliveries are signed with: held so they never print, and read
//! from the environment or Secrets Manager.

use std::fmt;

use serde::Deserialize;

use crate::error::ConfigError;

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

#[cfg(test)]
mod tests {
    use super::*;

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
