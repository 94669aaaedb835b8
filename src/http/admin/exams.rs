//! Exams: the list, the create and edit form (fee, capacity, rooms, windows, venue), and opening
//! or closing registration. Every change goes to the audit log with the change itself.

use crate::domain::states::ExamReview;
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::page::{self, Nav, PageError, PageResult, Perm, Staff};
use crate::db::exam_edits::{self, Actor, EditError, Room};
use crate::db::exams;
use crate::domain::exam::{DEFAULT_LATE_MINUTES, ExamField, ExamRule, NewExam, check_rooms};
use crate::domain::states::ExamStatus;
use crate::http::AppState;
use crate::util::now;
use examdesk_tickets::photo::PhotoRules;

pub struct ExamRow {
    pub id: i64,
    pub code: String,
    pub title: String,
    pub fee: String,
    pub seats: String,
    pub window: String,
    pub starts: String,
    pub venue: String,
    /// Taking registrations: the form offers to close it, else to open it.
    pub is_open: bool,
    pub status_label: &'static str,
    pub status_class: &'static str,
    /// Shown next to the title when staff approve each registration.
    pub manual_review: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "exams.html")]
struct ExamsPage {
    nav: Nav,
    exams: Vec<ExamRow>,
}

pub fn row(e: &exams::Exam) -> ExamRow {
    ExamRow {
        id: e.id,
        code: e.code.clone(),
        title: e.title.clone(),
        fee: page::yuan(e.fee_fen),
        seats: format!("{} / {}", e.seats_taken, e.capacity),
        window: format!("{} 至 {}", page::when(e.opens_at), page::when(e.closes_at)),
        starts: page::when(e.starts_at),
        venue: e.venue.clone(),
        is_open: e.status == ExamStatus::Open,
        status_label: page::status_label(e.status),
        status_class: page::status_class(e.status),
        manual_review: e.review == ExamReview::Manual,
    }
}

pub async fn list(State(state): State<AppState>, staff: Staff) -> PageResult<Response> {
    let exams = exam_edits::list_all(&state.db).await?;
    Ok(ExamsPage {
        nav: staff.nav("exams"),
        exams: exams.iter().map(row).collect(),
    }
    .into_response())
}

/// The form's fields as typed, so a refused form comes back with what was entered.
#[derive(Deserialize, Default, Clone)]
pub struct ExamForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    fee: String,
    #[serde(default)]
    capacity: String,
    #[serde(default)]
    opens: String,
    #[serde(default)]
    closes: String,
    #[serde(default)]
    starts: String,
    #[serde(default)]
    venue: String,
    #[serde(default)]
    rooms: String,
    /// The settings below are `None` when a client leaves the field out: the stored value (or the
    /// default, when creating) then stays, so an older form cannot reset them.
    review: Option<String>,
    late_minutes: Option<String>,
    photo_min_width: Option<String>,
    photo_min_height: Option<String>,
    /// Width and height as staff write them: `3:4`.
    photo_aspect: Option<String>,
    photo_aspect_tolerance_pct: Option<String>,
    photo_max_kb: Option<String>,
}

/// The settings of an exam beyond its identity and window: review, late entry, photo rules.
#[derive(Clone, Copy)]
struct Settings {
    review: ExamReview,
    late_minutes: i64,
    photo_rules: PhotoRules,
}

impl Settings {
    fn default_for_new() -> Self {
        Self {
            review: ExamReview::None,
            late_minutes: DEFAULT_LATE_MINUTES,
            photo_rules: PhotoRules::default(),
        }
    }

    fn of(exam: &exams::Exam) -> Self {
        Self {
            review: exam.review,
            late_minutes: exam.late_minutes,
            photo_rules: exam.photo_rules,
        }
    }
}

impl ExamForm {
    /// Fills the settings fields left out with `settings`, as the form shows them.
    fn with_settings(mut self, settings: Settings) -> Self {
        let r = settings.photo_rules;
        let fill = |field: &mut Option<String>, value: String| {
            field.get_or_insert(value);
        };
        fill(&mut self.review, settings.review.as_str().to_string());
        fill(&mut self.late_minutes, settings.late_minutes.to_string());
        fill(&mut self.photo_min_width, r.min_width.to_string());
        fill(&mut self.photo_min_height, r.min_height.to_string());
        fill(
            &mut self.photo_aspect,
            format!("{}:{}", r.aspect_width, r.aspect_height),
        );
        fill(
            &mut self.photo_aspect_tolerance_pct,
            r.aspect_tolerance_pct.to_string(),
        );
        fill(
            &mut self.photo_max_kb,
            r.max_bytes.div_ceil(1024).to_string(),
        );
        self
    }

