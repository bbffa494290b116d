//! The `base` of an incremental bundle's root (bundle-format/SPEC.md §8) and the `base` of a
//! blob the bundle leaves to the site (§4.3): an earlier bundle, or (format 1.2) inventories
//! of what a site held.

use serde::{Deserialize, Serialize};

use crate::model::Digest;

/// The base this bundle is incremental on, if any: an earlier bundle (reserved since 1.0) or,
/// from format 1.2, inventories of what a site holds (SPEC.md §8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseRef {
    /// The base's id: a base bundle's id, or for inventories the first 32 hex digits of
    /// `root_digest` (so that a 1.1 reader refuses the bundle naming it).
    pub bundle_id: String,
    /// The digest of the base bundle's root.json, or for inventories the SHA-256 of their
    /// digests, one per line in order.
    pub root_digest: Digest,
    /// 1.2: the inventories the bundle was packed against, in `--base` order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inventories: Vec<InventoryRef>,
}

impl BaseRef {
    /// The base naming `inventories` (at least one).
    pub fn of_inventories(inventories: Vec<InventoryRef>) -> BaseRef {
        let mut lines = String::new();
        for i in &inventories {
            lines.push_str(&i.digest.to_string());
            lines.push('\n');
        }
        let root_digest = Digest::sha256_of(lines.as_bytes());
        BaseRef {
            bundle_id: root_digest.hex()[..32].to_string(),
            root_digest,
            inventories,
        }
    }

    /// Whether the base is inventories of a site (1.2), which a push checks against its
    /// target, rather than a base bundle.
    pub fn is_inventory(&self) -> bool {
        !self.inventories.is_empty()
    }
}

/// One inventory an incremental bundle was packed against: what a site (or a set of bundles)
/// held, and where and when that was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryRef {
    /// The SHA-256 of the inventory's JSON (uncompressed).
    pub digest: Digest,
    /// The registry it lists (`HOST[:PORT]`); absent for an inventory of bundles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// The mirror prefix it lists under; absent for an inventory of bundles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// The ids of the bundles it describes; empty for an inventory of a registry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bundles: Vec<String>,
    /// When it was taken, RFC 3339 UTC.
    pub taken: String,
}

impl std::fmt::Display for InventoryRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.registry, &self.prefix) {
            (Some(r), p) => write!(
                f,
                "inventory {} of {r} prefix {:?} taken {}",
                self.digest,
                p.as_deref().unwrap_or(""),
                self.taken
            ),
            _ => write!(
                f,
                "inventory {} of bundles {} taken {}",
                self.digest,
                self.bundles.join(", "),
                self.taken
            ),
        }
    }
}

/// Where the site has an `in_base` blob, as the inventory saw it (1.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobBase {
    /// Index into the root's `base.inventories`.
    pub inventory: u32,
    /// An upstream image the inventory lists with this blob (`quay.io/org/app:1.0`, or
    /// `…@sha256:…` when untagged); the site holds it at that image's mirror repository.
    pub image: String,
}
