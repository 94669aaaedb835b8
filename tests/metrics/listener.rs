//! The metrics listener: its own address, Prometheus's text format, and nothing at all when the
//! setting is unset.

use crate::common::TestApp;
use crate::scrape::{Scrape, serial, spawn};

#[tokio::test]
async fn the_metrics_listener_answers_in_prometheus_text_format_apart_from_the_public_one() {
    let _one_at_a_time = serial().await;
    let app = spawn().await;
    let url = app.metrics_url.clone().expect("metrics listener");
    assert!(
        !url.starts_with(&app.url),
        "{url} is a listener of its own, not {}",
        app.url
    );
    // Something to count first, so that the scrape is not empty.
    let health = app.http.get(app.at("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let res = app.http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("text/plain; version=0.0.4")
    );
    let scrape = Scrape::parse(&res.text().await.unwrap());
    assert!(
        scrape
            .text
            .contains("# TYPE examdesk_http_requests_total counter"),
        "{}",
        scrape.text
    );
    assert!(
        scrape
            .text
            .contains("# TYPE examdesk_http_request_duration_seconds histogram"),
        "buckets are set, so a histogram and not a summary: {}",
        scrape.text
    );
    assert!(
        scrape.value(
            "examdesk_http_requests_total",
            &[("method", "GET"), ("route", "/healthz"), ("status", "200")]
        ) >= 1.0,
        "{}",
        scrape.text
    );
    let public = app.http.get(app.at("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404, "the public listener has no /metrics");
}

#[tokio::test]
async fn without_the_setting_there_is_no_metrics_listener() {
    let _one_at_a_time = serial().await;
    let app = TestApp::spawn().await;
    assert!(app.state.settings.metrics_bind.is_none());
    assert!(app.metrics_url.is_none(), "no listener was started");
    let public = app.http.get(app.at("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404, "and the public one does not serve it");
}
