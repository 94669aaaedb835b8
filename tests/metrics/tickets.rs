//! Ticket PDFs counted by whether they were drawn or came from the cache, with the drawing's
//! duration.

use crate::scrape::{Scrape, delta, serial, spawn};

const RENDERS: &str = "examdesk_ticket_renders_total";
const DRAWING_COUNT: &str = "examdesk_ticket_render_duration_seconds_count";

#[tokio::test]
async fn a_ticket_drawn_is_counted_and_a_cached_one_is_not_drawn_again() {
    let _one_at_a_time = serial().await;
    let app = spawn().await;
    let exam = app.exam("TICK26").create().await;
    let token = app.login("metrics-ticket").await;
    let res = app.register(&token, exam, 7).await;
    assert_eq!(res.status(), 201);
    let id = res.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .expect("registration id");
    let (status, pay) = app
        .post_json(&token, &format!("/api/v1/registrations/{id}/pay"))
        .await;
    assert_eq!(status, 200, "{pay}");
    let out_trade_no = pay["out_trade_no"].as_str().expect("out_trade_no");
    app.simulator().pay(out_trade_no).expect("paid");
    crate::common::staff::seated_registration(&app, id).await;

    let path = format!("/api/v1/registrations/{id}/ticket.pdf");
    let fetch = async || {
        let res = app.http.get(app.at(&path)).bearer_auth(&token).send().await;
        let res = res.expect("ticket request");
        assert_eq!(res.status(), 200);
        let pdf = res.bytes().await.expect("ticket bytes");
        assert!(pdf.starts_with(b"%PDF"), "a PDF");
    };
    let before = Scrape::of(&app).await;
    fetch().await;
    let drawn = Scrape::of(&app).await;
    fetch().await;
    let cached = Scrape::of(&app).await;

    assert_eq!(delta(&before, &drawn, RENDERS, &[("source", "drawn")]), 1.0);
    assert_eq!(
        delta(&before, &drawn, RENDERS, &[("source", "cached")]),
        0.0
    );
    assert_eq!(delta(&before, &drawn, DRAWING_COUNT, &[]), 1.0);
    assert!(
        delta(
            &before,
            &drawn,
            "examdesk_ticket_render_duration_seconds_sum",
            &[]
        ) > 0.0
    );
    assert_eq!(
        delta(&drawn, &cached, RENDERS, &[("source", "cached")]),
        1.0
    );
    assert_eq!(delta(&drawn, &cached, RENDERS, &[("source", "drawn")]), 0.0);
    assert_eq!(delta(&drawn, &cached, DRAWING_COUNT, &[]), 0.0);
}
