//! The admission ticket PDF: one A4 page per candidate, the CJK font embedded as a subset.

mod canvas;
mod door_list;
mod layout;
mod sheet;
mod sign_in_sheet;
mod xobjects;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use printpdf::{
    FontId, Mm, Op, PdfDocument, PdfFont, PdfFontHandle, PdfPage, PdfParseErrorSeverity,
    PdfSaveOptions, XObjectId,
};
use thiserror::Error;

use super::fonts::{FontFace, TicketFonts};
use super::photo::PhotoFormat;
use super::qr::{QrError, QrMatrix};
use canvas::Canvas;
use layout::PageImages;

pub use door_list::{door_list_pages, render_door_lists};
pub use sheet::{RoomSheet, SheetRow};
pub use sign_in_sheet::{render_sign_in_sheets, sign_in_sheet_pages};

/// A stored, already checked photo (see [`crate::photo::check_photo`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketPhoto {
    pub bytes: Vec<u8>,
    pub format: PhotoFormat,
}

/// Everything printed on one ticket, already formatted for print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketData {
    /// E.g. "2026年上半年全国计算机等级考试"; the page adds "准考证" below it.
    pub exam_title: String,
    pub exam_code: String,
    pub candidate_name: String,
    pub id_number: String,
    pub ticket_no: String,
    /// Room as printed, e.g. "第03考场（教学楼A座201）".
    pub room: String,
    pub seat: u16,
    /// E.g. "2026年6月20日（星期六）09:00—11:30".
    pub starts_at: String,
    pub venue: String,
    pub photo: Option<TicketPhoto>,
    /// `EXAMDESK_PUBLIC_URL/verify/{token}`, encoded in the QR code.
    pub verify_url: String,
    /// 考生须知 items; empty means [`default_notice`].
    pub notice: Vec<String>,
}

impl TicketData {
    fn notice_lines(&self) -> Vec<String> {
        if self.notice.is_empty() {
            default_notice()
        } else {
            self.notice.clone()
        }
    }

    /// What every ticket of this exam prints alike: it picks the prepared font subset.
    fn fixed_chars(&self) -> impl Iterator<Item = char> + '_ {
        let notice: Vec<&str> = if self.notice.is_empty() {
            DEFAULT_NOTICE.to_vec()
        } else {
            self.notice.iter().map(String::as_str).collect()
        };
        [
            self.exam_title.as_str(),
            &self.exam_code,
            &self.starts_at,
            &self.venue,
        ]
        .into_iter()
        .chain(notice)
        .chain(layout::FIXED_TEXTS.iter().copied())
        .flat_map(str::chars)
    }

    /// What differs from candidate to candidate.
    fn candidate_chars(&self) -> impl Iterator<Item = char> + '_ {
        [
            &self.candidate_name,
            &self.id_number,
            &self.ticket_no,
            &self.room,
        ]
        .into_iter()
        .flat_map(|s| s.chars())
    }

    /// All text printed on the ticket, for the glyph check.
    fn printed_text(&self) -> String {
        let mut s = [
            &self.exam_title,
            &self.exam_code,
            &self.candidate_name,
            &self.id_number,
            &self.ticket_no,
            &self.room,
            &self.starts_at,
            &self.venue,
        ]
        .map(String::as_str)
        .join("\n");
        for line in self.notice_lines() {
            s.push('\n');
            s.push_str(&line);
        }
        s
    }
}

/// The usual candidate notice, used when an exam sets none.
pub fn default_notice() -> Vec<String> {
    DEFAULT_NOTICE.map(String::from).to_vec()
}

