//! `POST /admin/registrations/{id}/release-id-number`: staff free an ID number from the WeChat
//! account it is bound to, when someone else took it. That account's unpaid registrations with the
//! number are cancelled first (orders closed, seats back); paid ones go through refunds.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::db::exam_edits::Actor;
use crate::db::{id_numbers, registrations};
use crate::domain::states::RegistrationStatus;
use crate::http::AppState;
use crate::http::admin::page::{PageError, PageResult, Perm, Staff};
use crate::util::now;

const MAX_REASON_CHARS: usize = 200;

#[derive(Deserialize)]
pub struct ReleaseForm {
    #[serde(default)]
    reason: String,
}

pub async fn release(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<ReleaseForm>,
) -> PageResult<Response> {
    staff.require(Perm::ReleaseIdNumber)?;
    let reason = form.reason.trim();
    if reason.is_empty()
        || reason.chars().count() > MAX_REASON_CHARS
        || reason.chars().any(char::is_control)
    {
        return Err(PageError::bad_request(format!(
            "解除绑定须填写原因（1 到 {MAX_REASON_CHARS} 个字，不含换行等控制字符），它会记入操作日志。"
        )));
    }
    let registration = registrations::get(&state.db, id)
        .await?
        .ok_or_else(|| PageError::not_found("这条报名记录"))?;
    let at = now();
    for unpaid in id_numbers::unpaid_of_owner(&state.db, &registration.id_number).await? {
        crate::payments::close_before_release(&state.payments, unpaid)
            .await
            .map_err(|e| {
                tracing::warn!(registration_id = unpaid, error = %e, "could not close the order before releasing an ID number");
                PageError::bad_request(
                    "暂时无法关闭该账号未付款的微信支付订单，身份证号未解除绑定。请稍后重试。",
                )
            })?;
        registrations::release_unpaid(&state.db, unpaid, RegistrationStatus::Cancelled, at).await?;
    }
    let actor = Actor {
        admin_id: staff.0.admin_id,
        username: &staff.0.username,
    };
    let released =
        id_numbers::release(&state.db, &registration.id_number, &actor, reason, at).await?;
    let notice = if released {
        "id_released"
    } else {
        "id_not_bound"
    };
    Ok(Redirect::to(&format!("/admin/registrations/{id}?notice={notice}")).into_response())
}
