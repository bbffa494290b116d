//! What can go wrong talking to a registry, with the context an operator needs to act on it.

use std::fmt;
use std::time::Duration;

use crate::model::Digest;

use super::credentials::CredentialError;

/// One entry of the `errors` array a registry returns in an error body
/// (`{"errors":[{"code":"BLOB_UNKNOWN","message":"...","detail":...}]}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ApiError {
    /// The registry's error code, such as `MANIFEST_UNKNOWN` or `UNAUTHORIZED`.
    #[serde(default)]
    pub code: String,
    /// The registry's human-readable message.
    #[serde(default)]
    pub message: String,
    /// Extra detail, rendered compactly (free-form JSON in the wire format).
    #[serde(default, deserialize_with = "detail_as_string")]
    pub detail: Option<String>,
}

fn detail_as_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v: Option<serde_json::Value> = serde::Deserialize::deserialize(d)?;
    Ok(match v {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ApiError>,
}

/// Parses a registry error body; anything that is not the standard shape yields no entries.
pub fn parse_error_body(body: &[u8]) -> Vec<ApiError> {
    serde_json::from_slice::<ErrorBody>(body)
        .map(|b| b.errors)
        .unwrap_or_default()
}

/// A list of registry error entries, displayed as `CODE: message (detail); ...`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiErrors(pub Vec<ApiError>);

impl fmt::Display for ApiErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("no error details from the registry");
        }
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            let code = if e.code.is_empty() { "ERROR" } else { &e.code };
            write!(f, "{code}")?;
            if !e.message.is_empty() {
                write!(f, ": {}", e.message)?;
            }
            if let Some(d) = &e.detail {
                // Details can be long (whole access lists); keep messages readable.
                let short: String = d.chars().take(200).collect();
                write!(f, " ({short})")?;
            }
        }
        Ok(())
    }
}

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The client options are unusable (a CA file that cannot be read, a bad host name, ...).
    #[error("registry {host}: {message}")]
    Config {
        /// The registry host the options were for.
        host: String,
        /// What is wrong.
        message: String,
    },
    /// Credentials could not be found or read.
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// The registry answered with an HTTP error status other than 401/403/404.
    #[error(
        "registry {host} refused {action} {repository}: HTTP {status}: {errors} [{method} {url}]"
    )]
    Status {
        /// Registry host.
        host: String,
        /// What ferry was doing (`pull manifest from`, `push blob to`, ...).
        action: &'static str,
        /// Repository concerned (empty for registry-wide requests).
        repository: String,
        /// HTTP method.
        method: &'static str,
        /// URL requested.
        url: String,
        /// HTTP status.
        status: u16,
        /// The registry's own error codes and messages.
        errors: ApiErrors,
        /// How long the registry asked us to wait (`Retry-After`), if it said.
        retry_after: Option<Duration>,
    },
    /// The registry (or its token service) refused our credentials or the requested access.
    #[error("registry {host} refused {action} {repository}: HTTP {status} {errors} (access asked: {scope}; {hint})")]
    Auth {
        /// Registry host.
        host: String,
        /// What ferry was doing.
        action: &'static str,
        /// Repository concerned.
        repository: String,
        /// The access scope requested, such as `repository:app:pull,push`.
        scope: String,
        /// HTTP status (401 or 403).
        status: u16,
        /// The registry's own error codes and messages.
        errors: ApiErrors,
        /// What the operator may check.
        hint: &'static str,
    },
    /// The manifest, blob or repository does not exist.
    #[error("registry {host}: {what} not found in {repository}: {errors} [{url}]")]
    NotFound {
        /// Registry host.
        host: String,
        /// What was looked for (`manifest latest`, `blob sha256:...`).
        what: String,
        /// Repository concerned.
        repository: String,
        /// URL requested.
        url: String,
        /// The registry's own error codes and messages.
        errors: ApiErrors,
    },
    /// Content received does not hash to the digest it was requested by.
    #[error("digest mismatch for {url}: expected {expected}, content hashes to {actual}")]
    DigestMismatch {
        /// The digest asked for.
        expected: Digest,
        /// The digest of what arrived.
        actual: Digest,
        /// Where it came from.
        url: String,
    },
    /// The connection failed (refused, reset, timed out, DNS).
    #[error("cannot reach registry {host} ({url}): {message}")]
    Transport {
        /// Registry host.
        host: String,
        /// URL requested.
        url: String,
        /// What the network stack said.
        message: String,
    },
    /// The TLS handshake failed (unknown CA, wrong host name, plain HTTP server).
    #[error("TLS with registry {host} failed ({url}): {message}; add its CA with --ca-file or certs.d, or list it with --insecure-registry")]
    Tls {
        /// Registry host.
        host: String,
        /// URL requested.
        url: String,
        /// What the TLS stack said.
        message: String,
    },
    /// The registry answered HTTPS in plain HTTP: it serves no TLS.
    #[error("registry {host} answered in plain HTTP, not HTTPS ({url}); if it serves only plain HTTP, give --insecure-registry {host}")]
    PlainHttp {
        /// Registry host.
        host: String,
        /// URL requested.
        url: String,
    },
    /// Reading a blob source or a response body failed.
    #[error("I/O error during {action} {url}")]
    Io {
        /// What ferry was doing.
        action: &'static str,
        /// URL concerned.
        url: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// ferry kept the credentials from a server that asked for them: a token service over
    /// plain HTTP, or on another host than the registry.
    #[error("registry {host}: credentials not sent to {url}: {reason}")]
    Withheld {
        /// Registry host.
        host: String,
        /// The server that would have received them (without its query).
        url: String,
        /// Why, and what to do if the server is trusted.
        reason: String,
    },
    /// The registry answered in a way the distribution protocol does not allow.
    #[error("registry {host} sent an unexpected answer to {url}: {message}")]
    Protocol {
        /// Registry host.
        host: String,
        /// URL requested.
        url: String,
        /// What was wrong with the answer.
        message: String,
    },
}

