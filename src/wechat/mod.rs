//! The WeChat protocol (Pay API v2 and mini-program login), usable without the rest of examdesk.
//!
//! - [`sign`] and [`xml`] — the wire format of Pay API v2;
//! - [`pay`] — the typed Pay client and the `wx.requestPayment` arguments;
//! - [`login`] — `jscode2session`;
//! - [`notify`] — parsing and checking the payment and refund callbacks;
//! - [`simulator`] — a strict in-memory WeChat for tests, the demo and `examdesk simulator`.

mod config;
pub mod crypto;
mod fields;
pub mod login;
pub mod notify;
pub mod pay;
pub mod sign;
pub mod simulator;
mod util;
pub mod xml;

pub use config::{
    DEFAULT_API_BASE_URL, DEFAULT_PAY_BASE_URL, Secret, SignType, UnknownSignType, WechatConfig,
};
pub use util::{china_time_now, nonce_str};

/// Installs ring as the process-wide rustls provider; reqwest is built without one.
///
/// Safe to call any number of times: a provider already installed (by us or by
/// another part of the program) is kept.
pub fn install_crypto_provider() {
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
}
