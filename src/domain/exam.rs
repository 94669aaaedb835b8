//! What makes an exam valid before it is stored: every limit of an exam and its rooms, written
//! once, with the one message staff see for each, whether they typed on the command line or in
//! the admin form. The database layer checks the same rules before it writes.

use std::fmt;

use crate::domain::states::ExamReview;
use examdesk_tickets::photo::{MAX_HEIGHT, MAX_PHOTO_BYTES, MAX_WIDTH, PhotoRules};

/// Ticket numbers print the room in two digits and the seat in three.
pub const MAX_ROOMS: i64 = examdesk_tickets::number::MAX_ROOM_NO as i64;
pub const MAX_ROOM_SEATS: i64 = examdesk_tickets::number::MAX_SEAT_NO as i64;
pub const MAX_CAPACITY: i64 = MAX_ROOMS * MAX_ROOM_SEATS;
/// 100,000 yuan: far above any exam fee, and well inside WeChat's `total_fee` (a 32-bit int).
pub const MAX_FEE_FEN: i64 = 10_000_000;
/// Exam codes start every ticket number, so they follow its alphabet: A–Z and 0–9.
pub const CODE_LENGTH: std::ops::RangeInclusive<usize> =
    2..=examdesk_tickets::number::MAX_EXAM_CODE_LEN;
pub const MAX_TITLE_CHARS: usize = 100;
pub const MAX_VENUE_CHARS: usize = 200;
pub const MAX_ROOM_NAME_CHARS: usize = 40;
/// Entry closes at most a day after the start: beyond that it is another exam day.
pub const MAX_LATE_MINUTES: i64 = 24 * 60;
/// Photo rules staff may publish. The pixel ceilings are the photo check's own safety limits;
/// an aspect may be written in pixels (358:441, the ID-card size) but not beyond the pixel
/// ceiling; a tolerance beyond 50 % is no rule.
pub const MAX_ASPECT_TERM: u32 = MAX_HEIGHT;
pub const MAX_ASPECT_TOLERANCE_PCT: u32 = 50;
pub const MIN_PHOTO_BYTES: u32 = 1024;
/// A usual classroom; larger exams get larger rooms only when 99 rooms are not enough.
const ROOM_SEATS: i64 = 30;

/// The part of an exam a rule is about: the CLI names its flag, the form its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExamField {
    Code,
    Title,
    Fee,
    Capacity,
    Opens,
    Closes,
    Starts,
    Venue,
    Rooms,
    Review,
    LateMinutes,
    PhotoMinWidth,
    PhotoMinHeight,
    PhotoAspect,
    PhotoTolerance,
    PhotoMaxBytes,
}

/// A broken rule, with the value that broke it where that helps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExamRule {
    Code(String),
    Title,
    Fee(i64),
    Capacity(i64),
    OpensAfterCloses,
    ClosesAfterStart,
    Venue,
    NoRooms,
    TooManyRooms(usize),
    RoomSeats {
        room: String,
        seats: i64,
    },
    RoomName {
        line: usize,
    },
    RoomsShort {
        seats: i64,
        capacity: i64,
    },
    LateMinutes(i64),
    PhotoMinWidth(u32),
    PhotoMinHeight(u32),
    PhotoAspect {
        width: u32,
        height: u32,
    },
    PhotoTolerance(u32),
    PhotoMaxBytes(u32),
    /// No photo within the system's pixel limits meets the minimum size and the aspect at once.
    PhotoUnsatisfiable(PhotoRules),
}

impl ExamRule {
    pub fn field(&self) -> ExamField {
        match self {
            ExamRule::Code(_) => ExamField::Code,
            ExamRule::Title => ExamField::Title,
            ExamRule::Fee(_) => ExamField::Fee,
            ExamRule::Capacity(_) => ExamField::Capacity,
            ExamRule::OpensAfterCloses => ExamField::Opens,
            ExamRule::ClosesAfterStart => ExamField::Closes,
            ExamRule::Venue => ExamField::Venue,
            ExamRule::NoRooms
            | ExamRule::TooManyRooms(_)
            | ExamRule::RoomSeats { .. }
            | ExamRule::RoomName { .. }
            | ExamRule::RoomsShort { .. } => ExamField::Rooms,
            ExamRule::LateMinutes(_) => ExamField::LateMinutes,
            ExamRule::PhotoMinWidth(_) => ExamField::PhotoMinWidth,
            ExamRule::PhotoMinHeight(_) => ExamField::PhotoMinHeight,
            ExamRule::PhotoAspect { .. } | ExamRule::PhotoUnsatisfiable(_) => {
                ExamField::PhotoAspect
            }
            ExamRule::PhotoTolerance(_) => ExamField::PhotoTolerance,
            ExamRule::PhotoMaxBytes(_) => ExamField::PhotoMaxBytes,
        }
    }
}

