//! Resident ID numbers (GB 11643-1999), including the residence permits of Hong Kong, Macao and
//! Taiwan residents (prefixes 81, 82, 83), which follow the same rule.

use std::fmt;

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS: &[u8; 11] = b"10X98765432";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdNumber(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error("身份证号应为18位")]
    Length,
    #[error("身份证号前17位应为数字，最后一位为数字或X")]
    Characters,
    #[error("身份证号中的出生日期不存在")]
    BirthDate,
    #[error("身份证号校验位不正确，请核对")]
    CheckCharacter,
}

impl IdNumber {
    /// Accepts a lower-case `x` and surrounding spaces, and stores the canonical upper-case form.
    pub fn parse(input: &str) -> Result<Self, IdNumberError> {
        let text = input.trim().to_ascii_uppercase();
        if text.chars().count() != 18 {
            return Err(IdNumberError::Length);
        }
        let bytes = text.as_bytes();
        if !bytes[..17].iter().all(u8::is_ascii_digit)
            || !(bytes[17].is_ascii_digit() || bytes[17] == b'X')
        {
            return Err(IdNumberError::Characters);
        }
        if !birth_date_is_real(&text[6..14]) {
            return Err(IdNumberError::BirthDate);
        }
        if check_character(&bytes[..17]) != bytes[17] {
            return Err(IdNumberError::CheckCharacter);
        }
        Ok(Self(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with its middle hidden, for lists and logs.
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.0[..6], &self.0[14..])
    }
}

impl fmt::Display for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_character(first17: &[u8]) -> u8 {
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(digit, weight)| u32::from(digit - b'0') * weight)
        .sum();
    CHECK_CHARS[(sum % 11) as usize]
}

fn birth_date_is_real(yyyymmdd: &str) -> bool {
    let (Ok(year), Ok(month), Ok(day)) = (
        yyyymmdd[..4].parse::<i32>(),
        yyyymmdd[4..6].parse::<u8>(),
        yyyymmdd[6..].parse::<u8>(),
    ) else {
        return false;
    };
    let Ok(month) = time::Month::try_from(month) else {
        return false;
    };
    let Ok(date) = time::Date::from_calendar_date(year, month, day) else {
        return false;
    };
    let today = time::OffsetDateTime::now_utc().date();
    year >= 1850 && date <= today
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn published_examples() {
        assert!(IdNumber::parse("11010519491231002X").is_ok());
        assert!(
            IdNumber::parse("11010519491231002x").is_ok(),
            "lower-case x is accepted"
        );
        assert!(IdNumber::parse("440524188001010014").is_ok());
        assert_eq!(
            IdNumber::parse("110105194912310021"),
            Err(IdNumberError::CheckCharacter)
        );
    }

    #[test]
    fn each_fault_has_its_own_message() {
        assert_eq!(
            IdNumber::parse("1101051949123100"),
            Err(IdNumberError::Length)
        );
        assert_eq!(
            IdNumber::parse("11010519491231002Y"),
            Err(IdNumberError::Characters)
        );
        // 1949-02-30 does not exist; the check character is made to fit so only the date is wrong.
        let mut body = b"11010519490230002".to_vec();
        let check = check_character(&body);
        body.push(check);
        let text = String::from_utf8(body).unwrap();
        assert_eq!(IdNumber::parse(&text), Err(IdNumberError::BirthDate));
    }

    #[test]
    fn residence_permits_follow_the_same_rule() {
        for prefix in ["810000", "820000", "830000"] {
            let mut body = format!("{prefix}19900101001").into_bytes();
            let check = check_character(&body);
            body.push(check);
            let text = String::from_utf8(body).unwrap();
            assert!(IdNumber::parse(&text).is_ok(), "{text}");
        }
    }

    #[test]
    fn masked_hides_the_birth_date() {
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(id.masked(), "110105********002X");
    }

    proptest! {
        #[test]
        fn never_panics_on_any_text(s in "\\PC{0,40}") {
            let _ = IdNumber::parse(&s);
        }

        #[test]
        fn changing_one_digit_is_always_caught(day in 1u32..28, seq in 0u32..999, pos in 0usize..17, delta in 1u8..10) {
            let mut body = format!("1101051990{:02}{:02}{:03}", 1 + day % 12, day, seq).into_bytes();
            let check = check_character(&body);
            body.push(check);
            let original = String::from_utf8(body.clone()).unwrap();
            prop_assert!(IdNumber::parse(&original).is_ok());
            body[pos] = b'0' + (body[pos] - b'0' + delta) % 10;
            let altered = String::from_utf8(body).unwrap();
            prop_assert!(IdNumber::parse(&altered).is_err(), "{} accepted", altered);
        }
    }
}
