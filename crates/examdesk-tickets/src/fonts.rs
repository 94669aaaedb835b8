//! The CJK fonts printed on tickets, parsed once and shared, and the split of a text into runs
//! per font so a rare name character falls back to a second font instead of printing blank.

use std::sync::Arc;

use printpdf::ParsedFont;
use thiserror::Error;

/// WenQuanYi Micro Hei: face 0 of Debian's `.ttc` with hinting stripped (assets/fonts/README.md).
static PRIMARY_TTF: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/fonts/wqy-microhei-print.ttf"
));
/// The glyphs of Droid Sans Fallback that Micro Hei lacks (mostly CJK Extension A).
static FALLBACK_TTF: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/fonts/droid-fallback-ext.ttf"
));

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FontError {
    #[error("font {name} (face {index}) does not parse")]
    Unparsable { name: String, index: usize },
}

/// One parsed face and the name it is known by in logs.
#[derive(Debug)]
pub struct FontFace {
    pub name: String,
    pub(crate) parsed: ParsedFont,
    units_per_em: f32,
}

impl FontFace {
    pub fn from_bytes(name: &str, bytes: &[u8], index: usize) -> Result<Self, FontError> {
        let parsed = ParsedFont::from_bytes(bytes, index, &mut Vec::new()).ok_or_else(|| {
            FontError::Unparsable {
                name: name.to_owned(),
                index,
            }
        })?;
        let units_per_em = f32::from(parsed.pdf_font_metrics.units_per_em.max(1));
        Ok(Self {
            name: name.to_owned(),
            parsed,
            units_per_em,
        })
    }

    pub fn has_char(&self, c: char) -> bool {
        self.parsed
            .lookup_glyph_index(c as u32)
            .is_some_and(|gid| gid != 0)
    }

    /// Advance width of `c` in em (0 when the face lacks it).
    pub fn advance_em(&self, c: char) -> f32 {
        match self.parsed.lookup_glyph_index(c as u32) {
            Some(gid) => f32::from(self.parsed.get_horizontal_advance(gid)) / self.units_per_em,
            None => 0.0,
        }
    }
}

/// The faces a ticket is printed with, in preference order. Cheap to clone: parse once at
/// start-up and hand clones to every render.
#[derive(Debug, Clone)]
pub struct TicketFonts {
    faces: Arc<Vec<FontFace>>,
}

/// A stretch of text printed with one face.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub face: usize,
    pub text: String,
}

impl TicketFonts {
    /// The fonts shipped in `assets/fonts/`, built into the binary.
    pub fn bundled() -> Result<Self, FontError> {
        Self::new(vec![
            FontFace::from_bytes("WenQuanYi Micro Hei", PRIMARY_TTF, 0)?,
            FontFace::from_bytes("Droid Sans Fallback (extension subset)", FALLBACK_TTF, 0)?,
        ])
    }

    /// Faces in preference order; the first must cover Latin, digits and common CJK.
    pub fn new(faces: Vec<FontFace>) -> Result<Self, FontError> {
        if faces.is_empty() {
            return Err(FontError::Unparsable {
                name: "(no font given)".into(),
                index: 0,
            });
        }
        Ok(Self {
            faces: Arc::new(faces),
        })
    }

    pub fn faces(&self) -> &[FontFace] {
        &self.faces
    }

    /// Index of the first face that has `c`, or `None` when no face does.
    pub fn face_for(&self, c: char) -> Option<usize> {
        if c.is_whitespace() {
            return Some(0);
        }
        self.faces.iter().position(|f| f.has_char(c))
    }

    /// Characters of `text` that no face has: printed as the primary font's empty box and
    /// reported so the admin sees a warning instead of a silent gap.
    pub fn missing_chars(&self, text: &str) -> Vec<char> {
        let mut missing: Vec<char> = text
            .chars()
            .filter(|c| self.face_for(*c).is_none())
            .collect();
        missing.sort_unstable();
        missing.dedup();
        missing
    }

    /// Splits `text` into runs of one face each; characters no face has stay with face 0.
    pub fn runs(&self, text: &str) -> Vec<Run> {
        let mut runs: Vec<Run> = Vec::new();
        for c in text.chars() {
            let face = self.face_for(c).unwrap_or(0);
            match runs.last_mut() {
                Some(run) if run.face == face => run.text.push(c),
                _ => runs.push(Run {
                    face,
                    text: c.to_string(),
                }),
            }
        }
        runs
    }

    /// Width of `text` at `size` points, measured with the face each character is printed in.
    pub fn width(&self, text: &str, size: f32) -> f32 {
        text.chars()
            .map(|c| {
                let face = self.face_for(c).unwrap_or(0);
                self.faces[face].advance_em(c)
            })
            .sum::<f32>()
            * size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_fonts_cover_names_and_fall_back() {
        let fonts = TicketFonts::bundled().unwrap();
        assert_eq!(fonts.face_for('王'), Some(0));
        assert_eq!(fonts.face_for('7'), Some(0));
        assert_eq!(fonts.face_for('X'), Some(0));
        // 䶮 (U+4DAE, Extension A): in Droid Sans Fallback only.
        assert_eq!(fonts.face_for('䶮'), Some(1));
        // 𠀀 (U+20000, Extension B): in neither.
        assert_eq!(fonts.face_for('𠀀'), None);
        assert_eq!(fonts.missing_chars("刘䶮𠀀𠀀"), vec!['𠀀']);
    }

    #[test]
    fn runs_switch_font_per_character() {
        let fonts = TicketFonts::bundled().unwrap();
        let runs = fonts.runs("刘䶮明");
        assert_eq!(
            runs,
            vec![
                Run {
                    face: 0,
                    text: "刘".into()
                },
                Run {
                    face: 1,
                    text: "䶮".into()
                },
                Run {
                    face: 0,
                    text: "明".into()
                },
            ]
        );
    }

    #[test]
    fn widths_are_sensible() {
        let fonts = TicketFonts::bundled().unwrap();
        let cjk = fonts.width("准考证", 10.0);
        assert!((cjk - 30.0).abs() < 1.0, "{cjk}");
        let digits = fonts.width("0123456789", 10.0);
        assert!(digits > 40.0 && digits < 70.0, "{digits}");
    }
}
