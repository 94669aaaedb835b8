//! The QR code as a module matrix and as the few rectangles that cover its dark modules, so it
//! is drawn as vector shapes: sharp on any printer, and a few hundred bytes in the PDF.

use qrcode::{Color, EcLevel, QrCode};
use thiserror::Error;

/// The quiet zone the QR standard asks for around the symbol, in modules.
pub const QUIET_ZONE: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("text does not fit in a QR code: {0}")]
pub struct QrError(String);

/// Dark/light modules of a QR symbol, without quiet zone, row by row from the top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrMatrix {
    size: usize,
    dark: Vec<bool>,
}

/// A dark rectangle in module units, origin at the symbol's top-left corner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModuleRect {
    pub x: usize,
    pub y: usize,
    pub w: usize,
    pub h: usize,
}

impl QrMatrix {
    /// Error correction M (15 %): survives a crease or a smudge and keeps the symbol small.
    pub fn encode(text: &str) -> Result<Self, QrError> {
        let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
            .map_err(|e| QrError(e.to_string()))?;
        let size = code.width();
        let dark = code
            .into_colors()
            .into_iter()
            .map(|c| c == Color::Dark)
            .collect();
        Ok(Self { size, dark })
    }

    /// Modules per side.
    pub fn size(&self) -> usize {
        self.size
    }

    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        x < self.size && y < self.size && self.dark[y * self.size + x]
    }

    /// Dark modules merged into horizontal runs, and runs with the same span in consecutive
    /// rows merged into taller rectangles: about a third of the shapes of one per module.
    pub fn rects(&self) -> Vec<ModuleRect> {
        let mut done: Vec<ModuleRect> = Vec::new();
        // Rectangles still growing downwards, keyed by their (x, w) span.
        let mut open: Vec<ModuleRect> = Vec::new();
        for y in 0..self.size {
            let mut row_runs = Vec::new();
            let mut x = 0;
            while x < self.size {
                if self.is_dark(x, y) {
                    let start = x;
                    while x < self.size && self.is_dark(x, y) {
                        x += 1;
                    }
                    row_runs.push((start, x - start));
                } else {
                    x += 1;
                }
            }
            let mut next_open = Vec::with_capacity(row_runs.len());
            for (x, w) in row_runs {
                match open.iter().position(|r| r.x == x && r.w == w) {
                    Some(i) => {
                        let mut r = open.swap_remove(i);
                        r.h += 1;
                        next_open.push(r);
                    }
                    None => next_open.push(ModuleRect { x, y, w, h: 1 }),
                }
            }
            done.append(&mut open);
            open = next_open;
        }
        done.append(&mut open);
        done.sort_by_key(|r| (r.y, r.x));
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rects_cover_exactly_the_dark_modules() {
        let m = QrMatrix::encode(
            "https://examdesk.example.cn/verify/AQHAxAEBR0syMDI2MDMwMTdYabcdefghijklmnop",
        )
        .unwrap();
        let mut covered = vec![false; m.size() * m.size()];
        for r in m.rects() {
            for y in r.y..r.y + r.h {
                for x in r.x..r.x + r.w {
                    assert!(!covered[y * m.size() + x], "overlap at {x},{y}");
                    covered[y * m.size() + x] = true;
                }
            }
        }
        for y in 0..m.size() {
            for x in 0..m.size() {
                assert_eq!(covered[y * m.size() + x], m.is_dark(x, y), "{x},{y}");
            }
        }
        let dark = m.dark.iter().filter(|d| **d).count();
        assert!(
            m.rects().len() * 2 < dark,
            "{} rects for {dark} modules",
            m.rects().len()
        );
    }

    #[test]
    fn verify_url_stays_a_small_symbol() {
        let url = format!("https://examdesk.example.cn/verify/{}", "A".repeat(40));
        let m = QrMatrix::encode(&url).unwrap();
        assert!(
            m.size() <= 37,
            "version 5 or lower, got {} modules",
            m.size()
        );
    }
}
