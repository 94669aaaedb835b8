//! examdesk: exam registration with WeChat Pay, admission tickets and an admin panel.

pub mod tickets;
pub mod wechat;
