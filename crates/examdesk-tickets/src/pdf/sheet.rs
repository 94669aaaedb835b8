//! What the exam-day sheets of a room share: their input, the page frame (header block and page
//! numbers on every page) and the drawing of a whole document of rooms.

use printpdf::PdfPage;

use super::canvas::{Align, Canvas, Style, grey};
use super::layout::{MM, PAGE_H, PAGE_W, navy};
use super::{Document, TicketError, TicketPhoto, a4_page};
use crate::fonts::TicketFonts;

/// One room of an exam as printed on its door list and sign-in sheet, already formatted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSheet {
    pub exam_title: String,
    pub exam_code: String,
    /// When the exam is, e.g. "2026年6月20日 09:00".
    pub time: String,
    pub venue: String,
    pub room_no: u16,
    /// E.g. "第03考场" or "教学楼A座201".
    pub room_name: String,
    /// Seats in the room: the range printed is 001 to this.
    pub capacity: u16,
    /// The candidates of the room, in seat order.
    pub rows: Vec<SheetRow>,
}

/// One seated candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetRow {
    pub seat: u16,
    pub ticket_no: String,
    pub name: String,
    /// Only the last four characters of the ID number: the sheet lies open on the desk.
    pub id_last4: String,
    pub photo: Option<TicketPhoto>,
}

pub(super) const MARGIN: f32 = 15.0 * MM;
pub(super) const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN;

impl RoomSheet {
    /// "第03考场", or the staff's name with the number added when the name does not say it.
    pub(super) fn room_label(&self) -> String {
        let number = format!("{:02}", self.room_no);
        if self.room_name.contains(&number) || self.room_name.contains(&self.room_no.to_string()) {
            self.room_name.clone()
        } else {
            format!("第{number}考场（{}）", self.room_name)
        }
    }

    pub(super) fn seat_range(&self) -> String {
        format!("座位 001–{:03}", self.capacity.max(1))
    }
}

/// Pages a room of `rows` candidates needs at `per_page` a page; an empty room still gets one.
pub(super) fn page_count(rows: usize, per_page: usize) -> usize {
    rows.div_ceil(per_page.max(1)).max(1)
}

/// The largest style no bigger than `style` and no smaller than `min` points at which `text` fits
/// in `width`; names that do not fit even at `min` are printed at `min` and may run over.
pub(super) fn fit(c: &Canvas<'_>, text: &str, width: f32, style: &Style, min: f32) -> Style {
    let at_full = c.text_width(text, style);
    if at_full <= width {
        return style.clone();
    }
    let mut fitted = style.clone();
    fitted.size = (style.size * width / at_full).max(min).floor();
    fitted
}

/// "第 k 页 / 共 N 页" centred at the foot of the page, with the exam code and what the sheet is.
pub(super) fn draw_page_number(
    c: &mut Canvas<'_>,
    room: &RoomSheet,
    what: &str,
    k: usize,
    n: usize,
) {
    let y = 10.0 * MM;
    let s = Style::new(9.5).color(grey(0.3));
    c.text(
        PAGE_W / 2.0,
        y,
        &format!("第 {k} 页 / 共 {n} 页"),
        &s,
        Align::Center,
    );
    let small = Style::new(8.0).color(grey(0.45));
    c.text(
        MARGIN,
        y,
        &format!("{} · {what}", room.exam_code),
        &small,
        Align::Left,
    );
    c.text(
        PAGE_W - MARGIN,
        y,
        &format!("第{:02}考场", room.room_no),
        &small,
        Align::Right,
    );
}

/// The exam title and the sheet's name at the top of every page; returns the y below them.
pub(super) fn draw_title(c: &mut Canvas<'_>, room: &RoomSheet, sheet_name: &str) -> f32 {
    let title = Style::new(15.0).bold();
    let title = fit(c, &room.exam_title, CONTENT_W, &title, 10.0);
    c.text(
        PAGE_W / 2.0,
        PAGE_H - MARGIN - 12.0,
        &room.exam_title,
        &title,
        Align::Center,
    );
    let name = Style::new(22.0).bold().spacing(8.0).color(navy());
    // The last character's spacing is not ink: shift by half of it to centre what is printed.
    c.text(
        PAGE_W / 2.0 + 4.0,
        PAGE_H - MARGIN - 42.0,
        sheet_name,
        &name,
        Align::Center,
    );
    PAGE_H - MARGIN - 54.0
}

