//! Checks a candidate's uploaded ID photo before it is stored and printed on the ticket.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};
use thiserror::Error;

/// Largest upload accepted.
pub const MAX_PHOTO_BYTES: usize = 2 * 1024 * 1024;
pub const MIN_WIDTH: u32 = 200;
pub const MAX_WIDTH: u32 = 2000;
/// Height / width. A 1-inch ID photo is 295 × 413 (1.40); 358 × 441 (1.23) is the ID-card size.
pub const MIN_ASPECT: f32 = 1.2;
pub const MAX_ASPECT: f32 = 1.6;
/// Decoder memory cap: a 2000 × 3200 RGBA image needs ~25 MiB; a crafted header claiming
/// more (a decompression bomb) fails here instead of allocating it.
const MAX_DECODE_ALLOC: u64 = 64 * 1024 * 1024;

/// An exam's published photo rules (the defaults fit common one-inch and two-inch ID photos).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PhotoRules {
    pub min_width: u32,
    pub min_height: u32,
    /// Width : height, e.g. 3 : 4.
    pub aspect_width: u32,
    pub aspect_height: u32,
    /// How far width/height may stray from the aspect, in percent of it.
    pub aspect_tolerance_pct: u32,
    pub max_bytes: u32,
}

impl Default for PhotoRules {
    fn default() -> Self {
        Self {
            min_width: 295,
            min_height: 390,
            aspect_width: 3,
            aspect_height: 4,
            aspect_tolerance_pct: 5,
            max_bytes: MAX_PHOTO_BYTES as u32,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoFormat {
    Jpeg,
    Png,
}

impl PhotoFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            PhotoFormat::Jpeg => "image/jpeg",
            PhotoFormat::Png => "image/png",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhotoInfo {
    pub format: PhotoFormat,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PhotoError {
    #[error("photo is {bytes} bytes, the limit is {MAX_PHOTO_BYTES}")]
    TooLarge { bytes: usize },
    #[error("photo is empty")]
    Empty,
    #[error("content type {0:?} is not image/jpeg or image/png")]
    UnsupportedType(String),
    #[error("declared {declared} but the bytes are {actual}")]
    TypeMismatch {
        declared: &'static str,
        actual: &'static str,
    },
    #[error("photo does not decode: {0}")]
    Undecodable(String),
    #[error("photo is {width} px wide, allowed {MIN_WIDTH}-{MAX_WIDTH}")]
    BadWidth { width: u32, height: u32 },
    #[error("photo is {width} x {height}, not portrait")]
    NotPortrait { width: u32, height: u32 },
    #[error("photo is {width} x {height}, height/width must be {MIN_ASPECT}-{MAX_ASPECT}")]
    BadAspect { width: u32, height: u32 },
}

impl PhotoError {
    /// What the candidate sees in the mini-program.
    pub fn message(&self) -> String {
        match self {
            PhotoError::TooLarge { .. } => "照片文件过大，请上传不超过 2 MB 的照片。".into(),
            PhotoError::Empty => "没有收到照片，请重新上传。".into(),
            PhotoError::UnsupportedType(_) => "仅支持 JPG 或 PNG 格式的照片。".into(),
            PhotoError::TypeMismatch { .. } => {
                "照片格式与文件内容不符，请上传 JPG 或 PNG 照片。".into()
            }
            PhotoError::Undecodable(_) => {
                "照片文件已损坏或无法识别，请重新拍摄或导出后上传。".into()
            }
            PhotoError::BadWidth { width, .. } if *width < MIN_WIDTH => format!(
                "照片分辨率过低（宽 {width} 像素），请上传宽度不少于 {MIN_WIDTH} 像素的照片。"
            ),
            PhotoError::BadWidth { width, .. } => {
                format!("照片尺寸过大（宽 {width} 像素），请裁剪到宽度不超过 {MAX_WIDTH} 像素。")
            }
            PhotoError::NotPortrait { .. } => "请上传竖版证件照（高度大于宽度）。".into(),
            PhotoError::BadAspect { .. } => {
                "照片比例不符合证件照要求，请按一寸照（约 3:4 至 5:8）裁剪后上传。".into()
            }
        }
    }
}

fn declared_format(content_type: &str) -> Result<PhotoFormat, PhotoError> {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "image/jpeg" | "image/jpg" | "image/pjpeg" => Ok(PhotoFormat::Jpeg),
        "image/png" => Ok(PhotoFormat::Png),
        _ => Err(PhotoError::UnsupportedType(content_type.to_owned())),
    }
}

fn reader_with_limits(bytes: &[u8], format: PhotoFormat) -> ImageReader<Cursor<&[u8]>> {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_WIDTH);
    // Portrait photos up to MAX_ASPECT are taller than wide; allow that, no more.
    limits.max_image_height = Some((MAX_WIDTH as f32 * MAX_ASPECT) as u32);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    let mut reader = ImageReader::with_format(
        Cursor::new(bytes),
        match format {
            PhotoFormat::Jpeg => ImageFormat::Jpeg,
            PhotoFormat::Png => ImageFormat::Png,
        },
    );
    reader.limits(limits);
    reader
}

fn check_shape(width: u32, height: u32) -> Result<(), PhotoError> {
    if !(MIN_WIDTH..=MAX_WIDTH).contains(&width) {
        return Err(PhotoError::BadWidth { width, height });
    }
    if height <= width {
        return Err(PhotoError::NotPortrait { width, height });
    }
    let aspect = height as f32 / width as f32;
    if !(MIN_ASPECT..=MAX_ASPECT).contains(&aspect) {
        return Err(PhotoError::BadAspect { width, height });
    }
    Ok(())
}

/// Accepts a JPEG or PNG ID photo of at most 2 MiB that fully decodes, is portrait with a
/// height/width ratio of 1.2-1.6, and is 200-2000 px wide.
pub fn check_photo(bytes: &[u8], content_type: &str) -> Result<PhotoInfo, PhotoError> {
    if bytes.is_empty() {
        return Err(PhotoError::Empty);
    }
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err(PhotoError::TooLarge { bytes: bytes.len() });
    }
    let declared = declared_format(content_type)?;
    let actual = match image::guess_format(bytes) {
        Ok(ImageFormat::Jpeg) => PhotoFormat::Jpeg,
        Ok(ImageFormat::Png) => PhotoFormat::Png,
        Ok(other) => {
            return Err(PhotoError::UnsupportedType(other.to_mime_type().to_owned()));
        }
        Err(e) => return Err(PhotoError::Undecodable(e.to_string())),
    };
    if actual != declared {
        return Err(PhotoError::TypeMismatch {
            declared: declared.content_type(),
            actual: actual.content_type(),
        });
    }
    // Header first: a wrong shape is reported as such, and costs no decoding.
    let (width, height) = ImageReader::with_format(
        Cursor::new(bytes),
        match actual {
            PhotoFormat::Jpeg => ImageFormat::Jpeg,
            PhotoFormat::Png => ImageFormat::Png,
        },
    )
    .into_dimensions()
    .map_err(|e| PhotoError::Undecodable(e.to_string()))?;
    check_shape(width, height)?;
    if actual == PhotoFormat::Jpeg && !jpeg_has_end(bytes) {
        return Err(PhotoError::Undecodable(
            "JPEG ends before its end marker".into(),
        ));
    }
    reader_with_limits(bytes, actual)
        .decode()
        .map_err(|e| PhotoError::Undecodable(e.to_string()))?;
    Ok(PhotoInfo {
        format: actual,
        width,
        height,
    })
}

/// The JPEG decoder pads a cut-off upload with grey and calls it a success; a complete file has
/// its EOI marker after the last start-of-scan (entropy data escapes 0xFF, so the pair is real).
fn jpeg_has_end(bytes: &[u8]) -> bool {
    let last_sos = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    let last_eoi = bytes.windows(2).rposition(|w| w == [0xFF, 0xD9]);
    matches!((last_sos, last_eoi), (Some(s), Some(e)) if e > s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageEncoder, Rgb, RgbImage};

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 180]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
            .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_pixel(w, h, Rgb([67, 142, 219]));
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    #[test]
    fn accepts_id_photos() {
        let info = check_photo(&jpeg(295, 413), "image/jpeg").unwrap();
        assert_eq!(
            info,
            PhotoInfo {
                format: PhotoFormat::Jpeg,
                width: 295,
                height: 413
            }
        );
        let info = check_photo(&png(358, 441), "image/png; charset=binary").unwrap();
        assert_eq!(info.format, PhotoFormat::Png);
        assert!(check_photo(&jpeg(413, 579), "IMAGE/JPG").is_ok());
    }

