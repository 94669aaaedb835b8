//! 考生签到表 (sign-in sheet): lies on the proctors' desk; each candidate signs beside their photo,
//! which the proctors compare with the face in front of them. A4 portrait, header and page
//! numbers on every page, the proctors sign the foot of each page.

use super::canvas::{Align, Canvas, Style, grey};
use super::layout::{MM, label_fill, row_baseline};
use super::sheet::{
    CONTENT_W, MARGIN, Page, RoomSheet, Sheet, draw_page_number, draw_title, fit, page_count,
    render_rooms,
};
use super::{TicketError, TicketFonts};

const HEAD_H: f32 = 24.0;
/// Tall enough for a signature (17.6 mm) and a 3:4 photo of 10.6 × 14.1 mm.
const ROW_H: f32 = 50.0;
const PHOTO_W: f32 = 30.0;
const PHOTO_H: f32 = 40.0;
/// Column widths in points; the signature takes what is left (48 mm).
const SEAT_W: f32 = 40.0;
const PHOTO_COL_W: f32 = 44.0;
const NAME_W: f32 = 104.0;
const TICKET_W: f32 = 116.0;
const ID_W: f32 = 70.0;
const SIGN_W: f32 = CONTENT_W - SEAT_W - PHOTO_COL_W - NAME_W - TICKET_W - ID_W;
/// Nothing of the table goes below this: the foot holds the counts and the proctors' signatures.
const FOOT_TOP: f32 = 37.0 * MM;

struct SignInSheet;

impl Sheet for SignInSheet {
    const NAME: &'static str = "考生签到表";
    const PER_PAGE: usize = 11;
    const WITH_PHOTOS: bool = true;

    fn draw(c: &mut Canvas<'_>, page: &Page<'_>) {
        let top = draw_header(c, page.room);
        debug_assert!(top - HEAD_H - Self::PER_PAGE as f32 * ROW_H >= FOOT_TOP);
        draw_table(c, page, top);
        draw_foot(c, page.room);
        draw_page_number(c, page.room, Self::NAME, page.k, page.n);
    }
}

/// Pages the sign-in sheet of a room with `rows` candidates takes.
pub fn sign_in_sheet_pages(rows: usize) -> usize {
    page_count(rows, SignInSheet::PER_PAGE)
}

/// The sign-in sheets of `rooms`, one after the other, as one PDF; each room's pages are numbered
/// on their own. `progress(done, total)` is called after each page.
pub fn render_sign_in_sheets(
    fonts: &TicketFonts,
    rooms: &[RoomSheet],
    progress: impl FnMut(usize, usize),
) -> Result<Vec<u8>, TicketError> {
    render_rooms::<SignInSheet>(fonts, rooms, progress)
}

/// Room and time, venue and seats; returns the top of the table.
fn draw_header(c: &mut Canvas<'_>, room: &RoomSheet) -> f32 {
    let y = draw_title(c, room, SignInSheet::NAME);
    let s = Style::new(11.0);
    let right = MARGIN + CONTENT_W;
    c.text(
        MARGIN,
        y - 14.0,
        &format!("考场：{}", room.room_label()),
        &s,
        Align::Left,
    );
    c.text(
        right,
        y - 14.0,
        &format!("考试时间：{}", room.time),
        &s,
        Align::Right,
    );
    let seats = format!("{} · 应到 {} 人", room.seat_range(), room.rows.len());
    let seats_w = c.text_width(&seats, &s);
    c.text(right, y - 30.0, &seats, &s, Align::Right);
    let venue = format!("考点：{}", room.venue);
    let venue_style = fit(c, &venue, CONTENT_W - seats_w - 16.0, &s, 7.0);
    c.text(MARGIN, y - 30.0, &venue, &venue_style, Align::Left);
    y - 40.0
}

fn draw_table(c: &mut Canvas<'_>, page: &Page<'_>, top: f32) {
    let columns = [
        ("座位", SEAT_W),
        ("照片", PHOTO_COL_W),
        ("姓名", NAME_W),
        ("准考证号", TICKET_W),
        ("身份证后四位", ID_W),
        ("考生签名", SIGN_W),
    ];
    let lefts: Vec<f32> = columns
        .iter()
        .scan(MARGIN, |x, (_, w)| {
            let left = *x;
            *x += w;
            Some(left)
        })
        .collect();
    c.fill_rect(MARGIN, top - HEAD_H, CONTENT_W, HEAD_H, label_fill());
    let head = Style::new(10.5).color(grey(0.15));
    for ((label, w), left) in columns.iter().zip(&lefts) {
        c.text(
            left + w / 2.0,
            row_baseline(top, HEAD_H, 10.5),
            label,
            &head,
            Align::Center,
        );
    }

    let mut y = top - HEAD_H;
    c.line((MARGIN, y), (MARGIN + CONTENT_W, y), 0.8, grey(0.0));
    if page.rows.is_empty() {
        let s = Style::new(12.0).color(grey(0.4));
        c.text(
            MARGIN + CONTENT_W / 2.0,
            row_baseline(y, ROW_H, 12.0),
            "本考场暂无考生",
            &s,
            Align::Center,
        );
        y -= ROW_H;
    }
    let seat_style = Style::new(13.0).bold();
    let ticket_style = Style::new(11.0);
    let id_style = Style::new(14.0).spacing(1.5);
    for (i, row) in page.rows.iter().enumerate() {
        let mid = |size: f32| row_baseline(y, ROW_H, size);
        let seat = format!("{:03}", row.seat);
        c.text(
            lefts[0] + SEAT_W / 2.0,
            mid(13.0),
            &seat,
            &seat_style,
            Align::Center,
        );
        draw_photo(c, page, i, lefts[1] + PHOTO_COL_W / 2.0, y - ROW_H / 2.0);
        draw_name(c, &row.name, lefts[2] + 6.0, y);
        let ticket = fit(c, &row.ticket_no, TICKET_W - 12.0, &ticket_style, 7.0);
        c.text(
            lefts[3] + 6.0,
            mid(ticket.size),
            &row.ticket_no,
            &ticket,
            Align::Left,
        );
        c.text(
            lefts[4] + ID_W / 2.0 + 0.75,
            mid(14.0),
            &row.id_last4,
            &id_style,
            Align::Center,
        );
        y -= ROW_H;
        c.line((MARGIN, y), (MARGIN + CONTENT_W, y), 0.5, grey(0.35));
    }
    for left in &lefts[1..] {
        c.line((*left, top), (*left, y), 0.5, grey(0.35));
    }
    c.stroke_rect(MARGIN, y, CONTENT_W, top - y, 1.0, grey(0.0));
}

