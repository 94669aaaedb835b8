//! Payment notifies as WeChat sends them, signed with the demo merchant's key.

/// The fields of a payment notify as WeChat sends it for `out_trade_no` (demo merchant), unsigned,
/// so that a test can alter them before [`signed`].
pub fn notify_fields(
    out_trade_no: &str,
    fee: i64,
    transaction_id: &str,
) -> std::collections::BTreeMap<String, String> {
    let mut f: std::collections::BTreeMap<String, String> = [
        ("appid", examdesk::demo::DEMO_APPID),
        ("mch_id", examdesk::demo::DEMO_MCH_ID),
        ("nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"),
        ("result_code", "SUCCESS"),
        ("return_code", "SUCCESS"),
        ("openid", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
        ("is_subscribe", "N"),
        ("trade_type", "JSAPI"),
        ("bank_type", "CMC"),
        ("fee_type", "CNY"),
        ("time_end", "20261125120000"),
        ("attach", "考试报名 <&>"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    f.insert("out_trade_no".into(), out_trade_no.into());
    f.insert("transaction_id".into(), transaction_id.into());
    f.insert("total_fee".into(), fee.to_string());
    f.insert("cash_fee".into(), fee.to_string());
    f
}

/// The notify body with its MD5 signature under the demo merchant's key.
pub fn signed(mut fields: std::collections::BTreeMap<String, String>) -> String {
    use wechat_pay_v2::{SignType, sign, xml};
    let s = sign::sign(&fields, examdesk::demo::DEMO_API_KEY, SignType::Md5);
    fields.insert("sign".into(), s);
    xml::to_xml(&fields)
}

/// Sends every `(url, body)` at once, as WeChat's servers may; the answers' texts in order.
pub async fn post_all(http: &reqwest::Client, requests: Vec<(String, String)>) -> Vec<String> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|(url, body)| {
            let http = http.clone();
            tokio::spawn(async move {
                http.post(url)
                    .body(body)
                    .send()
                    .await
                    .expect("notify sent")
                    .text()
                    .await
                    .expect("notify answered")
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(tasks.len());
    for task in tasks {
        answers.push(task.await.expect("notify task"));
    }
    answers
}
