//! The data tests make: resident ID numbers and exams.

use examdesk::db::Db;
use examdesk::domain::exam::NewExam;
use image::{ImageEncoder, Rgb, RgbImage};

/// Today in Beijing time as `YYYY-MM-DD`: the day WeChat (and the simulator) books what happens
/// now, and the date `examdesk reconcile` takes.
pub fn beijing_today() -> String {
    let t = wechat_pay_v2::clock::china_now();
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// A `w` × `h` JPEG whose pixels `pixel(x, y)` gives.
pub fn jpeg_from(w: u32, h: u32, pixel: impl Fn(u32, u32) -> Rgb<u8>) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, pixel);
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85)
        .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .expect("encode a test JPEG");
    bytes
}

/// A `w` × `h` JPEG photo: a blue and grey checkerboard, so it does not compress to nothing.
pub fn jpeg(w: u32, h: u32) -> Vec<u8> {
    jpeg_from(w, h, |x, y| {
        if (x / 20 + y / 20) % 2 == 0 {
            Rgb([67, 142, 219])
        } else {
            Rgb([236, 236, 236])
        }
    })
}

/// A valid resident ID number for a sequence number (distinct for every `seq` below 1000), with
/// its check character computed by the GB 11643 rule here in the test, independently of the code
/// under test.
pub fn id_number(seq: u32) -> String {
    let body = format!(
        "110105199{}{:02}{:02}{:03}",
        seq % 10,
        1 + (seq / 10) % 12,
        1 + (seq / 120) % 28,
        seq % 1000
    );
    let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(weights)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{body}{check}")
}

/// An exam to create: by default open for registration now (since an hour, for a day), 10 seats
/// at ¥50.00, titled "`code` 全国英语等级考试".
pub struct ExamBuilder<'a> {
    db: &'a Db,
    exam: NewExam,
}

impl<'a> ExamBuilder<'a> {
    pub fn new(db: &'a Db, code: &str) -> Self {
        let now = examdesk::util::now();
        Self {
            db,
            exam: NewExam {
                code: code.into(),
                title: format!("{code} 全国英语等级考试"),
                fee_fen: 5000,
                capacity: 10,
                opens_at: now - 3600,
                closes_at: now + 86_400,
                starts_at: now + 2 * 86_400,
                venue: "北京市海淀区学院路1号".into(),
                review: examdesk::domain::states::ExamReview::None,
                late_minutes: examdesk::domain::exam::DEFAULT_LATE_MINUTES,
                photo_rules: examdesk_tickets::photo::PhotoRules::default(),
            },
        }
    }

    pub fn capacity(mut self, seats: i64) -> Self {
        self.exam.capacity = seats;
        self
    }

    /// Staff approve each registration before the candidate may pay.
    pub fn manual_review(mut self) -> Self {
        self.exam.review = examdesk::domain::states::ExamReview::Manual;
        self
    }

    /// The exam's published photo rules instead of the defaults.
    pub fn photo_rules(mut self, rules: examdesk_tickets::photo::PhotoRules) -> Self {
        self.exam.photo_rules = rules;
        self
    }

    pub fn fee(mut self, fen: i64) -> Self {
        self.exam.fee_fen = fen;
        self
    }

    /// Registration open from `opens_at` to `closes_at` (Unix seconds); the exam itself a week
    /// after it closes.
    pub fn window(mut self, opens_at: i64, closes_at: i64) -> Self {
        self.exam.opens_at = opens_at;
        self.exam.closes_at = closes_at;
        self.exam.starts_at = closes_at + 7 * 86_400;
        self
    }

    /// Creates the exam through the database layer; its id.
    pub async fn create(self) -> i64 {
        examdesk::db::exams::create(self.db, &self.exam)
            .await
            .unwrap_or_else(|e| panic!("exam {} created: {e}", self.exam.code))
    }
}
