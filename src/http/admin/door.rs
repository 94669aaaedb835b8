//! Exam day at the door: the check-in button on the verify page, the check-in itself, and the
//! attendance of an exam per room with its CSV exports.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::csv::{CsvWriter, as_text};
use super::page::{self, Nav, PageError, PageResult, Perm, Staff};
use crate::db::checkins::{self, Entrant, RoomAttendance};
use crate::db::exam_edits::Actor;
use crate::db::exams::{self, Exam};
use crate::db::registrations::{self, Registration};
use crate::domain::checkin::DoorCheck;
use crate::http::AppState;
use crate::util::now;
use examdesk_tickets::token::{TokenClaims, verify_token};

#[derive(Deserialize, Default)]
pub struct VerifyQuery {
    /// What the check-in just did: `checked_in`, `again` or `refused`.
    pub result: Option<String>,
}

/// The check-in part of the verify page.
pub struct DoorBox {
    /// "已于 09:12 由 wang 在 第1考场 登记入场".
    pub first: Option<String>,
    /// Why the candidate cannot be let in now, if so.
    pub refusal: Option<String>,
    /// What the last press of the button did.
    pub result: Option<&'static str>,
    pub result_ok: bool,
}

fn door_check(r: &Registration, exam: &Exam, claims: &TokenClaims) -> DoorCheck {
    DoorCheck {
        status: r.status,
        current_ticket: r.ticket_no.as_deref() == Some(claims.ticket_no.as_str()),
        starts_at: exam.starts_at,
        late_minutes: exam.late_minutes,
    }
}

fn describe(first: &checkins::CheckIn) -> String {
    let room = first
        .room
        .as_deref()
        .map(|r| format!("在{r}"))
        .unwrap_or_default();
    format!(
        "已于 {} 由 {} {room}登记入场",
        page::when(first.at),
        first.actor
    )
}

pub async fn door_box(
    state: &AppState,
    r: &Registration,
    exam: &Exam,
    claims: &TokenClaims,
    result: Option<&str>,
) -> PageResult<DoorBox> {
    let first = checkins::find(&state.db, r.id).await?;
    let refusal = match first {
        Some(_) => None,
        None => door_check(r, exam, claims)
            .admit(now())
            .err()
            .map(|why| why.message(exam.late_minutes)),
    };
    let (result, result_ok) = match result {
        Some("checked_in") => (Some("登记入场成功。"), true),
        Some("again") => (Some("该考生此前已登记入场，本次未重复登记。"), false),
        Some("refused") => (Some("未能登记入场，本次尝试已记录。"), false),
        _ => (None, false),
    };
    Ok(DoorBox {
        first: first.as_ref().map(describe),
        refusal,
        result,
        result_ok,
    })
}

/// `POST /verify/{token}/check-in`: any signed-in staff member lets the candidate in once.
pub async fn check_in(
    State(state): State<AppState>,
    staff: Staff,
    Path(token): Path<String>,
) -> PageResult<Response> {
    let Ok(claims) = verify_token(state.secret.expose().as_bytes(), &token) else {
        tracing::warn!(admin = %staff.0.username, "check-in with a forged ticket QR code");
        return Err(PageError::bad_request(
            "二维码不是本系统签发的，或已被篡改，不能登记入场。",
        ));
    };
    let r = registrations::get(&state.db, claims.registration_id)
        .await?
        .ok_or_else(|| PageError::bad_request("二维码对应的报名记录不存在，不能登记入场。"))?;
    let exam = exams::get(&state.db, r.exam_id)
        .await?
        .ok_or_else(PageError::internal)?;
    let who = Entrant {
        registration_id: r.id,
        exam_id: exam.id,
        room_id: registrations::room_id(&state.db, r.id).await?,
    };
    let actor = Actor {
        admin_id: staff.0.admin_id,
        username: &staff.0.username,
    };
    let at = now();
    let result = match checkins::find(&state.db, r.id).await? {
        Some(_) => "again",
        None => match door_check(&r, &exam, &claims).admit(at) {
            Ok(()) => {
                let (_, new) = checkins::record(&state.db, &who, &actor, at).await?;
                if new {
                    tracing::info!(admin = %staff.0.username, registration = r.id, "candidate checked in");
                    "checked_in"
                } else {
                    "again"
                }
            }
            Err(why) => {
                checkins::refuse(&state.db, &who, why, &actor, at).await?;
                tracing::warn!(admin = %staff.0.username, registration = r.id, reason = %why, "check-in refused");
                "refused"
            }
        },
    };
    Ok(Redirect::to(&format!("/verify/{token}?result={result}")).into_response())
}

