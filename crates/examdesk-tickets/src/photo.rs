//! Checks a candidate's uploaded ID photo against the exam's published rules before it is stored
//! and printed on the ticket, turns a phone photo upright as its EXIF orientation says, and
//! re-encodes it so that what is stored and printed is clean pixels: no EXIF (GPS, camera), no
//! colour profile, no text chunks.

use std::io::Cursor;

use image::codecs::png::PngEncoder;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use thiserror::Error;

/// Largest upload accepted whatever an exam says; the exam's own limit may only be lower.
pub const MAX_PHOTO_BYTES: usize = 2 * 1024 * 1024;
/// Safety limits on the upright photo, whatever an exam says: an ID photo needs far fewer pixels,
/// and the decoder never allocates for more.
pub const MAX_WIDTH: u32 = 2000;
pub const MAX_HEIGHT: u32 = 3200;
/// Decoder memory cap: a 2000 × 3200 RGBA image needs ~25 MiB; a crafted header claiming
/// more (a decompression bomb) fails here instead of allocating it.
const MAX_DECODE_ALLOC: u64 = 64 * 1024 * 1024;
/// Quality of a photo re-encoded after turning it upright: the ticket prints it at about 25 mm,
/// where 90 shows no loss.
const JPEG_QUALITY: u8 = 90;

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

impl PhotoRules {
    /// Width / height the rules ask for.
    pub fn aspect(&self) -> f64 {
        f64::from(self.aspect_width) / f64::from(self.aspect_height.max(1))
    }

