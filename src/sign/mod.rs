//! ed25519 keys and signatures in minisign's file formats.
//!
//! ferry signs a bundle's index the way `minisign -S` signs a file, so that the signature can be
//! checked with ferry itself or with the stock `minisign -V` tool:
//!
//! - public key file: `untrusted comment: …` line, then base64 of
//!   `"Ed" ‖ key_id(8) ‖ ed25519 public key(32)`;
//! - secret key file (unencrypted, as written by `minisign -G -W`): `untrusted comment: …` line,
//!   then base64 of `"Ed" ‖ kdf "\0\0" ‖ "B2" ‖ salt(32) ‖ opslimit(8, LE) ‖ memlimit(8, LE) ‖
//!   key_id(8) ‖ seed(32) ‖ public key(32) ‖ checksum(32)`, where the checksum is
//!   BLAKE2b-256 (unkeyed, 32-byte output) of `"Ed" ‖ key_id ‖ seed ‖ public key`;
//! - signature file: `untrusted comment: …`, base64 of `"ED" ‖ key_id ‖
//!   ed25519(BLAKE2b-512(content))`, `trusted comment: TEXT`, base64 of
//!   `ed25519(signature(64) ‖ TEXT)` — the "global" signature that makes the comment trusted.
//!
//! Key ids are shown like minisign shows them: the 8 bytes read as a little-endian integer,
//! printed as 16 upper-case hex digits.

mod file;
mod key;
mod signature;

use std::fmt;
use std::path::PathBuf;

pub use key::{generate, keygen, read_public_key, read_secret_key, PublicKey, SecretKey};
pub use signature::{read_signature, Signature, MAX_SIGNATURE_FILE_LEN, MAX_TRUSTED_COMMENT_LEN};

/// The 8-byte key id minisign stores in keys and signatures to tell keys apart.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 8]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", u64::from_le_bytes(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// What went wrong reading, writing, making or checking keys and signatures.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// A key or signature file could not be read or written.
    #[error("cannot {action} {path}", path = .path.display())]
    Io {
        /// What ferry was doing: "read", "write", "create".
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The content being signed or verified could not be read.
    #[error("cannot read the content to sign or verify")]
    Content(#[source] std::io::Error),
    /// Writing a key would replace an existing file.
    #[error("{} already exists; refusing to overwrite it", .0.display())]
    Exists(PathBuf),
    /// A key or signature is not in minisign's format.
    #[error("{}not a valid minisign {what}: {reason}", in_file(.path))]
    Malformed {
        /// "public key", "secret key" or "signature".
        what: &'static str,
        /// The file it came from, when it came from a file.
        path: Option<PathBuf>,
        /// What is wrong with it.
        reason: String,
    },
    /// The secret key is password-protected; ferry only uses unencrypted keys.
    #[error(
        "{}the secret key is encrypted with a password; ferry needs an unencrypted key: \
         create one with `ferry keygen` or `minisign -G -W`, or remove the password with \
         `minisign -C -W`",
        in_file(.0)
    )]
    EncryptedSecretKey(Option<PathBuf>),
    /// The secret key's checksum does not match its content.
    #[error("{}the secret key is corrupt: its checksum does not match", in_file(.0))]
    BadChecksum(Option<PathBuf>),
    /// The signature uses minisign's legacy, non-prehashed algorithm.
    #[error(
        "legacy (non-prehashed, \"Ed\") minisign signature: ferry only verifies prehashed (\"ED\") \
         signatures; sign again with a current minisign without -l"
    )]
    LegacySignature,
    /// The signature was made with a key other than the trusted one.
    #[error(
        "not signed by a trusted key (signature key id {signature}, trusted key id {trusted})"
    )]
    KeyIdMismatch {
        /// The key id in the signature.
        signature: KeyId,
        /// The key id of the trusted public key.
        trusted: KeyId,
    },
    /// The signature does not match the content (content modified, or signature damaged).
    #[error("signature verification failed: the content was modified or the signature is damaged")]
    BadSignature,
    /// The global signature does not match the trusted comment.
    #[error("trusted comment verification failed: the trusted comment was modified")]
    BadTrustedComment,
    /// A trusted comment cannot be signed as given.
    #[error("invalid trusted comment: {0}")]
    InvalidTrustedComment(String),
}

fn in_file(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!("{}: ", p.display()),
        None => String::new(),
    }
}

impl SignError {
    /// Attaches `path` to a format error that does not name its file yet.
    fn in_path(self, path: &std::path::Path) -> Self {
        match self {
            SignError::Malformed {
                what,
                path: None,
                reason,
            } => SignError::Malformed {
                what,
                path: Some(path.to_path_buf()),
                reason,
            },
            SignError::EncryptedSecretKey(None) => {
                SignError::EncryptedSecretKey(Some(path.to_path_buf()))
            }
            SignError::BadChecksum(None) => SignError::BadChecksum(Some(path.to_path_buf())),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests;
