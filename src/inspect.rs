//! `ferry inspect`: what a bundle holds and how well it deduplicates. Pure functions of the
//! root, plus the volume files' sizes.

use std::fmt::Write as _;

use serde::Serialize;

use crate::bundle::{Bundle, BundleError, Root, Unverified};
use crate::model::Digest;

/// One image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageInfo {
    /// As written in the list.
    pub source: String,
    /// Upstream name.
    pub name: String,
    /// Top manifest digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: crate::model::MediaType,
    /// Platforms carried.
    pub platforms: Vec<String>,
    /// Platforms left out.
    pub platforms_absent: Vec<String>,
    /// Sum of the sizes of the blobs it uses.
    pub size: u64,
}

/// One volume.
#[derive(Debug, Clone, Serialize)]
pub struct VolumeInfo {
    /// The file.
    pub path: String,
    /// Its number.
    pub index: u32,
    /// Data bytes.
    pub data_size: u64,
    /// File size.
    pub file_size: u64,
}

/// The dedup figures.
#[derive(Debug, Clone, Serialize)]
pub struct DedupInfo {
    /// Sum over images of the bytes of the blobs each uses.
    pub sum_of_image_sizes: u64,
    /// Bytes of unique blobs.
    pub unique_blob_bytes: u64,
    /// Bytes that chunk-level dedup saved beyond blob dedup.
    pub chunk_dedup_saved_bytes: u64,
    /// Bytes of stored (compressed where it paid) chunk data.
    pub stored_bytes: u64,
    /// Total size of the volume files present.
    pub bundle_bytes: u64,
}

/// Everything `inspect` shows.
#[derive(Debug, Clone, Serialize)]
pub struct BundleInfo {
    /// Bundle id.
    pub bundle_id: String,
    /// Format version.
    pub format: String,
    /// Packing time.
    pub created: String,
    /// Writer.
    pub tool: String,
    /// Volume count of the set.
    pub volume_count: usize,
    /// Images.
    pub images: Vec<ImageInfo>,
    /// Volumes present.
    pub volumes: Vec<VolumeInfo>,
    /// Blobs.
    pub blobs: usize,
    /// Stored chunks.
    pub chunks: usize,
    /// Size of the root (`root.json`), which every volume carries a copy of.
    pub root_bytes: u64,
    /// Dedup figures.
    pub dedup: DedupInfo,
    /// Whether the root's signature was checked: never by `ferry inspect`, which only reads
    /// (`ferry verify` checks it).
    pub signature_checked: bool,
    /// Files of the bundle directory that are not ferry volumes, skipped.
    pub skipped: Vec<crate::bundle::SkippedFile>,
}

/// Describes a bundle whose signature was not checked (this only reads): its root is parsed
/// for display, after its volume set was checked (a bundle whose root does not parse, or whose
/// volumes do not match it, is an error).
pub fn describe(b: &Bundle<Unverified>) -> Result<BundleInfo, BundleError> {
    let root = b.unverified_root()?;
    Ok(describe_root(&root, b))
}

/// Sums sizes that come from a bundle without overflowing (a hostile root's sizes saturate).
fn total(sizes: impl Iterator<Item = u64>) -> u64 {
    sizes.fold(0, u64::saturating_add)
}

fn describe_root<S>(root: &Root, b: &Bundle<S>) -> BundleInfo {
    let images: Vec<ImageInfo> = root
        .images
        .iter()
        .map(|img| ImageInfo {
            source: img.source.clone(),
            name: img.name.clone(),
            digest: img.digest.clone(),
            media_type: img.media_type.clone(),
            platforms: img
                .platforms
                .iter()
                .filter(|p| p.present)
                .map(|p| p.platform.clone())
                .collect(),
            platforms_absent: img
                .platforms
                .iter()
                .filter(|p| !p.present)
                .map(|p| p.platform.clone())
                .collect(),
            size: root
                .image_graph(img)
                .map(|g| total(g.blobs.iter().map(|b| b.size)))
                .unwrap_or(0),
        })
        .collect();
    let volumes: Vec<VolumeInfo> = b
        .volumes()
        .map(|v| VolumeInfo {
            path: v.path.display().to_string(),
            index: v.index,
            data_size: v.data_size,
            file_size: std::fs::metadata(&v.path).map(|m| m.len()).unwrap_or(0),
        })
        .collect();
    // A chunk number beyond the list counts nothing (the root's checks refuse such a blob,
    // but this only displays, and never indexes with a number from the bundle).
    let referenced = total(
        root.blobs
            .iter()
            .flat_map(|b| b.chunks.iter())
            .filter_map(|&c| root.chunks.get(c as usize))
            .map(|c| c.len()),
    );
    let unique_chunks = total(root.chunks.iter().map(|c| c.len()));
    BundleInfo {
        bundle_id: root.bundle_id.clone(),
        format: root.format.clone(),
        created: root.created.clone(),
        tool: root.tool.clone(),
        volume_count: root.volumes.len(),
        dedup: DedupInfo {
            sum_of_image_sizes: total(images.iter().map(|i| i.size)),
            unique_blob_bytes: total(root.blobs.iter().map(|b| b.size)),
            chunk_dedup_saved_bytes: referenced.saturating_sub(unique_chunks),
            stored_bytes: total(root.chunks.iter().map(|c| c.stored_len())),
            bundle_bytes: total(volumes.iter().map(|v| v.file_size)),
        },
        images,
        volumes,
        blobs: root.blobs.len(),
        chunks: root.chunks.len(),
        root_bytes: b.root_bytes().len() as u64,
        signature_checked: false,
        skipped: b.skipped().to_vec(),
    }
}

