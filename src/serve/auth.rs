//! `--htpasswd`: HTTP Basic authentication against bcrypt entries (`htpasswd -B`). Other hash
//! kinds (MD5 `$apr1$`, SHA-1 `{SHA}`, crypt, plain text) are refused when the file is read.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use super::ServeError;

/// Users and their bcrypt hashes, and the credentials already checked (bcrypt is slow on
/// purpose: a client pulling many blobs must not pay it per request).
#[derive(Debug)]
pub struct Htpasswd {
    users: HashMap<String, String>,
    good: Mutex<HashSet<[u8; 32]>>,
}

impl Htpasswd {
    /// Reads an htpasswd file whose every entry is bcrypt.
    pub fn read(path: &Path) -> Result<Self, ServeError> {
        let text = std::fs::read_to_string(path).map_err(|source| ServeError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses htpasswd text (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ServeError> {
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |message: &str| ServeError::Htpasswd {
                path: path.to_path_buf(),
                line: i + 1,
                message: message.to_string(),
            };
            let (user, hash) = line
                .split_once(':')
                .ok_or_else(|| bad("expected USER:HASH"))?;
            if !["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p)) {
                return Err(bad(&format!(
                    "the entry for {user:?} is not bcrypt; ferry accepts only bcrypt entries \
                     (create them with `htpasswd -B`)"
                )));
            }
            users.insert(user.to_string(), hash.to_string());
        }
        if users.is_empty() {
            return Err(ServeError::Htpasswd {
                path: path.to_path_buf(),
                line: 0,
                message: "no user in the file".into(),
            });
        }
        Ok(Htpasswd {
            users,
            good: Mutex::new(HashSet::new()),
        })
    }

    /// The user an `Authorization: Basic …` header authenticates, if any.
    pub(super) fn check(&self, authorization: Option<&str>) -> Option<String> {
        let encoded = authorization?.trim().strip_prefix("Basic ")?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        let hash = self.users.get(user)?;
        let key: [u8; 32] = Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update([0])
            .chain_update(password.as_bytes())
            .chain_update([0])
            .chain_update(hash.as_bytes())
            .finalize()
            .into();
        let mut good = self.good.lock().unwrap_or_else(|e| e.into_inner());
        if good.contains(&key) {
            return Some(user.to_string());
        }
        drop(good);
        if bcrypt::verify(password, hash).unwrap_or(false) {
            good = self.good.lock().unwrap_or_else(|e| e.into_inner());
            good.insert(key);
            return Some(user.to_string());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(s: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    }

    #[test]
    fn only_bcrypt_entries_are_accepted_and_checked() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let h = Htpasswd::parse(&format!("# users\nalice:{hash}\n"), Path::new("h")).unwrap();
        assert_eq!(
            h.check(Some(&basic("alice:s3cret"))).as_deref(),
            Some("alice")
        );
        assert_eq!(
            h.check(Some(&basic("alice:s3cret"))).as_deref(),
            Some("alice")
        );
        assert_eq!(h.check(Some(&basic("alice:wrong"))), None);
        assert_eq!(h.check(Some(&basic("bob:s3cret"))), None);
        assert_eq!(h.check(None), None);
        let err = Htpasswd::parse("bob:$apr1$abc$def\n", Path::new("h")).unwrap_err();
        assert!(err.to_string().contains("htpasswd -B"), "{err}");
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
