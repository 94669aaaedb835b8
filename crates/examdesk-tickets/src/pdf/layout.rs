//! Where everything sits on the A4 page. Units are points from the bottom-left corner.

use printpdf::XObjectId;

use super::TicketData;
use super::canvas::{Align, Canvas, Style, grey, rgb};

pub const PAGE_W: f32 = 595.276;
pub const PAGE_H: f32 = 841.89;
pub(super) const MM: f32 = 72.0 / 25.4;
const LEFT: f32 = 18.0 * MM;
const CONTENT_W: f32 = PAGE_W - 2.0 * LEFT;
const LABEL_W: f32 = 27.0 * MM;
const PHOTO_COL_W: f32 = 38.0 * MM;
const ROW_H: f32 = 12.0 * MM;
const PHOTO_W: f32 = 30.0 * MM;
const PHOTO_H: f32 = 40.0 * MM;
const QR_SIDE: f32 = 40.0 * MM;
/// Baseline offset below a row's middle that centres CJK glyphs optically.
const BASELINE_DROP: f32 = 0.36;

/// The page's own labels, drawn on every ticket: they belong to the exam's prepared font
/// subset (see [`crate::fonts::TicketFonts::for_document`]). A label missing here still
/// prints, from the whole font as a second embedded font; a test checks that none is missing.
pub(super) const FIXED_TEXTS: &[&str] = &[
    "准考证",
    "（请用 A4 纸打印，考试时与本人有效身份证件一同携带）",
    "姓　　名身份证号准考证号考　　场座 位 号考试时间考试地点",
    "照片（未上传）",
    "入场核验二维码",
    "请保持清晰，勿折叠涂改",
    "考生须知",
    "考生签名：监考员核验签名：（入场时当场签写）（核验人像与证件后签写）",
    "考试代码 本准考证仅限本人使用，涂改无效",
    "0123456789.",
];

