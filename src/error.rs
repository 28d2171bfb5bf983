//! Every way a delivery can fail, grouped by whether a retry can help.

use std::fmt;
use std::process::ExitCode;

use thiserror::Error;

/// Why a delivery was turned away. The caller sees only [`Reject::code`]; the
/// detail is for the log and never holds a secret, a signature or body bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{} ({detail})", code.as_str())]
pub struct Reject {
    pub code: RejectCode,
    pub detail: &'static str,
}

/// The answer a rejected delivery gets. None of these is worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectCode {
    MissingSignature,
    InvalidSignature,
    StaleTimestamp,
    Malformed,
    TooLarge,
    ForbiddenSource,
    /// The path names no integration this deployment holds a secret for.
    UnknownIntegration,
}

impl RejectCode {
    /// Every code, for the pages that list them and their tests.
    pub const ALL: [RejectCode; 7] = [
        Self::MissingSignature,
        Self::InvalidSignature,
        Self::StaleTimestamp,
        Self::Malformed,
        Self::TooLarge,
        Self::ForbiddenSource,
        Self::UnknownIntegration,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingSignature => "missing_signature",
            Self::InvalidSignature => "invalid_signature",
            Self::StaleTimestamp => "stale_timestamp",
            Self::Malformed => "malformed_request",
            Self::TooLarge => "payload_too_large",
            Self::ForbiddenSource => "forbidden_source",
            Self::UnknownIntegration => "unknown_integration",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            Self::MissingSignature | Self::InvalidSignature | Self::StaleTimestamp => 401,
            Self::Malformed => 400,
            Self::TooLarge => 413,
            Self::ForbiddenSource => 403,
            Self::UnknownIntegration => 404,
        }
    }

    pub const fn because(self, detail: &'static str) -> Reject {
        Reject { code: self, detail }
    }
}

/// The dedup store could not say whether the delivery is new. Always worth a
/// retry: nothing was accepted.
#[derive(Debug, Error)]
#[error("dedup store unavailable: {0}")]
pub struct StoreError(pub String);

/// A setting that stops the function from starting. Names the variable, never
/// its value.
#[derive(Debug, Error)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub fn new(var: &'static str, problem: impl Into<String>) -> Self {
        Self {
            var,
            problem: problem.into(),
        }
    }
}

/// Every setting that stops the function or the relay from starting, so one
/// deployment shows them all. Never empty.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The variables named, in the order they were read.
    pub fn vars(&self) -> Vec<&'static str> {
        self.0.iter().map(|e| e.var).collect()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        Self(vec![e])
    }
}

/// Collects the problems of a configuration as it is read, instead of
/// stopping at the first.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<ConfigError>);

impl Problems {
    /// The value, or `None` with its problem kept.
    pub(crate) fn take<T>(&mut self, result: Result<T, ConfigError>) -> Option<T> {
        result.map_err(|e| self.0.push(e)).ok()
    }

    pub(crate) fn push(&mut self, e: ConfigError) {
        self.0.push(e);
    }

    /// Refuses `value` above `bound`, naming both variables.
    pub(crate) fn at_most<T: PartialOrd + fmt::Display>(
        &mut self,
        value: (&'static str, Option<T>),
        bound: (&'static str, Option<T>),
        why: &str,
    ) {
        if let ((var, Some(value)), (bound_var, Some(limit))) = (value, bound)
            && value > limit
        {
            self.push(ConfigError::new(
                var,
                format!("must be at most {bound_var} ({limit}): {why}"),
            ));
        }
    }

    /// An SDK client's bounds: an attempt within the whole operation, a
    /// connect within an attempt; each is cut short by the one above it.
    pub(crate) fn timeouts_nest<T: PartialOrd + fmt::Display + Copy>(
        &mut self,
        operation: (&'static str, Option<T>),
        attempt: (&'static str, Option<T>),
        connect: (&'static str, Option<T>),
    ) {
        let cut = "the outer bound would cut it short";
        self.at_most(attempt, operation, cut);
        self.at_most(connect, attempt, cut);
    }

    /// `value` once nothing was wrong, else every problem found.
    pub(crate) fn finish<T>(self, value: Option<T>) -> Result<T, ConfigErrors> {
        match value {
            Some(v) if self.0.is_empty() => Ok(v),
            _ => Err(ConfigErrors(self.0)),
        }
    }
}

/// How a binary ends: a failure is one ERROR line, `<stage> failed: ...`,
/// and a non-zero status. Returning the error from `main` instead would
/// print its `Debug` form to stderr too, every problem a second time.
pub fn exit(stage: &str, result: Result<(), lambda_runtime::Error>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{stage} failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// An SDK error's chain of causes on one line, without the SDK's `Debug`
/// dump that its own `DisplayErrorContext` appends.
pub fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut next = e.source();
    while let Some(source) = next {
        let text = source.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        next = source.source();
    }
    line
}

/// An invocation that is not a delivery at all, or a partner event that was
/// not recorded: the runtime reports it, so the whole event goes back to
/// Lambda's retries and then its on-failure destination.
#[derive(Debug, Error)]
pub enum InvocationError {
    /// No retry helps.
    #[error("unrecognised event: not a shape any front door sends")]
    UnknownEvent,
    /// A retry helps once the store is back.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No retry helps; the error keeps the whole event for a person to see
    /// in the failure queue instead of letting it vanish.
    #[error("partner event refused: {0}")]
    PartnerRefused(Reject),
}

impl From<InvocationError> for lambda_runtime::Diagnostic {
    fn from(e: InvocationError) -> Self {
        let error_type = match e {
            InvocationError::UnknownEvent => "UnknownEvent",
            InvocationError::Store(_) => "StoreUnavailable",
            InvocationError::PartnerRefused(_) => "PartnerEventRefused",
        };
        Self {
            error_type: error_type.into(),
            error_message: e.to_string(),
        }
    }
}
