//! The multipart photo upload (`POST /api/v1/registrations/{id}/photo`) on any body: axum's own
//! multipart parsing, the handler's choice of the `photo` part (`examdesk::http::api::photo_part`),
//! then the photo check and re-encoding it stores (`check_photo`). Never a panic; whatever is
//! accepted came from at most `MAX_PHOTO_BYTES`, is stored in the format it was uploaded in,
//! decodes to the size reported, and keeps within the system's limits and the exam's rules.
#![no_main]

use axum::body::Body;
use axum::extract::{FromRequest, Multipart};
use axum::http::{Request, header};
use examdesk_tickets::photo::{
    MAX_HEIGHT, MAX_PHOTO_BYTES, MAX_WIDTH, PhotoFormat, PhotoRules, check_photo,
};
use image::ImageFormat;
use libfuzzer_sys::fuzz_target;

/// The most lenient rules an exam may publish (`domain::exam::check_photo_rules` accepts them),
/// so that small inputs reach decoding and re-encoding.
const RULES: PhotoRules = PhotoRules {
    min_width: 1,
    min_height: 1,
    aspect_width: 1,
    aspect_height: 1,
    aspect_tolerance_pct: 50,
    max_bytes: MAX_PHOTO_BYTES as u32,
};

fuzz_target!(|data: &[u8]| {
    assert!(examdesk::domain::exam::check_photo_rules(&RULES).is_empty());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    let request = Request::builder()
        .method("POST")
        .uri("/api/v1/registrations/1/photo")
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=X")
        .body(Body::from(data.to_vec()))
        .expect("a request");
    let part = runtime.block_on(async {
        let mut multipart = Multipart::from_request(request, &()).await.ok()?;
        examdesk::http::api::photo_part(&mut multipart).await.ok()
    });
    let Some((bytes, declared)) = part else {
        return;
    };
    let Ok(photo) = check_photo(&bytes, declared.as_deref(), &RULES) else {
        return;
    };
    assert!(bytes.len() <= MAX_PHOTO_BYTES);
    let (w, h) = (photo.info.width, photo.info.height);
    assert!(
        (1..=MAX_WIDTH).contains(&w) && (1..=MAX_HEIGHT).contains(&h),
        "{w} x {h} accepted"
    );
    assert!(
        RULES.fits_aspect(w, h),
        "{w} x {h} accepted against the aspect rule"
    );
    let format = match photo.info.format {
        PhotoFormat::Jpeg => ImageFormat::Jpeg,
        PhotoFormat::Png => ImageFormat::Png,
    };
    assert_eq!(
        image::guess_format(&photo.bytes).ok(),
        Some(format),
        "stored in another format"
    );
    let stored = image::load_from_memory_with_format(&photo.bytes, format)
        .expect("the stored photo decodes");
    assert_eq!(
        (stored.width(), stored.height()),
        (w, h),
        "stored size differs from the reported one"
    );
});
