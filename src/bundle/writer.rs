//! Writes a bundle: stored chunks into volumes, then the signed root into every volume.
//!
//! The writer is fed in a deterministic order (blob by blob, chunk by chunk) so that the same
//! input gives the same bytes. It journals every completed blob, so an interrupted pack resumes
//! where it stopped. Completed blobs are made durable in groups (one data sync and one journal
//! sync per [`COMMIT_BYTES`] of data, [`COMMIT_BLOBS`] blobs or [`COMMIT_INTERVAL`], whichever
//! comes first), not one by one: with thousands of small blobs two syncs per blob were nearly
//! all of a pack's time, and a resume loses at most one group. The syncs run on a thread of
//! their own (`bundle/syncer.rs`), so the writer goes on with the next group meanwhile. Until
//! [`BundleWriter::finish`] renames them, volumes live under `DIR/.ferry-pack/` with names
//! that no reader takes for a bundle.

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::journal::{Journal, JournalHeader, JournalRecord};
use super::layer::LayerTar;
use super::root::{
    BaseRef, BlobEncoding, BlobEntry, ChunkEntry, ChunkingInfo, ImageEntry, ManifestEntry, Root,
    VolumeInfo, FORMAT_INCREMENTAL, FORMAT_VERSION, FORMAT_VERSION_ATTACHED,
    FORMAT_VERSION_GZIP_TAR,
};
use super::syncer::Syncer;
use super::volume::{self, VolumeLabel, VolumeWriter};
use super::whole::WholeLayer;
use super::BundleError;
use crate::chunk::Compression;
use crate::model::{Digest, MediaType};
use crate::sign::SecretKey;

/// Directory inside the output that holds work in progress.
pub const STAGING_DIR: &str = ".ferry-pack";
/// The lock file a running pack holds in the output directory (see `pack::lock`); the writer
/// leaves it alone.
pub const LOCK_FILE: &str = ".ferry-pack.lock";

/// Data written since the last commit after which completed blobs are made durable.
pub const COMMIT_BYTES: u64 = 32 << 20;
/// Completed blobs after which they are made durable.
pub const COMMIT_BLOBS: usize = 256;
/// Time after which a completed blob is made durable, however little was written since.
pub const COMMIT_INTERVAL: Duration = Duration::from_secs(1);

/// What [`BundleWriter::open`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumeState {
    /// Blobs already complete from an earlier run.
    pub blobs_done: usize,
    /// Their bytes.
    pub bytes_done: u64,
    /// An unfinished pack of another plan (other images or options) was found and discarded.
    pub discarded_other_plan: bool,
}

/// Everything besides chunk data that goes into the root.
#[derive(Debug, Clone)]
pub struct RootContent {
    /// Time of packing, RFC 3339 UTC.
    pub created: String,
    /// The same as seconds since the epoch (tar member times).
    pub mtime: u64,
    /// The root's sequence (SPEC.md §4.5): increasing per key, at least `mtime`.
    pub sequence: u64,
    /// The images.
    pub images: Vec<ImageEntry>,
    /// Every manifest.
    pub manifests: Vec<ManifestEntry>,
    /// Chunking parameters used.
    pub chunking: ChunkingInfo,
    /// OpenShift release signatures to carry (format 1.2).
    pub release_signatures: Vec<crate::bundle::root::ReleaseSignature>,
    /// CatalogSource templates of operator catalogs (format 1.2).
    pub catalog_sources: Vec<crate::bundle::root::CatalogSourceTemplate>,
    /// The inventories the bundle is packed against (`pack --base`); with one, the root is
    /// format 1.2.
    pub base: Option<BaseRef>,
    /// Blobs the site already has (`in_base`, no chunks), listed after the blobs carried.
    pub in_base: Vec<BlobEntry>,
}

/// A finished bundle's figures.
#[derive(Debug, Clone)]
pub struct Written {
    /// The bundle id.
    pub bundle_id: String,
    /// Volume files, in index order.
    pub volumes: Vec<PathBuf>,
    /// Total bytes of all volume files.
    pub bundle_bytes: u64,
    /// Digest of root.json.
    pub root_digest: Digest,
}

