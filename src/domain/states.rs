//! The states a registration, an order, a refund, an exam and a bulk print go through, what became
//! of each WeChat callback, and the flags raised on a registration. Each has one spelling in the
//! database, written here and nowhere else: `as_str` gives it and `FromStr` reads it back,
//! refusing anything it does not know, so a typo or a value from another version is an error,
//! never some other state.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// A stored value no state has: the column it came from, and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{column}: unknown value {value:?}")]
pub struct UnknownValue {
    pub column: &'static str,
    pub value: String,
}

impl UnknownValue {
    fn new(column: &'static str, value: &str) -> Self {
        Self {
            column,
            value: value.to_string(),
        }
    }
}

/// An enum whose variants are stored as fixed texts: the one table of spellings gives `as_str`,
/// `FromStr` (its inverse), `Display` and `Serialize` (JSON answers carry the stored spelling).
macro_rules! stored_enum {
    (
        $(#[$meta:meta])*
        $name:ident in $column:literal {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every variant, in the order they are declared.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];
            /// Where the value is stored, for error messages.
            pub const COLUMN: &'static str = $column;

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;

            fn from_str(text: &str) -> Result<Self, UnknownValue> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(UnknownValue::new($column, other)),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}

stored_enum! {
    /// A candidate's registration for one exam.
    RegistrationStatus in "registrations.status" {
        /// Waits for staff to approve the candidate's qualification; its seat is held meanwhile.
        UnderReview = "under_review",
        /// Staff refused the qualification (`review_note` says why); the seat went back. The
        /// candidate may correct and resubmit.
        Rejected = "rejected",
        /// A seat is held until `hold_expires_at` while the candidate pays.
        PendingPayment = "pending_payment",
        Paid = "paid",
        /// Cancelled by the candidate before paying; the seat went back.
        Cancelled = "cancelled",
        /// The hold ended unpaid; the seat went back.
        Expired = "expired",
        /// The last of the payment is being refunded; the ticket stays valid until it is back.
        Refunding = "refunding",
        /// The whole payment came back; the ticket is void.
        Refunded = "refunded",
    }
}

stored_enum! {
    /// An order: one WeChat `out_trade_no`.
    OrderStatus in "orders.status" {
        Created = "created",
        /// WeChat gave a prepay_id: the candidate can pay.
        Prepaid = "prepaid",
        Paid = "paid",
        /// Closed at WeChat (or never known to it): it can no longer be paid there.
        Closed = "closed",
    }
}

stored_enum! {
    /// A refund: one `out_refund_no`.
    RefundStatus in "refunds.status" {
        /// Stored, not yet accepted by WeChat.
        Requested = "requested",
        /// Accepted by WeChat; the result comes later.
        Processing = "processing",
        Success = "success",
        Failed = "failed",
        Closed = "closed",
    }
}

impl RefundStatus {
    /// Refunds WeChat may still carry out.
    pub const IN_FLIGHT: [RefundStatus; 2] = [Self::Requested, Self::Processing];
    /// Refunds that hold (or have paid out) money: what is left to refund excludes them.
    pub const HOLDING_MONEY: [RefundStatus; 3] = [Self::Requested, Self::Processing, Self::Success];

    pub fn is_final(self) -> bool {
        !Self::IN_FLIGHT.contains(&self)
    }
}

stored_enum! {
    /// Whether an exam takes registrations (within its window).
    ExamStatus in "exams.status" {
        Open = "open",
        Closed = "closed",
    }
}

stored_enum! {
    /// Whether staff check each candidate's qualification before the candidate may pay.
    ExamReview in "exams.review" {
        /// Registrations go straight to payment.
        None = "none",
        /// Registrations wait `under_review` until staff approve or reject them.
        Manual = "manual",
    }
}

stored_enum! {
    /// What a bulk print holds.
    BatchKind in "ticket_batches.kind" {
        Tickets = "tickets",
        /// 考场门贴: the list hung on each room's door.
        DoorLists = "door_lists",
        /// 考生签到表: the sheet candidates sign at their desk.
        SignInSheets = "sign_in_sheets",
    }
}

stored_enum! {
    /// Why a check-in at the exam door was refused.
    CheckinRefusal in "checkin_refusals.reason" {
        /// The ticket is no longer valid (refunded, reseated, never paid).
        Void = "void",
        /// The exam is on another day.
        OtherDay = "other_day",
        /// Later than the exam's `late_minutes` after its start.
        TooLate = "too_late",
    }
}

stored_enum! {
    /// A day's reconciliation against WeChat's bill.
    BillCheckState in "bill_checks.state" {
        /// Claimed by an instance that is comparing now.
        Running = "running",
        /// Both sides agree (payments found only at WeChat were recorded and are listed).
        Agreed = "agreed",
        /// Differences for finance to look at; nothing was changed for them.
        Differences = "differences",
        /// WeChat has no bill for the day (nothing happened, or it is not made yet).
        NoBill = "no_bill",
        /// The bill could not be had or read.
        Failed = "failed",
    }
}

stored_enum! {
    /// One thing a reconciliation found.
    BillDifference in "bill_differences.kind" {
        /// Paid at WeChat, unknown here as paid: queried and recorded, as a late notify would be.
        RecordedLate = "recorded_late",
        /// In the bill, but no such order here.
        UnknownHere = "unknown_here",
        /// Paid here, missing from the bill.
        MissingInBill = "missing_in_bill",
        AmountDiffers = "amount_differs",
        TransactionDiffers = "transaction_differs",
        RefundMissingInBill = "refund_missing_in_bill",
        RefundUnknownHere = "refund_unknown_here",
        RefundAmountDiffers = "refund_amount_differs",
        /// The bill's summary row does not match our totals.
        TotalsDiffer = "totals_differ",
    }
}

stored_enum! {
    /// A bulk print of tickets.
    BatchStatus in "ticket_batches.status" {
        Running = "running",
        Done = "done",
        Failed = "failed",
    }
}

stored_enum! {
    /// Which of WeChat's callbacks a stored one was.
    CallbackKind in "wechat_callbacks.kind" {
        Pay = "pay",
        Refund = "refund",
    }
}

stored_enum! {
    /// Why a callback was refused (answered FAIL, or kept without effect).
    Refusal in "wechat_callbacks.outcome" {
        /// The order is paid by another transaction, or this transaction paid another order.
        OtherTransaction = "refused: order paid by another transaction",
        SignTypeDiffers = "refused: sign type differs from the order's",
        AmountMismatch = "refused: amount mismatch",
        UnknownOrder = "refused: unknown order",
        BadSignature = "refused: bad signature",
        OtherMerchant = "refused: another merchant",
        MalformedXml = "refused: malformed XML",
        InvalidNotify = "refused: invalid notify",
        RefundMismatch = "refused: refund amount or order mismatch",
    }
}

const REFUSED: &str = "refused: ";

impl Refusal {
    /// The reason alone (`amount mismatch`), as a FAIL answer to WeChat gives it.
    pub fn reason(self) -> &'static str {
        let text = self.as_str();
        text.strip_prefix(REFUSED).unwrap_or(text)
    }
}

stored_enum! {
    /// The result a refund notify reported, in WeChat's spelling.
    RefundResult in "wechat_callbacks.outcome" {
        Success = "SUCCESS",
        Processing = "PROCESSING",
        /// The money could not reach the payer's account.
        Change = "CHANGE",
        Closed = "REFUNDCLOSE",
    }
}

/// What became of a callback, as kept beside its raw body in `wechat_callbacks.outcome`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// A payment recorded the first time.
    Paid,
    /// The same payment again: nothing changed.
    AlreadyPaid,
    /// Paid after the hold had ended; the registration got its seat back.
    PaidAfterExpiry,
    /// Paid after the hold had ended with no seat left: queued for a refund.
    PaidNoSeat,
    /// WeChat reported the payment failed.
    PaymentFailed,
    Refused(Refusal),
    /// A refund notify for a refund this service never made.
    UnknownRefund,
    /// A refund notify for one of our refunds; its number says which one of the order's refunds.
    Refund {
        out_refund_no: String,
        result: RefundResult,
    },
}

