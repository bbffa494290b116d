//! The plan's fingerprint (what a resumed pack must match) and the root's size bound that
//! volumes reserve room for.

use super::resolve::Resolved;
use super::{PackOptions, PlannedBlob};
use crate::bundle::root::ManifestEntry;
use crate::chunk::ChunkParams;
use crate::model::Digest;

/// An upper bound of root.json's size for `blobs`, so that every volume can reserve room for it
/// before the root is known.
pub(super) fn root_bound(
    manifests: &[ManifestEntry],
    images: usize,
    blobs: &[PlannedBlob],
    in_base: usize,
    params: &ChunkParams,
    volumes: u64,
) -> u64 {
    // Each chunk entry: digest (71) + four numbers (≤ 20 each) + compression + punctuation.
    const CHUNK_ENTRY: u64 = 71 + 4 * 21 + 8 + 10;
    // Each chunk index in a blob's list: up to 10 digits and a comma.
    const CHUNK_REF: u64 = 11;
    let chunks: u64 = blobs
        .iter()
        .map(|b| b.referenced.size / params.min as u64 + 1)
        .sum();
    let manifest_bytes: u64 = manifests.iter().map(|m| m.data.len() as u64 + 250).sum();
    4096 + manifest_bytes
        + images as u64 * 4096
        + blobs.len() as u64 * 400
        // An in-base entry also names its base image (a reference, at most ~400 bytes).
        + in_base as u64 * 800
        + chunks * (CHUNK_ENTRY + CHUNK_REF)
        + volumes * 64
}

/// The plan's fingerprint: images, blobs, chunking, volume cap, zstd level and base.
pub(super) fn plan_digest(
    resolved: &[Resolved],
    blobs: &[PlannedBlob],
    in_base: &[crate::bundle::root::BlobEntry],
    opts: &PackOptions,
    params: &ChunkParams,
    cap: Option<u64>,
) -> String {
    let mut h = Digest::sha256_of(b"").hasher();
    let mut line = |s: String| {
        h.update(s.as_bytes());
        h.update(b"\n");
    };
    line(format!(
        "ferry-plan 1 {} {} {} {:?} {}",
        params.min, params.avg, params.max, cap, opts.zstd_level
    ));
    for r in resolved {
        line(format!(
            "image {} {} {}",
            r.entry.source, r.entry.name, r.entry.digest
        ));
    }
    for b in blobs {
        line(format!(
            "blob {} {}",
            b.referenced.digest, b.referenced.size
        ));
    }
    if let Some(base) = opts.base.base_ref() {
        line(format!("base {}", base.root_digest));
        for b in in_base {
            line(format!("in-base {}", b.digest));
        }
    }
    h.finish().to_string()
}
