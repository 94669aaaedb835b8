//! An ID number is its owner's: the first WeChat account to register with it keeps it for every
//! exam, another account is refused without learning anything, and unpaid holds are limited per
//! account and per address so that a few accounts cannot empty an exam.

use serde_json::Value;

use crate::common::{TestApp, id_number};

async fn register_as(app: &TestApp, token: &str, exam_id: i64, id: &str) -> (u16, Value) {
    app.register_person(token, exam_id, "周八", id).await
}

#[tokio::test]
async fn another_account_cannot_use_an_id_number_and_learns_nothing() {
    let app = TestApp::spawn().await;
    let exam_a = app.exam("IDN01").create().await;
    let exam_b = app.exam("IDN02").create().await;
    let owner = app.login("id-owner").await;
    let other = app.login("id-squatter").await;
    let id = id_number(701);

    let (status, mine) = register_as(&app, &owner, exam_a, &id).await;
    assert_eq!(status, 201, "{mine}");
    // For the exam the owner registered for, and for one they did not: the same answer.
    let (s1, same_exam) = register_as(&app, &other, exam_a, &id).await;
    let (s2, other_exam) = register_as(&app, &other, exam_b, &id).await;
    assert_eq!((s1, s2), (409, 409));
    assert_eq!(same_exam, other_exam, "nothing tells the two apart");
    assert_eq!(same_exam["error"]["code"], "id_number_unavailable");
    let message = same_exam["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("联系考试办公室"), "{message}");
    let text = same_exam.to_string();
    assert!(
        !text.contains(&mine["id"].to_string()) && !text.contains("周八"),
        "{text}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM registrations").await,
        1,
        "nothing was held for the refused account"
    );

    // The owner uses it for the other exam, and a repeat of their own is their own business.
    assert_eq!(register_as(&app, &owner, exam_b, &id).await.0, 201);
    let (status, again) = register_as(&app, &owner, exam_a, &id).await;
    assert_eq!(status, 409);
    assert_eq!(again["error"]["code"], "already_registered");
}

#[tokio::test]
async fn a_corrected_registration_cannot_take_someone_elses_id_number() {
    let app = TestApp::spawn().await;
    let exam = app.exam("IDN03").manual_review().create().await;
    let owner = app.login("fix-owner").await;
    let other = app.login("fix-other").await;
    assert_eq!(
        register_as(&app, &owner, exam, &id_number(711)).await.0,
        201
    );
    let (status, body) = register_as(&app, &other, exam, &id_number(712)).await;
    assert_eq!(status, 201, "{body}");
    let rejected = body["id"].as_i64().unwrap();
    // Staff rejected it (the review flow itself is tested in tests/admin/review.rs).
    sqlx::query(
        "UPDATE registrations SET status = 'rejected', review_note = '照片不清晰' WHERE id = $1",
    )
    .bind(rejected)
    .execute(&app.state.db.write)
    .await
    .unwrap();
    sqlx::query("UPDATE exams SET seats_taken = seats_taken - 1")
        .execute(&app.state.db.write)
        .await
        .unwrap();
    let res = app
        .http
        .put(app.at(&format!("/api/v1/registrations/{rejected}")))
        .bearer_auth(&other)
        .json(&serde_json::json!({
            "name": "周八", "id_number": id_number(711), "phone": "13800138000",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "id_number_unavailable");
    let status: String = sqlx::query_scalar("SELECT status FROM registrations WHERE id = $1")
        .bind(rejected)
        .fetch_one(&app.state.db.read)
        .await
        .unwrap();
    assert_eq!(status, "rejected", "nothing changed");
}

#[tokio::test]
async fn five_accounts_from_one_address_cannot_sell_out_a_five_seat_exam() {
    let app = TestApp::spawn_with(&[
        ("EXAMDESK_UNPAID_HOLDS_PER_ADDRESS", "4"),
        ("EXAMDESK_LOGIN_PER_MINUTE", "0"),
    ])
    .await;
    let exam = app.exam("IDN04").capacity(5).create().await;
    let mut answers = Vec::new();
    for i in 0..5 {
        let token = app.login(&format!("squat-{i}")).await;
        answers.push(register_as(&app, &token, exam, &id_number(720 + i)).await);
    }
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert_eq!(statuses, [201, 201, 201, 201, 429]);
    assert_eq!(answers[4].1["error"]["code"], "too_many_unpaid");
    assert_eq!(
        app.count("SELECT capacity - seats_taken FROM exams").await,
        1,
        "a seat is left for someone else"
    );
}

#[tokio::test]
async fn one_account_holds_at_most_its_limit_of_unpaid_registrations() {
    let app = TestApp::spawn_with(&[("EXAMDESK_UNPAID_HOLDS_PER_ACCOUNT", "2")]).await;
    let token = app.login("many-exams").await;
    let mut exams = Vec::new();
    for code in ["IDN05", "IDN06", "IDN07"] {
        exams.push(app.exam(code).create().await);
    }
    let id = id_number(730);
    let first = register_as(&app, &token, exams[0], &id).await;
    assert_eq!(first.0, 201);
    assert_eq!(register_as(&app, &token, exams[1], &id).await.0, 201);
    let (status, body) = register_as(&app, &token, exams[2], &id).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "too_many_unpaid");
    // Cancelling one frees its place in the limit.
    let cancel = app
        .http
        .delete(app.at(&format!("/api/v1/registrations/{}", first.1["id"])))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 204);
    assert_eq!(register_as(&app, &token, exams[2], &id).await.0, 201);
}