const DEFAULT_NOTICE: [&str; 6] = [
    "考生须凭本准考证和本人有效居民身份证原件进入考场，二者缺一不可。",
    "考生应于开考前30分钟到达考场，开考15分钟后不得进入考场，考试开始30分钟后方可交卷离场。",
    "除黑色签字笔、2B铅笔、橡皮外，严禁携带手机、智能手表等任何电子设备及资料进入考场。",
    "考生须按准考证上的考场号和座位号就座，并将准考证和身份证放在桌面左上角以便核验。",
    "考试结束铃响后立即停止答题，待监考人员收齐试卷和答题卡后方可离开考场。",
    "请妥善保管本准考证。二维码仅供考点入场核验，请勿涂改、折叠或转借他人。",
];

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TicketError {
    #[error("photo cannot be embedded: {0}")]
    Photo(String),
    #[error(transparent)]
    Qr(#[from] QrError),
    #[error("PDF writer reported: {0}")]
    Pdf(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedTicket {
    pub pdf: Vec<u8>,
    /// Characters neither font has; they print as an empty box. Show as a warning to staff.
    pub missing_glyphs: Vec<char>,
}

/// Characters of a ticket that no bundled font can print.
pub fn missing_glyphs(fonts: &TicketFonts, ticket: &TicketData) -> Vec<char> {
    fonts.missing_chars(&ticket.printed_text())
}

/// One ticket as a one-page PDF.
pub fn render_ticket(
    fonts: &TicketFonts,
    ticket: &TicketData,
) -> Result<RenderedTicket, TicketError> {
    let pdf = render_document(
        fonts,
        std::slice::from_ref(ticket),
        &format!("{} 准考证 {}", ticket.exam_title, ticket.ticket_no),
        |_, _| {},
    )?;
    Ok(RenderedTicket {
        pdf,
        missing_glyphs: missing_glyphs(fonts, ticket),
    })
}

/// Many tickets as one PDF for bulk printing, one page each, sharing one font subset (and one
/// copy of any photo that repeats). `progress(done, total)` is called after each page is laid
/// out; writing the file follows the last call.
pub fn render_bulk(
    fonts: &TicketFonts,
    tickets: &[TicketData],
    progress: impl FnMut(usize, usize),
) -> Result<Vec<u8>, TicketError> {
    let title = match tickets.first() {
        Some(t) => format!("{} 准考证（{}份）", t.exam_title, tickets.len()),
        None => "准考证".to_owned(),
    };
    render_document(fonts, tickets, &title, progress)
}

fn render_document(
    fonts: &TicketFonts,
    tickets: &[TicketData],
    title: &str,
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<u8>, TicketError> {
    let fonts = &fonts.for_document(
        tickets.iter().flat_map(TicketData::fixed_chars),
        tickets.iter().flat_map(TicketData::candidate_chars),
    );
    let (mut doc, font_ids) = Document::new(fonts, title);
    let mut pages = Vec::with_capacity(tickets.len());

    for (i, ticket) in tickets.iter().enumerate() {
        let photo = ticket.photo.as_ref().map(|p| doc.photo(p)).transpose()?;
        let (qr, modules) = xobjects::qr_xobject(&QrMatrix::encode(&ticket.verify_url)?);
        let qr_id = doc.pdf.add_xobject(&qr);

        let mut canvas = Canvas::new(fonts, &font_ids);
        let images = PageImages {
            photo: photo.as_ref().map(|(id, ratio)| (id, *ratio)),
            qr: (&qr_id, modules),
        };
        layout::draw_ticket(&mut canvas, ticket, &images);
        pages.push(a4_page(canvas));
        progress(i + 1, tickets.len());
    }
    doc.finish(pages)
}

fn a4_page(canvas: Canvas<'_>) -> PdfPage {
    PdfPage::new(Mm(210.0), Mm(297.0), canvas.ops)
}

/// A PDF being built: the fonts added once, and each distinct photo embedded once however many
/// pages show it.
struct Document<'a> {
    pdf: PdfDocument,
    photos: HashMap<&'a [u8], (XObjectId, f32)>,
    /// Each face of the document's fonts with the id its text is drawn with.
    faces: Vec<(FontId, Arc<FontFace>)>,
}

impl<'a> Document<'a> {
    /// The document and the ids of `fonts.faces()` in it, for [`Canvas::new`].
    fn new(fonts: &TicketFonts, title: &str) -> (Self, Vec<FontId>) {
        let mut pdf = PdfDocument::new(title);
        pdf.metadata.info.creator = "examdesk".into();
        pdf.metadata.info.producer = "examdesk (printpdf)".into();
        // The faces join the document only in `finish`, and only those a page uses: adding
        // one clones its parsed tables (the whole primary face's cmap, GSUB and GPOS), which
        // a ticket drawn from the prepared subset never needs.
        let faces: Vec<(FontId, Arc<FontFace>)> = fonts
            .faces()
            .iter()
            .map(|f| (FontId::new(), Arc::clone(f)))
            .collect();
        let font_ids = faces.iter().map(|(id, _)| id.clone()).collect();
        let doc = Self {
            pdf,
            photos: HashMap::new(),
            faces,
        };
        (doc, font_ids)
    }

    /// The photo's image XObject and its height/width ratio.
    fn photo(&mut self, photo: &'a TicketPhoto) -> Result<(XObjectId, f32), TicketError> {
        if let Some((id, ratio)) = self.photos.get(photo.bytes.as_slice()) {
            return Ok((id.clone(), *ratio));
        }
        let (xobject, ratio) = xobjects::photo_xobject(photo)?;
        let id = self.pdf.add_xobject(&xobject);
        self.photos
            .insert(photo.bytes.as_slice(), (id.clone(), ratio));
        Ok((id, ratio))
    }

    fn finish(mut self, pages: Vec<PdfPage>) -> Result<Vec<u8>, TicketError> {
        let used: HashSet<&FontId> = pages
            .iter()
            .flat_map(|p| &p.ops)
            .filter_map(|op| match op {
                Op::SetFont {
                    font: PdfFontHandle::External(id),
                    ..
                } => Some(id),
                _ => None,
            })
            .collect();
        for (id, face) in &self.faces {
            if used.contains(id) {
                self.pdf
                    .resources
                    .fonts
                    .map
                    .insert(id.clone(), PdfFont::new(face.parsed.clone()));
            }
        }
        self.pdf.with_pages(pages);
        write_pdf(&self.pdf)
    }
}

/// Serialises the document. printpdf's own `save` deflates every stream at level 9, which was
/// a third of the time of a ticket for no gain in size over level 6 (24.51 vs 24.53 KB of font).
fn write_pdf(doc: &PdfDocument) -> Result<Vec<u8>, TicketError> {
    let opts = PdfSaveOptions {
        optimize: false,
        subset_fonts: true,
        secure: true,
        image_optimization: None,
    };
    let mut warnings = Vec::new();
    let mut lo = printpdf::to_lopdf_doc(doc, &opts, &mut warnings);
    // An error-level warning means something will not show (e.g. text outside a text
    // section): fail loudly rather than hand out a ticket with blanks on it.
    if let Some(w) = warnings
        .iter()
        .find(|w| w.severity == PdfParseErrorSeverity::Error)
    {
        return Err(TicketError::Pdf(w.msg.clone()));
    }
    for object in lo.objects.values_mut() {
        if let lopdf::Object::Stream(stream) = object
            && stream.allows_compression
            && stream.dict.get(b"Filter").is_err()
        {
            let compressed = deflate(&stream.content).map_err(TicketError::Pdf)?;
            if compressed.len() + 19 < stream.content.len() {
                stream.dict.set("Filter", "FlateDecode");
                stream.set_content(compressed);
            }
        }
    }
    // The dictionaries (the font's /W widths, the info with its UTF-16 title, the page tree)
    // go into one deflated object stream and the cross-reference table becomes a stream:
    // about 1.5 KB less per ticket (PDF 1.5, which every current reader opens).
    let save = lopdf::SaveOptions::builder()
        .use_object_streams(true)
        .use_xref_streams(true)
        .compression_level(6)
        .build();
    let mut out = Vec::new();
    lo.save_with_options(&mut out, save)
        .map_err(|e| TicketError::Pdf(e.to_string()))?;
    Ok(out)
}

/// zlib-rs rather than flate2's miniz_oxide for the page's own streams: on the ticket's 40 KB
/// font subset it takes 0.65 ms at level 7 where miniz_oxide took 1.6 ms at level 6, for 145
/// bytes more.
fn deflate(data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = vec![0; zlib_rs::compress_bound(data.len())];
    let (compressed, rc) = zlib_rs::compress_slice(&mut out, data, zlib_rs::DeflateConfig::new(7));
    if rc != zlib_rs::ReturnCode::Ok {
        return Err(format!("deflate failed: {rc:?}"));
    }
    let len = compressed.len();
    out.truncate(len);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lopdf::{Document as Lopdf, Object};

    fn ticket(name: &str) -> TicketData {
        TicketData {
            exam_title: "2026年上半年全国计算机等级考试".into(),
            exam_code: "NCRE2026A".into(),
            candidate_name: name.into(),
            id_number: "11010519491231002X".into(),
            ticket_no: "NCRE2026A030175".into(),
            room: "第03考场（教学楼A座201）".into(),
            seat: 17,
            starts_at: "2026年6月20日（星期六）09:00—11:30".into(),
            venue: "北京市第一考点（海淀区实验中学） 北京市海淀区中关村南大街12号".into(),
            photo: None,
            verify_url: "https://examdesk.example.cn/verify/AQHAxAEBR0syMDI2".into(),
            notice: Vec::new(),
        }
    }

    fn text(doc: &Lopdf) -> String {
        doc.extract_text(&[1])
            .unwrap_or_default()
            .replace(['\n', ' '], "")
    }

    /// (FontName, bytes of the embedded font program) of every font in the PDF.
    fn fonts_in(doc: &Lopdf) -> Vec<(String, usize)> {
        doc.objects
            .values()
            .filter_map(|o| o.as_dict().ok())
            .filter(|d| d.get(b"Type").and_then(Object::as_name).ok() == Some(b"FontDescriptor"))
            .map(|d| {
                let name = d.get(b"FontName").and_then(Object::as_name).unwrap_or(b"");
                let len = d
                    .get(b"FontFile2")
                    .and_then(Object::as_reference)
                    .and_then(|r| doc.get_object(r))
                    .and_then(Object::as_stream)
                    .map(|s| s.content.len())
                    .unwrap_or(0);
                (String::from_utf8_lossy(name).into_owned(), len)
            })
            .collect()
    }

    /// Every character the ticket prints, as the PDF's text layer gives it back.
    fn assert_prints_everything(doc: &Lopdf, t: &TicketData) {
        let text = text(doc);
        for field in [
            &t.exam_title,
            &t.candidate_name,
            &t.id_number,
            &t.ticket_no,
            &t.room,
            &t.starts_at,
            &t.venue,
        ] {
            for c in field.chars().filter(|c| !c.is_whitespace()) {
                assert!(text.contains(c), "{c:?} of {field:?} not in {text:?}");
            }
        }
        for line in default_notice() {
            assert!(
                text.contains(&line.replace(' ', "")),
                "{line:?} not printed"
            );
        }
    }

    #[test]
    fn tickets_of_one_exam_share_one_prepared_subset() {
        let fonts = TicketFonts::bundled().unwrap();
        let first = ticket("王小明");
        let rendered = render_ticket(&fonts, &first).unwrap();
        let stats = fonts.prepared_stats();
        assert_eq!((stats.builds, stats.hits, stats.full_fonts), (1, 0, 0));
        let doc = Lopdf::load_mem(&rendered.pdf).unwrap();
        assert_prints_everything(&doc, &first);
        // One font, subset again by printpdf to this page's glyphs (tagged ABCDEF+): the
        // prepared subset's ~7,000 glyphs are not all embedded, and no page label needed the
        // whole font behind it.
        let found = fonts_in(&doc);
        assert_eq!(found.len(), 1, "{found:?}");
        let (name, len) = &found[0];
        assert!(name.len() > 7 && name.as_bytes()[6] == b'+', "{name}");
        assert!(name.contains("WenQuanYi"), "{name}");
        assert!(*len < 100_000, "font program {len} bytes");

        let second = ticket("欧阳晓东");
        let doc = Lopdf::load_mem(&render_ticket(&fonts, &second).unwrap().pdf).unwrap();
        let stats = fonts.prepared_stats();
        assert_eq!((stats.builds, stats.hits, stats.full_fonts), (1, 1, 0));
        assert_prints_everything(&doc, &second);
        assert_eq!(fonts_in(&doc).len(), 1);

        // Another exam with a character outside the pool in its venue gets its own subset,
        // which holds it.
        let mut other = ticket("张伟");
        other.venue = "上海市第二考点（堃华中学）".into();
        let doc = Lopdf::load_mem(&render_ticket(&fonts, &other).unwrap().pdf).unwrap();
        let stats = fonts.prepared_stats();
        assert_eq!((stats.builds, stats.hits, stats.full_fonts), (2, 1, 0));
        assert_prints_everything(&doc, &other);
        assert_eq!(fonts_in(&doc).len(), 1);
        // The first exam's subset is still cached.
        render_ticket(&fonts, &first).unwrap();
        assert_eq!(fonts.prepared_stats().builds, 2);
    }

    #[test]
    fn rare_characters_outside_the_prepared_subset_still_print() {
        let fonts = TicketFonts::bundled().unwrap();
        assert!(
            fonts.faces()[0].has_char('堃'),
            "the test needs 堃 in the primary font"
        );
        render_ticket(&fonts, &ticket("王小明")).unwrap();

        // 堃 is in the primary font but not in the pool: this ticket is drawn from the whole
        // fonts, one subset of the primary font as before.
        let t = ticket("李堃");
        let rendered = render_ticket(&fonts, &t).unwrap();
        let stats = fonts.prepared_stats();
        assert_eq!((stats.builds, stats.hits, stats.full_fonts), (1, 0, 1));
        let doc = Lopdf::load_mem(&rendered.pdf).unwrap();
        assert_prints_everything(&doc, &t);
        assert_eq!(fonts_in(&doc).len(), 1);
        assert!(rendered.missing_glyphs.is_empty());

        // 䶮 is in neither the pool nor the primary font: the prepared subset draws the rest
        // and the fallback font this one character.
        let t = ticket("刘䶮𠀀");
        let rendered = render_ticket(&fonts, &t).unwrap();
        let stats = fonts.prepared_stats();
        assert_eq!((stats.builds, stats.hits, stats.full_fonts), (1, 1, 1));
        assert_eq!(rendered.missing_glyphs, vec!['𠀀']);
        let doc = Lopdf::load_mem(&rendered.pdf).unwrap();
        assert!(text(&doc).contains("刘䶮"), "{}", text(&doc));
        assert_eq!(fonts_in(&doc).len(), 2, "prepared subset and fallback");
    }

    #[test]
    fn concurrent_renders_build_the_subset_once() {
        let fonts = TicketFonts::bundled().unwrap();
        std::thread::scope(|s| {
            for name in ["王芳", "李娜", "张伟", "刘洋"] {
                let fonts = fonts.clone();
                s.spawn(move || {
                    let t = ticket(name);
                    let pdf = render_ticket(&fonts, &t).unwrap().pdf;
                    assert_prints_everything(&Lopdf::load_mem(&pdf).unwrap(), &t);
                });
            }
        });
        let stats = fonts.prepared_stats();
        assert_eq!((stats.builds, stats.hits, stats.full_fonts), (1, 3, 0));
    }
}
