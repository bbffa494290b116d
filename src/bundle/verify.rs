//! `ferry verify`: checking a bundle's content: every manifest, blob and chunk against its digest, streaming,
//! naming the volume, offset, chunk, blob and images of any damage.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use serde::Serialize;

use super::reader::{Bundle, Verified};
use super::root::BlobEntry;
use super::volume::DATA_OFFSET;
use super::BundleError;
use crate::model::Digest;
use crate::progress::Progress;

/// One piece of damage.
#[derive(Debug, Clone, Serialize)]
pub struct Damage {
    /// What is wrong, in words.
    pub message: String,
    /// The volume file, when the damage is in one.
    pub volume: Option<PathBuf>,
    /// Offset in the volume file.
    pub offset: Option<u64>,
    /// The chunk.
    pub chunk: Option<Digest>,
    /// The blob.
    pub blob: Option<Digest>,
    /// Images that use the damaged content.
    pub images: Vec<String>,
}

/// The outcome of `ferry verify`.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The bundle id.
    pub bundle_id: String,
    /// Volume files checked.
    pub volumes: Vec<PathBuf>,
    /// Manifests checked.
    pub manifests_checked: usize,
    /// Blobs checked (0 when checking a single volume).
    pub blobs_checked: usize,
    /// Chunks checked one by one.
    pub chunks_checked: usize,
    /// `gzip-tar` layers (format 1.2) among the blobs checked: the chunks they carry are
    /// checked here; the layer itself is rebuilt from base layers and checked at push.
    #[serde(default)]
    pub layers_checked_at_push: usize,
    /// Uncompressed bytes hashed.
    pub bytes_checked: u64,
    /// Blobs an incremental bundle leaves to the site (`in_base`): not carried, so not
    /// checked here; `ferry push` checks that the target has them before pushing anything.
    pub blobs_in_base: usize,
    /// The base the bundle was packed against, in words (`inventory sha256:… of HOST prefix
    /// "mirror" taken …`), for an incremental bundle.
    pub base: Vec<String>,
    /// Everything found wrong.
    pub damage: Vec<Damage>,
    /// Files of the bundle directory that are not ferry volumes, skipped.
    pub skipped: Vec<super::reader::SkippedFile>,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.damage.is_empty()
    }
}

impl Damage {
    /// Damage to one image that lies in no volume (a manifest or a blob the root lacks).
    fn in_image(message: String, blob: Option<&Digest>, image: &str) -> Self {
        Damage {
            message,
            volume: None,
            offset: None,
            chunk: None,
            blob: blob.cloned(),
            images: vec![image.to_string()],
        }
    }
}

fn damage_from(e: &BundleError, blob: Option<&Digest>, images: Vec<String>) -> Damage {
    let (volume, offset, chunk) = match e {
        BundleError::ChunkDamaged {
            path,
            offset,
            chunk,
            ..
        } => (Some(path.clone()), Some(*offset), Some(chunk.clone())),
        BundleError::Io { path, .. } => (Some(path.clone()), None, None),
        _ => (None, None, None),
    };
    Damage {
        message: crate::error_chain(e),
        volume,
        offset,
        chunk,
        blob: blob.cloned(),
        images,
    }
}

/// Checks everything in a verified bundle. With every volume present, each blob is rebuilt and
/// hashed; with only some volumes (checking one stick), each chunk in them is checked alone.
pub fn verify(bundle: &Bundle<Verified>, jobs: usize, progress: &dyn Progress) -> VerifyReport {
    let root = bundle.root();
    let users = root.blob_users();
    let mut report = VerifyReport {
        bundle_id: root.bundle_id.clone(),
        volumes: bundle.volumes().map(|v| v.path.clone()).collect(),
        manifests_checked: 0,
        blobs_checked: 0,
        chunks_checked: 0,
        layers_checked_at_push: 0,
        bytes_checked: 0,
        blobs_in_base: root.blobs.iter().filter(|b| b.in_base).count(),
        base: root
            .base
            .iter()
            .flat_map(|b| {
                let bundle = (!b.is_inventory()).then(|| format!("base bundle {}", b.bundle_id));
                b.inventories.iter().map(|i| i.to_string()).chain(bundle)
            })
            .collect(),
        damage: Vec::new(),
        skipped: bundle.skipped().to_vec(),
    };
    // Manifests (each checked against its digest as the graph reads it), and that every
    // image names only what the bundle holds.
    let blobs = root.blob_index();
    for img in &root.images {
        let graph = match root.image_graph(img) {
            Ok(g) => g,
            Err(e) => {
                report.manifests_checked += 1;
                let message = format!("image {}: {}", img.name, crate::error_chain(&e));
                report
                    .damage
                    .push(Damage::in_image(message, None, &img.name));
                continue;
            }
        };
        report.manifests_checked += graph.nodes.len();
        for b in graph
            .blobs
            .iter()
            .filter(|b| !blobs.contains_key(&b.digest))
        {
            let message = format!(
                "image {} needs blob {}, which the bundle does not hold",
                img.name, b.digest
            );
            report
                .damage
                .push(Damage::in_image(message, Some(&b.digest), &img.name));
        }
    }
    if bundle.is_complete() {
        check_blobs(bundle, jobs, progress, &users, &mut report);
    } else {
        check_chunks(bundle, jobs, progress, &users, &mut report);
    }
    report
}

