//! Intake: reading the message without hanging, and taking it apart into an alert.

pub mod address;
pub mod alert;
pub mod facts;
pub mod read;

use serde::{Deserialize, Serialize};

/// Who started the run: wazuh-execd, wazuh-integratord, or a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Execd,
    Integratord,
    Hand,
}
