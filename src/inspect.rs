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
    /// Signatures, attestations, SBOMs and referrers attached to it or its index children.
    pub attached: Vec<AttachedInfo>,
}

/// One artifact attached to an image.
#[derive(Debug, Clone, Serialize)]
pub struct AttachedInfo {
    /// `sig`, `att`, `sbom` or `referrer`.
    pub kind: crate::bundle::root::AttachmentKind,
    /// The digest it is attached to (the image's, or an index child's).
    pub subject: Digest,
    /// Its name in the bundle (the image's repository, with its tag or digest).
    pub name: String,
    /// Its manifest digest.
    pub digest: Digest,
    /// For a referrer, its artifact type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

/// The release signatures a bundle carries for one release.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseSignatures {
    /// The release image's digest.
    pub release: Digest,
    /// How many signatures.
    pub count: usize,
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
    /// Images (attached artifacts are listed under their image).
    pub images: Vec<ImageInfo>,
    /// Release signatures carried, by release digest.
    pub release_signatures: Vec<ReleaseSignatures>,
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
    /// Blobs left to the site (`in_base`, packed with `--base`): not carried.
    pub blobs_in_base: usize,
    /// Their bytes.
    pub bytes_in_base: u64,
    /// The base the bundle was packed against, in words (empty for a bundle that is whole).
    pub base: Vec<String>,
    /// Every blob with how it is carried: its encoding (`plain`), or `in-base`.
    pub blob_encodings: Vec<BlobInfo>,
    /// Layers carried as changes (`gzip-tar` blobs).
    pub layers_as_changes: usize,
    /// Layers of an incremental bundle carried whole, counted by reason code.
    pub layers_whole: std::collections::BTreeMap<String, usize>,
    /// Whether the root's signature was checked: never by `ferry inspect`, which only reads
    /// (`ferry verify` checks it).
    pub signature_checked: bool,
    /// Files of the bundle directory that are not ferry volumes, skipped.
    pub skipped: Vec<crate::bundle::SkippedFile>,
}

/// One blob and how the bundle carries it.
#[derive(Debug, Clone, Serialize)]
pub struct BlobInfo {
    /// The blob.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// Its media type.
    pub media_type: crate::model::MediaType,
    /// How it is carried: its encoding's name (`plain`), or `in-base` when the site has it.
    pub encoding: String,
    /// For an in-base blob: the site's image the inventory found it in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_image: Option<String>,
    /// For a layer of an incremental bundle carried whole: why it is not carried as changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whole: Option<crate::bundle::WholeLayer>,
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
    let attached_to = |img: &crate::bundle::root::ImageEntry| -> Vec<AttachedInfo> {
        let repo = |name: &str| {
            crate::model::Reference::parse(name)
                .map(|r| r.name())
                .unwrap_or_default()
        };
        let own = repo(&img.name);
        root.images
            .iter()
            .filter_map(|a| Some((a, a.attached.as_ref()?)))
            .filter(|(a, at)| {
                repo(&a.name) == own
                    && (at.subject == img.digest
                        || img.platforms.iter().any(|p| p.digest == at.subject))
            })
            .map(|(a, at)| AttachedInfo {
                kind: at.kind,
                subject: at.subject.clone(),
                name: a.name.clone(),
                digest: a.digest.clone(),
                artifact_type: at.artifact_type.clone(),
            })
            .collect()
    };
    let mut release_signatures: Vec<ReleaseSignatures> = Vec::new();
    for sig in &root.release_signatures {
        match release_signatures
            .iter_mut()
            .find(|r| r.release == sig.release)
        {
            Some(r) => r.count += 1,
            None => release_signatures.push(ReleaseSignatures {
                release: sig.release.clone(),
                count: 1,
            }),
        }
    }
    let images: Vec<ImageInfo> = root
        .images
        .iter()
        .filter(|img| img.attached.is_none())
        .map(|img| ImageInfo {
            attached: attached_to(img),
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
        release_signatures,
        volumes,
        blobs: root.blobs.len(),
        chunks: root.chunks.len(),
        blobs_in_base: root.blobs.iter().filter(|b| b.in_base).count(),
        bytes_in_base: total(root.blobs.iter().filter(|b| b.in_base).map(|b| b.size)),
        base: root
            .base
            .iter()
            .flat_map(|b| {
                let bundle = (!b.is_inventory()).then(|| format!("base bundle {}", b.bundle_id));
                b.inventories.iter().map(|i| i.to_string()).chain(bundle)
            })
            .collect(),
        blob_encodings: root
            .blobs
            .iter()
            .map(|b| BlobInfo {
                digest: b.digest.clone(),
                size: b.size,
                media_type: b.media_type.clone(),
                encoding: if b.in_base {
                    "in-base".to_string()
                } else {
                    serde_json::to_value(b.encoding)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                },
                base_image: b.base.as_ref().map(|x| x.image.clone()),
                whole: b.whole.as_deref().cloned(),
            })
            .collect(),
        layers_as_changes: root.blobs.iter().filter(|b| b.layer.is_some()).count(),
        layers_whole: root.blobs.iter().filter_map(|b| b.whole.as_ref()).fold(
            Default::default(),
            |mut m, w| {
                *m.entry(w.reason.to_string()).or_default() += 1;
                m
            },
        ),
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
        if let Some(from) = img
            .source
            .strip_suffix(crate::pack::catalog::FILTERED_SUFFIX)
        {
            let _ = writeln!(
                s,
                "    rebuilt operator catalog: filtered by ferry from {from}; its digest differs \
                 from upstream"
            );
        } else if img.source != img.name {
            let _ = writeln!(s, "    from {}", img.source);
        }
        if !img.platforms.is_empty() {
            let _ = writeln!(s, "    platforms: {}", img.platforms.join(", "));
        }
        if !img.platforms_absent.is_empty() {
            let _ = writeln!(s, "    left out:  {}", img.platforms_absent.join(", "));
        }
        for a in &img.attached {
            let of = if a.subject == img.digest {
                String::new()
            } else {
                format!(" of {}", a.subject)
            };
            let what = a.artifact_type.as_deref().unwrap_or("");
            let _ = writeln!(s, "    {}{of}: {} {what}", a.kind.word(), a.digest);
        }
    }
    for r in &i.release_signatures {
        let _ = writeln!(s, "release signatures of {}: {}", r.release, r.count);
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
    if !i.base.is_empty() {
        let _ = writeln!(
            s,
            "\nincremental: {} blobs ({}) left to the site, packed against {}",
            i.blobs_in_base,
            crate::units::size(i.bytes_in_base),
            i.base.join("; ")
        );
        let whole: Vec<String> = i
            .layers_whole
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(
            s,
            "layers carried as changes: {}; carried whole: {}{}",
            i.layers_as_changes,
            i.layers_whole.values().sum::<usize>(),
            if whole.is_empty() {
                String::new()
            } else {
                format!(" ({}; why for each below)", whole.join(", "))
            }
        );
    }
    let _ = writeln!(s, "\nblobs and how each is carried:");
    for b in &i.blob_encodings {
        let _ = writeln!(
            s,
            "  {}  {:>10}  {}{}",
            b.digest,
            crate::units::size(b.size),
            b.encoding,
            b.base_image
                .as_deref()
                .map(|img| format!(" (at the site in {img})"))
                .unwrap_or_default()
        );
        if let Some(w) = &b.whole {
            let _ = writeln!(s, "      whole, {w}");
        }
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
