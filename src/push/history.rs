//! The site's tag history, kept in the target registry itself so that every admin machine sees
//! the same: one small OCI artifact per pushed bundle in the ferry-owned repository
//! `PREFIX/ferry-state`, tagged `bundle-<bundle id>`, whose one layer is a [`BundleRecord`]:
//! the bundle's id, root digest, signing key id, freshness, and every tag it set.
//!
//! Records are only ever added (one tag per bundle, never a shared "current state" rewritten in
//! place), so pushes of different bundles at the same time cannot overwrite each other's
//! records. The bundle that set a tag is the freshest record naming that tag with the digest it
//! points at now.

use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::bundle::{Bundle, Freshness, Verified};
use crate::model::MediaType;
use crate::model::{Digest, Reference};
use crate::naming::Naming;
use crate::registry::{Registry, RegistryError};

/// The repository under the prefix that holds the records.
pub const STATE_REPOSITORY: &str = "ferry-state";
/// The media type of a record (the artifact type and its one layer).
pub const RECORD_MEDIA_TYPE: &str = "application/vnd.ferry.bundle-record.v1+json";
const RECORD_TAG_PREFIX: &str = "bundle-";
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
const EMPTY_JSON: &[u8] = b"{}";

/// Why the site's history could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The registry refused or failed.
    #[error("the tag history in {repository}: {source}")]
    Registry {
        /// The state repository.
        repository: String,
        /// What failed.
        source: RegistryError,
    },
    /// A record is not what ferry writes.
    #[error("the tag history in {repository}: {tag} is not a ferry bundle record: {reason}")]
    Malformed {
        /// The state repository.
        repository: String,
        /// The record's tag.
        tag: String,
        /// What is wrong.
        reason: String,
    },
    /// The bundle's root has no usable creation time.
    #[error("bundle {0} has no valid creation time")]
    NoFreshness(String),
}

/// One tag a bundle set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagRecord {
    /// The mirror repository (`mirror/quay.io/org/app`).
    pub repository: String,
    /// The tag.
    pub tag: String,
    /// The manifest digest the bundle set it to.
    pub digest: Digest,
}

/// What one bundle pushed to the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleRecord {
    /// The bundle id.
    pub bundle_id: String,
    /// The digest of its root.json.
    pub root_digest: Digest,
    /// The id of the key that signed it.
    pub key_id: String,
    /// How new it is.
    pub freshness: Freshness,
    /// The tags it set.
    pub tags: Vec<TagRecord>,
}

impl BundleRecord {
    /// The record of `bundle` with no tag yet.
    pub fn of(bundle: &Bundle<Verified>) -> Result<Self, HistoryError> {
        let root = bundle.root();
        Ok(BundleRecord {
            bundle_id: root.bundle_id.clone(),
            root_digest: Digest::sha256_of(bundle.root_bytes()),
            key_id: bundle.signer().to_string(),
            freshness: root
                .freshness()
                .ok_or_else(|| HistoryError::NoFreshness(root.bundle_id.clone()))?,
            tags: Vec::new(),
        })
    }
}

/// A tag that a push would move back to the content of an older bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rollback {
    /// `REPOSITORY:TAG` at the target.
    pub tag: String,
    /// What it points at now.
    pub current: Digest,
    /// The bundle that set it, and how new that bundle is.
    pub set_by: String,
    /// Its freshness.
    pub set_by_freshness: Freshness,
    /// What the older bundle would point it at.
    pub older: Digest,
}

/// Every bundle record at a target.
#[derive(Debug, Clone, Default)]
pub struct SiteHistory {
    /// The records, in no particular order.
    pub records: Vec<BundleRecord>,
}

/// The state repository for `naming`: `PREFIX/ferry-state`.
pub fn state_repository(naming: &Naming) -> String {
    match naming.prefix() {
        "" => STATE_REPOSITORY.to_string(),
        p => format!("{p}/{STATE_REPOSITORY}"),
    }
}

impl SiteHistory {
    /// Reads every record from the target.
    pub fn load(registry: &Registry, naming: &Naming) -> Result<Self, HistoryError> {
        let repo = state_repository(naming);
        let reg_err = |source| HistoryError::Registry {
            repository: repo.clone(),
            source,
        };
        let mut records = Vec::new();
        for tag in registry.tags(&repo).map_err(reg_err)? {
            if !tag.starts_with(RECORD_TAG_PREFIX) {
                continue;
            }
            records.push(read_record(registry, &repo, &tag)?);
        }
        Ok(SiteHistory { records })
    }

    /// The record of the bundle that set `repository:tag` to `digest`: the freshest one naming
    /// it so.
    pub fn setter(&self, repository: &str, tag: &str, digest: &Digest) -> Option<&BundleRecord> {
        self.records
            .iter()
            .filter(|r| {
                r.tags
                    .iter()
                    .any(|t| t.repository == repository && t.tag == tag && &t.digest == digest)
            })
            .max_by_key(|r| r.freshness)
    }

