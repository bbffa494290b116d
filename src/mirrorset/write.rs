//! Storing the redirection files in a directory, each replaced atomically.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{MirrorSetError, MirrorSets, ITMS_FILE};

/// Writes every file of `sets` into `dir` (created if missing), each through a temporary file
/// renamed into place, and removes a stale `imagetagmirrorset.yaml` when `sets` has none.
/// Returns the paths written.
pub fn write_all(dir: &Path, sets: &MirrorSets) -> Result<Vec<PathBuf>, MirrorSetError> {
    fs::create_dir_all(dir).map_err(|source| MirrorSetError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    for (name, content) in sets.files() {
        let path = dir.join(name);
        write_atomically(dir, &path, content).map_err(|source| MirrorSetError::Write {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    if sets.itms.is_none() {
        let stale = dir.join(ITMS_FILE);
        match fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(MirrorSetError::Write {
                    path: stale,
                    source,
                })
            }
        }
    }
    Ok(written)
}

fn write_atomically(dir: &Path, path: &Path, content: &str) -> io::Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".ferry-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(crate::hide_temp_path)?;
    tmp.write_all(content.as_bytes())?;
    tmp.as_file().sync_all()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(0o644))?;
    }
    tmp.persist(path)
        .map_err(|e| crate::hide_temp_path(e.error))?;
    Ok(())
}
