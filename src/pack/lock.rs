//! The output directory's lock: one `ferry pack` at a time writes into a directory.
//!
//! A pack holds an exclusive `flock` on `DIR/.ferry-pack.lock` from before it resolves the
//! first image until it returns, and records its pid in the file. A second pack into the same
//! directory fails at once, naming that pid, and never touches the first one's staging. The
//! kernel releases the lock when the process dies, so a crashed pack leaves no lock that blocks;
//! its file is taken over by the next pack.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::bundle::writer::LOCK_FILE;

/// Why the output directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another pack holds the lock.
    #[error("another ferry pack{} is writing into {dir}; wait for it to finish, or choose another --out", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Busy {
        /// The output directory.
        dir: PathBuf,
        /// The pid the holder recorded, when it could be read.
        pid: Option<u32>,
    },
    /// The directory or its lock file could not be created or locked.
    #[error("locking {path}: {source}")]
    Io {
        /// The directory or lock file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// An exclusive lock on a pack's output directory, released (and its file removed) on drop.
#[derive(Debug)]
pub struct OutLock {
    file: File,
    path: PathBuf,
    /// The directory, when this lock created it (removed on drop if the pack left it empty).
    created: Option<PathBuf>,
}

impl OutLock {
    /// Creates `dir` when absent and takes its lock, or fails with [`LockError::Busy`].
    pub fn acquire(dir: &Path) -> Result<OutLock, LockError> {
        let io = |path: &Path, source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let created = (!dir.exists()).then(|| dir.to_path_buf());
        let path = dir.join(LOCK_FILE);
        // A holder that finishes removes the file while still holding its lock; whoever locked
        // that removed file must start again on the path's new file.
        for _ in 0..100 {
            fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
            let mut file = match OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&path, e)),
            };
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    return Err(LockError::Busy {
                        dir: dir.to_path_buf(),
                        pid: holder_pid(&mut file),
                    })
                }
                Err(TryLockError::Error(e)) => return Err(io(&path, e)),
            }
            let held = file.metadata().map_err(|e| io(&path, e))?;
            match fs::metadata(&path) {
                Ok(m) if m.ino() == held.ino() && m.dev() == held.dev() => {}
                _ => continue,
            }
            let pid = format!("{}\n", std::process::id());
            file.set_len(0)
                .and_then(|()| file.write_all(pid.as_bytes()))
                .and_then(|()| file.sync_data())
                .map_err(|e| io(&path, e))?;
            return Ok(OutLock {
                file,
                path,
                created,
            });
        }
        Err(io(
            &path,
            std::io::Error::other("the lock file kept changing under this pack"),
        ))
    }
}

/// The pid recorded in a lock file held by another process. The holder writes it right after
/// locking, so an empty file is read again for a moment.
fn holder_pid(file: &mut File) -> Option<u32> {
    for _ in 0..50 {
        let mut s = String::new();
        if file.seek(SeekFrom::Start(0)).is_ok() && file.read_to_string(&mut s).is_ok() {
            if let Ok(pid) = s.trim().parse() {
                return Some(pid);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    None
}

impl Drop for OutLock {
    fn drop(&mut self) {
        // Removed while still locked, so that no one locks a file about to vanish unawares.
        let _ = fs::remove_file(&self.path);
        let _ = self.file.unlock();
        if let Some(dir) = &self.created {
            // Only succeeds when the pack left nothing there (it failed before writing).
            let _ = fs::remove_dir(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_names_the_first_holder_and_the_file_goes_on_release() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let first = OutLock::acquire(&dir).unwrap();
        match OutLock::acquire(&dir) {
            Err(e @ LockError::Busy { pid: Some(p), .. }) => {
                assert_eq!(p, std::process::id());
                assert!(e.to_string().contains(&format!("(pid {p})")), "{e}");
            }
            other => panic!("expected Busy, got {other:?}"),
        }
        drop(first);
        assert!(
            !dir.exists(),
            "an empty directory the lock created is removed"
        );
        let again = OutLock::acquire(&dir).unwrap();
        assert!(dir.join(LOCK_FILE).exists());
        drop(again);
    }

    #[test]
    fn a_stale_lock_file_does_not_block() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(LOCK_FILE), "999999\n").unwrap();
        let l = OutLock::acquire(tmp.path()).unwrap();
        let pid = fs::read_to_string(tmp.path().join(LOCK_FILE)).unwrap();
        assert_eq!(pid.trim(), std::process::id().to_string());
        drop(l);
        assert!(
            tmp.path().exists(),
            "a directory the lock did not create stays"
        );
    }
}
