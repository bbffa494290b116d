//! Signatures: signing a content stream, the minisign signature file format, verification.

use std::fmt;
use std::io::{self, Read};
use std::path::Path;

use blake2::{Blake2b512, Digest as _};
use ed25519_dalek::Signer as _;

use super::file::{self, decode_b64, encode_b64, malformed, UNTRUSTED_PREFIX};
use super::key::{tag, SIG_ALG};
use super::{KeyId, PublicKey, SecretKey, SignError};

/// minisign's algorithm tag for a signature over the BLAKE2b-512 hash of the content.
const SIG_ALG_HASHED: [u8; 2] = *b"ED";
/// The prefix of a signature file's third line.
const TRUSTED_PREFIX: &str = "trusted comment: ";
/// The longest trusted comment, in bytes, that `minisign -V` still reads in full.
pub const MAX_TRUSTED_COMMENT_LEN: usize = 8192 - TRUSTED_PREFIX.len() - 1;
/// The longest signature file ferry parses: four lines, the trusted comment at most 8 KiB.
pub const MAX_SIGNATURE_FILE_LEN: usize = 64 * 1024;

const WHAT: &str = "signature";

/// A minisign signature (prehashed, algorithm "ED") with its trusted comment.
///
/// The trusted comment is only trustworthy after [`PublicKey::verify`] succeeded.
#[derive(Clone, PartialEq, Eq)]
pub struct Signature {
    untrusted_comment: String,
    key_id: KeyId,
    signature: [u8; 64],
    trusted_comment: String,
    global_signature: [u8; 64],
}

/// Reads a minisign signature file.
pub fn read_signature(path: &Path) -> Result<Signature, SignError> {
    let text = file::read_text(path, WHAT)?;
    Signature::parse(&text).map_err(|e| e.in_path(path))
}

/// BLAKE2b-512 of everything `content` yields, read in 64 KiB pieces.
fn prehash(mut content: impl Read) -> Result<[u8; 64], SignError> {
    let mut h = Blake2b512::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match content.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(SignError::Content(e)),
        }
    }
    Ok(h.finalize().into())
}

fn check_trusted_comment(text: &str) -> Result<(), SignError> {
    if let Some(c) = text.chars().find(|c| matches!(c, '\n' | '\r' | '\0')) {
        return Err(SignError::InvalidTrustedComment(format!(
            "it contains the character {c:?}; a trusted comment is one line"
        )));
    }
    if text.len() > MAX_TRUSTED_COMMENT_LEN {
        return Err(SignError::InvalidTrustedComment(format!(
            "it is {} bytes, the limit is {MAX_TRUSTED_COMMENT_LEN}",
            text.len()
        )));
    }
    Ok(())
}

fn signed_comment(signature: &[u8; 64], trusted_comment: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(64 + trusted_comment.len());
    m.extend_from_slice(signature);
    m.extend_from_slice(trusted_comment.as_bytes());
    m
}

impl SecretKey {
    /// Signs everything `content` yields (streamed through BLAKE2b-512, never held in memory),
    /// with `trusted_comment` (one line, at most [`MAX_TRUSTED_COMMENT_LEN`] bytes) covered by
    /// the global signature.
    pub fn sign(&self, content: impl Read, trusted_comment: &str) -> Result<Signature, SignError> {
        check_trusted_comment(trusted_comment)?;
        let hash = prehash(content)?;
        let signature = self.signing_key().sign(&hash).to_bytes();
        let global_signature = self
            .signing_key()
            .sign(&signed_comment(&signature, trusted_comment))
            .to_bytes();
        Ok(Signature {
            untrusted_comment: format!("signature from ferry, key id {}", self.key_id()),
            key_id: self.key_id(),
            signature,
            trusted_comment: trusted_comment.to_string(),
            global_signature,
        })
    }
}

