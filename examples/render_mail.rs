//! Writes the mail's HTML part for one alert, as the worker would send it with the model down
//! (the report without AI), to stdout: for looking at it in a browser and for the screenshot in
//! `docs/img/`. Evidence is built without lookups.
//!
//! Run: `cargo run --example render_mail -- tests/fixtures/alerts/corpus/sshd_failed_password_invalid_user_5710.json > mail.html`

#[path = "shared/offline.rs"]
mod offline;

use ai_analyzer::deliver::html;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: render_mail <alert.json>")?;
    let offline = offline::Offline::from_file(&path)?;
    print!("{}", html::render(&offline.delivery()));
    Ok(())
}
