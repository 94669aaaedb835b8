//! Qualification review end to end: a registration of a reviewed exam holds its seat under
//! review, cannot be paid until staff approve it, and a rejected candidate corrects and resubmits;
//! the queue page filters, pages and decides in bulk, and each decision is in the audit log.

use examdesk::db::admins::Role;
use serde_json::{Value, json};

use crate::common::staff::{
    field, get_text, registered, seats_taken, spawn, staff, status_of, wait_for_status,
};
use crate::common::{TestApp, id_number};

struct Candidate {
    token: String,
    id: i64,
}

/// Names take no digits: the sequence number spelled in Chinese digits.
fn name(seq: u32) -> String {
    let digits = "零一二三四五六七八九".chars().collect::<Vec<_>>();
    let spelled: String = seq
        .to_string()
        .bytes()
        .map(|b| digits[usize::from(b - b'0')])
        .collect();
    format!("考生{spelled}")
}

async fn register(app: &TestApp, exam_id: i64, seq: u32) -> Result<Candidate, Value> {
    let token = app.login(&format!("review-{seq}")).await;
    let res = app
        .http
        .post(app.at("/api/v1/registrations"))
        .bearer_auth(&token)
        .json(&json!({
            "exam_id": exam_id,
            "name": name(seq),
            "id_number": id_number(seq),
            "phone": format!("139{seq:08}"),
        }))
        .send()
        .await
        .expect("register");
    let status = res.status().as_u16();
    let body: Value = res.json().await.expect("json");
    if status == 201 {
        Ok(Candidate {
            token,
            id: body["id"].as_i64().expect("id"),
        })
    } else {
        Err(json!({ "status": status, "body": body }))
    }
}

async fn remaining(app: &TestApp, exam_id: i64) -> i64 {
    let res = app.http.get(app.at("/api/v1/exams")).send().await.unwrap();
    let exams: Vec<Value> = res.json().await.unwrap();
    exams
        .iter()
        .find(|e| e["id"] == exam_id)
        .and_then(|e| e["remaining"].as_i64())
        .expect("exam listed")
}

async fn csrf(app: &TestApp, client: &reqwest::Client) -> String {
    let (_, html) = get_text(client, app.at("/admin/review")).await;
    field(&html, "csrf")
}

async fn decide(
    app: &TestApp,
    client: &reqwest::Client,
    id: i64,
    what: &str,
    reason: &str,
) -> reqwest::Response {
    let csrf = csrf(app, client).await;
    client
        .post(app.at(&format!("/admin/registrations/{id}/{what}")))
        .form(&[("csrf", csrf.as_str()), ("reason", reason)])
        .send()
        .await
        .expect("decision posted")
}

async fn status(app: &TestApp, c: &Candidate) -> Value {
    let (code, body) = app
        .get_json(&c.token, &format!("/api/v1/registrations/{}", c.id))
        .await;
    assert_eq!(code, 200, "{body}");
    body
}

async fn audit_count(app: &TestApp, action: &str, id: i64) -> i64 {
    app.count(&format!(
        "SELECT COUNT(*) FROM audit_log WHERE action = '{action}' AND target = 'registration:{id}'"
    ))
    .await
}