    /// A settings field as the page shows it.
    fn shown(field: &Option<String>) -> &str {
        field.as_deref().unwrap_or_default()
    }

    fn is_manual_review(&self) -> bool {
        self.review.as_deref() == Some(ExamReview::Manual.as_str())
    }
}

/// `3:4`, also with a full-width colon as a Chinese keyboard types it.
fn parse_aspect(text: &str) -> Option<(u32, u32)> {
    let (w, h) = text.trim().split_once([':', '：'])?;
    Some((w.trim().parse().ok()?, h.trim().parse().ok()?))
}

/// Parses the settings fields; a field left out keeps `fallback`'s value, one that does not
/// parse is reported once and marked, so the rules do not report it again.
fn parse_settings(
    form: &ExamForm,
    fallback: Settings,
    errors: &mut Vec<String>,
    unparsed: &mut Vec<ExamField>,
) -> Settings {
    let mut out = fallback;
    let mut number = |text: &Option<String>, field: ExamField, message: &str| -> Option<u32> {
        let text = text.as_deref()?;
        match text.trim().parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                errors.push(format!("{message}，收到“{}”", text.trim()));
                unparsed.push(field);
                None
            }
        }
    };
    if let Some(n) = number(
        &form.late_minutes,
        ExamField::LateMinutes,
        "入场截止须为考试开始后的分钟数（0 到 1440 的整数）",
    ) {
        out.late_minutes = i64::from(n);
    }
    let rules = &mut out.photo_rules;
    if let Some(n) = number(
        &form.photo_min_width,
        ExamField::PhotoMinWidth,
        "照片最小宽度须为像素数（正整数）",
    ) {
        rules.min_width = n;
    }
    if let Some(n) = number(
        &form.photo_min_height,
        ExamField::PhotoMinHeight,
        "照片最小高度须为像素数（正整数）",
    ) {
        rules.min_height = n;
    }
    if let Some(n) = number(
        &form.photo_aspect_tolerance_pct,
        ExamField::PhotoTolerance,
        "照片宽高比允许偏差须为 0 到 50 的整数（百分比）",
    ) {
        rules.aspect_tolerance_pct = n;
    }
    if let Some(kb) = number(
        &form.photo_max_kb,
        ExamField::PhotoMaxBytes,
        "照片文件上限须为 KB 数（正整数）",
    ) {
        rules.max_bytes = kb.saturating_mul(1024);
    }
    if let Some(text) = form.photo_aspect.as_deref() {
        match parse_aspect(text) {
            Some((w, h)) => (rules.aspect_width, rules.aspect_height) = (w, h),
            None => {
                errors.push(format!(
                    "照片宽高比须写成“宽:高”，例如 3:4，收到“{}”",
                    text.trim()
                ));
                unparsed.push(ExamField::PhotoAspect);
            }
        }
    }
    if let Some(text) = form.review.as_deref() {
        match text.trim().parse::<ExamReview>() {
            Ok(review) => out.review = review,
            Err(_) => {
                errors.push(format!(
                    "资格审核须为“无需审核”或“人工审核”，收到“{}”",
                    text.trim()
                ));
                unparsed.push(ExamField::Review);
            }
        }
    }
    out
}

#[derive(Template, WebTemplate)]
#[template(path = "exam_form.html")]
struct ExamFormPage {
    nav: Nav,
    /// `None` while creating.
    exam_id: Option<i64>,
    is_open: bool,
    form: ExamForm,
    errors: Vec<String>,
    saved: bool,
}

fn rooms_text(rooms: &[Room]) -> String {
    rooms
        .iter()
        .map(|r| format!("{} {}", r.name, r.capacity))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One room per line: a name, then the number of seats (`第1考场 30`). Only the shape of a line
/// is checked here; the limits are `domain::exam`'s.
fn parse_rooms(text: &str, errors: &mut Vec<String>) -> Vec<Room> {
    let mut rooms = Vec::new();
    for (i, line) in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let (name, seats) = match line.rsplit_once([' ', '\t', ',', '，']) {
            Some((n, s)) => (n.trim(), s.trim()),
            None => ("", line),
        };
        match seats.parse::<i64>() {
            Ok(capacity) if !name.is_empty() => rooms.push(Room {
                room_no: i as i64 + 1,
                name: name.to_string(),
                capacity,
            }),
            _ => errors.push(ExamRule::RoomName { line: i + 1 }.to_string()),
        }
    }
    rooms
}

