//! A storm of payment notifies, as WeChat's servers send them when many candidates pay at once
//! (each notify several times), mixed with forged, tampered and hostile ones: every notify is
//! counted once under what became of it, and every one went through a payment batch.

use crate::common::notify::{notify_fields, post_all, signed};
use crate::common::staff::registered;
use crate::scrape::{Scrape, delta, serial, spawn};

const ORDERS: usize = 50;
const COPIES: usize = 4;
const FORGED: usize = 10;
const TAMPERED: usize = 5;
const HOSTILE: usize = 3;
const UNKNOWN: usize = 2;

const NOTIFIES: &str = "examdesk_notifies_total";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_storm_is_counted_exactly_per_outcome() {
    let _one_at_a_time = serial().await;
    let app = spawn().await;
    let fee = 5000;
    let exam = app
        .exam("STORM1")
        .capacity(ORDERS as i64 + 10)
        .fee(fee)
        .create()
        .await;
    let mut orders = Vec::new();
    for seq in 0..ORDERS {
        orders.push(registered(&app, exam, "赵六", seq as u32 + 1).await);
    }

    let url = app.at("/wechat/pay/notify");
    let mut storm: Vec<(String, String)> = Vec::new();
    for copy in 0..COPIES {
        for (i, order) in orders.iter().enumerate() {
            let fields = notify_fields(&order.out_trade_no, fee, &format!("4200000{i:04}"));
            storm.push((url.clone(), signed(fields)));
            // The strangers arrive between the genuine ones.
            if copy == 1 && i < FORGED {
                let mut forged = notify_fields(&order.out_trade_no, fee, "4200009999");
                forged.insert("sign".into(), "0".repeat(32));
                storm.push((url.clone(), wechat_pay_v2::xml::to_xml(&forged)));
            }
            if copy == 2 && i < TAMPERED {
                let tampered = notify_fields(&order.out_trade_no, 1, &format!("4200001{i:04}"));
                storm.push((url.clone(), signed(tampered)));
            }
        }
    }
    for _ in 0..HOSTILE {
        let body =
            r#"<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><a>&x;</a></xml>"#;
        storm.push((url.clone(), body.to_string()));
    }
    for i in 0..UNKNOWN {
        let fields = notify_fields(&format!("NO-SUCH-ORDER-{i}"), fee, "4200008888");
        storm.push((url.clone(), signed(fields)));
    }
    let sent = storm.len();
    assert_eq!(
        sent,
        ORDERS * COPIES + FORGED + TAMPERED + HOSTILE + UNKNOWN
    );

    let before = Scrape::of(&app).await;
    let answers = post_all(&app.http, storm).await;
    let after = Scrape::of(&app).await;

    let succeeded = answers.iter().filter(|a| a.contains("SUCCESS")).count();
    assert_eq!(
        succeeded,
        ORDERS * COPIES,
        "every genuine copy acknowledged"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM orders WHERE status = 'paid'")
            .await,
        ORDERS as i64
    );
    let counted = |outcome: &str| delta(&before, &after, NOTIFIES, &[("outcome", outcome)]);
    assert_eq!(counted("recorded"), ORDERS as f64, "{}", after.text);
    assert_eq!(counted("duplicate"), (ORDERS * (COPIES - 1)) as f64);
    assert_eq!(counted("bad_signature"), FORGED as f64);
    assert_eq!(counted("amount_mismatch"), TAMPERED as f64);
    assert_eq!(counted("malformed"), HOSTILE as f64);
    assert_eq!(counted("unknown_order"), UNKNOWN as f64);
    let all: f64 = after
        .series(NOTIFIES)
        .iter()
        .filter_map(|labels| labels.get("outcome"))
        .map(|outcome| counted(outcome))
        .sum();
    assert_eq!(
        all, sent as f64,
        "nothing counted twice or under another outcome"
    );

    // Each signed notify was written by exactly one batch, however many batches that took; the
    // unsigned ones leave only a short record beside the batches.
    let batched = delta(&before, &after, "examdesk_payment_batch_size_sum", &[]);
    assert_eq!(batched, (sent - FORGED - HOSTILE) as f64);
    let batches = delta(&before, &after, "examdesk_payment_batch_size_count", &[]);
    assert!((1.0..=sent as f64).contains(&batches), "{batches} batches");
    let commits = delta(
        &before,
        &after,
        "examdesk_payment_batch_commit_seconds_count",
        &[],
    );
    assert_eq!(commits, batches, "one commit per batch");
    let route = [
        ("method", "POST"),
        ("route", "/wechat/pay/notify"),
        ("status", "200"),
    ];
    assert_eq!(
        delta(&before, &after, "examdesk_http_requests_total", &route),
        sent as f64
    );
}
