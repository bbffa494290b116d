//! The plan's fingerprint (what a resumed pack must match) and the root's size bound that
//! volumes reserve room for.

use super::resolve::Resolved;
use super::{PackError, PackOptions, PlannedBlob};
use crate::bundle::root::ManifestEntry;
use crate::bundle::writer::BundleWriter;
use crate::chunk::ChunkParams;
use crate::model::Digest;

/// An upper bound of root.json's size for `blobs`, so that every volume can reserve room for it
/// before the root is known.
// Each chunk entry: digest (71) + four numbers (≤ 20 each) + compression + punctuation.
const CHUNK_ENTRY: u64 = 71 + 4 * 21 + 8 + 10;
// Each chunk index in a blob's list: up to 10 digits and a comma.
const CHUNK_REF: u64 = 11;

/// What the root holds for the `gzip-tar` blobs stored so far, exactly for their entries (the
/// piece lists included) and bounded for their chunk entries: known only once the layers are
/// encoded, after the volumes' data cap was first set.
pub(super) fn gzip_tar_root_bytes<'a>(
    blobs: impl Iterator<Item = &'a crate::bundle::root::BlobEntry>,
) -> u64 {
    blobs
        .filter(|b| b.layer.is_some())
        .map(|b| {
            let entry = serde_json::to_vec(b).map_or(0, |v| v.len() as u64 + 1);
            let pieces = b.layer.as_ref().map_or(0, |l| l.pieces.len() as u64);
            entry + (b.chunks.len() as u64 + pieces) * (CHUNK_ENTRY + CHUNK_REF)
        })
        .sum()
}

/// The per-volume data cap for a volume size `v`: `v` less the room of a root whose size for
/// `vols` volumes is at most `bound(vols)`, with enough volumes for `data` bytes.
pub(super) fn data_cap(v: u64, data: u64, bound: impl Fn(u64) -> u64) -> u64 {
    let mut vols = 1u64;
    loop {
        let over = crate::bundle::volume::overhead(bound(vols), 1024);
        let cap = v.saturating_sub(over);
        let need = data.div_ceil(cap.max(1)) + 1;
        if need <= vols || vols > 1_000_000 {
            return cap;
        }
        vols = need;
    }
}

/// The `gzip-tar` blobs of a pack not yet stored: their entries with chunk indices at their
/// largest ([`crate::layerdelta::SpooledLayer::entry_bound`]) and their digests.
pub(super) struct Layers<'a> {
    pub spooled: &'a [crate::bundle::root::BlobEntry],
    pub digests: &'a std::collections::HashSet<Digest>,
}

/// Shrinks the writer's data cap by the room the `gzip-tar` blobs take in the root, those
/// stored by an earlier run of the pack and those of `layers` (their piece lists are known
/// only once the layers are encoded, after the cap was first set), so that the root still fits
/// beside the fullest volume's data. Called before any of `layers` is stored, so that only
/// volumes of an earlier run (packed with the same room reserved) hold data. `bound(plain,
/// vols)` is [`root_bound`] for the other blobs.
pub(super) fn reserve_for_layers(
    writer: &mut BundleWriter,
    blobs: &[PlannedBlob],
    layers: &Layers<'_>,
    v: u64,
    data: u64,
    chunk_max: u32,
    bound: impl Fn(&[PlannedBlob], u64) -> u64,
) -> Result<(), PackError> {
    let plain: Vec<PlannedBlob> = blobs
        .iter()
        .filter(|b| {
            !writer.is_gzip_tar(&b.referenced.digest)
                && !layers.digests.contains(&b.referenced.digest)
        })
        .map(|b| PlannedBlob {
            referenced: b.referenced.clone(),
            image: b.image,
        })
        .collect();
    let layer_bytes = gzip_tar_root_bytes(writer.blobs().chain(layers.spooled));
    if layer_bytes == 0 {
        return Ok(());
    }
    let cap = data_cap(v, data, |vols| bound(&plain, vols) + layer_bytes);
    if cap < u64::from(chunk_max) {
        return Err(PackError::Options(format!(
            "--volume-size {v} leaves {cap} bytes for data after the root (with {layer_bytes} \
             bytes for the layers carried as changes); use a larger volume size"
        )));
    }
    writer.lower_data_cap(cap).map_err(|fullest| {
        PackError::Options(format!(
            "--volume-size {v}: the layers carried as changes need {layer_bytes} bytes of root \
             in every volume, leaving {cap} bytes for data, but a volume holds {fullest} bytes \
             already; use a larger volume size"
        ))
    })
}

