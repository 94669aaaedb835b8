//! The exam-day sheets of a room for staff: 考场门贴 (door list) and 考生签到表 (sign-in sheet) as
//! PDFs, one room at a time, or every room of the exam at once as a bulk print with the progress
//! page the ticket batches have. Like the bulk tickets they hold personal data: `Perm::Export`.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{Redirect, Response};
use serde::Deserialize;

use super::page::{PageError, PageResult, Perm, Staff};
use super::tickets::{pdf_response, run_batch};
use crate::db::exams::{self, Exam};
use crate::db::{sheets, ticket_batches};
use crate::domain::states::BatchKind;
use crate::http::AppState;
use crate::util::now;
use examdesk_tickets::photo::PhotoFormat;
use examdesk_tickets::{RoomSheet, SheetRow, TicketError, TicketFonts, TicketPhoto};

/// The two room sheets; a bulk print of either is a ticket batch of its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sheet {
    DoorList,
    SignIn,
}

impl Sheet {
    fn of(kind: BatchKind) -> Option<Self> {
        match kind {
            BatchKind::DoorLists => Some(Sheet::DoorList),
            BatchKind::SignInSheets => Some(Sheet::SignIn),
            BatchKind::Tickets => None,
        }
    }

    fn kind(self) -> BatchKind {
        match self {
            Sheet::DoorList => BatchKind::DoorLists,
            Sheet::SignIn => BatchKind::SignInSheets,
        }
    }

    fn file_stem(self) -> &'static str {
        match self {
            Sheet::DoorList => "door-list",
            Sheet::SignIn => "sign-in-sheet",
        }
    }

    fn pages(self, candidates: usize) -> usize {
        match self {
            Sheet::DoorList => examdesk_tickets::door_list_pages(candidates),
            Sheet::SignIn => examdesk_tickets::sign_in_sheet_pages(candidates),
        }
    }

    fn render(
        self,
        fonts: &TicketFonts,
        rooms: &[RoomSheet],
        progress: impl FnMut(usize, usize),
    ) -> Result<Vec<u8>, TicketError> {
        match self {
            Sheet::DoorList => examdesk_tickets::render_door_lists(fonts, rooms, progress),
            Sheet::SignIn => examdesk_tickets::render_sign_in_sheets(fonts, rooms, progress),
        }
    }
}

/// `GET /admin/exams/{id}/rooms/{room_no}/door-list.pdf`
pub async fn door_list_pdf(
    State(state): State<AppState>,
    staff: Staff,
    Path((exam_id, room_no)): Path<(i64, String)>,
) -> PageResult<Response> {
    room_pdf(&state, &staff, exam_id, &room_no, Sheet::DoorList).await
}

/// `GET /admin/exams/{id}/rooms/{room_no}/sign-in-sheet.pdf`
pub async fn sign_in_sheet_pdf(
    State(state): State<AppState>,
    staff: Staff,
    Path((exam_id, room_no)): Path<(i64, String)>,
) -> PageResult<Response> {
    room_pdf(&state, &staff, exam_id, &room_no, Sheet::SignIn).await
}

async fn room_pdf(
    state: &AppState,
    staff: &Staff,
    exam_id: i64,
    room_no: &str,
    sheet: Sheet,
) -> PageResult<Response> {
    staff.require(Perm::Export)?;
    let exam = exams::get(&state.db, exam_id)
        .await?
        .ok_or_else(|| PageError::not_found("这场考试"))?;
    // A room number that is not a number names no room: the same 404 as an unknown one.
    let room_no: i64 = room_no
        .parse()
        .map_err(|_| PageError::not_found("这个考场"))?;
    let rooms = room_sheets(state, &exam, Some(room_no)).await?;
    if rooms.is_empty() {
        return Err(PageError::not_found("这个考场"));
    }
    // Drawing is CPU-bound: it waits for its turn with the tickets.
    let _turn = state
        .tickets
        .renders
        .acquire()
        .await
        .map_err(|_| PageError::internal())?;
    let fonts = state.tickets.fonts.clone();
    let pdf = tokio::task::spawn_blocking(move || sheet.render(&fonts, &rooms, |_, _| {}))
        .await
        .map_err(|_| PageError::internal())?
        .map_err(|e| {
            tracing::error!(exam_id, room_no, error = %e, "room sheet could not be drawn");
            PageError::internal()
        })?;
    let filename = format!("{}-{}-room{room_no:02}.pdf", sheet.file_stem(), exam.code);
    Ok(pdf_response(pdf, &filename))
}