    #[test]
    fn rejects_wrong_shapes() {
        assert!(matches!(
            check_photo(&jpeg(413, 295), "image/jpeg"),
            Err(PhotoError::NotPortrait { .. })
        ));
        assert!(matches!(
            check_photo(&jpeg(300, 300), "image/jpeg"),
            Err(PhotoError::NotPortrait { .. })
        ));
        assert!(matches!(
            check_photo(&jpeg(300, 900), "image/jpeg"),
            Err(PhotoError::BadAspect { .. })
        ));
        assert!(matches!(
            check_photo(&png(100, 140), "image/png"),
            Err(PhotoError::BadWidth { width: 100, .. })
        ));
        assert!(matches!(
            check_photo(&png(2100, 2940), "image/png"),
            Err(PhotoError::BadWidth { width: 2100, .. })
        ));
    }

    #[test]
    fn rejects_wrong_types_and_sizes() {
        let j = jpeg(295, 413);
        assert_eq!(
            check_photo(&j, "image/png"),
            Err(PhotoError::TypeMismatch {
                declared: "image/png",
                actual: "image/jpeg"
            })
        );
        assert!(matches!(
            check_photo(&j, "image/gif"),
            Err(PhotoError::UnsupportedType(_))
        ));
        assert_eq!(check_photo(&[], "image/jpeg"), Err(PhotoError::Empty));
        let big = vec![0u8; MAX_PHOTO_BYTES + 1];
        assert!(matches!(
            check_photo(&big, "image/jpeg"),
            Err(PhotoError::TooLarge { .. })
        ));
        assert!(matches!(
            check_photo(b"GIF89a......", "image/jpeg"),
            Err(PhotoError::UnsupportedType(_))
        ));
    }

