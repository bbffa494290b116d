//! Storing the redirection files in a directory: [`write_all`] replaces one set of files;
//! [`write_bundle`] adds one bundle's files beside those of earlier bundles, never replacing a
//! file silently.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{merge, MirrorSetError, MirrorSets, ITMS_FILE, REGISTRIES_CONF_FILE};

/// The files one bundle's mirror sets went to, and what was done besides writing new files.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct WrittenFiles {
    /// Every file of the bundle's mirror sets (new, merged, or already there with the same
    /// content).
    pub files: Vec<PathBuf>,
    /// What was merged or left as it was, for the user.
    pub notes: Vec<String>,
}

/// `imagedigestmirrorset.yaml` → `imagedigestmirrorset-ID.yaml`.
pub fn bundle_file_name(name: &str, id: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}-{id}.{ext}"),
        None => format!("{name}-{id}"),
    }
}

/// Writes one bundle's `sets` into `dir` (created if missing) beside earlier bundles' files:
/// each resource and the mapping under a name carrying `id` (`imagedigestmirrorset-ID.yaml`);
/// a file of that name already there must have the same content (the same bundle written
/// again), else [`MirrorSetError::Exists`]. `registries.conf` is one drop-in for all bundles:
/// this bundle is merged into the one there (which must be ferry's), and a note says so.
pub fn write_bundle(
    dir: &Path,
    sets: &MirrorSets,
    id: &str,
) -> Result<WrittenFiles, MirrorSetError> {
    let werr = |path: &Path| {
        let path = path.to_path_buf();
        move |source| MirrorSetError::Write { path, source }
    };
    fs::create_dir_all(dir).map_err(werr(dir))?;
    let mut out = WrittenFiles::default();
    for (name, content) in sets.files() {
        if name == REGISTRIES_CONF_FILE {
            continue;
        }
        let path = dir.join(bundle_file_name(name, id));
        match fs::read_to_string(&path) {
            Ok(existing) if existing == content => {
                out.notes
                    .push(format!("{} is already there, unchanged", path.display()));
            }
            Ok(_) => return Err(MirrorSetError::Exists { path }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                write_atomically(dir, &path, content).map_err(werr(&path))?
            }
            Err(e) => return Err(werr(&path)(e)),
        }
        out.files.push(path);
    }
    let path = dir.join(REGISTRIES_CONF_FILE);
    match fs::read_to_string(&path) {
        Ok(existing) => {
            let merged = merge::merge(&existing, &sets.registries_conf)
                .ok_or_else(|| MirrorSetError::NotFerrys { path: path.clone() })?;
            if merged.text != existing {
                write_atomically(dir, &path, &merged.text).map_err(werr(&path))?;
            }
            out.notes.push(format!(
                "merged this bundle's registries into {} (kept {} registries only earlier bundles had)",
                path.display(),
                merged.kept
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            write_atomically(dir, &path, &sets.registries_conf).map_err(werr(&path))?
        }
        Err(e) => return Err(werr(&path)(e)),
    }
    out.files.push(path);
    Ok(out)
}

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
        .tempfile_in(dir)?;
    tmp.write_all(content.as_bytes())?;
    tmp.as_file().sync_all()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(0o644))?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