/// The rooms of the exam (one, or all when `room_no` is `None`) with their candidates.
async fn room_sheets(
    state: &AppState,
    exam: &Exam,
    room_no: Option<i64>,
) -> Result<Vec<RoomSheet>, sqlx::Error> {
    let rooms = sheets::rooms(&state.db, exam.id).await?;
    let mut candidates = sheets::seated(&state.db, exam.id, room_no)
        .await?
        .into_iter()
        .peekable();
    let time = crate::util::to_china_time(exam.starts_at);
    let mut out = Vec::new();
    for room in rooms
        .into_iter()
        .filter(|r| room_no.is_none_or(|n| n == r.room_no))
    {
        let mut rows = Vec::new();
        while let Some(c) = candidates.next_if(|c| c.room_no == room.room_no) {
            rows.push(SheetRow {
                seat: c.seat_no.clamp(0, 999) as u16,
                id_last4: last_four(&c.id_number),
                photo: c.photo.map(|(content_type, bytes)| TicketPhoto {
                    format: if content_type == "image/png" {
                        PhotoFormat::Png
                    } else {
                        PhotoFormat::Jpeg
                    },
                    bytes,
                }),
                ticket_no: c.ticket_no,
                name: c.name,
            });
        }
        out.push(RoomSheet {
            exam_title: exam.title.clone(),
            exam_code: exam.code.clone(),
            time: time.clone(),
            venue: exam.venue.clone(),
            room_no: room.room_no.clamp(0, 99) as u16,
            room_name: room.name,
            capacity: room.capacity.clamp(0, 999) as u16,
            rows,
        });
    }
    Ok(out)
}

fn last_four(id_number: &str) -> String {
    let chars: Vec<char> = id_number.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

#[derive(Deserialize)]
pub struct BulkForm {
    #[serde(default)]
    kind: String,
}

/// `POST /admin/exams/{id}/sheets`: every room's door lists or sign-in sheets as one PDF, drawn
/// in the background; answers with the batch's progress page.
pub async fn start_batch(
    State(state): State<AppState>,
    staff: Staff,
    Path(exam_id): Path<i64>,
    Form(form): Form<BulkForm>,
) -> PageResult<Redirect> {
    staff.require(Perm::Export)?;
    let exam = exams::get(&state.db, exam_id)
        .await?
        .ok_or_else(|| PageError::not_found("这场考试"))?;
    let sheet = form
        .kind
        .parse::<BatchKind>()
        .ok()
        .and_then(Sheet::of)
        .ok_or_else(|| PageError::bad_request("请选择要打印的是考场门贴还是考生签到表。"))?;
    let rooms = room_sheets(&state, &exam, None).await?;
    if rooms.iter().all(|r| r.rows.is_empty()) {
        return Err(PageError::bad_request(
            "没有可打印的考场名单（尚无已缴费并分配座位的考生）。",
        ));
    }
    let pages: usize = rooms.iter().map(|r| sheet.pages(r.rows.len())).sum();
    let batch = ticket_batches::create(
        &state.db,
        exam.id,
        None,
        sheet.kind(),
        pages as i64,
        &staff.0.username,
        now(),
    )
    .await?;
    tracing::info!(admin = %staff.0.username, exam = %exam.code, batch, kind = %sheet.kind(), pages, "bulk room sheets started");
    let fonts = state.tickets.fonts.clone();
    tokio::spawn(async move {
        run_batch(&state, batch, move |pages_done| {
            sheet.render(&fonts, &rooms, |page, _| pages_done(page))
        })
        .await
    });
    Ok(Redirect::to(&format!("/admin/ticket-batches/{batch}")))
}

#[cfg(test)]
mod tests {
    use super::last_four;

    #[test]
    fn only_the_last_four_characters_of_the_id_number() {
        assert_eq!(last_four("11010519491231002X"), "002X");
        assert_eq!(last_four("123"), "123");
    }
}
