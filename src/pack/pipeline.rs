//! The packing pipeline: readers fetch and cut blobs, a pool hashes and compresses chunks, one
//! writer stores them in plan order.
//!
//! Three stages, so that one large blob keeps every core busy:
//!
//! - **readers** (`jobs` of them) take the blobs of the plan in order; each fetches its blob,
//!   cuts it into content-defined chunks ([`chunk::Cutter`]) and hashes the whole blob (the two
//!   steps that must see the bytes in order), checking digest and size at the end — the only
//!   pass over the blob's bytes that checks them: sources hand over unchecked streams;
//! - **hashers** (a pool of `jobs`) compute each chunk's digest and compress it where that pays
//!   (not at all for gzip or zstd layers);
//! - **the writer** (the calling thread) takes the results strictly in plan order — blob by
//!   blob, chunk by chunk — and stores them.
//!
//! Each reader hands the writer, through a small bounded channel of its own, one receiver per
//! chunk, in cut order; the writer waits on them in turn. Memory stays bounded by about
//! `jobs × (BLOB_DEPTH + 2)` chunks plus the hashers' queue whatever the blob sizes, and the
//! output does not depend on which thread finished first.

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Condvar, Mutex};

use super::resolve::Resolved;
use super::{PackError, PackOptions, PlannedBlob};
use crate::bundle::writer::BundleWriter;
use crate::chunk::{self, ChunkParams, CompressHint, Compression, Cutter};
use crate::model::Digest;
use crate::progress::Progress;

/// Chunks one reader may have cut ahead of the writer.
const BLOB_DEPTH: usize = 6;
/// Chunks waiting for a hasher, per hasher.
const QUEUE_PER_HASHER: usize = 2;
/// Blobs each reader may start beyond the one the writer is storing. A large blob holds its
/// reader back through its chunk channel, but a small one fits in it whole: without this bound
/// readers of thousands of small blobs ran arbitrarily far ahead of the writer, and every blob
/// read and not yet written stayed in memory (pack of 5,000 small images peaked at 360 MiB).
const BLOBS_AHEAD_PER_READER: usize = 4;

/// The most blobs a reader was ever ahead of the writer, for the tests of the bound.
#[cfg(test)]
static MAX_AHEAD: AtomicUsize = AtomicUsize::new(0);

/// A chunk cut by a reader, for a hasher.
struct Job {
    data: Vec<u8>,
    hint: CompressHint,
    done: SyncSender<Hashed>,
}

/// A chunk ready to store.
struct Hashed {
    digest: Digest,
    len: u64,
    compression: Compression,
    stored: Vec<u8>,
}

enum Msg {
    Chunk(Receiver<Hashed>),
    Done,
    Failed(PackError),
}

struct Slots {
    slots: Mutex<Vec<Option<Receiver<Msg>>>>,
    /// Blobs the writer has stored (changed under the `slots` lock, announced on `ready`).
    written: AtomicUsize,
    ready: Condvar,
}

/// Sends, blocking while the channel is full; false once the pack is stopping or the other
/// side is gone. Blocking is safe: the writer drops every blob channel's receiver when it gives
/// up (and no reader registers one after that), and the hashers drain their queue until every
/// reader is gone.
fn send<T>(tx: &SyncSender<T>, msg: T, stop: &AtomicBool) -> bool {
    !stop.load(Ordering::Relaxed) && tx.send(msg).is_ok()
}

/// A reader's work on one blob: fetch, cut, hash the whole, hand chunks to the hashers and
/// their receivers to the writer.
fn produce(
    blob: &PlannedBlob,
    resolved: &[Resolved],
    params: &ChunkParams,
    jobs: &SyncSender<Job>,
    tx: &SyncSender<Msg>,
    stop: &AtomicBool,
    buf: &mut Vec<u8>,
) {
    let r = &blob.referenced;
    let image = &resolved[blob.image];
    let fail = |reason: String| {
        let msg = Msg::Failed(PackError::Blob {
            digest: r.digest.clone(),
            image: image.entry.source.clone(),
            reason,
        });
        send(tx, msg, stop);
    };
    if let Err(e) = params.validate() {
        return fail(crate::error_chain(&e));
    }
    let stream = match image.source.blob(&r.digest, r.size) {
        Ok(s) => s,
        Err(e) => return fail(crate::error_chain(&e)),
    };
    let hint = if r.media_type.is_compressed() {
        CompressHint::AlreadyCompressed
    } else {
        CompressHint::Unknown
    };
    // One byte more than expected is enough to tell that the content is too long.
    let limited = stream.take(r.size.saturating_add(1));
    let mut whole = r.digest.hasher();
    let mut len = 0u64;
    let mut cutter = match Cutter::new(limited, params, buf) {
        Ok(c) => c,
        Err(e) => return fail(crate::error_chain(&e)),
    };
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let data = match cutter.next_chunk() {
            Ok(Some(data)) => data,
            Ok(None) => break,
            Err(e) => return fail(crate::error_chain(&e)),
        };
        len += data.len() as u64;
        if len > r.size {
            return fail(format!(
                "content of {} is longer than the expected {} bytes",
                r.digest, r.size
            ));
        }
        whole.update(&data);
        let (done, result) = sync_channel(1);
        let job = Job { data, hint, done };
        if !send(jobs, job, stop) || !send(tx, Msg::Chunk(result), stop) {
            return;
        }
    }
    let got = whole.finish();
    if got != r.digest {
        // Name where the bytes came from when the image as written does not (`alpine:3`).
        let from = image.source.describe();
        let from = if from == image.entry.source {
            String::new()
        } else {
            format!(" (from {from})")
        };
        return fail(format!(
            "digest mismatch: expected {}, content hashes to {got}{from}",
            r.digest
        ));
    }
    if len != r.size {
        return fail(format!(
            "content of {} is {len} bytes, expected {}",
            r.digest, r.size
        ));
    }
    send(tx, Msg::Done, stop);
}

