//! Closing the books of a day: WeChat's bill against the payments and refunds recorded here.
//! A payment WeChat has and we do not is queried and recorded, exactly as a late notify would
//! be; every other difference is listed for finance and changes nothing.

use std::collections::BTreeMap;

use time::macros::format_description;
use time::{Date, PrimitiveDateTime, Time, UtcOffset};

use crate::db::bill_checks::{self, Finding, OurPayment, OurRefund, Outcome, Totals};
use crate::db::orders;
use crate::domain::states::{BillCheckState, BillDifference, OrderStatus};
use crate::payments::reconcile::{QueryResult, query_and_record};
use crate::payments::{PaymentError, Payments};
use crate::util::now;
use wechat_pay_v2::bill::{Bill, BillRecord, BillType};

/// How long a claim on a day lasts: a reconciliation takes seconds; one that died is retried.
const CLAIM_SECONDS: i64 = 10 * 60;

/// What one run of a day ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayReport {
    pub date: String,
    pub state: BillCheckState,
    pub totals: Totals,
    pub findings: Vec<Finding>,
}

#[derive(Debug, thiserror::Error)]
pub enum BillCheckError {
    #[error("the date must be YYYY-MM-DD, got {0:?}")]
    BadDate(String),
    #[error("another instance is reconciling {0} now")]
    Busy(String),
    #[error(transparent)]
    Payment(#[from] PaymentError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The Beijing day `YYYY-MM-DD` as Unix seconds [start, end), and WeChat's `yyyyMMdd`.
pub fn day_range(date: &str) -> Result<(i64, i64, String), BillCheckError> {
    let bad = || BillCheckError::BadDate(date.to_string());
    let day = Date::parse(date, format_description!("[year]-[month]-[day]")).map_err(|_| bad())?;
    let beijing = UtcOffset::from_hms(8, 0, 0).map_err(|_| bad())?;
    let start = PrimitiveDateTime::new(day, Time::MIDNIGHT)
        .assume_offset(beijing)
        .unix_timestamp();
    let compact = format!(
        "{:04}{:02}{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    );
    Ok((start, start + 86_400, compact))
}

/// The day before `at`, in Beijing time, as `YYYY-MM-DD`; and whether it is past 10:00 there
/// (WeChat makes the bill from 09:00, and advises fetching it after 10:00).
pub fn yesterday(at: i64) -> (String, bool) {
    let beijing = UtcOffset::from_hms(8, 0, 0).unwrap_or(UtcOffset::UTC);
    let local = time::OffsetDateTime::from_unix_timestamp(at)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .to_offset(beijing);
    let day = local.date().previous_day().unwrap_or(local.date());
    (
        format!(
            "{:04}-{:02}-{:02}",
            day.year(),
            u8::from(day.month()),
            day.day()
        ),
        local.hour() >= 10,
    )
}

fn finding(kind: BillDifference, out_trade_no: &str) -> Finding {
    Finding {
        kind,
        out_trade_no: out_trade_no.to_string(),
        out_refund_no: String::new(),
        registration_id: None,
        ours_fen: None,
        bill_fen: None,
        detail: String::new(),
    }
}

/// Compares the bill's lines with ours. Payments in the bill that we lack are returned apart:
/// the caller queries them.
pub fn compare(
    bill: &Bill,
    payments: &[OurPayment],
    refunds: &[OurRefund],
) -> (Vec<Finding>, Vec<BillRecord>) {
    let mut findings = Vec::new();
    let mut unmatched = Vec::new();
    let ours: BTreeMap<&str, &OurPayment> = payments
        .iter()
        .map(|p| (p.out_trade_no.as_str(), p))
        .collect();
    let paid_lines: BTreeMap<&str, &BillRecord> = bill
        .records
        .iter()
        .filter(|r| r.trade_state == "SUCCESS")
        .map(|r| (r.out_trade_no.as_str(), r))
        .collect();
    for (no, line) in &paid_lines {
        match ours.get(no) {
            None => unmatched.push((*line).clone()),
            Some(p) if p.paid_fen != line.total_fen => findings.push(Finding {
                registration_id: Some(p.registration_id),
                ours_fen: Some(p.paid_fen),
                bill_fen: Some(line.total_fen),
                ..finding(BillDifference::AmountDiffers, no)
            }),
            Some(p) if p.transaction_id != line.transaction_id => findings.push(Finding {
                registration_id: Some(p.registration_id),
                detail: format!("ours {} / bill {}", p.transaction_id, line.transaction_id),
                ..finding(BillDifference::TransactionDiffers, no)
            }),
            Some(_) => {}
        }
    }
    for p in payments {
        if !paid_lines.contains_key(p.out_trade_no.as_str()) {
            findings.push(Finding {
                registration_id: Some(p.registration_id),
                ours_fen: Some(p.paid_fen),
                ..finding(BillDifference::MissingInBill, &p.out_trade_no)
            });
        }
    }
    let our_refunds: BTreeMap<&str, &OurRefund> = refunds
        .iter()
        .map(|r| (r.out_refund_no.as_str(), r))
        .collect();
    let refund_lines: BTreeMap<&str, &BillRecord> = bill
        .records
        .iter()
        .filter(|r| r.trade_state == "REFUND")
        .map(|r| (r.out_refund_no.as_str(), r))
        .collect();
    for (no, line) in &refund_lines {
        let base = Finding {
            out_refund_no: no.to_string(),
            bill_fen: Some(line.refund_fen),
            ..finding(BillDifference::RefundUnknownHere, &line.out_trade_no)
        };
        match our_refunds.get(no) {
            None => findings.push(base),
            Some(r) if r.refund_fen != line.refund_fen => findings.push(Finding {
                kind: BillDifference::RefundAmountDiffers,
                registration_id: Some(r.registration_id),
                ours_fen: Some(r.refund_fen),
                ..base
            }),
            Some(_) => {}
        }
    }
    for r in refunds {
        if !refund_lines.contains_key(r.out_refund_no.as_str()) {
            findings.push(Finding {
                out_refund_no: r.out_refund_no.clone(),
                registration_id: Some(r.registration_id),
                ours_fen: Some(r.refund_fen),
                ..finding(BillDifference::RefundMissingInBill, &r.out_trade_no)
            });
        }
    }
    (findings, unmatched)
}

/// Fetches the day's bill and compares it; records the result. `force` re-runs a finished day.
pub async fn reconcile_day(
    payments: &Payments,
    date: &str,
    force: bool,
) -> Result<DayReport, BillCheckError> {
    let (from, to, compact) = day_range(date)?;
    let wechat = payments.wechat()?;
    let at = now();
    let db = &payments.db;
    if !bill_checks::claim(db, date, &payments.worker_id, at, at + CLAIM_SECONDS, force).await? {
        return Err(BillCheckError::Busy(date.to_string()));
    }
    let raw = match wechat
        .pay
        .download_bill(&compact, BillType::All, true)
        .await
    {
        Ok(bill) => bill,
        Err(e) => {
            tracing::warn!(date, error = %e, "daily bill could not be had");
            let report = DayReport {
                date: date.to_string(),
                state: BillCheckState::Failed,
                totals: Totals::default(),
                findings: Vec::new(),
            };
            let outcome = Outcome {
                state: report.state,
                totals: report.totals,
                bill: None,
                error: &e.to_string(),
            };
            bill_checks::finish(db, date, &outcome, &[], now()).await?;
            return Ok(report);
        }
    };
    let ours = bill_checks::our_payments(db, from, to).await?;
    let our_refunds = bill_checks::our_refunds(db, from, to).await?;
    let Some(bill) = raw else {
        let state = if ours.is_empty() && our_refunds.is_empty() {
            BillCheckState::NoBill
        } else {
            BillCheckState::Differences
        };
        let (findings, _) = compare(
            &Bill {
                bill_type: BillType::All,
                records: Vec::new(),
                summary: Default::default(),
            },
            &ours,
            &our_refunds,
        );
        let totals = our_totals(&ours, &our_refunds, None);
        let outcome = Outcome {
            state,
            totals,
            bill: None,
            error: "",
        };
        bill_checks::finish(db, date, &outcome, &findings, now()).await?;
        count_differences(&findings);
        return Ok(DayReport {
            date: date.to_string(),
            state,
            totals,
            findings,
        });
    };
    let (mut findings, unmatched) = compare(&bill, &ours, &our_refunds);
    let mut recorded = Vec::new();
    for line in unmatched {
        findings.push(settle_unmatched(payments, &line, &mut recorded).await?);
    }
    let mut all_ours = ours;
    all_ours.extend(recorded);
    let totals = our_totals(&all_ours, &our_refunds, Some(&bill));
    if (totals.our_count, totals.our_paid_fen, totals.our_refund_fen)
        != (
            totals.bill_count,
            totals.bill_paid_fen,
            totals.bill_refund_fen,
        )
    {
        findings.push(Finding {
            ours_fen: Some(totals.our_paid_fen),
            bill_fen: Some(totals.bill_paid_fen),
            detail: format!(
                "笔数 {} / {}，退款 {} / {} 分",
                totals.our_count, totals.bill_count, totals.our_refund_fen, totals.bill_refund_fen
            ),
            ..finding(BillDifference::TotalsDiffer, "")
        });
    }
    let state = if findings
        .iter()
        .all(|f| f.kind == BillDifference::RecordedLate)
    {
        BillCheckState::Agreed
    } else {
        BillCheckState::Differences
    };
    let text = bill.to_text();
    let outcome = Outcome {
        state,
        totals,
        bill: Some(&text),
        error: "",
    };
    bill_checks::finish(db, date, &outcome, &findings, now()).await?;
    count_differences(&findings);
    tracing::info!(date, state = %state, findings = findings.len(), "daily bill reconciled");
    Ok(DayReport {
        date: date.to_string(),
        state,
        totals,
        findings,
    })
}

/// Counts a recorded run's findings by kind, for operators
/// (`examdesk_reconciliation_differences_total{kind}`); a re-run of a day counts them again.
fn count_differences(findings: &[Finding]) {
    for finding in findings {
        metrics::counter!(
            crate::telemetry::names::RECONCILIATION_DIFFERENCES,
            "kind" => finding.kind.as_str()
        )
        .increment(1);
    }
}

/// A payment in the bill that we do not have as paid that day: ours but unrecorded (a lost
/// notify) is queried and recorded; one paid here on another day is no difference; one we never
/// placed is listed.
async fn settle_unmatched(
    payments: &Payments,
    line: &BillRecord,
    recorded: &mut Vec<OurPayment>,
) -> Result<Finding, BillCheckError> {
    let no = line.out_trade_no.as_str();
    let Some(order) = orders::by_out_trade_no(&payments.db, no).await? else {
        return Ok(Finding {
            bill_fen: Some(line.total_fen),
            detail: line.transaction_id.clone(),
            ..finding(BillDifference::UnknownHere, no)
        });
    };
    let base = Finding {
        registration_id: Some(order.registration_id),
        ours_fen: Some(order.total_fee),
        bill_fen: Some(line.total_fen),
        ..finding(BillDifference::RecordedLate, no)
    };
    if order.total_fee != line.total_fen {
        return Ok(Finding {
            kind: BillDifference::AmountDiffers,
            ..base
        });
    }
    if order.status != OrderStatus::Paid {
        if let QueryResult::Paid(_) = query_and_record(payments, &order).await? {
            recorded.push(OurPayment {
                out_trade_no: no.to_string(),
                transaction_id: line.transaction_id.clone(),
                paid_fen: line.total_fen,
                registration_id: order.registration_id,
            });
            tracing::warn!(
                out_trade_no = no,
                "payment found in the daily bill and recorded"
            );
            return Ok(base);
        }
        return Ok(Finding {
            kind: BillDifference::MissingInBill,
            detail: "账单显示已支付，但查询订单未支付".into(),
            ..base
        });
    }
    // Paid here, recorded on the next day (a notify around midnight): the same payment.
    recorded.push(OurPayment {
        out_trade_no: no.to_string(),
        transaction_id: order.transaction_id.clone().unwrap_or_default(),
        paid_fen: order.total_fee,
        registration_id: order.registration_id,
    });
    Ok(Finding {
        detail: "本系统在另一天记录了这笔付款".into(),
        ..base
    })
}

fn our_totals(payments: &[OurPayment], refunds: &[OurRefund], bill: Option<&Bill>) -> Totals {
    let summary = bill.map(|b| b.summary).unwrap_or_default();
    Totals {
        our_count: (payments.len() + refunds.len()) as i64,
        our_paid_fen: payments.iter().map(|p| p.paid_fen).sum(),
        our_refund_fen: refunds.iter().map(|r| r.refund_fen).sum(),
        bill_count: summary.count,
        bill_paid_fen: summary.settlement_total_fen,
        bill_refund_fen: summary.refund_total_fen,
        bill_charge_milli_fen: summary.charge_total_milli_fen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_beijing_days() {
        let (from, to, compact) = day_range("2026-12-01").unwrap();
        assert_eq!(compact, "20261201");
        // 2026-12-01 00:00 +08:00 is 2026-11-30 16:00 UTC.
        assert_eq!(from, 1_796_054_400);
        assert_eq!(to - from, 86_400);
        assert!(day_range("2026-13-01").is_err());
        assert!(day_range("20261201").is_err());
        // 2026-12-02 01:59 UTC is 09:59 in Beijing: yesterday's bill is not ready.
        assert_eq!(yesterday(1_796_176_740), ("2026-12-01".to_string(), false));
        assert_eq!(yesterday(1_796_176_800), ("2026-12-01".to_string(), true));
    }
}
