//! The spool of rebuilt layers: a `gzip-tar` layer of an incremental bundle is rebuilt once
//! into a file under a temporary directory, hashed while it is rebuilt, and then served from
//! that file (with `Range`, as any blob); requests that come while it is rebuilt wait for that
//! one rebuild. The directory is removed when the spool is dropped (when the server stops).
//!
//! Bounds: one rebuild at a time (a rebuild holds the reconstruction engine's memory and the
//! uncompressed base layers of one layer on disk, in a scratch directory removed after it);
//! rebuilt layers together stay within the limit, the least recently served removed first
//! (a client still reading a removed file keeps reading it).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};

use crate::model::Digest;

/// Fills a rebuilt layer's file; the path is a scratch directory for the rebuild's own
/// temporary files, removed after it. The error says why, naming what failed.
pub(super) type Build<'a> = dyn Fn(&Path, &mut dyn Write) -> Result<(), String> + 'a;

/// Rebuilt layers in files under a temporary directory, at most `limit` bytes of them.
pub(super) struct Spool {
    parent: PathBuf,
    limit: u64,
    dir: OnceLock<Result<tempfile::TempDir, String>>,
    state: Mutex<State>,
    changed: Condvar,
    rebuilding: Mutex<()>,
}

#[derive(Default)]
struct State {
    slots: HashMap<Digest, Slot>,
    clock: u64,
}

enum Slot {
    Building,
    Ready {
        path: tempfile::TempPath,
        size: u64,
        used: u64,
    },
    Failed(String),
}

impl Spool {
    /// A spool in a directory made (at the first rebuild) under `parent`, holding at most
    /// `limit` bytes of rebuilt layers.
    pub(super) fn new(parent: PathBuf, limit: u64) -> Self {
        Spool {
            parent,
            limit,
            dir: OnceLock::new(),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            rebuilding: Mutex::new(()),
        }
    }

    /// The directory, once made.
    #[cfg(test)]
    pub(super) fn dir(&self) -> Option<&Path> {
        match self.dir.get() {
            Some(Ok(d)) => Some(d.path()),
            _ => None,
        }
    }

