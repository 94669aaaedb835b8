//! Issuing tickets: a seat once a payment is recorded, and the ticket PDF drawn from what the
//! database holds — cached by its content, so any change to what is printed draws it anew.

use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::db::registrations::Registration;
use crate::db::{exams, photos, registrations, seating};
use crate::domain::states::Flag;
use crate::error::AppError;
use examdesk_tickets::photo::PhotoFormat;
use examdesk_tickets::{TicketData, TicketFonts, TicketPhoto, render_ticket, token};

/// Seats a freshly paid registration. Failures are logged; the job seats it later.
pub async fn seat_after_payment(state: &AppState, registration_id: i64) {
    match seating::assign(&state.db, registration_id, crate::util::now()).await {
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
pub fn verify_token(state: &AppState, registration: &Registration) -> String {
    token::sign_token(
        state.secret.expose().as_bytes(),
        registration.id,
        registration.ticket_no.as_deref().unwrap_or_default(),
        registration.ticket_version,
    )
}

/// Everything printed on the registration's ticket.
pub async fn ticket_data(
    state: &AppState,
    registration: &Registration,
) -> Result<TicketData, AppError> {
    let exam = exams::get(&state.db, registration.exam_id)
        .await?
        .ok_or_else(AppError::internal)?;
    let photo = photos::get(&state.db, registration.id)
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
            state.settings.public_url,
            verify_token(state, registration)
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
    state: &AppState,
    registration: &Registration,
) -> Result<Vec<u8>, AppError> {
    let data = ticket_data(state, registration).await?;
    let dir = state.settings.data_dir.join("tickets");
    let path: PathBuf = dir.join(format!("{}-{}.pdf", registration.id, cache_key(&data)));
    if let Ok(bytes) = tokio::fs::read(&path).await {
        return Ok(bytes);
    }
    let _turn = state
        .renders
        .acquire()
        .await
        .map_err(|_| AppError::internal())?;
    let fonts: Arc<TicketFonts> = state.fonts.clone();
    let rendered = tokio::task::spawn_blocking(move || render_ticket(&fonts, &data))
        .await
        .map_err(|_| AppError::internal())?
        .map_err(|e| {
            tracing::error!(error = %e, registration_id = registration.id, "ticket could not be drawn");
            AppError::internal()
        })?;
    if !rendered.missing_glyphs.is_empty() {
        let chars: String = rendered.missing_glyphs.iter().collect();
        flag_missing_glyphs(state, registration, &chars).await?;
    }
    // The cache is only a cache: a failed write costs a redraw next time, nothing more.
    if tokio::fs::create_dir_all(&dir).await.is_ok() {
        let tmp = path.with_extension("tmp");
        if tokio::fs::write(&tmp, &rendered.pdf).await.is_ok() {
            let _ = tokio::fs::rename(&tmp, &path).await;
        }
    }
    Ok(rendered.pdf)
}

async fn flag_missing_glyphs(
    state: &AppState,
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
    registrations::raise_flag(&state.db, registration.id, &flag).await
}