/// Placed resources of one page.
pub struct PageImages<'a> {
    /// Photo XObject and its height/width ratio.
    pub photo: Option<(&'a XObjectId, f32)>,
    /// QR form XObject and its side in modules.
    pub qr: (&'a XObjectId, f32),
}

pub(super) fn navy() -> printpdf::Color {
    rgb(0x1F, 0x3A, 0x68)
}

pub(super) fn label_fill() -> printpdf::Color {
    rgb(0xEE, 0xF2, 0xF7)
}

pub(super) fn row_baseline(top: f32, h: f32, size: f32) -> f32 {
    top - h / 2.0 - size * BASELINE_DROP
}

pub fn draw_ticket(c: &mut Canvas<'_>, t: &TicketData, images: &PageImages<'_>) {
    let center = PAGE_W / 2.0;
    c.text(
        center,
        PAGE_H - 24.0 * MM,
        &t.exam_title,
        &Style::new(17.0).bold(),
        Align::Center,
    );
    c.text(
        center + 7.0,
        PAGE_H - 38.0 * MM,
        "准考证",
        &Style::new(30.0).bold().spacing(14.0).color(navy()),
        Align::Center,
    );
    c.text(
        center,
        PAGE_H - 45.0 * MM,
        "（请用 A4 纸打印，考试时与本人有效身份证件一同携带）",
        &Style::new(9.0).color(grey(0.35)),
        Align::Center,
    );

    let table_top = PAGE_H - 51.0 * MM;
    let table_bottom = draw_table(c, t, images, table_top);
    draw_notice_and_qr(c, t, images, table_bottom - 9.0 * MM);
    draw_signatures(c);
    draw_footer(c, t);
}

/// The candidate table; returns its bottom edge.
fn draw_table(c: &mut Canvas<'_>, t: &TicketData, images: &PageImages<'_>, top: f32) -> f32 {
    let value_style = Style::new(12.0);
    let strong = Style::new(14.0).bold();
    let seat = format!("{:02}", t.seat);
    let beside_photo: [(&str, &str, &Style); 5] = [
        ("姓　　名", &t.candidate_name, &strong),
        ("身份证号", &t.id_number, &value_style),
        ("准考证号", &t.ticket_no, &strong),
        ("考　　场", &t.room, &value_style),
        ("座 位 号", &seat, &strong),
    ];
    let full_width_value = CONTENT_W - LABEL_W - 6.0 * MM;
    let venue_lines = c.wrap(&t.venue, full_width_value, &value_style);
    let venue_h = ROW_H.max(venue_lines.len() as f32 * 16.0 + 12.0);
    let heights: Vec<f32> = [ROW_H; 6].into_iter().chain([venue_h]).collect();
    let bottom = top - heights.iter().sum::<f32>();

    // Label column background first, so the grid draws over it.
    c.fill_rect(LEFT, bottom, LABEL_W, top - bottom, label_fill());

    let label_style = Style::new(11.5).color(grey(0.2));
    let value_x = LEFT + LABEL_W + 3.0 * MM;
    let mut y = top;
    for (label, value, style) in beside_photo {
        c.text(
            LEFT + LABEL_W / 2.0,
            row_baseline(y, ROW_H, 11.5),
            label,
            &label_style,
            Align::Center,
        );
        c.text(
            value_x,
            row_baseline(y, ROW_H, style.size),
            value,
            style,
            Align::Left,
        );
        y -= ROW_H;
    }
    c.text(
        LEFT + LABEL_W / 2.0,
        row_baseline(y, ROW_H, 11.5),
        "考试时间",
        &label_style,
        Align::Center,
    );
    c.text(
        value_x,
        row_baseline(y, ROW_H, 12.0),
        &t.starts_at,
        &value_style,
        Align::Left,
    );
    y -= ROW_H;
    c.text(
        LEFT + LABEL_W / 2.0,
        row_baseline(y, venue_h, 11.5),
        "考试地点",
        &label_style,
        Align::Center,
    );
    let first = y - venue_h / 2.0 + (venue_lines.len() as f32 - 1.0) * 8.0 - 12.0 * BASELINE_DROP;
    for (i, line) in venue_lines.iter().enumerate() {
        c.text(
            value_x,
            first - i as f32 * 16.0,
            line,
            &value_style,
            Align::Left,
        );
    }

    // Grid: outer frame, row lines (short ones beside the photo), column lines.
    let photo_left = LEFT + CONTENT_W - PHOTO_COL_W;
    let photo_bottom = top - 5.0 * ROW_H;
    let line = grey(0.0);
    let mut y = top;
    for (i, h) in heights.iter().enumerate() {
        y -= h;
        if i + 1 < heights.len() {
            let right = if i < 4 { photo_left } else { LEFT + CONTENT_W };
            c.line((LEFT, y), (right, y), 0.6, line.clone());
        }
    }
    c.line(
        (LEFT + LABEL_W, top),
        (LEFT + LABEL_W, bottom),
        0.6,
        line.clone(),
    );
    c.line(
        (photo_left, top),
        (photo_left, photo_bottom),
        0.6,
        line.clone(),
    );
    c.stroke_rect(LEFT, bottom, CONTENT_W, top - bottom, 1.2, line);

    draw_photo(c, images, photo_left, photo_bottom, top);
    bottom
}

fn draw_photo(c: &mut Canvas<'_>, images: &PageImages<'_>, left: f32, bottom: f32, top: f32) {
    let cx = left + PHOTO_COL_W / 2.0;
    let cy = (top + bottom) / 2.0;
    let (x, y) = (cx - PHOTO_W / 2.0, cy - PHOTO_H / 2.0);
    match images.photo {
        Some((id, ratio)) => {
            // Fit the photo into the 30 × 40 mm box without distorting it.
            let (w, h) = if ratio > PHOTO_H / PHOTO_W {
                (PHOTO_H / ratio, PHOTO_H)
            } else {
                (PHOTO_W, PHOTO_W * ratio)
            };
            c.place(id, cx - w / 2.0, cy - h / 2.0, w, h, 1.0);
        }
        None => {
            c.fill_rect(x, y, PHOTO_W, PHOTO_H, grey(0.95));
            c.stroke_rect(x, y, PHOTO_W, PHOTO_H, 0.5, grey(0.6));
            let s = Style::new(11.0).color(grey(0.5)).spacing(6.0);
            c.text(cx + 3.0, cy + 2.0, "照片", &s, Align::Center);
            let s = Style::new(8.0).color(grey(0.55));
            c.text(cx, cy - 12.0, "（未上传）", &s, Align::Center);
        }
    }
}

fn draw_notice_and_qr(c: &mut Canvas<'_>, t: &TicketData, images: &PageImages<'_>, top: f32) {
    let qr_left = LEFT + CONTENT_W - QR_SIDE;
    let (qr_id, modules) = images.qr;
    c.place(qr_id, qr_left, top - QR_SIDE, QR_SIDE, QR_SIDE, modules);
    let caption = Style::new(9.5).color(grey(0.2));
    c.text(
        qr_left + QR_SIDE / 2.0,
        top - QR_SIDE - 4.5 * MM,
        "入场核验二维码",
        &caption,
        Align::Center,
    );
    let small = Style::new(8.0).color(grey(0.45));
    c.text(
        qr_left + QR_SIDE / 2.0,
        top - QR_SIDE - 8.5 * MM,
        "请保持清晰，勿折叠涂改",
        &small,
        Align::Center,
    );

    let heading = Style::new(13.0).bold().color(navy());
    c.text(LEFT, top - 11.0, "考生须知", &heading, Align::Left);
    c.line(
        (LEFT, top - 17.0),
        (qr_left - 8.0 * MM, top - 17.0),
        0.8,
        navy(),
    );

    let body = Style::new(10.5).color(grey(0.1));
    let width = qr_left - 8.0 * MM - LEFT;
    let leading = 17.0;
    let mut y = top - 34.0;
    let notice = t.notice_lines();
    for (i, item) in notice.iter().enumerate() {
        let number = format!("{}.", i + 1);
        c.text(LEFT, y, &number, &body, Align::Left);
        for line in c.wrap(item, width - 14.0, &body) {
            c.text(LEFT + 14.0, y, &line, &body, Align::Left);
            y -= leading;
        }
        y -= 4.0;
    }
}

/// Signature boxes: the candidate signs on arrival, the proctor ticks after checking.
fn draw_signatures(c: &mut Canvas<'_>) {
    let top = 48.0 * MM;
    let h = 20.0 * MM;
    let half = CONTENT_W / 2.0;
    c.stroke_rect(LEFT, top - h, CONTENT_W, h, 0.8, grey(0.0));
    c.line((LEFT + half, top), (LEFT + half, top - h), 0.6, grey(0.0));
    let label = Style::new(11.0).color(grey(0.2));
    c.text(
        LEFT + 4.0 * MM,
        top - 7.0 * MM,
        "考生签名：",
        &label,
        Align::Left,
    );
    c.text(
        LEFT + half + 4.0 * MM,
        top - 7.0 * MM,
        "监考员核验签名：",
        &label,
        Align::Left,
    );
    let hint = Style::new(8.0).color(grey(0.5));
    c.text(
        LEFT + half - 3.0 * MM,
        top - h + 3.5 * MM,
        "（入场时当场签写）",
        &hint,
        Align::Right,
    );
    c.text(
        LEFT + CONTENT_W - 3.0 * MM,
        top - h + 3.5 * MM,
        "（核验人像与证件后签写）",
        &hint,
        Align::Right,
    );
}

fn draw_footer(c: &mut Canvas<'_>, t: &TicketData) {
    let y = 20.0 * MM;
    c.line((LEFT, y), (LEFT + CONTENT_W, y), 0.5, grey(0.6));
    let s = Style::new(8.5).color(grey(0.4));
    c.text(
        LEFT,
        y - 5.0 * MM,
        &format!("考试代码 {}", t.exam_code),
        &s,
        Align::Left,
    );
    c.text(
        PAGE_W / 2.0,
        y - 5.0 * MM,
        "本准考证仅限本人使用，涂改无效",
        &s,
        Align::Center,
    );
    c.text(
        LEFT + CONTENT_W,
        y - 5.0 * MM,
        &format!("准考证号 {}", t.ticket_no),
        &s,
        Align::Right,
    );
}
