//! The staff pages under `/admin`: server-rendered (askama), in Chinese, working without
//! JavaScript. Every page but sign-in and the stylesheet sits behind [`auth::guard`].

mod audit;
pub mod auth;
mod bills;
mod chart;
pub mod csv;
mod dashboard;
mod door;
mod exams;
mod id_release;
pub mod page;
mod refunds;
mod registration;
mod registrations;
mod review;
mod sheets;
mod tickets;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};

use crate::http::AppState;

const STYLESHEET: &str = include_str!("../../../assets/admin.css");
const SCRIPT: &str = include_str!("../../../assets/admin.js");

pub fn router(state: AppState) -> Router<AppState> {
    let guarded = Router::new()
        .route("/admin", get(dashboard::show))
        .route("/admin/logout", post(auth::logout))
        .route("/admin/exams", get(exams::list).post(exams::create))
        .route("/admin/exams/new", get(exams::new_form))
        .route("/admin/exams/{id}/edit", get(exams::edit_form))
        .route("/admin/exams/{id}", post(exams::update))
        .route("/admin/exams/{id}/status", post(exams::set_status))
        .route("/admin/exams/{id}/registrations", get(registrations::list))
        .route(
            "/admin/exams/{id}/registrations.csv",
            get(registrations::export),
        )
        .route("/admin/registrations/{id}", get(registration::show))
        .route("/admin/registrations/{id}/photo", get(registration::photo))
        .route("/admin/registrations/{id}/approve", post(review::approve))
        .route("/admin/registrations/{id}/reject", post(review::reject))
        .route(
            "/admin/registrations/{id}/release-id-number",
            post(id_release::release),
        )
        .route("/admin/review", get(review::queue))
        .route("/admin/review/bulk", post(review::bulk))
        .route("/admin/orders/{id}/refunds", post(refunds::create))
        .route("/admin/refunds", get(refunds::list))
        .route(
            "/admin/registrations/{id}/ticket.pdf",
            get(tickets::ticket_pdf),
        )
        .route("/admin/exams/{id}/tickets", post(tickets::start_batch))
        .route(
            "/admin/exams/{id}/seats/shuffle",
            post(tickets::shuffle_seats),
        )
        .route("/admin/ticket-batches/{id}", get(tickets::batch_page))
        .route(
            "/admin/ticket-batches/{id}/tickets.pdf",
            get(tickets::batch_pdf),
        )
        .route("/admin/exams/{id}/sheets", post(sheets::start_batch))
        .route(
            "/admin/exams/{id}/rooms/{room_no}/door-list.pdf",
            get(sheets::door_list_pdf),
        )
        .route(
            "/admin/exams/{id}/rooms/{room_no}/sign-in-sheet.pdf",
            get(sheets::sign_in_sheet_pdf),
        )
        .route("/verify/{token}", get(tickets::verify))
        .route("/verify/{token}/check-in", post(door::check_in))
        .route("/admin/exams/{id}/attendance", get(door::attendance))
        .route("/admin/exams/{id}/attendance.csv", get(door::export))
        .route("/admin/audit", get(audit::list))
        .route("/admin/reconciliation", get(bills::list))
        .route("/admin/reconciliation/run", post(bills::run))
        .route("/admin/reconciliation.csv", get(bills::export))
        .route("/admin/{*rest}", get(not_found))
        .route_layer(axum::middleware::from_fn_with_state(state, auth::guard));
    Router::new()
        .route("/admin/login", get(auth::login_page).post(auth::login))
        .route("/admin/assets/admin.css", get(stylesheet))
        .route("/admin/assets/admin.js", get(script))
        .merge(guarded)
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
}

async fn not_found() -> page::PageError {
    page::PageError::not_found("您要访问的页面")
}
