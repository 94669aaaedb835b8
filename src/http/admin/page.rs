//! What every staff page shares: the signed-in staff member and their permissions, the nav bar,
//! the Chinese error pages, and formatting of money, times and statuses.

use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::db::admin_sessions::StaffSession;
use crate::db::admins::Role;
use crate::domain::states::{ExamStatus, RefundStatus, RegistrationStatus};

/// What a role may do beyond reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    /// Create and edit exams, open and close registration.
    EditExams,
    /// Refund money.
    Refund,
    /// Export personal data as CSV.
    Export,
    /// Browse the audit log.
    Audit,
    /// Approve or reject candidates' qualifications.
    Review,
    /// See and re-run the daily reconciliation against WeChat's bill.
    Reconcile,
    /// Free an ID number from the WeChat account it is bound to.
    ReleaseIdNumber,
}

pub fn allowed(role: Role, perm: Perm) -> bool {
    match role {
        Role::Admin => true,
        Role::Finance => matches!(perm, Perm::Refund | Perm::Export | Perm::Reconcile),
        Role::Viewer => false,
    }
}

/// The signed-in staff member, put into the request by the guard.
#[derive(Debug, Clone)]
pub struct Staff(pub StaffSession);

impl Staff {
    pub fn require(&self, perm: Perm) -> Result<(), PageError> {
        if allowed(self.0.role, perm) {
            Ok(())
        } else {
            Err(PageError::forbidden(self))
        }
    }

    pub fn can(&self, perm: Perm) -> bool {
        allowed(self.0.role, perm)
    }

    pub fn nav(&self, active: &'static str) -> Nav {
        Nav {
            username: self.0.username.clone(),
            role: role_label(self.0.role),
            csrf: self.0.csrf_token.clone(),
            active,
            can_edit: self.can(Perm::EditExams),
            can_refund: self.can(Perm::Refund),
            can_audit: self.can(Perm::Audit),
            can_reconcile: self.can(Perm::Reconcile),
        }
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Staff {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        // Only reachable behind the guard, which always sets it; a missing one is a wiring bug.
        parts
            .extensions
            .get::<Staff>()
            .cloned()
            .ok_or_else(PageError::internal)
    }
}

/// The nav bar's facts, a field of every page.
#[derive(Debug, Clone)]
pub struct Nav {
    pub username: String,
    pub role: &'static str,
    pub csrf: String,
    pub active: &'static str,
    pub can_edit: bool,
    pub can_refund: bool,
    pub can_audit: bool,
    pub can_reconcile: bool,
}

pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Admin => "管理员",
        Role::Finance => "财务",
        Role::Viewer => "只读",
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    code: u16,
    title: &'a str,
    message: &'a str,
    signed_in: bool,
}

/// An error shown to staff as a page in Chinese, with its HTTP status.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
    pub signed_in: bool,
}

impl PageError {
    pub fn forbidden(staff: &Staff) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            title: "无权操作",
            message: format!(
                "您的账号（{}，角色：{}）没有执行此操作的权限。如需办理，请联系管理员。",
                staff.0.username,
                role_label(staff.0.role)
            ),
            signed_in: true,
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            title: "页面不存在",
            message: format!("找不到{what}，它可能已被删除，或链接有误。"),
            signed_in: true,
        }
    }

    pub fn bad_csrf() -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            title: "表单已失效",
            message:
                "表单的安全校验（CSRF 令牌）未通过，操作没有执行。请返回上一页，刷新后重新提交。"
                    .into(),
            signed_in: true,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            title: "请求有误",
            message: message.into(),
            signed_in: true,
        }
    }

    pub fn internal() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "系统错误",
            message:
                "服务器处理时出错，操作可能没有完成。请稍后重试；如果反复出现，请联系技术人员。"
                    .into(),
            signed_in: true,
        }
    }
}

impl From<sqlx::Error> for PageError {
    fn from(err: sqlx::Error) -> Self {
        tracing::error!(error = %err, "database error on a staff page");
        Self::internal()
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            code: self.status.as_u16(),
            title: self.title,
            message: &self.message,
            signed_in: self.signed_in,
        };
        (self.status, page).into_response()
    }
}

pub type PageResult<T> = Result<T, PageError>;

/// Fen as yuan with two decimals and the yuan sign: `¥50.00`.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let fen = fen.unsigned_abs();
    format!("{sign}¥{}.{:02}", fen / 100, fen % 100)
}

