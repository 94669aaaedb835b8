//! The money path between registrations and WeChat Pay: placing orders, recording payments exactly
//! once, and reconciling orders whose notify never came.

pub mod checkout;
pub mod notify;
pub mod reconcile;
pub mod refunds;
pub mod writer;

use std::sync::Arc;

use wechat_pay_v2::WechatConfig;
use wechat_pay_v2::login::LoginClient;
use wechat_pay_v2::pay::PayClient;

/// The WeChat clients of this instance, built once from the settings.
#[derive(Clone)]
pub struct Wechat {
    pub config: Arc<WechatConfig>,
    pub pay: PayClient,
    pub login: LoginClient,
}

impl Wechat {
    pub fn new(config: WechatConfig) -> Result<Self, String> {
        let pay = PayClient::new(config.clone()).map_err(|e| format!("WeChat Pay client: {e}"))?;
        let login = LoginClient::new(&config).map_err(|e| format!("WeChat login client: {e}"))?;
        Ok(Self {
            config: Arc::new(config),
            pay,
            login,
        })
    }
}

pub use reconcile::close_before_release;