fn check_blobs(
    bundle: &Bundle<Verified>,
    jobs: usize,
    progress: &dyn Progress,
    users: &BTreeMap<Digest, Vec<String>>,
    report: &mut VerifyReport,
) {
    let root = bundle.root();
    let mut blobs: Vec<&BlobEntry> = root.blobs.iter().filter(|b| !b.in_base).collect();
    // Largest first keeps every core busy to the end.
    blobs.sort_by_key(|b| std::cmp::Reverse(b.size));
    progress.start(
        "verify",
        Some(blobs.iter().fold(0, |t: u64, b| t.saturating_add(b.size))),
    );
    let damage = Mutex::new(Vec::new());
    let bytes = std::sync::atomic::AtomicU64::new(0);
    let layers = std::sync::atomic::AtomicUsize::new(0);
    crate::parallel::map(&blobs, jobs, |blob| {
        let images = users.get(&blob.digest).cloned().unwrap_or_default();
        if let Some(layer) = &blob.layer {
            // A gzip-tar layer is rebuilt from base layers only the target holds: check every
            // chunk it carries (reconstruction data and new tar pieces); push checks the layer.
            layers.fetch_add(1, Ordering::Relaxed);
            let mut files = BTreeMap::new();
            let carried = blob
                .chunks
                .iter()
                .copied()
                .chain(layer.pieces.iter().filter_map(|p| match p {
                    super::TarPiece::Chunk { chunk } => Some(*chunk),
                    super::TarPiece::Base { .. } => None,
                }));
            for ci in carried {
                match bundle.read_chunk(&mut files, ci) {
                    Ok(data) => {
                        progress.advance(0);
                        bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
                    }
                    Err(e) => damage.lock().unwrap().push(Damage {
                        message: format!(
                            "blob {} (used by {}): {}",
                            blob.digest,
                            images.join(", "),
                            crate::error_chain(&e)
                        ),
                        ..damage_from(&e, Some(&blob.digest), images.clone())
                    }),
                }
            }
            return;
        }
        let result = (|| -> Result<(), BundleError> {
            let mut r = bundle.blob_reader(&blob.digest, false)?;
            let mut h = blob.digest.hasher();
            // Most blobs of a large set are configs and small layers: a buffer of the blob's
            // size, not a megabyte to allocate and clear for each.
            let mut buf = vec![0u8; blob.size.clamp(1, 1 << 20) as usize];
            loop {
                let n = r.read(&mut buf).map_err(|source| BundleError::Read {
                    blob: blob.digest.clone(),
                    source,
                })?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
                progress.advance(n as u64);
                bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            let got = h.finish();
            if got != blob.digest {
                return Err(BundleError::BlobMismatch {
                    digest: blob.digest.clone(),
                    got,
                });
            }
            Ok(())
        })();
        if let Err(e) = result {
            let images = users.get(&blob.digest).cloned().unwrap_or_default();
            // Find which chunk is bad, so the message names volume and offset.
            let mut files = BTreeMap::new();
            let mut found = false;
            for &ci in &blob.chunks {
                if let Err(e) = bundle.read_chunk(&mut files, ci) {
                    damage.lock().unwrap().push(Damage {
                        message: format!(
                            "blob {} (used by {}): {}",
                            blob.digest,
                            images.join(", "),
                            crate::error_chain(&e)
                        ),
                        ..damage_from(&e, Some(&blob.digest), images.clone())
                    });
                    found = true;
                }
            }
            if !found {
                damage.lock().unwrap().push(Damage {
                    message: format!("{} (used by {})", crate::error_chain(&e), images.join(", ")),
                    ..damage_from(&e, Some(&blob.digest), images.clone())
                });
            }
        }
    });
    progress.finish();
    report.blobs_checked = blobs.len();
    report.layers_checked_at_push = layers.into_inner();
    report.bytes_checked = bytes.into_inner();
    report.damage.extend(damage.into_inner().unwrap());
}

fn check_chunks(
    bundle: &Bundle<Verified>,
    jobs: usize,
    progress: &dyn Progress,
    users: &BTreeMap<Digest, Vec<String>>,
    report: &mut VerifyReport,
) {
    let root = bundle.root();
    let present: Vec<u32> = bundle.volumes().map(|v| v.index).collect();
    let mut chunk_blob: BTreeMap<u32, &Digest> = BTreeMap::new();
    for b in &root.blobs {
        for &c in &b.chunks {
            chunk_blob.entry(c).or_insert(&b.digest);
        }
    }
    let wanted: Vec<u32> = (0..root.chunks.len() as u32)
        .filter(|&i| present.contains(&root.chunks[i as usize].volume()))
        .collect();
    progress.start(
        "verify",
        Some(wanted.iter().fold(0, |t: u64, &i| {
            t.saturating_add(root.chunks[i as usize].len())
        })),
    );
    let damage = Mutex::new(Vec::new());
    let bytes = std::sync::atomic::AtomicU64::new(0);
    crate::parallel::map(&wanted, jobs, |&i| {
        let mut files = BTreeMap::new();
        match bundle.read_chunk(&mut files, i) {
            Ok(data) => {
                progress.advance(data.len() as u64);
                bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
            Err(e) => {
                let blob = chunk_blob.get(&i).copied();
                let images = blob.and_then(|b| users.get(b)).cloned().unwrap_or_default();
                let c = &root.chunks[i as usize];
                let mut d = damage_from(&e, blob, images);
                if d.offset.is_none() {
                    d.offset = Some(DATA_OFFSET + c.offset());
                }
                damage.lock().unwrap().push(d);
            }
        }
    });
    progress.finish();
    report.chunks_checked = wanted.len();
    report.bytes_checked = bytes.into_inner();
    let mut d = damage.into_inner().unwrap();
    d.sort_by_key(|x| x.offset);
    report.damage.extend(d);
}
