//! Requests counted by route template and status, never by the path a client sent.

use crate::scrape::{Scrape, delta, serial, spawn};

const REQUESTS: &str = "examdesk_http_requests_total";
const DURATION_COUNT: &str = "examdesk_http_request_duration_seconds_count";
const DURATION_BUCKET: &str = "examdesk_http_request_duration_seconds_bucket";

#[tokio::test]
async fn a_request_is_counted_under_its_route_template_and_status() {
    let _one_at_a_time = serial().await;
    let app = spawn().await;
    let token = app.login("metrics-routes").await;
    let before = Scrape::of(&app).await;

    for _ in 0..3 {
        let (status, _) = app.get_json(&token, "/api/v1/exams").await;
        assert_eq!(status, 200);
    }
    let (status, body) = app.get_json(&token, "/api/v1/registrations/987654").await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = app.get_json(&token, "/no/such/page/555111").await;
    assert_eq!(status, 404);
    let after = Scrape::of(&app).await;

    let exams = [("method", "GET"), ("route", "/api/v1/exams")];
    assert_eq!(
        delta(
            &before,
            &after,
            REQUESTS,
            &[exams[0], exams[1], ("status", "200")]
        ),
        3.0
    );
    let one = [
        ("method", "GET"),
        ("route", "/api/v1/registrations/{id}"),
        ("status", "404"),
    ];
    assert_eq!(
        delta(&before, &after, REQUESTS, &one),
        1.0,
        "{}",
        after.text
    );
    let unrouted = [("method", "GET"), ("route", "unmatched"), ("status", "404")];
    assert_eq!(delta(&before, &after, REQUESTS, &unrouted), 1.0);
    assert!(
        !after.text.contains("987654") && !after.text.contains("555111"),
        "ids never become labels: {}",
        after.text
    );

    // The latency histogram saw the same three requests, each in some bucket up to +Inf.
    assert_eq!(delta(&before, &after, DURATION_COUNT, &exams), 3.0);
    let inf = [exams[0], exams[1], ("le", "+Inf")];
    assert_eq!(delta(&before, &after, DURATION_BUCKET, &inf), 3.0);
    let buckets: Vec<_> = after
        .series(DURATION_BUCKET)
        .into_iter()
        .filter(|l| l.get("route").map(String::as_str) == Some("/api/v1/exams"))
        .collect();
    assert!(buckets.len() > 5, "explicit buckets, not one: {buckets:?}");
}
