//! The `Evidence` value: everything the investigation learned about one alert's addresses.
//! The prompt, the fallback report and `enrich --json` all read this one value.

use std::net::IpAddr;

use serde::Serialize;

use crate::alert::Alert;
use crate::config::Settings;
use crate::net::{self, Scope};

/// An address seen in the alert, with what we know of it locally.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub ip: IpAddr,
    /// The alert field it came from (`data.srcip`, ...), or `agent.ip`.
    pub field: String,
    pub scope: Scope,
    /// The configured `[[network.zones]]` name, if any.
    pub zone: Option<String>,
}

impl Endpoint {
    pub fn new(ip: IpAddr, field: &str, settings: &Settings) -> Self {
        Endpoint {
            ip,
            field: field.to_string(),
            scope: net::scope(ip),
            zone: net::zone_of(ip, &settings.network.zones).map(str::to_string),
        }
    }

    /// `203.0.113.9 (public, zone DMZ)`.
    pub fn describe(&self) -> String {
        match &self.zone {
            Some(z) => format!("{} ({}, zone {z})", self.ip, self.scope.describe()),
            None => format!("{} ({})", self.ip, self.scope.describe()),
        }
    }
}

/// The agent that reported the alert: the target, most of the time.
#[derive(Debug, Clone, Serialize)]
pub struct Agent {
    pub id: Option<String>,
    pub name: String,
    pub address: Option<Endpoint>,
}

/// A part of the investigation that has not been done, and why.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Section {
    NotCollected { reason: String },
}

impl Section {
    pub fn not_collected(reason: impl Into<String>) -> Self {
        Section::NotCollected {
            reason: reason.into(),
        }
    }

    /// One line for the prompt and the report.
    pub fn summary(&self) -> String {
        match self {
            Section::NotCollected { reason } => format!("Not collected: {reason}."),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub source: Option<Endpoint>,
    pub destination: Option<Endpoint>,
    pub agent: Agent,
    /// Threat intelligence on the source address.
    pub intel: Section,
    /// Earlier alerts for the source address on this manager.
    pub history: Section,
}

impl Evidence {
    /// Evidence about one address alone (`ai-analyzer enrich IP`).
    pub fn for_address(source: Endpoint) -> Self {
        let intel = intel_section(Some(&source));
        Evidence {
            source: Some(source),
            destination: None,
            agent: Agent {
                id: None,
                name: "unknown agent".into(),
                address: None,
            },
            intel,
            history: Section::not_collected(
                "the alert-log history lookup is not enabled in this build",
            ),
        }
    }

    /// Everything that can be known without asking anyone: addresses, their scope and zone.
    pub fn local(alert: &Alert, settings: &Settings) -> Self {
        let source = alert
            .source_ip()
            .map(|(ip, field)| Endpoint::new(ip, field, settings));
        let destination = alert
            .dest_ip()
            .map(|(ip, field)| Endpoint::new(ip, field, settings));
        let agent = Agent {
            id: alert.agent_id(),
            name: alert.agent_name(),
            address: alert
                .agent_ip()
                .map(|ip| Endpoint::new(ip, "agent.ip", settings)),
        };
        let intel = intel_section(source.as_ref());
        Evidence {
            source,
            destination,
            agent,
            intel,
            history: Section::not_collected(
                "the alert-log history lookup is not enabled in this build",
            ),
        }
    }
}

fn intel_section(source: Option<&Endpoint>) -> Section {
    match source {
        None => Section::not_collected("the alert carries no source address"),
        Some(s) if !s.scope.is_global() => Section::not_collected(format!(
            "{} is a {} address; it is never sent to outside services",
            s.ip,
            s.scope.describe()
        )),
        Some(_) => {
            Section::not_collected("threat-intelligence lookups are not enabled in this build")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn private_source_is_never_looked_up_and_zone_is_named() {
        let mut settings = Settings::default();
        settings.network.zones.push(crate::config::Zone {
            name: "LAN".into(),
            cidr: "172.16.0.0/12".parse().unwrap(),
        });
        let alert = Alert::new(json!({"agent":{"name":"web-01","ip":"172.18.1.10"},
            "data":{"srcip":"172.18.1.100"}}));
        let ev = Evidence::local(&alert, &settings);
        let src = ev.source.as_ref().expect("source");
        assert_eq!(src.scope, Scope::Private);
        assert_eq!(src.zone.as_deref(), Some("LAN"));
        assert!(ev.intel.summary().contains("never sent"));
        assert_eq!(
            ev.agent.address.as_ref().and_then(|a| a.zone.as_deref()),
            Some("LAN")
        );
    }
}