/// The staff-facing message of each rule (staff read Chinese, on the form and the command line).
impl fmt::Display for ExamRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (lo, hi) = (CODE_LENGTH.start(), CODE_LENGTH.end());
        match self {
            ExamRule::Code(code) => write!(
                f,
                "考试代码须为 {lo} 到 {hi} 位大写字母或数字（准考证号以它开头），收到 {code:?}"
            ),
            ExamRule::Title => write!(f, "考试名称须为 1 到 {MAX_TITLE_CHARS} 个字"),
            ExamRule::Fee(fen) => write!(
                f,
                "报名费须大于 0 且不超过 {} 元，收到 {} 分",
                MAX_FEE_FEN / 100,
                fen
            ),
            ExamRule::Capacity(n) => write!(
                f,
                "报名人数上限须为 1 到 {MAX_CAPACITY} 的整数（最多 {MAX_ROOMS} 个考场、每场 {MAX_ROOM_SEATS} 座），收到 {n}"
            ),
            ExamRule::OpensAfterCloses => write!(f, "报名开始时间须早于报名截止时间"),
            ExamRule::ClosesAfterStart => write!(f, "报名截止时间不能晚于考试开始时间"),
            ExamRule::Venue => write!(f, "考点地址最多 {MAX_VENUE_CHARS} 个字"),
            ExamRule::NoRooms => write!(f, "至少需要一个考场"),
            ExamRule::TooManyRooms(n) => write!(
                f,
                "最多 {MAX_ROOMS} 个考场（准考证号中考场号为两位），收到 {n} 个"
            ),
            ExamRule::RoomSeats { room, seats } => write!(
                f,
                "考场“{room}”的座位数须为 1 到 {MAX_ROOM_SEATS}（准考证号中座位号为三位），收到 {seats}"
            ),
            ExamRule::RoomName { line } => write!(
                f,
                "考场第 {line} 行应为“考场名称 座位数”，名称 1 到 {MAX_ROOM_NAME_CHARS} 个字，例如“第1考场 30”"
            ),
            ExamRule::RoomsShort { seats, capacity } => {
                write!(f, "各考场座位合计 {seats} 个，少于报名人数上限 {capacity}")
            }
            ExamRule::LateMinutes(n) => write!(
                f,
                "入场截止须为考试开始后 0 到 {MAX_LATE_MINUTES} 分钟（24 小时）之内，收到 {n}"
            ),
            ExamRule::PhotoMinWidth(n) => {
                write!(f, "照片最小宽度须为 1 到 {MAX_WIDTH} 像素，收到 {n}")
            }
            ExamRule::PhotoMinHeight(n) => {
                write!(f, "照片最小高度须为 1 到 {MAX_HEIGHT} 像素，收到 {n}")
            }
            ExamRule::PhotoAspect { width, height } => write!(
                f,
                "照片宽高比须写成“宽:高”，两个数都是 1 到 {MAX_ASPECT_TERM} 的整数，例如 3:4，收到 {width}:{height}"
            ),
            ExamRule::PhotoTolerance(n) => write!(
                f,
                "照片宽高比允许偏差须为 0 到 {MAX_ASPECT_TOLERANCE_PCT}%，收到 {n}%"
            ),
            ExamRule::PhotoMaxBytes(bytes) => write!(
                f,
                "照片文件上限须为 {} 到 {} KB，收到 {} KB",
                MIN_PHOTO_BYTES / 1024,
                MAX_PHOTO_BYTES / 1024,
                bytes.div_ceil(1024)
            ),
            ExamRule::PhotoUnsatisfiable(r) => write!(
                f,
                "照片规则无法同时满足：至少 {}×{} 像素、宽高比 {}:{} ± {}%，在系统上限 {MAX_WIDTH}×{MAX_HEIGHT} 像素内没有这样的照片",
                r.min_width, r.min_height, r.aspect_width, r.aspect_height, r.aspect_tolerance_pct
            ),
        }
    }
}

