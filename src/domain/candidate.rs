//! A candidate's name and mobile number as typed into the mini-program.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MobileNumber(String);

impl PersonName {
    /// Chinese names (with the middle dot `·` of many minority and transliterated names) or Latin
    /// letters with spaces; 2 to 30 characters.
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let name: String = input.trim().replace(['•', '・', '．'], "·");
        let count = name.chars().count();
        if count < 2 {
            return Err("姓名至少2个字");
        }
        if count > 30 {
            return Err("姓名不能超过30个字");
        }
        let allowed = |c: char| is_cjk(c) || c == '·' || c.is_ascii_alphabetic() || c == ' ';
        if !name.chars().all(allowed) {
            return Err("姓名只能包含汉字、字母、空格和间隔号“·”");
        }
        if name.starts_with('·') || name.ends_with('·') || name.contains("··") {
            return Err("间隔号“·”只能出现在姓名中间");
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
}

impl MobileNumber {
    /// An 11-digit mainland mobile number starting 13–19; a leading +86 or 86 is dropped.
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let digits: String = input.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let digits = digits
            .strip_prefix("+86")
            .or_else(|| digits.strip_prefix("86").filter(|d| d.len() == 11))
            .unwrap_or(&digits);
        let bytes = digits.as_bytes();
        if bytes.len() != 11
            || !bytes.iter().all(u8::is_ascii_digit)
            || bytes[0] != b'1'
            || !(b'3'..=b'9').contains(&bytes[1])
        {
            return Err("请填写11位中国大陆手机号");
        }
        Ok(Self(digits.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(PersonName::parse(" 张三 ").unwrap().as_str(), "张三");
        assert_eq!(
            PersonName::parse("阿依古丽·买买提").unwrap().as_str(),
            "阿依古丽·买买提"
        );
        assert_eq!(
            PersonName::parse("阿依古丽•买买提").unwrap().as_str(),
            "阿依古丽·买买提"
        );
        assert!(
            PersonName::parse("𠀀明").is_ok(),
            "rare characters outside the BMP are names too"
        );
        assert!(PersonName::parse("张").is_err());
        assert!(PersonName::parse("张三1").is_err());
        assert!(PersonName::parse("·张三").is_err());
        assert!(PersonName::parse("<script>").is_err());
    }

    #[test]
    fn phones() {
        assert_eq!(
            MobileNumber::parse("138 0013 8000").unwrap().as_str(),
            "13800138000"
        );
        assert_eq!(
            MobileNumber::parse("+8613800138000").unwrap().as_str(),
            "13800138000"
        );
        assert!(MobileNumber::parse("12800138000").is_err());
        assert!(MobileNumber::parse("1380013800").is_err());
        assert!(MobileNumber::parse("010-12345678").is_err());
    }
}
