//! An exam's settings in the staff form: qualification review, late entry and the photo rules,
//! refused with the field named when they make no sense, stored and audited when they do, and
//! applied to the next photo a candidate uploads.

use examdesk::db::admins::Role;
use serde_json::Value;

use crate::common::TestApp;
use crate::common::fixtures::jpeg;
use crate::common::staff::*;

/// The new-exam form as a browser posts it, settings included.
fn exam_form(csrf: &str) -> Vec<(&'static str, String)> {
    [
        ("csrf", csrf),
        ("code", "SET2027"),
        ("title", "2027年会计专业技术资格考试"),
        ("fee", "80"),
        ("capacity", "60"),
        ("opens", "2027-03-01T09:00"),
        ("closes", "2027-03-20T17:00"),
        ("starts", "2027-06-12T09:00"),
        ("venue", "上海财经大学"),
        ("rooms", "第1考场 30\n第2考场 30"),
        ("review", "manual"),
        ("late_minutes", "15"),
        ("photo_min_width", "358"),
        ("photo_min_height", "441"),
        ("photo_aspect", "358：441"),
        ("photo_aspect_tolerance_pct", "3"),
        ("photo_max_kb", "500"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect()
}

fn with(form: &[(&'static str, String)], key: &str, value: &str) -> Vec<(&'static str, String)> {
    form.iter()
        .map(|(k, v)| {
            (
                *k,
                if *k == key {
                    value.to_string()
                } else {
                    v.clone()
                },
            )
        })
        .collect()
}

#[tokio::test]
async fn nonsense_settings_are_refused_with_the_field_named_and_good_ones_stored() {
    let (app, _sim) = spawn().await;
    let admin = staff(&app, Role::Admin).await;
    let (status, html) = get_text(&admin, app.at("/admin/exams/new")).await;
    assert_eq!(status, 200);
    for shown in [
        r#"<option value="none" selected>无需审核</option>"#,
        r#"name="late_minutes" value="30""#,
        r#"name="photo_min_width" value="295""#,
        r#"name="photo_min_height" value="390""#,
        r#"name="photo_aspect" value="3:4""#,
        r#"name="photo_aspect_tolerance_pct" value="5""#,
        r#"name="photo_max_kb" value="2048""#,
    ] {
        assert!(
            html.contains(shown),
            "the new form shows the defaults: {shown}"
        );
    }
    let good = exam_form(&field(&html, "csrf"));
    let exams = "SELECT COUNT(*) FROM exams WHERE code = 'SET2027'";
    let refusals = [
        ("photo_min_width", "0", "照片最小宽度"),
        ("photo_min_height", "abc", "照片最小高度"),
        ("photo_aspect", "3-4", "照片宽高比"),
        ("photo_aspect", "0:4", "照片宽高比"),
        ("photo_aspect_tolerance_pct", "51", "宽高比允许偏差"),
        ("photo_max_kb", "2049", "照片文件上限"),
        ("photo_max_kb", "0", "照片文件上限"),
        ("late_minutes", "-5", "入场截止"),
        ("late_minutes", "1441", "入场截止"),
        ("review", "sometimes", "资格审核"),
    ];
    for (key, value, label) in refusals {
        let response = admin
            .post(app.at("/admin/exams"))
            .form(&with(&good, key, value))
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 422, "{key}={value}");
        let page = response.text().await.unwrap_or_default();
        let errors = page
            .split("id=\"form-errors\"")
            .nth(1)
            .and_then(|rest| rest.split("</div>").next())
            .unwrap_or_default();
        assert!(
            errors.contains(label) && errors.contains(value.trim_start_matches('-')),
            "{key}={value}: the error names {label} and the value: {errors}"
        );
        assert!(
            page.contains(&format!(r#"name="{key}" value="{value}""#)) || key == "review",
            "the refused form keeps what was typed: {key}"
        );
        assert_eq!(
            app.count(exams).await,
            0,
            "nothing stored for {key}={value}"
        );
    }

    let response = admin
        .post(app.at("/admin/exams"))
        .form(&good)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap_or_default();
    assert!(html.contains("已保存"), "{html}");
    assert!(html.contains(r#"<option value="manual" selected>人工审核</option>"#));
    assert!(html.contains(r#"name="photo_aspect" value="358:441""#));
    let exam = examdesk::db::exams::find_by_code(&app.state.db, "SET2027")
        .await
        .expect("q")
        .expect("exam");
    assert_eq!(exam.review.as_str(), "manual");
    assert_eq!(exam.late_minutes, 15);
    let r = exam.photo_rules;
    assert_eq!(
        (
            r.min_width,
            r.min_height,
            r.aspect_width,
            r.aspect_height,
            r.aspect_tolerance_pct,
            r.max_bytes
        ),
        (358, 441, 358, 441, 3, 500 * 1024)
    );
    let (_, list) = get_text(&admin, app.at("/admin/exams")).await;
    assert!(list.contains("人工审核"), "the list shows the review mode");

    // An edit changes one setting; the audit names it with before and after.
    let edit = with(&with(&good, "photo_min_width", "400"), "review", "none");
    let response = admin
        .post(app.at(&format!("/admin/exams/{}", exam.id)))
        .form(&edit)
        .send()
        .await
        .expect("edit");
    assert_eq!(response.status(), 200);
    let (_, audit) = get_text(&admin, app.at("/admin/audit")).await;
    for entry in [
        "review=manual",
        "photo_max_bytes=512000",
        "photo_min_width: 358 → 400",
        "review: manual → none",
    ] {
        assert!(audit.contains(entry), "{entry} in the audit log");
    }
    assert!(
        !audit.contains("late_minutes: "),
        "unchanged settings are not listed"
    );
}

async fn upload(app: &TestApp, token: &str, id: i64, photo: Vec<u8>) -> (u16, Value) {
    let res = app
        .http
        .put(app.at(&format!("/api/v1/registrations/{id}/photo")))
        .bearer_auth(token)
        .header("content-type", "image/jpeg")
        .body(photo)
        .send()
        .await
        .expect("upload");
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_photo_rule_changed_in_the_form_applies_to_the_next_upload() {
    let (app, _sim) = spawn().await;
    let exam_id = app.exam("RULE27").create().await;
    let token = app.login("rule-candidate").await;
    let res = app.register(&token, exam_id, 601).await;
    let id = res.json::<Value>().await.expect("json")["id"]
        .as_i64()
        .expect("id");
    assert_eq!(
        upload(&app, &token, id, jpeg(300, 400)).await.0,
        204,
        "the defaults take it"
    );

    let admin = staff(&app, Role::Admin).await;
    let (_, html) = get_text(&admin, app.at(&format!("/admin/exams/{exam_id}/edit"))).await;
    let kept = |name: &str| field(&html, name);
    let mut form: Vec<(&str, String)> = [
        "csrf",
        "title",
        "fee",
        "capacity",
        "opens",
        "closes",
        "starts",
        "venue",
        "review",
        "late_minutes",
        "photo_min_height",
        "photo_aspect",
        "photo_aspect_tolerance_pct",
        "photo_max_kb",
    ]
    .into_iter()
    .map(|k| (k, kept(k)))
    .collect();
    form.retain(|(k, _)| *k != "review");
    form.push(("review", "none".into()));
    form.push(("rooms", "第01考场 10".into()));
    form.push(("photo_min_width", "350".into()));
    let response = admin
        .post(app.at(&format!("/admin/exams/{exam_id}")))
        .form(&form)
        .send()
        .await
        .expect("edit");
    assert_eq!(response.status(), 200);

    let (status, body) = upload(&app, &token, id, jpeg(300, 400)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "photo_too_small");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("宽 300 像素") && message.contains("至少 350 像素"),
        "{message}"
    );
    assert_eq!(upload(&app, &token, id, jpeg(360, 480)).await.0, 204);
    let (_, exams) = app.get_json(&token, "/api/v1/exams").await;
    assert_eq!(
        exams[0]["photo_rules"]["min_width"], 350,
        "published to the mini-program"
    );
}
