//! The candidate's side over HTTP: sign-in, registration and payment end to end, tickets through
//! the candidate API, and the foundation under them (health, migrations, the database's own
//! rules, graceful shutdown). One binary, so one link of the whole service.

#[path = "../common/mod.rs"]
mod common;

mod candidate_path;
mod close_later;
mod errors;
mod foundation;
mod holds_together;
mod id_numbers;
mod notify_flood;
mod photos;
mod slow_clients;
mod tickets;