const REFUND_PREFIX: &str = "refund ";

impl CallbackOutcome {
    /// The stored text: fixed, but for a refund notify's, which names the refund
    /// (`refund RF1234 SUCCESS`).
    pub fn text(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Self::Paid => "paid",
            Self::AlreadyPaid => "repeat: already paid",
            Self::PaidAfterExpiry => "paid after expiry: seat given back",
            Self::PaidNoSeat => "paid after expiry: no seat, queued for refund",
            Self::PaymentFailed => "payment failed at WeChat",
            Self::Refused(refusal) => refusal.as_str(),
            Self::UnknownRefund => "ignored: unknown out_refund_no",
            Self::Refund {
                out_refund_no,
                result,
            } => return Cow::Owned(format!("{REFUND_PREFIX}{out_refund_no} {result}")),
        })
    }

    /// Refused callbacks: shown as such to staff.
    pub fn is_refused(&self) -> bool {
        matches!(self, Self::Refused(_))
    }

    /// Every outcome without a variable part: what `FromStr` looks the text up in.
    pub fn fixed() -> impl Iterator<Item = CallbackOutcome> {
        [
            Self::Paid,
            Self::AlreadyPaid,
            Self::PaidAfterExpiry,
            Self::PaidNoSeat,
            Self::PaymentFailed,
            Self::UnknownRefund,
        ]
        .into_iter()
        .chain(Refusal::ALL.iter().map(|r| Self::Refused(*r)))
    }
}

