//! The gzip wrapper (RFC 1952) around a layer's DEFLATE stream: its header read and kept
//! verbatim, so that the rebuilt layer carries exactly the original header bytes.

use std::io::Read;

use super::RegenError;

/// Header flags (RFC 1952 §2.3.1).
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const RESERVED: u8 = 0xe0;

/// The largest header kept (a name or comment is at most this long, extra fields included).
const MAX_HEADER: usize = 64 << 10;

/// Reads a gzip member header from `r` and returns its exact bytes. A zstd frame or anything
/// that is not gzip is [`RegenError::NotGzip`].
pub(crate) fn read_header(r: &mut impl Read) -> Result<Vec<u8>, RegenError> {
    let mut fixed = [0u8; 10];
    read_exact(r, &mut fixed, "gzip header")?;
    if fixed[..4] == [0x28, 0xb5, 0x2f, 0xfd] {
        return Err(RegenError::NotGzip("a zstd frame"));
    }
    if fixed[..2] != [0x1f, 0x8b] {
        return Err(RegenError::NotGzip("no gzip magic"));
    }
    if fixed[2] != 8 {
        return Err(RegenError::BadGzip(format!(
            "compression method {}, not deflate",
            fixed[2]
        )));
    }
    let flags = fixed[3];
    if flags & RESERVED != 0 {
        return Err(RegenError::BadGzip(format!(
            "reserved flag bits {flags:#04x}"
        )));
    }
    let mut header = fixed.to_vec();
    if flags & FEXTRA != 0 {
        let mut len = [0u8; 2];
        read_exact(r, &mut len, "gzip extra field length")?;
        header.extend_from_slice(&len);
        let n = u16::from_le_bytes(len) as usize;
        let start = header.len();
        header.resize(start + n, 0);
        read_exact(r, &mut header[start..], "gzip extra field")?;
    }
    for (flag, what) in [(FNAME, "gzip file name"), (FCOMMENT, "gzip comment")] {
        if flags & flag != 0 {
            loop {
                let mut b = [0u8; 1];
                read_exact(r, &mut b, what)?;
                header.push(b[0]);
                if b[0] == 0 {
                    break;
                }
                if header.len() > MAX_HEADER {
                    return Err(RegenError::BadGzip(format!("{what} longer than 64 KiB")));
                }
            }
        }
    }
    if flags & FHCRC != 0 {
        let mut crc = [0u8; 2];
        read_exact(r, &mut crc, "gzip header CRC")?;
        header.extend_from_slice(&crc);
    }
    Ok(header)
}

/// Fills `buf` from `r`, a short read being a truncated `what`.
pub(crate) fn read_exact(r: &mut impl Read, buf: &mut [u8], what: &str) -> Result<(), RegenError> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            RegenError::BadGzip(format!("truncated {what}"))
        } else {
            RegenError::Io(e)
        }
    })
}

/// Reads from `r` until `buf` holds `target` bytes or the stream ends; true at the end.
pub(crate) fn fill(
    r: &mut impl Read,
    buf: &mut Vec<u8>,
    target: usize,
) -> Result<bool, RegenError> {
    let start = buf.len();
    buf.resize(target.max(start), 0);
    let mut at = start;
    while at < target {
        match r.read(&mut buf[at..]) {
            Ok(0) => {
                buf.truncate(at);
                return Ok(true);
            }
            Ok(n) => at += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                buf.truncate(at);
                return Err(e.into());
            }
        }
    }
    buf.truncate(at);
    Ok(false)
}

/// What to do when the DEFLATE parser needs more input than `pending` holds: an error at the end
/// of the input (truncated) or when one block would need more than `max` bytes buffered; else
/// `step` (the input buffered per step) grows once the buffer is full.
pub(crate) fn short_read(
    eof: bool,
    pending: usize,
    step: &mut usize,
    max: usize,
    tar_size: u64,
) -> Result<(), RegenError> {
    if eof {
        return Err(RegenError::BadGzip(format!(
            "deflate stream truncated after {tar_size} uncompressed bytes"
        )));
    }
    if pending >= *step {
        *step *= 2;
        if *step > max {
            return Err(RegenError::Engine {
                offset: tar_size,
                message: format!("a deflate block larger than {} MiB", max >> 20),
            });
        }
    }
    Ok(())
}

/// Reads the gzip trailer that follows the DEFLATE stream (its first bytes may be in `pending`,
/// the input read past the stream) and the rest of `input`. Returns the trailer and how many
/// bytes follow it.
pub(crate) fn read_trailer(
    pending: &[u8],
    input: &mut impl Read,
) -> Result<([u8; 8], u64), RegenError> {
    let mut trailer = [0u8; 8];
    let have = pending.len().min(8);
    trailer[..have].copy_from_slice(&pending[..have]);
    if have < 8 {
        read_exact(input, &mut trailer[have..], "gzip trailer")?;
    }
    let mut rest = pending.len().saturating_sub(8) as u64;
    rest += std::io::copy(input, &mut std::io::sink())?;
    Ok((trailer, rest))
}

/// Checks a member's end: nothing after its trailer (`rest` bytes followed it, in a layer of
/// `layer_size` bytes) and the trailer's ISIZE equal to the content's size modulo 2^32.
pub(crate) fn check_end(
    trailer: &[u8; 8],
    rest: u64,
    layer_size: u64,
    tar_size: u64,
) -> Result<(), RegenError> {
    if rest > 0 {
        return Err(RegenError::MultiMember(layer_size - rest));
    }
    if u32::from_le_bytes(trailer[4..].try_into().expect("4 bytes")) != tar_size as u32 {
        return Err(RegenError::BadGzip(
            "the trailer's size does not match the content".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_with_name_and_extra_is_kept_verbatim() {
        let mut h = vec![
            0x1f,
            0x8b,
            8,
            FEXTRA | FNAME,
            1,
            2,
            3,
            4,
            0,
            255,
            3,
            0,
            b'a',
            b'b',
        ];
        h.extend_from_slice(b"c");
        h.extend_from_slice(b"name.tar\0");
        let mut input = h.clone();
        input.extend_from_slice(b"deflate data");
        let mut r = &input[..];
        assert_eq!(read_header(&mut r).unwrap(), h);
        assert_eq!(r, b"deflate data");
    }

    #[test]
    fn zstd_and_plain_data_are_refused_as_not_gzip() {
        let zstd = [0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0, 0, 0];
        assert!(matches!(
            read_header(&mut &zstd[..]),
            Err(RegenError::NotGzip("a zstd frame"))
        ));
        assert!(matches!(
            read_header(&mut &b"ustar tar data"[..]),
            Err(RegenError::NotGzip(_))
        ));
        assert!(matches!(
            read_header(&mut &[0x1f, 0x8b, 8][..]),
            Err(RegenError::BadGzip(_))
        ));
    }
}
