//! Reading key and signature files, writing them atomically with chosen permissions, and the
//! line and base64 helpers shared by the three minisign formats.

use std::fs::{self, Permissions};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::SignError;

/// The prefix of the first line of every minisign file.
pub(crate) const UNTRUSTED_PREFIX: &str = "untrusted comment: ";

/// Key and signature files are a few hundred bytes; a trusted comment is at most 8 KiB.
const MAX_FILE_LEN: u64 = 64 * 1024;

/// Reads a small text file, naming `path` in every error.
pub(crate) fn read_text(path: &Path, what: &'static str) -> Result<String, SignError> {
    let io_err = |source| SignError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    };
    let file = fs::File::open(path).map_err(io_err)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() as u64 > MAX_FILE_LEN {
        return Err(SignError::Malformed {
            what,
            path: Some(path.to_path_buf()),
            reason: format!("file is larger than {MAX_FILE_LEN} bytes"),
        });
    }
    String::from_utf8(bytes).map_err(|_| SignError::Malformed {
        what,
        path: Some(path.to_path_buf()),
        reason: "file is not UTF-8 text".into(),
    })
}

/// Writes `contents` to `path` through a temporary file in the same directory that has `mode`
/// from the moment it is created, then moves it into place (refusing to replace an existing
/// file unless `overwrite`).
pub(crate) fn write_atomic(
    path: &Path,
    contents: &[u8],
    mode: u32,
    overwrite: bool,
) -> Result<(), SignError> {
    let io_err = |action, source| SignError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    if !overwrite && fs::symlink_metadata(path).is_ok() {
        return Err(SignError::Exists(path.to_path_buf()));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".ferry-key-")
        .permissions(Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(|e| io_err("create a temporary file next to", crate::hide_temp_path(e)))?;
    // The umask may have removed bits; never add any beyond `mode`.
    tmp.as_file()
        .set_permissions(Permissions::from_mode(mode))
        .map_err(|e| io_err("set permissions on", e))?;
    tmp.write_all(contents)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| io_err("write", e))?;
    let persisted = if overwrite {
        tmp.persist(path)
    } else {
        tmp.persist_noclobber(path)
    };
    match persisted {
        Ok(_) => Ok(()),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(SignError::Exists(path.to_path_buf()))
        }
        Err(e) => Err(io_err("write", crate::hide_temp_path(e.error))),
    }
}

/// Splits a minisign file into lines, dropping `\r` line-end characters.
pub(crate) fn lines(text: &str) -> Vec<&str> {
    text.split('\n').map(|l| l.trim_end_matches('\r')).collect()
}

/// Decodes one base64 line into exactly `N` bytes.
pub(crate) fn decode_b64<const N: usize>(
    line: &str,
    what: &'static str,
    field: &str,
) -> Result<[u8; N], SignError> {
    let bytes = STANDARD
        .decode(line.trim())
        .map_err(|e| malformed(what, format!("{field} is not base64: {e}")))?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| {
        malformed(
            what,
            format!("{field} is {} bytes, expected {N}", bytes.len()),
        )
    })
}

/// Encodes bytes as one base64 line (standard alphabet, padded), as minisign does.
pub(crate) fn encode_b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// A format error with no file attached yet.
pub(crate) fn malformed(what: &'static str, reason: impl Into<String>) -> SignError {
    SignError::Malformed {
        what,
        path: None,
        reason: reason.into(),
    }
}
