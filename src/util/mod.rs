//! Small shared pieces: errors and exit codes, file helpers, logging.

pub mod error;
pub mod fsutil;
pub mod logging;