impl std::error::Error for ExamRule {}

/// Exam codes start every ticket number, so they follow its alphabet.
pub fn valid_code(code: &str) -> bool {
    CODE_LENGTH.contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// One room as staff define it: its name and number of seats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomPlan {
    pub room_no: i64,
    pub name: String,
    pub capacity: i64,
}

/// The rooms an exam starts with when nobody lists them: classroom-sized, covering `capacity`.
pub fn default_rooms(capacity: i64) -> Vec<RoomPlan> {
    let per_room = ((capacity + MAX_ROOMS - 1) / MAX_ROOMS).clamp(ROOM_SEATS, MAX_ROOM_SEATS);
    let mut rooms = Vec::new();
    let mut left = capacity;
    let mut room_no = 1;
    while left > 0 {
        let seats = left.min(per_room);
        rooms.push(RoomPlan {
            room_no,
            name: format!("第{room_no:02}考场"),
            capacity: seats,
        });
        left -= seats;
        room_no += 1;
    }
    rooms
}

/// Checks the rooms of an exam of `capacity` seats; every broken rule is listed.
pub fn check_rooms(capacity: i64, rooms: &[RoomPlan]) -> Vec<ExamRule> {
    let mut broken = Vec::new();
    if rooms.is_empty() {
        broken.push(ExamRule::NoRooms);
        return broken;
    }
    if rooms.len() as i64 > MAX_ROOMS {
        broken.push(ExamRule::TooManyRooms(rooms.len()));
    }
    for room in rooms {
        if !(1..=MAX_ROOM_SEATS).contains(&room.capacity) {
            broken.push(ExamRule::RoomSeats {
                room: room.name.clone(),
                seats: room.capacity,
            });
        }
        let name_chars = room.name.trim().chars().count();
        if name_chars == 0 || name_chars > MAX_ROOM_NAME_CHARS {
            broken.push(ExamRule::RoomName {
                line: room.room_no as usize,
            });
        }
    }
    let seats: i64 = rooms.iter().map(|r| r.capacity).sum();
    if seats < capacity {
        broken.push(ExamRule::RoomsShort { seats, capacity });
    }
    broken
}

/// Checks an exam's photo rules: each within its bounds, and together satisfiable.
pub fn check_photo_rules(rules: &PhotoRules) -> Vec<ExamRule> {
    let mut broken = Vec::new();
    if !(1..=MAX_WIDTH).contains(&rules.min_width) {
        broken.push(ExamRule::PhotoMinWidth(rules.min_width));
    }
    if !(1..=MAX_HEIGHT).contains(&rules.min_height) {
        broken.push(ExamRule::PhotoMinHeight(rules.min_height));
    }
    let term = 1..=MAX_ASPECT_TERM;
    if !term.contains(&rules.aspect_width) || !term.contains(&rules.aspect_height) {
        broken.push(ExamRule::PhotoAspect {
            width: rules.aspect_width,
            height: rules.aspect_height,
        });
    }
    if rules.aspect_tolerance_pct > MAX_ASPECT_TOLERANCE_PCT {
        broken.push(ExamRule::PhotoTolerance(rules.aspect_tolerance_pct));
    }
    if !(MIN_PHOTO_BYTES..=MAX_PHOTO_BYTES as u32).contains(&rules.max_bytes) {
        broken.push(ExamRule::PhotoMaxBytes(rules.max_bytes));
    }
    if broken.is_empty() && !photo_rules_satisfiable(rules) {
        broken.push(ExamRule::PhotoUnsatisfiable(*rules));
    }
    broken
}

/// Whether some upright photo within the system's limits meets every rule: for each allowed
/// height, the width nearest the aspect (at least the minimum width) is the best candidate.
fn photo_rules_satisfiable(rules: &PhotoRules) -> bool {
    let (aw, ah) = (
        u64::from(rules.aspect_width),
        u64::from(rules.aspect_height),
    );
    (rules.min_height..=MAX_HEIGHT).any(|h| {
        let ideal =
            (u64::from(h) * aw / ah).clamp(u64::from(rules.min_width), u64::from(MAX_WIDTH));
        [ideal, ideal + 1].into_iter().any(|w| {
            u32::try_from(w)
                .is_ok_and(|w| w >= rules.min_width && w <= MAX_WIDTH && rules.fits_aspect(w, h))
        })
    })
}