    /// |w/h − aw/ah| ≤ tol % of aw/ah, in integers so that a photo exactly at the edge of the
    /// tolerance is not refused by a rounding error.
    pub fn fits_aspect(&self, width: u32, height: u32) -> bool {
        let (w, h) = (u64::from(width), u64::from(height));
        let (aw, ah) = (u64::from(self.aspect_width), u64::from(self.aspect_height));
        (w * ah).abs_diff(h * aw) * 100 <= u64::from(self.aspect_tolerance_pct) * h * aw
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

    fn image_format(self) -> ImageFormat {
        match self {
            PhotoFormat::Jpeg => ImageFormat::Jpeg,
            PhotoFormat::Png => ImageFormat::Png,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhotoInfo {
    pub format: PhotoFormat,
    /// Upright size: what the ticket prints.
    pub width: u32,
    pub height: u32,
}

/// A photo that passed: its upright size, and the bytes to store — its pixels, turned upright,
/// re-encoded in the upload's format without any of the upload's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedPhoto {
    pub info: PhotoInfo,
    pub bytes: Vec<u8>,
    /// Whether its EXIF orientation turned it.
    pub turned: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PhotoError {
    #[error("photo is {bytes} bytes, the limit is {max}")]
    TooLarge { bytes: usize, max: usize },
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
    #[error("photo is {width} x {height}, the system allows at most {MAX_WIDTH} x {MAX_HEIGHT}")]
    TooManyPixels { width: u32, height: u32 },
    #[error("photo is {width} px wide, the exam asks for at least {min}")]
    TooNarrow { width: u32, min: u32 },
    #[error("photo is {height} px high, the exam asks for at least {min}")]
    TooShort { height: u32, min: u32 },
    #[error("photo is {width} x {height}, not within {}% of {}:{}", rules.aspect_tolerance_pct, rules.aspect_width, rules.aspect_height)]
    Aspect {
        width: u32,
        height: u32,
        rules: PhotoRules,
    },
}

/// Bytes as staff and candidates count them: KB, rounded up so a photo one byte over the limit
/// does not read as exactly the limit.
fn kb(bytes: usize) -> usize {
    bytes.div_ceil(1024)
}

impl PhotoError {
    /// What the candidate sees in the mini-program: the rule broken and the photo's own value.
    pub fn message(&self) -> String {
        match self {
            PhotoError::TooLarge { bytes, max } => format!(
                "照片文件 {} KB，本考试要求不超过 {} KB，请压缩后上传。",
                kb(*bytes),
                kb(*max)
            ),
            PhotoError::Empty => "没有收到照片，请重新上传。".into(),
            PhotoError::UnsupportedType(_) => "仅支持 JPG 或 PNG 格式的照片。".into(),
            PhotoError::TypeMismatch { .. } => {
                "照片格式与文件内容不符，请上传 JPG 或 PNG 照片。".into()
            }
            PhotoError::Undecodable(_) => {
                "照片文件已损坏或无法识别，请重新拍摄或导出后上传。".into()
            }
            PhotoError::TooManyPixels { width, height } => format!(
                "照片宽 {width} 像素、高 {height} 像素，超过系统上限（宽不超过 {MAX_WIDTH}、高不超过 {MAX_HEIGHT} 像素），请缩小后上传。"
            ),
            PhotoError::TooNarrow { width, min } => {
                format!("照片宽 {width} 像素，本考试要求至少 {min} 像素。")
            }
            PhotoError::TooShort { height, min } => {
                format!("照片高 {height} 像素，本考试要求至少 {min} 像素。")
            }
            PhotoError::Aspect {
                width,
                height,
                rules,
            } => {
                let measured = f64::from(*width) / f64::from((*height).max(1));
                let turn = if width > height && rules.aspect_width < rules.aspect_height {
                    "请上传竖版证件照，"
                } else {
                    "请"
                };
                format!(
                    "照片宽高比 {measured:.2}（{width}×{height} 像素），要求 {}:{}（{:.2}）± {}%，{turn}按要求裁剪后上传。",
                    rules.aspect_width,
                    rules.aspect_height,
                    rules.aspect(),
                    rules.aspect_tolerance_pct
                )
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

fn undecodable(e: impl ToString) -> PhotoError {
    PhotoError::Undecodable(e.to_string())
}

/// Whether the orientation stores the picture on its side (upright width = stored height).
fn turns_sideways(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// Checks an ID photo against the exam's `rules` and the absolute limits: at most
/// [`MAX_PHOTO_BYTES`] and the exam's `max_bytes`; JPEG or PNG, as `declared` says (`None`: the
/// bytes' own signature decides); upright at most [`MAX_WIDTH`] × [`MAX_HEIGHT`], at least the
/// exam's minimum width and height, within the exam's aspect tolerance; fully decodable. The
/// rules apply to the photo as it is meant to be seen, after its EXIF orientation.
pub fn check_photo(
    bytes: &[u8],
    declared: Option<&str>,
    rules: &PhotoRules,
) -> Result<CheckedPhoto, PhotoError> {
    if bytes.is_empty() {
        return Err(PhotoError::Empty);
    }
    let max = MAX_PHOTO_BYTES.min(rules.max_bytes as usize);
    if bytes.len() > max {
        return Err(PhotoError::TooLarge {
            bytes: bytes.len(),
            max,
        });
    }
    let declared = declared.map(declared_format).transpose()?;
    let actual = match image::guess_format(bytes) {
        Ok(ImageFormat::Jpeg) => PhotoFormat::Jpeg,
        Ok(ImageFormat::Png) => PhotoFormat::Png,
        Ok(other) => {
            return Err(PhotoError::UnsupportedType(other.to_mime_type().to_owned()));
        }
        Err(e) => return Err(undecodable(e)),
    };
    if let Some(declared) = declared
        && declared != actual
    {
        return Err(PhotoError::TypeMismatch {
            declared: declared.content_type(),
            actual: actual.content_type(),
        });
    }
    // A PNG's ancillary chunks never reach the decoder: none is inflated, none is kept.
    let cleaned;
    let bytes = match actual {
        PhotoFormat::Png => {
            cleaned = crate::png_chunks::pixels_only(bytes).map_err(undecodable)?;
            cleaned.as_slice()
        }
        PhotoFormat::Jpeg => bytes,
    };
    // Headers first: a wrong size is reported as such, and costs no decoding.
    let mut reader = ImageReader::with_format(Cursor::new(bytes), actual.image_format());
    reader.limits(limits_for_decoding());
    let mut decoder = reader.into_decoder().map_err(|e| match e {
        image::ImageError::Limits(_) => too_many_pixels_from_header(bytes, actual),
        other => undecodable(other),
    })?;
    let (stored_w, stored_h) = decoder.dimensions();
    // Broken EXIF is no reason to refuse a photo that decodes: it is then taken as stored.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let (width, height) = if turns_sideways(orientation) {
        (stored_h, stored_w)
    } else {
        (stored_w, stored_h)
    };
    check_size(width, height, rules)?;
    if decoder.total_bytes() > MAX_DECODE_ALLOC {
        return Err(PhotoError::TooManyPixels { width, height });
    }
    let mut image = DynamicImage::from_decoder(decoder).map_err(undecodable)?;
    if actual == PhotoFormat::Jpeg {
        jpeg_complete(bytes, &image, limits_for_decoding())?;
    }
    let info = PhotoInfo {
        format: actual,
        width,
        height,
    };
    let turned = orientation != Orientation::NoTransforms;
    image.apply_orientation(orientation);
    Ok(CheckedPhoto {
        info,
        bytes: encode(&image, actual)?,
        turned,
    })
}

/// The size a header claims when the decoder refused it for its limits, for the message. Only
/// the header is read (no pixel buffer), so it needs no limit.
fn too_many_pixels_from_header(bytes: &[u8], format: PhotoFormat) -> PhotoError {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.image_format());
    reader.no_limits();
    match reader.into_dimensions() {
        Ok((width, height)) => PhotoError::TooManyPixels { width, height },
        Err(e) => undecodable(e),
    }
}

fn check_size(width: u32, height: u32, rules: &PhotoRules) -> Result<(), PhotoError> {
    if width > MAX_WIDTH || height > MAX_HEIGHT {
        return Err(PhotoError::TooManyPixels { width, height });
    }
    if width < rules.min_width {
        return Err(PhotoError::TooNarrow {
            width,
            min: rules.min_width,
        });
    }
    if height < rules.min_height {
        return Err(PhotoError::TooShort {
            height,
            min: rules.min_height,
        });
    }
    if !rules.fits_aspect(width, height) {
        return Err(PhotoError::Aspect {
            width,
            height,
            rules: *rules,
        });
    }
    Ok(())
}

/// Re-encodes the upright pixels in the upload's own format; no EXIF is written, so no viewer
/// turns the photo a second time. JPEGs go through `jpeg-encoder`: image's own encoder took half
/// the server's time in a registration opening (measured with perf: 300 × 400 photos, one per
/// candidate), this one a fraction of it for the same quality setting.
fn encode(image: &DynamicImage, format: PhotoFormat) -> Result<Vec<u8>, PhotoError> {
    let mut out = Vec::new();
    match format {
        PhotoFormat::Jpeg => {
            let (width, height) = (image.width(), image.height());
            let too_large = || PhotoError::Undecodable("too large to re-encode".into());
            let (w, h) = (
                u16::try_from(width).map_err(|_| too_large())?,
                u16::try_from(height).map_err(|_| too_large())?,
            );
            let encoder = jpeg_encoder::Encoder::new(&mut out, JPEG_QUALITY);
            let encoded = match image {
                DynamicImage::ImageLuma8(grey) => {
                    encoder.encode(grey.as_raw(), w, h, jpeg_encoder::ColorType::Luma)
                }
                DynamicImage::ImageRgb8(rgb) => {
                    encoder.encode(rgb.as_raw(), w, h, jpeg_encoder::ColorType::Rgb)
                }
                // 8-bit grey or RGB only, as the decoder gives for nearly every upload.
                other => {
                    encoder.encode(other.to_rgb8().as_raw(), w, h, jpeg_encoder::ColorType::Rgb)
                }
            };
            encoded.map_err(|e| PhotoError::Undecodable(e.to_string()))?;
        }
        PhotoFormat::Png => image
            .write_with_encoder(PngEncoder::new(&mut out))
            .map_err(undecodable)?,
    }
    Ok(out)
}

fn limits_for_decoding() -> Limits {
    let mut limits = Limits::default();
    // The stored picture may lie on its side: either side may be the long one.
    limits.max_image_width = Some(MAX_HEIGHT);
    limits.max_image_height = Some(MAX_HEIGHT);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    limits
}

/// The JPEG decoder pads a cut-off scan with zero bits and calls it a success, also when an end
/// marker follows the cut. So the file is decoded a second time with filler bytes put before its
/// last end marker: a complete file's scans ended before it, and its pixels stay the same; a cut
/// file's missing data is read from the filler, and its pixels change.
fn jpeg_complete(bytes: &[u8], decoded: &DynamicImage, limits: Limits) -> Result<(), PhotoError> {
    let incomplete =
        || PhotoError::Undecodable("JPEG ends before its last scan is complete".into());
    let end = bytes
        .windows(2)
        .rposition(|w| w == [0xFF, 0xD9])
        .ok_or_else(incomplete)?;
    let mut probe = Vec::with_capacity(bytes.len() + 512);
    probe.extend_from_slice(&bytes[..end]);
    probe.extend(std::iter::repeat_n(0x5A, 512));
    probe.extend_from_slice(&bytes[end..]);
    let mut reader = ImageReader::with_format(Cursor::new(probe), ImageFormat::Jpeg);
    reader.limits(limits);
    match reader.decode() {
        Ok(again) if again.as_bytes() == decoded.as_bytes() => Ok(()),
        _ => Err(incomplete()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageEncoder, Rgb, RgbImage};

    fn rules() -> PhotoRules {
        PhotoRules::default()
    }

    /// A JPEG with a red 40 × 40 block in its top-left corner, so a turn can be seen.
    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| {
            if x < 40 && y < 40 {
                Rgb([230, 20, 20])
            } else {
                Rgb([(x % 200) as u8, 200, (y % 200) as u8])
            }
        });
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

    /// The JPEG with an APP1 Exif segment (big-endian TIFF, one IFD entry: Orientation) right
    /// after its start marker, as a phone camera writes it.
    fn with_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        let mut tiff = b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&(app1.len() as u16 + 2).to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    fn check(bytes: &[u8]) -> Result<CheckedPhoto, PhotoError> {
        check_photo(bytes, Some("image/jpeg"), &rules())
    }

    #[test]
    fn the_defaults_accept_common_id_photo_sizes() {
        for (w, h) in [(300, 400), (295, 413), (413, 579)] {
            let bytes = jpeg(w, h);
            let got = check(&bytes).unwrap_or_else(|e| panic!("{w}x{h}: {e}"));
            assert_eq!(
                got.info,
                PhotoInfo {
                    format: PhotoFormat::Jpeg,
                    width: w,
                    height: h
                }
            );
            assert!(!got.turned, "an upright photo needs no turn");
            let stored = image::load_from_memory(&got.bytes).unwrap();
            assert_eq!(
                (stored.width(), stored.height()),
                (w, h),
                "stored re-encoded, same size"
            );
        }
        let p = png(300, 400);
        let got = check_photo(&p, Some("image/png; charset=binary"), &rules()).unwrap();
        assert_eq!(got.info.format, PhotoFormat::Png);
        assert!(check_photo(&jpeg(413, 579), Some("IMAGE/JPG"), &rules()).is_ok());
        assert_eq!(
            check_photo(&p, None, &rules()).unwrap().info.format,
            PhotoFormat::Png,
            "without a declared type the bytes decide"
        );
    }

    #[test]
    fn each_rule_is_refused_with_the_measured_value() {
        let cases: [(Vec<u8>, PhotoRules, PhotoError, [&str; 2]); 6] = [
            (
                jpeg(240, 320),
                rules(),
                PhotoError::TooNarrow {
                    width: 240,
                    min: 295,
                },
                ["宽 240 像素", "至少 295 像素"],
            ),
            (
                jpeg(295, 389),
                rules(),
                PhotoError::TooShort {
                    height: 389,
                    min: 390,
                },
                ["高 389 像素", "至少 390 像素"],
            ),
            (
                jpeg(300, 500),
                rules(),
                PhotoError::Aspect {
                    width: 300,
                    height: 500,
                    rules: rules(),
                },
                ["宽高比 0.60", "3:4（0.75）± 5%"],
            ),
            (
                jpeg(600, 450),
                rules(),
                PhotoError::Aspect {
                    width: 600,
                    height: 450,
                    rules: rules(),
                },
                ["宽高比 1.33", "竖版"],
            ),
            (
                png(2100, 2800),
                rules(),
                PhotoError::TooManyPixels {
                    width: 2100,
                    height: 2800,
                },
                ["宽 2100 像素", "2000"],
            ),
            (
                jpeg(300, 400),
                PhotoRules {
                    max_bytes: 1024,
                    ..rules()
                },
                PhotoError::TooLarge {
                    bytes: jpeg(300, 400).len(),
                    max: 1024,
                },
                ["不超过 1 KB", " KB"],
            ),
        ];
        for (bytes, rules, want, words) in cases {
            let got = check_photo(&bytes, None, &rules).unwrap_err();
            assert_eq!(got, want);
            for w in words {
                assert!(got.message().contains(w), "{w} in {}", got.message());
            }
        }
    }

    #[test]
    fn an_exams_own_rules_apply() {
        let two_by_three = PhotoRules {
            min_width: 200,
            min_height: 300,
            aspect_width: 2,
            aspect_height: 3,
            aspect_tolerance_pct: 2,
            max_bytes: 100 * 1024,
        };
        assert!(check_photo(&jpeg(200, 300), None, &two_by_three).is_ok());
        assert!(matches!(
            check_photo(&jpeg(300, 400), None, &two_by_three),
            Err(PhotoError::Aspect { .. })
        ));
        let message = check_photo(&jpeg(300, 400), None, &two_by_three)
            .unwrap_err()
            .message();
        assert!(message.contains("2:3（0.67）± 2%"), "{message}");
    }

    #[test]
    fn the_aspect_tolerance_is_exact_at_its_edge() {
        // 5 % of 0.75 is 0.0375: 285/400 = 0.7125 is on the edge, 284/400 beyond it.
        let r = rules();
        assert!(r.fits_aspect(285, 400) && r.fits_aspect(315, 400));
        assert!(!r.fits_aspect(284, 400) && !r.fits_aspect(316, 400));
        let exact = PhotoRules {
            aspect_tolerance_pct: 0,
            ..r
        };
        assert!(exact.fits_aspect(300, 400) && !exact.fits_aspect(301, 400));
    }

    #[test]
    fn exif_orientation_is_applied_before_the_rules() {
        // A phone's portrait photo: landscape pixels, EXIF orientation 6 (turn 90° clockwise).
        let sideways = with_orientation(&jpeg(400, 300), 6);
        let got = check(&sideways).unwrap();
        assert_eq!((got.info.width, got.info.height), (300, 400));
        assert!(got.turned);
        let stored = image::load_from_memory(&got.bytes).unwrap().to_rgb8();
        assert_eq!(stored.dimensions(), (300, 400), "stored upright");
        // Turning clockwise takes the stored top-left corner to the top right.
        let [r, g, _] = stored.get_pixel(300 - 20, 20).0;
        assert!(r > 180 && g < 80, "red block at the top right: {r} {g}");
        let again = check(&got.bytes).unwrap();
        assert!(!again.turned, "the stored photo carries no turn any more");

        // The same rule read the other way: portrait pixels that EXIF turns into landscape.
        let turned = with_orientation(&jpeg(390, 520), 8);
        assert!(matches!(
            check(&turned),
            Err(PhotoError::Aspect {
                width: 520,
                height: 390,
                ..
            })
        ));
        // Orientation 1 turns nothing.
        assert!(!check(&with_orientation(&jpeg(300, 400), 1)).unwrap().turned);
    }

    #[test]
    fn rejects_wrong_types_and_sizes() {
        let j = jpeg(300, 400);
        assert_eq!(
            check_photo(&j, Some("image/png"), &rules()),
            Err(PhotoError::TypeMismatch {
                declared: "image/png",
                actual: "image/jpeg"
            })
        );
        assert!(matches!(
            check_photo(&j, Some("image/gif"), &rules()),
            Err(PhotoError::UnsupportedType(_))
        ));
        assert_eq!(check(&[]), Err(PhotoError::Empty));
        let big = vec![0u8; MAX_PHOTO_BYTES + 1];
        assert!(matches!(check(&big), Err(PhotoError::TooLarge { .. })));
        assert!(matches!(
            check(b"GIF89a......"),
            Err(PhotoError::UnsupportedType(_))
        ));
        assert!(matches!(
            check_photo(b"GIF89a......", None, &rules()),
            Err(PhotoError::UnsupportedType(_))
        ));
    }

    #[test]
    fn rejects_truncated_files() {
        let j = jpeg(300, 400);
        let cut = &j[..j.len() / 2];
        assert!(matches!(check(cut), Err(PhotoError::Undecodable(_))));
        let p = png(300, 400);
        let cut = &p[..p.len() - 20];
        assert!(matches!(
            check_photo(cut, Some("image/png"), &rules()),
            Err(PhotoError::Undecodable(_))
        ));
    }

    #[test]
    fn a_jpeg_cut_in_half_with_an_end_marker_appended_is_refused() {
        let j = jpeg(300, 400);
        let mut cut = j[..j.len() / 2].to_vec();
        cut.extend_from_slice(&[0xFF, 0xD9]);
        assert!(
            matches!(check(&cut), Err(PhotoError::Undecodable(_))),
            "{:?}",
            check(&cut).map(|c| c.info)
        );
        assert!(check(&j).is_ok(), "the whole file passes");
    }

    use crate::png_chunks::chunk;

    /// The PNG with `extra` chunks right after its IHDR.
    fn png_with(png: &[u8], extra: &[Vec<u8>]) -> Vec<u8> {
        let after_ihdr = 8 + 25;
        let mut out = png[..after_ihdr].to_vec();
        for c in extra {
            out.extend_from_slice(c);
        }
        out.extend_from_slice(&png[after_ihdr..]);
        out
    }

    #[test]
    fn metadata_never_reaches_the_stored_photo() {
        let gps = b"Exif\0\0MM\0\x2a GPSLatitude 31.2304 N GPSLongitude 121.4737 E";
        let mut tagged = jpeg(300, 400)[..2].to_vec();
        tagged.extend_from_slice(&[0xFF, 0xE1]);
        tagged.extend_from_slice(&(gps.len() as u16 + 2).to_be_bytes());
        tagged.extend_from_slice(gps);
        tagged.extend_from_slice(&jpeg(300, 400)[2..]);
        let has = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
        assert!(has(&tagged, b"GPSLatitude"));
        let stored = check(&tagged).unwrap().bytes;
        assert!(!has(&stored, b"GPSLatitude") && !has(&stored, b"Exif"));

        let texted = png_with(
            &png(300, 400),
            &[
                chunk(b"tEXt", b"Comment\0GPSLatitude 31.2304"),
                chunk(b"eXIf", b"MM\0*"),
            ],
        );
        let stored = check_photo(&texted, Some("image/png"), &rules())
            .unwrap()
            .bytes;
        assert!(!has(&stored, b"GPSLatitude") && !has(&stored, b"eXIf"));
    }

    #[test]
    fn an_icc_profile_bomb_is_never_inflated() {
        use std::io::Write;
        // 64 MiB of zeros behind a 64 KiB iCCP chunk (tests/photo_bomb.rs uploads a 1.5 GB one).
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        let block = vec![0u8; 1 << 20];
        for _ in 0..64 {
            z.write_all(&block).unwrap();
        }
        let mut profile = b"bomb\0\0".to_vec();
        profile.extend_from_slice(&z.finish().unwrap());
        let bomb = png_with(&png(300, 400), &[chunk(b"iCCP", &profile)]);
        assert!(bomb.len() < MAX_PHOTO_BYTES, "{} bytes", bomb.len());
        let got = check_photo(&bomb, Some("image/png"), &rules()).unwrap();
        assert!(
            !got.bytes.windows(4).any(|w| w == b"iCCP"),
            "the profile is dropped"
        );
        let stored = image::load_from_memory(&got.bytes).unwrap();
        assert_eq!((stored.width(), stored.height()), (300, 400));
    }

    #[test]
    fn huge_claimed_dimensions_are_refused_before_decoding() {
        // A tiny PNG whose header claims 60,000 × 90,000 pixels (21 GB as RGBA): the header
        // check answers without the decoder allocating anything.
        let mut p = png(300, 400);
        p[16..20].copy_from_slice(&60_000u32.to_be_bytes());
        p[20..24].copy_from_slice(&90_000u32.to_be_bytes());
        let got = check_photo(&p, Some("image/png"), &rules());
        assert!(
            matches!(
                got,
                Err(PhotoError::TooManyPixels { .. } | PhotoError::Undecodable(_))
            ),
            "{got:?}"
        );
    }

    #[test]
    fn largest_allowed_photo_decodes_under_the_memory_cap() {
        let p = png(2000, 2667);
        assert!(p.len() < MAX_PHOTO_BYTES, "a flat colour compresses well");
        assert!(check_photo(&p, Some("image/png"), &rules()).is_ok());
    }
}
