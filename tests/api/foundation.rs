//! The foundation: health, migrations on both databases, the uniqueness rules the database itself
//! enforces, and graceful shutdown.

use std::time::Duration;

use axum::routing::get;
use examdesk::db::{self, Db};
use sqlx::Row;

use crate::common::{TestApp, TestDb};

#[tokio::test]
async fn healthz_answers_ok_when_the_database_answers() {
    let app = TestApp::spawn().await;
    let res = app.http.get(app.at("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("x-request-id"));
    assert_eq!(res.text().await.unwrap(), "ok");

    app.state.db.close().await;
    let res = app.http.get(app.at("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 503, "a closed database must not look healthy");
}

#[tokio::test]
async fn migrations_create_every_table_once() {
    let test_db = TestDb::new().await;
    let db = Db::connect(&test_db.url).await.unwrap();
    assert_eq!(
        db::migrate(&db).await.unwrap(),
        8,
        "every migration applies to a new database"
    );
    assert_eq!(
        db::migrate(&db).await.unwrap(),
        0,
        "a second run applies nothing"
    );
    for table in [
        "exams",
        "exam_rooms",
        "candidates",
        "candidate_sessions",
        "registrations",
        "photos",
        "orders",
        "refunds",
        "admins",
        "admin_sessions",
        "audit_log",
        "wechat_callbacks",
        "refused_callbacks",
        "id_number_owners",
        "meta",
        "ticket_batches",
        "checkins",
        "checkin_refusals",
        "bill_checks",
        "bill_differences",
    ] {
        let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM {table}"
        )))
        .fetch_one(&db.read)
        .await
        .unwrap_or_else(|e| panic!("table {table}: {e}"))
        .try_get("n")
        .unwrap();
        assert_eq!(n, 0, "{table} starts empty");
    }
    db.close().await;
}

/// A database that ran 0001–0003 and holds a paid, seated registration with its photo, order and
/// callback: 0004 (which rebuilds `registrations` on SQLite) keeps every row and every reference,
/// and the registration reads as before.
#[tokio::test]
async fn the_exam_office_migration_keeps_what_was_there() {
    let test_db = TestDb::new().await;
    let db = Db::connect(&test_db.url).await.unwrap();
    let sqlite = db.backend == db::Backend::Sqlite;
    let earlier = if sqlite {
        [
            include_str!("../../migrations/sqlite/0001_schema.sql"),
            include_str!("../../migrations/sqlite/0002_ticket_batches.sql"),
            include_str!("../../migrations/sqlite/0003_callback_refusals.sql"),
        ]
    } else {
        [
            include_str!("../../migrations/postgres/0001_schema.sql"),
            include_str!("../../migrations/postgres/0002_ticket_batches.sql"),
            include_str!("../../migrations/postgres/0003_callback_refusals.sql"),
        ]
    };
    sqlx::raw_sql(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
         applied_at BIGINT NOT NULL)",
    )
    .execute(&db.write)
    .await
    .unwrap();
    for (i, sql) in earlier.iter().enumerate() {
        sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
            .execute(&db.write)
            .await
            .unwrap();
        sqlx::query("INSERT INTO schema_migrations VALUES ($1, 'earlier', 0)")
            .bind(i as i64 + 1)
            .execute(&db.write)
            .await
            .unwrap();
    }
    for statement in [
        "INSERT INTO exams (id, code, title, fee_fen, capacity, seats_taken, opens_at, closes_at, starts_at, \
         created_at, updated_at) VALUES (1, 'OLD01', '旧考试', 5000, 10, 1, 0, 100, 200, 0, 0)",
        "INSERT INTO exam_rooms (id, exam_id, room_no, name, capacity, next_seat) VALUES (1, 1, 1, '第1考场', 10, 1)",
        "INSERT INTO candidates (id, openid, created_at, last_login_at) VALUES (1, 'o-old', 0, 0)",
        "INSERT INTO registrations (id, exam_id, candidate_id, name, id_number, phone, status, room_id, seat_no, \
         ticket_no, ticket_version, paid_at, created_at, updated_at) VALUES (7, 1, 1, '王五', '11010519491231002X', \
         '13800138000', 'paid', 1, 1, 'OLD010100100', 1, 50, 10, 50)",
        "INSERT INTO photos (registration_id, content_type, bytes, width, height, updated_at) \
         VALUES (7, 'image/png', 'x', 300, 400, 0)",
        "INSERT INTO orders (id, registration_id, out_trade_no, total_fee, sign_type, status, transaction_id, \
         paid_fee, paid_at, created_at, updated_at) VALUES (1, 7, 'OT1', 5000, 'MD5', 'paid', 'T1', 5000, 50, 10, 50)",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&db.write)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    assert_eq!(
        db::migrate(&db).await.unwrap(),
        5,
        "only 0004 to 0008 are new"
    );
    for (table, n) in [
        ("registrations", 1),
        ("photos", 1),
        ("orders", 1),
        ("exams", 1),
    ] {
        let sql = format!("SELECT COUNT(*) AS n FROM {table}");
        let found: i64 = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_one(&db.read)
            .await
            .unwrap()
            .get("n");
        assert_eq!(found, n, "{table} kept its rows");
    }
    let kept = examdesk::db::registrations::get(&db, 7)
        .await
        .unwrap()
        .expect("the registration is still there");
    assert_eq!(kept.status.as_str(), "paid");
    assert_eq!(kept.ticket_no.as_deref(), Some("OLD010100100"));
    assert_eq!(kept.room.as_deref(), Some("第1考场"));
    let exam = examdesk::db::exams::get(&db, 1).await.unwrap().unwrap();
    assert_eq!(
        exam.review.as_str(),
        "none",
        "old exams do not start reviewing"
    );
    assert_eq!(exam.late_minutes, 30);
    if sqlite {
        let broken = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&db.read)
            .await
            .unwrap();
        assert!(broken.is_empty(), "every reference still holds");
        let enforced: i64 = sqlx::query("PRAGMA foreign_keys")
            .fetch_one(&db.write)
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            enforced, 1,
            "foreign keys are enforced again after migrating"
        );
    }
    // The new states are accepted by the rebuilt table and the old live rule still holds.
    let duplicate = sqlx::query(
        "INSERT INTO registrations (exam_id, candidate_id, name, id_number, phone, status, created_at, \
         updated_at) VALUES (1, 1, '王五', '11010519491231002X', '13800138000', 'under_review', 60, 60)",
    )
    .execute(&db.write)
    .await;
    assert!(
        duplicate.is_err(),
        "one live registration per candidate and exam"
    );
    db.close().await;
}