/// Accumulates chunks and blobs and writes the volumes.
pub struct BundleWriter {
    dir: PathBuf,
    staging: PathBuf,
    data_cap: Option<u64>,
    done_volumes: Vec<u64>,
    current: Option<VolumeWriter>,
    chunks: Vec<ChunkEntry>,
    chunk_index: HashMap<Digest, u32>,
    blobs: Vec<BlobEntry>,
    blob_index: HashMap<Digest, usize>,
    /// Makes commits durable on its own thread.
    syncer: Syncer,
    /// Volumes closed since the last commit, whose data the next commit syncs.
    closed_since_commit: Vec<(PathBuf, File)>,
    pending_new: Vec<(u32, ChunkEntry)>,
    /// Completed blobs whose data is written but not yet synced and journalled.
    uncommitted: Vec<JournalRecord>,
    /// When the oldest of them completed.
    uncommitted_since: Option<Instant>,
    /// Stored bytes at the last commit.
    committed_bytes: u64,
    /// Commits so far (each one data sync and one journal sync).
    commits: usize,
    /// Why layers not yet stored go whole ([`BundleWriter::note_whole`]).
    whole: HashMap<Digest, WholeLayer>,
}

fn staged_volume(staging: &Path, index: u32) -> PathBuf {
    staging.join(format!("volume-{index:03}.partial"))
}

impl BundleWriter {
    /// Opens `dir` for packing `plan` (a digest of the inputs). Resumes an earlier run of the
    /// same plan; refuses a directory that already holds a bundle or other files.
    pub fn open(
        dir: &Path,
        plan: &str,
        data_cap: Option<u64>,
    ) -> Result<(Self, ResumeState), BundleError> {
        let io = |p: &Path, e| BundleError::io(p, e);
        fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        for entry in fs::read_dir(dir).map_err(|e| io(dir, e))? {
            let entry = entry.map_err(|e| io(dir, e))?;
            let name = entry.file_name();
            if name != STAGING_DIR && name != LOCK_FILE {
                return Err(BundleError::OutputNotEmpty {
                    dir: dir.to_path_buf(),
                    found: name.to_string_lossy().into_owned(),
                });
            }
        }
        let staging = dir.join(STAGING_DIR);
        fs::create_dir_all(&staging).map_err(|e| io(&staging, e))?;
        let header = JournalHeader {
            plan: plan.to_string(),
            data_cap,
        };
        let loaded = Journal::load(&staging).map_err(|e| io(&staging, e))?;
        let mut discarded_other_plan = false;
        let records = match loaded {
            Some((h, records)) if h == header && !records.is_empty() => records,
            other => {
                discarded_other_plan = matches!(other, Some((h, _)) if h != header);
                // A fresh start: clear anything from another plan.
                for entry in fs::read_dir(&staging).map_err(|e| io(&staging, e))? {
                    let p = entry.map_err(|e| io(&staging, e))?.path();
                    fs::remove_file(&p).map_err(|e| io(&p, e))?;
                }
                Vec::new()
            }
        };
        let journal = Journal::reopen(&staging, &header, &records).map_err(|e| io(&staging, e))?;
        let mut w = BundleWriter {
            dir: dir.to_path_buf(),
            staging: staging.clone(),
            data_cap,
            done_volumes: Vec::new(),
            current: None,
            chunks: Vec::new(),
            chunk_index: HashMap::new(),
            blobs: Vec::new(),
            blob_index: HashMap::new(),
            syncer: Syncer::start(journal, staging.clone()),
            closed_since_commit: Vec::new(),
            pending_new: Vec::new(),
            uncommitted: Vec::new(),
            uncommitted_since: None,
            committed_bytes: 0,
            commits: 0,
            whole: HashMap::new(),
        };
        let mut state = ResumeState {
            discarded_other_plan,
            ..ResumeState::default()
        };
        let last_volumes = records
            .last()
            .map(|r| r.volumes.clone())
            .unwrap_or_default();
        for r in &records {
            for (i, c) in &r.new_chunks {
                if *i as usize != w.chunks.len() {
                    return Err(BundleError::Journal(format!("chunk #{i} out of order")));
                }
                w.chunk_index.insert(c.digest().clone(), *i);
                w.chunks.push(c.clone());
            }
            w.blob_index.insert(r.blob.digest.clone(), w.blobs.len());
            state.bytes_done += r.blob.size;
            w.blobs.push(r.blob.clone());
        }
        state.blobs_done = w.blobs.len();
        w.committed_bytes = last_volumes.iter().sum();
        // Volumes before the last are complete; the last is reopened and cut back to what the
        // journal vouches for.
        let n = last_volumes.len();
        for (i, len) in last_volumes.iter().enumerate() {
            let index = i as u32 + 1;
            let p = staged_volume(&staging, index);
            if i + 1 < n {
                let have = fs::metadata(&p).map_err(|e| io(&p, e))?.len();
                if have < volume::DATA_OFFSET + len {
                    return Err(BundleError::Journal(format!(
                        "{} is shorter than the journal says; remove {} and pack again",
                        p.display(),
                        staging.display()
                    )));
                }
                w.done_volumes.push(*len);
            } else {
                w.current = Some(VolumeWriter::reopen(&p, *len)?);
            }
        }
        // Volumes started after the last complete blob hold nothing vouched for.
        let mut k = n as u32 + 1;
        while staged_volume(&staging, k).exists() {
            let p = staged_volume(&staging, k);
            fs::remove_file(&p).map_err(|e| io(&p, e))?;
            k += 1;
        }
        Ok((w, state))
    }

