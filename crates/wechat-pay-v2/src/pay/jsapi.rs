use serde::{Deserialize, Serialize};

use crate::{WechatConfig, nonce_str, sign};

/// The arguments of `wx.requestPayment`, serialized with WeChat's camel-case names.
/// `timeStamp` is a string: the mini-program refuses a number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsapiParams {
    #[serde(rename = "timeStamp")]
    pub time_stamp: String,
    #[serde(rename = "nonceStr")]
    pub nonce_str: String,
    pub package: String,
    #[serde(rename = "signType")]
    pub sign_type: String,
    #[serde(rename = "paySign")]
    pub pay_sign: String,
}

/// `wx.requestPayment` arguments for a prepay_id, signed now with a fresh nonce.
/// The sign type is the config's: it must be the one the order was placed with.
pub fn jsapi_params(config: &WechatConfig, prepay_id: &str) -> JsapiParams {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    jsapi_params_with(config, prepay_id, now, &nonce_str())
}

/// Like [`jsapi_params`] with a given time and nonce (for known-answer tests).
pub fn jsapi_params_with(
    config: &WechatConfig,
    prepay_id: &str,
    timestamp: i64,
    nonce: &str,
) -> JsapiParams {
    let time_stamp = timestamp.to_string();
    let package = format!("prepay_id={prepay_id}");
    let sign_type = config.sign_type.as_str();
    // paySign covers appId as well, though appId is not among the arguments.
    let pay_sign = sign::sign_pairs(
        [
            ("appId", config.appid.as_str()),
            ("nonceStr", nonce),
            ("package", package.as_str()),
            ("signType", sign_type),
            ("timeStamp", time_stamp.as_str()),
        ],
        config.api_key.expose(),
        config.sign_type,
    );
    JsapiParams {
        time_stamp,
        nonce_str: nonce.to_owned(),
        package,
        sign_type: sign_type.to_owned(),
        pay_sign,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SignType;

    fn published_config() -> WechatConfig {
        WechatConfig::new(
            "wxd678efh567hg6787",
            "unused-app-secret",
            "10000100",
            "qazwsxedcrfvtgbyhnujmikolp111111",
        )
    }

    #[test]
    fn published_pay_sign_vector() {
        let p = jsapi_params_with(
            &published_config(),
            "wx2017033010242291fcfe0db70013231072",
            1_490_840_662,
            "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
        );
        assert_eq!(p.pay_sign, "22D9B4E54AB1950F51E0649E8810ACD6");
        assert_eq!(p.package, "prepay_id=wx2017033010242291fcfe0db70013231072");
        assert_eq!(p.sign_type, "MD5");
    }

    #[test]
    fn serializes_with_camel_case_and_string_timestamp() {
        let p = jsapi_params_with(&published_config(), "wx1", 1_490_840_662, "n");
        let json = serde_json::to_value(&p).unwrap_or_default();
        assert_eq!(json["timeStamp"], serde_json::json!("1490840662"));
        assert!(json["timeStamp"].is_string());
        assert_eq!(json["nonceStr"], "n");
        assert_eq!(json["package"], "prepay_id=wx1");
        assert_eq!(json["signType"], "MD5");
        assert_eq!(json.as_object().map(|o| o.len()), Some(5));
        let text = serde_json::to_string(&p).unwrap_or_default();
        assert!(
            text.starts_with("{\"timeStamp\":\"1490840662\",\"nonceStr\""),
            "{text}"
        );
    }

    #[test]
    fn hmac_orders_get_hmac_pay_sign() {
        let mut config = published_config();
        config.sign_type = SignType::HmacSha256;
        let p = jsapi_params(&config, "wx1");
        assert_eq!(p.sign_type, "HMAC-SHA256");
        assert_eq!(p.pay_sign.len(), 64);
        assert!(p.time_stamp.parse::<i64>().is_ok());
        assert_eq!(p.nonce_str.len(), 32);
    }
}