fn parse_form(
    form: &ExamForm,
    code: String,
    fallback: Settings,
) -> (NewExam, Vec<Room>, Vec<String>) {
    let mut errors = Vec::new();
    // Fields that did not parse are reported once, as such, and not again by the rules.
    let mut unparsed = Vec::new();
    let fee_fen = match page::parse_yuan(&form.fee) {
        Some(f) => f,
        None => {
            errors.push("报名费须为金额，单位元，最多两位小数，例如 50 或 49.50".into());
            unparsed.push(ExamField::Fee);
            0
        }
    };
    let capacity = match form.capacity.trim().parse::<i64>() {
        Ok(c) => c,
        Err(_) => {
            errors.push("报名人数上限须为正整数".into());
            unparsed.push(ExamField::Capacity);
            0
        }
    };
    let mut time = |text: &str, label: &str, field: ExamField| match page::from_local_input(text) {
        Some(t) => t,
        None => {
            errors.push(format!("{label}不是有效的日期时间"));
            unparsed.push(field);
            0
        }
    };
    let opens_at = time(&form.opens, "报名开始时间", ExamField::Opens);
    let closes_at = time(&form.closes, "报名截止时间", ExamField::Closes);
    let starts_at = time(&form.starts, "考试开始时间", ExamField::Starts);
    let rooms = parse_rooms(&form.rooms, &mut errors);
    let settings = parse_settings(form, fallback, &mut errors, &mut unparsed);
    let exam = NewExam {
        code,
        title: form.title.trim().to_string(),
        fee_fen,
        capacity,
        opens_at,
        closes_at,
        starts_at,
        venue: form.venue.trim().to_string(),
        review: settings.review,
        late_minutes: settings.late_minutes,
        photo_rules: settings.photo_rules,
    };
    let window = [ExamField::Opens, ExamField::Closes, ExamField::Starts];
    let window_unparsed = unparsed.iter().any(|f| window.contains(f));
    for rule in exam.broken_rules() {
        let field = rule.field();
        if unparsed.contains(&field) || (window_unparsed && window.contains(&field)) {
            continue;
        }
        errors.push(rule.to_string());
    }
    if !unparsed.contains(&ExamField::Capacity) && errors.is_empty() {
        errors.extend(
            check_rooms(capacity, &rooms)
                .iter()
                .map(ToString::to_string),
        );
    }
    (exam, rooms, errors)
}

pub async fn new_form(staff: Staff) -> PageResult<Response> {
    staff.require(Perm::EditExams)?;
    let t = now();
    let form = ExamForm {
        capacity: "100".into(),
        fee: "50.00".into(),
        opens: page::to_local_input(t - t % 3600 + 3600),
        closes: page::to_local_input(t - t % 3600 + 3600 + 14 * 86_400),
        starts: page::to_local_input(t - t % 3600 + 3600 + 21 * 86_400),
        rooms: "第1考场 30\n第2考场 30\n第3考场 30\n第4考场 10".into(),
        ..ExamForm::default()
    }
    .with_settings(Settings::default_for_new());
    Ok(ExamFormPage {
        nav: staff.nav("exams"),
        exam_id: None,
        is_open: false,
        form,
        errors: vec![],
        saved: false,
    }
    .into_response())
}

pub async fn create(
    State(state): State<AppState>,
    staff: Staff,
    Form(form): Form<ExamForm>,
) -> PageResult<Response> {
    staff.require(Perm::EditExams)?;
    let code = form.code.trim().to_uppercase();
    let (exam, rooms, mut errors) = parse_form(&form, code, Settings::default_for_new());
    if errors.is_empty() {
        let actor = Actor {
            admin_id: staff.0.admin_id,
            username: &staff.0.username,
        };
        match exam_edits::create(&state.db, &exam, &rooms, &actor, now()).await {
            Ok(id) => {
                return Ok(Redirect::to(&format!("/admin/exams/{id}/edit?saved=1")).into_response());
            }
            Err(EditError::Invalid(msg)) => errors.push(msg),
            Err(EditError::Rule(rule)) => errors.push(rule.to_string()),
            Err(EditError::Sql(e)) => return Err(e.into()),
        }
    }
    Ok((
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        ExamFormPage {
            nav: staff.nav("exams"),
            exam_id: None,
            is_open: false,
            form: form.with_settings(Settings::default_for_new()),
            errors,
            saved: false,
        },
    )
        .into_response())
}

