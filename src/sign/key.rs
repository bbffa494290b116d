//! Secret and public keys: generation, minisign key-file encoding, reading and writing.

use std::fmt;
use std::path::{Path, PathBuf};

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest as _};
use ed25519_dalek::{SigningKey, VerifyingKey};

use super::file::{self, decode_b64, encode_b64, malformed, UNTRUSTED_PREFIX};
use super::{KeyId, SignError};

/// minisign's signature algorithm tag for keys and legacy signatures.
pub(crate) const SIG_ALG: [u8; 2] = *b"Ed";
/// minisign's key-derivation tag for a password-encrypted (scrypt) secret key.
const KDF_SCRYPT: [u8; 2] = *b"Sc";
/// minisign's key-derivation tag for an unencrypted secret key (`-W`).
const KDF_NONE: [u8; 2] = [0, 0];
/// minisign's checksum algorithm tag (BLAKE2b-256).
const CHK_ALG: [u8; 2] = *b"B2";
/// Length of the decoded secret key structure.
const SECRET_LEN: usize = 2 + 2 + 2 + 32 + 8 + 8 + 8 + 64 + 32;
/// Length of the decoded public key structure.
const PUBLIC_LEN: usize = 2 + 8 + 32;

/// An ed25519 signing key with its minisign key id.
///
/// Its `Debug` output shows the key id and public key only, never secret bytes.
#[derive(Clone)]
pub struct SecretKey {
    key_id: KeyId,
    signing: SigningKey,
}

/// An ed25519 public key with its minisign key id: the key a bundle is verified against.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key_id: KeyId,
    verifying: VerifyingKey,
}

/// A new secret key with a random seed and a random key id, from the operating system's RNG.
///
/// # Panics
/// If the operating system cannot provide random bytes (`getrandom` fails), which leaves no
/// safe way to make a key.
pub fn generate() -> SecretKey {
    let mut seed = [0u8; 32];
    let mut key_id = [0u8; 8];
    getrandom::getrandom(&mut seed).expect("the operating system's random number generator failed");
    getrandom::getrandom(&mut key_id)
        .expect("the operating system's random number generator failed");
    let key = SecretKey::from_seed(seed, KeyId(key_id));
    seed.fill(0);
    key
}

/// Generates a key pair for `ferry keygen`: the secret key goes to `out` (mode 0600), the public
/// key to `out` with `.pub` appended. Neither file may exist yet.
pub fn keygen(out: &Path) -> Result<PublicKey, SignError> {
    let pub_path = public_path_for(out);
    for p in [out, pub_path.as_path()] {
        if std::fs::symlink_metadata(p).is_ok() {
            return Err(SignError::Exists(p.to_path_buf()));
        }
    }
    let secret = generate();
    secret.write_secret_key(out, false)?;
    let public = secret.public_key();
    public.write_public_key(&pub_path, false)?;
    Ok(public)
}

/// `out` with `.pub` appended to its file name (`ferry.key` → `ferry.key.pub`).
fn public_path_for(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_os_string();
    s.push(".pub");
    PathBuf::from(s)
}

/// Reads an unencrypted minisign secret key file.
pub fn read_secret_key(path: &Path) -> Result<SecretKey, SignError> {
    let text = file::read_text(path, "secret key")?;
    SecretKey::parse(&text).map_err(|e| e.in_path(path))
}

/// Reads a minisign public key file.
pub fn read_public_key(path: &Path) -> Result<PublicKey, SignError> {
    let text = file::read_text(path, "public key")?;
    PublicKey::parse(&text).map_err(|e| e.in_path(path))
}

/// BLAKE2b-256 of `"Ed" ‖ key_id ‖ seed ‖ public key`, minisign's secret key checksum.
fn checksum(key_id: &KeyId, keypair: &[u8; 64]) -> [u8; 32] {
    let mut h = Blake2b::<U32>::new();
    h.update(SIG_ALG);
    h.update(key_id.0);
    h.update(keypair);
    h.finalize().into()
}