pub(super) fn root_bound(
    manifests: &[ManifestEntry],
    images: usize,
    blobs: &[PlannedBlob],
    in_base: usize,
    params: &ChunkParams,
    volumes: u64,
) -> u64 {
    let chunks: u64 = blobs
        .iter()
        .map(|b| b.referenced.size / params.min as u64 + 1)
        .sum();
    let manifest_bytes: u64 = manifests.iter().map(|m| m.data.len() as u64 + 250).sum();
    4096 + manifest_bytes
        + images as u64 * 4096
        + blobs.len() as u64 * 400
        // A layer carried whole may say why (`whole`: a code and at most 300 bytes of detail).
        + blobs
            .iter()
            .filter(|b| super::delta::is_image_layer(&b.referenced.media_type))
            .count() as u64
            * 512
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::layer::{LayerTar, TarPiece};
    use crate::bundle::root::{BlobEncoding, BlobEntry, ChunkEntry};
    use crate::chunk::Compression;
    use crate::model::manifest::Referenced;
    use std::collections::HashSet;

    /// A `gzip-tar` entry of `pieces` pieces (chunks and base ranges in turn) and three recipe
    /// chunks, every number at its largest.
    fn gzip_tar_entry(pieces: u32) -> BlobEntry {
        let d = Digest::sha256_of(b"x");
        let pieces: Vec<TarPiece> = (0..pieces)
            .map(|i| match i % 2 {
                0 => TarPiece::Chunk {
                    chunk: u32::MAX - i,
                },
                _ => TarPiece::Base {
                    base: 2,
                    offset: u64::MAX / 3,
                    length: u64::MAX / 5,
                    digest: d.clone(),
                },
            })
            .collect();
        BlobEntry {
            digest: d.clone(),
            size: u64::MAX,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            encoding: BlobEncoding::GzipTar,
            chunks: vec![u32::MAX; 3],
            in_base: false,
            base: None,
            layer: Some(Box::new(LayerTar {
                tar_size: u64::MAX,
                tar_digest: d.clone(),
                bases: vec![d; 3],
                pieces,
            })),
            whole: None,
        }
    }

    /// The room reserved for a `gzip-tar` blob covers its entry with every piece and the
    /// entries of its chunks, written with the largest numbers a root holds.
    #[test]
    fn the_room_for_a_gzip_tar_blob_covers_its_piece_list_and_chunks() {
        let entry = gzip_tar_entry(5000);
        let d = entry.digest.clone();
        let chunk = ChunkEntry(d, u64::MAX, u32::MAX, u64::MAX, u64::MAX, Compression::Zstd);
        let chunk_len = serde_json::to_vec(&chunk).unwrap().len() as u64 + 1;
        let actual = serde_json::to_vec(&entry).unwrap().len() as u64 + 1 + (3 + 2500) * chunk_len;
        let reserved = gzip_tar_root_bytes(std::iter::once(&entry));
        assert!(reserved >= actual, "{reserved} < {actual}");
        // Plain blobs are bounded by `root_bound`, not here.
        let mut plain = entry.clone();
        plain.layer = None;
        assert_eq!(gzip_tar_root_bytes(std::iter::once(&plain)), 0);
    }

    /// Layers encoded but not yet stored (issue 13, `pack --base --volume-size`): their room
    /// is reserved while no volume holds data, so the cap drops by at least their entries
    /// even when they carry more than a volume (before, the cap was lowered only after they
    /// were stored, and a pack whose changes filled a volume failed). Piece lists that leave a
    /// volume too little room for data refuse, naming `--volume-size`.
    #[test]
    fn room_for_encoded_layers_is_reserved_before_any_volume_fills() {
        let v = super::super::MIN_VOLUME_SIZE;
        let plain_bound = |_: &[PlannedBlob], vols: u64| 4096 + vols * 64;
        let first_cap = data_cap(v, 40 << 20, |vols| plain_bound(&[], vols));
        let planned = |e: &BlobEntry| PlannedBlob {
            referenced: Referenced {
                digest: e.digest.clone(),
                size: 30 << 20,
                media_type: e.media_type.clone(),
                platform: None,
                foreign: false,
            },
            image: 0,
        };
        let reserve = |entry: &BlobEntry| {
            let dir = tempfile::tempdir().unwrap();
            let (mut w, _) = BundleWriter::open(dir.path(), "plan", Some(first_cap)).unwrap();
            let layers = Layers {
                spooled: std::slice::from_ref(entry),
                digests: &HashSet::from([entry.digest.clone()]),
            };
            let blobs = [planned(entry)];
            let r = reserve_for_layers(&mut w, &blobs, &layers, v, 40 << 20, 8 << 20, plain_bound);
            (r, w.data_cap())
        };
        let entry = gzip_tar_entry(4000);
        let room = gzip_tar_root_bytes(std::iter::once(&entry));
        let (r, cap) = reserve(&entry);
        r.unwrap();
        let cap = cap.unwrap();
        assert!(
            cap + room <= first_cap,
            "cap {cap}, room {room}, first {first_cap}"
        );
        assert!(
            cap + crate::bundle::volume::overhead(plain_bound(&[], 3) + room, 1024) <= v,
            "{cap}"
        );
        // Some 40,000 pieces: more than half a 16 MiB volume of root.
        let (r, _) = reserve(&gzip_tar_entry(40_000));
        let err = r.unwrap_err().to_string();
        assert!(
            err.contains("--volume-size 16777216 leaves")
                && err.contains("use a larger volume size"),
            "{err}"
        );
    }
}
