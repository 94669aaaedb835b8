//! The ticket PDF as a reader sees it: parsed with lopdf, rendered with pdftoppm, QR decoded.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use examdesk_tickets::photo::PhotoFormat;
use examdesk_tickets::{TicketData, TicketFonts, TicketPhoto, render_bulk, render_ticket};
use image::{ImageEncoder, Rgb, RgbImage};
use lopdf::{Document, Object};

const VERIFY_URL: &str = "https://examdesk.example.cn/verify/AQHAxAEBR0syMDI2MDMwMTdYd2hhdGV2ZXI";

fn fonts() -> &'static TicketFonts {
    static FONTS: OnceLock<TicketFonts> = OnceLock::new();
    FONTS.get_or_init(|| TicketFonts::bundled().unwrap())
}

/// A 1-inch ID photo stand-in: blue background, a light head and shoulders.
fn photo() -> TicketPhoto {
    let (w, h) = (295u32, 413u32);
    let img = RgbImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as f32 - 147.0, y as f32 - 140.0);
        let head = dx * dx / (58.0 * 58.0) + dy * dy / (72.0 * 72.0) < 1.0;
        let (sx, sy) = (x as f32 - 147.0, y as f32 - 420.0);
        let body = sx * sx / (125.0 * 125.0) + sy * sy / (180.0 * 180.0) < 1.0;
        if head || body {
            Rgb([236, 236, 236])
        } else {
            Rgb([67, 142, 219])
        }
    });
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85)
        .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    TicketPhoto {
        bytes,
        format: PhotoFormat::Jpeg,
    }
}

fn sample() -> TicketData {
    TicketData {
        exam_title: "2026年上半年全国计算机等级考试".into(),
        exam_code: "NCRE2026A".into(),
        candidate_name: "欧阳晓东".into(),
        id_number: "11010519491231002X".into(),
        ticket_no: "NCRE2026A030175".into(),
        room: "第03考场（教学楼A座201）".into(),
        seat: 17,
        starts_at: "2026年6月20日（星期六）09:00—11:30".into(),
        venue: "北京市第一考点（海淀区实验中学） 北京市海淀区中关村南大街12号".into(),
        photo: Some(photo()),
        verify_url: VERIFY_URL.into(),
        notice: Vec::new(),
    }
}

