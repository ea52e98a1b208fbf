//! The PDF's fonts: DejaVu Sans, Sans Bold and Sans Mono are built into the binary (Latin, Greek,
//! Cyrillic, Arabic, Hebrew, box drawing, many symbols). For what they lack (Chinese, Japanese,
//! Korean) the first of a few well-known system fonts is read, and only when a report needs it.
//! A character no font has is written as its code point, `[U+1F525]`: an alert's emoji or an
//! unknown script reads cleanly and stays searchable, never as an empty box.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;

use skrifa::instance::{LocationRef, Size};
use skrifa::raw::TableProvider as _;
use skrifa::{FontRef, MetadataProvider as _};

/// Which font a piece of text is set in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Slot {
    Sans,
    Bold,
    Mono,
    /// The system font for scripts DejaVu lacks.
    Fallback,
}

/// System fonts with CJK coverage, tried in this order (Debian and Ubuntu, Fedora, Arch).
const FALLBACK_FONTS: &[(&str, u32)] = &[
    (
        "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
        0,
    ),
    (
        "/usr/share/fonts/google-droid-sans-fonts/DroidSansFallbackFull.ttf",
        0,
    ),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 0),
    (
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
        0,
    ),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
];

/// The largest system font read (a CJK font is 4 to 20 MB).
const MAX_FALLBACK_BYTES: u64 = 32 * 1024 * 1024;

type Bytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// One font: its bytes, krilla's handle, and the advances looked up so far.
pub(super) struct Face {
    data: Bytes,
    index: u32,
    pub(super) pdf: krilla::text::Font,
    advances: RefCell<HashMap<char, Option<f32>>>,
}

impl Face {
    fn new(data: Bytes, index: u32) -> Option<Face> {
        // Both parsers must accept it: skrifa measures, krilla embeds.
        FontRef::from_index(data.as_ref().as_ref(), index).ok()?;
        let pdf = krilla::text::Font::new(krilla::Data::from(data.clone()), index)?;
        Some(Face {
            data,
            index,
            pdf,
            advances: RefCell::new(HashMap::new()),
        })
    }

    /// The advance of `c` in em, or None when the font has no glyph for it.
    fn advance(&self, c: char) -> Option<f32> {
        if let Some(known) = self.advances.borrow().get(&c) {
            return *known;
        }
        let measured = FontRef::from_index(self.data.as_ref().as_ref(), self.index)
            .ok()
            .and_then(|font| {
                let glyph = font.charmap().map(c)?;
                let upem = f32::from(font.head().ok()?.units_per_em().max(1));
                let width = font
                    .glyph_metrics(Size::unscaled(), LocationRef::default())
                    .advance_width(glyph)?;
                Some(width / upem)
            });
        self.advances.borrow_mut().insert(c, measured);
        measured
    }
}

/// One unit of laid-out text: a character in the font that has it, or a character no font has,
/// written as its code point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Unit {
    Char { slot: Slot, c: char, em: f32 },
    CodePoint { slot: Slot, c: char, em: f32 },
}

impl Unit {
    pub(super) fn em(&self) -> f32 {
        match self {
            Unit::Char { em, .. } | Unit::CodePoint { em, .. } => *em,
        }
    }

    pub(super) fn is_space(&self) -> bool {
        matches!(self, Unit::Char { c: ' ', .. })
    }
}

/// The fonts of one PDF.
pub(super) struct Fonts {
    sans: Face,
    bold: Face,
    mono: Face,
    fallback: OnceCell<Option<Face>>,
}

impl Fonts {
    /// The built-in fonts; None only if they cannot be parsed (a broken build).
    pub(super) fn new() -> Option<Fonts> {
        let face = |bytes: &'static [u8]| Face::new(Arc::new(bytes), 0);
        Some(Fonts {
            sans: face(dejavu::sans::regular())?,
            bold: face(dejavu::sans::bold())?,
            mono: face(dejavu::sans_mono::regular())?,
            fallback: OnceCell::new(),
        })
    }

