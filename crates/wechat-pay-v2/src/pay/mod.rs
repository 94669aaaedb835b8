//! WeChat Pay API v2: the typed client and the `wx.requestPayment` arguments.

mod client;
mod error;
mod jsapi;
mod types;

pub use client::{PayClient, RetryPolicy};
pub use error::PayError;
pub use jsapi::{JsapiParams, jsapi_params, jsapi_params_with};
pub use types::{
    OrderStatus, Prepay, RefundAccepted, RefundRequest, RefundState, RefundStatus, TradeState,
    TradeType, UnifiedOrder,
};
