//! The gate: what is analysed, counted or skipped, and the check_keys handshake with execd.

pub mod cooldown;
pub mod handshake;
