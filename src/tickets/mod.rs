//! Admission tickets: numbers, seats, the PDF and its QR code.
