//! Counters of what a registry client did, for progress reports and tests.

use std::sync::atomic::{AtomicU64, Ordering};

/// A copy of a client's counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// HTTP requests sent (including token requests and retries).
    pub requests: u64,
    /// Blob upload sessions started.
    pub blob_uploads_started: u64,
    /// Bytes of blobs whose upload completed.
    pub blob_bytes_uploaded: u64,
    /// Bytes put in upload request bodies (`PATCH` segments and `PUT`s), counting every
    /// attempt: what a push cost on the wire, repeats included.
    pub upload_bytes_sent: u64,
    /// Uploads continued where the registry said an earlier attempt or run had got to.
    pub uploads_resumed: u64,
    /// Cross-repository mounts the registry performed.
    pub mounts_succeeded: u64,
    /// Attempts repeated after a transient failure.
    pub retries: u64,
}

/// The live counters, shared by clones of a client.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub requests: AtomicU64,
    pub blob_uploads_started: AtomicU64,
    pub blob_bytes_uploaded: AtomicU64,
    pub upload_bytes_sent: AtomicU64,
    pub uploads_resumed: AtomicU64,
    pub mounts_succeeded: AtomicU64,
    pub retries: AtomicU64,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            requests: g(&self.requests),
            blob_uploads_started: g(&self.blob_uploads_started),
            blob_bytes_uploaded: g(&self.blob_bytes_uploaded),
            upload_bytes_sent: g(&self.upload_bytes_sent),
            uploads_resumed: g(&self.uploads_resumed),
            mounts_succeeded: g(&self.mounts_succeeded),
            retries: g(&self.retries),
        }
    }
}
