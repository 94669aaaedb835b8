//! Ticket numbers: `{exam code}{room:02}{seat:03}{check}`, e.g. `GK2026` + `03` + `017` + `5`.
//!
//! Digits after the exam code so a proctor can read it aloud in groups; the check character uses
//! ISO 7064 MOD 11-2, the same scheme as the resident ID card, so candidates already know its `X`.
//! Letters of the exam code enter the checksum as two digits (A=10 … Z=35, as IBAN does).

use thiserror::Error;

/// Longest exam code accepted; keeps the printed number short enough to read aloud.
pub const MAX_EXAM_CODE_LEN: usize = 12;
/// Room numbers are printed with two digits.
pub const MAX_ROOM_NO: u16 = 99;
/// Seat numbers are printed with three digits.
pub const MAX_SEAT_NO: u16 = 999;

const ROOM_DIGITS: usize = 2;
const SEAT_DIGITS: usize = 3;
const SUFFIX_LEN: usize = ROOM_DIGITS + SEAT_DIGITS + 1;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TicketNumberError {
    #[error("exam code must be 1-{MAX_EXAM_CODE_LEN} characters of A-Z and 0-9, got {0:?}")]
    BadExamCode(String),
    #[error("room number {0} is outside 1-{MAX_ROOM_NO}")]
    BadRoom(u16),
    #[error("seat number {0} is outside 1-{MAX_SEAT_NO}")]
    BadSeat(u16),
}

/// The parts of a valid ticket number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketNumber {
    pub exam_code: String,
    pub room_no: u16,
    pub seat_no: u16,
}

/// Builds the printed ticket number for a seat.
pub fn ticket_number(
    exam_code: &str,
    room_no: u16,
    seat_no: u16,
) -> Result<String, TicketNumberError> {
    if !valid_exam_code(exam_code) {
        return Err(TicketNumberError::BadExamCode(exam_code.to_owned()));
    }
    if room_no == 0 || room_no > MAX_ROOM_NO {
        return Err(TicketNumberError::BadRoom(room_no));
    }
    if seat_no == 0 || seat_no > MAX_SEAT_NO {
        return Err(TicketNumberError::BadSeat(seat_no));
    }
    let body = format!("{exam_code}{room_no:02}{seat_no:03}");
    let check = check_char(&body);
    Ok(format!("{body}{check}"))
}

/// True when `s` is a well-formed ticket number whose check character matches.
pub fn validate(s: &str) -> bool {
    parse(s).is_some()
}

/// Splits a valid ticket number into exam code, room and seat; `None` for anything malformed
/// or with a wrong check character (a mistyped or misread number).
pub fn parse(s: &str) -> Option<TicketNumber> {
    if !s.is_ascii() || s.len() <= SUFFIX_LEN {
        return None;
    }
    let (body, check) = s.split_at(s.len() - 1);
    let (exam_code, digits) = body.split_at(body.len() - ROOM_DIGITS - SEAT_DIGITS);
    if !valid_exam_code(exam_code) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !check.starts_with(check_char(body)) {
        return None;
    }
    let room_no: u16 = digits[..ROOM_DIGITS].parse().ok()?;
    let seat_no: u16 = digits[ROOM_DIGITS..].parse().ok()?;
    if room_no == 0 || seat_no == 0 {
        return None;
    }
    Some(TicketNumber {
        exam_code: exam_code.to_owned(),
        room_no,
        seat_no,
    })
}

fn valid_exam_code(code: &str) -> bool {
    (1..=MAX_EXAM_CODE_LEN).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// ISO 7064 MOD 11-2 over the digit expansion of `body` (callers pass only A-Z and 0-9).
fn check_char(body: &str) -> char {
    let mut acc: u32 = 0;
    let mut push = |d: u32| acc = ((acc + d) * 2) % 11;
    for b in body.bytes() {
        if b.is_ascii_digit() {
            push(u32::from(b - b'0'));
        } else {
            let v = u32::from(b - b'A') + 10;
            push(v / 10);
            push(v % 10);
        }
    }
    match (12 - acc % 11) % 11 {
        10 => 'X',
        d => char::from(b'0' + d as u8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_resident_id_check_digit() {
        // GB 11643's check digit is ISO 7064 MOD 11-2: a published sample ID.
        assert_eq!(check_char("11010519491231002"), 'X');
        assert_eq!(check_char("44052418800101001"), '4');
    }

    #[test]
    fn builds_and_parses_back() {
        let no = ticket_number("GK2026", 3, 17).unwrap();
        assert!(no.starts_with("GK202603017"));
        assert_eq!(no.len(), 12);
        assert!(validate(&no));
        let parsed = parse(&no).unwrap();
        assert_eq!(parsed.exam_code, "GK2026");
        assert_eq!((parsed.room_no, parsed.seat_no), (3, 17));
    }

    #[test]
    fn unique_per_seat_within_an_exam() {
        let mut seen = std::collections::HashSet::new();
        for room in 1..=20 {
            for seat in 1..=60 {
                assert!(seen.insert(ticket_number("E26", room, seat).unwrap()));
            }
        }
    }

    #[test]
    fn every_single_digit_error_is_caught() {
        let no = ticket_number("GK2026", 12, 345).unwrap();
        let alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        for i in 0..no.len() {
            for c in alphabet.chars() {
                let mut altered: Vec<char> = no.chars().collect();
                if altered[i] == c {
                    continue;
                }
                altered[i] = c;
                let altered: String = altered.into_iter().collect();
                // Letters expand to two digits, so only digit positions are guaranteed.
                if no.as_bytes()[i].is_ascii_digit() && c.is_ascii_digit() {
                    assert!(!validate(&altered), "{altered} passed");
                }
            }
        }
    }

    #[test]
    fn adjacent_swaps_of_digits_are_caught() {
        let no = ticket_number("2026061", 7, 123).unwrap();
        let bytes = no.as_bytes();
        for i in 0..bytes.len() - 2 {
            if bytes[i] != bytes[i + 1] {
                let mut swapped = bytes.to_vec();
                swapped.swap(i, i + 1);
                let swapped = String::from_utf8(swapped).unwrap();
                assert!(!validate(&swapped), "{swapped} passed");
            }
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert!(ticket_number("gk", 1, 1).is_err());
        assert!(ticket_number("", 1, 1).is_err());
        assert!(ticket_number("ABCDEFGHIJKLM", 1, 1).is_err());
        assert_eq!(
            ticket_number("GK", 0, 1),
            Err(TicketNumberError::BadRoom(0))
        );
        assert_eq!(
            ticket_number("GK", 100, 1),
            Err(TicketNumberError::BadRoom(100))
        );
        assert_eq!(
            ticket_number("GK", 1, 1000),
            Err(TicketNumberError::BadSeat(1000))
        );
        for s in ["", "X", "00001X", "GK00000", "准考证0100011", "gk010011"] {
            assert!(!validate(s), "{s}");
        }
    }
}
