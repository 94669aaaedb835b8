//! The candidate's photo against the exam's published rules: each rule refused with its code and
//! the photo's measured value, phone photos turned upright, the multipart upload `wx.uploadFile`
//! makes, and the rules in `GET /api/v1/exams`.

use image::{ImageEncoder, Rgb, RgbImage};
use serde_json::Value;

use crate::common::{TestApp, staff};
use examdesk_tickets::photo::PhotoRules;

/// A JPEG with a red block in its top-left corner, so that a turn shows.
fn jpeg(w: u32, h: u32) -> Vec<u8> {
    crate::common::fixtures::jpeg_from(w, h, |x, y| {
        if x < 60 && y < 60 {
            Rgb([230, 20, 20])
        } else {
            Rgb([67, 142, 219])
        }
    })
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = RgbImage::from_pixel(w, h, Rgb([236, 236, 236]));
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    bytes
}

/// What a phone camera writes for a portrait photo: the sensor's landscape pixels and an APP1
/// Exif segment (little-endian TIFF, one IFD entry) whose Orientation tag (0x0112) is 6, "turn
/// 90° clockwise to view".
fn phone_portrait(stored_w: u32, stored_h: u32) -> Vec<u8> {
    let plain = jpeg(stored_w, stored_h);
    let mut exif = b"Exif\0\0II\x2a\0\x08\0\0\0".to_vec();
    exif.extend_from_slice(&[1, 0]); // one entry
    exif.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]);
    exif.extend_from_slice(&[0, 0, 0, 0]); // no next IFD
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&(exif.len() as u16 + 2).to_be_bytes());
    out.extend_from_slice(&exif);
    out.extend_from_slice(&plain[2..]);
    out
}

const BOUNDARY: &str = "----WxUploadBoundary7MA4YWxkTrZu0gW";

/// A `multipart/form-data` body as `wx.uploadFile` sends it: `formData` fields first, then the
/// file part (with the content type given, or none).
fn multipart(fields: &[(&str, &str)], file: Option<(&str, Option<&str>, &[u8])>) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some((name, content_type, bytes)) = file {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"tmp_0a1b2c.jpg\"\r\n")
                .as_bytes(),
        );
        if let Some(t) = content_type {
            body.extend_from_slice(format!("Content-Type: {t}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

struct Candidate<'a> {
    app: &'a TestApp,
    token: String,
    id: i64,
}

impl Candidate<'_> {
    async fn put(&self, bytes: Vec<u8>, content_type: &str) -> (u16, Value) {
        let res = self
            .app
            .http
            .put(
                self.app
                    .at(&format!("/api/v1/registrations/{}/photo", self.id)),
            )
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await
            .unwrap();
        (
            res.status().as_u16(),
            res.json().await.unwrap_or(Value::Null),
        )
    }

    async fn post(&self, body: Vec<u8>) -> (u16, Value) {
        let res = self
            .app
            .http
            .post(
                self.app
                    .at(&format!("/api/v1/registrations/{}/photo", self.id)),
            )
            .bearer_auth(&self.token)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        (
            res.status().as_u16(),
            res.json().await.unwrap_or(Value::Null),
        )
    }

    async fn post_file(&self, content_type: Option<&str>, bytes: &[u8]) -> (u16, Value) {
        self.post(multipart(
            &[("user", "wx")],
            Some(("photo", content_type, bytes)),
        ))
        .await
    }

    /// The stored photo: content type, bytes, recorded width and height.
    async fn stored(&self) -> Option<(String, Vec<u8>, i64, i64)> {
        use sqlx::Row;
        sqlx::query(
            "SELECT content_type, bytes, width, height FROM photos WHERE registration_id = $1",
        )
        .bind(self.id)
        .fetch_optional(&self.app.state.db.read)
        .await
        .unwrap()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
    }
}

async fn candidate<'a>(app: &'a TestApp, exam_id: i64, seq: u32) -> Candidate<'a> {
    let token = app.login(&format!("photo-{seq}")).await;
    let res = app.register(&token, exam_id, seq).await;
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    Candidate { app, token, id }
}

/// A candidate whose registration for a new exam `code` is paid (so the ticket prints).
async fn paid_candidate<'a>(
    app: &'a TestApp,
    sim: &wechat_pay_v2_simulator::Simulator,
    code: &str,
    name: &str,
    seq: u32,
) -> Candidate<'a> {
    let exam_id = app.exam(code).create().await;
    let paid = staff::paid(app, sim, exam_id, name, seq).await;
    Candidate {
        token: app.login(&format!("code-{seq}-{name}")).await,
        id: paid.id,
        app,
    }
}

