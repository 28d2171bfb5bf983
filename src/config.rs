//! Every setting, read from the environment and validated once at init.

use std::fmt;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use http::HeaderName;

use crate::envelope::{Allowlist, Limits};
use crate::error::{ConfigError, ConfigErrors, Problems};
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
    "BODY_BUCKET",
    "BODY_PREFIX",
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

/// Time bounds of one SDK call, retries included: the store's write, or the
/// relay's call to EventBridge or SQS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub operation: Duration,
    pub attempt: Duration,
    pub connect: Duration,
    pub max_attempts: u32,
}

/// The variables one [`Timeouts`] is read from: `<prefix>_TIMEOUT_MS`,
/// `<prefix>_ATTEMPT_TIMEOUT_MS`, `<prefix>_CONNECT_TIMEOUT_MS` and
/// `<prefix>_MAX_ATTEMPTS`.
macro_rules! timeout_variables {
    ($prefix:literal) => {
        $crate::config::TimeoutVariables {
            operation: concat!($prefix, "_TIMEOUT_MS"),
            attempt: concat!($prefix, "_ATTEMPT_TIMEOUT_MS"),
            connect: concat!($prefix, "_CONNECT_TIMEOUT_MS"),
            max_attempts: concat!($prefix, "_MAX_ATTEMPTS"),
        }
    };
}
pub(crate) use timeout_variables;

/// See [`timeout_variables!`].
pub(crate) struct TimeoutVariables {
    pub operation: &'static str,
    pub attempt: &'static str,
    pub connect: &'static str,
    pub max_attempts: &'static str,
}

/// What [`Timeouts::read`] found.
pub(crate) struct ReadTimeouts {
    /// The whole set, once every part of it is good.
    pub timeouts: Option<Timeouts>,
    /// The operation bound on its own, to check other settings against.
    pub operation_ms: Option<u64>,
}

impl Timeouts {
    /// The store's: a dead or hanging table is answered well inside
    /// Genesys's 10 s timeout.
    pub const STORE: Self = Self::millis(3_000, 1_000, 500, 3);
    /// The relay's, and the tools' that publish as it does.
    pub const RELAY: Self = Self::millis(5_000, 2_000, 1_000, 3);

    /// Bounds in milliseconds: the operation, one attempt, one connection.
    pub const fn millis(operation: u64, attempt: u64, connect: u64, max_attempts: u32) -> Self {
        Self {
            operation: Duration::from_millis(operation),
            attempt: Duration::from_millis(attempt),
            connect: Duration::from_millis(connect),
            max_attempts,
        }
    }

    /// Reads `vars`, an unset one as in `defaults`, each bound at most
    /// `max_ms` and nested in the one around it.
    pub(crate) fn read(
        get: &impl Fn(&str) -> Option<String>,
        problems: &mut Problems,
        vars: TimeoutVariables,
        defaults: Self,
        max_ms: u64,
    ) -> ReadTimeouts {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let mut bound =
            |var, default, min| problems.take(number(get, var, ms(default), min, max_ms));
        let operation = bound(vars.operation, defaults.operation, 100);
        let attempt = bound(vars.attempt, defaults.attempt, 50);
        let connect = bound(vars.connect, defaults.connect, 50);
        let max_attempts =
            problems.take(number(get, vars.max_attempts, defaults.max_attempts, 1, 10));
        problems.timeouts_nest(
            (vars.operation, operation),
            (vars.attempt, attempt),
            (vars.connect, connect),
        );
        ReadTimeouts {
            timeouts: (|| Some(Self::millis(operation?, attempt?, connect?, max_attempts?)))(),
            operation_ms: operation,
        }
    }

    /// `sdk` under these bounds, for any service's client
    /// (`Client::new(&timeouts.sdk_config(sdk))`). The read timeout is the
    /// attempt's.
    pub fn sdk_config(self, sdk: &SdkConfig) -> SdkConfig {
        sdk.to_builder()
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(self.operation)
                    .operation_attempt_timeout(self.attempt)
                    .connect_timeout(self.connect)
                    .read_timeout(self.attempt)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(self.max_attempts))
            .build()
    }

    /// [`Self::sdk_config`] for a write on the way to acceptance. The attempt
    /// and read timeouts already bound a stalled request; the SDK's
    /// throughput watch would add a timer and a body wrapper to every one.
    pub fn write_config(self, sdk: &SdkConfig) -> SdkConfig {
        self.sdk_config(sdk)
            .to_builder()
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .build()
    }
}