/// Rows a database kept before 0003 hold the refund notify parser's own messages; the migration
/// gives each the fixed reason it stands for, and leaves every other outcome as it was.
#[tokio::test]
async fn old_refusals_of_refund_notifies_become_fixed_reasons() {
    let app = TestApp::spawn().await;
    let db = &app.state.db;
    let rows = [
        (
            "refund",
            "refused: notify signature is wrong or missing",
            "refused: bad signature",
        ),
        (
            "refund",
            "refused: notify is for another appid (wx-other)",
            "refused: another merchant",
        ),
        (
            "refund",
            "refused: notify is for another mch_id (1)",
            "refused: another merchant",
        ),
        (
            "refund",
            "refused: notify body: unexpected end of input",
            "refused: malformed XML",
        ),
        (
            "refund",
            "refused: refund notify req_info: bad padding",
            "refused: invalid notify",
        ),
        (
            "refund",
            "refused: notify lacks refund_id",
            "refused: invalid notify",
        ),
        (
            "refund",
            "refused: refund amount or order mismatch",
            "refused: refund amount or order mismatch",
        ),
        (
            "refund",
            "refund RF1764000000AB SUCCESS",
            "refund RF1764000000AB SUCCESS",
        ),
        (
            "refund",
            "ignored: unknown out_refund_no",
            "ignored: unknown out_refund_no",
        ),
        (
            "pay",
            "refused: amount mismatch",
            "refused: amount mismatch",
        ),
        ("pay", "paid", "paid"),
    ];
    for (kind, old, _) in rows {
        sqlx::query(
            "INSERT INTO wechat_callbacks (kind, received_at, out_trade_no, body, outcome) \
             VALUES ($1, 0, NULL, '<xml/>', $2)",
        )
        .bind(kind)
        .bind(old)
        .execute(&db.write)
        .await
        .unwrap();
    }
    // Run again as it ran on a database that had such rows (its statements are idempotent).
    let conversion = match db.backend {
        db::Backend::Sqlite => include_str!("../../migrations/sqlite/0003_callback_refusals.sql"),
        db::Backend::Postgres => {
            include_str!("../../migrations/postgres/0003_callback_refusals.sql")
        }
    };
    sqlx::raw_sql(conversion).execute(&db.write).await.unwrap();
    let now: Vec<String> = sqlx::query("SELECT outcome FROM wechat_callbacks ORDER BY id")
        .fetch_all(&db.read)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("outcome"))
        .collect();
    let expected: Vec<&str> = rows.iter().map(|(_, _, new)| *new).collect();
    assert_eq!(now, expected);
    for text in &now {
        assert!(
            text.parse::<examdesk::domain::states::CallbackOutcome>()
                .is_ok(),
            "{text} is not an outcome the service can read"
        );
    }
}

