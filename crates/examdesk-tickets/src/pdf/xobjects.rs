//! The two XObjects on a ticket: the candidate's photo as an embedded JPEG, and the QR code as
//! a vector form in module units.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits, Rgb, RgbImage};
use printpdf::{DictItem, ExternalStream, ExternalXObject};

use super::{TicketError, TicketPhoto};
use crate::photo::PhotoFormat;
use crate::qr::{QUIET_ZONE, QrMatrix};

/// Wider photos are scaled down: the photo box is 30 mm wide, so 450 px is 380 dpi, sharper
/// than any office printer, and keeps the ticket small however large the upload was.
const MAX_EMBED_WIDTH: u32 = 450;
const JPEG_QUALITY: u8 = 85;
const MAX_DECODE_ALLOC: u64 = 64 * 1024 * 1024;

fn name(n: &str) -> DictItem {
    DictItem::Name(n.as_bytes().to_vec())
}

/// What a JPEG's frame header says, enough to embed the file unchanged as `/DCTDecode`.
struct JpegFrame {
    width: u32,
    height: u32,
    components: u8,
}

/// Reads the first start-of-frame header (baseline, extended or progressive Huffman).
fn jpeg_frame(bytes: &[u8]) -> Option<JpegFrame> {
    if bytes.get(..2) != Some(&[0xFF, 0xD8]) {
        return None;
    }
    let mut i = 2;
    while i + 4 <= bytes.len() {
        if bytes[i] != 0xFF {
            return None;
        }
        let marker = bytes[i + 1];
        if marker == 0xFF {
            i += 1;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
        if matches!(marker, 0xC0..=0xC2) {
            let seg = bytes.get(i + 4..i + 2 + len)?;
            if seg.len() < 6 || seg[0] != 8 {
                return None;
            }
            return Some(JpegFrame {
                height: u32::from(u16::from_be_bytes([seg[1], seg[2]])),
                width: u32::from(u16::from_be_bytes([seg[3], seg[4]])),
                components: seg[5],
            });
        }
        // Any other frame type (arithmetic, lossless, 12-bit) or the scan itself: give up and
        // let the caller re-encode.
        if matches!(marker, 0xC3..=0xCF | 0xDA) && marker != 0xC4 && marker != 0xCC {
            return None;
        }
        i += 2 + len;
    }
    None
}

fn decode(photo: &TicketPhoto) -> Result<DynamicImage, TicketError> {
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    let mut reader = ImageReader::with_format(
        Cursor::new(&photo.bytes[..]),
        match photo.format {
            PhotoFormat::Jpeg => ImageFormat::Jpeg,
            PhotoFormat::Png => ImageFormat::Png,
        },
    );
    reader.limits(limits);
    reader
        .decode()
        .map_err(|e| TicketError::Photo(e.to_string()))
}

/// Flattens transparency onto white paper, scales down to the embed width, encodes as JPEG.
fn reencode(photo: &TicketPhoto) -> Result<(Vec<u8>, u32, u32), TicketError> {
    let img = decode(photo)?;
    let rgba = img.to_rgba8();
    let (w, h) = rgba.dimensions();
    let mut rgb = RgbImage::from_fn(w, h, |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let a = u16::from(p[3]);
        let blend = |c: u8| ((u16::from(c) * a + 255 * (255 - a)) / 255) as u8;
        Rgb([blend(p[0]), blend(p[1]), blend(p[2])])
    });
    if w > MAX_EMBED_WIDTH {
        let nh = (u64::from(h) * u64::from(MAX_EMBED_WIDTH) / u64::from(w)).max(1) as u32;
        rgb = image::imageops::resize(
            &rgb,
            MAX_EMBED_WIDTH,
            nh,
            image::imageops::FilterType::Triangle,
        );
    }
    let (w, h) = rgb.dimensions();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .encode_image(&rgb)
        .map_err(|e| TicketError::Photo(e.to_string()))?;
    Ok((out, w, h))
}