fn assert_refused(got: &(u16, Value), code: &str, words: &[&str]) {
    let (status, body) = got;
    assert_eq!(*status, 422, "{body}");
    let error = &body["error"];
    assert_eq!(error["code"], code, "{body}");
    assert_eq!(error["field"], "photo", "{body}");
    let message = error["message"].as_str().unwrap_or_default();
    for w in words {
        assert!(message.contains(w), "{w:?} in {message:?}");
    }
}

#[tokio::test]
async fn each_photo_rule_is_refused_with_its_code_and_the_measured_value() {
    let app = TestApp::spawn().await;
    let exam_id = app
        .exam("PHOTO1")
        .photo_rules(PhotoRules {
            max_bytes: 200 * 1024,
            ..PhotoRules::default()
        })
        .create()
        .await;
    let c = candidate(&app, exam_id, 500).await;
    let within_rules = png(300, 400);
    // A noisy JPEG does not compress: over the exam's 200 KB, under the 2 MB cap.
    let noisy = {
        let img = RgbImage::from_fn(600, 800, |x, y| {
            let v = (x.wrapping_mul(7919) ^ y.wrapping_mul(104_729)).wrapping_mul(2_654_435_761);
            Rgb([(v >> 8) as u8, (v >> 16) as u8, (v >> 24) as u8])
        });
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 95)
            .write_image(img.as_raw(), 600, 800, image::ExtendedColorType::Rgb8)
            .unwrap();
        bytes
    };
    assert!(noisy.len() > 200 * 1024 && within_rules.len() < 200 * 1024);
    let noisy_kb = noisy.len().div_ceil(1024).to_string();
    let cases: Vec<(Vec<u8>, &str, &str, Vec<&str>)> = vec![
        (
            jpeg(240, 320),
            "image/jpeg",
            "photo_too_small",
            vec!["照片宽 240 像素", "至少 295 像素"],
        ),
        (
            jpeg(295, 380),
            "image/jpeg",
            "photo_too_small",
            vec!["照片高 380 像素", "至少 390 像素"],
        ),
        (
            jpeg(300, 500),
            "image/jpeg",
            "photo_aspect",
            vec!["宽高比 0.60", "3:4（0.75）± 5%"],
        ),
        (
            jpeg(600, 450),
            "image/jpeg",
            "photo_aspect",
            vec!["宽高比 1.33", "竖版"],
        ),
        (
            noisy.clone(),
            "image/jpeg",
            "photo_too_large",
            vec![&noisy_kb, "不超过 200 KB"],
        ),
        (
            png(2100, 2800),
            "image/png",
            "photo_too_many_pixels",
            vec!["宽 2100 像素", "2000"],
        ),
        (
            jpeg(300, 400),
            "image/gif",
            "photo_type",
            vec!["JPG 或 PNG"],
        ),
        (jpeg(300, 400), "image/png", "photo_type", vec!["不符"]),
        (
            b"not an image".to_vec(),
            "image/jpeg",
            "photo_undecodable",
            vec!["无法识别"],
        ),
        (
            Vec::new(),
            "image/jpeg",
            "photo_empty",
            vec!["没有收到照片"],
        ),
    ];
    for (bytes, content_type, code, words) in cases {
        let got = c.put(bytes, content_type).await;
        assert_refused(&got, code, &words);
    }
    assert_eq!(c.stored().await, None, "nothing stored for a refused photo");
    let (status, _) = c.put(within_rules, "image/png").await;
    assert_eq!(status, 204, "the same exam takes a photo within its rules");
}

#[tokio::test]
async fn the_default_rules_take_common_id_photo_sizes() {
    let app = TestApp::spawn().await;
    let exam_id = app.exam("PHOTO2").create().await;
    let c = candidate(&app, exam_id, 510).await;
    // 3:4, one-inch (一寸) and two-inch (二寸) photos at 300 dpi.
    for (w, h) in [(300, 400), (295, 413), (413, 579)] {
        let (status, body) = c.put(jpeg(w, h), "image/jpeg").await;
        assert_eq!(status, 204, "{w}x{h}: {body}");
        let (content_type, _, sw, sh) = c.stored().await.expect("stored");
        assert_eq!(
            (content_type.as_str(), sw, sh),
            ("image/jpeg", i64::from(w), i64::from(h))
        );
    }
}

