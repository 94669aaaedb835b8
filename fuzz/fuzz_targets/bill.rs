//! The daily-bill reader on any bytes (the first picks the bill type): never a panic; a bill it
//! reads is written back (`to_text`) as one it reads again unchanged; the summary of its records
//! adds up without overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wechat_pay_v2::bill::{Bill, BillSummary, BillType};

fuzz_target!(|data: &[u8]| {
    let Some((&kind, text)) = data.split_first() else {
        return;
    };
    let bill_type = [BillType::All, BillType::Success, BillType::Refund][usize::from(kind % 3)];
    let Ok(bill) = Bill::parse(bill_type, text) else {
        return;
    };
    assert_eq!(bill.bill_type, bill_type);
    assert_eq!(bill.summary.count, bill.records.len() as i64);
    let written = bill.to_text();
    let again = Bill::parse(bill_type, written.as_bytes()).expect("what we write we can read");
    assert_eq!(again, bill, "round trip changed the bill");
    let summary = BillSummary::checked_of(&bill.records).expect("a bill read adds up within i64");
    assert_eq!(summary.count, bill.summary.count);
});
