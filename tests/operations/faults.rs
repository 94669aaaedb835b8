//! WeChat misbehaving while candidates pay: failing and slow answers, duplicated and lost
//! notifies. Every payment ends recorded exactly once.

use serde_json::Value;
use wechat_pay_v2_simulator::{FailWith, Faults};

use crate::common::{TestApp, wait_until};

/// Places an order, retrying while WeChat fails (as the mini-program would).
async fn place_order(app: &TestApp, token: &str, id: i64) -> Value {
    let path = format!("/api/v1/registrations/{id}/pay");
    wait_until("WeChat takes the order", async || {
        let (status, body) = app.post_json(token, &path).await;
        match status {
            200 => Ok(body),
            502 => {
                assert_eq!(body["error"]["code"], "wechat_unavailable", "{body}");
                Err(body)
            }
            other => panic!("unexpected {other}: {body}"),
        }
    })
    .await
}

#[tokio::test]
async fn failing_wechat_and_lost_or_repeated_notifies_lose_and_double_nothing() {
    let app = TestApp::spawn_with(&[("EXAMDESK_LOGIN_PER_MINUTE", "0")]).await;
    let sim = app.simulator();
    let exam_id = app.exam("FAULT1").capacity(100).create().await;
    let mut paid = Vec::new();
    let mut tokens = Vec::new();
    for i in 0..24u32 {
        tokens.push(app.login(&format!("fault-{i}")).await);
    }
    sim.set_faults(Faults {
        fail_rate: 0.4,
        fail_with: FailWith::Http500,
        delay_ms: 5,
        ..Default::default()
    });
    for (i, token) in (0u32..).zip(tokens) {
        let res = app.register(&token, exam_id, 700 + i).await;
        let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let args = place_order(&app, &token, id).await;
        paid.push((
            token,
            id,
            args["package"]
                .as_str()
                .unwrap()
                .trim_start_matches("prepay_id=")
                .to_string(),
        ));
    }
    assert!(
        sim.stats().injected_failures > 0,
        "the faults were really injected"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM orders").await,
        24,
        "retries never made a second order"
    );

    // A third of the payments notify in triplicate, a third lose their notify, a third are normal.
    for (i, (_, _, prepay)) in paid.iter().enumerate() {
        let faults = match i % 3 {
            0 => Faults {
                duplicate_notifies: 2,
                ..Default::default()
            },
            1 => Faults {
                drop_notifies: true,
                ..Default::default()
            },
            _ => Faults::default(),
        };
        sim.set_faults(faults);
        sim.pay(prepay).unwrap();
    }
    // The query job runs while WeChat still fails some calls; it keeps trying until all is found.
    sim.set_faults(Faults {
        fail_rate: 0.3,
        fail_with: FailWith::SystemError,
        ..Default::default()
    });
    // Each pass a minute later, so a failed query is tried again; never as late as the holds'
    // end (30 minutes), so no order expires.
    let start = examdesk::util::now() + examdesk::jobs::QUERY_AFTER + 1;
    let mut pass = 0;
    wait_until("the query job finds every payment", async || {
        let at = start + pass * (examdesk::jobs::QUERY_EVERY + 1);
        pass = (pass + 1).min(20);
        examdesk::jobs::run_once(&app.state.payments, at)
            .await
            .unwrap();
        let paid = app
            .count("SELECT COUNT(*) FROM registrations WHERE status = 'paid'")
            .await;
        if paid == 24 {
            Ok(())
        } else {
            Err(format!("{paid} of 24 paid"))
        }
    })
    .await;
    sim.set_faults(Faults::default());
    for (token, id, _) in &paid {
        app.wait_for_status(token, *id, "paid").await;
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM orders WHERE status = 'paid'")
            .await,
        24
    );
    assert_eq!(
        app.count("SELECT COUNT(DISTINCT transaction_id) FROM orders")
            .await,
        24
    );
    assert_eq!(
        app.count("SELECT seats_taken FROM exams").await,
        24,
        "no seat counted twice"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM wechat_callbacks WHERE outcome = 'paid'").await
            + app.count("SELECT COUNT(*) FROM registrations WHERE status = 'paid' AND id NOT IN \
                         (SELECT o.registration_id FROM orders o JOIN wechat_callbacks c ON c.out_trade_no = o.out_trade_no \
                          AND c.outcome = 'paid')").await,
        24,
        "every payment recorded exactly once, by a notify or by the query job"
    );
}
