//! A page being drawn: text in the right font per run, boxes, lines and placed XObjects, as
//! printpdf operations. Every text call opens and closes its own text section, so no text
//! operator can end up outside one (the blank-page bug).

use printpdf::{
    Color, FontId, Greyscale, Line, LinePoint, Op, PaintMode, PdfFontHandle, Point, Pt, Rect, Rgb,
    TextItem, TextRenderingMode, WindingOrder, XObjectId, XObjectTransform,
};

use crate::fonts::TicketFonts;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Center,
    Right,
}

/// Rounds to 1/100 pt (far below a printer dot) so numbers print as "51.02", not "51.023624":
/// every page of a bulk PDF repeats them, and short numbers deflate better.
fn r2(v: f32) -> f32 {
    (v * 100.0).round() / 100.0
}

pub fn grey(level: f32) -> Color {
    Color::Greyscale(Greyscale::new(r2(level), None))
}

pub fn rgb(r: u8, g: u8, b: u8) -> Color {
    let c = |v: u8| (f32::from(v) / 255.0 * 1000.0).round() / 1000.0;
    Color::Rgb(Rgb::new(c(r), c(g), c(b), None))
}

/// Text style: size in points, colour, and a faux bold (fill + thin outline) for headings,
/// since the shipped fonts have a single weight.
#[derive(Debug, Clone)]
pub struct Style {
    pub size: f32,
    pub color: Color,
    pub bold: bool,
    /// Extra space after each character, in points.
    pub spacing: f32,
}

impl Style {
    pub fn new(size: f32) -> Self {
        Self {
            size,
            color: grey(0.0),
            bold: false,
            spacing: 0.0,
        }
    }

    pub fn bold(mut self) -> Self {
        self.bold = true;
        self
    }

    pub fn color(mut self, color: Color) -> Self {
        self.color = color;
        self
    }

    pub fn spacing(mut self, spacing: f32) -> Self {
        self.spacing = spacing;
        self
    }
}

pub struct Canvas<'a> {
    fonts: &'a TicketFonts,
    font_ids: &'a [FontId],
    pub ops: Vec<Op>,
}

impl<'a> Canvas<'a> {
    /// `font_ids[i]` is the document's id of `fonts.faces()[i]`.
    pub fn new(fonts: &'a TicketFonts, font_ids: &'a [FontId]) -> Self {
        Self {
            fonts,
            font_ids,
            ops: Vec::with_capacity(256),
        }
    }

    pub fn text_width(&self, text: &str, style: &Style) -> f32 {
        self.fonts.width(text, style.size) + style.spacing * text.chars().count() as f32
    }

    /// Draws one line of text with its baseline at `y`; `x` is the left edge, centre or right
    /// edge depending on `align`.
    pub fn text(&mut self, x: f32, y: f32, text: &str, style: &Style, align: Align) {
        if text.is_empty() {
            return;
        }
        let width = self.text_width(text, style);
        let left = match align {
            Align::Left => x,
            Align::Center => x - width / 2.0,
            // The last character's spacing is not ink: keep the right edge flush.
            Align::Right => x - width + style.spacing,
        };
        self.ops.push(Op::StartTextSection);
        self.ops.push(Op::SetFillColor {
            col: style.color.clone(),
        });
        if style.bold {
            self.ops.push(Op::SetOutlineColor {
                col: style.color.clone(),
            });
            self.ops.push(Op::SetOutlineThickness {
                pt: Pt(r2(style.size * 0.03)),
            });
            self.ops.push(Op::SetTextRenderingMode {
                mode: TextRenderingMode::FillStroke,
            });
        }
        if style.spacing != 0.0 {
            self.ops.push(Op::SetCharacterSpacing {
                multiplier: style.spacing,
            });
        }
        self.ops.push(Op::SetTextCursor {
            pos: Point {
                x: Pt(r2(left)),
                y: Pt(r2(y)),
            },
        });
        for run in self.fonts.runs(text) {
            let font = self.font_ids[run.face].clone();
            self.ops.push(Op::SetFont {
                font: PdfFontHandle::External(font),
                size: Pt(style.size),
            });
            self.ops.push(Op::ShowText {
                items: vec![TextItem::Text(run.text)],
            });
        }
        if style.spacing != 0.0 {
            self.ops.push(Op::SetCharacterSpacing { multiplier: 0.0 });
        }
        if style.bold {
            self.ops.push(Op::SetTextRenderingMode {
                mode: TextRenderingMode::Fill,
            });
        }
        self.ops.push(Op::EndTextSection);
    }

