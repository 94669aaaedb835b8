//! Pure rules with no I/O: what makes an exam, a candidate's details or an amount valid.

pub mod candidate;
pub mod exam;
pub mod id_number;
