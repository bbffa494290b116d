//! The upload journal: for each blob upload in progress, the session URL the registry gave
//! after the last segment it acknowledged, and how many bytes that was. A retry within a run,
//! or a rerun after the process was killed, asks the registry where that session stands and
//! sends only the rest.
//!
//! Kept in memory, and on disk when a directory is given: one small JSON file per
//! (registry, repository, blob), written whole and renamed into place, so that a kill leaves
//! either the old record or the new one. Session URLs are capabilities on some registries:
//! the files are readable by their owner only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::model::Digest;

/// Where one upload stands, as last acknowledged by the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpenUpload {
    /// The session URL to continue at.
    pub url: Url,
    /// Bytes the registry acknowledged.
    pub offset: u64,
}

#[derive(Serialize, Deserialize)]
struct Record {
    host: String,
    repository: String,
    digest: String,
    url: String,
    offset: u64,
}

/// Open uploads of one registry client.
pub(crate) struct UploadJournal {
    host: String,
    dir: Option<PathBuf>,
    open: Mutex<HashMap<(String, Digest), OpenUpload>>,
}

impl UploadJournal {
    /// The journal of uploads to `host`, kept on disk under `dir` when given.
    pub fn new(host: &str, dir: Option<&Path>) -> Self {
        UploadJournal {
            host: host.to_string(),
            dir: dir.map(Path::to_path_buf),
            open: Mutex::new(HashMap::new()),
        }
    }

    fn file(&self, repo: &str, digest: &Digest) -> Option<PathBuf> {
        let key = Digest::sha256_of(format!("{}\n{repo}\n{digest}", self.host).as_bytes());
        let name = key.to_string().replace(':', "-");
        self.dir.as_ref().map(|d| d.join(format!("{name}.json")))
    }

    /// The open upload of `digest` to `repo`, if this run or an earlier one left one.
    pub fn get(&self, repo: &str, digest: &Digest) -> Option<OpenUpload> {
        let key = (repo.to_string(), digest.clone());
        if let Some(o) = self.open.lock().expect("journal lock").get(&key) {
            return Some(o.clone());
        }
        let path = self.file(repo, digest)?;
        // A record is a few hundred bytes; anything larger is not one of ours.
        let bytes = std::fs::read(&path).ok().filter(|b| b.len() < 64 * 1024)?;
        let r: Record = serde_json::from_slice(&bytes).ok()?;
        let ours = r.host == self.host && r.repository == repo && r.digest == digest.to_string();
        ours.then_some(())?;
        Some(OpenUpload {
            url: Url::parse(&r.url).ok()?,
            offset: r.offset,
        })
    }

    /// Records that the registry acknowledged `offset` bytes, and the URL to continue at.
    pub fn put(&self, repo: &str, digest: &Digest, upload: OpenUpload) {
        if let Some(path) = self.file(repo, digest) {
            let record = Record {
                host: self.host.clone(),
                repository: repo.to_string(),
                digest: digest.to_string(),
                url: upload.url.to_string(),
                offset: upload.offset,
            };
            if let Err(e) = write_private(&path, &serde_json::to_vec(&record).unwrap_or_default()) {
                // Losing the record costs only a restart of this blob in a later run.
                log::debug!("upload journal {}: {e}", path.display());
            }
        }
        self.open
            .lock()
            .expect("journal lock")
            .insert((repo.to_string(), digest.clone()), upload);
    }

    /// The upload finished or was abandoned.
    pub fn forget(&self, repo: &str, digest: &Digest) {
        self.open
            .lock()
            .expect("journal lock")
            .remove(&(repo.to_string(), digest.clone()));
        if let Some(path) = self.file(repo, digest) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Writes `bytes` to `path` through a temporary file renamed into place, readable by its
/// owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".upload-")
        .tempfile_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_outlives_the_client_and_is_gone_once_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let d = Digest::sha256_of(b"blob");
        let up = OpenUpload {
            url: Url::parse("http://r:5000/v2/a/blobs/uploads/x?_state=s").unwrap(),
            offset: 4096,
        };
        UploadJournal::new("r:5000", Some(dir.path())).put("a", &d, up.clone());
        let later = UploadJournal::new("r:5000", Some(dir.path()));
        assert_eq!(later.get("a", &d), Some(up));
        assert_eq!(later.get("b", &d), None, "another repository");
        assert_eq!(
            UploadJournal::new("other:5000", Some(dir.path())).get("a", &d),
            None,
            "another registry"
        );
        later.forget("a", &d);
        assert_eq!(
            UploadJournal::new("r:5000", Some(dir.path())).get("a", &d),
            None
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