impl SecretKey {
    /// The key whose ed25519 seed is `seed`, with key id `key_id`. Deterministic: used for
    /// reproducible test vectors (ed25519 signatures are deterministic too).
    pub fn from_seed(seed: [u8; 32], key_id: KeyId) -> Self {
        SecretKey {
            key_id,
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// The key id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            key_id: self.key_id,
            verifying: self.signing.verifying_key(),
        }
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The secret key file's content: an unencrypted minisign secret key.
    pub fn to_file_string(&self) -> String {
        let keypair = self.signing.to_keypair_bytes();
        let mut raw = Vec::with_capacity(SECRET_LEN);
        raw.extend_from_slice(&SIG_ALG);
        raw.extend_from_slice(&KDF_NONE);
        raw.extend_from_slice(&CHK_ALG);
        raw.extend_from_slice(&[0u8; 32]); // kdf salt, unused
        raw.extend_from_slice(&0u64.to_le_bytes()); // kdf opslimit, unused
        raw.extend_from_slice(&0u64.to_le_bytes()); // kdf memlimit, unused
        raw.extend_from_slice(&self.key_id.0);
        raw.extend_from_slice(&keypair);
        raw.extend_from_slice(&checksum(&self.key_id, &keypair));
        let text = format!(
            "{UNTRUSTED_PREFIX}ferry unencrypted secret key {}\n{}\n",
            self.key_id,
            encode_b64(&raw)
        );
        raw.fill(0);
        text
    }

    /// Parses an unencrypted minisign secret key file's content.
    ///
    /// The checksum must match, or be all zeros: `minisign -G -W` leaves it zero (it only
    /// computes it when encrypting). Either way the public half stored in the key must be the
    /// one derived from the seed.
    pub fn parse(text: &str) -> Result<Self, SignError> {
        const WHAT: &str = "secret key";
        let lines = file::lines(text);
        if !lines[0].starts_with(UNTRUSTED_PREFIX) {
            return Err(malformed(
                WHAT,
                format!("first line does not start with {UNTRUSTED_PREFIX:?}"),
            ));
        }
        let line = lines
            .get(1)
            .ok_or_else(|| malformed(WHAT, "the key line is missing"))?;
        let mut raw: [u8; SECRET_LEN] = decode_b64(line, WHAT, "the key line")?;
        let result = Self::from_raw(&raw);
        raw.fill(0);
        result
    }

    fn from_raw(raw: &[u8; SECRET_LEN]) -> Result<Self, SignError> {
        const WHAT: &str = "secret key";
        if raw[0..2] != SIG_ALG {
            return Err(malformed(
                WHAT,
                format!("unsupported signature algorithm {:?}", tag(&raw[0..2])),
            ));
        }
        if raw[4..6] != CHK_ALG {
            return Err(malformed(
                WHAT,
                format!("unsupported checksum algorithm {:?}", tag(&raw[4..6])),
            ));
        }
        match [raw[2], raw[3]] {
            KDF_NONE => {}
            KDF_SCRYPT => return Err(SignError::EncryptedSecretKey(None)),
            other => {
                return Err(malformed(
                    WHAT,
                    format!("unsupported key derivation function {:?}", tag(&other)),
                ))
            }
        }
        let rest = &raw[54..];
        let key_id = KeyId(rest[0..8].try_into().expect("8 bytes"));
        let keypair: [u8; 64] = rest[8..72].try_into().expect("64 bytes");
        let stored_chk = &rest[72..104];
        if stored_chk != [0u8; 32] && stored_chk != checksum(&key_id, &keypair) {
            return Err(SignError::BadChecksum(None));
        }
        let signing = SigningKey::from_keypair_bytes(&keypair).map_err(|_| {
            malformed(
                WHAT,
                "the public key stored in the secret key does not match its seed",
            )
        })?;
        Ok(SecretKey { key_id, signing })
    }

    /// Writes the secret key file at `path`, created with mode 0600 (never readable by others,
    /// not even for an instant) and moved into place atomically. An existing file is replaced
    /// only when `overwrite` is true.
    pub fn write_secret_key(&self, path: &Path, overwrite: bool) -> Result<(), SignError> {
        file::write_atomic(path, self.to_file_string().as_bytes(), 0o600, overwrite)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl PublicKey {
    /// The key id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying
    }

    /// The base64 key line alone, as `minisign -P` takes it.
    pub fn to_base64(&self) -> String {
        let mut raw = Vec::with_capacity(PUBLIC_LEN);
        raw.extend_from_slice(&SIG_ALG);
        raw.extend_from_slice(&self.key_id.0);
        raw.extend_from_slice(self.verifying.as_bytes());
        encode_b64(&raw)
    }

    /// Parses the base64 key line alone (the `minisign -P` form).
    pub fn from_base64(line: &str) -> Result<Self, SignError> {
        const WHAT: &str = "public key";
        let raw: [u8; PUBLIC_LEN] = decode_b64(line, WHAT, "the key line")?;
        if raw[0..2] != SIG_ALG {
            return Err(malformed(
                WHAT,
                format!("unsupported signature algorithm {:?}", tag(&raw[0..2])),
            ));
        }
        let key_id = KeyId(raw[2..10].try_into().expect("8 bytes"));
        let pk: [u8; 32] = raw[10..42].try_into().expect("32 bytes");
        let verifying = VerifyingKey::from_bytes(&pk)
            .map_err(|_| malformed(WHAT, "the key is not a valid ed25519 point"))?;
        Ok(PublicKey { key_id, verifying })
    }

    /// The public key file's content, with minisign's comment line.
    pub fn to_file_string(&self) -> String {
        format!(
            "{UNTRUSTED_PREFIX}minisign public key {}\n{}\n",
            self.key_id,
            self.to_base64()
        )
    }

    /// Parses a minisign public key file's content.
    pub fn parse(text: &str) -> Result<Self, SignError> {
        let lines = file::lines(text);
        if !lines[0].starts_with(UNTRUSTED_PREFIX) {
            return Err(malformed(
                "public key",
                format!("first line does not start with {UNTRUSTED_PREFIX:?}"),
            ));
        }
        let line = lines
            .get(1)
            .ok_or_else(|| malformed("public key", "the key line is missing"))?;
        Self::from_base64(line)
    }

    /// Writes the public key file at `path` (mode 0644), atomically. An existing file is
    /// replaced only when `overwrite` is true.
    pub fn write_public_key(&self, path: &Path, overwrite: bool) -> Result<(), SignError> {
        file::write_atomic(path, self.to_file_string().as_bytes(), 0o644, overwrite)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} {})", self.key_id, self.to_base64())
    }
}

/// A 2-byte algorithm tag for messages.
pub(crate) fn tag(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
