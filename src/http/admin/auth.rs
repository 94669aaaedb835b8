//! Staff sign-in and sign-out, and the guard in front of every other staff page: it finds the
//! session from its cookie and, for every POST, checks the form's CSRF token against the
//! session's before the handler runs, so no form can forget it.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::{Body, to_bytes};
use axum::extract::{Query, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::page::{PageError, Staff};
use crate::db::{admin_sessions, admins};
use crate::http::AppState;
use crate::http::extract::ClientIp;
use crate::util::now;

pub const SESSION_COOKIE: &str = "examdesk_admin";
const LOGIN_CSRF_COOKIE: &str = "examdesk_login_csrf";
/// Staff forms are small; a larger body is refused before it is read whole.
const MAX_FORM_BYTES: usize = 256 * 1024;

fn cookie(state: &AppState, name: &'static str, value: String, max_age: i64) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.settings.is_https())
        .max_age(time::Duration::seconds(max_age))
        .build()
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Only local paths under /admin (and the ticket check) are followed after sign-in, never another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if (n.starts_with("/admin") || n.starts_with("/verify/"))
                && !n.starts_with("//")
                && !n.contains('\\')
                // A control character cannot go into a Location header.
                && !n.chars().any(char::is_control) =>
        {
            n.to_string()
        }
        _ => "/admin".to_string(),
    }
}

/// In front of every staff page but the sign-in page and the stylesheet.
pub async fn guard(
    State(state): State<AppState>,
    jar: CookieJar,
    req: Request,
    next: Next,
) -> Response {
    let token = jar.get(SESSION_COOKIE).map(|c| c.value().to_string());
    let session = match token {
        Some(t) => admin_sessions::lookup(&state.db, &t, now()).await,
        None => Ok(None),
    };
    let session = match session {
        Ok(Some(s)) => s,
        Ok(None) => {
            let target = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default();
            let next = if req.method() == Method::GET {
                target
            } else {
                "/admin".into()
            };
            return Redirect::to(&format!("/admin/login?next={}", super::page::q(&next)))
                .into_response();
        }
        Err(e) => return PageError::from(e).into_response(),
    };
    let mut req = req;
    if req.method() == Method::POST {
        let (parts, body) = req.into_parts();
        let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
            return PageError::bad_request("提交的内容过大或无法读取。").into_response();
        };
        let sent = url::form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        if !same(&sent, &session.csrf_token) {
            tracing::warn!(admin = %session.username, path = %parts.uri.path(), "form refused: bad CSRF token");
            return PageError::bad_csrf().into_response();
        }
        req = Request::from_parts(parts, Body::from(bytes));
    }
    req.extensions_mut().insert(Staff(session));
    next.run(req).await
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    next: String,
    username: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn login_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(query): Query<NextQuery>,
) -> Response {
    if let Some(t) = jar.get(SESSION_COOKIE)
        && let Ok(Some(_)) = admin_sessions::lookup(&state.db, t.value(), now()).await
    {
        return Redirect::to(&safe_next(query.next.as_deref())).into_response();
    }
    // Before a session exists the form's token is paired with a cookie (double submit).
    let csrf = crate::util::random_hex(16);
    let jar = jar.add(cookie(&state, LOGIN_CSRF_COOKIE, csrf.clone(), 3600));
    let page = LoginPage {
        csrf,
        next: safe_next(query.next.as_deref()),
        username: String::new(),
        error: None,
    };
    (jar, page).into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = jar
        .get(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    if expected.is_empty() || !same(&form.csrf, &expected) {
        let mut e = PageError::bad_csrf();
        e.signed_in = false;
        return e.into_response();
    }
    let username = form.username.trim().to_string();
    let again = |status: StatusCode, error: String| {
        let page = LoginPage {
            csrf: expected.clone(),
            next: safe_next(form.next.as_deref()),
            username: username.clone(),
            error: Some(error),
        };
        (status, page).into_response()
    };
    let at = now();
    let address = ip.to_string();
    match try_login(&state, &username, &form.password, &address, at).await {
        Ok(Ok(token)) => {
            tracing::info!(admin = %username, %address, "staff signed in");
            let jar = jar
                .remove(Cookie::build(LOGIN_CSRF_COOKIE).path("/"))
                .add(cookie(
                    &state,
                    SESSION_COOKIE,
                    token,
                    admin_sessions::SESSION_SECONDS,
                ));
            (jar, Redirect::to(&safe_next(form.next.as_deref()))).into_response()
        }
        Ok(Err(LoginRefusal::Wrong)) => {
            again(StatusCode::UNAUTHORIZED, "用户名或密码错误。".into())
        }
        Ok(Err(LoginRefusal::Locked(until))) => again(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "登录失败次数过多，该账号在此地址已被暂时锁定，请于 {} 后再试。",
                super::page::when(until)
            ),
        ),
        Ok(Err(LoginRefusal::TooFast)) => again(
            StatusCode::TOO_MANY_REQUESTS,
            "登录请求过于频繁，请一分钟后再试。".into(),
        ),
        Err(e) => PageError::from(e).into_response(),
    }
}

enum LoginRefusal {
    Wrong,
    Locked(i64),
    TooFast,
}

async fn try_login(
    state: &AppState,
    username: &str,
    password: &str,
    address: &str,
    at: i64,
) -> Result<Result<String, LoginRefusal>, sqlx::Error> {
    if let Ok(ip) = address.parse()
        && !state.login_limiter.allow(ip, at)
    {
        return Ok(Err(LoginRefusal::TooFast));
    }
    // The lock-out is checked before the password, so a locked pair learns nothing more.
    if admin_sessions::recent_failures(&state.db, username, address, at).await?
        >= admin_sessions::MAX_FAILURES
    {
        let until = admin_sessions::locked_until(&state.db, username, address, at).await?;
        return Ok(Err(LoginRefusal::Locked(until)));
    }
    let admin = admins::find_by_username(&state.db, username).await?;
    let ok = admins::password_matches(admin.as_ref(), password).await;
    let Some(admin) = admin.filter(|_| ok) else {
        tracing::warn!(admin = %username, %address, "staff sign-in failed");
        admin_sessions::record_failure(&state.db, username, address, at).await?;
        if admin_sessions::recent_failures(&state.db, username, address, at).await?
            >= admin_sessions::MAX_FAILURES
        {
            let until = admin_sessions::locked_until(&state.db, username, address, at).await?;
            return Ok(Err(LoginRefusal::Locked(until)));
        }
        return Ok(Err(LoginRefusal::Wrong));
    };
    admin_sessions::clear_failures(&state.db, username, address).await?;
    Ok(Ok(admin_sessions::create(&state.db, admin.id, at).await?))
}

pub async fn logout(
    State(state): State<AppState>,
    Extension(_staff): Extension<Staff>,
    jar: CookieJar,
) -> Response {
    if let Some(t) = jar.get(SESSION_COOKIE)
        && let Err(e) = admin_sessions::delete(&state.db, t.value()).await
    {
        return PageError::from(e).into_response();
    }
    let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/"));
    (jar, Redirect::to("/admin/login")).into_response()
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_admin_pages() {
        assert_eq!(safe_next(Some("/admin/exams")), "/admin/exams");
        assert_eq!(safe_next(Some("https://evil.example/")), "/admin");
        assert_eq!(safe_next(Some("//evil.example/admin")), "/admin");
        assert_eq!(safe_next(None), "/admin");
    }
}