#[tokio::test]
async fn under_review_holds_the_seat_and_pays_only_once_approved() {
    let (app, sim) = spawn().await;
    let exam_id = app.exam("REV01").capacity(2).manual_review().create().await;
    let a = register(&app, exam_id, 1).await.expect("first registers");
    let b = register(&app, exam_id, 2).await.expect("second registers");
    assert_eq!(status(&app, &a).await["status"], "under_review");
    assert_eq!(
        status(&app, &a).await["hold_expires_at"],
        Value::Null,
        "no hold runs out while staff review"
    );
    assert_eq!(remaining(&app, exam_id).await, 0, "both seats are held");
    let third = register(&app, exam_id, 3).await.err().expect("sold out");
    assert_eq!(third["status"], 409);
    assert_eq!(third["body"]["error"]["code"], "sold_out");

    let (code, body) = app
        .post_json(&a.token, &format!("/api/v1/registrations/{}/pay", a.id))
        .await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["error"]["code"], "not_approved");
    assert_eq!(app.count("SELECT COUNT(*) FROM orders").await, 0);

    let viewer = staff(&app, Role::Viewer).await;
    let res = decide(&app, &viewer, a.id, "approve", "").await;
    assert_eq!(res.status(), 403, "only the admin role decides");
    assert_eq!(status(&app, &a).await["status"], "under_review");

    let admin = staff(&app, Role::Admin).await;
    let res = decide(&app, &admin, a.id, "approve", "").await;
    assert_eq!(res.status(), 200);
    assert!(res.url().as_str().contains("done=1"), "{}", res.url());
    let approved = status(&app, &a).await;
    assert_eq!(approved["status"], "pending_payment");
    let hold = approved["hold_expires_at"].as_str().expect("a hold now");
    let hold = time::OffsetDateTime::parse(hold, &time::format_description::well_known::Rfc3339)
        .expect("RFC 3339");
    let minutes = (hold - time::OffsetDateTime::now_utc()).whole_minutes();
    assert!(
        (28..=30).contains(&minutes),
        "the hold starts at approval: {minutes} min left"
    );
    assert_eq!(audit_count(&app, "registration.approve", a.id).await, 1);

    // Approving again changes nothing and says so.
    let again = decide(&app, &admin, a.id, "approve", "").await;
    let location = again.url().to_string();
    assert!(location.contains("done=0"), "{location}");
    assert_eq!(audit_count(&app, "registration.approve", a.id).await, 1);

    let (code, pay) = app
        .post_json(&a.token, &format!("/api/v1/registrations/{}/pay", a.id))
        .await;
    assert_eq!(code, 200, "{pay}");
    sim.pay(pay["out_trade_no"].as_str().unwrap()).unwrap();
    wait_for_status(&app, a.id, "paid").await;

    // The candidate may withdraw while under review; the seat goes back.
    let res = app
        .http
        .delete(app.at(&format!("/api/v1/registrations/{}", b.id)))
        .bearer_auth(&b.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(status(&app, &b).await["status"], "cancelled");
    assert_eq!(remaining(&app, exam_id).await, 1);
}

#[tokio::test]
async fn a_rejected_candidate_reads_the_reason_corrects_and_resubmits() {
    let (app, _sim) = spawn().await;
    let exam_id = app.exam("REV02").capacity(1).manual_review().create().await;
    let a = register(&app, exam_id, 11).await.expect("registers");
    let admin = staff(&app, Role::Admin).await;

    let res = decide(&app, &admin, a.id, "reject", "   ").await;
    assert_eq!(res.status(), 400, "a rejection needs a reason");
    assert!(res.text().await.unwrap().contains("驳回须填写原因"));
    assert_eq!(status(&app, &a).await["status"], "under_review");
    assert_eq!(audit_count(&app, "registration.reject", a.id).await, 0);

    let reason = "照片不是近期免冠正面照，请重新上传";
    let res = decide(&app, &admin, a.id, "reject", reason).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("审核决定已记录"));
    let rejected = status(&app, &a).await;
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["review_note"], reason);
    assert_eq!(
        remaining(&app, exam_id).await,
        1,
        "rejection frees the seat"
    );
    let logged = app
        .count(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'registration.reject' \
             AND target = 'registration:{}' AND reason = '{reason}'",
            a.id
        ))
        .await;
    assert_eq!(
        logged, 1,
        "the decision and its reason are in the audit log"
    );
    let (_, page) = get_text(&admin, app.at(&format!("/admin/registrations/{}", a.id))).await;
    assert!(
        page.contains(reason) && page.contains("审核未通过"),
        "{page}"
    );

    // Someone else takes the freed seat meanwhile.
    let b = register(&app, exam_id, 12)
        .await
        .expect("the seat is free again");
    let put = |c: &Candidate, body: Value| {
        app.http
            .put(app.at(&format!("/api/v1/registrations/{}", a.id)))
            .bearer_auth(&c.token)
            .json(&body)
            .send()
    };
    let fixed = json!({ "name": "考生十一", "id_number": id_number(11), "phone": "13900000011" });
    let res = put(&a, fixed.clone()).await.unwrap();
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "sold_out");
    assert_eq!(
        status(&app, &a).await["status"],
        "rejected",
        "nothing changed"
    );

    decide(&app, &admin, b.id, "reject", "学历证明不清晰").await;
    let res = put(
        &a,
        json!({ "name": "考生十一", "id_number": "110101199003070000", "phone": "13900000011" }),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 422, "the same field rules as at registration");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["field"], "id_number");
    assert_eq!(status(&app, &a).await["name"], name(11), "nothing changed");

    let stranger = Candidate {
        token: app.login("review-stranger").await,
        id: 0,
    };
    let res = put(&stranger, fixed.clone()).await.unwrap();
    assert_eq!(
        res.status(),
        404,
        "someone else's registration reads as absent"
    );

    let res = put(&a, fixed.clone()).await.unwrap();
    assert_eq!(res.status(), 200);
    let back: Value = res.json().await.unwrap();
    assert_eq!(back["status"], "under_review");
    assert_eq!(back["name"], "考生十一");
    assert_eq!(back["review_note"], Value::Null);
    assert_eq!(remaining(&app, exam_id).await, 0, "the seat is taken again");

    let res = put(&a, fixed).await.unwrap();
    assert_eq!(
        res.status(),
        409,
        "only a rejected registration is resubmitted"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_rejected");
}

