//! The gate: what is analysed, counted or skipped, and the check_keys handshake with execd.

pub(crate) mod cooldown;
pub(crate) mod handshake;