    /// The blobs stored so far (by this run or a resumed one), in order.
    pub fn blobs(&self) -> impl Iterator<Item = &BlobEntry> {
        self.blobs.iter()
    }

    /// Whether the blob is stored as a `gzip-tar` blob.
    pub fn is_gzip_tar(&self, digest: &Digest) -> bool {
        self.blob_index
            .get(digest)
            .is_some_and(|&i| self.blobs[i].encoding == BlobEncoding::GzipTar)
    }

    /// Lowers the per-volume data cap to `cap` (never raises it), for a root found to need more
    /// room than first reserved. Returns the data of the fullest volume when that is already
    /// more than `cap` (the cap is then left as it was).
    pub fn lower_data_cap(&mut self, cap: u64) -> Result<(), u64> {
        let fullest = self
            .done_volumes
            .iter()
            .copied()
            .chain(self.current.as_ref().map(|v| v.data_len()))
            .max()
            .unwrap_or(0);
        if fullest > cap {
            return Err(fullest);
        }
        self.data_cap = Some(self.data_cap.map_or(cap, |c| c.min(cap)));
        Ok(())
    }

    /// The per-volume data cap (`None`: one volume of any size).
    pub fn data_cap(&self) -> Option<u64> {
        self.data_cap
    }

    /// Whether the blob is already stored (by this run or a resumed one).
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_index.contains_key(digest)
    }

    /// The index of an already stored chunk.
    pub fn chunk(&self, digest: &Digest) -> Option<u32> {
        self.chunk_index.get(digest).copied()
    }

    /// Stores a chunk unless an identical one is stored already; returns its index.
    pub fn add_chunk(
        &mut self,
        digest: &Digest,
        len: u64,
        compression: Compression,
        stored: &[u8],
    ) -> Result<u32, BundleError> {
        if let Some(i) = self.chunk(digest) {
            return Ok(i);
        }
        let needs_roll = match (&self.current, self.data_cap) {
            (None, _) => true,
            (Some(v), Some(cap)) => v.data_len() > 0 && v.data_len() + stored.len() as u64 > cap,
            (Some(_), None) => false,
        };
        if needs_roll {
            if let Some(mut v) = self.current.take() {
                self.closed_since_commit.push(v.flushed_file()?);
                self.done_volumes.push(v.data_len());
            }
            let index = self.done_volumes.len() as u32 + 1;
            self.current = Some(VolumeWriter::create(&staged_volume(&self.staging, index))?);
        }
        let volume_index = self.done_volumes.len() as u32 + 1;
        let v = self.current.as_mut().expect("a volume is open");
        let offset = v.append(stored)?;
        // A large blob after small ones: the small ones become a resume point while it streams.
        self.commit_if_due()?;
        let entry = ChunkEntry(
            digest.clone(),
            len,
            volume_index,
            offset,
            stored.len() as u64,
            compression,
        );
        let i = self.chunks.len() as u32;
        self.chunks.push(entry.clone());
        self.chunk_index.insert(digest.clone(), i);
        self.pending_new.push((i, entry));
        Ok(i)
    }

    /// Records a complete blob made of `chunks`; it becomes durable (a resume point) with the
    /// next commit (see the module documentation).
    pub fn finish_blob(
        &mut self,
        digest: &Digest,
        size: u64,
        media_type: &MediaType,
        chunks: Vec<u32>,
    ) -> Result<(), BundleError> {
        let whole = self.whole.remove(digest).map(Box::new);
        self.record_blob(BlobEntry {
            digest: digest.clone(),
            size,
            media_type: media_type.clone(),
            encoding: BlobEncoding::Plain,
            chunks,
            in_base: false,
            base: None,
            layer: None,
            whole,
        })
    }

    /// Records why the changed layer `digest` goes whole (`pack --base`); the blob's entry
    /// says so once [`BundleWriter::finish_blob`] stores it.
    pub fn note_whole(&mut self, digest: &Digest, why: WholeLayer) {
        self.whole.insert(digest.clone(), why);
    }

    /// Records a complete `gzip-tar` blob (SPEC.md §4.8): its reconstruction data in
    /// `recipe_chunks`, its tar's pieces in `layer` (whose chunks are stored already), and
    /// makes it durable. A bundle holding one is format 1.2.
    pub fn finish_gzip_tar_blob(
        &mut self,
        digest: &Digest,
        size: u64,
        media_type: &MediaType,
        recipe_chunks: Vec<u32>,
        layer: LayerTar,
    ) -> Result<(), BundleError> {
        self.record_blob(BlobEntry {
            digest: digest.clone(),
            size,
            media_type: media_type.clone(),
            encoding: BlobEncoding::GzipTar,
            chunks: recipe_chunks,
            in_base: false,
            base: None,
            layer: Some(Box::new(layer)),
            whole: None,
        })
    }

    /// Records a complete blob; it becomes durable (a resume point) with the next commit.
    fn record_blob(&mut self, blob: BlobEntry) -> Result<(), BundleError> {
        let mut volumes = self.done_volumes.clone();
        if let Some(v) = &self.current {
            volumes.push(v.data_len());
        }
        let record = JournalRecord {
            blob: blob.clone(),
            new_chunks: std::mem::take(&mut self.pending_new),
            volumes,
        };
        self.uncommitted.push(record);
        self.uncommitted_since.get_or_insert_with(Instant::now);
        self.blob_index
            .insert(blob.digest.clone(), self.blobs.len());
        self.blobs.push(blob);
        self.commit_if_due()
    }

    /// Commits the completed blobs when enough data, blobs or time has gathered since the last
    /// commit.
    fn commit_if_due(&mut self) -> Result<(), BundleError> {
        let Some(since) = self.uncommitted_since else {
            return Ok(());
        };
        if self.stored_bytes() - self.committed_bytes >= COMMIT_BYTES
            || self.uncommitted.len() >= COMMIT_BLOBS
            || since.elapsed() >= COMMIT_INTERVAL
        {
            self.commit()?;
        }
        Ok(())
    }

    /// Makes every completed blob durable: the volume data first, then their journal lines.
    /// The syncs run on the syncer's thread; this returns once they are queued (with the
    /// failure of an earlier commit, if one failed). [`BundleWriter::finish`] waits for them.
    pub fn commit(&mut self) -> Result<(), BundleError> {
        if self.uncommitted.is_empty() {
            return Ok(());
        }
        let mut files = std::mem::take(&mut self.closed_since_commit);
        if let Some(v) = self.current.as_mut() {
            files.push(v.flushed_file()?);
        }
        self.syncer
            .submit(files, std::mem::take(&mut self.uncommitted))?;
        self.uncommitted_since = None;
        self.committed_bytes = self.stored_bytes();
        self.commits += 1;
        Ok(())
    }

    /// How many commits (one data sync and one journal sync each) this writer made.
    pub fn commits(&self) -> usize {
        self.commits
    }

    /// Bytes of stored data so far.
    pub fn stored_bytes(&self) -> u64 {
        self.done_volumes.iter().sum::<u64>() + self.current.as_ref().map_or(0, |v| v.data_len())
    }

    /// Builds and signs the root, writes it into every volume and moves the volumes into place.
    pub fn finish(
        mut self,
        content: RootContent,
        key: &SecretKey,
        volume_size: Option<u64>,
    ) -> Result<Written, BundleError> {
        // Should signing or writing the root fail, a rerun resumes after every blob.
        self.commit()?;
        self.syncer.wait()?;
        if self.current.is_none() {
            // A bundle with no blob at all still has one (empty) volume to carry its root.
            self.current = Some(VolumeWriter::create(&staged_volume(&self.staging, 1))?);
        }
        let current = self.current.take().expect("a volume is open");
        let mut sizes = self.done_volumes.clone();
        sizes.push(current.data_len());
        // A root is 1.2 only when it uses 1.2's fields (a base of inventories, `gzip-tar`
        // blobs, artifacts attached to images, release signatures), so that a bundle of plain
        // images is still read by a ferry that reads 1.1 without a warning.
        let gzip_tar = self
            .blobs
            .iter()
            .any(|b| b.encoding == BlobEncoding::GzipTar);
        let uses_1_2 = !content.release_signatures.is_empty()
            || !content.catalog_sources.is_empty()
            || content.images.iter().any(|i| i.attached.is_some());
        // `gzip-tar` blobs this ferry writes use the token-shape engine, which 1.3 adds.
        let format = match &content.base {
            _ if gzip_tar => FORMAT_VERSION_GZIP_TAR,
            Some(_) => FORMAT_INCREMENTAL,
            None if uses_1_2 => FORMAT_VERSION_ATTACHED,
            None => FORMAT_VERSION,
        };
        let mut blobs = std::mem::take(&mut self.blobs);
        blobs.extend(content.in_base);
        let mut root = Root {
            format: format.to_string(),
            bundle_id: String::new(),
            created: content.created,
            sequence: Some(content.sequence.max(content.mtime)),
            tool: format!("ferry {}", env!("CARGO_PKG_VERSION")),
            base: content.base,
            chunking: content.chunking,
            volumes: sizes
                .iter()
                .enumerate()
                .map(|(i, &data_size)| VolumeInfo {
                    index: i as u32 + 1,
                    data_size,
                })
                .collect(),
            images: content.images,
            manifests: content.manifests,
            blobs,
            chunks: std::mem::take(&mut self.chunks),
            release_signatures: content.release_signatures,
            catalog_sources: content.catalog_sources,
        };
        // The id is derived from the content, so that a reproducible pack gets the same id.
        root.bundle_id = Digest::sha256_of(&root.to_json()).hex()[..32].to_string();
        let root_bytes = root.to_json();
        if root_bytes.len() as u64 > volume::MAX_ROOT_LEN {
            return Err(BundleError::RootTooLarge {
                root_bytes: root_bytes.len() as u64,
                limit: volume::MAX_ROOT_LEN,
            });
        }
        let root_digest = Digest::sha256_of(&root_bytes);
        let comment = root.trusted_comment(&root_digest);
        let signature = key
            .sign(&root_bytes[..], &comment)
            .map_err(BundleError::Sign)?
            .to_file_string();
        let count = sizes.len() as u32;
        if let Some(limit) = volume_size {
            let overhead = volume::overhead(root_bytes.len() as u64, signature.len() as u64);
            if let Some(max) = sizes.iter().max() {
                if max + overhead > limit {
                    return Err(BundleError::RootDoesNotFit {
                        root_bytes: root_bytes.len() as u64,
                        data_bytes: *max,
                        limit,
                    });
                }
            }
        }
        let mut out = Vec::new();
        let mut total = 0;
        let mut writers: Vec<VolumeWriter> = Vec::new();
        for (i, len) in self.done_volumes.iter().enumerate() {
            writers.push(VolumeWriter::reopen(
                &staged_volume(&self.staging, i as u32 + 1),
                *len,
            )?);
        }
        writers.push(current);
        for (i, w) in writers.into_iter().enumerate() {
            let index = i as u32 + 1;
            let label = VolumeLabel {
                format: root.format.clone(),
                bundle_id: root.bundle_id.clone(),
                volume: index,
                volume_count: count,
                root_digest: root_digest.clone(),
            };
            let staged = w.path().to_path_buf();
            total += w.finish(&label, &root_bytes, &signature, content.mtime)?;
            let dest = self
                .dir
                .join(volume::volume_file_name(&root.bundle_id, index, count));
            fs::rename(&staged, &dest).map_err(|e| BundleError::io(&dest, e))?;
            out.push(dest);
        }
        fs::remove_dir_all(&self.staging).map_err(|e| BundleError::io(&self.staging, e))?;
        Ok(Written {
            bundle_id: root.bundle_id,
            volumes: out,
            bundle_bytes: total,
            root_digest,
        })
    }
}

impl Drop for BundleWriter {
    /// A pack that stops on an error keeps the blobs it completed as a resume point.
    fn drop(&mut self) {
        let _ = self.commit();
    }
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
