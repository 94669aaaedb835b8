//! WeChat Pay API v2 and mini-program login, for servers that take payments in a WeChat
//! mini-program (JSAPI) or by QR code (NATIVE).
//!
#![doc = include_str!("../README.md")]

pub mod bill;
pub mod call_metrics;
pub mod clock;
mod config;
pub mod crypto;
mod fields;
pub mod login;
pub mod notify;
pub mod pay;
pub mod sign;
pub mod tls;
pub mod xml;

pub use clock::{china_time_now, nonce_str};
pub use config::{
    DEFAULT_API_BASE_URL, DEFAULT_PAY_BASE_URL, Secret, SignType, UnknownSignType, WechatConfig,
};
pub use fields::parse_fen;
