//! `ferry inventory`: what a site holds — the repositories under a mirror prefix, their tags,
//! manifests and blobs — or what given bundles carried, in a small file that goes back to the
//! connected side, where `ferry pack --base FILE` leaves out every blob it lists.
//!
//! The file is zstd-compressed JSON ([`Inventory`]); its identity is the SHA-256 of the JSON
//! (uncompressed), which an incremental bundle's root names (SPEC.md §8).

mod bundles;
mod file;
mod index;
mod take;

pub use bundles::of_bundles;
pub use file::{read, write, MAX_INVENTORY_LEN};
pub use index::{BaseIndex, BaseLayer, BaseSite};
pub use take::{take, TakeOptions};

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::bundle::root::InventoryRef;
use crate::model::{Digest, MediaType};

/// The `format` of an inventory this ferry writes and reads.
pub const INVENTORY_FORMAT: &str = "ferry-inventory/1";

/// Why an inventory could not be taken, written or read.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The registry refused or failed.
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    /// The registry lists no repositories and the site has no ferry push history to fall back
    /// on.
    #[error("{registry} offers no repository catalog (GET /v2/_catalog) to these credentials, and {state} holds no ferry push history to list the mirror from: give credentials that may read the catalog (Harbor: a system robot or admin; Quay: a superuser token), or push once with this ferry so that the history exists")]
    NoListing {
        /// The registry.
        registry: String,
        /// The history repository looked in.
        state: String,
    },
    /// The push history could not be read.
    #[error(transparent)]
    History(#[from] crate::push::history::HistoryError),
    /// A manifest at the site cannot be walked.
    #[error("{repository}: manifest {reference}: {reason}")]
    Manifest {
        /// The mirror repository.
        repository: String,
        /// The tag or digest.
        reference: String,
        /// What is wrong.
        reason: String,
    },
    /// A bundle's image cannot be described.
    #[error("bundle {bundle}: {reason}")]
    Bundle {
        /// The bundle id.
        bundle: String,
        /// What is wrong.
        reason: String,
    },
    /// The mirror naming is unusable.
    #[error(transparent)]
    Naming(#[from] crate::naming::NamingError),
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The file is not an inventory this ferry reads.
    #[error("{path} is not a ferry inventory: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Where an inventory's listing came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Listing {
    /// The registry's catalog (`GET /v2/_catalog`).
    Catalog,
    /// The tags ferry pushes recorded in `PREFIX/ferry-state` (a registry without a catalog).
    History,
    /// The roots of bundles (`inventory --bundle`).
    Bundles,
}

/// What an inventory describes and how it was listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventorySource {
    /// How the repositories were found.
    pub listing: Listing,
    /// The registry (`HOST[:PORT]`), for an inventory of a registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// The mirror prefix listed under, for an inventory of a registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Whether the mirror names are flattened (`--flatten`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flattened: bool,
    /// The bundle ids, for an inventory of bundles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bundles: Vec<String>,
}

/// One repository: the upstream name it stands for, its tags and the manifests listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryRepository {
    /// The upstream repository (`quay.io/org/app`).
    pub upstream: String,
    /// The repository at the site (`mirror/quay.io/org/app`); absent for bundles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<String>,
    /// Tag → top manifest digest.
    pub tags: BTreeMap<String, Digest>,
    /// Top manifests held without a tag (pushed by digest; bundles only: a registry does not
    /// list them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub untagged: Vec<Digest>,
}

/// One manifest and what it refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryManifest {
    /// Its digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: MediaType,
    /// An index's children.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Digest>,
    /// An image's config blob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Digest>,
    /// An image's layers, in order (foreign layers left out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<Digest>,
}

/// One blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryBlob {
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Its media type, as the first manifest listing it names it.
    pub media_type: MediaType,
}

/// What a site (or a set of bundles) holds, and where and when that was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// [`INVENTORY_FORMAT`].
    pub format: String,
    /// When it was taken, RFC 3339 UTC.
    pub taken: String,
    /// The program that took it.
    pub tool: String,
    /// What it describes.
    pub source: InventorySource,
    /// Repositories, by upstream name.
    pub repositories: Vec<InventoryRepository>,
    /// Manifests, by digest.
    pub manifests: Vec<InventoryManifest>,
    /// Blobs, by digest.
    pub blobs: Vec<InventoryBlob>,
    /// What was passed over, and why (a repository not named by the mirror mapping, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Inventory {
    /// An empty inventory of `source`, taken at `taken` (seconds since the epoch).
    pub fn new(source: InventorySource, taken: u64) -> Inventory {
        Inventory {
            format: INVENTORY_FORMAT.into(),
            taken: crate::bundle::freshness::rfc3339(taken),
            tool: format!("ferry {}", env!("CARGO_PKG_VERSION")),
            source,
            repositories: Vec::new(),
            manifests: Vec::new(),
            blobs: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// The canonical JSON (compact, a final newline), whose SHA-256 names the inventory.
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).expect("an inventory serialises");
        v.push(b'\n');
        v
    }

    /// The inventory's digest: SHA-256 of [`Inventory::to_json`].
    pub fn digest(&self) -> Digest {
        Digest::sha256_of(&self.to_json())
    }

    /// How a bundle's root names this inventory.
    pub fn reference(&self) -> InventoryRef {
        InventoryRef {
            digest: self.digest(),
            registry: self.source.registry.clone(),
            prefix: self.source.prefix.clone(),
            bundles: self.source.bundles.clone(),
            taken: self.taken.clone(),
        }
    }

    /// Sorts every list and drops duplicates, so that the same content gives the same bytes.
    pub fn normalise(&mut self) {
        self.repositories
            .sort_by(|a, b| a.upstream.cmp(&b.upstream));
        self.repositories.dedup_by(|a, b| {
            if a.upstream == b.upstream && a.mirror == b.mirror {
                b.tags.append(&mut a.tags);
                b.untagged.append(&mut a.untagged);
                true
            } else {
                false
            }
        });
        for r in &mut self.repositories {
            r.untagged.sort();
            r.untagged.dedup();
            let tagged: Vec<&Digest> = r.tags.values().collect();
            let keep: Vec<Digest> = r
                .untagged
                .iter()
                .filter(|d| !tagged.contains(d))
                .cloned()
                .collect();
            r.untagged = keep;
        }
        self.manifests.sort_by(|a, b| a.digest.cmp(&b.digest));
        self.manifests.dedup_by(|a, b| a.digest == b.digest);
        self.blobs.sort_by(|a, b| a.digest.cmp(&b.digest));
        self.blobs.dedup_by(|a, b| a.digest == b.digest);
    }

    /// Total bytes of the blobs listed.
    pub fn blob_bytes(&self) -> u64 {
        self.blobs.iter().map(|b| b.size).sum()
    }

    /// Number of tags over all repositories.
    pub fn tag_count(&self) -> usize {
        self.repositories.iter().map(|r| r.tags.len()).sum()
    }

    /// Where it was taken, in words: `registry HOST prefix "P"` or `bundles ID, ID`.
    pub fn describe(&self) -> String {
        match &self.source.registry {
            Some(r) => format!(
                "registry {r} prefix {:?}",
                self.source.prefix.as_deref().unwrap_or("")
            ),
            None => format!("bundles {}", self.source.bundles.join(", ")),
        }
    }
}
