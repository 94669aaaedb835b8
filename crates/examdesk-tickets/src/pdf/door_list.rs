//! 考场门贴 (door list): hung beside a room's door so candidates find their seat from a metre
//! away. Every page repeats the header (exam, time, venue, room, seat range) and is numbered.

use super::canvas::{Align, Canvas, Style, grey};
use super::layout::{PAGE_W, label_fill, navy, row_baseline};
use super::sheet::{
    CONTENT_W, MARGIN, Page, RoomSheet, Sheet, draw_page_number, draw_title, fit, page_count,
    render_rooms,
};
use super::{TicketError, TicketFonts};

/// Rows in each of a page's two columns.
const ROWS_PER_COLUMN: usize = 22;
const ROW_H: f32 = 24.0;
const HEAD_H: f32 = 22.0;
const GAP: f32 = 14.0;
const COL_W: f32 = (CONTENT_W - GAP) / 2.0;
const SEAT_W: f32 = 42.0;
const NAME_W: f32 = 106.0;
const TICKET_W: f32 = COL_W - SEAT_W - NAME_W;
/// Names print at 18 pt; five characters fit at that size, six at 16 pt. Only a longer name (a
/// transliterated one with its middle dot) shrinks below 16 pt to stay inside its cell.
const NAME_SIZE: f32 = 18.0;
const NAME_MIN: f32 = 10.0;

struct DoorList;

impl Sheet for DoorList {
    const NAME: &'static str = "考场门贴";
    const PER_PAGE: usize = 2 * ROWS_PER_COLUMN;
    const WITH_PHOTOS: bool = false;

    fn draw(c: &mut Canvas<'_>, page: &Page<'_>) {
        let top = draw_header(c, page.room);
        if page.rows.is_empty() {
            let s = Style::new(16.0).color(grey(0.4));
            c.text(
                PAGE_W / 2.0,
                top - 60.0,
                "本考场暂无考生",
                &s,
                Align::Center,
            );
        } else {
            // Balanced columns read down the left, then down the right, in seat order.
            let left = page.rows.len().div_ceil(2);
            let (first, second) = page.rows.split_at(left);
            draw_column(c, MARGIN, top, first);
            if !second.is_empty() {
                draw_column(c, MARGIN + COL_W + GAP, top, second);
            }
        }
        draw_page_number(c, page.room, Self::NAME, page.k, page.n);
    }
}

/// Pages the door list of a room with `rows` candidates takes.
pub fn door_list_pages(rows: usize) -> usize {
    page_count(rows, DoorList::PER_PAGE)
}

/// The door lists of `rooms`, one after the other, as one PDF; each room's pages are numbered on
/// their own. `progress(done, total)` is called after each page.
pub fn render_door_lists(
    fonts: &TicketFonts,
    rooms: &[RoomSheet],
    progress: impl FnMut(usize, usize),
) -> Result<Vec<u8>, TicketError> {
    render_rooms::<DoorList>(fonts, rooms, progress)
}

/// Room, seats, time and venue, big; returns the top of the table.
fn draw_header(c: &mut Canvas<'_>, room: &RoomSheet) -> f32 {
    let y = draw_title(c, room, DoorList::NAME);
    let center = PAGE_W / 2.0;
    let label = room.room_label();
    let big = fit(
        c,
        &label,
        CONTENT_W,
        &Style::new(34.0).bold().color(navy()),
        18.0,
    );
    c.text(center, y - 36.0, &label, &big, Align::Center);
    let seats = format!("{} · 本考场考生 {} 人", room.seat_range(), room.rows.len());
    c.text(
        center,
        y - 62.0,
        &seats,
        &Style::new(15.0).bold(),
        Align::Center,
    );
    let time = format!("考试时间：{}", room.time);
    c.text(center, y - 84.0, &time, &Style::new(13.0), Align::Center);
    let venue = format!("考点：{}", room.venue);
    let s = fit(
        c,
        &venue,
        CONTENT_W,
        &Style::new(12.0).color(grey(0.2)),
        7.0,
    );
    c.text(center, y - 102.0, &venue, &s, Align::Center);
    c.line(
        (MARGIN, y - 114.0),
        (MARGIN + CONTENT_W, y - 114.0),
        0.8,
        navy(),
    );
    y - 124.0
}

fn draw_column(c: &mut Canvas<'_>, x: f32, top: f32, rows: &[super::SheetRow]) {
    c.fill_rect(x, top - HEAD_H, COL_W, HEAD_H, label_fill());
    let head = Style::new(11.0).color(grey(0.2));
    let base = row_baseline(top, HEAD_H, 11.0);
    c.text(x + SEAT_W / 2.0, base, "座位", &head, Align::Center);
    c.text(x + SEAT_W + 6.0, base, "姓名", &head, Align::Left);
    c.text(
        x + SEAT_W + NAME_W + 4.0,
        base,
        "准考证号",
        &head,
        Align::Left,
    );

    let seat_style = Style::new(16.0).bold();
    let name_style = Style::new(NAME_SIZE);
    let ticket_style = Style::new(12.0).color(grey(0.15));
    let mut y = top - HEAD_H;
    for (i, row) in rows.iter().enumerate() {
        if i % 2 == 1 {
            c.fill_rect(x, y - ROW_H, COL_W, ROW_H, grey(0.95));
        }
        let seat = format!("{:03}", row.seat);
        c.text(
            x + SEAT_W / 2.0,
            row_baseline(y, ROW_H, 16.0),
            &seat,
            &seat_style,
            Align::Center,
        );
        let name = fit(c, &row.name, NAME_W - 10.0, &name_style, NAME_MIN);
        c.text(
            x + SEAT_W + 6.0,
            row_baseline(y, ROW_H, name.size),
            &row.name,
            &name,
            Align::Left,
        );
        let ticket = fit(c, &row.ticket_no, TICKET_W - 8.0, &ticket_style, 7.0);
        c.text(
            x + SEAT_W + NAME_W + 4.0,
            row_baseline(y, ROW_H, ticket.size),
            &row.ticket_no,
            &ticket,
            Align::Left,
        );
        y -= ROW_H;
        c.line((x, y), (x + COL_W, y), 0.4, grey(0.7));
    }
    c.line((x + SEAT_W, top), (x + SEAT_W, y), 0.4, grey(0.7));
    c.line(
        (x + SEAT_W + NAME_W, top),
        (x + SEAT_W + NAME_W, y),
        0.4,
        grey(0.7),
    );
    c.stroke_rect(x, y, COL_W, top - y, 0.9, grey(0.0));
}
