//! The mini-program API under `/api/v1`.

mod exams;
mod login;
mod pay;
mod registrations;
mod tickets;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};

use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/login", post(login::login))
        .route("/api/v1/exams", get(exams::list))
        .route(
            "/api/v1/registrations",
            get(registrations::list).post(registrations::create),
        )
        .route(
            "/api/v1/registrations/{id}",
            get(registrations::show)
                .put(registrations::resubmit)
                .delete(registrations::cancel),
        )
        .route("/api/v1/registrations/{id}/pay", post(pay::pay))
        .route(
            "/api/v1/registrations/{id}/photo",
            put(tickets::put_photo)
                .layer(DefaultBodyLimit::max(tickets::MAX_PHOTO_BYTES + 1))
                .merge(post(tickets::post_photo).layer(DefaultBodyLimit::max(
                    tickets::MAX_PHOTO_BYTES + tickets::MULTIPART_OVERHEAD,
                ))),
        )
        .route(
            "/api/v1/registrations/{id}/ticket.pdf",
            get(tickets::ticket_pdf),
        )
}
