//! The CJK fonts printed on tickets, parsed once and shared, and the split of a text into runs
//! per font so a rare name character falls back to a second font instead of printing blank.
//!
//! Prepared subsets: printpdf subsets every font it embeds, once per document, and with the
//! 30,000-character primary font that walk (and cloning the parsed face into the document) was
//! most of the time of a ticket. So for each exam a subset of the primary font is prepared once
//! — the exam's fixed texts plus the pool of characters candidates' fields are made of
//! (`assets/fonts/prepared-pool.txt`) — and a ticket hands printpdf that small font instead;
//! printpdf still subsets it to the glyphs the page uses and writes the PDF.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

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
/// Characters every prepared subset holds besides the exam's fixed texts (GB2312's hanzi,
/// punctuation and full-width forms, printable ASCII); see `make-prepared-pool.py`.
static PREPARED_POOL: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/fonts/prepared-pool.txt"
));
/// Prepared subsets kept at once: one per exam whose tickets are being drawn. Each is a 1.2 MB
/// font (the pool's 7,048 characters with their composite parts, 12,700 glyphs); exams whose
/// fixed texts are all in the pool share one entry.
const PREPARED_CAPACITY: usize = 4;

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
    /// Advance (em) of every character a prepared subset has. Its cmap is thousands of short
    /// segments (GB2312 is scattered over the Unicode block) and the parser looks a character
    /// up segment by segment; a page measures a few thousand characters.
    advances: Option<HashMap<char, f32>>,
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
            advances: None,
        })
    }

    pub fn has_char(&self, c: char) -> bool {
        if let Some(advances) = &self.advances {
            return advances.contains_key(&c);
        }
        self.parsed
            .lookup_glyph_index(c as u32)
            .is_some_and(|gid| gid != 0)
    }

    /// Advance width of `c` in em (0 when the face lacks it).
    pub fn advance_em(&self, c: char) -> f32 {
        if let Some(advances) = &self.advances {
            return advances.get(&c).copied().unwrap_or(0.0);
        }
        match self.parsed.lookup_glyph_index(c as u32) {
            Some(gid) => f32::from(self.parsed.get_horizontal_advance(gid)) / self.units_per_em,
            None => 0.0,
        }
    }
}

/// The faces a ticket is printed with, in preference order. Cheap to clone: parse once at
/// start-up and hand clones to every render (clones share the prepared-subset cache).
#[derive(Debug, Clone)]
pub struct TicketFonts {
    faces: Arc<Vec<Arc<FontFace>>>,
    prepared: Arc<PreparedSubsets>,
}

/// How documents were drawn since start-up, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PreparedStats {
    /// Documents drawn from a prepared subset that was already there.
    pub hits: u64,
    /// Prepared subsets built (a new exam, or one evicted from the cache).
    pub builds: u64,
    /// Documents drawn from the whole fonts because a candidate's field has a character the
    /// prepared subset lacks (a rare name character), or the subset could not be built.
    pub full_fonts: u64,
}

/// A bounded, thread-safe cache of prepared subsets of the primary face, keyed by the
/// characters beyond the pool that the exam's fixed texts need (usually none).
#[derive(Debug)]
struct PreparedSubsets {
    pool: HashSet<char>,
    /// Most recently used first. The slot is filled outside the lock, so a render waiting for
    /// its exam's subset does not hold up renders of other exams.
    entries: Mutex<VecDeque<(Vec<char>, Arc<PreparedSlot>)>>,
    hits: AtomicU64,
    builds: AtomicU64,
    full_fonts: AtomicU64,
}

/// `None` once building failed: such documents use the whole fonts.
type PreparedSlot = OnceLock<Option<Arc<FontFace>>>;

impl PreparedSubsets {
    fn new() -> Self {
        let mut pool: HashSet<char> = PREPARED_POOL.chars().filter(|c| *c != '\n').collect();
        pool.insert(' ');
        Self {
            pool,
            entries: Mutex::new(VecDeque::with_capacity(PREPARED_CAPACITY)),
            hits: AtomicU64::new(0),
            builds: AtomicU64::new(0),
            full_fonts: AtomicU64::new(0),
        }
    }

