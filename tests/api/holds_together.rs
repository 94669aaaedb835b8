//! Registrations that arrive together are decided together (one commit for many holds): each
//! still gets the answer it would get alone, and the exam never holds more than its seats.

use serde_json::Value;

use crate::common::{TestApp, id_number, register_person};

/// Sends every registration at the same moment; the answers come back in the order sent.
async fn all_at_once(app: &TestApp, sends: &[(String, i64, String)]) -> Vec<(u16, Value)> {
    let mut set = tokio::task::JoinSet::new();
    for (i, (token, exam_id, id)) in sends.iter().cloned().enumerate() {
        let http = app.http.clone();
        let url = app.at("/api/v1/registrations");
        set.spawn(async move {
            let answer = register_person(&http, &url, &token, exam_id, "吴九", &id).await;
            (i, answer)
        });
    }
    let mut answers = vec![(0, Value::Null); sends.len()];
    while let Some(done) = set.join_next().await {
        let (i, answer) = done.expect("registration task");
        answers[i] = answer;
    }
    answers
}

#[tokio::test]
async fn a_crowd_at_once_gets_exactly_the_seats_and_every_answer_it_would_get_alone() {
    let app = TestApp::spawn_with(&[
        ("EXAMDESK_UNPAID_HOLDS_PER_ADDRESS", "0"),
        ("EXAMDESK_LOGIN_PER_MINUTE", "0"),
    ])
    .await;
    let exam = app.exam("TOGETHER1").capacity(25).create().await;
    let mut tokens = Vec::new();
    for i in 0..80 {
        tokens.push(app.login(&format!("crowd-{i}")).await);
    }
    // 80 accounts with their own ID numbers, one account twice at the same moment, and a second
    // account with the first one's ID number: all sent at once.
    let mut sends = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        sends.push((token.clone(), exam, id_number(900 + i as u32)));
    }
    sends.push((tokens[0].clone(), exam, id_number(900)));
    sends.push((tokens[1].clone(), exam, id_number(900)));
    let answers = all_at_once(&app, &sends).await;
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    let sold_out = answers
        .iter()
        .filter(|(s, body)| *s == 409 && body["error"]["code"] == "sold_out")
        .count();
    let refused_ids = answers
        .iter()
        .filter(|(s, body)| {
            *s == 409
                && matches!(
                    body["error"]["code"].as_str(),
                    Some("already_registered" | "id_number_unavailable")
                )
        })
        .count();
    assert_eq!(created, 25, "{answers:?}");
    assert_eq!(
        created + sold_out + refused_ids,
        answers.len(),
        "{answers:?}"
    );
    assert_eq!(app.count("SELECT seats_taken FROM exams").await, 25);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM registrations WHERE status = 'pending_payment'")
            .await,
        25
    );
    // Each ID number held at most once, and bound only to an account that holds a seat with it
    // or asked first with it.
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM (SELECT id_number FROM registrations GROUP BY id_number \
             HAVING COUNT(*) > 1) AS twice"
        )
        .await,
        0
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM id_number_owners o WHERE NOT EXISTS (SELECT 1 FROM registrations r \
             WHERE r.id_number = o.id_number AND r.candidate_id = o.candidate_id)"
        )
        .await,
        0,
        "a refused request left no binding behind"
    );
}

#[tokio::test]
async fn refusals_in_one_batch_leave_nothing_behind() {
    let app = TestApp::spawn_with(&[
        ("EXAMDESK_UNPAID_HOLDS_PER_ACCOUNT", "2"),
        ("EXAMDESK_UNPAID_HOLDS_PER_ADDRESS", "0"),
    ])
    .await;
    let exams = [
        app.exam("TOGETHER2").create().await,
        app.exam("TOGETHER3").create().await,
        app.exam("TOGETHER4").create().await,
        app.exam("TOGETHER5").create().await,
    ];
    let greedy = app.login("greedy").await;
    let other = app.login("latecomer").await;
    // One account for four exams at once (two allowed), each with a new ID number; another
    // account for the first exam with an ID number nobody has yet.
    let mut sends: Vec<(String, i64, String)> = exams
        .iter()
        .enumerate()
        .map(|(i, exam)| (greedy.clone(), *exam, id_number(950 + i as u32)))
        .collect();
    sends.push((other.clone(), exams[0], id_number(960)));
    let answers = all_at_once(&app, &sends).await;
    let greedy_ok = answers[..4].iter().filter(|(s, _)| *s == 201).count();
    let greedy_limited = answers[..4]
        .iter()
        .filter(|(s, body)| *s == 429 && body["error"]["code"] == "too_many_unpaid")
        .count();
    assert_eq!((greedy_ok, greedy_limited), (2, 2), "{answers:?}");
    assert_eq!(answers[4].0, 201, "{:?}", answers[4]);
    assert_eq!(
        app.count("SELECT CAST(SUM(seats_taken) AS BIGINT) FROM exams")
            .await,
        3
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM id_number_owners").await,
        3,
        "the two refused ID numbers were not bound"
    );
}