async fn load(state: &AppState, id: i64) -> PageResult<exams::Exam> {
    exams::get(&state.db, id)
        .await?
        .ok_or_else(|| PageError::not_found("这场考试"))
}

#[derive(Deserialize, Default)]
pub struct SavedQuery {
    saved: Option<String>,
}

pub async fn edit_form(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    axum::extract::Query(query): axum::extract::Query<SavedQuery>,
) -> PageResult<Response> {
    staff.require(Perm::EditExams)?;
    let exam = load(&state, id).await?;
    let rooms = exam_edits::rooms(&state.db, id).await?;
    let form = ExamForm {
        code: exam.code.clone(),
        title: exam.title.clone(),
        fee: page::yuan(exam.fee_fen).trim_start_matches('¥').to_string(),
        capacity: exam.capacity.to_string(),
        opens: page::to_local_input(exam.opens_at),
        closes: page::to_local_input(exam.closes_at),
        starts: page::to_local_input(exam.starts_at),
        venue: exam.venue.clone(),
        rooms: rooms_text(&rooms),
        ..ExamForm::default()
    }
    .with_settings(Settings::of(&exam));
    Ok(ExamFormPage {
        nav: staff.nav("exams"),
        exam_id: Some(id),
        is_open: exam.status == ExamStatus::Open,
        form,
        errors: vec![],
        saved: query.saved.is_some(),
    }
    .into_response())
}

pub async fn update(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<ExamForm>,
) -> PageResult<Response> {
    staff.require(Perm::EditExams)?;
    let before = load(&state, id).await?;
    let (mut exam, rooms, mut errors) =
        parse_form(&form, before.code.clone(), Settings::of(&before));
    // The form shows minutes; a time left as shown keeps its stored seconds.
    let keep = |typed: i64, stored: i64| {
        if typed == stored - stored.rem_euclid(60) {
            stored
        } else {
            typed
        }
    };
    exam.opens_at = keep(exam.opens_at, before.opens_at);
    exam.closes_at = keep(exam.closes_at, before.closes_at);
    exam.starts_at = keep(exam.starts_at, before.starts_at);
    if errors.is_empty() {
        let actor = Actor {
            admin_id: staff.0.admin_id,
            username: &staff.0.username,
        };
        match exam_edits::update(&state.db, id, &exam, &rooms, &actor, now()).await {
            Ok(()) => {
                return Ok(Redirect::to(&format!("/admin/exams/{id}/edit?saved=1")).into_response());
            }
            Err(EditError::Invalid(msg)) => errors.push(msg),
            Err(EditError::Rule(rule)) => errors.push(rule.to_string()),
            Err(EditError::Sql(e)) => return Err(e.into()),
        }
    }
    let form = ExamForm {
        code: before.code.clone(),
        ..form
    }
    .with_settings(Settings::of(&before));
    Ok((
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        ExamFormPage {
            nav: staff.nav("exams"),
            exam_id: Some(id),
            is_open: before.status == ExamStatus::Open,
            form,
            errors,
            saved: false,
        },
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct StatusForm {
    status: String,
}

pub async fn set_status(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<StatusForm>,
) -> PageResult<Response> {
    staff.require(Perm::EditExams)?;
    load(&state, id).await?;
    let actor = Actor {
        admin_id: staff.0.admin_id,
        username: &staff.0.username,
    };
    let status: ExamStatus = form
        .status
        .parse()
        .map_err(|_| PageError::bad_request("未知的报名状态"))?;
    match exam_edits::set_status(&state.db, id, status, &actor, now()).await {
        Ok(_) => Ok(Redirect::to("/admin/exams").into_response()),
        Err(EditError::Invalid(msg)) => Err(PageError::bad_request(msg)),
        Err(EditError::Rule(rule)) => Err(PageError::bad_request(rule.to_string())),
        Err(EditError::Sql(e)) => Err(e.into()),
    }
}
