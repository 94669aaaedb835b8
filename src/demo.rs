//! Demo mode: the published test merchant that the embedded WeChat simulator plays, the demo
//! exam and the demo admin, created once.

use crate::domain::states::ExamReview;
use std::path::Path;

use crate::config::Settings;
use crate::db::{Db, admins, exams, meta};
use crate::domain::exam::NewExam;

pub const DEMO_EXAM_CODE: &str = "DEMO2026";
/// The demo merchant the embedded simulator plays WeChat for (the published test values).
pub const DEMO_APPID: &str = "wxd930ea5d5a258f4f";
pub const DEMO_APP_SECRET: &str = "demo-app-secret-not-a-real-one";
pub const DEMO_MCH_ID: &str = "10000100";
pub const DEMO_API_KEY: &str = "192006250b4c09247ec02edce69f6a2d";

/// The merchant settings of demo mode: WeChat is the simulator under `/_sim` of this very server.
pub fn wechat_config(settings: &Settings) -> wechat_pay_v2::WechatConfig {
    let mut config =
        wechat_pay_v2::WechatConfig::new(DEMO_APPID, DEMO_APP_SECRET, DEMO_MCH_ID, DEMO_API_KEY)
            .with_base_url(&format!("{}/_sim", settings.public_url));
    config.sign_type = settings.sign_type;
    config
}
const DEMO_ADMIN: &str = "admin";

/// Creates the demo exam and admin once; later starts find them and change nothing.
/// Returns the line that tells how to sign in as the demo admin.
pub async fn ensure_demo(db: &Db, data_dir: &Path) -> Result<String, String> {
    let sql = |e: sqlx::Error| e.to_string();
    if exams::find_by_code(db, DEMO_EXAM_CODE)
        .await
        .map_err(sql)?
        .is_none()
    {
        let now = crate::util::now();
        let exam = NewExam {
            code: DEMO_EXAM_CODE.into(),
            title: "2026年examdesk演示考试".into(),
            fee_fen: 5000,
            capacity: 200,
            opens_at: now - 3600,
            closes_at: now + 30 * 86_400,
            starts_at: now + 31 * 86_400,
            venue: "演示考点（北京市海淀区示例路1号）".into(),
            review: ExamReview::None,
            late_minutes: crate::domain::exam::DEFAULT_LATE_MINUTES,
            photo_rules: examdesk_tickets::photo::PhotoRules::default(),
        };
        match exams::create(db, &exam).await {
            Ok(id) => tracing::info!(exam_id = id, "demo exam created"),
            Err(exams::CreateExamError::DuplicateCode(_)) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    let password_file = data_dir.join("demo-admin-password");
    match admins::find_by_username(db, DEMO_ADMIN)
        .await
        .map_err(sql)?
    {
        None => {
            let password = crate::util::random_hex(8);
            admins::create(db, DEMO_ADMIN, &password, admins::Role::Admin)
                .await
                .map_err(|e| e.to_string())?;
            save_password(&password_file, &password)?;
            meta::insert_if_absent(db, "demo_admin_created", &crate::util::now().to_string())
                .await
                .map_err(sql)?;
            Ok(format!(
                "user {DEMO_ADMIN}, password {password} (new; also kept in {})",
                password_file.display()
            ))
        }
        Some(admin) => {
            let known = std::fs::read_to_string(&password_file).ok();
            match known {
                Some(password) if admins::password_matches(Some(&admin), password.trim()).await => {
                    Ok(format!(
                        "user {DEMO_ADMIN}, password {} (unchanged since the first demo start)",
                        password.trim()
                    ))
                }
                _ => Ok(format!(
                    "user {DEMO_ADMIN}, password unchanged (set before; not the one in {})",
                    password_file.display()
                )),
            }
        }
    }
}

fn save_password(path: &Path, password: &str) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("EXAMDESK_DATA_DIR: {e}"))?;
    }
    crate::util::write_private(path, password.as_bytes())
        .map_err(|e| format!("EXAMDESK_DATA_DIR: cannot write {}: {e}", path.display()))
}
