//! The staff's side: the admin pages over HTTP, the same pages in a real browser, and tickets as
//! staff see them (door check, printing, seat shuffles). One binary, so one link of the whole
//! service.

#[path = "../common/mod.rs"]
mod common;

mod browser;
mod door;
mod exam_settings;
mod headers;
mod pages;
mod review;
mod sheets;
mod tickets;