/// Renders the description for a terminal.
pub fn render(i: &BundleInfo) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "bundle {}  format {}  created {}  by {}",
        i.bundle_id, i.format, i.created, i.tool
    );
    if !i.signature_checked {
        let _ = writeln!(
            s,
            "signature NOT checked: what follows is unverified; check it with \
             `ferry verify BUNDLE --trusted-key KEY.pub`"
        );
    }
    let _ = writeln!(s, "\nimages ({}):", i.images.len());
    for img in &i.images {
        let _ = writeln!(s, "  {}  {}", img.name, crate::units::size(img.size));
        let _ = writeln!(s, "    {}", img.digest);
        if img.source != img.name {
            let _ = writeln!(s, "    from {}", img.source);
        }
        if !img.platforms.is_empty() {
            let _ = writeln!(s, "    platforms: {}", img.platforms.join(", "));
        }
        if !img.platforms_absent.is_empty() {
            let _ = writeln!(s, "    left out:  {}", img.platforms_absent.join(", "));
        }
    }
    let _ = writeln!(s, "\nvolumes ({} of {}):", i.volumes.len(), i.volume_count);
    for v in &i.volumes {
        let _ = writeln!(
            s,
            "  {:>3}  {}  {}",
            v.index,
            crate::units::size(v.file_size),
            v.path
        );
    }
    let d = &i.dedup;
    let _ = writeln!(s, "\n{} blobs, {} chunks", i.blobs, i.chunks);
    let _ = writeln!(
        s,
        "sum of image sizes   {:>12}",
        crate::units::size(d.sum_of_image_sizes)
    );
    let _ = writeln!(
        s,
        "unique blob bytes    {:>12}",
        crate::units::size(d.unique_blob_bytes)
    );
    let _ = writeln!(
        s,
        "saved by chunk dedup {:>12}",
        crate::units::size(d.chunk_dedup_saved_bytes)
    );
    let _ = writeln!(
        s,
        "stored chunk bytes   {:>12}",
        crate::units::size(d.stored_bytes)
    );
    let _ = writeln!(
        s,
        "bundle bytes         {:>12}",
        crate::units::size(d.bundle_bytes)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::root::Root;
    use crate::bundle::volume::{VolumeLabel, VolumeWriter};
    use crate::model::Digest;

    /// `ferry inspect` of a root with an `in_base` blob naming a chunk that does not exist (and
    /// no base) is an error, not an index out of bounds.
    #[test]
    fn inspect_of_an_in_base_blob_with_a_bad_chunk_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let id = "0123456789abcdef0123456789abcdef";
        let mut v = serde_json::to_value(Root::empty_for_tests(id, None)).unwrap();
        v["blobs"] = serde_json::json!([{
            "digest": Digest::sha256_of(b"x").to_string(), "size": 1,
            "media_type": "application/octet-stream",
            "encoding": "plain", "chunks": [7], "in_base": true
        }]);
        let root = serde_json::to_vec(&v).unwrap();
        let label = VolumeLabel {
            format: v["format"].as_str().unwrap().into(),
            bundle_id: id.into(),
            volume: 1,
            volume_count: 1,
            root_digest: Digest::sha256_of(&root),
        };
        let w = VolumeWriter::create(&dir.path().join("v.tar")).unwrap();
        w.finish(&label, &root, "untrusted comment: x\nAAAA\n", 0)
            .unwrap();
        let b = Bundle::open(dir.path()).unwrap();
        let e = describe(&b).unwrap_err();
        assert!(crate::error_chain(&e).contains("in_base"), "{e:?}");
    }
}
