//! Tickets through the candidate API: seats and numbers once paid, the photo, and the PDF itself.

use serde_json::Value;

use crate::common::fixtures::jpeg;
use crate::common::{TestApp, id_number};

/// Registers, pays through the simulator and waits for the seat.
async fn paid(
    app: &TestApp,
    code: &str,
    exam_id: i64,
    seq: u32,
    name: &str,
) -> (String, i64, Value) {
    let token = app.login(code).await;
    let res = app
        .http
        .post(app.at("/api/v1/registrations"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"exam_id": exam_id, "name": name, "id_number": id_number(seq), "phone": "13800138000"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let (status, args) = app
        .post_json(&token, &format!("/api/v1/registrations/{id}/pay"))
        .await;
    assert_eq!(status, 200);
    let prepay = args["package"]
        .as_str()
        .unwrap()
        .trim_start_matches("prepay_id=")
        .to_string();
    app.simulator().pay(&prepay).unwrap();
    app.wait_for_status(&token, id, "paid").await;
    let body = app
        .wait_for_registration(&token, id, "has a ticket number", |body| {
            body["ticket_no"].is_string()
        })
        .await;
    (token, id, body)
}

async fn get_pdf(app: &TestApp, token: &str, id: i64) -> reqwest::Response {
    app.http
        .get(app.at(&format!("/api/v1/registrations/{id}/ticket.pdf")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn text_of(pdf: &[u8]) -> String {
    let doc = lopdf::Document::load_mem(pdf).expect("a valid PDF");
    doc.extract_text(&[1])
        .unwrap_or_default()
        .replace(['\n', ' '], "")
}

#[tokio::test]
async fn a_paid_registration_gets_a_seat_a_number_and_a_ticket() {
    let app = TestApp::spawn().await;
    let exam_id = app.exam("NCRE26").capacity(40).create().await;
    let mut numbers = std::collections::HashSet::new();
    let mut seats = std::collections::HashSet::new();
    let mut first = None;
    for i in 0..3 {
        let (token, id, body) = paid(&app, &format!("t-{i}"), exam_id, 400 + i, "欧阳晓东").await;
        let no = body["ticket_no"]
            .as_str()
            .expect("a ticket number once paid")
            .to_string();
        assert!(examdesk_tickets::number::validate(&no), "{no}");
        assert!(no.starts_with("NCRE26"));
        assert!(numbers.insert(no.clone()), "ticket numbers are unique");
        assert!(
            seats.insert((body["room"].clone(), body["seat_no"].clone())),
            "seats are unique"
        );
        first.get_or_insert((token, id, no));
    }
    let (token, id, no) = first.unwrap();
    let res = get_pdf(&app, &token, id).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    let pdf = res.bytes().await.unwrap().to_vec();
    let doc = lopdf::Document::load_mem(&pdf).unwrap();
    let page = doc.get_pages()[&1];
    let media = doc
        .get_dictionary(page)
        .unwrap()
        .get(b"MediaBox")
        .unwrap()
        .as_array()
        .unwrap()
        .clone();
    let w = media[2].as_float().unwrap();
    let h = media[3].as_float().unwrap();
    assert!(
        (w - 595.28).abs() < 1.0 && (h - 841.89).abs() < 1.0,
        "A4, got {w}x{h}"
    );
    let text = text_of(&pdf);
    assert!(text.contains("欧阳晓东"), "{text}");
    assert!(text.contains(&no), "{text}");
    assert!(text.contains("准考证"));
    assert!(
        pdf.len() < 80 * 1024,
        "a ticket stays small: {} bytes",
        pdf.len()
    );

    let again = get_pdf(&app, &token, id).await.bytes().await.unwrap();
    assert_eq!(
        again.to_vec(),
        pdf,
        "served from the cache while nothing changed"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let cached: Vec<_> = std::fs::read_dir(app.db.dir.path().join("data").join("tickets"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(!cached.is_empty(), "the ticket was cached");
        for file in cached {
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} holds personal data", file.display());
        }
    }
}

#[tokio::test]
async fn no_ticket_before_payment_and_none_for_others() {
    let app = TestApp::spawn().await;
    let exam_id = app.exam("NCRE27").create().await;
    let token = app.login("early").await;
    let res = app.register(&token, exam_id, 410).await;
    let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let res = get_pdf(&app, &token, id).await;
    assert_eq!(res.status(), 409);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "not_paid"
    );

    let (_, paid_id, _) = paid(&app, "owner-t", exam_id, 411, "张三").await;
    let res = get_pdf(&app, &token, paid_id).await;
    assert_eq!(res.status(), 404, "someone else's ticket");
}

#[tokio::test]
async fn the_photo_is_checked_stored_and_printed() {
    let app = TestApp::spawn().await;
    let exam_id = app.exam("NCRE28").create().await;
    let (token, id, _) = paid(&app, "photo", exam_id, 420, "李雷").await;
    let before = get_pdf(&app, &token, id)
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let put = |body: Vec<u8>, ct: &'static str| {
        app.http
            .put(app.at(&format!("/api/v1/registrations/{id}/photo")))
            .bearer_auth(&token)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let res = put(b"not an image".to_vec(), "image/jpeg").await.unwrap();
    assert_eq!(res.status(), 422);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["field"], "photo");
    assert_eq!(err["error"]["code"], "photo_undecodable");
    let res = put(jpeg(600, 400), "image/jpeg").await.unwrap();
    assert_eq!(res.status(), 422, "a landscape photo is refused");
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "photo_aspect"
    );
    let res = put(vec![0u8; 2 * 1024 * 1024 + 10], "image/jpeg")
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "photo_too_large"
    );
    let res = put(jpeg(300, 400), "image/gif").await.unwrap();
    assert_eq!(res.status(), 422, "only JPEG or PNG");
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "photo_type"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM photos").await,
        0,
        "nothing stored for bad photos"
    );

    let res = put(jpeg(300, 400), "image/jpeg").await.unwrap();
    assert_eq!(res.status(), 204);
    let after = get_pdf(&app, &token, id)
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();
    assert_ne!(after, before, "the ticket is drawn again with the photo");
    let doc = lopdf::Document::load_mem(&after).unwrap();
    let images = doc.objects.values().filter(|o| {
        o.as_stream()
            .ok()
            .and_then(|s| s.dict.get(b"Subtype").ok())
            .and_then(|v| v.as_name().ok())
            == Some(b"Image".as_slice())
    });
    assert!(images.count() >= 1, "the photo is embedded");

    let stranger = app.login("stranger").await;
    let res = app
        .http
        .put(app.at(&format!("/api/v1/registrations/{id}/photo")))
        .bearer_auth(&stranger)
        .header("content-type", "image/jpeg")
        .body(jpeg(300, 400))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn a_name_no_font_can_print_is_flagged_not_hidden() {
    let app = TestApp::spawn().await;
    let exam_id = app.exam("NCRE29").create().await;
    let (token, id, _) = paid(&app, "rare", exam_id, 430, "𠀀明").await;
    assert_eq!(get_pdf(&app, &token, id).await.status(), 200);
    let flags: String = sqlx::Row::get(
        &sqlx::query("SELECT flags FROM registrations WHERE id = $1")
            .bind(id)
            .fetch_one(&app.state.db.read)
            .await
            .unwrap(),
        "flags",
    );
    assert!(flags.contains("missing_glyph:𠀀"), "{flags}");
}
