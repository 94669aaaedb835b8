//! WeChat Pay API v2: the typed client and the `wx.requestPayment` arguments.

mod client;
mod error;
mod jsapi;
mod types;

pub use client::{PayClient, RetryPolicy};

/// WeChat's shortest interval between placing an order and closing it ("订单生成后不能马上调用关单
/// 接口，最短调用时间间隔为5分钟"); a younger order's close is refused as ORDERPAID.
pub const MIN_CLOSE_AGE: std::time::Duration = std::time::Duration::from_secs(5 * 60);
pub use error::PayError;
pub use jsapi::{JsapiParams, jsapi_params, jsapi_params_with};
pub use types::{
    OrderStatus, Prepay, RefundAccepted, RefundRequest, RefundState, RefundStatus, TradeState,
    TradeType, UnifiedOrder,
};