/// Where bodies too large for an item are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyBucketName {
    pub bucket: String,
    /// Only `[A-Za-z0-9._/-]`, so it never widens the function's grant on
    /// `<bucket>/<prefix>*`.
    pub prefix: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub scheme: SchemeSettings,
    pub secrets: SecretSource,
    pub delivery_id_header: HeaderName,
    pub limits: Limits,
    pub table: String,
    /// `None`: every body must fit its item.
    pub body_bucket: Option<BodyBucketName>,
    pub ttl_seconds: i64,
    pub store_timeouts: Timeouts,
    pub secret_refresh: SecretRefresh,
    pub retry_after_seconds: u32,
    pub metrics_namespace: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigErrors> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// `lookup` returns a variable's value; an empty value counts as unset.
    /// Every problem is reported, not just the first.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigErrors> {
        let get = reader(VARIABLES, lookup);
        let mut problems = Problems::default();

        let scheme = problems.take(match get("SIGNATURE_SCHEME") {
            None => Ok(SchemeName::DEFAULT),
            Some(s) => SchemeName::parse(&s).ok_or_else(|| {
                let names: Vec<_> = SchemeName::ALL.iter().map(|n| n.as_str()).collect();
                ConfigError::new(
                    "SIGNATURE_SCHEME",
                    format!("must be one of {}", names.join(", ")),
                )
            }),
        });
        let signature_header = problems.take(
            get("SIGNATURE_HEADER")
                .map(|h| header_name("SIGNATURE_HEADER", &h))
                .transpose(),
        );
        let tolerance_seconds =
            problems.take(number(&get, "SIGNATURE_TOLERANCE_SECONDS", 300, 1, 86_400));
        let secrets = problems.take(secret_source(&get));
        let delivery_id_header = problems.take(header_name(
            "DELIVERY_ID_HEADER",
            &get("DELIVERY_ID_HEADER").unwrap_or_else(|| "X-Genesys-Delivery-Id".into()),
        ));
        let body_bucket = problems.take(body_bucket(&get));
        // Judged only against a bucket setting that is itself valid.
        let max_body_bytes = body_bucket
            .as_ref()
            .and_then(|bucket| problems.take(max_body_bytes(&get, bucket.as_ref())));
        let eventbridge_source_prefix =
            get("EVENTBRIDGE_SOURCE_PREFIX").unwrap_or_else(|| "aws.partner/genesys.com/".into());
        let allowed_sources = problems.take(
            get("ALLOWED_SOURCE_CIDRS")
                .map(|list| {
                    Allowlist::parse(&list)
                        .map_err(|problem| ConfigError::new("ALLOWED_SOURCE_CIDRS", problem))
                })
                .transpose()
                .map(Option::unwrap_or_default),
        );
        let table = problems.take(
            get("DEDUP_TABLE")
                .ok_or_else(|| ConfigError::new("DEDUP_TABLE", "required: the dedup table name")),
        );
        // Seven days: the stream keeps records for one, and replay reads the
        // table, so items must outlive the stream.
        let ttl_seconds = problems.take(number(
            &get,
            "DEDUP_TTL_SECONDS",
            7 * 86_400,
            60,
            366 * 86_400,
        ));
        // A timestamp may lie up to the tolerance in the future, so a captured
        // delivery stays valid until its timestamp plus the tolerance: its item
        // must outlive both.
        if let (Some(ttl), Some(tolerance)) = (ttl_seconds, tolerance_seconds)
            && ttl < 2 * tolerance
        {
            problems.push(ConfigError::new(
                "DEDUP_TTL_SECONDS",
                format!(
                    "must be at least 2 x SIGNATURE_TOLERANCE_SECONDS ({}): a timestamp may lie up to the tolerance in the future, so a replay stays valid until t + tolerance and would be accepted again once the item expired",
                    2 * tolerance
                ),
            ));
        }
        let store = Timeouts::read(
            &get,
            &mut problems,
            timeout_variables!("STORE"),
            Timeouts::STORE,
            DELIVERY_BUDGET_MS,
        );
        let max_age_seconds = problems.take(number(&get, "SECRET_REFRESH_SECONDS", 300, 1, 86_400));
        // Unset, the recheck follows a shorter refresh down: a recheck
        // interval past the refresh one never comes due.
        let recheck_seconds = match get("SECRET_RECHECK_SECONDS") {
            None => Some(max_age_seconds.map_or(30, |max_age| max_age.min(30))),
            Some(_) => problems.take(number(&get, "SECRET_RECHECK_SECONDS", 30, 1, 3_600)),
        };
        problems.at_most(
            ("SECRET_RECHECK_SECONDS", recheck_seconds),
            ("SECRET_REFRESH_SECONDS", max_age_seconds),
            "every refresh resets the recheck, so a longer one never comes due",
        );
        let secret_timeout = problems.take(number(&get, "SECRET_TIMEOUT_MS", 1_000, 50, 5_000));
        // One delivery may wait for a secret read and then the store write,
        // and with a bucket for the body's write before that, under the same
        // bounds.
        let writes = if matches!(body_bucket, Some(Some(_))) {
            2
        } else {
            1
        };
        if let (Some(secret), Some(store)) = (secret_timeout, store.operation_ms)
            && secret + writes * store > DELIVERY_BUDGET_MS
        {
            let (sum, waits) = match writes {
                1 => ("STORE_TIMEOUT_MS", "the store"),
                _ => (
                    "2 x STORE_TIMEOUT_MS",
                    "the body's object and then the store (BODY_BUCKET is set)",
                ),
            };
            problems.push(ConfigError::new(
                "SECRET_TIMEOUT_MS",
                format!(
                    "SECRET_TIMEOUT_MS + {sum} must be at most {DELIVERY_BUDGET_MS} ms: a delivery may wait for a secret read and then {waits}, and Genesys gives up after 10 s",
                ),
            ));
        }
        let retry_after_seconds = problems.take(number(&get, "RETRY_AFTER_SECONDS", 5, 1, 3_600));
        let metrics_namespace = get("METRICS_NAMESPACE").unwrap_or_else(|| "GenesysWebhook".into());

        let secret_refresh = (|| {
            Some(SecretRefresh {
                max_age_seconds: max_age_seconds?,
                recheck_seconds: recheck_seconds?,
                timeout: Duration::from_millis(secret_timeout?),
            })
        })();
        let config = (|| {
            Some(Self {
                scheme: SchemeSettings {
                    name: scheme?,
                    header: signature_header?,
                    tolerance_seconds: tolerance_seconds?,
                },
                secrets: secrets?,
                delivery_id_header: delivery_id_header?,
                limits: Limits {
                    max_body_bytes: max_body_bytes?,
                    source_prefix: eventbridge_source_prefix,
                    allowed_sources: allowed_sources?,
                },
                table: table?,
                body_bucket: body_bucket?,
                ttl_seconds: ttl_seconds?,
                store_timeouts: store.timeouts?,
                secret_refresh: secret_refresh?,
                retry_after_seconds: retry_after_seconds?,
                metrics_namespace,
            })
        })();
        problems.finish(config)
    }
}