impl RegistryError {
    /// Whether trying the same request again later may succeed: connection failures,
    /// 429 Too Many Requests and 5xx server errors. Never other 4xx answers.
    pub fn is_retryable(&self) -> bool {
        match self {
            RegistryError::Transport { .. } => true,
            RegistryError::Status { status, .. } => *status == 429 || (500..600).contains(status),
            RegistryError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::UnexpectedEof
            ),
            _ => false,
        }
    }

    /// The delay the registry asked for with `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RegistryError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status of a registry answer, when the error is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            RegistryError::Status { status, .. } | RegistryError::Auth { status, .. } => {
                Some(*status)
            }
            RegistryError::NotFound { .. } => Some(404),
            _ => None,
        }
    }

    /// The registry's own error entries (code, message, detail) from its answer; empty when
    /// the error is not an answer or the answer had none.
    pub fn api_errors(&self) -> &[ApiError] {
        match self {
            RegistryError::Status { errors, .. }
            | RegistryError::Auth { errors, .. }
            | RegistryError::NotFound { errors, .. } => &errors.0,
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_registry_codes() {
        let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Name":"mirror/quay.io/app","Action":"push"}]},{"code":"DENIED","message":"no"}]}"#;
        let errors = parse_error_body(body);
        assert_eq!(errors.len(), 2);
        let e = RegistryError::Auth {
            host: "127.0.0.1:5000".into(),
            action: "push to",
            repository: "mirror/quay.io/app".into(),
            scope: "repository:mirror/quay.io/app:pull,push".into(),
            status: 401,
            errors: ApiErrors(errors),
            hint: "check the credentials",
        };
        let msg = e.to_string();
        assert!(
            msg.starts_with("registry 127.0.0.1:5000 refused push to mirror/quay.io/app: HTTP 401 UNAUTHORIZED: authentication required"),
            "{msg}"
        );
        assert!(msg.contains("DENIED: no"), "{msg}");
        assert!(msg.contains("\"Action\":\"push\""), "{msg}");
    }

    #[test]
    fn odd_bodies_give_no_entries() {
        assert!(parse_error_body(b"<html>bad gateway</html>").is_empty());
        assert!(parse_error_body(b"").is_empty());
        assert_eq!(
            ApiErrors(vec![]).to_string(),
            "no error details from the registry"
        );
    }

    #[test]
    fn retryable_classes() {
        let status = |s: u16| RegistryError::Status {
            host: "h".into(),
            action: "pull manifest from",
            repository: "r".into(),
            method: "GET",
            url: "u".into(),
            status: s,
            errors: ApiErrors::default(),
            retry_after: None,
        };
        assert!(status(500).is_retryable());
        assert!(status(503).is_retryable());
        assert!(status(429).is_retryable());
        assert!(!status(400).is_retryable());
        assert!(!status(405).is_retryable());
        let nf = RegistryError::NotFound {
            host: "h".into(),
            what: "blob".into(),
            repository: "r".into(),
            url: "u".into(),
            errors: ApiErrors::default(),
        };
        assert!(!nf.is_retryable());
        let t = RegistryError::Transport {
            host: "h".into(),
            url: "u".into(),
            message: "refused".into(),
        };
        assert!(t.is_retryable());
    }
}
