//! The per-key sequence of the bundles a key signs (bundle-format/SPEC.md §4.5), kept in a small
//! state file beside the secret key (`KEY.sequence`).
//!
//! The next sequence is `max(created, last + 1)`: it grows by at least one per bundle even when
//! the clock stands still or goes back, and without the state file (a new build machine) it
//! falls back to the packing time, which is above every earlier sequence as long as the clock
//! is right. So bundles of one key, and of a rotated key, compare by it.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The state file of the secret key at `key`: `KEY.sequence`.
pub fn state_file(key: &Path) -> PathBuf {
    let mut s = key.as_os_str().to_owned();
    s.push(".sequence");
    s.into()
}

/// The last sequence recorded in `state`, if the file exists.
pub fn last_sequence(state: &Path) -> io::Result<Option<u64>> {
    match std::fs::read_to_string(state) {
        Ok(text) => text.trim().parse().map(Some).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} does not hold a sequence number", state.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The sequence for a bundle packed at `created` (seconds since the epoch) after the bundles
/// recorded in `state`; records it in `state` (replaced atomically) before returning it.
pub fn next_sequence(state: &Path, created: u64) -> io::Result<u64> {
    let next = match last_sequence(state)? {
        Some(last) => created.max(last.saturating_add(1)),
        None => created,
    };
    let dir = match state.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".ferry-sequence-")
        .tempfile_in(dir)?;
    writeln!(tmp, "{next}")?;
    tmp.as_file().sync_all()?;
    tmp.persist(state).map_err(|e| e.error)?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_past_the_clock_and_follows_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = state_file(&dir.path().join("k"));
        assert_eq!(next_sequence(&state, 100).unwrap(), 100);
        // The clock stands still or goes back: still one more.
        assert_eq!(next_sequence(&state, 100).unwrap(), 101);
        assert_eq!(next_sequence(&state, 50).unwrap(), 102);
        // The clock moves on: the time.
        assert_eq!(next_sequence(&state, 500).unwrap(), 500);
        assert_eq!(last_sequence(&state).unwrap(), Some(500));
        std::fs::write(&state, "garbage").unwrap();
        assert!(next_sequence(&state, 600).is_err());
    }
}