#[tokio::test]
async fn review_stays_open_after_registration_closes_and_resubmission_does_not() {
    let (app, _sim) = spawn().await;
    let exam_id = app.exam("REV03").capacity(5).manual_review().create().await;
    let a = register(&app, exam_id, 21).await.unwrap();
    let b = register(&app, exam_id, 22).await.unwrap();
    let admin = staff(&app, Role::Admin).await;
    decide(&app, &admin, b.id, "reject", "报名信息不完整").await;
    let now = examdesk::util::now();
    sqlx::query("UPDATE exams SET opens_at = $2, closes_at = $3 WHERE id = $1")
        .bind(exam_id)
        .bind(now - 7200)
        .bind(now - 60)
        .execute(&app.state.db.write)
        .await
        .unwrap();

    let res = decide(&app, &admin, a.id, "approve", "").await;
    assert_eq!(res.status(), 200);
    assert!(res.url().as_str().contains("done=1"), "{}", res.url());
    assert_eq!(status(&app, &a).await["status"], "pending_payment");
    let (code, pay) = app
        .post_json(&a.token, &format!("/api/v1/registrations/{}/pay", a.id))
        .await;
    assert_eq!(code, 200, "approved after the close, still payable: {pay}");

    let res = app
        .http
        .put(app.at(&format!("/api/v1/registrations/{}", b.id)))
        .bearer_auth(&b.token)
        .json(&json!({ "name": name(22), "id_number": id_number(22), "phone": "13900000022" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "registration_closed");
    assert_eq!(status(&app, &b).await["status"], "rejected");
}

#[tokio::test]
async fn the_queue_filters_pages_and_decides_in_bulk() {
    let (app, _sim) = spawn().await;
    let big = app
        .exam("REV04")
        .capacity(60)
        .manual_review()
        .create()
        .await;
    let other = app.exam("REV05").capacity(5).manual_review().create().await;
    let plain = app.exam("REV06").capacity(5).create().await;
    let mut ids = Vec::new();
    for seq in 0..53 {
        ids.push(register(&app, big, 100 + seq).await.unwrap().id);
    }
    let elsewhere = register(&app, other, 200).await.unwrap();
    let not_reviewed = register(&app, plain, 300).await.unwrap();
    assert_eq!(
        status(&app, &not_reviewed).await["status"],
        "pending_payment"
    );

    let admin = staff(&app, Role::Admin).await;
    let (code, all) = get_text(&admin, app.at("/admin/review")).await;
    assert_eq!(code, 200);
    assert!(
        all.contains("共 54 条"),
        "both reviewed exams, not the plain one"
    );
    let (_, page1) = get_text(&admin, app.at(&format!("/admin/review?exam={big}"))).await;
    assert!(page1.contains("共 53 条") && page1.contains("第 1 / 2 页"));
    assert_eq!(page1.matches("name=\"ids\"").count(), 50);
    assert!(!page1.contains(&format!("/admin/registrations/{}\"", elsewhere.id)));
    let (_, page2) = get_text(&admin, app.at(&format!("/admin/review?exam={big}&page=2"))).await;
    assert_eq!(page2.matches("name=\"ids\"").count(), 3);
    let (_, found) = get_text(&admin, app.at(&format!("/admin/review?q={}", name(107)))).await;
    assert!(found.contains("共 1 条") && found.contains(&format!("value=\"{}\"", ids[7])));

    let csrf = field(&page1, "csrf");
    let bulk = |form: Vec<(&'static str, String)>| {
        admin.post(app.at("/admin/review/bulk")).form(&form).send()
    };
    let mut form = vec![("csrf", csrf.clone()), ("action", "approve".to_string())];
    form.extend(ids[..3].iter().map(|id| ("ids", id.to_string())));
    let res = bulk(form).await.unwrap();
    assert_eq!(res.status(), 200);
    let location = res.url().to_string();
    assert!(location.contains("done=3&skipped=0"), "{location}");

    let mut form = vec![("csrf", csrf.clone()), ("action", "reject".to_string())];
    form.extend(ids[2..6].iter().map(|id| ("ids", id.to_string())));
    let res = bulk(form.clone()).await.unwrap();
    assert_eq!(res.status(), 400, "a bulk rejection needs its reason too");
    form.push(("reason", "身份证照片不清晰".to_string()));
    let res = bulk(form).await.unwrap();
    let location = res.url().to_string();
    assert!(
        location.contains("done=3&skipped=1"),
        "the one approved already is skipped: {location}"
    );
    let counts = async |status: &'static str| {
        let sql = format!(
            "SELECT COUNT(*) FROM registrations WHERE exam_id = {big} AND status = '{status}'"
        );
        app.count(&sql).await
    };
    assert_eq!(counts("pending_payment").await, 3);
    assert_eq!(counts("rejected").await, 3);
    assert_eq!(counts("under_review").await, 47);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'registration.%'")
            .await,
        6
    );
    let (_, rejected) = get_text(
        &admin,
        app.at(&format!("/admin/review?exam={big}&status=rejected")),
    )
    .await;
    assert!(rejected.contains("共 3 条") && rejected.contains("身份证照片不清晰"));

    let res = bulk(vec![
        ("csrf", csrf.clone()),
        ("action", "approve".to_string()),
    ])
    .await
    .unwrap();
    assert_eq!(res.status(), 400, "nothing ticked");
    let res = bulk(vec![
        ("csrf", "wrong".to_string()),
        ("action", "approve".to_string()),
        ("ids", ids[10].to_string()),
    ])
    .await
    .unwrap();
    assert_eq!(res.status(), 400, "the CSRF token is checked");
    assert_eq!(
        counts("under_review").await,
        47,
        "nothing changed by refused forms"
    );

    let viewer = staff(&app, Role::Viewer).await;
    let (code, html) = get_text(&viewer, app.at("/admin/review")).await;
    assert_eq!(code, 200, "every role sees the queue");
    assert!(!html.contains("name=\"ids\"") && html.contains("审核决定需由管理员作出"));
}

