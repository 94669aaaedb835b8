//! What makes an exam valid before it is stored.

/// Exam codes start every ticket number, so they follow its alphabet: 2 to 12 of A–Z and 0–9.
pub fn valid_code(code: &str) -> bool {
    (2..=12).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Ticket numbers carry a 2-digit room and a 3-digit seat.
pub const MAX_ROOMS: i64 = 99;
pub const MAX_ROOM_SEATS: i64 = 999;
pub const MAX_CAPACITY: i64 = MAX_ROOMS * MAX_ROOM_SEATS;
/// A usual classroom; larger exams get larger rooms only when 99 rooms are not enough.
const ROOM_SEATS: i64 = 30;

/// The rooms an exam starts with: `(room_no, capacity)`, classroom-sized, covering `capacity`.
pub fn default_rooms(capacity: i64) -> Vec<(i64, i64)> {
    let per_room = ((capacity + MAX_ROOMS - 1) / MAX_ROOMS).clamp(ROOM_SEATS, MAX_ROOM_SEATS);
    let mut rooms = Vec::new();
    let mut left = capacity;
    let mut room_no = 1;
    while left > 0 {
        let seats = left.min(per_room);
        rooms.push((room_no, seats));
        left -= seats;
        room_no += 1;
    }
    rooms
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
}

impl NewExam {
    /// Checks every rule and names the first field that breaks one.
    pub fn validate(&self) -> Result<(), String> {
        if !valid_code(&self.code) {
            return Err(format!(
                "--code: 2 to 12 capital letters or digits, got {:?} (it starts every ticket number)",
                self.code
            ));
        }
        if self.title.trim().is_empty() || self.title.chars().count() > 100 {
            return Err("--title: must be 1 to 100 characters".into());
        }
        if self.fee_fen <= 0 {
            return Err(format!(
                "--fee-fen: must be more than 0 fen, got {}",
                self.fee_fen
            ));
        }
        if self.capacity <= 0 {
            return Err(format!(
                "--capacity: must be more than 0, got {}",
                self.capacity
            ));
        }
        if self.opens_at >= self.closes_at {
            return Err("--opens must be before --closes".into());
        }
        if self.closes_at > self.starts_at {
            return Err(
                "--closes must not be after --starts (registration ends before the exam)".into(),
            );
        }
        Ok(())
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
        }
    }

    #[test]
    fn default_rooms_cover_the_capacity_within_ticket_limits() {
        assert_eq!(default_rooms(50), vec![(1, 30), (2, 20)]);
        for capacity in [1, 30, 31, 2970, 2971, 10_000, MAX_CAPACITY] {
            let rooms = default_rooms(capacity);
            assert_eq!(rooms.iter().map(|r| r.1).sum::<i64>(), capacity);
            assert!(rooms.len() as i64 <= MAX_ROOMS, "{capacity}");
            assert!(rooms.iter().all(|r| r.1 <= MAX_ROOM_SEATS && r.1 > 0));
        }
    }

    #[test]
    fn rules() {
        assert!(exam().validate().is_ok());
        type Breaker = fn(&mut NewExam);
        let cases: [(Breaker, &str); 6] = [
            (|e| e.fee_fen = 0, "--fee-fen"),
            (|e| e.capacity = -1, "--capacity"),
            (|e| e.opens_at = 200, "--opens"),
            (|e| e.starts_at = 150, "--closes"),
            (|e| e.code = "cet2026".into(), "--code"),
            (|e| e.title = " ".into(), "--title"),
        ];
        for (break_it, field) in cases {
            let mut e = exam();
            break_it(&mut e);
            let err = e.validate().unwrap_err();
            assert!(err.contains(field), "{err}");
        }
        let mut same_day = exam();
        same_day.closes_at = same_day.starts_at;
        assert!(same_day.validate().is_ok(), "closes = starts is allowed");
    }
}
