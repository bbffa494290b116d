//! Group commits on a thread of their own: volume data synced to disk, then the journal lines
//! of the blobs it holds appended and synced, while the writer goes on writing the next group.
//!
//! A sync waits for the disk; on the writer's thread it stalled the whole pipeline behind it
//! (readers and hashers fill their few slots and wait), so a pack alternated between computing
//! and waiting for the disk. Here the writer only queues a commit; the next group's data goes
//! into the page cache while the disk takes the last one. The guarantee is the same: a journal
//! line is written only after every volume file holding data it vouches for has been synced.
//! Commits queued while a sync runs are merged into the next one.

use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use super::journal::{Journal, JournalRecord};
use super::volume::VolumeError;
use super::BundleError;

/// Commits queued and not yet durable, and the first failure.
#[derive(Default)]
struct State {
    /// Volume files to sync (handles to the files being written), by path.
    files: Vec<(PathBuf, File)>,
    /// Journal lines to append once the files are synced.
    records: Vec<JournalRecord>,
    /// A commit is being made durable right now.
    busy: bool,
    /// The writer is gone: finish what is queued, then stop.
    closed: bool,
    /// A commit failed: nothing is journalled after it.
    stopped: bool,
    /// That failure, until it is reported.
    failed: Option<BundleError>,
}

impl State {
    /// The failure that stopped the thread (once; later calls get a plain error).
    fn failure(&mut self, staging: &std::path::Path) -> BundleError {
        self.failed.take().unwrap_or_else(|| {
            BundleError::io(
                staging,
                std::io::Error::other("an earlier commit of the volume data failed"),
            )
        })
    }
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

/// The thread that makes queued commits durable, in order.
pub(super) struct Syncer {
    shared: Arc<Shared>,
    staging: PathBuf,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    /// Starts the thread; it appends to `journal`, at `staging` (for error messages).
    pub(super) fn start(journal: Journal, staging: PathBuf) -> Syncer {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let thread = {
            let shared = Arc::clone(&shared);
            let staging = staging.clone();
            std::thread::spawn(move || run(&shared, journal, &staging))
        };
        Syncer {
            shared,
            staging,
            thread: Some(thread),
        }
    }

    /// Queues a commit: `files` synced, then `records` journalled. Returns the failure of an
    /// earlier commit, if one failed.
    pub(super) fn submit(
        &self,
        files: Vec<(PathBuf, File)>,
        records: Vec<JournalRecord>,
    ) -> Result<(), BundleError> {
        let mut s = self.shared.state.lock().expect("syncer lock");
        if s.stopped {
            return Err(s.failure(&self.staging));
        }
        for (path, file) in files {
            // One handle per file is enough: a sync covers everything written before it.
            if !s.files.iter().any(|(p, _)| *p == path) {
                s.files.push((path, file));
            }
        }
        s.records.extend(records);
        drop(s);
        self.shared.changed.notify_all();
        Ok(())
    }

    /// Waits until every queued commit is durable; the first failure if one failed.
    pub(super) fn wait(&self) -> Result<(), BundleError> {
        let mut s = self.shared.state.lock().expect("syncer lock");
        while !s.stopped && (s.busy || !s.records.is_empty() || !s.files.is_empty()) {
            s = self.shared.changed.wait(s).expect("syncer lock");
        }
        if s.stopped {
            return Err(s.failure(&self.staging));
        }
        Ok(())
    }
}

impl Drop for Syncer {
    /// Makes what is queued durable (a pack that stops on an error keeps what it completed),
    /// then stops the thread.
    fn drop(&mut self) {
        if let Ok(mut s) = self.shared.state.lock() {
            s.closed = true;
        }
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The thread: takes everything queued, syncs the files, journals the records, again.
fn run(shared: &Shared, mut journal: Journal, staging: &std::path::Path) {
    loop {
        let (files, records) = {
            let mut s = shared.state.lock().expect("syncer lock");
            while s.records.is_empty() && s.files.is_empty() && !s.closed {
                s = shared.changed.wait(s).expect("syncer lock");
            }
            if s.records.is_empty() && s.files.is_empty() {
                return;
            }
            s.busy = true;
            (std::mem::take(&mut s.files), std::mem::take(&mut s.records))
        };
        let mut result = Ok(());
        for (path, file) in &files {
            if let Err(source) = file.sync_data() {
                result = Err(BundleError::from(VolumeError::Io {
                    path: path.clone(),
                    source,
                }));
                break;
            }
        }
        if result.is_ok() && !records.is_empty() {
            result = journal
                .append_all(&records)
                .map_err(|e| BundleError::io(staging, e));
        }
        let mut s = shared.state.lock().expect("syncer lock");
        s.busy = false;
        if let Err(e) = result {
            // Nothing after a failed commit may be journalled: drop what is queued and stop.
            s.stopped = true;
            s.failed = Some(e);
            s.files.clear();
            s.records.clear();
            drop(s);
            shared.changed.notify_all();
            return;
        }
        drop(s);
        shared.changed.notify_all();
    }
}
