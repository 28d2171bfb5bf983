//! What became of one delivery: the one value the answer, the log line and
//! the metrics are all made from.

use crate::error::{Reject, StoreError};

/// What became of one delivery.
#[derive(Debug)]
pub enum Outcome {
    Accepted {
        delivery_id: String,
    },
    /// Answered 200 so the sender stops retrying.
    Duplicate {
        delivery_id: String,
    },
    Rejected(Reject),
    StoreUnavailable(StoreError),
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Accepted { .. } => "accepted",
            Self::Duplicate { .. } => "duplicate",
            Self::Rejected(_) => "rejected",
            Self::StoreUnavailable(_) => "store_unavailable",
        }
    }
}
