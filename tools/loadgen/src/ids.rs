//! The synthetic people of a run: login codes, ID numbers, phones and WeChat ids, all derived from
//! the run id and an index so that they are distinct within a run and unlikely to meet across runs.

/// A 64-bit hash of the run id (FNV-1a): spreads runs over the ID-number space.
pub(crate) fn run_hash(run_id: &str) -> u64 {
    run_id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A simulator login code; never one of the codes the simulator treats as refusals
/// (`invalid`, `used`, `ratelimit`, `busy`).
pub(crate) fn login_code(run_id: &str, phase: &str, i: usize) -> String {
    format!("lg-{run_id}-{phase}{i}")
}

const AREAS: [&str; 8] = [
    "110105", "310104", "440106", "330106", "510107", "420106", "320102", "610113",
];
const DATES: u64 = 36 * 12 * 28;
const SPACE: u64 = AREAS.len() as u64 * DATES * 1000;

/// A valid resident ID number (GB 11643 check digit), distinct for distinct `i` within a run.
pub(crate) fn id_number(run_id: &str, i: usize) -> String {
    let u = (run_hash(run_id).wrapping_add(i as u64)) % SPACE;
    let seq = u % 1000;
    let d = (u / 1000) % DATES;
    let area = AREAS[(u / (1000 * DATES)) as usize];
    let (year, month, day) = (1970 + d / (12 * 28), 1 + (d / 28) % 12, 1 + d % 28);
    let body = format!("{area}{year:04}{month:02}{day:02}{seq:03}");
    let weights = [7u32, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(weights)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{body}{check}")
}

const SURNAMES: [&str; 8] = ["张", "王", "李", "赵", "陈", "刘", "杨", "黄"];
const GIVEN: [&str; 8] = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "婷"];

pub(crate) fn name(i: usize) -> String {
    format!(
        "{}{}{}",
        SURNAMES[i % 8],
        GIVEN[(i / 8) % 8],
        GIVEN[(i / 64) % 8]
    )
}

pub(crate) fn phone(i: usize) -> String {
    format!("138{:08}", i % 100_000_000)
}

/// 28 digits like WeChat's, unique per run and order.
pub(crate) fn transaction_id(run_id: &str, i: usize) -> String {
    format!("42{:010}{:016}", run_hash(run_id) % 10_000_000_000, i)
}

/// Shaped like an openid (28 characters); WeChat names the payer, examdesk does not rely on it.
pub(crate) fn openid(run_id: &str, i: usize) -> String {
    format!("oLoad{:08x}{:015}", run_hash(run_id) as u32, i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use examdesk::domain::id_number::IdNumber;

    #[test]
    fn id_numbers_are_valid_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..30_000 {
            let id = id_number("abcd1234", i);
            assert!(IdNumber::parse(&id).is_ok(), "{id}");
            assert!(seen.insert(id));
        }
    }

    #[test]
    fn shapes() {
        assert_eq!(transaction_id("r", 7).len(), 28);
        assert_eq!(openid("r", 7).len(), 28);
        assert!(examdesk::domain::candidate::PersonName::parse(&name(77)).is_ok());
        assert!(examdesk::domain::candidate::MobileNumber::parse(&phone(12)).is_ok());
    }
}
