//! The pinned scheme keyed with each integration's secrets: what one version
//! of the deployment's secret verifies.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use super::{Keys, Scheme, SchemeName, SchemeSettings, scheme_for};
use crate::error::{ConfigError, Reject, RejectCode};
use crate::secrets::{SecretRefresh, SecretSet, SecretsManager};

pub struct Keyring {
    settings: SchemeSettings,
    schemes: Schemes,
}

enum Schemes {
    /// One integration: the request path is not read.
    Single(Box<dyn Scheme>),
    /// Several, each named by the last segment of its webhook URL's path.
    Integrations(BTreeMap<String, Box<dyn Scheme>>),
}

impl Keyring {
    pub fn new(settings: &SchemeSettings, secrets: &SecretSet) -> Result<Self, ConfigError> {
        let schemes = match secrets {
            SecretSet::Single(s) => Schemes::Single(scheme_for(settings, s)?),
            SecretSet::Integrations(by_name) => Schemes::Integrations(
                by_name
                    .iter()
                    .map(|(name, s)| Ok((name.clone(), scheme_for(settings, s)?)))
                    .collect::<Result<_, ConfigError>>()?,
            ),
        };
        Ok(Self {
            settings: settings.clone(),
            schemes,
        })
    }

    pub fn scheme_name(&self) -> SchemeName {
        self.settings.name
    }

    /// What the deployment pinned, so a diagnosis can build the scheme again
    /// with other keys.
    pub fn settings(&self) -> &SchemeSettings {
        &self.settings
    }

    /// Every integration but `except`, with its keys: where a mismatch looks
    /// for a delivery sent to the wrong integration's URL.
    pub fn other_integrations(&self, except: Option<&str>) -> Vec<(&str, &Keys)> {
        match &self.schemes {
            Schemes::Single(_) => Vec::new(),
            Schemes::Integrations(by_name) => by_name
                .iter()
                .filter(|(name, _)| Some(name.as_str()) != except)
                .map(|(name, scheme)| (name.as_str(), scheme.keys()))
                .collect(),
        }
    }

    /// The integration a delivery to `path` is for, and the scheme keyed for
    /// it. Taken from the path the front door reports, never from the body.
    pub fn for_path<'p>(&self, path: &'p str) -> Result<(Option<&'p str>, &dyn Scheme), Reject> {
        match &self.schemes {
            Schemes::Single(scheme) => Ok((None, scheme.as_ref())),
            Schemes::Integrations(by_name) => {
                let name = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
                by_name
                    .get(name)
                    .map(|scheme| (Some(name), scheme.as_ref()))
                    .ok_or(RejectCode::UnknownIntegration.because("path names no integration"))
            }
        }
    }
}

/// A keyring that follows the deployment's secret in Secrets Manager while
/// the instance stays warm, or one fixed at init.
pub struct LiveKeyring {
    held: RwLock<Arc<Keyring>>,
    source: Option<Source>,
}

struct Source {
    secrets: SecretsManager,
    refresh: SecretRefresh,
    /// Unix seconds at which the next read is due, and before which a
    /// mismatch or an unknown integration may not trigger one.
    due: Mutex<Due>,
}

#[derive(Clone, Copy)]
struct Due {
    refresh: i64,
    recheck: i64,
}

/// What an attempt to read the secret again came to.
#[derive(Debug)]
pub enum Refresh {
    /// Not due, or another delivery is reading it.
    NotDue,
    /// Read; the keyring now holds what the secret holds.
    Done,
    /// The read failed; the keyring keeps what it had.
    Failed(ConfigError),
}

impl LiveKeyring {
    pub fn fixed(keyring: Keyring) -> Self {
        Self {
            held: RwLock::new(Arc::new(keyring)),
            source: None,
        }
    }

    /// `keyring` was read from `secrets` at `now` (Unix seconds); what it
    /// reads next is keyed for the same pinned settings.
    pub fn refreshed_from(
        keyring: Keyring,
        secrets: SecretsManager,
        refresh: SecretRefresh,
        now: i64,
    ) -> Self {
        Self {
            held: RwLock::new(Arc::new(keyring)),
            source: Some(Source {
                secrets,
                refresh,
                due: Mutex::new(Due {
                    refresh: now + refresh.max_age_seconds,
                    recheck: now,
                }),
            }),
        }
    }

    pub fn get(&self) -> Arc<Keyring> {
        Arc::clone(&self.held.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Reads the secret again when what is held is older than allowed.
    pub async fn refresh_if_stale(&self, now: i64) -> Refresh {
        self.read_again(now, |due| now >= due.refresh).await
    }

    /// After a signature mismatch or an unknown integration: reads the
    /// secret again, at most once per recheck interval, in case it was
    /// rotated or an integration added since the last read.
    pub async fn recheck(&self, now: i64) -> Refresh {
        self.read_again(now, |due| now >= due.recheck).await
    }

    async fn read_again(&self, now: i64, is_due: impl Fn(Due) -> bool) -> Refresh {
        let Some(source) = &self.source else {
            return Refresh::NotDue;
        };
        {
            // Claim the read before awaiting it, so concurrent deliveries
            // make one call between them.
            let mut due = source.due.lock().unwrap_or_else(|p| p.into_inner());
            if !is_due(*due) {
                return Refresh::NotDue;
            }
            *due = Due {
                refresh: now
                    + source
                        .refresh
                        .max_age_seconds
                        .min(source.refresh.recheck_seconds),
                recheck: now + source.refresh.recheck_seconds,
            };
        }
        let read = async {
            let set = source.secrets.fetch().await?;
            Keyring::new(self.get().settings(), &set)
        };
        match read.await {
            Ok(keyring) => {
                *self.held.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keyring);
                let mut due = source.due.lock().unwrap_or_else(|p| p.into_inner());
                due.refresh = now + source.refresh.max_age_seconds;
                Refresh::Done
            }
            Err(e) => Refresh::Failed(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SchemeSettings {
        SchemeSettings {
            name: SchemeName::Genesys,
            header: None,
            tolerance_seconds: 300,
        }
    }

    #[test]
    fn one_integration_ignores_the_path() {
        let set = SecretSet::from_secret_string("s").unwrap();
        let ring = Keyring::new(&settings(), &set).unwrap();
        for path in ["/webhooks/genesys", "/anything/else", ""] {
            assert_eq!(ring.for_path(path).unwrap().0, None);
        }
    }

    #[test]
    fn several_integrations_are_chosen_by_the_last_path_segment() {
        let set = SecretSet::from_secret_string(
            r#"{"integrations":{"sales":{"current":"a"},"support":{"current":"b"}}}"#,
        )
        .unwrap();
        let ring = Keyring::new(&settings(), &set).unwrap();
        assert_eq!(
            ring.for_path("/webhooks/genesys/sales").unwrap().0,
            Some("sales")
        );
        assert_eq!(
            ring.for_path("/prod/webhooks/genesys/support/").unwrap().0,
            Some("support")
        );
        for path in [
            "/webhooks/genesys",
            "/webhooks/genesys/other",
            "",
            "/sales/x",
        ] {
            let err = ring.for_path(path).err().expect(path);
            assert_eq!(err.code, RejectCode::UnknownIntegration, "{path}");
        }
    }
}