    pub(super) fn face(&self, slot: Slot) -> Option<&Face> {
        match slot {
            Slot::Sans => Some(&self.sans),
            Slot::Bold => Some(&self.bold),
            Slot::Mono => Some(&self.mono),
            Slot::Fallback => self.fallback(),
        }
    }

    /// The system font CJK text would be set in: the first one that loads.
    pub(super) fn fallback_path() -> Option<&'static str> {
        FALLBACK_FONTS
            .iter()
            .map(|(path, _)| *path)
            .find(|path| std::fs::metadata(path).is_ok_and(|m| m.len() <= MAX_FALLBACK_BYTES))
    }

    fn fallback(&self) -> Option<&Face> {
        self.fallback
            .get_or_init(|| {
                FALLBACK_FONTS.iter().find_map(|(path, index)| {
                    let size = std::fs::metadata(path).ok()?.len();
                    if size > MAX_FALLBACK_BYTES {
                        return None;
                    }
                    let bytes: Bytes = Arc::new(std::fs::read(path).ok()?);
                    Face::new(bytes, *index)
                })
            })
            .as_ref()
    }

    /// The units of `text` set in `slot`: each character in the first font that has it.
    /// Tabs become four spaces. Written as their code point: control and format characters
    /// (zero-width spaces and joiners, direction overrides: the same in every font, never
    /// hidden), what no font has, and combining marks past [`MAX_MARKS`] on one character (a
    /// stack of thousands would be drawn through the lines above and take the shaper seconds).
    /// A variation selector right after an emoji's code point goes.
    pub(super) fn units(&self, slot: Slot, text: &str, out: &mut Vec<Unit>) {
        let mut marks = 0;
        for c in text.chars() {
            if c == '\t' {
                let em = self.sans_or(slot, ' ');
                out.extend(std::iter::repeat_n(Unit::Char { slot, c: ' ', em }, 4));
                marks = 0;
                continue;
            }
            let variation = matches!(c, '\u{fe00}'..='\u{fe0f}' | '\u{e0100}'..='\u{e01ef}');
            if variation && matches!(out.last(), Some(Unit::CodePoint { .. })) {
                continue;
            }
            if !c.is_control() && !is_format(c) && !variation {
                let found = match self.face(slot).and_then(|f| f.advance(c)) {
                    Some(em) => Some((slot, em)),
                    None => self
                        .fallback()
                        .and_then(|f| f.advance(c))
                        .map(|em| (Slot::Fallback, em)),
                };
                if let Some((font, em)) = found {
                    marks = if em == 0.0 { marks + 1 } else { 0 };
                    if marks <= MAX_MARKS {
                        out.push(Unit::Char { slot: font, c, em });
                        continue;
                    }
                    // One mark too many on this character: this and the rest of the stack
                    // are written out.
                } else {
                    marks = 0;
                }
            } else {
                marks = 0;
            }
            let em = code_point(c)
                .chars()
                .map(|d| self.sans_or(slot, d))
                .sum::<f32>();
            out.push(Unit::CodePoint { slot, c, em });
        }
    }

    /// The advance of an ASCII character in `slot` (all three built-in fonts have ASCII).
    fn sans_or(&self, slot: Slot, c: char) -> f32 {
        let slot = if slot == Slot::Fallback {
            Slot::Sans
        } else {
            slot
        };
        self.face(slot).and_then(|f| f.advance(c)).unwrap_or(0.6)
    }
}

/// Zero-width characters (combining marks) kept on one character; more are code points.
const MAX_MARKS: usize = 4;

/// Format characters that change how text reads without showing: zero-width spaces and
/// joiners, direction marks, embeddings, overrides and isolates, invisible operators, the byte
/// order mark, interlinear annotation, tags.
fn is_format(c: char) -> bool {
    crate::util::is_hiding_char(c)
        || matches!(
            c,
            '\u{00ad}'
                | '\u{180e}'
                | '\u{200d}'
                | '\u{2061}'..='\u{2064}'
                | '\u{206a}'..='\u{206f}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{e0001}'
                | '\u{e0020}'..='\u{e007f}'
        )
}

