//! The mini-program API under `/api/v1`.

mod errors;
mod exams;
mod login;
mod pay;
mod registrations;
mod tickets;

#[doc(hidden)]
pub use tickets::photo_part;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};

use crate::http::AppState;

pub fn router() -> Router<AppState> {
    let api = routes()
        .fallback(errors::unknown_route)
        .layer(axum::middleware::map_response(errors::in_api_shape));
    Router::new().nest("/api/v1", api)
}

fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", post(login::login))
        .route("/exams", get(exams::list))
        .route(
            "/registrations",
            get(registrations::list).post(registrations::create),
        )
        .route(
            "/registrations/{id}",
            get(registrations::show)
                .put(registrations::resubmit)
                .delete(registrations::cancel),
        )
        .route("/registrations/{id}/pay", post(pay::pay))
        .route(
            "/registrations/{id}/photo",
            put(tickets::put_photo)
                .layer(DefaultBodyLimit::max(tickets::MAX_PHOTO_BYTES + 1))
                .merge(post(tickets::post_photo).layer(DefaultBodyLimit::max(
                    tickets::MAX_PHOTO_BYTES + tickets::MULTIPART_OVERHEAD,
                ))),
        )
        .route("/registrations/{id}/ticket.pdf", get(tickets::ticket_pdf))
}
