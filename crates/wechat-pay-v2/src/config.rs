use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Where WeChat Pay lives; `WechatConfig::pay_base_url` may point elsewhere (a simulator).
pub const DEFAULT_PAY_BASE_URL: &str = "https://api.mch.weixin.qq.com";
/// Where the mini-program API (`jscode2session`) lives; see `WechatConfig::api_base_url`.
pub const DEFAULT_API_BASE_URL: &str = "https://api.weixin.qq.com";

/// A secret string that never shows up in `Debug`/`Display` output, so that
/// logging a config or an error cannot leak it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; every call site is a place where it may leak, so keep them few.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The signature algorithm of Pay API v2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SignType {
    #[default]
    Md5,
    HmacSha256,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sign type {0:?}: expected MD5 or HMAC-SHA256")]
pub struct UnknownSignType(pub String);

impl SignType {
    /// The spelling WeChat uses on the wire (`sign_type`, `signType`).
    pub fn as_str(self) -> &'static str {
        match self {
            SignType::Md5 => "MD5",
            SignType::HmacSha256 => "HMAC-SHA256",
        }
    }

    /// Tells the algorithm from a signature: a notify for an HMAC-SHA256 order
    /// may arrive without `sign_type`, but the digest lengths differ.
    pub fn guess_from_signature(signature: &str) -> Option<SignType> {
        if !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        match signature.len() {
            32 => Some(SignType::Md5),
            64 => Some(SignType::HmacSha256),
            _ => None,
        }
    }
}

impl FromStr for SignType {
    type Err = UnknownSignType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "MD5" => Ok(SignType::Md5),
            "HMAC-SHA256" => Ok(SignType::HmacSha256),
            other => Err(UnknownSignType(other.to_owned())),
        }
    }
}

impl fmt::Display for SignType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything needed to speak to WeChat for one mini-program and one merchant.
#[derive(Clone)]
pub struct WechatConfig {
    /// Mini-program AppID (`wx…`).
    pub appid: String,
    /// Mini-program AppSecret: only for `jscode2session`, never for signatures.
    pub app_secret: Secret,
    /// Merchant id (商户号).
    pub mch_id: String,
    /// The merchant's 32-character API v2 key: the signing key.
    pub api_key: Secret,
    /// The algorithm orders are placed with.
    pub sign_type: SignType,
    /// Base of the Pay routes, without a trailing slash.
    pub pay_base_url: String,
    /// Base of `/sns/jscode2session`, without a trailing slash.
    pub api_base_url: String,
    /// Merchant certificate for the refund's mutual TLS: `apiclient_cert.pem`, or WeChat's
    /// `apiclient_cert.p12` (then no key file).
    pub client_cert: Option<PathBuf>,
    /// Merchant private key (`apiclient_key.pem`) for the refund's mutual TLS.
    pub client_key: Option<PathBuf>,
    /// Password of a `.p12` certificate; `None` means the merchant id, as WeChat issues them.
    pub client_p12_password: Option<Secret>,
    /// PEM certificates trusted as roots besides the system's, for a WeChat stand-in (a simulator
    /// over HTTPS in tests) or a TLS-inspecting proxy.
    pub extra_root_certs: Vec<PathBuf>,
}

impl WechatConfig {
    /// A config aimed at the real WeChat, without certificate files.
    pub fn new(
        appid: impl Into<String>,
        app_secret: impl Into<Secret>,
        mch_id: impl Into<String>,
        api_key: impl Into<Secret>,
    ) -> Self {
        Self {
            appid: appid.into(),
            app_secret: app_secret.into(),
            mch_id: mch_id.into(),
            api_key: api_key.into(),
            sign_type: SignType::Md5,
            pay_base_url: DEFAULT_PAY_BASE_URL.to_owned(),
            api_base_url: DEFAULT_API_BASE_URL.to_owned(),
            client_cert: None,
            client_key: None,
            client_p12_password: None,
            extra_root_certs: Vec::new(),
        }
    }

    /// Points both base URLs at one server, e.g. the simulator.
    pub fn with_base_url(mut self, base: &str) -> Self {
        let base = base.trim_end_matches('/').to_owned();
        self.pay_base_url = base.clone();
        self.api_base_url = base;
        self
    }
}

impl fmt::Debug for WechatConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatConfig")
            .field("appid", &self.appid)
            .field("app_secret", &self.app_secret)
            .field("mch_id", &self.mch_id)
            .field("api_key", &self.api_key)
            .field("sign_type", &self.sign_type)
            .field("pay_base_url", &self.pay_base_url)
            .field("api_base_url", &self.api_base_url)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("client_p12_password", &self.client_p12_password)
            .field("extra_root_certs", &self.extra_root_certs)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_type_parses_wire_spelling_and_round_trips() {
        assert_eq!("MD5".parse::<SignType>(), Ok(SignType::Md5));
        assert_eq!("HMAC-SHA256".parse::<SignType>(), Ok(SignType::HmacSha256));
        assert!("md5x".parse::<SignType>().is_err());
        assert!("SHA256".parse::<SignType>().is_err());
        for t in [SignType::Md5, SignType::HmacSha256] {
            assert_eq!(t.as_str().parse::<SignType>(), Ok(t));
        }
    }

    #[test]
    fn sign_type_guessed_by_signature_length() {
        assert_eq!(
            SignType::guess_from_signature("9A0A8659F005D6984697E2CA0A9CF3B7"),
            Some(SignType::Md5)
        );
        assert_eq!(
            SignType::guess_from_signature(
                "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
            ),
            Some(SignType::HmacSha256)
        );
        assert_eq!(SignType::guess_from_signature(""), None);
        assert_eq!(SignType::guess_from_signature(&"Z".repeat(32)), None);
        assert_eq!(SignType::guess_from_signature(&"A".repeat(40)), None);
    }

    #[test]
    fn debug_of_config_hides_both_secrets() {
        let config = WechatConfig::new(
            "wxappid",
            "the-app-secret-value",
            "10000100",
            "192006250b4c09247ec02edce69f6a2d",
        );
        let shown = format!("{config:?}");
        assert!(!shown.contains("the-app-secret-value"), "{shown}");
        assert!(
            !shown.contains("192006250b4c09247ec02edce69f6a2d"),
            "{shown}"
        );
        assert!(shown.contains("wxappid") && shown.contains("10000100"));
        assert_eq!(format!("{}", Secret::new("x")), "***");
        assert_eq!(Secret::new("x").expose(), "x");
    }
}