/// The photo as an image XObject. A JPEG of sensible size goes in byte for byte (no decoding,
/// no quality loss); anything else is re-encoded once.
pub fn photo_xobject(photo: &TicketPhoto) -> Result<(ExternalXObject, f32), TicketError> {
    let passthrough = match photo.format {
        PhotoFormat::Jpeg => jpeg_frame(&photo.bytes)
            .filter(|f| matches!(f.components, 1 | 3) && f.width <= MAX_EMBED_WIDTH),
        PhotoFormat::Png => None,
    };
    let (content, width, height, gray) = match passthrough {
        Some(f) => (photo.bytes.clone(), f.width, f.height, f.components == 1),
        None => {
            let (bytes, w, h) = reencode(photo)?;
            (bytes, w, h, false)
        }
    };
    if width == 0 || height == 0 {
        return Err(TicketError::Photo("photo has no pixels".into()));
    }
    let dict = BTreeMap::from([
        ("Type".to_owned(), name("XObject")),
        ("Subtype".to_owned(), name("Image")),
        ("Width".to_owned(), DictItem::Int(i64::from(width))),
        ("Height".to_owned(), DictItem::Int(i64::from(height))),
        (
            "ColorSpace".to_owned(),
            name(if gray { "DeviceGray" } else { "DeviceRGB" }),
        ),
        ("BitsPerComponent".to_owned(), DictItem::Int(8)),
        ("Filter".to_owned(), name("DCTDecode")),
    ]);
    let xobject = ExternalXObject {
        stream: ExternalStream {
            dict,
            content,
            // Already JPEG-compressed; deflating again gains nothing.
            compress: false,
        },
        width: None,
        height: None,
        dpi: None,
    };
    Ok((xobject, height as f32 / width as f32))
}

/// The QR code as a form XObject in module units (quiet zone included), dark rectangles on a
/// white square. Returns the form and its side in modules.
pub fn qr_xobject(matrix: &QrMatrix) -> (ExternalXObject, f32) {
    let side = matrix.size() + 2 * QUIET_ZONE;
    let mut content = format!("1 g 0 0 {side} {side} re f 0 g\n");
    for r in matrix.rects() {
        // Module rows count down from the top; PDF y counts up from the bottom.
        let x = QUIET_ZONE + r.x;
        let y = side - QUIET_ZONE - r.y - r.h;
        let _ = writeln!(content, "{x} {y} {} {} re", r.w, r.h);
    }
    content.push_str("f\n");
    let dict = BTreeMap::from([
        ("Type".to_owned(), name("XObject")),
        ("Subtype".to_owned(), name("Form")),
        (
            "BBox".to_owned(),
            DictItem::Array(vec![
                DictItem::Int(0),
                DictItem::Int(0),
                DictItem::Int(side as i64),
                DictItem::Int(side as i64),
            ]),
        ),
    ]);
    let xobject = ExternalXObject {
        stream: ExternalStream {
            dict,
            content: content.into_bytes(),
            compress: true,
        },
        width: None,
        height: None,
        dpi: None,
    };
    (xobject, side as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::ImageEncoder;

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_pixel(w, h, Rgb([67, 142, 219]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
            .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    #[test]
    fn small_jpeg_is_embedded_unchanged() {
        let bytes = jpeg(295, 413);
        let photo = TicketPhoto {
            bytes: bytes.clone(),
            format: PhotoFormat::Jpeg,
        };
        let (x, ratio) = photo_xobject(&photo).unwrap();
        assert_eq!(x.stream.content, bytes);
        assert!((ratio - 413.0 / 295.0).abs() < 1e-4);
    }

    #[test]
    fn large_jpeg_and_png_are_reencoded_small() {
        let photo = TicketPhoto {
            bytes: jpeg(1500, 2100),
            format: PhotoFormat::Jpeg,
        };
        let (x, _) = photo_xobject(&photo).unwrap();
        assert_eq!(x.stream.dict.get("Width"), Some(&DictItem::Int(450)));
        let mut png = Vec::new();
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(
                &[200u8; 300 * 420 * 4],
                300,
                420,
                image::ExtendedColorType::Rgba8,
            )
            .unwrap();
        let photo = TicketPhoto {
            bytes: png,
            format: PhotoFormat::Png,
        };
        let (x, _) = photo_xobject(&photo).unwrap();
        assert_eq!(x.stream.content.get(..2), Some(&[0xFF, 0xD8][..]));
    }
}