/// One page of a room's sheet being drawn: page `k` of the room's `n`.
pub(super) struct Page<'p> {
    pub room: &'p RoomSheet,
    pub rows: &'p [SheetRow],
    /// The embedded photo (XObject and height/width ratio) of each row, in row order.
    pub photos: Vec<Option<(printpdf::XObjectId, f32)>>,
    pub k: usize,
    pub n: usize,
}

/// A kind of room sheet: how many candidates a page holds, whether it shows photos, and how a
/// page is laid out.
pub(super) trait Sheet {
    /// What the sheet is called, in its heading and the document title.
    const NAME: &'static str;
    const PER_PAGE: usize;
    const WITH_PHOTOS: bool;
    fn draw(c: &mut Canvas<'_>, page: &Page<'_>);
}

/// Draws every room's pages into one PDF, each room numbered from its own first page (its sheets
/// go to its own door and desk). `progress(done, total)` counts pages over the whole document.
pub(super) fn render_rooms<S: Sheet>(
    fonts: &TicketFonts,
    rooms: &[RoomSheet],
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<u8>, TicketError> {
    let title = match rooms {
        [one] => format!("{} {} {}", one.exam_title, S::NAME, one.room_label()),
        [first, ..] => format!("{} {}（{}个考场）", first.exam_title, S::NAME, rooms.len()),
        [] => S::NAME.to_owned(),
    };
    let (mut doc, font_ids) = Document::new(fonts, &title);
    let total: usize = rooms
        .iter()
        .map(|r| page_count(r.rows.len(), S::PER_PAGE))
        .sum();
    let mut pages: Vec<PdfPage> = Vec::with_capacity(total);
    for room in rooms {
        let n = page_count(room.rows.len(), S::PER_PAGE);
        for (i, rows) in room
            .rows
            .chunks(S::PER_PAGE)
            .chain(room.rows.is_empty().then_some(&[][..]))
            .enumerate()
        {
            // A stored photo was checked on upload; one that still cannot be embedded prints as
            // the empty box rather than costing the room its sheet.
            let photos = if S::WITH_PHOTOS {
                rows.iter()
                    .map(|row| row.photo.as_ref().and_then(|p| doc.photo(p).ok()))
                    .collect()
            } else {
                Vec::new()
            };
            let page = Page {
                room,
                rows,
                photos,
                k: i + 1,
                n,
            };
            let mut canvas = Canvas::new(fonts, &font_ids);
            S::draw(&mut canvas, &page);
            pages.push(a4_page(canvas));
            progress(pages.len(), total);
        }
    }
    doc.finish(pages)
}

#[cfg(test)]
mod tests {
    use super::super::{door_list_pages, render_door_lists, render_sign_in_sheets};
    use super::*;
    use crate::photo::PhotoFormat;
    use image::{ImageEncoder, Rgb, RgbImage};
    use lopdf::Document as Lopdf;

    fn photo() -> TicketPhoto {
        let img = RgbImage::from_fn(300, 400, |x, y| {
            let (dx, dy) = (x as f32 - 150.0, y as f32 - 140.0);
            if dx * dx + dy * dy < 70.0 * 70.0 || y > 280 {
                Rgb([236, 236, 236])
            } else {
                Rgb([67, 142, 219])
            }
        });
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85)
            .write_image(img.as_raw(), 300, 400, image::ExtendedColorType::Rgb8)
            .unwrap();
        TicketPhoto {
            bytes,
            format: PhotoFormat::Jpeg,
        }
    }

    fn room(room_no: u16, candidates: u16) -> RoomSheet {
        let names = [
            "王小明",
            "欧阳晓东",
            "李䶮",
            "𠀀明",
            "阿卜杜热合曼·买买提",
            "张伟",
        ];
        RoomSheet {
            exam_title: "2026年上半年全国计算机等级考试".into(),
            exam_code: "NCRE26".into(),
            time: "2026年6月20日 09:00".into(),
            venue: "北京市海淀区中关村南大街12号 实验中学".into(),
            room_no,
            room_name: format!("第{room_no:02}考场"),
            capacity: candidates.max(30),
            rows: (1..=candidates)
                .map(|seat| SheetRow {
                    seat,
                    ticket_no: format!("NCRE26{room_no:02}{seat:03}X"),
                    name: names[usize::from(seat) % names.len()].into(),
                    id_last4: format!("{:04}", 1000 + seat),
                    photo: (seat % 3 != 0).then(photo),
                })
                .collect(),
        }
    }

    fn fonts() -> TicketFonts {
        TicketFonts::bundled().unwrap()
    }

    fn texts(pdf: &[u8]) -> Vec<String> {
        let doc = Lopdf::load_mem(pdf).unwrap();
        let pages = doc.get_pages();
        pages
            .keys()
            .map(|n| {
                doc.extract_text(&[*n])
                    .unwrap_or_default()
                    .replace(['\n', ' '], "")
            })
            .collect()
    }

    fn images(pdf: &[u8]) -> usize {
        let doc = Lopdf::load_mem(pdf).unwrap();
        doc.objects
            .values()
            .filter(|o| {
                o.as_stream()
                    .ok()
                    .and_then(|s| s.dict.get(b"Subtype").ok())
                    .and_then(|v| v.as_name().ok())
                    == Some(b"Image".as_slice())
            })
            .count()
    }

    #[test]
    fn a_big_room_runs_over_pages_each_with_header_and_number() {
        let fonts = fonts();
        let big = room(1, 60);
        let mut calls = Vec::new();
        let pdf = render_sign_in_sheets(&fonts, std::slice::from_ref(&big), |done, total| {
            calls.push((done, total))
        })
        .unwrap();
        let pages = texts(&pdf);
        assert_eq!(pages.len(), 6, "11 candidates a page");
        assert_eq!(calls.last(), Some(&(6, 6)));
        for (k, text) in pages.iter().enumerate() {
            assert!(text.contains(&format!("第{}页/共6页", k + 1)), "{text}");
            assert!(text.contains("考生签到表") && text.contains("第01考场"));
            assert!(text.contains("监考员签字"));
        }
        assert!(pages[0].contains("NCRE2601001X") && pages[5].contains("NCRE2601060X"));
        assert!(!pages[0].contains("NCRE2601012X"), "seat 12 is on page 2");
        assert_eq!(images(&pdf), 1, "the one photo is embedded once");
        std::fs::write(
            std::env::temp_dir().join("examdesk-sign-in-sheet.pdf"),
            &pdf,
        )
        .unwrap();

        let pdf = render_door_lists(&fonts, &[big], |_, _| {}).unwrap();
        let pages = texts(&pdf);
        assert_eq!(pages.len(), door_list_pages(60));
        assert_eq!(pages.len(), 2);
        for (k, text) in pages.iter().enumerate() {
            assert!(text.contains(&format!("第{}页/共2页", k + 1)), "{text}");
            assert!(text.contains("座位001–060"), "{text}");
        }
        assert_eq!(images(&pdf), 0, "no photos on the door");
        std::fs::write(std::env::temp_dir().join("examdesk-door-list.pdf"), &pdf).unwrap();
    }

    #[test]
    fn rooms_are_numbered_each_on_their_own_and_empty_rooms_get_a_page() {
        let fonts = fonts();
        let rooms = [room(1, 12), room(2, 0), room(3, 5)];
        let pages = texts(&render_door_lists(&fonts, &rooms, |_, _| {}).unwrap());
        assert_eq!(pages.len(), 3);
        assert!(pages[1].contains("第02考场") && pages[1].contains("本考场暂无考生"));
        assert!(pages.iter().all(|p| p.contains("第1页/共1页")));
        let pages = texts(&render_sign_in_sheets(&fonts, &rooms, |_, _| {}).unwrap());
        assert_eq!(pages.len(), 2 + 1 + 1);
        assert!(pages[1].contains("第2页/共2页") && pages[2].contains("第1页/共1页"));
    }
}