#[derive(Debug, Clone)]
pub struct NewExam {
    pub code: String,
    pub title: String,
    pub fee_fen: i64,
    pub capacity: i64,
    pub opens_at: i64,
    pub closes_at: i64,
    pub starts_at: i64,
    pub venue: String,
    pub review: ExamReview,
    /// Minutes after the start during which candidates are still let in.
    pub late_minutes: i64,
    pub photo_rules: PhotoRules,
}

/// Candidates are let in until half an hour after the start, as most exams rule.
pub const DEFAULT_LATE_MINUTES: i64 = 30;

impl NewExam {
    /// Every rule the exam breaks, in the order of its fields.
    pub fn broken_rules(&self) -> Vec<ExamRule> {
        let mut broken = Vec::new();
        if !valid_code(&self.code) {
            broken.push(ExamRule::Code(self.code.clone()));
        }
        let title_chars = self.title.trim().chars().count();
        if title_chars == 0 || title_chars > MAX_TITLE_CHARS {
            broken.push(ExamRule::Title);
        }
        if !(1..=MAX_FEE_FEN).contains(&self.fee_fen) {
            broken.push(ExamRule::Fee(self.fee_fen));
        }
        if !(1..=MAX_CAPACITY).contains(&self.capacity) {
            broken.push(ExamRule::Capacity(self.capacity));
        }
        if self.opens_at >= self.closes_at {
            broken.push(ExamRule::OpensAfterCloses);
        }
        if self.closes_at > self.starts_at {
            broken.push(ExamRule::ClosesAfterStart);
        }
        if self.venue.trim().chars().count() > MAX_VENUE_CHARS {
            broken.push(ExamRule::Venue);
        }
        if !(0..=MAX_LATE_MINUTES).contains(&self.late_minutes) {
            broken.push(ExamRule::LateMinutes(self.late_minutes));
        }
        broken.extend(check_photo_rules(&self.photo_rules));
        broken
    }

    /// The first broken rule, if any.
    pub fn validate(&self) -> Result<(), ExamRule> {
        match self.broken_rules().into_iter().next() {
            Some(rule) => Err(rule),
            None => Ok(()),
        }
    }

