//! Pure rules with no I/O: what makes an exam, a candidate's details or an amount valid, and the
//! states things go through with their stored spellings.

pub mod candidate;
pub mod checkin;
pub mod exam;
pub mod id_number;
pub mod states;