    #[test]
    fn rejects_truncated_files() {
        let j = jpeg(295, 413);
        let cut = &j[..j.len() / 2];
        assert!(matches!(
            check_photo(cut, "image/jpeg"),
            Err(PhotoError::Undecodable(_))
        ));
        let p = png(295, 413);
        let cut = &p[..p.len() - 20];
        assert!(matches!(
            check_photo(cut, "image/png"),
            Err(PhotoError::Undecodable(_))
        ));
    }

    #[test]
    fn huge_claimed_dimensions_are_refused_before_decoding() {
        // A tiny PNG whose header claims 60,000 × 90,000 pixels (21 GB as RGBA): the header
        // check answers without the decoder allocating anything.
        let mut p = png(200, 300);
        p[16..20].copy_from_slice(&60_000u32.to_be_bytes());
        p[20..24].copy_from_slice(&90_000u32.to_be_bytes());
        let got = check_photo(&p, "image/png");
        assert!(
            matches!(
                got,
                Err(PhotoError::BadWidth { .. } | PhotoError::Undecodable(_))
            ),
            "{got:?}"
        );
    }

    #[test]
    fn largest_allowed_photo_decodes_under_the_memory_cap() {
        let p = png(1999, 3198);
        assert!(p.len() < MAX_PHOTO_BYTES, "a flat colour compresses well");
        assert!(check_photo(&p, "image/png").is_ok());
    }

    #[test]
    fn messages_are_chinese() {
        let e = PhotoError::BadWidth {
            width: 100,
            height: 140,
        };
        assert!(e.message().contains("分辨率过低"));
        let e = PhotoError::TooLarge { bytes: 3_000_000 };
        assert!(e.message().contains("2 MB"));
    }
}