/// A hasher: digests and compresses chunks until every reader is gone.
fn hash_chunks(queue: &Mutex<Receiver<Job>>, level: i32) {
    loop {
        let job = queue.lock().expect("lock").recv();
        let Ok(job) = job else { return };
        let digest = Digest::sha256_of(&job.data);
        let len = job.data.len() as u64;
        let (compression, stored) = match job.hint {
            // Already compressed: stored as it is, without a copy or a try.
            CompressHint::AlreadyCompressed => (Compression::None, job.data),
            hint => chunk::compress(&job.data, level, hint),
        };
        // The writer may have given up; then nobody wants the result.
        let _ = job.done.send(Hashed {
            digest,
            len,
            compression,
            stored,
        });
    }
}

/// Runs the pipeline over `todo` (blobs not yet stored), writing into `writer`.
pub(super) fn run(
    todo: &[&PlannedBlob],
    resolved: &[Resolved],
    writer: &mut BundleWriter,
    params: &ChunkParams,
    opts: &PackOptions,
    progress: &dyn Progress,
) -> Result<(), PackError> {
    if todo.is_empty() {
        return Ok(());
    }
    let slots = Slots {
        slots: Mutex::new((0..todo.len()).map(|_| None).collect()),
        written: AtomicUsize::new(0),
        ready: Condvar::new(),
    };
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let jobs = opts.jobs.max(1);
    let ahead = jobs.min(todo.len()) * BLOBS_AHEAD_PER_READER;
    let (job_tx, job_rx) = sync_channel::<Job>(jobs * QUEUE_PER_HASHER);
    let queue = Mutex::new(job_rx);
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| hash_chunks(&queue, opts.zstd_level));
        }
        for _ in 0..jobs.min(todo.len()) {
            // Each reader owns a sender: the hashers stop once every reader has.
            let job_tx = job_tx.clone();
            let (slots, next, stop) = (&slots, &next, &stop);
            s.spawn(move || {
                // The reader's cutting buffer, reused blob after blob.
                let mut buf = Vec::new();
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(blob) = todo.get(i) else { break };
                    let (tx, rx) = sync_channel(BLOB_DEPTH);
                    {
                        // Under the lock the writer stops with: once it has, no receiver is
                        // registered that nobody would drop.
                        let mut g = slots.slots.lock().expect("lock");
                        // Never beyond `ahead` blobs past the writer (the blob the writer
                        // waits for is never held back, so this cannot deadlock).
                        while i >= slots.written.load(Ordering::SeqCst) + ahead
                            && !stop.load(Ordering::SeqCst)
                        {
                            g = slots.ready.wait(g).expect("lock");
                        }
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        #[cfg(test)]
                        MAX_AHEAD
                            .fetch_max(i - slots.written.load(Ordering::SeqCst), Ordering::SeqCst);
                        g[i] = Some(rx);
                    }
                    slots.ready.notify_all();
                    produce(blob, resolved, params, &job_tx, &tx, stop, &mut buf);
                }
            });
        }
        drop(job_tx);
        let result = (|| -> Result<(), PackError> {
            for (i, blob) in todo.iter().enumerate() {
                let rx = {
                    let mut g = slots.slots.lock().expect("lock");
                    loop {
                        if let Some(rx) = g[i].take() {
                            break rx;
                        }
                        g = slots.ready.wait(g).expect("lock");
                    }
                };
                let stopped = || PackError::Blob {
                    digest: blob.referenced.digest.clone(),
                    image: resolved[blob.image].entry.source.clone(),
                    reason: "the worker reading it stopped".into(),
                };
                let mut chunks = Vec::new();
                loop {
                    match rx.recv() {
                        Ok(Msg::Chunk(result)) => {
                            let h = result.recv().map_err(|_| stopped())?;
                            chunks.push(writer.add_chunk(
                                &h.digest,
                                h.len,
                                h.compression,
                                &h.stored,
                            )?);
                            progress.advance(h.len);
                        }
                        Ok(Msg::Done) => break,
                        Ok(Msg::Failed(e)) => return Err(e),
                        Err(_) => return Err(stopped()),
                    }
                }
                let r = &blob.referenced;
                writer.finish_blob(&r.digest, r.size, &r.media_type, chunks)?;
                {
                    let _g = slots.slots.lock().expect("lock");
                    slots.written.store(i + 1, Ordering::SeqCst);
                }
                slots.ready.notify_all();
            }
            Ok(())
        })();
        if result.is_err() {
            // Unblock readers waiting to send: drop every receiver, and keep new ones from
            // being registered.
            let mut g = slots.slots.lock().expect("lock");
            stop.store(true, Ordering::SeqCst);
            g.iter_mut().for_each(|s| *s = None);
            drop(g);
            slots.ready.notify_all();
        }
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packs the fixture layouts of `slugs` with `jobs` workers.
    fn pack_layouts(
        set: &ferry_fixtures::FixtureSet,
        slugs: &[&str],
        jobs: usize,
        out: &std::path::Path,
    ) -> Result<super::super::PackSummary, PackError> {
        let text: String = slugs
            .iter()
            .map(|s| format!("{} example.com/ferry/{s}:1\n", set.image(s).oci_reference()))
            .collect();
        let requests = super::super::list::parse_list(&set.root.join("list.txt"), &text).unwrap();
        let opts = PackOptions {
            out: out.to_path_buf(),
            volume_size: None,
            jobs,
            platforms: Vec::new(),
            client: Default::default(),
            created: 0,
            zstd_level: 3,
            sequence: None,
            source_mirrors: Vec::new(),
            graph_url: None,
            signatures: Default::default(),
            signature_store: None,
            base: Default::default(),
        };
        super::super::pack(
            &requests,
            &crate::sign::generate(),
            &opts,
            &crate::progress::Silent,
        )
    }

    #[test]
    fn damaged_source_content_fails_the_pack_at_any_jobs_without_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let opts = ferry_fixtures::Options {
            include_large: true,
            large_layer_bytes: 12 * 1024 * 1024,
        };
        let set = ferry_fixtures::build(&dir.path().join("fx"), &opts).unwrap();
        // Every image packs as it is.
        let slugs = ["app-a", "app-b", "large"];
        for jobs in [1, 2, 5] {
            let out = dir.path().join(format!("ok-{jobs}"));
            pack_layouts(&set, &slugs, jobs, &out).unwrap();
        }
        // The large layer, one byte changed in its middle (same size): a digest mismatch.
        let large = set.image("large");
        let layer = large
            .blobs
            .iter()
            .max_by_key(|b| b.1)
            .map(|b| b.0.clone())
            .unwrap();
        let path = large
            .layout
            .join("blobs/sha256")
            .join(layer.trim_start_matches("sha256:"));
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x55;
        std::fs::write(&path, &bytes).unwrap();
        for jobs in [1, 2, 5] {
            let out = dir.path().join(format!("bad-{jobs}"));
            match pack_layouts(&set, &slugs, jobs, &out) {
                Err(PackError::Blob { digest, reason, .. }) => {
                    assert_eq!(digest.to_string(), layer);
                    assert!(reason.contains("digest mismatch"), "{reason}");
                }
                other => panic!(
                    "jobs {jobs}: expected a blob error, got {:?}",
                    other.map(|s| s.root_digest)
                ),
            }
        }
        // Longer than the manifest says: stopped one byte past the expected size.
        bytes.extend_from_slice(&[0u8; 4096]);
        std::fs::write(&path, &bytes).unwrap();
        let out = dir.path().join("long");
        match pack_layouts(&set, &slugs, 2, &out) {
            Err(PackError::Blob { reason, .. }) => {
                assert!(reason.contains("longer than the expected"), "{reason}")
            }
            other => panic!(
                "expected a blob error, got {:?}",
                other.map(|s| s.root_digest)
            ),
        }
    }

    /// Issue 16: with thousands of small blobs, readers stay within a few blobs of the writer
    /// instead of holding everything they read in memory until it is written.
    #[test]
    fn issue16_readers_of_small_blobs_stay_close_to_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let corpus = ferry_fixtures::scale::build(dir.path(), 80).unwrap();
        let text: String = corpus
            .images
            .iter()
            .map(|i| format!("oci:{}:{} {}\n", corpus.layout, i.slug, i.name))
            .collect();
        let requests = super::super::list::parse_list(&dir.path().join("l.txt"), &text).unwrap();
        let jobs = 2;
        let opts = PackOptions {
            out: dir.path().join("bundle"),
            volume_size: None,
            jobs,
            platforms: Vec::new(),
            client: Default::default(),
            created: 0,
            zstd_level: 3,
            sequence: None,
            source_mirrors: Vec::new(),
            graph_url: None,
            signatures: Default::default(),
            signature_store: None,
            base: Default::default(),
        };
        let summary = super::super::pack(
            &requests,
            &crate::sign::generate(),
            &opts,
            &crate::progress::Silent,
        )
        .unwrap();
        assert_eq!(summary.images.len(), 80);
        assert!(summary.blobs > 200, "{} blobs", summary.blobs);
        let ahead = MAX_AHEAD.load(Ordering::SeqCst);
        assert!(
            ahead <= jobs * BLOBS_AHEAD_PER_READER,
            "a reader was {ahead} blobs ahead of the writer"
        );
    }
}
