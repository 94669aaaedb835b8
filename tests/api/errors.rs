//! Refusals axum makes before a handler runs, in the contract's error shape.

use crate::common::TestApp;

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    let text = response.text().await.expect("body");
    assert!(
        content_type.starts_with("application/json"),
        "{status}: {content_type:?} {text:?}"
    );
    let body: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "a message for people: {text}");
    let code = body["error"]["code"].as_str().expect("a code").to_string();
    (status, code)
}

#[tokio::test]
async fn axums_own_refusals_answer_in_the_api_error_shape() {
    let app = TestApp::spawn().await;
    let token = app.login("errors-shape").await;
    let get = |path: &str| app.http.get(app.at(path)).bearer_auth(&token).send();

    let bad_id = get("/api/v1/registrations/not-a-number").await.unwrap();
    assert_eq!(error_of(bad_id).await, (400, "bad_request".into()));
    let unknown = get("/api/v1/no-such-route").await.unwrap();
    assert_eq!(error_of(unknown).await, (404, "not_found".into()));

    let wrong_method = app
        .http
        .delete(app.at("/api/v1/exams"))
        .send()
        .await
        .unwrap();
    assert!(wrong_method.headers().contains_key("allow"));
    assert_eq!(
        error_of(wrong_method).await,
        (405, "method_not_allowed".into())
    );

    let huge = format!(r#"{{"code": "{}"}}"#, "x".repeat(3 * 1024 * 1024));
    let too_big = app
        .http
        .post(app.at("/api/v1/login"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(too_big).await, (413, "payload_too_large".into()));

    // The handlers' own errors keep their codes.
    let missing = get("/api/v1/registrations/999999").await.unwrap();
    assert_eq!(error_of(missing).await.0, 404);
}