#[tokio::test]
async fn staff_release_an_id_number_someone_else_took() {
    let (app, _sim) = spawn().await;
    let exam = app.exam("IDREL1").capacity(1).create().await;
    let squatter = registered(&app, exam, "冒用者", 801).await;
    let owner = app.login("the-real-owner").await;
    let register_owner = || async {
        app.http
            .post(app.at("/api/v1/registrations"))
            .bearer_auth(&owner)
            .json(&serde_json::json!({
                "exam_id": exam, "name": "本人", "id_number": id_number(801), "phone": "13900000801",
            }))
            .send()
            .await
            .expect("register")
            .status()
    };
    assert_eq!(register_owner().await, 409);

    let page_url = app.at(&format!("/admin/registrations/{}", squatter.id));
    let release_url = format!("{page_url}/release-id-number");
    let finance = staff(&app, Role::Finance).await;
    let (_, html) = get_text(&finance, page_url.clone()).await;
    assert!(
        !html.contains("解除身份证号绑定"),
        "only admins see the form"
    );
    let refused = finance
        .post(&release_url)
        .form(&[("reason", "x"), ("csrf", &field(&html, "csrf"))])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    let admin = staff(&app, Role::Admin).await;
    let (_, html) = get_text(&admin, page_url.clone()).await;
    assert!(html.contains("解除身份证号绑定"), "{html}");
    let done = admin
        .post(&release_url)
        .form(&[
            ("reason", "本人持身份证到考试办公室核实"),
            ("csrf", &field(&html, "csrf")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200, "redirected to the registration page");
    let html = done.text().await.unwrap();
    assert!(html.contains("身份证号已解除绑定"), "{html}");
    assert_eq!(status_of(&app, squatter.id).await, "cancelled");
    assert_eq!(seats_taken(&app, exam).await, 0, "the seat is back");
    assert_eq!(register_owner().await, 201, "the owner registers now");
    let audit: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'release_id_number' AND reason = $1",
    )
    .bind("本人持身份证到考试办公室核实")
    .fetch_one(&app.state.db.read)
    .await
    .unwrap();
    assert_eq!(audit, 1);
}
