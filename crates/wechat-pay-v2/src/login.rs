//! Mini-program sign-in: `wx.login`'s code exchanged for the openid by `jscode2session`.

use std::time::Duration;

use serde::Deserialize;

use super::{Secret, WechatConfig};

/// Who signed in. `session_key` must never leave the server nor reach a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WxSession {
    pub openid: String,
    pub session_key: Secret,
    pub unionid: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("could not reach WeChat: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("TLS set-up: {0}")]
    Tls(String),
    #[error("WeChat answered HTTP {0}")]
    Http(u16),
    #[error("jscode2session answer is not the expected JSON")]
    Malformed,
    /// errcode 40029 (and 40163, a code used twice): the user must call `wx.login` again.
    #[error("invalid or used login code (errcode {0})")]
    InvalidCode(i64),
    /// errcode 45011: too many sign-ins for this user; try again in a minute.
    #[error("login rate limit reached")]
    RateLimited,
    /// errcode -1: WeChat is busy; try again shortly.
    #[error("WeChat is busy")]
    Busy,
    #[error("jscode2session errcode {errcode}: {errmsg}")]
    Other { errcode: i64, errmsg: String },
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
    openid: Option<String>,
    session_key: Option<String>,
    unionid: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LoginClient {
    http: reqwest::Client,
    base_url: String,
    appid: String,
    app_secret: Secret,
}

impl LoginClient {
    pub fn new(config: &WechatConfig) -> Result<Self, LoginError> {
        let http = crate::tls::http_client_builder(None)
            .map_err(LoginError::Tls)?
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(LoginError::Transport)?;
        Ok(Self {
            http,
            base_url: config.api_base_url.trim_end_matches('/').to_owned(),
            appid: config.appid.clone(),
            app_secret: config.app_secret.clone(),
        })
    }

    /// Exchanges a `wx.login` code. Not retried: a code is single-use, and a
    /// repeat after an unknown outcome would fail with 40163 anyway.
    pub async fn code_to_session(&self, code: &str) -> Result<WxSession, LoginError> {
        let started = std::time::Instant::now();
        let result = self.exchange(code).await;
        crate::call_metrics::finished(
            "jscode2session",
            crate::call_metrics::login_result(&result),
            started,
        );
        result
    }

    async fn exchange(&self, code: &str) -> Result<WxSession, LoginError> {
        let url = format!("{}/sns/jscode2session", self.base_url);
        let response = self
            .http
            .get(url)
            .query(&[
                ("appid", self.appid.as_str()),
                ("secret", self.app_secret.expose()),
                ("js_code", code),
                ("grant_type", "authorization_code"),
            ])
            .send()
            .await
            // The URL carries the AppSecret: keep it out of the error text.
            .map_err(|e| LoginError::Transport(e.without_url()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(LoginError::Http(status.as_u16()));
        }
        // The answer says text/plain; read it as JSON whatever it says.
        let bytes = response
            .bytes()
            .await
            .map_err(|e| LoginError::Transport(e.without_url()))?;
        parse_answer(&bytes)
    }
}

fn parse_answer(bytes: &[u8]) -> Result<WxSession, LoginError> {
    let answer: Answer = serde_json::from_slice(bytes).map_err(|_| LoginError::Malformed)?;
    match answer.errcode {
        0 => {}
        40029 | 40163 => return Err(LoginError::InvalidCode(answer.errcode)),
        45011 => return Err(LoginError::RateLimited),
        -1 => return Err(LoginError::Busy),
        errcode => {
            return Err(LoginError::Other {
                errcode,
                errmsg: answer.errmsg,
            });
        }
    }
    match (answer.openid, answer.session_key) {
        (Some(openid), Some(session_key)) if !openid.is_empty() => Ok(WxSession {
            openid,
            session_key: Secret::new(session_key),
            unionid: answer.unionid.filter(|u| !u.is_empty()),
        }),
        _ => Err(LoginError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_answer_hides_session_key_in_debug() {
        let s = parse_answer(br#"{"openid":"o1","session_key":"SK+secret=="}"#);
        let s = s.ok();
        assert_eq!(s.as_ref().map(|s| s.openid.as_str()), Some("o1"));
        assert_eq!(
            s.as_ref().map(|s| s.session_key.expose()),
            Some("SK+secret==")
        );
        assert!(!format!("{s:?}").contains("SK+secret"));
        assert_eq!(s.and_then(|s| s.unionid), None);
    }

    #[test]
    fn errcodes_become_typed_errors() {
        let e = |body: &str| parse_answer(body.as_bytes()).err();
        assert!(matches!(
            e(r#"{"errcode":40029,"errmsg":"invalid code"}"#),
            Some(LoginError::InvalidCode(40029))
        ));
        assert!(matches!(
            e(r#"{"errcode":40163,"errmsg":"code been used"}"#),
            Some(LoginError::InvalidCode(40163))
        ));
        assert!(matches!(
            e(r#"{"errcode":45011,"errmsg":"freq"}"#),
            Some(LoginError::RateLimited)
        ));
        assert!(matches!(
            e(r#"{"errcode":-1,"errmsg":"busy"}"#),
            Some(LoginError::Busy)
        ));
        assert!(matches!(
            e(r#"{"errcode":40226,"errmsg":"risky"}"#),
            Some(LoginError::Other { errcode: 40226, .. })
        ));
        assert!(matches!(e("not json"), Some(LoginError::Malformed)));
        assert!(matches!(e(r#"{"errcode":0}"#), Some(LoginError::Malformed)));
    }
}