    /// The record of bundle `id`, if it was pushed before.
    pub fn bundle(&self, id: &str) -> Option<&BundleRecord> {
        self.records.iter().find(|r| r.bundle_id == id)
    }

    /// The tags of `bundle` that a push would move back to older content: each one a fresher
    /// bundle set to a digest other than this bundle's.
    pub fn rollbacks(
        &self,
        bundle: &Bundle<Verified>,
        registry: &Registry,
        naming: &Naming,
    ) -> Result<Vec<Rollback>, HistoryError> {
        let ours = BundleRecord::of(bundle)?;
        let mut found = Vec::new();
        for img in &bundle.root().images {
            let Ok(name) = Reference::parse(&img.name) else {
                continue; // the push reports it
            };
            let Ok(repo) = naming.repository(&name) else {
                continue; // the push reports it
            };
            for tag in &img.tags {
                let current = match registry.manifest_digest(&repo, tag) {
                    Ok(c) => c,
                    // The registry refuses the repository's name (nested paths): pushing the
                    // image fails the same way and says so; nothing can move this tag.
                    Err(e) if e.status() == Some(400) => continue,
                    Err(source) => {
                        return Err(HistoryError::Registry {
                            repository: repo.clone(),
                            source,
                        })
                    }
                };
                let Some(current) = current.filter(|c| c != &img.digest) else {
                    continue;
                };
                if let Some(setter) = self.setter(&repo, tag, &current) {
                    if setter.bundle_id != ours.bundle_id && setter.freshness > ours.freshness {
                        found.push(Rollback {
                            tag: format!("{repo}:{tag}"),
                            current,
                            set_by: setter.bundle_id.clone(),
                            set_by_freshness: setter.freshness,
                            older: img.digest.clone(),
                        });
                    }
                }
            }
        }
        Ok(found)
    }
}

fn read_record(registry: &Registry, repo: &str, tag: &str) -> Result<BundleRecord, HistoryError> {
    let malformed = |reason: String| HistoryError::Malformed {
        repository: repo.to_string(),
        tag: tag.to_string(),
        reason,
    };
    let reg_err = |source| HistoryError::Registry {
        repository: repo.to_string(),
        source,
    };
    #[derive(Deserialize)]
    struct Layer {
        digest: Digest,
        size: u64,
        #[serde(rename = "mediaType")]
        media_type: String,
    }
    #[derive(Deserialize)]
    struct Manifest {
        layers: Vec<Layer>,
    }
    let m = registry.get_manifest(repo, tag).map_err(reg_err)?;
    let m: Manifest = serde_json::from_slice(&m.bytes).map_err(|e| malformed(e.to_string()))?;
    let layer = match &m.layers[..] {
        [l] if l.media_type == RECORD_MEDIA_TYPE && l.size <= 64 << 20 => l,
        _ => return Err(malformed(format!("expected one {RECORD_MEDIA_TYPE} layer"))),
    };
    let mut bytes = Vec::new();
    registry
        .get_blob(repo, &layer.digest, Some(layer.size))
        .map_err(reg_err)?
        .read_to_end(&mut bytes)
        .map_err(|e| malformed(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| malformed(e.to_string()))
}

/// Stores `record` at the target (tag `bundle-<id>`), keeping the tags an earlier push of the
/// same bundle recorded.
pub fn write_record(
    registry: &Registry,
    naming: &Naming,
    history: &SiteHistory,
    mut record: BundleRecord,
) -> Result<(), HistoryError> {
    let repo = state_repository(naming);
    let reg_err = |source| HistoryError::Registry {
        repository: repo.clone(),
        source,
    };
    if let Some(earlier) = history.bundle(&record.bundle_id) {
        for t in &earlier.tags {
            if !record
                .tags
                .iter()
                .any(|r| r.repository == t.repository && r.tag == t.tag)
            {
                record.tags.push(t.clone());
            }
        }
    }
    record
        .tags
        .sort_by(|a, b| (&a.repository, &a.tag).cmp(&(&b.repository, &b.tag)));
    let body = serde_json::to_vec(&record).expect("a record serialises");
    let body_digest = Digest::sha256_of(&body);
    let empty = Digest::sha256_of(EMPTY_JSON);
    for (digest, bytes) in [(&empty, EMPTY_JSON), (&body_digest, &body[..])] {
        if registry
            .blob_exists(&repo, digest)
            .map_err(reg_err)?
            .is_none()
        {
            registry
                .push_blob(&repo, digest, bytes.len() as u64, &bytes)
                .map_err(reg_err)?;
        }
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MediaType::OciManifest.as_str(),
        "artifactType": RECORD_MEDIA_TYPE,
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": empty, "size": EMPTY_JSON.len()},
        "layers": [{"mediaType": RECORD_MEDIA_TYPE, "digest": body_digest, "size": body.len()}],
    });
    let bytes = serde_json::to_vec(&manifest).expect("a manifest serialises");
    let tag = format!("{RECORD_TAG_PREFIX}{}", record.bundle_id);
    registry
        .put_manifest(&repo, &tag, &MediaType::OciManifest, &bytes)
        .map_err(reg_err)?;
    Ok(())
}
