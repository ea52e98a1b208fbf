//! Small shared pieces: errors and exit codes, the state directory, file helpers, claims and slot
//! locks, logging, the clock.

pub mod claim;
pub mod error;
pub mod fsutil;
pub mod logging;
pub mod slots;
pub mod state;

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
