//! Tickets seen by staff: the exam-door check of the QR code (valid, void, forged), one ticket,
//! the bulk PDF with its progress page, and re-arranging seats by a recorded seed.

use examdesk::db::admins::Role;

use crate::common::staff::*;
use crate::common::wait_until;

#[tokio::test]
async fn the_door_check_says_valid_void_or_forged() {
    let (app, sim) = spawn().await;
    let exam_id = app.exam("DOOR26").capacity(50).create().await;
    let paid_one = paid(&app, &sim, exam_id, "王小明", 1).await;
    let r = seated_registration(&app, paid_one.id).await;
    let url = verify_url(&app, &r);

    // Not signed in: sent to sign in, and back to the check afterwards.
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = anonymous.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .contains("next=%2Fverify%2F")
    );

    let viewer = staff(&app, Role::Viewer).await;
    let (status, html) = get_text(&viewer, url.clone()).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("verify-valid") && html.contains("有效"),
        "{html}"
    );
    assert!(html.contains("王小明") && html.contains(r.ticket_no.as_deref().unwrap()));

    let mut altered = url.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == 'A' { 'B' } else { 'A' });
    let (_, html) = get_text(&viewer, altered).await;
    assert!(
        html.contains("verify-forged") && html.contains("伪造"),
        "an altered token: {html}"
    );
    let (_, html) = get_text(&viewer, app.at("/verify/made-up-token")).await;
    assert!(html.contains("伪造"));
    assert!(
        !html.contains("王小明"),
        "a forged code shows nobody's data"
    );

    // A full refund voids the ticket.
    let admin = staff(&app, Role::Admin).await;
    let (_, page) = get_text(
        &admin,
        app.at(&format!("/admin/registrations/{}", paid_one.id)),
    )
    .await;
    let form = refund_form(&page).expect("a refund form for the paid order");
    let res = admin
        .post(app.at(&form.action))
        .form(&[
            ("csrf", form.csrf.as_str()),
            ("out_refund_no", form.out_refund_no.as_str()),
            ("amount", "50.00"),
            ("reason", "考生申请退考"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the refund is accepted");
    wait_for_status(&app, paid_one.id, "refunded").await;
    let (_, html) = get_text(&viewer, url).await;
    assert!(
        html.contains("verify-void") && html.contains("作废"),
        "{html}"
    );
}

#[tokio::test]
async fn staff_print_one_ticket_or_all_of_them_with_progress() {
    let (app, sim) = spawn().await;
    let exam_id = app.exam("BULK26").capacity(80).create().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = paid(&app, &sim, exam_id, "批量考生", 10 + i).await;
        seated_registration(&app, r.id).await;
        ids.push(r.id);
    }
    let finance = staff(&app, Role::Finance).await;
    let res = finance
        .get(app.at(&format!("/admin/registrations/{}/ticket.pdf", ids[0])))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/pdf");

    let (_, page) = get_text(
        &finance,
        app.at(&format!("/admin/exams/{exam_id}/registrations")),
    )
    .await;
    let csrf = field(&page, "csrf");
    let res = finance
        .post(app.at(&format!("/admin/exams/{exam_id}/tickets")))
        .form(&[("csrf", csrf.as_str()), ("room_no", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "redirected to the progress page");
    let progress_url = res.url().to_string();
    let html = res.text().await.unwrap();
    assert!(html.contains("批量生成准考证"), "{html}");
    let html = wait_until("the bulk PDF is ready to download", async || {
        let (_, html) = get_text(&finance, progress_url.clone()).await;
        if html.contains("batch-download") {
            Ok(html)
        } else {
            Err(html)
        }
    })
    .await;
    assert!(html.contains("已完成：共 5 页"), "{html}");
    let pdf = finance
        .get(format!("{progress_url}/tickets.pdf"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let doc = lopdf::Document::load_mem(&pdf).unwrap();
    assert_eq!(doc.get_pages().len(), 5, "one page per seated candidate");

    let viewer = staff(&app, Role::Viewer).await;
    let res = viewer.get(progress_url).send().await.unwrap();
    assert_eq!(
        res.status(),
        403,
        "bulk prints hold personal data: not for viewers"
    );
}

#[tokio::test]
async fn seats_are_re_arranged_after_closing_by_a_recorded_seed() {
    let (app, sim) = spawn().await;
    let exam_id = app.exam("SEAT26").capacity(60).create().await;
    let mut before = Vec::new();
    for i in 0..8 {
        let r = paid(&app, &sim, exam_id, "座位考生", 20 + i).await;
        before.push(seated_registration(&app, r.id).await);
    }
    let admin = staff(&app, Role::Admin).await;
    let (_, page) = get_text(
        &admin,
        app.at(&format!("/admin/exams/{exam_id}/registrations")),
    )
    .await;
    let csrf = field(&page, "csrf");
    let res = admin
        .post(app.at(&format!("/admin/exams/{exam_id}/seats/shuffle")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "not while registration is open");

    sqlx::query("UPDATE exams SET status = 'closed' WHERE id = $1")
        .bind(exam_id)
        .execute(&app.state.db.write)
        .await
        .unwrap();
    let res = admin
        .post(app.at(&format!("/admin/exams/{exam_id}/seats/shuffle")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("座位已重新编排：8"));
    let seed: i64 = sqlx::query_scalar("SELECT seat_seed FROM exams WHERE id = $1")
        .bind(exam_id)
        .fetch_one(&app.state.db.read)
        .await
        .unwrap();
    let logged: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'seats.shuffle' AND detail = $1",
    )
    .bind(format!("seed={seed}"))
    .fetch_one(&app.state.db.read)
    .await
    .unwrap();
    assert_eq!(logged, 1, "the seed is in the audit log");

    let mut seats = std::collections::HashSet::new();
    let mut moved = 0;
    for old in &before {
        let now = examdesk::db::registrations::get(&app.state.db, old.id)
            .await
            .unwrap()
            .unwrap();
        assert!(
            seats.insert((now.room.clone(), now.seat_no)),
            "no seat twice"
        );
        assert!(
            now.ticket_version > old.ticket_version,
            "every ticket is re-issued"
        );
        if now.ticket_no != old.ticket_no {
            moved += 1;
            let viewer_url = verify_url(&app, old);
            let (_, html) = get_text(&admin, viewer_url).await;
            assert!(
                html.contains("作废"),
                "an old print of a moved seat is void"
            );
        }
    }
    assert!(moved > 0, "the shuffle moved people");
    // The plan is reproducible from the recorded seed.
    let rooms: Vec<examdesk_tickets::seats::Room> = sqlx::query_as::<_, (i64, String, i64)>(
        "SELECT room_no, name, capacity FROM exam_rooms WHERE exam_id = $1 ORDER BY room_no",
    )
    .bind(exam_id)
    .fetch_all(&app.state.db.read)
    .await
    .unwrap()
    .into_iter()
    .map(|(n, name, c)| examdesk_tickets::seats::Room {
        room_no: n as u16,
        name,
        capacity: c as u16,
    })
    .collect();
    let mut ordered = before.clone();
    ordered.sort_by_key(|r| (r.paid_at, r.id));
    let ids: Vec<i64> = ordered.iter().map(|r| r.id).collect();
    let plan = examdesk_tickets::seats::shuffle(seed as u64, &rooms, &ids).unwrap();
    for a in plan {
        let now = examdesk::db::registrations::get(&app.state.db, a.registration_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(now.seat_no, Some(i64::from(a.seat.seat_no)));
    }
}

#[tokio::test]
async fn a_name_the_fonts_cannot_print_is_shown_to_staff() {
    let (app, sim) = spawn().await;
    let exam_id = app.exam("GLYPH26").create().await;
    let r = paid(&app, &sim, exam_id, "𠀀明", 40).await;
    let seated = seated_registration(&app, r.id).await;
    let admin = staff(&app, Role::Admin).await;
    let res = admin
        .get(app.at(&format!("/admin/registrations/{}/ticket.pdf", seated.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the ticket is still drawn");
    let (_, page) = get_text(&admin, app.at(&format!("/admin/registrations/{}", r.id))).await;
    assert!(
        page.contains("姓名含字库缺字「𠀀」"),
        "the warning is on the registration's page"
    );
}
