//! The public notify routes under a flood of unsigned posts: the callback log keeps bodies only of
//! notifies whose signature verified; a refused one leaves a short record, a few per address and
//! minute, kept for the retention period.

use crate::common::TestApp;
use crate::common::staff::spawn;

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(&app.state.db.read)
        .await
        .expect(sql)
}

/// What the database takes on disk, as each database counts it.
async fn database_bytes(app: &TestApp) -> i64 {
    if app.db.is_postgres() {
        count(app, "SELECT pg_database_size(current_database())").await
    } else {
        count(
            app,
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
        )
        .await
    }
}

#[tokio::test]
async fn thousands_of_unsigned_notifies_leave_only_bounded_records() {
    let (app, _sim) = spawn().await;
    let before = database_bytes(&app).await;
    const POSTS: usize = 2016;
    // Random text, so that no compression of the stored value hides a body kept whole.
    let filler = examdesk::util::random_hex(16 * 1024);
    let body = format!(
        "<xml><return_code>SUCCESS</return_code><out_trade_no>X1</out_trade_no>\
         <sign>00000000000000000000000000000000</sign><junk>{filler}</junk></xml>"
    );
    let url = app.at("/wechat/pay/notify");
    let mut answers = Vec::with_capacity(POSTS);
    for _ in 0..POSTS / 32 {
        let mut batch = tokio::task::JoinSet::new();
        for _ in 0..32 {
            let request = app.http.post(&url).body(body.clone()).send();
            batch.spawn(async move { request.await.expect("post").text().await.expect("answer") });
        }
        answers.extend(batch.join_all().await);
    }
    assert_eq!(answers.len(), POSTS);
    for answer in &answers {
        assert!(
            answer.contains("FAIL") && answer.contains("bad signature"),
            "{answer}"
        );
    }
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM wechat_callbacks").await,
        0,
        "no body of an unsigned notify is kept"
    );
    let records = count(&app, "SELECT COUNT(*) FROM refused_callbacks").await;
    // The flood may straddle a minute: at most two minutes' share of one address.
    let most = 2 * i64::from(examdesk::payments::refused::PER_ADDRESS_PER_MINUTE);
    assert!(
        (1..=most).contains(&records),
        "{records} records for {POSTS} posts"
    );
    let (address, reason, size): (String, String, i64) =
        sqlx::query_as("SELECT address, reason, size FROM refused_callbacks LIMIT 1")
            .fetch_one(&app.state.db.read)
            .await
            .expect("a record");
    assert_eq!(address, "127.0.0.1");
    assert_eq!(reason, "refused: bad signature");
    assert_eq!(size, body.len() as i64);
    let grown = database_bytes(&app).await - before;
    assert!(
        grown < 1024 * 1024,
        "the database grew by {grown} bytes for {POSTS} posts of {} bytes",
        body.len()
    );
}

#[tokio::test]
async fn refused_records_are_kept_for_the_retention_period() {
    let app = TestApp::spawn_with(&[("EXAMDESK_REFUSED_CALLBACK_RETENTION_DAYS", "3")]).await;
    let now = examdesk::util::now();
    for (address, age_days) in [("192.0.2.1", 4), ("192.0.2.2", 2)] {
        sqlx::query(
            "INSERT INTO refused_callbacks (kind, received_at, address, reason, size) \
             VALUES ('pay', $1, $2, 'refused: bad signature', 100)",
        )
        .bind(now - age_days * 86_400)
        .bind(address)
        .execute(&app.state.db.write)
        .await
        .expect("insert");
    }
    examdesk::jobs::run_once(&app.state.payments, now)
        .await
        .expect("jobs");
    let left: Vec<String> = sqlx::query_scalar("SELECT address FROM refused_callbacks")
        .fetch_all(&app.state.db.read)
        .await
        .expect("rows");
    assert_eq!(left, ["192.0.2.2"], "the record older than 3 days is gone");
}
