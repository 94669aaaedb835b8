//! Admission tickets: numbers, seats, the QR verify token, photo checks and the ticket PDF.
//!
//! A pure library: no database, no HTTP. The app stores what these functions return.

pub mod fonts;
pub mod number;
pub mod pdf;
pub mod photo;
mod png_chunks;
pub mod qr;
pub mod seats;
mod splitmix;
pub mod token;

pub use fonts::TicketFonts;
pub use pdf::{
    RenderedTicket, RoomSheet, SheetRow, TicketData, TicketError, TicketPhoto, door_list_pages,
    render_bulk, render_door_lists, render_sign_in_sheets, render_ticket, sign_in_sheet_pages,
};
