//! Every way a delivery can fail, grouped by whether a retry can help.

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
