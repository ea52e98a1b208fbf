//! What the rendering examples share: one alert's report as the worker would write it with the
//! model down (the report without AI), with evidence built without lookups.
// Each example uses part of it.
#![allow(dead_code)]

use ai_analyzer::analyze::report::{self, Report};
use ai_analyzer::config::Settings;
use ai_analyzer::deliver::Delivery;
use ai_analyzer::intake::alert::Alert;
use ai_analyzer::investigate::Evidence;

pub struct Offline {
    pub alert: Alert,
    pub evidence: Evidence,
    pub report: Report,
    pub full: String,
    pub settings: Settings,
}

impl Offline {
    /// The alert in the JSON file at `path`, and its report.
    pub fn from_file(path: &str) -> Result<Offline, Box<dyn std::error::Error>> {
        let alert = Alert::new(serde_json::from_str(&std::fs::read_to_string(path)?)?);
        let settings = Settings::default();
        let evidence = Evidence::local(&alert, &settings.investigation());
        let report = report::fallback(&alert, &evidence, "Ollama is unreachable", 3500);
        let full = report::full(&alert, &evidence, &report, "2026-11-30 09:00:00 UTC");
        Ok(Offline {
            alert,
            evidence,
            report,
            full,
            settings,
        })
    }

    /// The report as every channel sees it.
    pub fn delivery(&self) -> Delivery<'_> {
        Delivery {
            alert: &self.alert,
            evidence: &self.evidence,
            report: &self.report,
            full: &self.full,
            archived: None,
            target: None,
            pdf: None,
        }
    }
}
