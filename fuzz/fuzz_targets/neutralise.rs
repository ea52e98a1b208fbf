//! Whatever an attacker writes into an alert field, the prompt's fenced data keeps no line that
//! could pass for one of ours, and the link neutraliser leaves no link, image, HTML or URL.
//! Panics on a violated invariant, so libFuzzer reports it as a crash.
#![no_main]

use ai_analyzer::analyze::{links::unlink, prompt};
use ai_analyzer::config::Settings;
use ai_analyzer::intake::alert::Alert;
use ai_analyzer::investigate::Evidence;
use libfuzzer_sys::fuzz_target;
use pulldown_cmark::{Event, Parser, Tag};
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Up to four fields, split at NUL, so one input can hit several fields at once.
    let mut parts = text.split('\0');
    let mut next = || parts.next().unwrap_or("").to_string();
    let (log, description, user, agent) = (next(), next(), next(), next());
    fenced_data_has_no_line_of_ours(&log, &description, &user, &agent);
    unlinked_text_has_no_link(&text);
});

fn fenced_data_has_no_line_of_ours(log: &str, description: &str, user: &str, agent: &str) {
    let alert = Alert::new(json!({
        "rule": {"id": "5710", "level": 10, "description": description, "groups": [user]},
        "agent": {"id": "001", "name": agent},
        // A JSON-decoded log chooses its own keys: they reach the prompt too.
        "data": {"srcip": "203.0.113.7", "srcuser": user, "url": log,
                 "app": {agent: description}},
        "full_log": log,
    }));
    let settings = Settings::default();
    let evidence = Evidence::local(&alert, &settings.investigation());
    let nonce = "0123456789abcdef";
    let p = prompt::build(&alert, &evidence, &settings, nonce);
    let (open, close) = (format!("<<<DATA-{nonce}>>>"), format!("<<<END-DATA-{nonce}>>>"));
    let mut inside = false;
    for line in p.user.lines() {
        if line == open || line == close {
            inside = line == open;
            continue;
        }
        let head = line.trim_start();
        let ours = head.starts_with('#')
            || head.starts_with("<<<")
            || head.starts_with("```")
            || head.starts_with("~~~");
        assert!(!(inside && ours), "a line of ours in the fence: {line:?}");
    }
    assert_eq!(p.user.matches(&open).count(), 1, "one opening marker");
    assert_eq!(p.user.matches(&close).count(), 1, "one closing marker");
}

fn unlinked_text_has_no_link(text: &str) {
    let out = unlink(text, &[]);
    for event in Parser::new(&out) {
        let bad = matches!(
            event,
            Event::Start(Tag::Link { .. } | Tag::Image { .. }) | Event::Html(_) | Event::InlineHtml(_)
        );
        assert!(!bad, "{event:?} in {out:?}");
    }
    let lower = out.to_ascii_lowercase();
    assert!(
        !lower.contains("http://") && !lower.contains("https://"),
        "a URL survives: {out:?}"
    );
    assert_eq!(unlink(&out, &[]), out, "a second pass changes nothing");
}
