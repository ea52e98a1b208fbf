//! Pages from blocks: line breaking from the fonts' advances, tables, code wrapped by character,
//! page breaks, the banner on the first page and "page X of Y" on every one. krilla only places
//! text at a point; where each line goes is decided here.

use super::fonts::{code_point, Fonts, Slot, Unit};

/// A4, in points.
pub(super) const PAGE_W: f32 = 595.28;
pub(super) const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 50.0;
/// The bottom of the text area; the page number sits below it.
const BOTTOM: f32 = PAGE_H - 56.0;
const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN;
/// Past this many pages the rest is cut (an alert of a megabyte would make hundreds); the last
/// page says so.
pub(super) const MAX_PAGES: usize = 40;
/// Past this many runs of text the rest is cut too: text that changes font at every character
/// (Latin and CJK in turns) makes one run per character, and each costs the shaper time.
const MAX_RUNS: usize = 20_000;
/// A line holds at most this many units, whatever their width (zero-width characters).
const MAX_UNITS_PER_LINE: usize = 400;
/// A table keeps this many columns, a cell or a fact this many lines, the banner this many
/// title lines; what is cut is marked.
const MAX_COLUMNS: usize = 8;
const MAX_CELL_LINES: usize = 50;
const MAX_TITLE_LINES: usize = 5;

pub(super) type Rgb = [u8; 3];
const TEXT: Rgb = [0x1f, 0x23, 0x28];
const MUTED: Rgb = [0x5b, 0x61, 0x6b];
const HEADING: Rgb = [0x1e, 0x29, 0x3b];
const WHITE: Rgb = [0xff, 0xff, 0xff];
const STRIPE: Rgb = [0xf1, 0xf3, 0xf6];
const CODE_BG: Rgb = [0xf4, 0xf4, 0xf5];
const RULE: Rgb = [0xd0, 0xd4, 0xda];

/// What is drawn on a page; y grows downwards from the top edge.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Item {
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        colour: Rgb,
    },
    /// Text in one font from `x` on the baseline `y`.
    Text {
        x: f32,
        y: f32,
        size: f32,
        slot: Slot,
        text: String,
        colour: Rgb,
    },
}

pub(super) type Page = Vec<Item>;

/// A piece of inline text in one of the built-in fonts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Span {
    pub slot: Slot,
    pub text: String,
}

/// What the report is made of, in reading order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Block {
    Heading {
        level: u8,
        text: String,
    },
    /// A paragraph; a list item has its marker ("•", "3.") and an indent level.
    Para {
        spans: Vec<Span>,
        depth: u8,
        marker: Option<String>,
    },
    Code(Vec<String>),
    /// Rows of cells; the first row is the header when `header`.
    Table {
        rows: Vec<Vec<String>>,
        header: bool,
    },
    /// Label and value pairs (the facts table).
    Facts(Vec<(String, String)>),
    Rule,
}

/// The banner on top of the first page.
pub(super) struct Banner<'a> {
    pub colour: Rgb,
    /// The small line above the title: severity, level, who wrote it.
    pub kicker: &'a str,
    pub title: &'a str,
}

/// Text to break into lines: units, or a forced line break.
enum Piece {
    Units(Vec<Unit>),
    Break,
}

pub(super) struct Layout<'f> {
    fonts: &'f Fonts,
    pages: Vec<Page>,
    y: f32,
    /// Set once the page or run limit is reached: nothing more is placed.
    cut: bool,
    runs: usize,
}

impl<'f> Layout<'f> {
    pub(super) fn new(fonts: &'f Fonts) -> Self {
        Layout {
            fonts,
            pages: vec![Vec::new()],
            y: MARGIN,
            cut: false,
            runs: 0,
        }
    }

    fn units(&self, slot: Slot, text: &str) -> Vec<Unit> {
        let mut out = Vec::new();
        self.fonts.units(slot, text, &mut out);
        out
    }

