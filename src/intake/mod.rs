//! Intake: reading the message without hanging, and taking it apart into an alert.

pub mod alert;
pub mod read;
