//! Every setting, read from the environment and validated once at init.

use std::fmt;
use std::time::Duration;

use http::HeaderName;

use crate::envelope::{Allowlist, Limits};
use crate::error::ConfigError;
use crate::outbox;
use crate::secrets::{Secret, SecretRefresh, Secrets};
use crate::verify::{SchemeName, SchemeSettings};

/// Every variable the function reads, for documentation and its test.
pub const VARIABLES: &[&str] = &[
    "DEDUP_TABLE",
    "WEBHOOK_SECRET",
    "WEBHOOK_SECRET_PREVIOUS",
    "WEBHOOK_SECRET_ARN",
    "SIGNATURE_SCHEME",
    "SIGNATURE_HEADER",
    "SIGNATURE_TOLERANCE_SECONDS",
    "DELIVERY_ID_HEADER",
    "MAX_BODY_BYTES",
    "EVENTBRIDGE_SOURCE_PREFIX",
    "DEDUP_TTL_SECONDS",
    "STORE_TIMEOUT_MS",
    "STORE_ATTEMPT_TIMEOUT_MS",
    "STORE_CONNECT_TIMEOUT_MS",
    "STORE_MAX_ATTEMPTS",
    "RETRY_AFTER_SECONDS",
    "METRICS_NAMESPACE",
    "SECRET_REFRESH_SECONDS",
    "SECRET_RECHECK_SECONDS",
    "SECRET_TIMEOUT_MS",
    "ALLOWED_SOURCE_CIDRS",
];

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
    pub scheme: SchemeSettings,
    pub secrets: SecretSource,
    pub delivery_id_header: HeaderName,
    pub limits: Limits,
    pub table: String,
    pub ttl_seconds: i64,
    pub store_timeouts: StoreTimeouts,
    pub secret_refresh: SecretRefresh,
    pub retry_after_seconds: u32,
    pub metrics_namespace: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// `lookup` returns a variable's value; an empty value counts as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = reader(VARIABLES, lookup);

        let scheme = match get("SIGNATURE_SCHEME") {
            None => SchemeName::DEFAULT,
            Some(s) => SchemeName::parse(&s).ok_or_else(|| {
                let names: Vec<_> = SchemeName::ALL.iter().map(|n| n.as_str()).collect();
                ConfigError::new(
                    "SIGNATURE_SCHEME",
                    format!("must be one of {}", names.join(", ")),
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
                previous: get("WEBHOOK_SECRET_PREVIOUS")
                    .map(|p| Secret::held_in("WEBHOOK_SECRET_PREVIOUS", p)),
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
        // A larger body would be verified and then refused by DynamoDB, which
        // no retry can fix.
        let max_body_bytes = number(&get, "MAX_BODY_BYTES", 262_144, 1, outbox::MAX_BODY_BYTES)?;
        let eventbridge_source_prefix =
            get("EVENTBRIDGE_SOURCE_PREFIX").unwrap_or_else(|| "aws.partner/genesys.com/".into());
        let allowed_sources = get("ALLOWED_SOURCE_CIDRS")
            .map(|list| {
                Allowlist::parse(&list)
                    .map_err(|problem| ConfigError::new("ALLOWED_SOURCE_CIDRS", problem))
            })
            .transpose()?
            .unwrap_or_default();
        let table = get("DEDUP_TABLE")
            .ok_or_else(|| ConfigError::new("DEDUP_TABLE", "required: the dedup table name"))?;
        // Seven days: the stream keeps records for one, and replay reads the
        // table, so items must outlive the stream.
        let ttl_seconds = number(&get, "DEDUP_TTL_SECONDS", 7 * 86_400, 60, 366 * 86_400)?;
        // A timestamp may lie up to the tolerance in the future, so a captured
        // delivery stays valid until its timestamp plus the tolerance: its item
        // must outlive both.
        if ttl_seconds < 2 * tolerance_seconds {
            return Err(ConfigError::new(
                "DEDUP_TTL_SECONDS",
                format!(
                    "must be at least 2 x SIGNATURE_TOLERANCE_SECONDS ({}): a timestamp may lie up to the tolerance in the future, so a replay stays valid until t + tolerance and would be accepted again once the item expired",
                    2 * tolerance_seconds
                ),
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
        let secret_refresh = SecretRefresh {
            max_age_seconds: number(&get, "SECRET_REFRESH_SECONDS", 300, 1, 86_400)?,
            recheck_seconds: number(&get, "SECRET_RECHECK_SECONDS", 30, 1, 3_600)?,
            timeout: Duration::from_millis(number(&get, "SECRET_TIMEOUT_MS", 1_000, 50, 5_000)?),
        };
        let retry_after_seconds = number(&get, "RETRY_AFTER_SECONDS", 5, 1, 3_600)?;
        let metrics_namespace = get("METRICS_NAMESPACE").unwrap_or_else(|| "GenesysWebhook".into());

        Ok(Self {
            scheme: SchemeSettings {
                name: scheme,
                header: signature_header,
                tolerance_seconds,
            },
            secrets,
            delivery_id_header,
            limits: Limits {
                max_body_bytes,
                source_prefix: eventbridge_source_prefix,
                allowed_sources,
            },
            table,
            ttl_seconds,
            store_timeouts,
            secret_refresh,
            retry_after_seconds,
            metrics_namespace,
        })
    }
}

fn header_name(var: &'static str, value: &str) -> Result<HeaderName, ConfigError> {
    HeaderName::from_bytes(value.as_bytes())
        .map_err(|_| ConfigError::new(var, "not a valid HTTP header name"))
}

/// Reads the variables listed in `vars` through `lookup`; an empty value
/// counts as unset.
pub(crate) fn reader(
    vars: &'static [&'static str],
    lookup: impl Fn(&str) -> Option<String>,
) -> impl Fn(&str) -> Option<String> {
    move |k: &str| {
        debug_assert!(vars.contains(&k), "{k} missing from its VARIABLES");
        lookup(k).filter(|v| !v.is_empty())
    }
}

/// A whole number from `min` to `max`, or `default` when unset; the error
/// names the variable.
pub(crate) fn number<T>(
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
        assert_eq!(c.scheme.name, SchemeName::OpenMessaging);
        assert_eq!(c.scheme.tolerance_seconds, 300);
        assert_eq!(c.limits.max_body_bytes, 262_144);
        assert_eq!(c.delivery_id_header, "x-genesys-delivery-id");
        assert_eq!(c.limits.source_prefix, "aws.partner/genesys.com/");
        assert_eq!(c.ttl_seconds, 604_800);
        assert_eq!(c.store_timeouts.max_attempts, 3);
        assert!(c.scheme.header.is_none());
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
            (
                &[("ALLOWED_SOURCE_CIDRS", "52.0.0.0/8,bad")],
                "ALLOWED_SOURCE_CIDRS",
            ),
            (
                &[("ALLOWED_SOURCE_CIDRS", "2600::/129")],
                "ALLOWED_SOURCE_CIDRS",
            ),
            (&[("MAX_BODY_BYTES", "6291456")], "MAX_BODY_BYTES"),
            (&[("MAX_BODY_BYTES", "405505")], "MAX_BODY_BYTES"),
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

    fn with(extra: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
        let mut vars = BASE.to_vec();
        vars.extend_from_slice(extra);
        config(&vars)
    }

    #[test]
    fn ids_are_remembered_for_at_least_twice_the_tolerance() {
        let err = with(&[("DEDUP_TTL_SECONDS", "599")]).unwrap_err();
        assert_eq!(err.var, "DEDUP_TTL_SECONDS");
        assert!(
            err.problem
                .contains("2 x SIGNATURE_TOLERANCE_SECONDS (600)"),
            "{err}"
        );
        assert!(err.problem.contains("in the future"), "{err}");
        assert_eq!(
            with(&[("DEDUP_TTL_SECONDS", "600")]).unwrap().ttl_seconds,
            600
        );
        let tolerance = |t| {
            [
                ("SIGNATURE_TOLERANCE_SECONDS", "100"),
                ("DEDUP_TTL_SECONDS", t),
            ]
        };
        assert!(with(&tolerance("200")).is_ok());
        assert_eq!(
            with(&tolerance("199")).unwrap_err().var,
            "DEDUP_TTL_SECONDS"
        );
    }

    #[test]
    fn an_allowlist_that_names_no_network_stops_init() {
        for list in [",", " , ", ", ,\t"] {
            let err = with(&[("ALLOWED_SOURCE_CIDRS", list)]).unwrap_err();
            assert_eq!(err.var, "ALLOWED_SOURCE_CIDRS");
            assert!(err.problem.contains("names no network"), "{err}");
        }
        let err = with(&[("ALLOWED_SOURCE_CIDRS", "52.0.0.0/8,52.0.0.0/88")]).unwrap_err();
        assert_eq!(err.var, "ALLOWED_SOURCE_CIDRS");
        assert!(err.to_string().contains("\"52.0.0.0/88\""), "{err}");
        let open = with(&[]).unwrap();
        assert!(open.limits.allowed_sources.allows(None));
        let listed = with(&[("ALLOWED_SOURCE_CIDRS", "52.0.0.0/8,")]).unwrap();
        assert!(!listed.limits.allowed_sources.allows("9.9.9.9".parse().ok()));
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
}