    fn page(&mut self) -> &mut Page {
        if self.pages.is_empty() {
            self.pages.push(Vec::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    /// Room for `h` more points on this page, or a new page; false once the limit is reached.
    fn room(&mut self, h: f32) -> bool {
        if self.cut {
            return false;
        }
        if self.y + h <= BOTTOM {
            return true;
        }
        if self.pages.len() >= MAX_PAGES {
            self.cut = true;
            return false;
        }
        self.pages.push(Vec::new());
        self.y = MARGIN;
        true
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, colour: Rgb) {
        self.page().push(Item::Rect { x, y, w, h, colour });
    }

    /// Draws one line of units from `x` on the baseline `y`, one text item per font run.
    fn draw(&mut self, x: f32, y: f32, size: f32, line: &[Unit], colour: Rgb) {
        let mut x = x;
        let mut run: Option<(Slot, String, f32)> = None;
        for unit in line {
            let (slot, text) = match *unit {
                Unit::Char { slot, c, .. } => (slot, c.to_string()),
                Unit::CodePoint { slot, c, .. } => (slot, code_point(c)),
            };
            match &mut run {
                Some((s, t, w)) if *s == slot => {
                    t.push_str(&text);
                    *w += unit.em() * size;
                }
                _ => {
                    if let Some((s, t, w)) = run.take() {
                        self.text(x, y, size, s, t, colour);
                        x += w;
                    }
                    run = Some((slot, text, unit.em() * size));
                }
            }
        }
        if let Some((s, t, _)) = run {
            self.text(x, y, size, s, t, colour);
        }
    }

    fn text(&mut self, x: f32, y: f32, size: f32, slot: Slot, text: String, colour: Rgb) {
        if text.trim().is_empty() {
            return;
        }
        self.runs += 1;
        if self.runs >= MAX_RUNS {
            self.cut = true;
        }
        self.page().push(Item::Text {
            x,
            y,
            size,
            slot,
            text,
            colour,
        });
    }

    /// Breaks pieces into lines no wider than `width` points: at spaces where it can, inside a
    /// word that is wider than a line.
    fn wrap(pieces: Vec<Piece>, size: f32, width: f32) -> Vec<Vec<Unit>> {
        let mut lines = Vec::new();
        let mut line: Vec<Unit> = Vec::new();
        let mut line_w = 0.0;
        let mut word: Vec<Unit> = Vec::new();
        let flush_word = |word: &mut Vec<Unit>,
                          line: &mut Vec<Unit>,
                          line_w: &mut f32,
                          lines: &mut Vec<Vec<Unit>>| {
            if word.is_empty() {
                return;
            }
            let word_w: f32 = word.iter().map(|u| u.em() * size).sum();
            let too_many = line.len() + word.len() > MAX_UNITS_PER_LINE;
            if !line.is_empty() && (*line_w + word_w > width || too_many) {
                // The word goes to a new line, without the space before it.
                while line.last().is_some_and(Unit::is_space) {
                    line.pop();
                }
                lines.push(std::mem::take(line));
                *line_w = 0.0;
            }
            if word_w <= width && word.len() <= MAX_UNITS_PER_LINE {
                line.append(word);
                *line_w += word_w;
                return;
            }
            // Wider than a line: broken by character.
            for unit in word.drain(..) {
                let w = unit.em() * size;
                if !line.is_empty() && (*line_w + w > width || line.len() >= MAX_UNITS_PER_LINE) {
                    lines.push(std::mem::take(line));
                    *line_w = 0.0;
                }
                line.push(unit);
                *line_w += w;
            }
        };
        for piece in pieces {
            match piece {
                Piece::Break => {
                    flush_word(&mut word, &mut line, &mut line_w, &mut lines);
                    lines.push(std::mem::take(&mut line));
                    line_w = 0.0;
                }
                Piece::Units(units) => {
                    for unit in units {
                        if unit.is_space() {
                            flush_word(&mut word, &mut line, &mut line_w, &mut lines);
                            if !line.is_empty() {
                                line_w += unit.em() * size;
                                line.push(unit);
                            }
                        } else {
                            word.push(unit);
                        }
                    }
                }
            }
        }
        flush_word(&mut word, &mut line, &mut line_w, &mut lines);
        if !line.is_empty() || lines.is_empty() {
            lines.push(line);
        }
        lines
    }

    fn pieces(&self, spans: &[Span]) -> Vec<Piece> {
        let mut pieces = Vec::new();
        for span in spans {
            for (i, part) in span.text.split('\n').enumerate() {
                if i > 0 {
                    pieces.push(Piece::Break);
                }
                pieces.push(Piece::Units(self.units(span.slot, part)));
            }
        }
        pieces
    }

    /// Lines of wrapped text at `x`, `width` wide.
    fn lines(&mut self, lines: &[Vec<Unit>], x: f32, size: f32, leading: f32, colour: Rgb) {
        for line in lines {
            if !self.room(leading) {
                return;
            }
            let baseline = self.y + size;
            self.draw(x, baseline, size, line, colour);
            self.y += leading;
        }
    }

    pub(super) fn banner(&mut self, banner: &Banner<'_>) {
        let kicker = self.units(Slot::Bold, &banner.kicker.to_uppercase());
        let title = Self::wrap(
            vec![Piece::Units(self.units(Slot::Bold, banner.title))],
            17.0,
            CONTENT_W,
        );
        let title = self.keep_lines(title, MAX_TITLE_LINES, Slot::Bold, "…");
        let h = 30.0 + 12.0 + title.len() as f32 * 22.0 + 14.0;
        self.rect(0.0, 0.0, PAGE_W, h, banner.colour);
        self.draw(MARGIN, 36.0, 8.5, &kicker, WHITE);
        let mut y = 36.0 + 10.0;
        for line in &title {
            y += 22.0;
            self.draw(MARGIN, y - 4.0, 17.0, line, WHITE);
        }
        self.y = h + 18.0;
    }

    pub(super) fn block(&mut self, block: &Block) {
        match block {
            Block::Heading { level, text } => self.heading(*level, text),
            Block::Para {
                spans,
                depth,
                marker,
            } => self.para(spans, *depth, marker.as_deref()),
            Block::Code(lines) => self.code(lines),
            Block::Table { rows, header } => self.table(rows, *header),
            Block::Facts(rows) => self.facts(rows),
            Block::Rule => {
                if self.room(12.0) {
                    let y = self.y + 5.0;
                    self.rect(MARGIN, y, CONTENT_W, 0.7, RULE);
                    self.y += 12.0;
                }
            }
        }
    }

    fn heading(&mut self, level: u8, text: &str) {
        let size = match level {
            1 => 16.0,
            2 => 13.5,
            _ => 11.5,
        };
        let lines = Self::wrap(
            vec![Piece::Units(self.units(Slot::Bold, text))],
            size,
            CONTENT_W,
        );
        // A heading keeps its first line of text below it on the same page.
        let need = 10.0 + lines.len() as f32 * size * 1.3 + 16.0;
        if !self.room(need) {
            return;
        }
        self.y += 10.0;
        self.lines(&lines, MARGIN, size, size * 1.3, HEADING);
        if level <= 2 {
            let y = self.y + 1.0;
            self.rect(MARGIN, y, CONTENT_W, 0.7, RULE);
        }
        self.y += 6.0;
    }

    fn para(&mut self, spans: &[Span], depth: u8, marker: Option<&str>) {
        let (size, leading) = (10.0, 14.0);
        let indent = f32::from(depth.min(6)) * 16.0;
        let x = MARGIN + indent + if marker.is_some() { 16.0 } else { 0.0 };
        let lines = Self::wrap(self.pieces(spans), size, MARGIN + CONTENT_W - x);
        if let Some(marker) = marker {
            if !self.room(leading) {
                return;
            }
            let units = self.units(Slot::Sans, marker);
            let baseline = self.y + size;
            self.draw(MARGIN + indent, baseline, size, &units, TEXT);
        }
        self.lines(&lines, x, size, leading, TEXT);
        self.y += if marker.is_some() { 2.0 } else { 6.0 };
    }

    fn code(&mut self, source: &[String]) {
        let (size, leading) = (7.5, 9.6);
        let width = CONTENT_W - 12.0;
        self.y += 2.0;
        for line in source {
            let pieces = vec![Piece::Units(self.units(Slot::Mono, line))];
            for wrapped in Self::wrap_chars(pieces, size, width) {
                if !self.room(leading) {
                    return;
                }
                let y = self.y;
                self.rect(MARGIN, y, CONTENT_W, leading, CODE_BG);
                self.draw(MARGIN + 6.0, y + 7.4, size, &wrapped, TEXT);
                self.y += leading;
            }
        }
        self.y += 8.0;
    }

    /// Code keeps its spaces: broken by character only.
    fn wrap_chars(pieces: Vec<Piece>, size: f32, width: f32) -> Vec<Vec<Unit>> {
        let mut lines = Vec::new();
        let mut line = Vec::new();
        let mut w = 0.0;
        for piece in pieces {
            if let Piece::Units(units) = piece {
                for unit in units {
                    let uw = unit.em() * size;
                    if !line.is_empty() && (w + uw > width || line.len() >= MAX_UNITS_PER_LINE) {
                        lines.push(std::mem::take(&mut line));
                        w = 0.0;
                    }
                    line.push(unit);
                    w += uw;
                }
            }
        }
        lines.push(line);
        lines
    }

    fn facts(&mut self, rows: &[(String, String)]) {
        let (size, leading, label_w) = (9.5, 13.0, 92.0);
        for (i, (label, value)) in rows.iter().enumerate() {
            let label = Self::wrap(
                vec![Piece::Units(self.units(Slot::Bold, label))],
                size,
                label_w - 8.0,
            );
            let value = Self::wrap(
                self.pieces(&[Span {
                    slot: Slot::Sans,
                    text: value.clone(),
                }]),
                size,
                CONTENT_W - label_w - 8.0,
            );
            // A value longer than a page is cut, and says so (the appendix has all of it).
            let value = self.cut_lines(value);
            let n = label.len().max(value.len()).min(MAX_CELL_LINES);
            let h = n as f32 * leading + 6.0;
            if !self.room(h) {
                return;
            }
            let y0 = self.y;
            if i % 2 == 0 {
                self.rect(MARGIN, y0, CONTENT_W, h, STRIPE);
            }
            for (j, line) in label.iter().enumerate() {
                let baseline = y0 + 3.0 + size + j as f32 * leading;
                self.draw(MARGIN + 4.0, baseline, size, line, HEADING);
            }
            for (j, line) in value.iter().take(n).enumerate() {
                let baseline = y0 + 3.0 + size + j as f32 * leading;
                self.draw(MARGIN + label_w, baseline, size, line, TEXT);
            }
            self.y += h;
        }
        self.y += 10.0;
    }

    fn table(&mut self, rows: &[Vec<String>], header: bool) {
        let all_columns = rows.iter().map(Vec::len).max().unwrap_or(0);
        let columns = all_columns.clamp(1, MAX_COLUMNS);
        let (size, leading) = (9.0, 12.0);
        let col_w = CONTENT_W / columns as f32;
        for (i, row) in rows.iter().enumerate() {
            let slot = if header && i == 0 {
                Slot::Bold
            } else {
                Slot::Sans
            };
            let mut shown: Vec<String> = row.iter().take(columns).cloned().collect();
            if row.len() > columns {
                if let Some(last) = shown.last_mut() {
                    last.push_str(&format!(" (+{} more columns)", row.len() - columns));
                }
            }
            let cells: Vec<Vec<Vec<Unit>>> = shown
                .iter()
                .map(|cell| {
                    let lines = Self::wrap(
                        self.pieces(&[Span {
                            slot,
                            text: cell.clone(),
                        }]),
                        size,
                        col_w - 8.0,
                    );
                    self.cut_lines(lines)
                })
                .collect();
            let n = cells
                .iter()
                .map(Vec::len)
                .max()
                .unwrap_or(1)
                .clamp(1, MAX_CELL_LINES);
            let h = n as f32 * leading + 6.0;
            if !self.room(h) {
                return;
            }
            let y0 = self.y;
            if i % 2 == 0 {
                self.rect(MARGIN, y0, CONTENT_W, h, STRIPE);
            }
            for (c, lines) in cells.iter().enumerate() {
                for (j, line) in lines.iter().take(n).enumerate() {
                    let baseline = y0 + 3.0 + size + j as f32 * leading;
                    self.draw(MARGIN + 4.0 + c as f32 * col_w, baseline, size, line, TEXT);
                }
            }
            self.y += h;
        }
        self.y += 10.0;
    }

    /// At most [`MAX_CELL_LINES`] lines; the last one says how many more there were.
    fn cut_lines(&self, lines: Vec<Vec<Unit>>) -> Vec<Vec<Unit>> {
        if lines.len() <= MAX_CELL_LINES {
            return lines;
        }
        let more = lines.len() - (MAX_CELL_LINES - 1);
        let mut kept: Vec<Vec<Unit>> = lines.into_iter().take(MAX_CELL_LINES - 1).collect();
        kept.push(self.units(Slot::Sans, &format!("… ({more} more lines)")));
        kept
    }

    /// At most `max` lines; a cut last line ends with `mark`.
    fn keep_lines(
        &self,
        lines: Vec<Vec<Unit>>,
        max: usize,
        slot: Slot,
        mark: &str,
    ) -> Vec<Vec<Unit>> {
        let cut = lines.len() > max;
        let mut kept: Vec<Vec<Unit>> = lines.into_iter().take(max).collect();
        if cut {
            if let Some(last) = kept.last_mut() {
                let mark = self.units(slot, mark);
                for _ in 0..mark.len().max(1) {
                    last.pop();
                }
                last.extend(mark);
            }
        }
        kept
    }

    /// The pages, each with "page X of Y" at the bottom, and a line on the last one when the
    /// page limit cut the rest.
    pub(super) fn finish(mut self) -> Vec<Page> {
        if self.cut {
            let note = self.units(
                Slot::Bold,
                &format!(
                    "Cut here (at most {MAX_PAGES} pages and {MAX_RUNS} runs of text): the full \
                     report is in the archived report.md."
                ),
            );
            self.draw(MARGIN, BOTTOM + 14.0, 8.5, &note, MUTED);
        }
        let total = self.pages.len();
        for i in 0..total {
            let label = self.units(Slot::Sans, &format!("page {} of {total}", i + 1));
            let w: f32 = label.iter().map(|u| u.em() * 8.5).sum();
            let last = self.pages.len() - 1;
            // Draw onto page i: swap it to the end for `draw`, then back.
            self.pages.swap(i, last);
            self.draw(PAGE_W - MARGIN - w, PAGE_H - 28.0, 8.5, &label, MUTED);
            self.pages.swap(i, last);
        }
        self.pages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(pages: &[Page]) -> Vec<String> {
        pages
            .iter()
            .map(|p| {
                p.iter()
                    .filter_map(|i| match i {
                        Item::Text { text, .. } => Some(text.as_str()),
                        Item::Rect { .. } => None,
                    })
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect()
    }

    #[test]
    fn paragraphs_wrap_inside_the_margins_and_long_words_break() {
        let fonts = Fonts::new().expect("fonts");
        let mut layout = Layout::new(&fonts);
        let long = format!("{} {}", "word ".repeat(200), "x".repeat(400));
        layout.block(&Block::Para {
            spans: vec![Span {
                slot: Slot::Sans,
                text: long,
            }],
            depth: 0,
            marker: None,
        });
        let pages = layout.finish();
        for item in &pages[0] {
            if let Item::Text {
                x,
                text,
                size,
                slot,
                ..
            } = item
            {
                let mut units = Vec::new();
                fonts.units(*slot, text, &mut units);
                let right = x + units.iter().map(|u| u.em() * size).sum::<f32>();
                assert!(right <= PAGE_W - MARGIN + 0.01, "{text}: {right}");
                assert!(*x >= MARGIN - 0.01);
            }
        }
        let lines = &text_of(&pages)[0];
        assert!(lines.contains("word word"));
        assert!(lines.matches('x').count() == 400, "every x is drawn");
    }

    #[test]
    fn pages_are_numbered_and_cut_at_the_limit() {
        let fonts = Fonts::new().expect("fonts");
        let mut layout = Layout::new(&fonts);
        layout.block(&Block::Code(vec!["line".into(); 300]));
        let pages = layout.finish();
        let n = pages.len();
        assert!(n >= 3, "{n}");
        let text = text_of(&pages);
        for (i, page) in text.iter().enumerate() {
            assert!(page.ends_with(&format!("page {} of {n}", i + 1)), "{page}");
        }
        let mut layout = Layout::new(&fonts);
        layout.block(&Block::Code(vec!["line".into(); 100_000]));
        let pages = layout.finish();
        assert_eq!(pages.len(), MAX_PAGES);
        let last = text_of(&pages).pop().unwrap_or_default();
        assert!(last.contains("Cut here (at most 40 pages"), "{last}");
    }

    #[test]
    fn a_line_break_in_a_span_starts_a_new_line() {
        let fonts = Fonts::new().expect("fonts");
        let mut layout = Layout::new(&fonts);
        layout.block(&Block::Para {
            spans: vec![Span {
                slot: Slot::Sans,
                text: "first\nsecond".into(),
            }],
            depth: 1,
            marker: Some("•".into()),
        });
        let pages = layout.finish();
        let ys: Vec<f32> = pages[0]
            .iter()
            .filter_map(|i| match i {
                Item::Text { text, y, .. } if text == "first" || text == "second" => Some(*y),
                _ => None,
            })
            .collect();
        assert_eq!(ys.len(), 2);
        assert!(ys[1] > ys[0]);
    }
}