/// Before 0007 the bodies of unsigned notifies were kept whole; 0007 moves each such row to a
/// short record of its size and leaves every signed callback as it was.
#[tokio::test]
async fn kept_bodies_of_unsigned_notifies_become_short_records() {
    let app = TestApp::spawn().await;
    let db = &app.state.db;
    let rows = [
        ("pay", "refused: bad signature", true),
        ("pay", "refused: malformed XML", true),
        ("refund", "refused: invalid notify", true),
        ("pay", "refused: invalid notify", false),
        ("pay", "refused: amount mismatch", false),
        ("refund", "refused: refund amount or order mismatch", false),
        ("pay", "paid", false),
    ];
    for (kind, outcome, _) in rows {
        sqlx::query(
            "INSERT INTO wechat_callbacks (kind, received_at, out_trade_no, body, outcome) \
             VALUES ($1, 5, NULL, '<xml>twelve</xml>', $2)",
        )
        .bind(kind)
        .bind(outcome)
        .execute(&db.write)
        .await
        .unwrap();
    }
    let conversion = match db.backend {
        db::Backend::Sqlite => include_str!("../../migrations/sqlite/0007_refused_callbacks.sql"),
        db::Backend::Postgres => {
            include_str!("../../migrations/postgres/0007_refused_callbacks.sql")
        }
    };
    // The table exists already: run the statements after its creation.
    let moves = &conversion[conversion.find("INSERT INTO").unwrap()..];
    sqlx::raw_sql(sqlx::AssertSqlSafe(moves))
        .execute(&db.write)
        .await
        .unwrap();
    let kept: Vec<String> = sqlx::query_scalar("SELECT outcome FROM wechat_callbacks ORDER BY id")
        .fetch_all(&db.read)
        .await
        .unwrap();
    let expected: Vec<&str> = rows.iter().filter(|r| !r.2).map(|r| r.1).collect();
    assert_eq!(kept, expected);
    let moved: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT kind, reason, size FROM refused_callbacks ORDER BY id")
            .fetch_all(&db.read)
            .await
            .unwrap();
    let expected: Vec<(String, String, i64)> = rows
        .iter()
        .filter(|r| r.2)
        .map(|r| (r.0.to_string(), r.1.to_string(), 17))
        .collect();
    assert_eq!(moved, expected);
}

async fn exec(db: &Db, sql: &str) -> Result<u64, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&db.write)
        .await
        .map(|r| r.rows_affected())
}

fn assert_unique_violation(result: Result<u64, sqlx::Error>, what: &str) {
    match result {
        Err(e) => assert!(
            db::is_unique_violation(&e),
            "{what}: expected a unique violation, got {e}"
        ),
        Ok(_) => panic!("{what}: the database accepted a duplicate"),
    }
}

async fn seed(db: &Db) {
    exec(
        db,
        "INSERT INTO exams (id, code, title, fee_fen, capacity, opens_at, closes_at, starts_at, \
              created_at, updated_at) VALUES (1, 'E1', 't', 5000, 10, 1, 2, 3, 0, 0)",
    )
    .await
    .unwrap();
    exec(db, "INSERT INTO candidates (id, openid, created_at, last_login_at) VALUES (1, 'o1', 0, 0), (2, 'o2', 0, 0)")
        .await
        .unwrap();
}

fn registration(id: i64, candidate: i64, id_number: &str, status: &str) -> String {
    format!(
        "INSERT INTO registrations (id, exam_id, candidate_id, name, id_number, phone, status, created_at, updated_at) \
         VALUES ({id}, 1, {candidate}, '张三', '{id_number}', '13800138000', '{status}', 0, 0)"
    )
}

