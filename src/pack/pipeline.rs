//! The packing pipeline: parallel workers fetch, hash, chunk and compress blobs; one writer
//! stores their chunks in plan order.
//!
//! Each worker takes the next blob of the plan and streams its chunks into a small bounded
//! channel of its own; the writer drains the channels strictly in plan order. Memory stays
//! bounded by `jobs × CHANNEL_DEPTH` chunks whatever the blob sizes, and the output does not
//! depend on which worker finished first.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Condvar, Mutex};

use super::resolve::Resolved;
use super::{PackError, PackOptions, PlannedBlob};
use crate::bundle::writer::BundleWriter;
use crate::chunk::{self, ChunkParams, CompressHint, Compression};
use crate::model::{media_type, Digest, DigestingReader};
use crate::progress::Progress;

const CHANNEL_DEPTH: usize = 3;

enum Msg {
    Chunk {
        digest: Digest,
        len: u64,
        compression: Compression,
        stored: Vec<u8>,
    },
    Done,
    Failed(PackError),
}

struct Slots {
    slots: Mutex<Vec<Option<Receiver<Msg>>>>,
    ready: Condvar,
}

/// Sends unless the pack is stopping; a full channel is retried, so that a worker never blocks
/// forever on a writer that has given up.
fn send(tx: &SyncSender<Msg>, mut msg: Msg, stop: &AtomicBool) -> bool {
    loop {
        match tx.try_send(msg) {
            Ok(()) => return true,
            Err(TrySendError::Disconnected(_)) => return false,
            Err(TrySendError::Full(m)) => {
                if stop.load(Ordering::Relaxed) {
                    return false;
                }
                msg = m;
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        }
    }
}

fn produce(
    blob: &PlannedBlob,
    resolved: &[Resolved],
    params: &ChunkParams,
    level: i32,
    tx: &SyncSender<Msg>,
    stop: &AtomicBool,
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
    let stream = match image.source.blob(&r.digest, r.size) {
        Ok(s) => s,
        Err(e) => return fail(e.to_string()),
    };
    let verified = DigestingReader::verifying(stream, r.digest.clone(), Some(r.size));
    let hint = if media_type::is_compressed(&r.media_type) {
        CompressHint::AlreadyCompressed
    } else {
        CompressHint::Unknown
    };
    let chunker = match chunk::Chunker::new(verified, *params) {
        Ok(c) => c,
        Err(e) => return fail(e.to_string()),
    };
    for c in chunker {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let c = match c {
            Ok(c) => c,
            Err(e) => return fail(e.to_string()),
        };
        let (compression, stored) = chunk::compress(&c.data, level, hint);
        let msg = Msg::Chunk {
            digest: c.digest,
            len: c.data.len() as u64,
            compression,
            stored,
        };
        if !send(tx, msg, stop) {
            return;
        }
    }
    send(tx, Msg::Done, stop);
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
        ready: Condvar::new(),
    };
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let jobs = opts.jobs.max(1);
    std::thread::scope(|s| {
        for _ in 0..jobs.min(todo.len()) {
            s.spawn(|| loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(blob) = todo.get(i) else { break };
                let (tx, rx) = sync_channel(CHANNEL_DEPTH);
                slots.slots.lock().expect("lock")[i] = Some(rx);
                slots.ready.notify_all();
                produce(blob, resolved, params, opts.zstd_level, &tx, &stop);
            });
        }
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
                let mut chunks = Vec::new();
                loop {
                    match rx.recv() {
                        Ok(Msg::Chunk {
                            digest,
                            len,
                            compression,
                            stored,
                        }) => {
                            chunks.push(writer.add_chunk(&digest, len, compression, &stored)?);
                            progress.advance(len);
                        }
                        Ok(Msg::Done) => break,
                        Ok(Msg::Failed(e)) => return Err(e),
                        Err(_) => {
                            return Err(PackError::Blob {
                                digest: blob.referenced.digest.clone(),
                                image: resolved[blob.image].entry.source.clone(),
                                reason: "the worker reading it stopped".into(),
                            })
                        }
                    }
                }
                let r = &blob.referenced;
                writer.finish_blob(&r.digest, r.size, &r.media_type, chunks)?;
            }
            Ok(())
        })();
        if result.is_err() {
            stop.store(true, Ordering::Relaxed);
            // Unblock workers waiting to send: drop every receiver.
            slots
                .slots
                .lock()
                .expect("lock")
                .iter_mut()
                .for_each(|s| *s = None);
        }
        result
    })
}
