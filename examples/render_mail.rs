//! Writes the mail's HTML part for one alert, as the worker would send it with the model down
//! (the report without AI), to stdout: for looking at it in a browser and for the screenshot in
//! `docs/img/`. Evidence is built without lookups.
//!
//! Run: `cargo run --example render_mail -- tests/fixtures/alerts/corpus/sshd_failed_password_invalid_user_5710.json > mail.html`

use ai_analyzer::analyze::report;
use ai_analyzer::config::Settings;
use ai_analyzer::deliver::{html, Delivery};
use ai_analyzer::intake::alert::Alert;
use ai_analyzer::investigate::Evidence;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: render_mail <alert.json>")?;
    let alert = Alert::new(serde_json::from_str(&std::fs::read_to_string(path)?)?);
    let settings = Settings::default();
    let evidence = Evidence::local(&alert, &settings.investigation());
    let r = report::fallback(&alert, &evidence, "Ollama is unreachable", 3500);
    let full = report::full(&alert, &evidence, &r, "2026-11-30 09:00:00 UTC");
    let d = Delivery {
        alert: &alert,
        evidence: &evidence,
        report: &r,
        full: &full,
        archived: None,
        target: None,
        pdf: None,
    };
    print!("{}", html::render(&d));
    Ok(())
}