impl PublicKey {
    /// Checks that `signature` was made by this key over exactly what `content` yields, and
    /// that its trusted comment is unchanged. Checks in minisign's order: key id, content
    /// signature, then the global signature over the trusted comment.
    pub fn verify(&self, content: impl Read, signature: &Signature) -> Result<(), SignError> {
        if signature.key_id != self.key_id() {
            return Err(SignError::KeyIdMismatch {
                signature: signature.key_id,
                trusted: self.key_id(),
            });
        }
        let hash = prehash(content)?;
        let sig = ed25519_dalek::Signature::from_bytes(&signature.signature);
        self.verifying_key()
            .verify_strict(&hash, &sig)
            .map_err(|_| SignError::BadSignature)?;
        let global = ed25519_dalek::Signature::from_bytes(&signature.global_signature);
        self.verifying_key()
            .verify_strict(
                &signed_comment(&signature.signature, &signature.trusted_comment),
                &global,
            )
            .map_err(|_| SignError::BadTrustedComment)
    }
}

impl Signature {
    /// The id of the key that made the signature (as claimed by the signature).
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The trusted comment; trustworthy only once [`PublicKey::verify`] succeeded.
    pub fn trusted_comment(&self) -> &str {
        &self.trusted_comment
    }

    /// The signature file's content (`.minisig`), readable by `minisign -V`.
    pub fn to_file_string(&self) -> String {
        let mut line = Vec::with_capacity(74);
        line.extend_from_slice(&SIG_ALG_HASHED);
        line.extend_from_slice(&self.key_id.0);
        line.extend_from_slice(&self.signature);
        format!(
            "{UNTRUSTED_PREFIX}{}\n{}\n{TRUSTED_PREFIX}{}\n{}\n",
            self.untrusted_comment,
            encode_b64(&line),
            self.trusted_comment,
            encode_b64(&self.global_signature)
        )
    }

    /// Parses a signature file's content. Legacy non-prehashed ("Ed") signatures are refused,
    /// since checking them needs the whole content in memory.
    pub fn parse(text: &str) -> Result<Self, SignError> {
        if text.len() > MAX_SIGNATURE_FILE_LEN {
            return Err(malformed(
                WHAT,
                format!(
                    "it is {} bytes, more than the {MAX_SIGNATURE_FILE_LEN} a signature file has",
                    text.len()
                ),
            ));
        }
        let lines = file::lines(text);
        let untrusted_comment = lines[0]
            .strip_prefix(UNTRUSTED_PREFIX)
            .ok_or_else(|| {
                malformed(
                    WHAT,
                    format!("first line does not start with {UNTRUSTED_PREFIX:?}"),
                )
            })?
            .to_string();
        if lines.len() < 4 {
            return Err(malformed(
                WHAT,
                format!("expected 4 lines, found {}", lines.len()),
            ));
        }
        let raw: [u8; 74] = decode_b64(lines[1], WHAT, "the signature line")?;
        match [raw[0], raw[1]] {
            SIG_ALG_HASHED => {}
            SIG_ALG => return Err(SignError::LegacySignature),
            other => {
                return Err(malformed(
                    WHAT,
                    format!("unsupported signature algorithm {:?}", tag(&other)),
                ))
            }
        }
        let trusted_comment = lines[2]
            .strip_prefix(TRUSTED_PREFIX)
            .ok_or_else(|| {
                malformed(
                    WHAT,
                    format!("third line does not start with {TRUSTED_PREFIX:?}"),
                )
            })?
            .to_string();
        let global_signature: [u8; 64] =
            decode_b64(lines[3], WHAT, "the trusted comment signature line")?;
        if lines[4..].iter().any(|l| !l.is_empty()) {
            return Err(malformed(WHAT, "unexpected text after the fourth line"));
        }
        Ok(Signature {
            untrusted_comment,
            key_id: KeyId(raw[2..10].try_into().expect("8 bytes")),
            signature: raw[10..74].try_into().expect("64 bytes"),
            trusted_comment,
            global_signature,
        })
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signature")
            .field("key_id", &self.key_id)
            .field("trusted_comment", &self.trusted_comment)
            .finish_non_exhaustive()
    }
}
