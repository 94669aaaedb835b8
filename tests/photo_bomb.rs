//! A photo whose colour profile inflates to 1.5 GB, uploaded through the real API: the process's
//! peak memory stays within a few MB of what it was. Its own binary with its one test, so that no
//! other test's memory shows in the process's peak.

#[path = "common/mod.rs"]
mod common;

use common::TestApp;
use image::{ImageEncoder, Rgb, RgbImage};

/// A valid `w` × `h` PNG with an iCCP (colour profile) chunk whose zlib data inflates to
/// `inflated_mib` MiB of zeros — a decompression bomb in about a thousandth of that. Built without
/// compressing it all: one steady-state deflate block of zeros repeated (each refers only to the
/// zeros before it), then the final block and the Adler-32 of that many zeros.
pub fn icc_bomb_png(w: u32, h: u32, inflated_mib: usize) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let zeros = vec![0u8; 1 << 20];
    let mut deflate = Compress::new(Compression::best(), false);
    let mut block = |input: &[u8], flush| {
        let mut out = Vec::with_capacity(4096);
        deflate
            .compress_vec(input, &mut out, flush)
            .expect("deflate");
        out
    };
    let first = block(&zeros, FlushCompress::Sync);
    let steady = block(&zeros, FlushCompress::Sync);
    let mut stream = vec![0x78, 0xDA];
    stream.extend_from_slice(&first);
    for _ in 1..inflated_mib {
        stream.extend_from_slice(&steady);
    }
    stream.extend_from_slice(&block(&[], FlushCompress::Finish));
    let n = (inflated_mib as u64) << 20;
    let adler = ((n % 65521) << 16) | 1;
    stream.extend_from_slice(&(adler as u32).to_be_bytes());

    let mut data = b"bomb\0\0".to_vec();
    data.extend_from_slice(&stream);
    let mut typed = b"iCCP".to_vec();
    typed.extend_from_slice(&data);
    let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(&typed);
    chunk.extend_from_slice(&crc32fast::hash(&typed).to_be_bytes());

    let img = RgbImage::from_pixel(w, h, Rgb([236, 236, 236]));
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .expect("png");
    let after_ihdr = 8 + 25;
    let mut out = png[..after_ihdr].to_vec();
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&png[after_ihdr..]);
    out
}

/// The process's peak resident memory so far (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn an_icc_profile_bomb_leaves_memory_where_it_was() {
    let app = TestApp::spawn().await;
    let exam_id = app.exam("BOMB26").create().await;
    let token = app.login("photo-bomb").await;
    let res = app.register(&token, exam_id, 1).await;
    assert_eq!(res.status(), 201);
    let id = res.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let bomb = icc_bomb_png(300, 400, 1536);
    assert!(bomb.len() < 2 * 1024 * 1024, "{} bytes", bomb.len());
    let upload = |bytes: Vec<u8>| {
        app.http
            .put(app.at(&format!("/api/v1/registrations/{id}/photo")))
            .bearer_auth(&token)
            .header("content-type", "image/png")
            .body(bytes)
            .send()
    };
    // A first upload of an ordinary photo of the same size warms up what any upload uses.
    let plain = icc_bomb_png(300, 400, 1);
    assert_eq!(upload(plain).await.unwrap().status(), 204);
    let before = peak_rss_kib();
    let res = upload(bomb).await.unwrap();
    let status = res.status();
    let body = res.text().await.unwrap();
    let grown_mib = (peak_rss_kib() - before) / 1024;
    assert_eq!(
        status, 204,
        "the pixels are fine, the profile is dropped: {body}"
    );
    assert!(grown_mib < 16, "peak memory grew by {grown_mib} MiB");
    let stored: Vec<u8> = sqlx::query_scalar("SELECT bytes FROM photos WHERE registration_id = $1")
        .bind(id)
        .fetch_one(&app.state.db.read)
        .await
        .unwrap();
    assert!(
        !stored.windows(4).any(|w| w == b"iCCP"),
        "no profile stored"
    );
}
