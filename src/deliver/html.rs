//! The mail's HTML part, styled the way mail clients allow: inline styles only (they strip
//! `<style>`), one column at most 700 px wide, a banner coloured by the rule level, a facts table,
//! the analysis, then the evidence appendix wrapped to the page. No image, no font, no link: the
//! text is the model's or the attacker's, and nothing in it may call home or be clicked.
//! Colours hold on a light and a dark background alike.

use std::fmt::Write as _;

use pulldown_cmark::{html, Event, Options, Parser, Tag, TagEnd};

use super::view::View;
use super::Delivery;

/// The banner's colour for a severity word, as CSS.
fn banner_colour(severity: &str) -> String {
    let [r, g, b] = super::view::banner_rgb(severity);
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Markdown to HTML with every raw-HTML event as escaped text, no image and no link.
pub fn markdown_to_html(markdown: &str) -> String {
    let events = Parser::new_ext(
        markdown,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
    )
    .filter_map(|event| match event {
        Event::Html(s) | Event::InlineHtml(s) => Some(Event::Text(s)),
        Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => None,
        // No link of any kind: the text has none of ours, only what an attacker could write.
        Event::Start(Tag::Link { .. }) | Event::End(TagEnd::Link) => None,
        other => Some(other),
    });
    let mut body = String::new();
    html::push_html(&mut body, events);
    // Inline styles for what pulldown-cmark writes bare: tables and code wrap to the page.
    body.replace("<h1>", "<h1 style=\"font-size:20px;margin:16px 0 6px 0\">")
        .replace("<h2>", "<h2 style=\"font-size:17px;margin:18px 0 6px 0\">")
        .replace("<h3>", "<h3 style=\"font-size:15px;margin:14px 0 4px 0\">")
        .replace("<ul>", "<ul style=\"margin:4px 0;padding-left:22px\">")
        .replace(
            "<table>",
            "<table style=\"border-collapse:collapse;width:100%\">",
        )
        .replace(
            "<td>",
            "<td style=\"border:1px solid #8884;padding:4px;vertical-align:top\">",
        )
        .replace(
            "<th>",
            "<th style=\"border:1px solid #8884;padding:4px;text-align:left\">",
        )
        .replace(
            "<pre>",
            "<pre style=\"white-space:pre-wrap;word-break:break-word;font-size:12px;\
             background:#8881;padding:8px;border-radius:4px\">",
        )
}

/// One row of the facts table.
fn row(out: &mut String, label: &str, value: &str) {
    let _ = write!(
        out,
        "<tr><th style=\"text-align:left;padding:4px 8px 4px 0;vertical-align:top;\
         white-space:nowrap\">{}</th><td style=\"padding:4px 0;word-break:break-word\">{}</td></tr>",
        escape(label),
        escape(value)
    );
}

/// The whole HTML part for one report.
pub fn render(d: &Delivery<'_>) -> String {
    let view = View::of(d);
    let (severity, level) = (view.severity, view.level);
    let mut facts = String::new();
    for (label, value) in &view.facts {
        row(&mut facts, label, value);
    }
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
         <meta name=\"color-scheme\" content=\"light dark\">\
         <meta name=\"supported-color-schemes\" content=\"light dark\"></head>\
         <body style=\"margin:0;padding:0\">\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\"><tr><td align=\"center\">\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" \
         style=\"max-width:700px;font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;\
         font-size:15px;line-height:1.45\"><tr><td style=\"padding:0 12px\">"
    );
    let _ = write!(
        out,
        "<div data-banner=\"{severity}\" style=\"background:{};color:#ffffff;padding:14px 16px;\
         border-radius:6px;margin:12px 0\"><div style=\"font-size:12px;letter-spacing:.08em;\
         text-transform:uppercase\">{} · Wazuh rule level {level} · {}</div>\
         <div style=\"font-size:19px;font-weight:bold;margin-top:4px\">{}</div></div>",
        banner_colour(severity),
        escape(severity),
        escape(view.origin),
        escape(&view.title)
    );
    if !view.lead.is_empty() {
        let _ = write!(
            out,
            "<div style=\"margin:0 0 12px 0\">{}</div>",
            markdown_to_html(&view.lead)
        );
    }
    let _ = write!(
        out,
        "<table data-facts=\"1\" style=\"border-collapse:collapse;width:100%;margin:0 0 12px 0;\
         font-size:14px\">{facts}</table>"
    );
    out.push_str(&markdown_to_html(&view.analysis));
    if let Some(appendix) = &view.appendix {
        let _ = write!(
            out,
            "<h2 style=\"font-size:17px;margin:24px 0 6px 0\">Evidence appendix</h2>{}",
            markdown_to_html(appendix)
        );
    }
    out.push_str("</td></tr></table></td></tr></table></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_keeps_no_markup_link_or_image_of_its_own() {
        let md = "# Title\n<script>alert(1)</script>\n\nText <b>bold</b> [ok](https://example.org) \
                  [bad](javascript:alert(1)) ![img](https://tracker.example/x.png)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```\nlong\n```";
        let html = markdown_to_html(md);
        assert!(html.contains(">Title</h1>"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<b>"));
        assert!(!html.contains("<a "), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("<img"));
        assert!(
            html.contains("<table style=\"border-collapse:collapse;width:100%\">"),
            "{html}"
        );
        assert!(
            html.contains("<pre style=\"white-space:pre-wrap;word-break:break-word"),
            "{html}"
        );
    }

    /// A report without AI: the banner says so once, the verdict line stands above the facts
    /// once, and the facts table has the alert's rows.
    #[test]
    fn a_report_without_ai_renders_each_thing_once() {
        use crate::analyze::report;
        use crate::config::Settings;
        use crate::intake::alert::Alert;
        use crate::investigate::Evidence;
        let alert = Alert::new(serde_json::json!({
            "timestamp": "2026-11-30T03:00:00.000+0000",
            "rule": {"id": "5710", "level": 10, "description": "sshd: Attempt to login using a <non-existent> user",
                     "groups": ["sshd", "authentication_failed"]},
            "agent": {"id": "001", "name": "web-01", "ip": "10.0.0.5"},
            "predecoder": {"program_name": "sshd"},
            "data": {"srcip": "185.220.101.33", "srcuser": "admin"}}));
        let ev = Evidence::local(&alert, &Settings::default().investigation());
        let r = report::fallback(&alert, &ev, "Ollama is unreachable", 3500);
        let full = report::full(&alert, &ev, &r, "now");
        let d = Delivery {
            alert: &alert,
            evidence: &ev,
            report: &r,
            full: &full,
            archived: None,
            target: None,
            pdf: None,
        };
        let html = render(&d);
        assert_eq!(
            html.to_lowercase().matches("written without ai").count(),
            1,
            "{html}"
        );
        assert!(
            html.contains("data-banner=\"High\" style=\"background:#c2410c"),
            "{html}"
        );
        assert_eq!(
            html.matches("Block 185.220.101.33 at the firewall").count(),
            2,
            "lead and actions: {html}"
        );
        assert!(html.contains(">Source</th><td style=\"padding:4px 0;word-break:break-word\">from 185.220.101.33, public"), "{html}");
        assert!(
            html.contains("sshd: Attempt to login using a &lt;non-existent&gt; user"),
            "{html}"
        );
        assert!(!html.contains("<non-existent>"));
    }

    #[test]
    fn banner_colours_follow_the_severity_and_text_is_escaped() {
        assert_eq!(banner_colour("Critical"), "#b91c1c");
        assert_eq!(banner_colour("High"), "#c2410c");
        assert_eq!(banner_colour("Medium"), "#a16207");
        assert_eq!(banner_colour("Low"), "#1d4ed8");
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