#[tokio::test]
async fn a_phone_photo_with_exif_orientation_6_is_stored_and_printed_upright() {
    let (app, sim) = staff::spawn().await;
    let c = paid_candidate(&app, &sim, "PHOTO3", "韩梅梅", 520).await;
    // Stored 400 wide and 300 high: measured as stored it would be refused as landscape.
    let (status, body) = c.put(phone_portrait(400, 300), "image/jpeg").await;
    assert_eq!(status, 204, "{body}");
    let (_, bytes, w, h) = c.stored().await.expect("stored");
    assert_eq!((w, h), (300, 400));
    let upright = image::load_from_memory(&bytes).unwrap().to_rgb8();
    assert!(upright.width() < upright.height(), "stored upright");
    // Turned clockwise, the stored top-left corner is now at the top right.
    let [r, g, b] = upright.get_pixel(upright.width() - 30, 30).0;
    assert!(
        r > 180 && g < 90 && b < 90,
        "the red corner is at the top right: {r},{g},{b}"
    );

    let res = app
        .http
        .get(app.at(&format!("/api/v1/registrations/{}/ticket.pdf", c.id)))
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let doc = lopdf::Document::load_mem(&res.bytes().await.unwrap()).unwrap();
    let printed: Vec<(i64, i64)> = doc
        .objects
        .values()
        .filter_map(|o| o.as_stream().ok())
        .filter(|s| {
            s.dict.get(b"Subtype").and_then(|v| v.as_name()).ok() == Some(b"Image".as_slice())
        })
        .filter(|s| {
            s.dict.get(b"Filter").and_then(|v| v.as_name()).ok() == Some(b"DCTDecode".as_slice())
        })
        .map(|s| {
            let dim = |k: &[u8]| s.dict.get(k).and_then(|v| v.as_i64()).unwrap_or_default();
            (dim(b"Width"), dim(b"Height"))
        })
        .collect();
    assert_eq!(
        printed,
        vec![(300, 400)],
        "the ticket prints the upright photo"
    );
}

#[tokio::test]
async fn the_multipart_upload_does_what_the_put_does() {
    let app = TestApp::spawn().await;
    let exam_id = app.exam("PHOTO4").create().await;
    let c = candidate(&app, exam_id, 530).await;

    // Refused the same way as the PUT, with the same code and message.
    let put = c.put(jpeg(600, 450), "image/jpeg").await;
    let post = c.post_file(Some("image/jpeg"), &jpeg(600, 450)).await;
    assert_refused(&post, "photo_aspect", &["宽高比 1.33"]);
    assert_eq!(post, put);
    assert_refused(
        &c.post_file(Some("image/png"), &jpeg(300, 400)).await,
        "photo_type",
        &["不符"],
    );
    assert_refused(
        &c.post_file(Some("application/octet-stream"), b"GIF89a not a photo")
            .await,
        "photo_type",
        &["JPG 或 PNG"],
    );
    assert_refused(
        &c.post_file(Some("image/jpeg"), &jpeg(240, 320)).await,
        "photo_too_small",
        &["照片宽 240 像素"],
    );
    let (status, body) = c.post(multipart(&[("user", "wx")], None)).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (422, &Value::from("photo_missing")),
        "{body}"
    );
    let (status, body) = c
        .post(multipart(
            &[],
            Some(("file", Some("image/jpeg"), &jpeg(300, 400))),
        ))
        .await;
    assert_eq!(
        body["error"]["code"], "photo_missing",
        "a file under another name: {status}"
    );
    let (status, body) = c
        .post_file(Some("image/jpeg"), &vec![0xFF; 2 * 1024 * 1024 + 10])
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (413, &Value::from("photo_too_large"))
    );
    let (status, body) = c.post(vec![0xFF; 3 * 1024 * 1024]).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (413, &Value::from("photo_too_large")),
        "beyond the route's cap"
    );
    let res = app
        .http
        .post(app.at(&format!("/api/v1/registrations/{}/photo", c.id)))
        .bearer_auth(&c.token)
        .header("content-type", "image/jpeg")
        .body(jpeg(300, 400))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "not multipart");
    assert_eq!(c.stored().await, None, "nothing stored for a refused photo");

    // As phones send it: labelled octet-stream, a PNG by its bytes; then a phone's JPEG.
    let (status, body) = c
        .post_file(Some("application/octet-stream"), &png(300, 400))
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(c.stored().await.map(|s| s.0).as_deref(), Some("image/png"));
    let (status, _) = c.post_file(None, &phone_portrait(413, 295)).await;
    assert_eq!(status, 204);
    let (content_type, _, w, h) = c.stored().await.expect("stored");
    assert_eq!((content_type.as_str(), w, h), ("image/jpeg", 295, 413));

    let stranger = Candidate {
        token: app.login("stranger-photo").await,
        id: c.id,
        app: &app,
    };
    let (status, _) = stranger
        .post_file(Some("image/jpeg"), &jpeg(300, 400))
        .await;
    assert_eq!(status, 404, "another candidate's registration");
    let (status, _) = stranger.put(jpeg(300, 400), "image/jpeg").await;
    assert_eq!(status, 404);
    assert_eq!(
        c.stored().await.map(|s| (s.2, s.3)),
        Some((295, 413)),
        "unchanged"
    );
}