impl FromStr for CallbackOutcome {
    type Err = UnknownValue;

    fn from_str(text: &str) -> Result<Self, UnknownValue> {
        let unknown = || UnknownValue::new("wechat_callbacks.outcome", text);
        if let Some(fixed) = Self::fixed().find(|o| o.text() == text) {
            return Ok(fixed);
        }
        let (no, result) = text
            .strip_prefix(REFUND_PREFIX)
            .and_then(|rest| rest.rsplit_once(' '))
            .ok_or_else(unknown)?;
        if no.is_empty() || no.contains(char::is_whitespace) {
            return Err(unknown());
        }
        Ok(Self::Refund {
            out_refund_no: no.to_string(),
            result: result.parse().map_err(|_| unknown())?,
        })
    }
}

impl fmt::Display for CallbackOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

/// One thing staff should know about a registration, kept in `registrations.flags` as an item
/// ended by `;`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Flag {
    /// The payment came after the hold had ended.
    PaidAfterExpiry,
    /// …and no seat was left for it.
    NoSeat,
    /// The payment came after the candidate had cancelled (WeChat could not close the order yet):
    /// it waits for a refund.
    PaidAfterCancel,
    /// Characters of the ticket that no font has (printed as empty boxes).
    MissingGlyphs(String),
}

const FLAGS_COLUMN: &str = "registrations.flags";
const MISSING_GLYPHS: &str = "missing_glyph:";

impl Flag {
    /// A flag for the characters no font has, if any is worth one: `;` would end the item, and
    /// a space prints as a space whatever the font.
    pub fn missing_glyphs(chars: &str) -> Option<Self> {
        let kept: String = chars
            .chars()
            .filter(|c| *c != ';' && !c.is_whitespace())
            .collect();
        (!kept.is_empty()).then_some(Self::MissingGlyphs(kept))
    }

    pub fn text(&self) -> Cow<'static, str> {
        match self {
            Self::PaidAfterExpiry => Cow::Borrowed("paid_after_expiry"),
            Self::NoSeat => Cow::Borrowed("no_seat"),
            Self::PaidAfterCancel => Cow::Borrowed("paid_after_cancel"),
            Self::MissingGlyphs(chars) => Cow::Owned(format!("{MISSING_GLYPHS}{chars}")),
        }
    }

    /// What `UPDATE registrations SET flags = flags || $n` appends to raise these flags.
    pub fn appended(flags: &[Flag]) -> String {
        flags.iter().map(|f| format!("{};", f.text())).collect()
    }
}

impl FromStr for Flag {
    type Err = UnknownValue;

    fn from_str(item: &str) -> Result<Self, UnknownValue> {
        if let Some(chars) = item.strip_prefix(MISSING_GLYPHS)
            && !chars.is_empty()
        {
            return Ok(Self::MissingGlyphs(chars.to_string()));
        }
        [Self::PaidAfterExpiry, Self::NoSeat, Self::PaidAfterCancel]
            .into_iter()
            .find(|flag| flag.text() == item)
            .ok_or_else(|| UnknownValue::new(FLAGS_COLUMN, item))
    }
}

