//! Draws the ntfy push for one alert as a phone shows it (title, tags, priority, the Markdown
//! body), from the report the worker would push with the model down: for the screenshot in
//! `docs/img/push.png`. Evidence is built without lookups.
//!
//! Run: `cargo run --example render_push -- ALERT.json > push.html`, then
//! `chromium --headless --window-size=420,900 --screenshot=docs/img/push.png push.html`.

#[path = "shared/offline.rs"]
mod offline;

use ai_analyzer::analyze::report;
use ai_analyzer::deliver::html::{escape, markdown_to_html};
use ai_analyzer::deliver::ntfy::{priority_for_level, tags_for};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: render_push <alert.json>")?;
    let offline = offline::Offline::from_file(&path)?;
    let (alert, settings, r) = (&offline.alert, &offline.settings, &offline.report);
    let body = report::push_body(r, settings.ntfy.max_chars);
    let level = alert.rule_level();
    let tags = tags_for(level, &alert.rule_id(), r.ai).join(" · ");
    print!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head>\
         <body style=\"margin:0;background:#111827;font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif\">\
         <div style=\"margin:14px;background:#f9fafb;border-radius:14px;padding:12px 14px;font-size:13px;line-height:1.4;color:#111827\">\
         <div style=\"font-size:11px;color:#4b5563\">ntfy · {topic} · priority {priority} · {tags}</div>\
         <div style=\"font-weight:bold;font-size:15px;margin:4px 0\">{title}</div>{body}</div></body></html>",
        topic = escape(&settings.ntfy.topic),
        priority = priority_for_level(level),
        tags = escape(&tags),
        title = escape(&r.title),
        body = markdown_to_html(&body),
    );
    Ok(())
}
