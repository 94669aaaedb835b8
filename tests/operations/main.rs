//! What operators meet: the `examdesk` command line, WeChat misbehaving under payments, and
//! several instances on one PostgreSQL database (ignored by default: see [`common::PG_ONLY`]).
//! One binary, so one link of the whole service.

#[path = "../common/mod.rs"]
mod common;

mod bill;
mod cli;
mod faults;
mod instances;
mod mtls;
