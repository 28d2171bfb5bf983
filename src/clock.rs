//! The wall clock, read in one place: Unix seconds for timestamps and
//! expiry, milliseconds for metrics.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds now; 0 on a clock set before 1970.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Unix milliseconds now; 0 on a clock set before 1970.
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