/// The flags raised on a registration, and whether its payment waits to be refunded (the
/// `needs_refund` column: paid after its hold ended, with no seat to give).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    raised: BTreeSet<Flag>,
    needs_refund: bool,
}

impl Flags {
    /// Reads the two columns; an item no flag has is an error.
    pub fn parse(text: &str, needs_refund: bool) -> Result<Self, UnknownValue> {
        let raised = text
            .split(';')
            .filter(|item| !item.is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        Ok(Self {
            raised,
            needs_refund,
        })
    }

    /// The `registrations.flags` text.
    pub fn text(&self) -> String {
        Flag::appended(&self.raised.iter().cloned().collect::<Vec<_>>())
    }

    pub fn raised(&self) -> impl Iterator<Item = &Flag> {
        self.raised.iter()
    }

    pub fn has(&self, flag: &Flag) -> bool {
        self.raised.contains(flag)
    }

    pub fn needs_refund(&self) -> bool {
        self.needs_refund
    }

    /// Nothing raised and no refund waiting.
    pub fn is_empty(&self) -> bool {
        self.raised.is_empty() && !self.needs_refund
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T>(all: &[T])
    where
        T: Copy + PartialEq + fmt::Debug + fmt::Display + FromStr<Err = UnknownValue>,
    {
        let mut texts = std::collections::HashSet::new();
        for v in all {
            let text = v.to_string();
            assert_eq!(text.parse::<T>(), Ok(*v), "{text}");
            assert!(texts.insert(text), "{v:?}: spelled like another variant");
        }
    }

    #[test]
    fn every_state_round_trips_through_its_stored_text() {
        round_trips(RegistrationStatus::ALL);
        round_trips(OrderStatus::ALL);
        round_trips(RefundStatus::ALL);
        round_trips(ExamStatus::ALL);
        round_trips(BatchStatus::ALL);
        round_trips(CallbackKind::ALL);
        round_trips(Refusal::ALL);
        round_trips(RefundResult::ALL);
        round_trips(ExamReview::ALL);
        round_trips(BatchKind::ALL);
        round_trips(CheckinRefusal::ALL);
        round_trips(BillCheckState::ALL);
        round_trips(BillDifference::ALL);
        assert_eq!(RegistrationStatus::ALL.len(), 8);
        assert_eq!(OrderStatus::ALL.len(), 4);
        assert_eq!(RefundStatus::ALL.len(), 5);
    }

    #[test]
    fn the_spellings_are_the_stored_ones() {
        assert_eq!(
            RegistrationStatus::PendingPayment.as_str(),
            "pending_payment"
        );
        assert_eq!(OrderStatus::Prepaid.as_str(), "prepaid");
        assert_eq!(RefundStatus::Processing.as_str(), "processing");
        assert_eq!(
            serde_json::to_string(&RegistrationStatus::Refunding).ok(),
            Some("\"refunding\"".to_string()),
            "JSON answers carry the stored spelling"
        );
    }

    #[test]
    fn unknown_text_is_refused_and_named() {
        let err = "payed".parse::<RegistrationStatus>().unwrap_err();
        assert_eq!(err.column, "registrations.status");
        assert_eq!(err.value, "payed");
        assert_eq!(
            err.to_string(),
            "registrations.status: unknown value \"payed\""
        );
        assert!(
            "Paid".parse::<RegistrationStatus>().is_err(),
            "case matters"
        );
        assert!(" paid".parse::<RegistrationStatus>().is_err());
        assert!("".parse::<OrderStatus>().is_err());
        assert!(
            "success".parse::<OrderStatus>().is_err(),
            "a refund's status"
        );
        assert!("pending_payment".parse::<RefundStatus>().is_err());
        assert!("opened".parse::<ExamStatus>().is_err());
        assert!("PAY".parse::<CallbackKind>().is_err());
        assert!("refused: something".parse::<Refusal>().is_err());
    }

    #[test]
    fn callback_outcomes_round_trip_and_refuse_strangers() {
        let mut all: Vec<CallbackOutcome> = CallbackOutcome::fixed().collect();
        all.extend(RefundResult::ALL.iter().map(|r| CallbackOutcome::Refund {
            out_refund_no: "RF1764000000ABCDEF12".into(),
            result: *r,
        }));
        let mut texts = std::collections::HashSet::new();
        for outcome in &all {
            let text = outcome.text();
            assert!(!text.is_empty(), "{outcome:?} has no text");
            assert_eq!(
                text.parse::<CallbackOutcome>().as_ref(),
                Ok(outcome),
                "{text}"
            );
            assert!(texts.insert(text.to_string()), "{text}: twice");
        }
        assert_eq!(CallbackOutcome::Paid.text(), "paid");
        assert_eq!(
            CallbackOutcome::Refused(Refusal::AmountMismatch).text(),
            "refused: amount mismatch"
        );
        assert_eq!(
            CallbackOutcome::Refund {
                out_refund_no: "RF1".into(),
                result: RefundResult::Success
            }
            .text(),
            "refund RF1 SUCCESS"
        );
        for stranger in [
            "refused: notify body: unexpected end",
            "refused:",
            "refund RF1 DONE",
            "refund  SUCCESS",
            "refund SUCCESS",
            "refund RF 1 SUCCESS",
            "Paid",
            "",
        ] {
            let err = stranger.parse::<CallbackOutcome>().unwrap_err();
            assert_eq!(err.column, "wechat_callbacks.outcome", "{stranger}");
            assert_eq!(err.value, stranger);
        }
    }

    #[test]
    fn refusals_give_their_reason_alone() {
        for refusal in Refusal::ALL {
            assert!(refusal.as_str().starts_with(REFUSED), "{refusal:?}");
            assert_eq!(format!("{REFUSED}{}", refusal.reason()), refusal.as_str());
        }
        assert_eq!(Refusal::BadSignature.reason(), "bad signature");
        assert!(CallbackOutcome::Refused(Refusal::UnknownOrder).is_refused());
        assert!(!CallbackOutcome::PaymentFailed.is_refused());
    }

    #[test]
    fn flags_are_a_set_read_from_their_text() {
        let flags = Flags::parse("paid_after_expiry;no_seat;", true).unwrap();
        assert!(flags.has(&Flag::PaidAfterExpiry) && flags.has(&Flag::NoSeat));
        assert!(flags.needs_refund());
        assert_eq!(flags.text(), "paid_after_expiry;no_seat;");
        let glyphs = Flags::parse("missing_glyph:𠀀龘;", false).unwrap();
        assert_eq!(
            glyphs.raised().collect::<Vec<_>>(),
            [&Flag::MissingGlyphs("𠀀龘".into())]
        );
        assert_eq!(glyphs.text(), "missing_glyph:𠀀龘;");
        assert_eq!(
            Flags::parse("paid_after_expiry;paid_after_expiry;", false)
                .unwrap()
                .text(),
            "paid_after_expiry;",
            "a set: raised once"
        );
        assert!(Flags::parse("", false).unwrap().is_empty());
        assert!(!Flags::parse("", true).unwrap().is_empty());
        assert_eq!(
            Flag::appended(&[Flag::PaidAfterExpiry, Flag::NoSeat]),
            "paid_after_expiry;no_seat;"
        );
        assert_eq!(
            Flag::missing_glyphs("a; b"),
            Some(Flag::MissingGlyphs("ab".into()))
        );
        assert_eq!(Flag::missing_glyphs("; \u{3000}"), None);
        for item in [
            Flag::PaidAfterExpiry,
            Flag::NoSeat,
            Flag::PaidAfterCancel,
            Flag::MissingGlyphs("𠀀".into()),
        ] {
            assert_eq!(item.text().parse::<Flag>(), Ok(item));
        }
    }

    #[test]
    fn unknown_flags_are_refused() {
        for text in [
            "amount_mismatch;",
            "no_seat;paid_late;",
            "missing_glyph:;",
            "NO_SEAT;",
            " no_seat;",
        ] {
            let err = Flags::parse(text, false).unwrap_err();
            assert_eq!(err.column, "registrations.flags", "{text}");
        }
    }

    #[test]
    fn refunds_in_flight_are_not_final() {
        assert!(RefundStatus::Success.is_final() && RefundStatus::Closed.is_final());
        assert!(RefundStatus::Failed.is_final());
        assert!(!RefundStatus::Requested.is_final() && !RefundStatus::Processing.is_final());
    }
}
