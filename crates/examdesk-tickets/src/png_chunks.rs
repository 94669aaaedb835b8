//! A PNG's chunk list, walked before any decoder sees it: only what the pixels need goes on. An
//! ancillary chunk (a colour profile, text, EXIF, …) is dropped unread, so none is ever inflated —
//! a 1.5 MB iCCP chunk can inflate to gigabytes — and none of its metadata reaches the stored photo.

/// The chunks that make the picture: header, palette, transparency, image data, end.
const KEPT: [&[u8; 4]; 5] = [b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"];
const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkError {
    NotPng,
    /// The file ends inside a chunk, or before IEND.
    Truncated,
    BadCrc([u8; 4]),
    /// A chunk the decoder would need to understand but no ID photo has.
    UnknownCritical([u8; 4]),
}

impl std::fmt::Display for ChunkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = |t: &[u8; 4]| String::from_utf8_lossy(t).into_owned();
        match self {
            ChunkError::NotPng => write!(f, "not a PNG signature"),
            ChunkError::Truncated => write!(f, "PNG ends before its IEND chunk"),
            ChunkError::BadCrc(t) => write!(f, "PNG chunk {} fails its CRC", name(t)),
            ChunkError::UnknownCritical(t) => {
                write!(f, "PNG has an unknown critical chunk {}", name(t))
            }
        }
    }
}

/// The same PNG with its ancillary chunks left out; every chunk's CRC checked on the way.
pub fn pixels_only(bytes: &[u8]) -> Result<Vec<u8>, ChunkError> {
    let mut rest = bytes.strip_prefix(SIGNATURE).ok_or(ChunkError::NotPng)?;
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(SIGNATURE);
    loop {
        let (length, tail) = split_u32(rest).ok_or(ChunkError::Truncated)?;
        let length = usize::try_from(length).map_err(|_| ChunkError::Truncated)?;
        // Type, data and CRC.
        let whole = length.checked_add(8).ok_or(ChunkError::Truncated)?;
        if tail.len() < whole {
            return Err(ChunkError::Truncated);
        }
        let (typed, crc) = tail[..whole].split_at(4 + length);
        let kind: [u8; 4] = [typed[0], typed[1], typed[2], typed[3]];
        if crc32fast::hash(typed).to_be_bytes() != crc {
            return Err(ChunkError::BadCrc(kind));
        }
        let critical = kind[0].is_ascii_uppercase();
        if KEPT.contains(&&kind) {
            out.extend_from_slice(&rest[..4 + whole]);
        } else if critical {
            return Err(ChunkError::UnknownCritical(kind));
        }
        if &kind == b"IEND" {
            // Whatever follows IEND is not part of the picture.
            return Ok(out);
        }
        rest = &tail[whole..];
    }
}

fn split_u32(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let (head, tail) = bytes.split_first_chunk::<4>()?;
    Some((u32::from_be_bytes(*head), tail))
}

/// A PNG chunk with its length and CRC, for tests that build files.
#[cfg(test)]
pub(crate) fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut typed = kind.to_vec();
    typed.extend_from_slice(data);
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&typed);
    out.extend_from_slice(&crc32fast::hash(&typed).to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        for c in chunks {
            out.extend_from_slice(c);
        }
        out
    }

    #[test]
    fn ancillary_chunks_are_dropped_and_the_picture_kept() {
        let ihdr = chunk(b"IHDR", &[0; 13]);
        let idat = chunk(b"IDAT", b"pixels");
        let iend = chunk(b"IEND", b"");
        let file = png(&[
            ihdr.clone(),
            chunk(b"iCCP", b"profile\0\0zlib..."),
            chunk(b"tEXt", b"GPS\0here"),
            idat.clone(),
            chunk(b"eXIf", b"MM\0*"),
            iend.clone(),
        ]);
        assert_eq!(pixels_only(&file), Ok(png(&[ihdr, idat, iend])));
    }

    #[test]
    fn broken_files_are_refused() {
        let ihdr = chunk(b"IHDR", &[0; 13]);
        let iend = chunk(b"IEND", b"");
        let whole = png(&[ihdr.clone(), chunk(b"IDAT", b"pixels"), iend.clone()]);
        assert_eq!(
            pixels_only(&whole[..whole.len() - 3]),
            Err(ChunkError::Truncated)
        );
        assert_eq!(pixels_only(&whole[..40]), Err(ChunkError::Truncated));
        let mut flipped = whole.clone();
        flipped[8 + 25 + 9] ^= 1;
        assert_eq!(pixels_only(&flipped), Err(ChunkError::BadCrc(*b"IDAT")));
        let odd = png(&[ihdr, chunk(b"ABCD", b""), iend]);
        assert_eq!(
            pixels_only(&odd),
            Err(ChunkError::UnknownCritical(*b"ABCD"))
        );
        assert_eq!(pixels_only(b"GIF89a"), Err(ChunkError::NotPng));
        // A length near u32::MAX does not overflow into a short read.
        let mut huge = SIGNATURE.to_vec();
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        huge.extend_from_slice(b"IDAT");
        assert_eq!(pixels_only(&huge), Err(ChunkError::Truncated));
    }
}