    /// The rebuilt layer `digest` (`size` bytes), opened for reading: rebuilt with `build` if it
    /// is not spooled yet, or waited for if another request is rebuilding it. A layer whose
    /// rebuild failed answers that failure until the server restarts.
    pub(super) fn open(
        &self,
        digest: &Digest,
        size: u64,
        build: &Build<'_>,
    ) -> Result<File, String> {
        if size > self.limit {
            return Err(format!(
                "layer {digest} is {size} bytes, more than the spool holds ({} bytes, \
                 --spool-size)",
                self.limit
            ));
        }
        let mut st = lock(&self.state);
        loop {
            st.clock += 1;
            let now = st.clock;
            match st.slots.get_mut(digest) {
                Some(Slot::Ready { path, used, .. }) => {
                    *used = now;
                    return File::open(&**path)
                        .map_err(|e| format!("spooled layer {}: {e}", path.display()));
                }
                Some(Slot::Failed(why)) => return Err(why.clone()),
                Some(Slot::Building) => {
                    st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                None => {
                    st.slots.insert(digest.clone(), Slot::Building);
                    break;
                }
            }
        }
        drop(st);
        let built = self.build(size, build);
        let mut st = lock(&self.state);
        st.clock += 1;
        let used = st.clock;
        let opened = match built {
            Ok(path) => {
                let f = File::open(&*path).map_err(|e| format!("spooled layer: {e}"));
                st.slots
                    .insert(digest.clone(), Slot::Ready { path, size, used });
                f
            }
            Err(why) => {
                let why = format!("rebuilding layer {digest}: {why}");
                st.slots.insert(digest.clone(), Slot::Failed(why.clone()));
                Err(why)
            }
        };
        self.changed.notify_all();
        opened
    }

    fn build(&self, size: u64, build: &Build<'_>) -> Result<tempfile::TempPath, String> {
        let _one = lock(&self.rebuilding);
        let dir = self
            .dir
            .get_or_init(|| {
                tempfile::Builder::new()
                    .prefix("ferry-serve-")
                    .tempdir_in(&self.parent)
                    .map_err(|e| {
                        format!("making a spool directory in {}: {e}", self.parent.display())
                    })
            })
            .as_ref()
            .map_err(Clone::clone)?
            .path();
        self.make_room(size);
        let io_err = |e: io::Error| format!("writing to the spool in {}: {e}", dir.display());
        let mut file = tempfile::Builder::new()
            .prefix("layer-")
            .tempfile_in(dir)
            .map_err(io_err)?;
        let scratch = tempfile::Builder::new()
            .prefix("bases-")
            .tempdir_in(dir)
            .map_err(io_err)?;
        {
            let mut w = BufWriter::new(file.as_file_mut());
            build(scratch.path(), &mut w)?;
            w.flush().map_err(io_err)?;
        }
        Ok(file.into_temp_path())
    }

    /// Removes the least recently served layers until `size` more bytes fit in the limit.
    fn make_room(&self, size: u64) {
        let mut st = lock(&self.state);
        loop {
            let held: u64 = st
                .slots
                .values()
                .map(|s| match s {
                    Slot::Ready { size, .. } => *size,
                    _ => 0,
                })
                .sum();
            if held + size <= self.limit {
                return;
            }
            let oldest = st
                .slots
                .iter()
                .filter_map(|(d, s)| match s {
                    Slot::Ready { used, .. } => Some((*used, d.clone())),
                    _ => None,
                })
                .min();
            match oldest {
                Some((_, d)) => {
                    st.slots.remove(&d);
                }
                None => return,
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn read(mut f: File) -> Vec<u8> {
        let mut v = Vec::new();
        f.read_to_end(&mut v).unwrap();
        v
    }

    #[test]
    fn a_layer_is_built_once_for_concurrent_requests_and_evicted_oldest_first() {
        let parent = tempfile::tempdir().unwrap();
        let spool = Spool::new(parent.path().to_path_buf(), 10);
        let builds = AtomicUsize::new(0);
        let (a, b) = (Digest::sha256_of(b"a"), Digest::sha256_of(b"b"));
        let build = |fill: u8| {
            let builds = &builds;
            move |_: &Path, w: &mut dyn Write| {
                builds.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(50));
                w.write_all(&[fill; 6]).map_err(|e| e.to_string())
            }
        };
        let ba = build(b'a');
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| assert_eq!(read(spool.open(&a, 6, &ba).unwrap()), b"aaaaaa"));
            }
        });
        assert_eq!(builds.load(Ordering::SeqCst), 1);
        // b does not fit beside a: a goes, and is rebuilt when asked for again.
        assert_eq!(read(spool.open(&b, 6, &build(b'b')).unwrap()), b"bbbbbb");
        assert_eq!(builds.load(Ordering::SeqCst), 2);
        assert_eq!(read(spool.open(&a, 6, &ba).unwrap()), b"aaaaaa");
        assert_eq!(builds.load(Ordering::SeqCst), 3);
        let dir = spool.dir().unwrap().to_path_buf();
        assert!(dir.exists());
        let failing = |_: &Path, _: &mut dyn Write| Err("chunk sha256:abc damaged".to_string());
        let c = Digest::sha256_of(b"c");
        let e = spool.open(&c, 1, &failing).unwrap_err();
        assert!(
            e.contains("chunk sha256:abc damaged") && e.contains(&c.to_string()),
            "{e}"
        );
        assert_eq!(spool.open(&c, 1, &failing).unwrap_err(), e);
        let e = spool.open(&c, 11, &failing).unwrap_err();
        assert!(e.contains("--spool-size"), "{e}");
        drop(spool);
        assert!(
            !dir.exists(),
            "the spool directory is removed with the spool"
        );
    }
}
