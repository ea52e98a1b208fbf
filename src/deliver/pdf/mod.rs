//! The full report as a PDF, written in-process with krilla: A4, the banner as in the mail, the
//! verdict, the facts table, the analysis, then the evidence appendix with long lines wrapped;
//! "page X of Y" on every page; the title, creation date and producer in the document's
//! metadata; text that can be selected and searched. No TeX, no browser, no outside program.
//!
//! It draws the same [`View`] as the mail's HTML part. What an alert or the model wrote is only
//! ever set as text: no link, no image, no script.

mod blocks;
mod fonts;
mod layout;

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::{DateTime, Metadata};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::text::TextDirection;
use krilla::Document;

use super::view::{banner_rgb, View};
use super::Delivery;
use fonts::Fonts;
use layout::{Banner, Block, Item, Layout, Page, PAGE_H, PAGE_W};

/// Why no PDF could be made (the mail then goes without it).
#[derive(Debug, thiserror::Error)]
#[error("cannot write the PDF: {0}")]
pub struct PdfError(String);

/// The PDF of one report, created at `created`.
pub fn render(
    d: &Delivery<'_>,
    created: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<u8>, PdfError> {
    let view = View::of(d);
    // The layout is ours and the fonts are fixed, but the text is an attacker's: whatever goes
    // wrong inside, the mail still goes out, without its PDF.
    std::panic::catch_unwind(|| render_view(&view, created))
        .unwrap_or_else(|_| Err(PdfError("the renderer failed on this report".into())))
}

/// What `check` says of the PDF: the built-in fonts load, and where CJK text comes from.
pub fn probe() -> crate::util::Probe {
    use crate::util::Probe;
    if Fonts::new().is_none() {
        return Probe::failed("the built-in fonts do not load: reinstall ai-analyzer");
    }
    match Fonts::fallback_path() {
        Some(path) => Probe::ok(format!("built-in fonts; CJK text from {path}")),
        None => Probe::ok(
            "built-in fonts; no CJK font installed, so Chinese, Japanese and Korean text shows \
             as code points (apt install fonts-droid-fallback)",
        ),
    }
}

/// The blocks of a view, in reading order, after the banner.
fn blocks(view: &View) -> Vec<Block> {
    let mut out = blocks::from_markdown(&view.lead);
    out.push(Block::Facts(
        view.facts
            .iter()
            .map(|(label, value)| ((*label).to_string(), value.clone()))
            .collect(),
    ));
    out.extend(blocks::from_markdown(&view.analysis));
    if let Some(appendix) = &view.appendix {
        out.push(Block::Heading {
            level: 2,
            text: "Evidence appendix".into(),
        });
        out.extend(blocks::from_markdown(appendix));
    }
    out
}

fn render_view(view: &View, created: chrono::DateTime<chrono::Utc>) -> Result<Vec<u8>, PdfError> {
    let fonts = Fonts::new().ok_or_else(|| PdfError("the built-in fonts do not load".into()))?;
    let mut layout = Layout::new(&fonts);
    let kicker = format!(
        "{} · Wazuh rule level {} · {}",
        view.severity, view.level, view.origin
    );
    layout.banner(&Banner {
        colour: banner_rgb(view.severity),
        kicker: &kicker,
        title: &view.title,
    });
    for block in blocks(view) {
        layout.block(&block);
    }
    let pages = layout.finish();
    let mut document = Document::new();
    document.set_metadata(metadata(&view.title, created));
    for page in &pages {
        draw(&mut document, &fonts, page)?;
    }
    document.finish().map_err(|e| PdfError(format!("{e:?}")))
}

fn metadata(title: &str, created: chrono::DateTime<chrono::Utc>) -> Metadata {
    use chrono::{Datelike as _, Timelike as _};
    let narrow = |n: u32| u8::try_from(n).unwrap_or(0);
    let date = DateTime::new(u16::try_from(created.year()).unwrap_or(1970))
        .month(narrow(created.month()))
        .day(narrow(created.day()))
        .hour(narrow(created.hour()))
        .minute(narrow(created.minute()))
        .second(narrow(created.second()))
        .utc_offset_hour(0);
    Metadata::new()
        .title(
            title
                .chars()
                .filter(|c| !c.is_control() && !crate::util::is_hiding_char(*c))
                .collect(),
        )
        .producer("ai-analyzer".into())
        .creator(format!("ai-analyzer {}", env!("CARGO_PKG_VERSION")))
        .language("en".into())
        .creation_date(date)
}

fn fill(colour: layout::Rgb) -> Fill {
    let [r, g, b] = colour;
    Fill {
        paint: rgb::Color::new(r, g, b).into(),
        opacity: NormalizedF32::ONE,
        rule: Default::default(),
    }
}

fn draw(document: &mut Document, fonts: &Fonts, page: &Page) -> Result<(), PdfError> {
    let settings = PageSettings::from_wh(PAGE_W, PAGE_H)
        .ok_or_else(|| PdfError("A4 is not a page size".into()))?;
    let mut pdf_page = document.start_page_with(settings);
    let mut surface = pdf_page.surface();
    for item in page {
        match item {
            Item::Rect { x, y, w, h, colour } => {
                let Some(rect) = Rect::from_xywh(*x, *y, *w, *h) else {
                    continue;
                };
                let mut path = PathBuilder::new();
                path.push_rect(rect);
                if let Some(path) = path.finish() {
                    surface.set_fill(Some(fill(*colour)));
                    surface.draw_path(&path);
                }
            }
            Item::Text {
                x,
                y,
                size,
                slot,
                text,
                colour,
            } => {
                let Some(face) = fonts.face(*slot) else {
                    continue;
                };
                surface.set_fill(Some(fill(*colour)));
                surface.draw_text(
                    Point::from_xy(*x, *y),
                    face.pdf.clone(),
                    *size,
                    text,
                    false,
                    // Never guessed from the text: a right-to-left letter first would turn a
                    // whole line around, addresses and rule ids with it.
                    TextDirection::LeftToRight,
                );
            }
        }
    }
    surface.finish();
    pdf_page.finish();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::report::{self, Report};
    use crate::config::Settings;
    use crate::intake::alert::Alert;
    use crate::investigate::Evidence;
    use proptest::prelude::*;

    fn text_of(pdf: &[u8]) -> (usize, String) {
        let doc = lopdf::Document::load_mem(pdf).expect("lopdf reads it");
        let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
        let text = doc.extract_text(&pages).expect("text");
        (pages.len(), text)
    }

    fn render_alert(alert: &Alert, report: Option<Report>) -> Vec<u8> {
        let ev = Evidence::local(alert, &Settings::default().investigation());
        let r =
            report.unwrap_or_else(|| report::fallback(alert, &ev, "Ollama is unreachable", 3500));
        let full = report::full(alert, &ev, &r, "2026-11-30 09:00:00 UTC");
        let d = Delivery {
            alert,
            evidence: &ev,
            report: &r,
            full: &full,
            archived: None,
            target: None,
            pdf: None,
        };
        render(&d, chrono::Utc::now()).expect("renders")
    }

    /// Accents, Arabic and Cyrillic from the built-in fonts; Chinese from a system font when
    /// one is installed, else as code points; emoji always as code points, never as boxes.
    #[test]
    fn any_script_reads_back_as_text() {
        let alert = Alert::new(serde_json::json!({
            "rule": {"id": "5710", "level": 5, "description": "sshd: Attempt to login using a non-existent user",
                     "groups": ["sshd", "authentication_failed"]},
            "agent": {"id": "001", "name": "北京-web-01"},
            "data": {"srcip": "203.0.113.9", "srcuser": "josé😀", "dstuser": "Ковалёв"},
            "full_log": "Failed password for invalid user josé😀 from 203.0.113.9 مرحبا"}));
        let (_, text) = text_of(&render_alert(&alert, None));
        assert!(text.contains("josé[U+1F600]"), "{text}");
        assert!(text.contains("مرحبا") || text.contains("ابحرم"), "{text}");
        let fonts = Fonts::new().expect("fonts");
        if fonts.face(fonts::Slot::Fallback).is_some() {
            // Another font, another text object: the reader may put a break between them.
            assert!(text.contains("北京") && text.contains("-web-01"), "{text}");
        } else {
            assert!(text.contains("[U+5317][U+4EAC]-web-01"), "{text}");
        }
    }

    #[test]
    fn a_typical_report_is_a_few_pages_with_every_section() {
        let path = format!(
            "{}/tests/fixtures/alerts/corpus/sshd_failed_password_invalid_user_5710.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let raw = std::fs::read_to_string(path).expect("fixture");
        let alert = Alert::new(serde_json::from_str(&raw).expect("JSON"));
        let pdf = render_alert(&alert, None);
        assert!(pdf.len() < 200_000, "{} bytes", pdf.len());
        let (pages, text) = text_of(&pdf);
        assert!((1..=4).contains(&pages), "{pages}");
        for heading in [
            "Overview",
            "Recommended actions",
            "Evidence appendix",
            "Raw alert",
        ] {
            assert!(text.contains(heading), "{heading}: {text}");
        }
        assert!(text.contains(&format!("page {pages} of {pages}")));
    }

    /// What the attack review found, each pinned: right-to-left text never turns addresses
    /// around; what is cut is marked; a line inside the analysis that looks like the title stays.
    #[test]
    fn hostile_text_reads_true() {
        let rtl = Alert::new(serde_json::json!({
            "rule": {"id": "5710", "level": 5, "description": "א login from 198.51.100.23"},
            "agent": {"id": "001", "name": "web-01"},
            "data": {"srcip": "203.0.113.9"}}));
        let (_, text) = text_of(&render_alert(&rtl, None));
        assert!(text.contains("198.51.100.23"), "{text}");
        assert!(!text.contains("32.001.15.891"), "{text}");

        let wide = format!(
            "# {}\n## Findings\n\n| {} |\n|{}\n| {} |\n\n```sh\n# {}\n```\n",
            "W".repeat(150),
            (0..12)
                .map(|i| format!("h{i}"))
                .collect::<Vec<_>>()
                .join(" | "),
            "---|".repeat(12),
            (0..12)
                .map(|i| format!("cell{i}"))
                .collect::<Vec<_>>()
                .join(" | "),
            "block the source first"
        );
        let ai = Report::from_markdown(wide, true, None);
        let (_, text) = text_of(&render_alert(&rtl, Some(ai)));
        // The mark wraps in its narrow cell.
        assert!(
            text.contains("h7 (+4") && text.contains("columns)"),
            "{text}"
        );
        assert!(!text.contains("cell8"), "{text}");
        assert!(text.contains('…'), "the cut title is marked: {text}");
        assert!(text.contains("# block the source first"), "{text}");
    }

    /// Text that changes font at every character, and stacks of zero-width marks, are bounded:
    /// the layout stops at its run limit and no line holds more than its units.
    #[test]
    fn runs_and_lines_are_bounded() {
        let fonts = Fonts::new().expect("fonts");
        let mut layout = Layout::new(&fonts);
        // A font change at every character (bold and regular in turns, as Latin and CJK would
        // be): 80,000 runs unbounded.
        let spans = (0..80_000)
            .map(|i| layout::Span {
                slot: if i % 2 == 0 {
                    fonts::Slot::Bold
                } else {
                    fonts::Slot::Sans
                },
                text: "x".into(),
            })
            .collect();
        layout.block(&Block::Para {
            spans,
            depth: 0,
            marker: None,
        });
        let pages = layout.finish();
        let texts: Vec<&str> = pages
            .iter()
            .flatten()
            .filter_map(|i| match i {
                Item::Text { text, .. } => Some(text.as_str()),
                Item::Rect { .. } => None,
            })
            .collect();
        assert!(
            texts.len() <= 20_000 + 3 * layout::MAX_PAGES,
            "{}",
            texts.len()
        );
        assert!(pages.len() < layout::MAX_PAGES, "cut by runs, not pages");
        assert!(
            texts.iter().any(|t| t.starts_with("Cut here")),
            "the cut is marked"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Whatever an alert or the model writes, the PDF is made and reads back.
        #[test]
        fn any_alert_renders_to_a_valid_pdf(
            description in "\\PC{0,300}",
            agent in "\\PC{0,80}",
            log in "(\\PC|\\n|\\t){0,2000}",
            user in "\\PC{0,60}",
            model in "(\\PC|\\n|#|`|\\||-){0,3000}",
            level in 0u32..16,
        ) {
            let alert = Alert::new(serde_json::json!({
                "rule": {"id": "100001", "level": level, "description": description},
                "agent": {"id": "001", "name": agent},
                "data": {"srcip": "198.51.100.7", "srcuser": user},
                "full_log": log}));
            let fallback = render_alert(&alert, None);
            prop_assert!(fallback.starts_with(b"%PDF-"));
            let (pages, _) = text_of(&fallback);
            prop_assert!(pages >= 1);
            let ai = Report::from_markdown(format!("# {description}\n{model}"), true, None);
            let (pages, _) = text_of(&render_alert(&alert, Some(ai)));
            prop_assert!((1..=layout::MAX_PAGES).contains(&pages));
        }
    }
}
