//! Requests counted by the route that answered them. The label is axum's `MatchedPath`, the
//! route template (`/api/v1/registrations/{id}`), never the path itself: ids and tokens in paths
//! would make a new series per candidate. Unrouted requests share one label.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::Response;

use crate::telemetry::names::{HTTP_DURATION, HTTP_REQUESTS};

/// The route label of a request no route matched (404s, scanners).
const UNMATCHED: &str = "unmatched";

pub fn layer(router: Router) -> Router {
    router.layer(middleware::from_fn(record))
}

async fn record(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_string(), |m| m.as_str().to_string());
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    metrics::histogram!(HTTP_DURATION, "method" => method, "route" => route.clone())
        .record(seconds);
    let status = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => route, "status" => status)
        .increment(1);
    response
}

/// Methods outside the standard few are one label, whatever a client invents.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