struct RoomRow {
    room_no: i64,
    room: String,
    expected: i64,
    checked_in: i64,
    absent: i64,
    refused: i64,
}

fn room_row(a: &RoomAttendance) -> RoomRow {
    RoomRow {
        room_no: a.room_no,
        room: a.room.clone(),
        expected: a.expected,
        checked_in: a.checked_in,
        absent: a.absent(),
        refused: a.refused,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "attendance.html")]
struct AttendancePage {
    nav: Nav,
    exam: super::exams::ExamRow,
    rooms: Vec<RoomRow>,
    total: RoomRow,
    can_export: bool,
    updated: String,
    /// During the exam day the page reloads itself.
    live: bool,
}

async fn exam_of(state: &AppState, id: i64) -> PageResult<Exam> {
    exams::get(&state.db, id)
        .await?
        .ok_or_else(|| PageError::not_found("这场考试"))
}

/// `/admin/exams/{id}/attendance`: expected, checked in, absent and refused per room.
pub async fn attendance(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> PageResult<Response> {
    let exam = exam_of(&state, id).await?;
    let rooms = checkins::attendance(&state.db, id).await?;
    let sum = |f: fn(&RoomAttendance) -> i64| rooms.iter().map(f).sum::<i64>();
    let total = RoomRow {
        room_no: 0,
        room: "合计".into(),
        expected: sum(|r| r.expected),
        checked_in: sum(|r| r.checked_in),
        absent: sum(RoomAttendance::absent),
        refused: sum(|r| r.refused),
    };
    let at = now();
    let live = (exam.starts_at - 6 * 3600..exam.starts_at + 6 * 3600).contains(&at);
    Ok(AttendancePage {
        nav: staff.nav("exams"),
        exam: super::exams::row(&exam),
        rooms: rooms.iter().map(room_row).collect(),
        total,
        can_export: staff.can(Perm::Export),
        updated: page::when(at),
        live,
    }
    .into_response())
}

#[derive(Deserialize, Default)]
pub struct ExportQuery {
    /// `absent` for the absentee list; everyone otherwise.
    #[serde(default)]
    only: String,
}

/// `/admin/exams/{id}/attendance.csv`: everyone expected with their check-in, or (`?only=absent`)
/// those who did not come in.
pub async fn export(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Query(query): Query<ExportQuery>,
) -> PageResult<Response> {
    staff.require(Perm::Export)?;
    let exam = exam_of(&state, id).await?;
    let absent_only = query.only == "absent";
    let lines = checkins::lines(&state.db, id, absent_only).await?;
    let mut csv = CsvWriter::new();
    csv.row([
        "考场号",
        "考场",
        "座位号",
        "准考证号",
        "姓名",
        "身份证号",
        "入场状态",
        "入场时间",
        "登记人",
    ]);
    for l in &lines {
        let state_text = match (l.checked_in_at, l.refused) {
            (Some(_), _) => "已入场".to_string(),
            (None, Some(why)) => format!("拒绝入场：{}", refusal_label(why)),
            (None, None) => "缺考".to_string(),
        };
        csv.row([
            l.room_no.to_string(),
            l.room.clone(),
            l.seat_no.to_string(),
            as_text(&l.ticket_no),
            l.name.clone(),
            as_text(&l.id_number),
            state_text,
            l.checked_in_at.map(page::when).unwrap_or_default(),
            l.checked_in_by.clone().unwrap_or_default(),
        ]);
    }
    tracing::info!(admin = %staff.0.username, exam = %exam.code, rows = lines.len(), absent_only, "attendance exported");
    let filename = if absent_only {
        format!("absent-{}.csv", exam.code)
    } else {
        format!("attendance-{}.csv", exam.code)
    };
    Ok(csv.into_download(&filename))
}

fn refusal_label(why: crate::domain::states::CheckinRefusal) -> &'static str {
    use crate::domain::states::CheckinRefusal as R;
    match why {
        R::Void => "准考证无效",
        R::OtherDay => "非当天考试",
        R::TooLate => "迟到超时",
    }
}
