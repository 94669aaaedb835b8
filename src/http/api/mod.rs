//! The mini-program API under `/api/v1`.

mod exams;
mod registrations;

use axum::Router;
use axum::routing::get;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/exams", get(exams::list))
        .route(
            "/api/v1/registrations",
            get(registrations::list).post(registrations::create),
        )
        .route(
            "/api/v1/registrations/{id}",
            get(registrations::show).delete(registrations::cancel),
        )
}
