//! Exam day at the door: checking a candidate in from the verify page once (also when two staff
//! scan at the same moment), refusing void tickets, other days' exams and latecomers with the
//! attempt recorded, and the attendance page with its CSV exports.

use examdesk::db::admins::Role;

use wechat_pay_v2_simulator::Simulator;

use crate::common::TestApp;
use crate::common::staff::*;

/// Moves the exam's start to `starts_at` (registration closed just before it).
async fn starts_at(app: &TestApp, exam_id: i64, starts_at: i64) {
    sqlx::query("UPDATE exams SET closes_at = $2, starts_at = $2 WHERE id = $1")
        .bind(exam_id)
        .bind(starts_at)
        .execute(&app.state.db.write)
        .await
        .unwrap();
}

/// A paid, seated candidate of the exam; the verify URL of the ticket.
async fn ticket(
    app: &TestApp,
    sim: &Simulator,
    exam_id: i64,
    name: &str,
    seq: u32,
) -> (i64, String) {
    let r = paid(app, sim, exam_id, name, seq).await;
    let seated = seated_registration(app, r.id).await;
    (r.id, verify_url(app, &seated))
}

async fn check_in(client: &reqwest::Client, url: &str) -> (u16, String) {
    let (_, page) = get_text(client, url.to_string()).await;
    let csrf = field(&page, "csrf");
    let res = client
        .post(format!("{url}/check-in"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("check-in posted");
    (res.status().as_u16(), res.text().await.expect("page"))
}

async fn count(app: &TestApp, sql: String) -> i64 {
    app.count(&sql).await
}

#[tokio::test]
async fn the_first_check_in_is_recorded_and_a_second_scan_says_when() {
    let (app, sim) = spawn().await;
    let exam_id = app.exam("GATE01").capacity(50).create().await;
    let (id, url) = ticket(&app, &sim, exam_id, "王小明", 1).await;
    starts_at(&app, exam_id, examdesk::util::now()).await;

    let viewer = staff(&app, Role::Viewer).await;
    let (_, page) = get_text(&viewer, url.clone()).await;
    assert!(page.contains("登记入场") && page.contains("id=\"check-in\""));
    let (status, page) = check_in(&viewer, &url).await;
    assert_eq!(status, 200);
    assert!(page.contains("登记入场成功"), "{page}");
    assert!(
        page.contains("由 viewer 在第01考场登记入场"),
        "who and where: {page}"
    );
    let recorded = count(
        &app,
        format!(
            "SELECT COUNT(*) FROM checkins c JOIN registrations r ON r.id = c.registration_id \
             WHERE c.registration_id = {id} AND c.actor = 'viewer' AND c.room_id = r.room_id"
        ),
    )
    .await;
    assert_eq!(recorded, 1);

    let admin = staff(&app, Role::Admin).await;
    let (status, page) = check_in(&admin, &url).await;
    assert_eq!(status, 200);
    assert!(page.contains("此前已登记入场，本次未重复登记"), "{page}");
    assert!(
        page.contains("由 viewer"),
        "the first check-in is named: {page}"
    );
    assert!(!page.contains("id=\"check-in\""), "no button once in");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM checkins".into()).await, 1);

    // A form without the session's CSRF token, or no session at all, records nothing.
    let other = app.exam("GATE02").capacity(5).create().await;
    let (second, second_url) = ticket(&app, &sim, other, "李雷", 2).await;
    starts_at(&app, other, examdesk::util::now()).await;
    let res = admin
        .post(format!("{second_url}/check-in"))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = anonymous
        .post(format!("{second_url}/check-in"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "sent to sign in");
    assert_eq!(
        count(
            &app,
            format!("SELECT COUNT(*) FROM checkins WHERE registration_id = {second}")
        )
        .await,
        0
    );
    let mut forged = second_url.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let res = admin
        .post(format!("{forged}/check-in"))
        .form(&[(
            "csrf",
            field(&get_text(&admin, second_url.clone()).await.1, "csrf"),
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "a forged QR code checks nobody in");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM checkins".into()).await, 1);
}

#[tokio::test]
async fn two_staff_scanning_at_once_record_one_check_in() {
    let (app, sim) = spawn().await;
    let exam_id = app.exam("GATE03").capacity(50).create().await;
    let mut tickets = Vec::new();
    for seq in 0..8 {
        tickets.push(ticket(&app, &sim, exam_id, "并发考生", 10 + seq).await);
    }
    starts_at(&app, exam_id, examdesk::util::now()).await;
    let viewer = staff(&app, Role::Viewer).await;
    let admin = staff(&app, Role::Admin).await;
    let csrf_of = async |client: &reqwest::Client, url: &str| {
        field(&get_text(client, url.to_string()).await.1, "csrf")
    };
    for (id, url) in &tickets {
        let (a, b) = (csrf_of(&viewer, url).await, csrf_of(&admin, url).await);
        let post = |client: &reqwest::Client, csrf: String| {
            client
                .post(format!("{url}/check-in"))
                .form(&[("csrf", csrf)])
                .send()
        };
        let (one, two) = tokio::join!(post(&viewer, a), post(&admin, b));
        let pages = [
            one.unwrap().text().await.unwrap(),
            two.unwrap().text().await.unwrap(),
        ];
        let firsts = pages.iter().filter(|p| p.contains("登记入场成功")).count();
        let repeats = pages
            .iter()
            .filter(|p| p.contains("本次未重复登记"))
            .count();
        assert_eq!(
            (firsts, repeats),
            (1, 1),
            "registration {id}: one wins, one is told"
        );
        assert_eq!(
            count(
                &app,
                format!("SELECT COUNT(*) FROM checkins WHERE registration_id = {id}")
            )
            .await,
            1
        );
    }
}

#[tokio::test]
async fn void_tickets_other_days_and_latecomers_are_refused_and_the_attempt_recorded() {
    let (app, sim) = spawn().await;
    let admin = staff(&app, Role::Admin).await;
    let refusals = async |id: i64, reason: &str| {
        count(
            &app,
            format!(
                "SELECT COUNT(*) FROM checkin_refusals WHERE registration_id = {id} \
                 AND reason = '{reason}' AND actor = 'admin'"
            ),
        )
        .await
    };

    // The fixture's exam is the day after tomorrow.
    let later = app.exam("GATE04").capacity(5).create().await;
    let (id, url) = ticket(&app, &sim, later, "韩梅梅", 30).await;
    let (_, page) = get_text(&admin, url.clone()).await;
    assert!(
        page.contains("不是今天的考试"),
        "said before pressing: {page}"
    );
    let (status, page) = check_in(&admin, &url).await;
    assert_eq!(status, 200);
    assert!(page.contains("未能登记入场，本次尝试已记录") && page.contains("不是今天的考试"));
    assert_eq!(refusals(id, "other_day").await, 1);

    let late = app.exam("GATE05").capacity(5).create().await;
    let (id, url) = ticket(&app, &sim, late, "李明", 31).await;
    starts_at(&app, late, examdesk::util::now() - 31 * 60).await;
    let (_, page) = check_in(&admin, &url).await;
    assert!(page.contains("已超过开考后 30 分钟的入场时限"), "{page}");
    assert_eq!(refusals(id, "too_late").await, 1);

    let void = app.exam("GATE06").capacity(5).create().await;
    let (id, url) = ticket(&app, &sim, void, "张伟", 32).await;
    starts_at(&app, void, examdesk::util::now()).await;
    sqlx::query("UPDATE registrations SET status = 'refunded' WHERE id = $1")
        .bind(id)
        .execute(&app.state.db.write)
        .await
        .unwrap();
    let (_, page) = check_in(&admin, &url).await;
    assert!(page.contains("准考证无效"), "{page}");
    assert_eq!(refusals(id, "void").await, 1);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM checkins".into()).await,
        0,
        "nobody got in"
    );
}

#[tokio::test]
async fn attendance_counts_rooms_live_and_exports_absentees() {
    let (app, sim) = spawn().await;
    // 50 seats: two rooms, filled in order, so these four sit in the first.
    let exam_id = app.exam("GATE07").capacity(50).create().await;
    let mut people = Vec::new();
    for (seq, name) in [(40, "赵一"), (41, "钱二"), (42, "孙三"), (43, "周四")] {
        people.push(ticket(&app, &sim, exam_id, name, seq).await);
    }
    starts_at(&app, exam_id, examdesk::util::now()).await;
    let admin = staff(&app, Role::Admin).await;
    check_in(&admin, &people[0].1).await;
    sqlx::query("UPDATE registrations SET status = 'refunded' WHERE id = $1")
        .bind(people[1].0)
        .execute(&app.state.db.write)
        .await
        .unwrap();
    check_in(&admin, &people[1].1).await;

    let (status, page) = get_text(
        &admin,
        app.at(&format!("/admin/exams/{exam_id}/attendance")),
    )
    .await;
    assert_eq!(status, 200);
    let room_one = page
        .split("data-room=\"1\"")
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .expect("room 1 row");
    let cells: Vec<&str> = room_one
        .split("<td class=\"num\">")
        .skip(1)
        .map(|c| c.split('<').next().unwrap_or_default())
        .collect();
    assert_eq!(
        cells,
        ["3", "1", "2", "1"],
        "expected, in, absent, refused: {room_one}"
    );
    assert!(page.contains("data-room=\"2\""), "every room is listed");
    assert!(page.contains("http-equiv=\"refresh\""), "live on exam day");

    let csv = |query: &'static str| {
        admin
            .get(app.at(&format!("/admin/exams/{exam_id}/attendance.csv{query}")))
            .send()
    };
    let res = csv("?only=absent").await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("absent-GATE07.csv")
    );
    let absent = res.text().await.unwrap();
    assert!(
        absent.contains("孙三") && absent.contains("周四"),
        "{absent}"
    );
    assert!(!absent.contains("赵一"), "who came in is not absent");
    assert!(
        absent.contains(&format!("\t{}", crate::common::id_number(42))),
        "Excel-safe ID numbers: {absent}"
    );
    let all = csv("").await.unwrap().text().await.unwrap();
    assert_eq!(
        all.lines().count(),
        4,
        "a header and the three expected: {all}"
    );
    assert!(all.contains("已入场") && all.contains("缺考"));

    let viewer = staff(&app, Role::Viewer).await;
    let res = viewer
        .get(app.at(&format!("/admin/exams/{exam_id}/attendance.csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "personal data needs the export right");
    let (status, _) = get_text(
        &viewer,
        app.at(&format!("/admin/exams/{exam_id}/attendance")),
    )
    .await;
    assert_eq!(status, 200, "the counts are for every role");
}