/// Genesys gives up on a delivery after 10 s; this leaves a second for the
/// rest of the work.
const DELIVERY_BUDGET_MS: u64 = 9_000;

/// Lambda's limit on a synchronous invocation's payload: no front door can
/// hand the function a larger body, whatever its own limit.
pub const LAMBDA_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// The old default where every body must fit its item.
const INLINE_MAX_BODY_BYTES: usize = 262_144;

fn body_bucket(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<BodyBucketName>, ConfigError> {
    let prefix = get("BODY_PREFIX");
    let Some(bucket) = get("BODY_BUCKET") else {
        return match prefix {
            Some(_) => Err(ConfigError::new("BODY_PREFIX", "set only with BODY_BUCKET")),
            None => Ok(None),
        };
    };
    // S3's rules for a general purpose bucket's name.
    let named = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if !named {
        return Err(ConfigError::new(
            "BODY_BUCKET",
            "must be an S3 bucket name: 3 to 63 of a-z, 0-9, '.' and '-'",
        ));
    }
    let prefix = prefix.unwrap_or_else(|| "bodies/".into());
    let safe = prefix.len() <= 256
        && !prefix.starts_with('/')
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._/-".contains(&b))
        && !prefix
            .split('/')
            .any(|segment| segment == "." || segment == "..");
    if !safe {
        return Err(ConfigError::new(
            "BODY_PREFIX",
            "must be at most 256 of A-Z, a-z, 0-9, '.', '_', '/' and '-', not starting with '/' and with no '.' or '..' segment",
        ));
    }
    Ok(Some(BodyBucketName { bucket, prefix }))
}

/// With a bucket, any body a front door can hand Lambda is accepted by
/// default. Without one a larger body than an item holds would be verified
/// and then refused by DynamoDB, which no retry can fix.
fn max_body_bytes(
    get: &impl Fn(&str) -> Option<String>,
    bucket: Option<&BodyBucketName>,
) -> Result<usize, ConfigError> {
    match bucket {
        Some(_) => number(
            get,
            "MAX_BODY_BYTES",
            LAMBDA_PAYLOAD_BYTES,
            1,
            LAMBDA_PAYLOAD_BYTES,
        ),
        _ => number(
            get,
            "MAX_BODY_BYTES",
            INLINE_MAX_BODY_BYTES,
            1,
            outbox::MAX_BODY_BYTES,
        )
        .map_err(|e| match get("MAX_BODY_BYTES").map(|raw| raw.trim().parse::<u64>()) {
            Some(Ok(n)) if n > outbox::MAX_BODY_BYTES as u64 => ConfigError::new(
                "MAX_BODY_BYTES",
                format!(
                    "must be at most {} without BODY_BUCKET: a larger body does not fit a DynamoDB item",
                    outbox::MAX_BODY_BYTES
                ),
            ),
            _ => e,
        }),
    }
}

fn secret_source(get: &impl Fn(&str) -> Option<String>) -> Result<SecretSource, ConfigError> {
    match (get("WEBHOOK_SECRET"), get("WEBHOOK_SECRET_ARN")) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            "WEBHOOK_SECRET_ARN",
            "set either WEBHOOK_SECRET or WEBHOOK_SECRET_ARN, not both",
        )),
        (Some(current), None) => Ok(SecretSource::Inline(Secrets {
            current: Secret::new(current),
            previous: get("WEBHOOK_SECRET_PREVIOUS")
                .map(|p| Secret::held_in("WEBHOOK_SECRET_PREVIOUS", p)),
        })),
        (None, Some(arn)) => Ok(SecretSource::SecretsManager { arn }),
        (None, None) => Err(ConfigError::new(
            "WEBHOOK_SECRET",
            "required (or WEBHOOK_SECRET_ARN)",
        )),
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

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
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
            (&[("BODY_PREFIX", "bodies/")], "BODY_PREFIX"),
            (&[("BODY_BUCKET", "Bodies_Bucket")], "BODY_BUCKET"),
            (
                &[("BODY_BUCKET", "bodies"), ("MAX_BODY_BYTES", "6291457")],
                "MAX_BODY_BYTES",
            ),
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
            assert_eq!(err.vars(), [*var], "{err}");
            assert!(!err.to_string().contains("s3cret"));
        }
    }

    fn with(extra: &[(&'static str, &'static str)]) -> Result<Config, ConfigErrors> {
        let mut vars = BASE.to_vec();
        vars.extend_from_slice(extra);
        config(&vars)
    }

    #[test]
    fn ids_are_remembered_for_at_least_twice_the_tolerance() {
        let err = with(&[("DEDUP_TTL_SECONDS", "599")]).unwrap_err();
        assert_eq!(err.vars(), ["DEDUP_TTL_SECONDS"]);
        assert!(
            err.to_string()
                .contains("2 x SIGNATURE_TOLERANCE_SECONDS (600)"),
            "{err}"
        );
        assert!(err.to_string().contains("in the future"), "{err}");
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
            with(&tolerance("199")).unwrap_err().vars(),
            ["DEDUP_TTL_SECONDS"]
        );
    }

    #[test]
    fn an_allowlist_that_names_no_network_stops_init() {
        for list in [",", " , ", ", ,\t"] {
            let err = with(&[("ALLOWED_SOURCE_CIDRS", list)]).unwrap_err();
            assert_eq!(err.vars(), ["ALLOWED_SOURCE_CIDRS"]);
            assert!(err.to_string().contains("names no network"), "{err}");
        }
        let err = with(&[("ALLOWED_SOURCE_CIDRS", "52.0.0.0/8,52.0.0.0/88")]).unwrap_err();
        assert_eq!(err.vars(), ["ALLOWED_SOURCE_CIDRS"]);
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

    #[test]
    fn several_bad_variables_are_all_reported_each_once() {
        let err = config(&[
            ("WEBHOOK_SECRET", "s3cret"),
            ("WEBHOOK_SECRET_ARN", "arn:x"),
            ("SIGNATURE_SCHEME", "auto"),
            ("MAX_BODY_BYTES", "lots"),
            ("ALLOWED_SOURCE_CIDRS", "52.0.0.0/8,10.0.0.0/33"),
            ("STORE_MAX_ATTEMPTS", "0"),
        ])
        .unwrap_err();
        assert_eq!(
            err.vars(),
            [
                "SIGNATURE_SCHEME",
                "WEBHOOK_SECRET_ARN",
                "MAX_BODY_BYTES",
                "ALLOWED_SOURCE_CIDRS",
                "DEDUP_TABLE",
                "STORE_MAX_ATTEMPTS",
            ]
        );
        let text = err.to_string();
        for var in err.vars() {
            assert_eq!(text.matches(&format!("{var}:")).count(), 1, "{text}");
        }
        assert!(text.contains("\"10.0.0.0/33\""), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[test]
    fn an_inner_timeout_may_not_outlast_the_one_around_it() {
        let err = with(&[
            ("STORE_TIMEOUT_MS", "1000"),
            ("STORE_ATTEMPT_TIMEOUT_MS", "1500"),
            ("STORE_CONNECT_TIMEOUT_MS", "2000"),
        ])
        .unwrap_err();
        assert_eq!(
            err.vars(),
            ["STORE_ATTEMPT_TIMEOUT_MS", "STORE_CONNECT_TIMEOUT_MS"]
        );
        let text = err.to_string();
        assert!(
            text.contains("STORE_ATTEMPT_TIMEOUT_MS: must be at most STORE_TIMEOUT_MS (1000)"),
            "{text}"
        );
        assert!(
            text.contains(
                "STORE_CONNECT_TIMEOUT_MS: must be at most STORE_ATTEMPT_TIMEOUT_MS (1500)"
            ),
            "{text}"
        );
        let equal = with(&[
            ("STORE_TIMEOUT_MS", "1000"),
            ("STORE_ATTEMPT_TIMEOUT_MS", "1000"),
            ("STORE_CONNECT_TIMEOUT_MS", "1000"),
        ])
        .unwrap();
        assert_eq!(equal.store_timeouts.attempt, Duration::from_millis(1000));
    }

    #[test]
    fn the_store_and_the_relay_read_their_bounds_by_their_own_prefix() {
        assert_eq!(with(&[]).unwrap().store_timeouts, Timeouts::STORE);
        assert_eq!(Timeouts::STORE, Timeouts::millis(3_000, 1_000, 500, 3));
        assert_eq!(Timeouts::RELAY, Timeouts::millis(5_000, 2_000, 1_000, 3));
        let set = with(&[
            ("STORE_TIMEOUT_MS", "2000"),
            ("STORE_ATTEMPT_TIMEOUT_MS", "700"),
            ("STORE_CONNECT_TIMEOUT_MS", "60"),
            ("STORE_MAX_ATTEMPTS", "4"),
        ])
        .unwrap();
        assert_eq!(set.store_timeouts, Timeouts::millis(2_000, 700, 60, 4));
        let relay = |k: &str| match k {
            "OUTBOX_TIMEOUT_MS" => Some("1000".to_owned()),
            "OUTBOX_CONNECT_TIMEOUT_MS" => Some("2500".to_owned()),
            _ => None,
        };
        let mut problems = Problems::default();
        let read = Timeouts::read(
            &relay,
            &mut problems,
            timeout_variables!("OUTBOX"),
            Timeouts::RELAY,
            60_000,
        );
        assert_eq!(read.operation_ms, Some(1_000));
        let err = problems.finish(read.timeouts).unwrap_err();
        assert_eq!(
            err.vars(),
            ["OUTBOX_ATTEMPT_TIMEOUT_MS", "OUTBOX_CONNECT_TIMEOUT_MS"]
        );
    }

    #[test]
    fn a_recheck_longer_than_the_refresh_is_refused_and_its_default_follows_the_refresh() {
        let err = with(&[
            ("SECRET_REFRESH_SECONDS", "60"),
            ("SECRET_RECHECK_SECONDS", "120"),
        ])
        .unwrap_err();
        assert_eq!(err.vars(), ["SECRET_RECHECK_SECONDS"]);
        assert!(
            err.to_string()
                .contains("must be at most SECRET_REFRESH_SECONDS (60)"),
            "{err}"
        );
        let short = with(&[("SECRET_REFRESH_SECONDS", "10")]).unwrap();
        assert_eq!(short.secret_refresh.recheck_seconds, 10);
        assert_eq!(with(&[]).unwrap().secret_refresh.recheck_seconds, 30);
    }

    #[test]
    fn a_secret_read_and_the_store_write_fit_inside_genesyss_timeout() {
        let err = with(&[("SECRET_TIMEOUT_MS", "5000"), ("STORE_TIMEOUT_MS", "4001")]).unwrap_err();
        assert_eq!(err.vars(), ["SECRET_TIMEOUT_MS"]);
        let text = err.to_string();
        assert!(
            text.contains("SECRET_TIMEOUT_MS + STORE_TIMEOUT_MS must be at most 9000 ms"),
            "{text}"
        );
        assert!(with(&[("SECRET_TIMEOUT_MS", "5000"), ("STORE_TIMEOUT_MS", "4000")]).is_ok());
    }

    #[test]
    fn with_a_bucket_any_body_lambda_can_be_handed_is_accepted() {
        let c = with(&[("BODY_BUCKET", "bodies-bucket")]).unwrap();
        assert_eq!(c.limits.max_body_bytes, 6 * 1024 * 1024);
        assert_eq!(
            c.body_bucket,
            Some(BodyBucketName {
                bucket: "bodies-bucket".into(),
                prefix: "bodies/".into(),
            })
        );
        assert_eq!(with(&[]).unwrap().body_bucket, None);
        let err = with(&[("MAX_BODY_BYTES", "4194304")]).unwrap_err();
        assert_eq!(err.vars(), ["MAX_BODY_BYTES"]);
        assert!(err.to_string().contains("without BODY_BUCKET"), "{err}");
        let small = with(&[("BODY_BUCKET", "b-1"), ("MAX_BODY_BYTES", "1024")]).unwrap();
        assert_eq!(small.limits.max_body_bytes, 1024);
    }

    #[test]
    fn a_body_prefix_holds_only_safe_key_characters() {
        let prefix = |p| with(&[("BODY_BUCKET", "bodies-bucket"), ("BODY_PREFIX", p)]);
        for good in ["bodies/", "genesys/prod/bodies-", "a.b_c/d"] {
            assert_eq!(prefix(good).unwrap().body_bucket.unwrap().prefix, good);
        }
        for bad in [
            "/bodies/", "../x/", "a/./b", "bodies*", "a b/", "bodies?/", "\u{e9}/",
        ] {
            let err = prefix(bad).unwrap_err();
            assert_eq!(err.vars(), ["BODY_PREFIX"], "{bad}");
            assert!(!err.to_string().contains(bad), "{err}");
        }
        let long = "p".repeat(257);
        let err = config(&[
            ("WEBHOOK_SECRET", "s3cret"),
            ("DEDUP_TABLE", "t"),
            ("BODY_BUCKET", "bodies-bucket"),
            ("BODY_PREFIX", &long),
        ])
        .unwrap_err();
        assert_eq!(err.vars(), ["BODY_PREFIX"]);
    }

    #[test]
    fn with_a_bucket_a_delivery_waits_for_two_writes_inside_genesyss_timeout() {
        let both = [
            ("BODY_BUCKET", "bodies-bucket"),
            ("SECRET_TIMEOUT_MS", "1000"),
            ("STORE_TIMEOUT_MS", "4001"),
        ];
        let err = with(&both).unwrap_err();
        assert_eq!(err.vars(), ["SECRET_TIMEOUT_MS"]);
        assert!(
            err.to_string()
                .contains("SECRET_TIMEOUT_MS + 2 x STORE_TIMEOUT_MS must be at most 9000 ms"),
            "{err}"
        );
        assert!(with(&both[1..]).is_ok(), "one write fits");
        assert!(
            with(&[
                ("BODY_BUCKET", "bodies-bucket"),
                ("SECRET_TIMEOUT_MS", "1000"),
                ("STORE_TIMEOUT_MS", "4000"),
            ])
            .is_ok()
        );
    }
}