fn page_text(doc: &Document, page: u32) -> String {
    doc.extract_text(&[page])
        .unwrap_or_default()
        .replace(['\n', ' '], "")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("examdesk-tickets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Renders page 1 with poppler's pdftoppm; fails the test when it is not installed.
fn rasterize(pdf: &[u8], dpi: u32, name: &str) -> PathBuf {
    let input = tmp(&format!("{name}.pdf"));
    std::fs::write(&input, pdf).unwrap();
    let prefix = tmp(name);
    let out = Command::new("pdftoppm")
        .args([
            "-png",
            "-r",
            &dpi.to_string(),
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
        ])
        .arg(&input)
        .arg(&prefix)
        .output();
    match out {
        Ok(o) if o.status.success() => prefix.with_extension("png"),
        Ok(o) => panic!("pdftoppm failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => panic!("pdftoppm cannot run ({e}): apt-get install poppler-utils"),
    }
}

#[test]
fn single_ticket_is_a4_with_searchable_text() {
    let t = sample();
    let rendered = render_ticket(fonts(), &t).unwrap();
    let doc = Document::load_mem(&rendered.pdf).unwrap();
    let pages = doc.get_pages();
    assert_eq!(pages.len(), 1);
    let page = doc.get_object(pages[&1]).unwrap().as_dict().unwrap();
    let media_box: Vec<f32> = page
        .get(b"MediaBox")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_float().unwrap())
        .collect();
    assert!(
        (media_box[2] - media_box[0] - 595.28).abs() < 1.0,
        "{media_box:?}"
    );
    assert!(
        (media_box[3] - media_box[1] - 841.89).abs() < 1.0,
        "{media_box:?}"
    );

    let text = page_text(&doc, 1);
    for needle in [
        "欧阳晓东",
        "NCRE2026A030175",
        "11010519491231002X",
        "准考证",
        "考生须知",
        "2026年上半年全国计算机等级考试",
    ] {
        assert!(text.contains(needle), "{needle:?} not in {text:?}");
    }
    assert!(rendered.missing_glyphs.is_empty());
}

fn embedded_fonts(doc: &Document) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for (_, obj) in doc.objects.iter() {
        let Ok(dict) = obj.as_dict() else { continue };
        if dict.get(b"Type").and_then(Object::as_name).ok() != Some(b"FontDescriptor") {
            continue;
        }
        let name =
            String::from_utf8_lossy(dict.get(b"FontName").unwrap().as_name().unwrap()).into_owned();
        let file = dict
            .get(b"FontFile2")
            .or_else(|_| dict.get(b"FontFile3"))
            .expect("font embedded");
        let stream = doc.get_object(file.as_reference().unwrap()).unwrap();
        let len = stream.as_stream().unwrap().content.len();
        found.push((name, len));
    }
    found
}

#[test]
fn font_is_embedded_as_a_small_subset() {
    let rendered = render_ticket(fonts(), &sample()).unwrap();
    let doc = Document::load_mem(&rendered.pdf).unwrap();
    let found = embedded_fonts(&doc);
    assert_eq!(found.len(), 1, "only the main font is used: {found:?}");
    let (name, len) = &found[0];
    let tag = name.split('+').next().unwrap();
    assert!(
        name.contains('+') && tag.len() == 6 && tag.bytes().all(|b| b.is_ascii_uppercase()),
        "subset tag in {name}"
    );
    assert!(
        *len < 100_000,
        "font stream {len} bytes; the full font is 5.2 MB"
    );
    assert!(
        rendered.pdf.len() < 60_000,
        "ticket is {} bytes",
        rendered.pdf.len()
    );
}

#[test]
fn ticket_without_photo_is_small() {
    let mut t = sample();
    t.photo = None;
    let rendered = render_ticket(fonts(), &t).unwrap();
    assert!(
        rendered.pdf.len() < 40_000,
        "ticket is {} bytes",
        rendered.pdf.len()
    );
    let doc = Document::load_mem(&rendered.pdf).unwrap();
    assert!(page_text(&doc, 1).contains("照片"));
}

#[test]
fn qr_code_decodes_to_the_verify_url() {
    let rendered = render_ticket(fonts(), &sample()).unwrap();
    let png = rasterize(&rendered.pdf, 100, "qr");
    let img = image::open(&png).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the page");
    let (_, content) = grids[0].decode().unwrap();
    assert_eq!(content, VERIFY_URL);
}

#[test]
fn rare_name_characters_fall_back_or_are_reported() {
    let mut t = sample();
    t.candidate_name = "刘䶮𠀀".into();
    let rendered = render_ticket(fonts(), &t).unwrap();
    assert_eq!(rendered.missing_glyphs, vec!['𠀀']);
    let doc = Document::load_mem(&rendered.pdf).unwrap();
    let found = embedded_fonts(&doc);
    assert_eq!(found.len(), 2, "䶮 comes from the fallback font: {found:?}");
    assert!(page_text(&doc, 1).contains("刘䶮"));
}

#[test]
fn bulk_pdf_shares_one_font_subset() {
    let tickets: Vec<TicketData> = (0..40u16)
        .map(|i| {
            let mut t = sample();
            t.candidate_name = ["王芳", "李娜", "张伟", "刘洋", "陈静"][usize::from(i % 5)].into();
            t.seat = i + 1;
            t.ticket_no = format!("NCRE2026A03{:03}5", i + 1);
            t
        })
        .collect();
    let mut calls = Vec::new();
    let bulk = render_bulk(fonts(), &tickets, |done, total| calls.push((done, total))).unwrap();
    assert_eq!(calls.len(), 40);
    assert_eq!(calls.last(), Some(&(40, 40)));
    let doc = Document::load_mem(&bulk).unwrap();
    assert_eq!(doc.get_pages().len(), 40);
    assert_eq!(embedded_fonts(&doc).len(), 1);
    assert!(page_text(&doc, 40).contains("NCRE2026A030405"));
    assert!(page_text(&doc, 2).contains("李娜"));
    let single = render_ticket(fonts(), &tickets[0]).unwrap().pdf.len();
    assert!(
        bulk.len() < 40 * single / 4,
        "bulk {} bytes vs 40 × {single}",
        bulk.len()
    );
}

#[test]
fn sample_page_renders() {
    let rendered = render_ticket(fonts(), &sample()).unwrap();
    if let Ok(dir) = std::env::var("TICKET_SAMPLE_DIR") {
        std::fs::write(PathBuf::from(dir).join("ticket-sample.pdf"), &rendered.pdf).unwrap();
    }
    let png = rasterize(&rendered.pdf, 40, "page");
    let img = image::open(&png).unwrap().to_luma8();
    // Not blank: a fair share of the page is ink.
    let dark = img.pixels().filter(|p| p.0[0] < 128).count();
    let share = dark as f32 / (img.width() * img.height()) as f32;
    assert!(share > 0.03 && share < 0.5, "ink share {share}");
}
