//! Browser security headers on every answer: what a page may load and who may frame it, no content
//! sniffing, how much of a URL goes on in `Referer` (a verify URL carries a ticket's token), HSTS
//! when the service is public over https, and no caching of answers that hold personal data.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;

/// Scripts and styles only from the service itself, never inline; no plugins, no framing, forms
/// only back to the service. Photos are served by the service; QR codes on pages are drawn as
/// `data:` images.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// A year, as browsers' preload lists ask.
const HSTS: &str = "max-age=31536000";

pub fn layer(router: Router, https: bool) -> Router {
    router.layer(middleware::from_fn(move |req: Request, next: Next| {
        add(req, next, https)
    }))
}

async fn add(req: Request, next: Next, https: bool) -> Response {
    let path = req.uri().path().to_string();
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    let referrer = if path.starts_with("/verify/") {
        "no-referrer"
    } else {
        "same-origin"
    };
    set(headers, header::REFERRER_POLICY, referrer);
    if is_html(headers) {
        set(
            headers,
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY,
        );
        set(headers, header::X_FRAME_OPTIONS, "DENY");
    }
    if https {
        set(headers, header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    if holds_personal_data(&path, headers) && !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "private, no-store");
    }
    res
}

fn set(headers: &mut HeaderMap, name: header::HeaderName, value: &'static str) {
    headers.insert(name, HeaderValue::from_static(value));
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn is_html(headers: &HeaderMap) -> bool {
    content_type(headers).starts_with("text/html")
}

/// Candidates' registrations and sign-in tokens, staff pages, verify pages and every PDF (tickets,
/// door lists, sign-in sheets).
fn holds_personal_data(path: &str, headers: &HeaderMap) -> bool {
    path.starts_with("/api/v1/registrations")
        || path.starts_with("/api/v1/login")
        || path.starts_with("/verify/")
        || (path.starts_with("/admin") && !path.starts_with("/admin/assets/"))
        || content_type(headers).starts_with("application/pdf")
}