#[tokio::test]
async fn one_live_registration_per_candidate_and_per_id_number() {
    let app = TestApp::spawn().await;
    let db = &app.state.db;
    seed(db).await;
    exec(
        db,
        &registration(1, 1, "11010519491231002X", "pending_payment"),
    )
    .await
    .unwrap();
    assert_unique_violation(
        exec(
            db,
            &registration(2, 1, "440524188001010014", "pending_payment"),
        )
        .await,
        "second live registration of one candidate",
    );
    assert_unique_violation(
        exec(
            db,
            &registration(3, 2, "11010519491231002X", "pending_payment"),
        )
        .await,
        "second live registration of one ID number",
    );
    exec(
        db,
        "UPDATE registrations SET status = 'cancelled' WHERE id = 1",
    )
    .await
    .unwrap();
    exec(
        db,
        &registration(4, 1, "11010519491231002X", "pending_payment"),
    )
    .await
    .expect("after a cancellation the candidate may register again");
}

#[tokio::test]
async fn trade_refund_and_identity_numbers_are_unique() {
    let app = TestApp::spawn().await;
    let db = &app.state.db;
    seed(db).await;
    assert_unique_violation(
        exec(
            db,
            "INSERT INTO candidates (openid, created_at, last_login_at) VALUES ('o1', 0, 0)",
        )
        .await,
        "openid",
    );
    exec(db, &registration(1, 1, "11010519491231002X", "paid"))
        .await
        .unwrap();
    exec(db, &registration(2, 2, "440524188001010014", "paid"))
        .await
        .unwrap();
    let order = |id: i64, reg: i64, no: &str, status: &str, tx: &str| {
        format!(
            "INSERT INTO orders (id, registration_id, out_trade_no, total_fee, sign_type, status, transaction_id, \
             created_at, updated_at) VALUES ({id}, {reg}, '{no}', 5000, 'MD5', '{status}', {tx}, 0, 0)"
        )
    };
    exec(db, &order(1, 1, "T1", "paid", "'4200001'"))
        .await
        .unwrap();
    assert_unique_violation(
        exec(db, &order(2, 2, "T1", "created", "NULL")).await,
        "out_trade_no",
    );
    assert_unique_violation(
        exec(db, &order(3, 2, "T3", "paid", "'4200001'")).await,
        "transaction_id",
    );
    exec(db, &order(4, 2, "T4", "created", "NULL"))
        .await
        .unwrap();
    assert_unique_violation(
        exec(db, &order(5, 2, "T5", "prepaid", "NULL")).await,
        "a second open order for one registration",
    );
    let refund = |id: i64, no: &str| {
        format!(
            "INSERT INTO refunds (id, order_id, out_refund_no, refund_fee, reason, status, created_at, updated_at) \
             VALUES ({id}, 1, '{no}', 100, 'r', 'requested', 0, 0)"
        )
    };
    exec(db, &refund(1, "R1")).await.unwrap();
    assert_unique_violation(exec(db, &refund(2, "R1")).await, "out_refund_no");
}

#[tokio::test]
async fn money_and_time_rules_hold_in_the_schema() {
    let app = TestApp::spawn().await;
    let db = &app.state.db;
    let bad_fee = exec(
        db,
        "INSERT INTO exams (code, title, fee_fen, capacity, opens_at, closes_at, starts_at, \
                            created_at, updated_at) VALUES ('E2', 't', 0, 10, 1, 2, 3, 0, 0)",
    )
    .await;
    assert!(bad_fee.is_err(), "a free exam is refused by the schema");
    let bad_window = exec(
        db,
        "INSERT INTO exams (code, title, fee_fen, capacity, opens_at, closes_at, starts_at, \
                               created_at, updated_at) VALUES ('E3', 't', 10, 10, 5, 2, 3, 0, 0)",
    )
    .await;
    assert!(
        bad_window.is_err(),
        "opens after closes is refused by the schema"
    );
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish() {
    let db = TestDb::new().await;
    let mut app = TestApp::spawn_on(db, &[], |state| {
        examdesk::build_app(state).route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(600)).await;
                "finished"
            }),
        )
    })
    .await;
    let http = app.http.clone();
    let slow_url = app.at("/slow");
    let slow = tokio::spawn(async move { http.get(slow_url).send().await?.text().await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let started = std::time::Instant::now();
    app.stop().await.expect("server stops cleanly");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "shutdown waited for the slow request"
    );
    assert_eq!(
        slow.await
            .unwrap()
            .expect("the slow request got its answer"),
        "finished"
    );
    let after = reqwest::Client::new().get(app.at("/healthz")).send().await;
    assert!(
        after.is_err(),
        "no new connections are accepted after shutdown"
    );
}
