//! The WeChat Pay protocol library against the strict simulator on a loopback port, and property
//! tests of its wire format. One binary, so one link.

#[path = "../common/mod.rs"]
mod common;

mod client;
mod mtls;
mod props;
mod simulator;
mod support;
