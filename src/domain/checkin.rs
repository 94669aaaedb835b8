//! Who may be let in at the exam door, and when: the ticket must be valid, the exam must be
//! today (in China time, where exams are held), and no later than the exam's late-entry minutes
//! after its start.

use crate::domain::states::{CheckinRefusal, RegistrationStatus};

/// China Standard Time has no daylight saving: a calendar day there is a fixed offset from UTC.
const CHINA_OFFSET_SECONDS: i64 = 8 * 3600;

fn china_day(unix: i64) -> i64 {
    (unix + CHINA_OFFSET_SECONDS).div_euclid(86_400)
}

/// What the door check knows of a ticket and its exam.
#[derive(Debug, Clone, Copy)]
pub struct DoorCheck {
    pub status: RegistrationStatus,
    /// The ticket number in the QR code is still the registration's (seats were not re-arranged).
    pub current_ticket: bool,
    pub starts_at: i64,
    pub late_minutes: i64,
}

impl DoorCheck {
    /// Whether the candidate may enter at `at`, or why not.
    pub fn admit(&self, at: i64) -> Result<(), CheckinRefusal> {
        // A refund under way leaves the ticket valid until the money is back.
        let paid = matches!(
            self.status,
            RegistrationStatus::Paid | RegistrationStatus::Refunding
        );
        if !paid || !self.current_ticket {
            return Err(CheckinRefusal::Void);
        }
        if china_day(at) != china_day(self.starts_at) {
            return Err(CheckinRefusal::OtherDay);
        }
        if at > self.starts_at + self.late_minutes * 60 {
            return Err(CheckinRefusal::TooLate);
        }
        Ok(())
    }
}

impl CheckinRefusal {
    /// What the proctor reads on the phone.
    pub fn message(self, late_minutes: i64) -> String {
        match self {
            CheckinRefusal::Void => {
                "准考证无效（未缴费、已退款或座位已重新编排），不能登记入场。".into()
            }
            CheckinRefusal::OtherDay => "该准考证不是今天的考试，不能登记入场。".into(),
            CheckinRefusal::TooLate => {
                format!("已超过开考后 {late_minutes} 分钟的入场时限，不能登记入场。")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-20 09:00 in China.
    const START: i64 = 1_797_728_400;

    fn check(status: RegistrationStatus) -> DoorCheck {
        DoorCheck {
            status,
            current_ticket: true,
            starts_at: START,
            late_minutes: 30,
        }
    }

    #[test]
    fn the_day_of_the_exam_until_the_late_limit() {
        let ok = check(RegistrationStatus::Paid);
        assert_eq!(ok.admit(START - 2 * 3600), Ok(()), "07:00, early is fine");
        assert_eq!(ok.admit(START + 30 * 60), Ok(()), "09:30, the last minute");
        assert_eq!(ok.admit(START + 30 * 60 + 1), Err(CheckinRefusal::TooLate));
        // 00:00 China time that day is 16:00 UTC the day before.
        assert_eq!(ok.admit(START - 9 * 3600), Ok(()), "00:00 the same day");
        assert_eq!(
            ok.admit(START - 9 * 3600 - 1),
            Err(CheckinRefusal::OtherDay)
        );
        assert_eq!(ok.admit(START - 86_400), Err(CheckinRefusal::OtherDay));
        assert_eq!(
            check(RegistrationStatus::Refunding).admit(START),
            Ok(()),
            "valid until the refund is done"
        );
    }

    #[test]
    fn void_tickets_never_enter() {
        for status in [
            RegistrationStatus::Refunded,
            RegistrationStatus::Cancelled,
            RegistrationStatus::PendingPayment,
            RegistrationStatus::UnderReview,
        ] {
            assert_eq!(check(status).admit(START), Err(CheckinRefusal::Void));
        }
        let reseated = DoorCheck {
            current_ticket: false,
            ..check(RegistrationStatus::Paid)
        };
        assert_eq!(reseated.admit(START), Err(CheckinRefusal::Void));
    }
}
