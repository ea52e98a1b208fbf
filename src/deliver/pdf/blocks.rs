//! Markdown to the PDF's blocks. As for the mail's HTML, raw HTML is kept as text and links and
//! images keep only their text: what the model or an alert wrote can only ever be read.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use super::fonts::Slot;
use super::layout::{Block, Span};

#[derive(Default)]
struct Builder {
    blocks: Vec<Block>,
    spans: Vec<Span>,
    /// Open lists: the next number of each ordered one.
    lists: Vec<Option<u64>>,
    /// The marker of the list item whose first paragraph is still to come.
    marker: Option<String>,
    strong: usize,
    heading: Option<u8>,
    code: Option<String>,
    table: Option<Vec<Vec<String>>>,
    cell: Option<String>,
}

impl Builder {
    fn push_text(&mut self, text: &str, slot: Slot) {
        if let Some(code) = &mut self.code {
            code.push_str(text);
            return;
        }
        if let Some(cell) = &mut self.cell {
            cell.push_str(text);
            return;
        }
        match self.spans.last_mut() {
            Some(last) if last.slot == slot => last.text.push_str(text),
            _ => self.spans.push(Span {
                slot,
                text: text.to_string(),
            }),
        }
    }

    fn slot(&self) -> Slot {
        if self.strong > 0 || self.heading.is_some() {
            Slot::Bold
        } else {
            Slot::Sans
        }
    }

    /// The paragraph (or a tight list item's text) gathered so far becomes a block.
    fn flush(&mut self) {
        let spans = std::mem::take(&mut self.spans);
        if let Some(level) = self.heading {
            let text: String = spans.iter().map(|s| s.text.as_str()).collect();
            self.blocks.push(Block::Heading {
                level,
                text: text.trim().to_string(),
            });
            return;
        }
        if spans.iter().all(|s| s.text.trim().is_empty()) {
            return;
        }
        let depth = u8::try_from(self.lists.len().saturating_sub(1)).unwrap_or(u8::MAX);
        self.blocks.push(Block::Para {
            spans,
            depth,
            marker: self.marker.take(),
        });
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) | Event::Html(t) | Event::InlineHtml(t) => {
                let slot = self.slot();
                self.push_text(&t, slot);
            }
            Event::Code(t) => self.push_text(&t, Slot::Mono),
            Event::SoftBreak => self.push_text(" ", Slot::Sans),
            Event::HardBreak => self.push_text("\n", Slot::Sans),
            Event::Rule => {
                self.flush();
                self.blocks.push(Block::Rule);
            }
            Event::TaskListMarker(done) => {
                self.push_text(if done { "[x] " } else { "[ ] " }, Slot::Mono)
            }
            Event::FootnoteReference(t) | Event::InlineMath(t) | Event::DisplayMath(t) => {
                self.push_text(&t, Slot::Sans)
            }
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Heading { level, .. } => {
                self.flush();
                self.heading = Some(match level {
                    HeadingLevel::H1 => 1,
                    HeadingLevel::H2 => 2,
                    _ => 3,
                });
            }
            Tag::Paragraph => self.flush(),
            Tag::List(start) => {
                self.flush();
                self.lists.push(start);
            }
            Tag::Item => {
                self.flush();
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let marker = format!("{n}.");
                        *n += 1;
                        marker
                    }
                    _ => "•".to_string(),
                };
                self.marker = Some(marker);
            }
            Tag::CodeBlock(_) => {
                self.flush();
                self.code = Some(String::new());
            }
            Tag::Table(_) => {
                self.flush();
                self.table = Some(Vec::new());
            }
            Tag::TableHead | Tag::TableRow => {
                if let Some(table) = &mut self.table {
                    table.push(Vec::new());
                }
            }
            Tag::TableCell => self.cell = Some(String::new()),
            Tag::Strong => self.strong += 1,
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Heading(_) => {
                self.flush();
                self.heading = None;
            }
            TagEnd::Paragraph | TagEnd::Item => self.flush(),
            TagEnd::List(_) => {
                self.flush();
                self.lists.pop();
            }
            TagEnd::CodeBlock => {
                if let Some(code) = self.code.take() {
                    let lines = code.trim_end_matches('\n').lines().map(String::from);
                    self.blocks.push(Block::Code(lines.collect()));
                }
            }
            TagEnd::TableCell => {
                if let (Some(cell), Some(row)) = (
                    self.cell.take(),
                    self.table.as_mut().and_then(|t| t.last_mut()),
                ) {
                    row.push(cell);
                }
            }
            TagEnd::Table => {
                if let Some(rows) = self.table.take() {
                    self.blocks.push(Block::Table { rows, header: true });
                }
            }
            TagEnd::Strong => self.strong = self.strong.saturating_sub(1),
            TagEnd::BlockQuote(_) => self.flush(),
            _ => {}
        }
    }
}

/// The blocks of a Markdown text.
pub(super) fn from_markdown(markdown: &str) -> Vec<Block> {
    let mut builder = Builder::default();
    let parser = Parser::new_ext(
        markdown,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
    );
    for event in parser {
        builder.event(event);
    }
    builder.flush();
    builder.blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn para(text: &str, depth: u8, marker: Option<&str>) -> Block {
        Block::Para {
            spans: vec![Span {
                slot: Slot::Sans,
                text: text.into(),
            }],
            depth,
            marker: marker.map(String::from),
        }
    }

    #[test]
    fn a_report_becomes_headings_paragraphs_lists_code_and_tables() {
        let md =
            "## Overview\nOne line\nand the next.\n\n- a\n- b\n  1. inner\n\n3. three\n4. four\n\n\
                  ```json\n{\"a\": 1}\n```\n\n| k | v |\n|---|---|\n| x | y |\n\n---\n";
        let blocks = from_markdown(md);
        assert_eq!(
            blocks,
            vec![
                Block::Heading {
                    level: 2,
                    text: "Overview".into()
                },
                para("One line and the next.", 0, None),
                para("a", 0, Some("•")),
                para("b", 0, Some("•")),
                para("inner", 1, Some("1.")),
                para("three", 0, Some("3.")),
                para("four", 0, Some("4.")),
                Block::Code(vec!["{\"a\": 1}".into()]),
                Block::Table {
                    rows: vec![vec!["k".into(), "v".into()], vec!["x".into(), "y".into()]],
                    header: true
                },
                Block::Rule,
            ]
        );
    }

    #[test]
    fn markup_links_and_images_keep_only_their_text() {
        let blocks = from_markdown(
            "**High** <script>x</script> [click](https://evil.example) ![img](https://t.example/p.png) `code`",
        );
        let Some(Block::Para { spans, .. }) = blocks.first() else {
            panic!("{blocks:?}");
        };
        assert_eq!(spans[0].slot, Slot::Bold);
        assert_eq!(spans[0].text, "High");
        let text: String = spans.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(text, "High <script>x</script> click img code");
        assert_eq!(spans.last().map(|s| s.slot), Some(Slot::Mono));
    }
}
