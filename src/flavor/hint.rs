//! What ferry tells an operator when a product's known limits explain a failure, decided on
//! typed errors (the registry's error codes and messages), never on an error's rendered text.

use std::fmt;

use serde::Serialize;

use super::{Flavor, FlavorError};
use crate::registry::{AdminError, ApiError, RegistryError};

/// The message Quay sends (with the code `NAME_INVALID`) when it refuses a nested repository
/// path because `FEATURE_EXTENDED_REPOSITORY_NAMES` is off.
pub const QUAY_NESTED_MESSAGE: &str = "Nested repositories are not supported";

/// The registry error code for a repository name the registry will not take.
pub const NAME_INVALID: &str = "NAME_INVALID";

/// What to do about a failure that a product's limits explain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hint {
    /// The registry refuses nested repository paths: push again with `--flatten`.
    Flatten,
    /// mirror-registry's certificates are signed by its own CA, which must be trusted.
    MirrorRegistryCa,
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Hint::Flatten => "this registry refuses nested repository paths: push again with --flatten (and apply the mirror sets it writes)",
            Hint::MirrorRegistryCa => "mirror-registry's CA is QUAY_ROOT/quay-rootCA/rootCA.pem: pass it with --ca-file",
        })
    }
}

/// The hint for a registry failure while talking to `flavor` (reaching it or pushing to it).
pub fn hint_for(flavor: Flavor, error: &RegistryError) -> Option<Hint> {
    if refuses_nested(flavor, error.api_errors()) {
        return Some(Hint::Flatten);
    }
    if flavor == Flavor::MirrorRegistry && matches!(error, RegistryError::Tls { .. }) {
        return Some(Hint::MirrorRegistryCa);
    }
    None
}

/// The hint for a failed `ferry setup` against `flavor`.
pub fn setup_hint(flavor: Flavor, error: &FlavorError) -> Option<Hint> {
    let admin_tls = matches!(
        error,
        FlavorError::Admin {
            source: AdminError::Tls { .. },
            ..
        }
    );
    (flavor == Flavor::MirrorRegistry && admin_tls).then_some(Hint::MirrorRegistryCa)
}

/// Whether the registry's error entries say it refuses nested repository paths: Quay's own
/// message on any flavor, or `NAME_INVALID` from a Quay-based one.
fn refuses_nested(flavor: Flavor, errors: &[ApiError]) -> bool {
    let quay = matches!(flavor, Flavor::Quay | Flavor::MirrorRegistry);
    errors
        .iter()
        .any(|e| e.message.trim() == QUAY_NESTED_MESSAGE || (quay && e.code == NAME_INVALID))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::ApiErrors;

    fn refused(code: &str, message: &str) -> RegistryError {
        RegistryError::Status {
            host: "h".into(),
            action: "push manifest to",
            repository: "mirror/quay.io/a/b".into(),
            method: "GET",
            url: "u".into(),
            status: 400,
            errors: ApiErrors(vec![ApiError {
                code: code.into(),
                message: message.into(),
                detail: None,
            }]),
            retry_after: None,
        }
    }

    #[test]
    fn nested_names() {
        let quay = refused(NAME_INVALID, QUAY_NESTED_MESSAGE);
        assert_eq!(hint_for(Flavor::Quay, &quay), Some(Hint::Flatten));
        assert_eq!(hint_for(Flavor::Distribution, &quay), Some(Hint::Flatten));
        let other = refused(NAME_INVALID, "invalid repository name");
        assert_eq!(
            hint_for(Flavor::MirrorRegistry, &other),
            Some(Hint::Flatten)
        );
        assert_eq!(hint_for(Flavor::Distribution, &other), None);
        assert_eq!(hint_for(Flavor::Harbor, &other), None);
        // The text elsewhere in the error does not count: only the registry's own fields.
        let mut host = refused("DENIED", "no");
        if let RegistryError::Status { host: h, .. } = &mut host {
            *h = format!("{NAME_INVALID} {QUAY_NESTED_MESSAGE}");
        }
        assert_eq!(hint_for(Flavor::Quay, &host), None);
    }

    #[test]
    fn mirror_registry_ca() {
        let tls = RegistryError::Tls {
            host: "h".into(),
            url: "u".into(),
            message: "unknown issuer".into(),
        };
        assert_eq!(
            hint_for(Flavor::MirrorRegistry, &tls),
            Some(Hint::MirrorRegistryCa)
        );
        assert_eq!(hint_for(Flavor::Quay, &tls), None);
    }
}
