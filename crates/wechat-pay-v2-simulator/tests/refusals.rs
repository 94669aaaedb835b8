//! WeChat's refusals as the Pay client meets them over HTTP: the close interval on the
//! simulator's scaled clock, and the injected business refusals.

use wechat_pay_v2::pay::{MIN_CLOSE_AGE, PayClient, PayError, TradeState, UnifiedOrder};
use wechat_pay_v2_simulator::{FailWith, Faults, Simulator, SimulatorConfig};

async fn start() -> (Simulator, PayClient) {
    let mut config = SimulatorConfig::new(
        "wxd930ea5d5a258f4f",
        "4f1a7d0c9b2e8a6f3d5c1b0e9a8f7d6c",
        "10000100",
        "192006250b4c09247ec02edce69f6a2d",
    );
    config.time_scale = 0.001;
    let sim = Simulator::new(config);
    let base = sim.spawn_on_loopback().await.unwrap_or_default();
    assert!(base.starts_with("http://127.0.0.1:"), "simulator started");
    let pay = PayClient::new(sim.client_config(&base)).unwrap_or_else(|e| panic!("client: {e}"));
    (sim, pay)
}

fn order(no: &str) -> UnifiedOrder {
    UnifiedOrder::jsapi(
        no,
        "考试报名费",
        5000,
        "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        "127.0.0.1",
        "http://127.0.0.1:9/notify",
    )
}

#[tokio::test]
async fn closing_waits_five_scaled_minutes_and_orderquery_tells_young_from_paid() {
    let (sim, pay) = start().await;
    assert!(pay.unified_order(&order("CLOSE01")).await.is_ok());
    assert!(matches!(
        pay.close_order("CLOSE01").await,
        Err(PayError::OrderPaid)
    ));
    let status = pay.order_query("CLOSE01").await.map(|s| s.trade_state);
    assert_eq!(
        status.ok(),
        Some(TradeState::NotPay),
        "ORDERPAID, yet unpaid"
    );

    tokio::time::sleep(sim.config().scaled(MIN_CLOSE_AGE)).await;
    assert!(pay.close_order("CLOSE01").await.is_ok());
    let status = pay.order_query("CLOSE01").await.map(|s| s.trade_state);
    assert_eq!(status.ok(), Some(TradeState::Closed));
    assert!(sim.pay("CLOSE01").is_err(), "a closed order cannot be paid");
}

#[tokio::test]
async fn rate_limits_are_typed_and_not_retried_but_bizerr_need_retry_is() {
    let (sim, pay) = start().await;
    assert!(pay.unified_order(&order("LIMIT01")).await.is_ok());
    for (with, words) in [
        (FailWith::FrequencyLimited, "请求频率过高，请降低频率后重试"),
        (
            FailWith::InvalidReqTooMuch,
            "无效请求过多，请检查请求参数后稍后再试",
        ),
    ] {
        let before = sim.stats().orderquery;
        sim.set_faults(Faults {
            fail_next: 1,
            fail_with: with,
            ..Faults::default()
        });
        match pay.order_query("LIMIT01").await {
            Err(PayError::FrequencyLimited(desc)) => assert_eq!(desc, words),
            other => panic!("{with:?}: {other:?}"),
        }
        assert_eq!(
            sim.stats().orderquery,
            before + 1,
            "{with:?} is not retried"
        );
    }

    sim.set_faults(Faults {
        fail_next: 1,
        fail_with: FailWith::BizerrNeedRetry,
        ..Faults::default()
    });
    let before = sim.stats().orderquery;
    let status = pay.order_query("LIMIT01").await.map(|s| s.trade_state);
    assert_eq!(status.ok(), Some(TradeState::NotPay));
    assert_eq!(sim.stats().orderquery, before + 2, "retried once");
    assert_eq!(sim.stats().injected_failures, 3);
}