/// The name at 14 pt, smaller for a long one; one too long for a single line at 11 pt goes on
/// two lines, broken after the middle dot of a transliterated name or else in the middle.
fn draw_name(c: &mut Canvas<'_>, name: &str, x: f32, row_top: f32) {
    const WIDTH: f32 = NAME_W - 12.0;
    let small = Style::new(11.0);
    let chars: Vec<char> = name.chars().collect();
    let split = chars
        .iter()
        .position(|&ch| ch == '·' || ch == '•')
        .map_or(chars.len().div_ceil(2), |dot| dot + 1);
    let (first, second): (String, String) = (
        chars[..split].iter().collect(),
        chars[split..].iter().collect(),
    );
    let two_lines = c.text_width(name, &small) > WIDTH
        && !second.is_empty()
        && c.text_width(&first, &small) <= WIDTH
        && c.text_width(&second, &small) <= WIDTH;
    if two_lines {
        let middle = row_baseline(row_top, ROW_H, 11.0);
        c.text(x, middle + 7.0, &first, &small, Align::Left);
        c.text(x, middle - 7.0, &second, &small, Align::Left);
    } else {
        let style = fit(c, name, WIDTH, &Style::new(14.0), 7.0);
        c.text(
            x,
            row_baseline(row_top, ROW_H, style.size),
            name,
            &style,
            Align::Left,
        );
    }
}

/// The photo fitted into its 3:4 box, or the framed empty box saying there is none.
fn draw_photo(c: &mut Canvas<'_>, page: &Page<'_>, i: usize, cx: f32, cy: f32) {
    let (x, y) = (cx - PHOTO_W / 2.0, cy - PHOTO_H / 2.0);
    match page.photos.get(i).and_then(Option::as_ref) {
        Some((id, ratio)) => {
            let (w, h) = if *ratio > PHOTO_H / PHOTO_W {
                (PHOTO_H / ratio, PHOTO_H)
            } else {
                (PHOTO_W, PHOTO_W * ratio)
            };
            c.place(id, cx - w / 2.0, cy - h / 2.0, w, h, 1.0);
            c.stroke_rect(cx - w / 2.0, cy - h / 2.0, w, h, 0.3, grey(0.5));
        }
        None => {
            c.fill_rect(x, y, PHOTO_W, PHOTO_H, grey(0.96));
            c.stroke_rect(x, y, PHOTO_W, PHOTO_H, 0.5, grey(0.55));
            let s = Style::new(7.0).color(grey(0.45));
            c.text(cx, cy - 2.5, "无照片", &s, Align::Center);
        }
    }
}

/// Counts to fill in and the two proctors' signatures.
fn draw_foot(c: &mut Canvas<'_>, room: &RoomSheet) {
    let s = Style::new(11.0);
    let line = |c: &mut Canvas<'_>, x: f32, y: f32, w: f32| {
        c.line((x, y - 3.0), (x + w, y - 3.0), 0.6, grey(0.0));
    };
    let y = 30.0 * MM;
    let expected = format!("应到 {} 人", room.rows.len());
    c.text(MARGIN, y, &expected, &s, Align::Left);
    let mut x = MARGIN + c.text_width(&expected, &s) + 24.0;
    for label in ["实到", "缺考"] {
        c.text(x, y, label, &s, Align::Left);
        x += c.text_width(label, &s) + 4.0;
        line(c, x, y, 42.0);
        x += 46.0;
        c.text(x, y, "人", &s, Align::Left);
        x += c.text_width("人", &s) + 24.0;
    }
    let y = 21.0 * MM;
    let half = CONTENT_W / 2.0;
    for (left, right) in [
        (MARGIN, MARGIN + half - 12.0),
        (MARGIN + half + 12.0, MARGIN + CONTENT_W),
    ] {
        c.text(left, y, "监考员签字：", &s, Align::Left);
        let from = left + c.text_width("监考员签字：", &s) + 2.0;
        line(c, from, y, right - from);
    }
}