    /// The exam and its rooms together: the first broken rule, if any.
    pub fn validate_with_rooms(&self, rooms: &[RoomPlan]) -> Result<(), ExamRule> {
        self.validate()?;
        match check_rooms(self.capacity, rooms).into_iter().next() {
            Some(rule) => Err(rule),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exam() -> NewExam {
        NewExam {
            code: "CET2026".into(),
            title: "2026年英语考试".into(),
            fee_fen: 5000,
            capacity: 100,
            opens_at: 100,
            closes_at: 200,
            starts_at: 300,
            venue: String::new(),
            review: ExamReview::None,
            late_minutes: crate::domain::exam::DEFAULT_LATE_MINUTES,
            photo_rules: examdesk_tickets::photo::PhotoRules::default(),
        }
    }

    fn room(no: i64, seats: i64) -> RoomPlan {
        RoomPlan {
            room_no: no,
            name: format!("第{no}考场"),
            capacity: seats,
        }
    }

    #[test]
    fn default_rooms_cover_the_capacity_within_ticket_limits() {
        let two: Vec<i64> = default_rooms(50).iter().map(|r| r.capacity).collect();
        assert_eq!(two, vec![30, 20]);
        for capacity in [1, 30, 31, 2970, 2971, 10_000, MAX_CAPACITY] {
            let rooms = default_rooms(capacity);
            assert_eq!(rooms.iter().map(|r| r.capacity).sum::<i64>(), capacity);
            assert!(check_rooms(capacity, &rooms).is_empty(), "{capacity}");
        }
    }

    #[test]
    fn each_rule_names_its_field() {
        assert!(exam().validate().is_ok());
        type Breaker = fn(&mut NewExam);
        let cases: [(Breaker, ExamField); 9] = [
            (|e| e.fee_fen = 0, ExamField::Fee),
            (|e| e.fee_fen = MAX_FEE_FEN + 1, ExamField::Fee),
            (|e| e.capacity = -1, ExamField::Capacity),
            (|e| e.capacity = MAX_CAPACITY + 1, ExamField::Capacity),
            (|e| e.opens_at = 200, ExamField::Opens),
            (|e| e.starts_at = 150, ExamField::Closes),
            (|e| e.code = "cet2026".into(), ExamField::Code),
            (|e| e.title = " ".into(), ExamField::Title),
            (|e| e.venue = "址".repeat(201), ExamField::Venue),
        ];
        for (break_it, field) in cases {
            let mut e = exam();
            break_it(&mut e);
            let rule = e.validate().unwrap_err();
            assert_eq!(rule.field(), field, "{rule}");
        }
        type PhotoBreaker = fn(&mut PhotoRules);
        let photo_cases: [(PhotoBreaker, ExamField); 8] = [
            (|r| r.min_width = 0, ExamField::PhotoMinWidth),
            (|r| r.min_height = MAX_HEIGHT + 1, ExamField::PhotoMinHeight),
            (|r| r.aspect_width = 0, ExamField::PhotoAspect),
            (|r| r.aspect_height = MAX_HEIGHT + 1, ExamField::PhotoAspect),
            (|r| r.aspect_tolerance_pct = 51, ExamField::PhotoTolerance),
            (
                |r| r.max_bytes = 2 * 1024 * 1024 + 1,
                ExamField::PhotoMaxBytes,
            ),
            (|r| r.max_bytes = 0, ExamField::PhotoMaxBytes),
            // A square photo 3,200 px high would be 3,200 px wide, beyond the 2,000 px ceiling.
            (
                |r| {
                    (r.aspect_width, r.aspect_height) = (1, 1);
                    r.min_height = MAX_HEIGHT;
                },
                ExamField::PhotoAspect,
            ),
        ];
        for (break_it, field) in photo_cases {
            let mut e = exam();
            break_it(&mut e.photo_rules);
            let rule = e.validate().unwrap_err();
            assert_eq!(rule.field(), field, "{rule}");
        }
        for minutes in [-1, MAX_LATE_MINUTES + 1] {
            let mut e = exam();
            e.late_minutes = minutes;
            let rule = e.validate().unwrap_err();
            assert_eq!(rule.field(), ExamField::LateMinutes);
            assert!(rule.to_string().contains(&minutes.to_string()), "{rule}");
        }
        let mut edge = exam();
        edge.late_minutes = MAX_LATE_MINUTES;
        edge.photo_rules = PhotoRules {
            min_width: 1500,
            min_height: 2000,
            aspect_tolerance_pct: 0,
            max_bytes: MIN_PHOTO_BYTES,
            ..PhotoRules::default()
        };
        assert!(edge.validate().is_ok(), "limits themselves are allowed");
        let mut same_day = exam();
        same_day.closes_at = same_day.starts_at;
        assert!(same_day.validate().is_ok(), "closes = starts is allowed");
    }

    #[test]
    fn rooms_stay_within_what_a_ticket_number_prints() {
        assert!(check_rooms(999, &[room(1, 999)]).is_empty());
        assert_eq!(
            check_rooms(1000, &[room(1, 1000)]),
            vec![ExamRule::RoomSeats {
                room: "第1考场".into(),
                seats: 1000
            }]
        );
        assert!(
            check_rooms(1, &[room(1, 0)]).contains(&ExamRule::RoomSeats {
                room: "第1考场".into(),
                seats: 0
            })
        );
        let hundred: Vec<RoomPlan> = (1..=100).map(|n| room(n, 1)).collect();
        assert_eq!(
            check_rooms(100, &hundred),
            vec![ExamRule::TooManyRooms(100)]
        );
        assert_eq!(check_rooms(1, &[]), vec![ExamRule::NoRooms]);
        assert_eq!(
            check_rooms(61, &[room(1, 30), room(2, 30)]),
            vec![ExamRule::RoomsShort {
                seats: 60,
                capacity: 61
            }]
        );
        let message = ExamRule::RoomSeats {
            room: "第1考场".into(),
            seats: 1000,
        }
        .to_string();
        assert!(
            message.contains("999") && message.contains("1000"),
            "{message}"
        );
    }
}
