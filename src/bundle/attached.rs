//! The root's records of format 1.2 (bundle-format/SPEC.md §4.6, §4.7): how an image is
//! attached to another (a signature, attestation, SBOM or referrer), and the OpenShift release
//! signatures a bundle carries.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::model::Digest;

/// How an artifact is attached to its subject (SPEC.md §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttachmentKind {
    /// A cosign signature, the tag `sha256-<hex>.sig`.
    Sig,
    /// A cosign attestation, the tag `sha256-<hex>.att`.
    Att,
    /// A cosign SBOM, the tag `sha256-<hex>.sbom`.
    Sbom,
    /// An OCI 1.1 referrer: a manifest whose `subject` is the image, listed by the referrers
    /// API or the fallback tag `sha256-<hex>`.
    Referrer,
}

impl AttachmentKind {
    /// The cosign tag kinds, with their tag suffixes.
    pub const COSIGN: [(AttachmentKind, &'static str); 3] = [
        (AttachmentKind::Sig, "sig"),
        (AttachmentKind::Att, "att"),
        (AttachmentKind::Sbom, "sbom"),
    ];

    /// The word for it in messages: `signature`, `attestation`, `sbom`, `referrer`.
    pub fn word(self) -> &'static str {
        match self {
            AttachmentKind::Sig => "signature",
            AttachmentKind::Att => "attestation",
            AttachmentKind::Sbom => "sbom",
            AttachmentKind::Referrer => "referrer",
        }
    }
}

/// What an attached artifact belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The digest it is attached to: an image's top manifest or one of its index children.
    pub subject: Digest,
    /// How it is attached.
    pub kind: AttachmentKind,
    /// For a referrer: its `artifactType` (or config media type), as the referrers list shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

/// Format 1.2: one OpenShift release signature from a signature store (SPEC.md §4.7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseSignature {
    /// The release image's digest.
    pub release: Digest,
    /// The store's number for it: `signature-<index>`, from 1.
    pub index: u32,
    /// The signature file's bytes, base64 (standard alphabet, padded).
    pub data: String,
}

impl ReleaseSignature {
    /// An entry for the signature `bytes` of `release`.
    pub fn new(release: Digest, index: u32, bytes: &[u8]) -> Self {
        ReleaseSignature {
            release,
            index,
            data: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    /// The signature bytes (`data` decoded).
    pub fn bytes(&self) -> Result<Vec<u8>, base64::DecodeError> {
        base64::engine::general_purpose::STANDARD.decode(&self.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::root::{Root, RootError};

    #[test]
    fn release_signatures_round_trip_and_bad_base64_is_refused() {
        let id = "0123456789abcdef0123456789abcdef";
        let mut root = Root::empty_for_tests(id, Some(1));
        let release = Digest::sha256_of(b"release");
        root.release_signatures = vec![ReleaseSignature::new(release.clone(), 1, b"\x00\xffsig")];
        let back = Root::from_json(&root.to_json()).unwrap();
        assert_eq!(back.release_signatures[0].bytes().unwrap(), b"\x00\xffsig");
        root.release_signatures[0].data = "not base64!".into();
        let e = Root::from_json(&root.to_json()).unwrap_err();
        assert!(matches!(e, RootError::Inconsistent(_)), "{e:?}");
        assert!(e.to_string().contains(&release.to_string()), "{e}");
    }

    #[test]
    fn kinds_are_named_as_the_spec_says() {
        let a = Attachment {
            subject: Digest::sha256_of(b"s"),
            kind: AttachmentKind::Referrer,
            artifact_type: Some("application/spdx+json".into()),
        };
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["kind"], "referrer");
        assert_eq!(v["artifact_type"], "application/spdx+json");
        let kinds: Vec<String> = AttachmentKind::COSIGN
            .iter()
            .map(|(k, _)| {
                serde_json::to_value(k)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(kinds, ["sig", "att", "sbom"]);
    }
}