    /// The slot for `key`, moved to the front; a new empty slot when missing (the least
    /// recently used is dropped beyond the capacity; documents still using it keep their Arc).
    fn slot(&self, key: Vec<char>) -> Arc<PreparedSlot> {
        // A poisoned lock only means another render panicked mid-update of this list of
        // Arcs; the list itself is still consistent.
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = entries.iter().position(|(k, _)| *k == key) {
            let entry = entries.remove(i).map(|(_, slot)| slot);
            if let Some(slot) = entry {
                entries.push_front((key, Arc::clone(&slot)));
                return slot;
            }
        }
        let slot = Arc::new(PreparedSlot::new());
        entries.push_front((key, Arc::clone(&slot)));
        entries.truncate(PREPARED_CAPACITY);
        slot
    }
}

/// A subset of `primary` holding `chars` (those it has), parsed as a face of its own.
fn build_prepared(primary: &FontFace, chars: impl Iterator<Item = char>) -> Option<FontFace> {
    let mut glyphs: BTreeMap<u16, String> = BTreeMap::new();
    // Same glyphs, same horizontal metrics: the subset's advances are the primary's.
    let mut advances: HashMap<char, f32> = HashMap::new();
    for c in chars {
        if let Some(gid) = primary
            .parsed
            .lookup_glyph_index(c as u32)
            .filter(|g| *g != 0)
        {
            glyphs.entry(gid).or_insert_with(|| c.to_string());
            advances.insert(c, primary.advance_em(c));
        }
    }
    let subset = printpdf::subset_font(&primary.parsed, &glyphs).ok()?;
    let mut face = FontFace::from_bytes(
        &format!("{} (prepared subset)", primary.name),
        &subset.bytes,
        0,
    )
    .ok()?;
    // The subset has no name table; keep the family's name on the PDF's /BaseFont.
    face.parsed.font_name = primary.parsed.font_name.clone();
    face.advances = Some(advances);
    Some(face)
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
            faces: Arc::new(faces.into_iter().map(Arc::new).collect()),
            prepared: Arc::new(PreparedSubsets::new()),
        })
    }

    pub fn faces(&self) -> &[Arc<FontFace>] {
        &self.faces
    }

    pub fn prepared_stats(&self) -> PreparedStats {
        let p = &self.prepared;
        PreparedStats {
            hits: p.hits.load(Ordering::Relaxed),
            builds: p.builds.load(Ordering::Relaxed),
            full_fonts: p.full_fonts.load(Ordering::Relaxed),
        }
    }

    /// The faces to draw one document with: the exam's prepared subset of the primary face in
    /// front of the whole faces, or these fonts unchanged when a character of `variable` (the
    /// candidates' fields) is one the primary face has but the subset lacks — such a document
    /// embeds one subset of the whole primary face, as before, instead of two fonts.
    ///
    /// `fixed` is what every ticket of the exam prints (title, times, venue, notice, the
    /// page's own labels): it decides which subset. The whole primary face stays in the chain
    /// behind the subset, so a fixed label missed here still prints (as a second font).
    pub fn for_document(
        &self,
        fixed: impl IntoIterator<Item = char>,
        variable: impl IntoIterator<Item = char>,
    ) -> TicketFonts {
        let primary = &self.faces[0];
        let pool = &self.prepared.pool;
        let mut key: Vec<char> = fixed
            .into_iter()
            .filter(|c| !pool.contains(c) && primary.has_char(*c))
            .collect();
        key.sort_unstable();
        key.dedup();

        let slot = self.prepared.slot(key.clone());
        let mut built = false;
        let face = slot.get_or_init(|| {
            built = true;
            build_prepared(primary, pool.iter().copied().chain(key.iter().copied())).map(Arc::new)
        });
        let counter = |c: &AtomicU64| {
            c.fetch_add(1, Ordering::Relaxed);
        };
        if built {
            counter(&self.prepared.builds);
        }
        let Some(face) = face else {
            counter(&self.prepared.full_fonts);
            return self.clone();
        };
        if variable
            .into_iter()
            .any(|c| !face.has_char(c) && primary.has_char(c))
        {
            counter(&self.prepared.full_fonts);
            return self.clone();
        }
        if !built {
            counter(&self.prepared.hits);
        }
        let mut faces = Vec::with_capacity(self.faces.len() + 1);
        faces.push(Arc::clone(face));
        faces.extend(self.faces.iter().cloned());
        TicketFonts {
            faces: Arc::new(faces),
            prepared: Arc::clone(&self.prepared),
        }
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