/// How a character no font has is written.
pub(super) fn code_point(c: char) -> String {
    format!("[U+{:04X}]", u32::from(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(fonts: &Fonts, slot: Slot, text: &str) -> Vec<Unit> {
        let mut out = Vec::new();
        fonts.units(slot, text, &mut out);
        out
    }

    #[test]
    fn latin_greek_cyrillic_and_arabic_are_in_the_built_in_fonts() {
        let fonts = Fonts::new().expect("built-in fonts");
        for text in ["Zürich Łódź São Paulo", "Ελλάδα", "Москва", "مرحبا", "שלום"]
        {
            for unit in units(&fonts, Slot::Sans, text) {
                assert!(
                    matches!(
                        unit,
                        Unit::Char {
                            slot: Slot::Sans,
                            ..
                        }
                    ),
                    "{text}: {unit:?}"
                );
            }
        }
    }

    #[test]
    fn emoji_and_control_characters_become_code_points() {
        let fonts = Fonts::new().expect("built-in fonts");
        let got = units(&fonts, Slot::Mono, "a\u{1f525}\u{fe0f}\u{7}\tb");
        assert_eq!(got.len(), 1 + 1 + 1 + 4 + 1, "{got:?}");
        assert!(matches!(
            got[1],
            Unit::CodePoint {
                c: '\u{1f525}',
                slot: Slot::Mono,
                ..
            }
        ));
        assert!(matches!(got[2], Unit::CodePoint { c: '\u{7}', .. }));
        assert!(got[3..7].iter().all(Unit::is_space));
        // A code point is as wide as its text: "[U+1F525]" is nine monospace cells.
        let cell = got[0].em();
        assert!((got[1].em() - 9.0 * cell).abs() < 1e-3, "{got:?}");
        assert_eq!(code_point('\u{1f525}'), "[U+1F525]");
        assert_eq!(code_point('\u{7}'), "[U+0007]");
    }

    /// Invisible characters show the same in every font, as code points; a stack of combining
    /// marks keeps four.
    #[test]
    fn format_characters_and_mark_stacks_become_code_points() {
        let fonts = Fonts::new().expect("built-in fonts");
        for slot in [Slot::Sans, Slot::Mono, Slot::Bold] {
            for c in [
                '\u{200b}',
                '\u{200d}',
                '\u{202e}',
                '\u{2066}',
                '\u{feff}',
                '\u{e0041}',
            ] {
                let got = units(&fonts, slot, &format!("ad{c}min"));
                assert_eq!(got.len(), 6, "{slot:?} {c:?}");
                assert!(
                    matches!(got[2], Unit::CodePoint { .. }),
                    "{slot:?} {c:?}: {got:?}"
                );
            }
        }
        let stack = format!("a{}", "\u{301}".repeat(10));
        let got = units(&fonts, Slot::Sans, &stack);
        let kept = got
            .iter()
            .filter(|u| matches!(u, Unit::Char { c: '\u{301}', .. }))
            .count();
        assert_eq!(kept, 4, "{got:?}");
        assert_eq!(
            got.iter()
                .filter(|u| matches!(u, Unit::CodePoint { .. }))
                .count(),
            6
        );
        // A variation selector after a letter shows; after an emoji's code point it goes.
        assert_eq!(units(&fonts, Slot::Sans, "x\u{fe0f}").len(), 2);
    }

    #[test]
    fn bold_is_wider_than_regular() {
        let fonts = Fonts::new().expect("built-in fonts");
        let width = |slot| {
            units(&fonts, slot, "Brute force")
                .iter()
                .map(Unit::em)
                .sum::<f32>()
        };
        assert!(width(Slot::Bold) > width(Slot::Sans));
    }
}
