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
