//! The money path between registrations and WeChat Pay: placing orders, recording payments exactly
//! once, and reconciling orders whose notify never came.

pub mod checkout;
pub mod daily_bill;
mod error;
pub mod notify;
pub mod reconcile;
pub mod refunds;
pub mod refused;
pub mod writer;

use std::sync::Arc;

pub use error::PaymentError;
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

/// What the payment services need: the database, the WeChat clients, the writer of payment
/// batches, the seat step that follows a payment, and where WeChat calls back; cheap to clone.
#[derive(Clone)]
pub struct Payments {
    pub db: crate::db::Db,
    pub wechat: Option<Wechat>,
    pub writer: writer::PaymentWriter,
    pub tickets: crate::ticketing::Ticketing,
    pub public_url: Arc<str>,
    pub order_ttl_minutes: i64,
    /// Names this process in row claims, so two instances never work on one order.
    pub worker_id: Arc<str>,
    /// Callbacks refused before they proved to come from WeChat: a bounded record of each.
    pub refused: Arc<refused::RefusedLog>,
}

impl Payments {
    /// The WeChat clients; every payment needs them.
    pub fn wechat(&self) -> Result<&Wechat, PaymentError> {
        self.wechat.as_ref().ok_or(PaymentError::NotConfigured)
    }
}

pub use reconcile::close_before_release;
