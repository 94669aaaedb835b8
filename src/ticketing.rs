//! Issuing tickets: a seat once a payment is recorded, and the ticket PDF drawn from what the
//! database holds — cached by its content, so any change to what is printed draws it anew.

use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::config::Secret;
use crate::db::Db;
use crate::db::registrations::Registration;
use crate::db::{exams, photos, registrations, seating};
use crate::domain::states::Flag;
use crate::telemetry::names::{TICKET_RENDER_DURATION, TICKET_RENDERS};
use examdesk_tickets::photo::PhotoFormat;
use examdesk_tickets::{TicketData, TicketFonts, TicketPhoto, render_ticket, token};

/// What issuing tickets needs: the database, the fonts, the secret that signs QR tokens, and
/// where the verify links point; cheap to clone.
#[derive(Clone)]
pub struct Ticketing {
    pub db: Db,
    pub fonts: Arc<TicketFonts>,
    /// Tickets drawn at once: one per core. Drawing is CPU-bound, so more would not be faster,
    /// only hold more memory while a crowd downloads.
    pub renders: Arc<tokio::sync::Semaphore>,
    pub secret: Secret,
    pub public_url: Arc<str>,
    /// Drawn tickets, by content; only a cache.
    pub cache_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    #[error("the registration's exam is missing")]
    ExamMissing,
    #[error("the ticket could not be drawn: {0}")]
    Render(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Seats a freshly paid registration. Failures are logged; the job seats it later.
pub async fn seat_after_payment(tickets: &Ticketing, registration_id: i64) {
    match seating::assign(&tickets.db, registration_id, crate::util::now()).await {
        Ok(Some(seat)) => {
            tracing::info!(registration_id, ticket_no = %seat.ticket_no, "seat assigned")
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(registration_id, error = %e, "no seat assigned yet; the job will retry")
        }
    }
}

/// The token in the ticket's QR code, signed with the instance secret.
pub fn verify_token(tickets: &Ticketing, registration: &Registration) -> String {
    token::sign_token(
        tickets.secret.expose().as_bytes(),
        registration.id,
        registration.ticket_no.as_deref().unwrap_or_default(),
        registration.ticket_version,
    )
}

/// Everything printed on the registration's ticket.
pub async fn ticket_data(
    tickets: &Ticketing,
    registration: &Registration,
) -> Result<TicketData, TicketError> {
    let exam = exams::get(&tickets.db, registration.exam_id)
        .await?
        .ok_or(TicketError::ExamMissing)?;
    let photo = photos::get(&tickets.db, registration.id)
        .await?
        .map(|p| TicketPhoto {
            format: if p.content_type == "image/png" {
                PhotoFormat::Png
            } else {
                PhotoFormat::Jpeg
            },
            bytes: p.bytes,
        });
    Ok(TicketData {
        exam_title: exam.title,
        exam_code: exam.code,
        candidate_name: registration.name.clone(),
        id_number: registration.id_number.clone(),
        ticket_no: registration.ticket_no.clone().unwrap_or_default(),
        room: registration.room.clone().unwrap_or_default(),
        seat: registration.seat_no.unwrap_or_default().clamp(0, 999) as u16,
        starts_at: crate::util::to_china_time(exam.starts_at),
        venue: exam.venue,
        photo,
        verify_url: format!(
            "{}/verify/{}",
            tickets.public_url,
            verify_token(tickets, registration)
        ),
        notice: Vec::new(),
    })
}

fn cache_key(data: &TicketData) -> String {
    let mut h = Sha256::new();
    for part in [
        &data.exam_title,
        &data.exam_code,
        &data.candidate_name,
        &data.id_number,
        &data.ticket_no,
        &data.room,
        &data.starts_at,
        &data.venue,
        &data.verify_url,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.update(data.seat.to_be_bytes());
    if let Some(photo) = &data.photo {
        h.update(&photo.bytes);
    }
    hex::encode(&h.finalize()[..12])
}

/// The ticket PDF: from the cache when nothing printed on it changed, otherwise drawn (off the
/// async threads) and cached. Characters no font has are recorded on the registration for staff.
pub async fn ticket_pdf(
    tickets: &Ticketing,
    registration: &Registration,
) -> Result<Vec<u8>, TicketError> {
    let data = ticket_data(tickets, registration).await?;
    let dir = &tickets.cache_dir;
    let path: PathBuf = dir.join(format!("{}-{}.pdf", registration.id, cache_key(&data)));
    if let Ok(bytes) = tokio::fs::read(&path).await {
        metrics::counter!(TICKET_RENDERS, "source" => "cached").increment(1);
        return Ok(bytes);
    }
    let _turn = tickets
        .renders
        .acquire()
        .await
        .map_err(|e| TicketError::Render(e.to_string()))?;
    let fonts: Arc<TicketFonts> = tickets.fonts.clone();
    let rendered = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let rendered = render_ticket(&fonts, &data);
        // The drawing alone: waiting for a turn is the semaphore's, not the renderer's.
        metrics::histogram!(TICKET_RENDER_DURATION).record(started.elapsed().as_secs_f64());
        rendered
    })
    .await
    .map_err(|e| TicketError::Render(e.to_string()))?
    .map_err(|e| TicketError::Render(e.to_string()))?;
    metrics::counter!(TICKET_RENDERS, "source" => "drawn").increment(1);
    if !rendered.missing_glyphs.is_empty() {
        let chars: String = rendered.missing_glyphs.iter().collect();
        flag_missing_glyphs(tickets, registration, &chars).await?;
    }
    // The cache is only a cache: a failed write costs a redraw next time, nothing more.
    if tokio::fs::create_dir_all(dir).await.is_ok() {
        let tmp = path.with_extension("tmp");
        if write_private_async(&tmp, &rendered.pdf).await.is_ok() {
            let _ = tokio::fs::rename(&tmp, &path).await;
        }
    }
    Ok(rendered.pdf)
}

/// A ticket carries a candidate's name, ID number and photo: owner-only, like every file in the
/// data folder.
async fn write_private_async(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).await?;
    file.write_all(bytes).await?;
    file.flush().await
}

async fn flag_missing_glyphs(
    tickets: &Ticketing,
    registration: &Registration,
    chars: &str,
) -> Result<(), sqlx::Error> {
    let Some(flag) = Flag::missing_glyphs(chars) else {
        return Ok(());
    };
    if registration.flags.has(&flag) {
        return Ok(());
    }
    tracing::warn!(
        registration_id = registration.id,
        chars,
        "characters no ticket font has"
    );
    registrations::raise_flag(&tickets.db, registration.id, &flag).await
}
