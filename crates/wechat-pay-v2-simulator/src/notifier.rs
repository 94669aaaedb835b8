//! Delivers notifies the way WeChat does: POST text/xml, repeated on its
//! schedule until answered HTTP 200 with return_code SUCCESS.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::state::{Fields, Order};
use super::{Inner, Simulator, lock};
use wechat_pay_v2::{SignType, nonce_str, notify, sign, xml};

/// Seconds between deliveries after the first (24 h 4 min in all), before `time_scale`.
pub const NOTIFY_SCHEDULE_SECS: [u64; 15] = [
    15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
];

#[derive(Clone, Copy)]
enum Kind {
    Pay,
    Refund,
}

/// Builds and sends the signed payment notify for a just-paid order.
pub(super) fn send_pay_notify(inner: &Arc<Inner>, order: &Order) {
    let faults = lock(&inner.faults).clone();
    if faults.drop_notifies {
        tracing::info!(out_trade_no = %order.out_trade_no, "simulator drops the notify (fault)");
        return;
    }
    let body = pay_notify_body(inner, order);
    let url = order.notify_url.clone();
    for _ in 0..faults.duplicate_notifies {
        spawn(deliver_once(
            Arc::downgrade(inner),
            url.clone(),
            body.clone(),
            Kind::Pay,
        ));
    }
    spawn(deliver_on_schedule(
        Arc::downgrade(inner),
        url,
        body,
        Kind::Pay,
    ));
}

fn pay_notify_body(inner: &Inner, order: &Order) -> String {
    let config = &inner.config;
    let mut f = Fields::new();
    let fee = order.total_fee.to_string();
    for (k, v) in [
        ("return_code", "SUCCESS"),
        ("result_code", "SUCCESS"),
        ("appid", config.appid.as_str()),
        ("mch_id", config.mch_id.as_str()),
        ("is_subscribe", "N"),
        ("trade_type", order.trade_type.as_str()),
        ("bank_type", "CMC"),
        ("total_fee", fee.as_str()),
        ("cash_fee", fee.as_str()),
        ("fee_type", "CNY"),
        ("out_trade_no", order.out_trade_no.as_str()),
    ] {
        f.insert(k.to_owned(), v.to_owned());
    }
    f.insert("nonce_str".into(), nonce_str());
    f.insert("openid".into(), order.payer_openid());
    f.insert(
        "transaction_id".into(),
        order.transaction_id.clone().unwrap_or_default(),
    );
    f.insert(
        "time_end".into(),
        order.time_end.clone().unwrap_or_default(),
    );
    if let Some(a) = &order.attach {
        f.insert("attach".into(), a.clone());
    }
    if order.sign_type == SignType::HmacSha256 {
        f.insert("sign_type".into(), SignType::HmacSha256.as_str().into());
    }
    let signature = sign::sign(&f, config.api_key.expose(), order.sign_type);
    f.insert("sign".into(), signature);
    xml::to_xml(&f)
}

/// After the refund delay: the refund succeeds, and its encrypted notify goes out.
pub(super) fn settle_refund_later(inner: &Arc<Inner>, out_refund_no: String) {
    let weak = Arc::downgrade(inner);
    let delay = inner.config.scaled(inner.config.refund_delay);
    spawn(async move {
        tokio::time::sleep(delay).await;
        let Some(inner) = weak.upgrade() else { return };
        let settled = lock(&inner.books).settle_refund(&out_refund_no);
        let Some((fields, Some(url))) = settled else {
            return;
        };
        if lock(&inner.faults).drop_notifies {
            return;
        }
        let sim = Simulator {
            inner: inner.clone(),
        };
        let body = notify::build_refund_notify(&sim.client_config(""), &fields);
        drop(sim);
        deliver_on_schedule(Arc::downgrade(&inner), url, body, Kind::Refund).await;
    });
}

fn spawn(task: impl Future<Output = ()> + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(task);
        }
        Err(_) => tracing::warn!("no tokio runtime: the simulator cannot send notifies"),
    }
}

async fn deliver_on_schedule(inner: Weak<Inner>, url: String, body: String, kind: Kind) {
    let mut schedule = NOTIFY_SCHEDULE_SECS.iter();
    loop {
        // Stop once the simulator is gone, rather than knock on a URL for a day.
        let Some(strong) = inner.upgrade() else {
            return;
        };
        if deliver(&strong, &url, &body, kind).await {
            return;
        }
        let Some(secs) = schedule.next() else {
            tracing::warn!(%url, "notify never acknowledged; WeChat gives up here too");
            return;
        };
        let wait = strong.config.scaled(Duration::from_secs(*secs));
        drop(strong);
        tokio::time::sleep(wait).await;
    }
}

async fn deliver_once(inner: Weak<Inner>, url: String, body: String, kind: Kind) {
    if let Some(strong) = inner.upgrade() {
        deliver(&strong, &url, &body, kind).await;
    }
}

/// One POST; true when the receiver took it (HTTP 200 and return_code SUCCESS).
async fn deliver(inner: &Inner, url: &str, body: &str, kind: Kind) -> bool {
    {
        let mut stats = lock(&inner.stats);
        match kind {
            Kind::Pay => stats.notifies_sent += 1,
            Kind::Refund => stats.refund_notifies_sent += 1,
        }
    }
    let Some(http) = &inner.http else {
        return false;
    };
    let response = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "text/xml")
        .body(body.to_owned())
        .send()
        .await;
    let taken = match response {
        Ok(r) if r.status().as_u16() == 200 => match r.bytes().await {
            Ok(b) => xml::parse(&b)
                .ok()
                .is_some_and(|f| f.get("return_code").map(String::as_str) == Some("SUCCESS")),
            Err(_) => false,
        },
        Ok(_) | Err(_) => false,
    };
    if taken {
        let mut stats = lock(&inner.stats);
        match kind {
            Kind::Pay => stats.notifies_answered += 1,
            Kind::Refund => stats.refund_notifies_answered += 1,
        }
    }
    taken
}
