use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::db::exams;
use crate::domain::states::ExamReview;
use crate::http::AppState;
use crate::http::error::ApiResult;
use crate::util::{now, to_rfc3339};
use examdesk_tickets::photo::PhotoRules;

#[derive(Serialize)]
pub struct ExamView {
    id: i64,
    code: String,
    title: String,
    fee_fen: i64,
    capacity: i64,
    remaining: i64,
    opens_at: String,
    closes_at: String,
    starts_at: String,
    venue: String,
    /// `none` or `manual`: whether staff approve a registration before it can be paid.
    review: ExamReview,
    /// Published before upload, so the mini-program can tell candidates what photo to take.
    photo_rules: PhotoRules,
}

pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<ExamView>>> {
    let exams = exams::list_visible(&state.db, now()).await?;
    Ok(Json(
        exams
            .into_iter()
            .map(|e| ExamView {
                remaining: e.remaining(),
                id: e.id,
                code: e.code,
                title: e.title,
                fee_fen: e.fee_fen,
                capacity: e.capacity,
                opens_at: to_rfc3339(e.opens_at),
                closes_at: to_rfc3339(e.closes_at),
                starts_at: to_rfc3339(e.starts_at),
                venue: e.venue,
                review: e.review,
                photo_rules: e.photo_rules,
            })
            .collect(),
    ))
}