    /// Breaks `text` into lines no wider than `width`. CJK text breaks between any two
    /// characters, except that closing punctuation never starts a line.
    pub fn wrap(&self, text: &str, width: f32, style: &Style) -> Vec<String> {
        let mut lines = Vec::new();
        let mut line = String::new();
        let mut line_width = 0.0;
        for c in text.chars() {
            let w = self.fonts.width(c.encode_utf8(&mut [0; 4]), style.size) + style.spacing;
            if line_width + w > width && !line.is_empty() && !is_closing_punct(c) {
                lines.push(std::mem::take(&mut line));
                line_width = 0.0;
            }
            line.push(c);
            line_width += w;
        }
        if !line.is_empty() {
            lines.push(line);
        }
        lines
    }

    pub fn fill_rect(&mut self, x: f32, y: f32, w: f32, h: f32, color: Color) {
        self.ops.push(Op::SetFillColor { col: color });
        self.ops.push(Op::DrawRectangle {
            rectangle: rect(x, y, w, h, PaintMode::Fill),
        });
    }

    pub fn stroke_rect(&mut self, x: f32, y: f32, w: f32, h: f32, width: f32, color: Color) {
        self.ops.push(Op::SetOutlineColor { col: color });
        self.ops.push(Op::SetOutlineThickness { pt: Pt(width) });
        self.ops.push(Op::DrawRectangle {
            rectangle: rect(x, y, w, h, PaintMode::Stroke),
        });
    }

    pub fn line(&mut self, from: (f32, f32), to: (f32, f32), width: f32, color: Color) {
        self.ops.push(Op::SetOutlineColor { col: color });
        self.ops.push(Op::SetOutlineThickness { pt: Pt(width) });
        self.ops.push(Op::DrawLine {
            line: Line {
                points: vec![point(from), point(to)],
                is_closed: false,
            },
        });
    }

    /// Places an XObject whose own space is the unit square (images) or `unit` × `unit`
    /// (the QR form) into the box at (x, y) of size w × h.
    pub fn place(&mut self, id: &XObjectId, x: f32, y: f32, w: f32, h: f32, unit: f32) {
        self.ops.push(Op::UseXobject {
            id: id.clone(),
            transform: XObjectTransform {
                translate_x: Some(Pt(r2(x))),
                translate_y: Some(Pt(r2(y))),
                scale_x: Some(r2(w / unit * 100.0) / 100.0),
                scale_y: Some(r2(h / unit * 100.0) / 100.0),
                no_auto_scale: true,
                ..Default::default()
            },
        });
    }
}

fn point((x, y): (f32, f32)) -> LinePoint {
    LinePoint {
        p: Point {
            x: Pt(r2(x)),
            y: Pt(r2(y)),
        },
        bezier: false,
    }
}

fn rect(x: f32, y: f32, w: f32, h: f32, mode: PaintMode) -> Rect {
    Rect {
        x: Pt(r2(x)),
        y: Pt(r2(y)),
        width: Pt(r2(w)),
        height: Pt(r2(h)),
        mode: Some(mode),
        winding_order: Some(WindingOrder::NonZero),
    }
}

fn is_closing_punct(c: char) -> bool {
    "，。、；：？！）》」』”’,.;:?!)".contains(c)
}