#[tokio::test]
async fn the_exam_list_shows_review_and_photo_rules() {
    let app = TestApp::spawn().await;
    app.exam("PHOTO5").create().await;
    app.exam("PHOTO6")
        .manual_review()
        .photo_rules(PhotoRules {
            min_width: 358,
            min_height: 441,
            aspect_width: 358,
            aspect_height: 441,
            aspect_tolerance_pct: 2,
            max_bytes: 100 * 1024,
        })
        .create()
        .await;
    let token = app.login("lister").await;
    let (status, exams) = app.get_json(&token, "/api/v1/exams").await;
    assert_eq!(status, 200);
    let by_code = |code: &str| {
        exams
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["code"] == code)
            .cloned()
            .unwrap_or_else(|| panic!("{code} in {exams}"))
    };
    let plain = by_code("PHOTO5");
    assert_eq!(plain["review"], "none");
    assert_eq!(
        plain["photo_rules"],
        serde_json::json!({"min_width": 295, "min_height": 390, "aspect_width": 3, "aspect_height": 4,
            "aspect_tolerance_pct": 5, "max_bytes": 2_097_152})
    );
    assert_eq!(plain["fee_fen"], 5000, "the other fields stay");
    let strict = by_code("PHOTO6");
    assert_eq!(strict["review"], "manual");
    assert_eq!(strict["photo_rules"]["min_width"], 358);
    assert_eq!(strict["photo_rules"]["max_bytes"], 102_400);
}

#[tokio::test]
async fn camera_metadata_is_not_stored_served_or_printed_and_a_cut_jpeg_is_refused() {
    let (app, sim) = staff::spawn().await;
    let c = paid_candidate(&app, &sim, "PHOTO9", "李雷", 521).await;
    // A camera's APP1 Exif segment with a GPS position in it.
    let gps = b"Exif\0\0II\x2a\0\x08\0\0\0GPSLatitude=31.2304N;GPSLongitude=121.4737E";
    let plain = jpeg(300, 400);
    let mut tagged = vec![0xFF, 0xD8, 0xFF, 0xE1];
    tagged.extend_from_slice(&(gps.len() as u16 + 2).to_be_bytes());
    tagged.extend_from_slice(gps);
    tagged.extend_from_slice(&plain[2..]);
    let has_gps = |bytes: &[u8]| bytes.windows(11).any(|w| w == b"GPSLatitude");
    assert!(has_gps(&tagged));

    let cut = {
        let mut cut = plain[..plain.len() / 2].to_vec();
        cut.extend_from_slice(&[0xFF, 0xD9]);
        cut
    };
    assert_refused(
        &c.put(cut, "image/jpeg").await,
        "photo_undecodable",
        &["损坏"],
    );
    assert_eq!(c.stored().await, None, "nothing stored for a cut photo");

    let (status, body) = c.put(tagged, "image/jpeg").await;
    assert_eq!(status, 204, "{body}");
    let (_, stored, _, _) = c.stored().await.expect("stored");
    assert!(!has_gps(&stored) && !stored.windows(4).any(|w| w == b"Exif"));

    let ticket = app
        .http
        .get(app.at(&format!("/api/v1/registrations/{}/ticket.pdf", c.id)))
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap();
    assert_eq!(ticket.status(), 200);
    let pdf = ticket.bytes().await.unwrap();
    let doc = lopdf::Document::load_mem(&pdf).unwrap();
    for object in doc.objects.values() {
        if let Ok(stream) = object.as_stream() {
            let content = stream
                .decompressed_content()
                .unwrap_or_else(|_| stream.content.clone());
            assert!(!has_gps(&content), "no GPS inside the ticket");
        }
    }
}