/// A yuan amount typed by a person (`50`, `50.5`, `50.50`, `¥50`) as fen; never through floats.
pub fn parse_yuan(text: &str) -> Option<i64> {
    let t = text.trim().trim_start_matches(['¥', '￥']).trim();
    let (whole, frac) = match t.split_once('.') {
        Some((w, f)) => (w, f),
        None => (t, ""),
    };
    if whole.is_empty() || frac.len() > 2 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = format!("{frac:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(frac)
}

fn china(unix: i64) -> Option<time::OffsetDateTime> {
    let offset = time::UtcOffset::from_hms(8, 0, 0).ok()?;
    Some(
        time::OffsetDateTime::from_unix_timestamp(unix)
            .ok()?
            .to_offset(offset),
    )
}

/// China time, compact for tables: `2026-12-01 09:00`.
pub fn when(unix: i64) -> String {
    china(unix)
        .map(|t| {
            format!(
                "{}-{:02}-{:02} {:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_default()
}

pub fn when_opt(unix: Option<i64>) -> String {
    unix.map(when).unwrap_or_else(|| "—".into())
}

/// The value of an `<input type="datetime-local">` in China time.
pub fn to_local_input(unix: i64) -> String {
    when(unix).replacen(' ', "T", 1)
}

/// Reads an `<input type="datetime-local">` value as China time.
pub fn from_local_input(text: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let text = text.trim();
    let text = if text.len() > 16 { &text[..16] } else { text };
    let t = time::PrimitiveDateTime::parse(text, format).ok()?;
    let offset = time::UtcOffset::from_hms(8, 0, 0).ok()?;
    Some(t.assume_offset(offset).unix_timestamp())
}

/// The words and badge colour (a class in admin.css) staff see for a state.
pub trait StatusBadge: Copy {
    fn label(self) -> &'static str;
    fn class(self) -> &'static str;
}

pub fn status_label(status: impl StatusBadge) -> &'static str {
    status.label()
}

pub fn status_class(status: impl StatusBadge) -> &'static str {
    status.class()
}

impl StatusBadge for RegistrationStatus {
    fn label(self) -> &'static str {
        match self {
            Self::UnderReview => "待审核",
            Self::Rejected => "审核未通过",
            Self::PendingPayment => "待付款",
            Self::Paid => "已付款",
            Self::Cancelled => "已取消",
            Self::Expired => "已过期",
            Self::Refunding => "退款中",
            Self::Refunded => "已退款",
        }
    }

    fn class(self) -> &'static str {
        match self {
            Self::Paid => "ok",
            Self::UnderReview | Self::PendingPayment | Self::Refunding => "wait",
            Self::Rejected => "bad",
            Self::Refunded => "info",
            Self::Cancelled | Self::Expired => "muted",
        }
    }
}

impl StatusBadge for ExamStatus {
    fn label(self) -> &'static str {
        match self {
            Self::Open => "报名中",
            Self::Closed => "已关闭",
        }
    }

    fn class(self) -> &'static str {
        match self {
            Self::Open => "ok",
            Self::Closed => "muted",
        }
    }
}

impl StatusBadge for RefundStatus {
    fn label(self) -> &'static str {
        match self {
            Self::Requested => "已提交",
            Self::Processing => "处理中",
            Self::Success => "退款成功",
            Self::Failed => "退款失败",
            Self::Closed => "已关闭",
        }
    }

    fn class(self) -> &'static str {
        match self {
            Self::Success => "ok",
            Self::Requested | Self::Processing => "wait",
            Self::Failed => "bad",
            Self::Closed => "muted",
        }
    }
}

/// The registration statuses of the search filter, in the order staff pick from.
pub const REGISTRATION_STATUSES: [RegistrationStatus; 8] = [
    RegistrationStatus::UnderReview,
    RegistrationStatus::Rejected,
    RegistrationStatus::PendingPayment,
    RegistrationStatus::Paid,
    RegistrationStatus::Refunding,
    RegistrationStatus::Refunded,
    RegistrationStatus::Expired,
    RegistrationStatus::Cancelled,
];

/// Pages of a list: which one is shown and the links around it.
pub struct Pager {
    pub page: i64,
    pub pages: i64,
    pub total: i64,
    pub prev: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    pub const PER_PAGE: i64 = 50;

    /// `link(n)` builds the address of page `n`.
    pub fn new(page: i64, total: i64, link: impl Fn(i64) -> String) -> Self {
        let pages = ((total + Self::PER_PAGE - 1) / Self::PER_PAGE).max(1);
        let page = page.clamp(1, pages);
        Self {
            page,
            pages,
            total,
            prev: (page > 1).then(|| link(page - 1)),
            next: (page < pages).then(|| link(page + 1)),
        }
    }

    pub fn offset(page: i64) -> i64 {
        (page.max(1) - 1) * Self::PER_PAGE
    }
}

/// Percent-encodes a query value.
pub fn q(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_round_trips_without_floats() {
        assert_eq!(yuan(5000), "¥50.00");
        assert_eq!(yuan(5), "¥0.05");
        assert_eq!(parse_yuan("50"), Some(5000));
        assert_eq!(parse_yuan("50.5"), Some(5050));
        assert_eq!(parse_yuan(" ¥0.05 "), Some(5));
        assert_eq!(parse_yuan("0.001"), None);
        assert_eq!(parse_yuan("-1"), None);
        assert_eq!(parse_yuan("1e3"), None);
        assert_eq!(parse_yuan(""), None);
    }

    #[test]
    fn local_inputs_are_china_time() {
        let t = from_local_input("2026-12-01T09:00").unwrap_or_default();
        assert_eq!(crate::util::to_rfc3339(t), "2026-12-01T01:00:00Z");
        assert_eq!(to_local_input(t), "2026-12-01T09:00");
        assert!(from_local_input("tomorrow").is_none());
    }

    #[test]
    fn roles_grant_what_the_issue_says() {
        assert!(allowed(Role::Admin, Perm::Audit));
        assert!(allowed(Role::Finance, Perm::Refund));
        assert!(!allowed(Role::Finance, Perm::EditExams));
        assert!(!allowed(Role::Viewer, Perm::Refund));
        assert!(!allowed(Role::Viewer, Perm::Export));
    }

    #[test]
    fn pager_clamps_and_links() {
        let p = Pager::new(9, 120, |n| format!("?page={n}"));
        assert_eq!((p.page, p.pages), (3, 3));
        assert_eq!(p.prev.as_deref(), Some("?page=2"));
        assert!(p.next.is_none());
    }
}
