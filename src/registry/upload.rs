//! Blob uploads: the upload strategies (single PUT for small blobs, streamed PATCH + PUT for
//! large ones, monolithic PUT when a registry mishandles PATCH) and the upload sessions a
//! declined mount leaves behind. A session ferry gives up on is cancelled (`DELETE`): open
//! sessions hold disk on the registry until its garbage collection.

use url::Url;

use super::auth::Scopes;
use super::error::RegistryError;
use super::http::{drain, Body, Call, Inner};
use super::source::BlobSource;
use super::stats::Stats;
use crate::model::Digest;

/// Blobs up to this size go in the PUT that closes the upload session.
pub const SMALL_BLOB: u64 = 1024 * 1024;

const OCTET_STREAM: &str = "application/octet-stream";

fn location(reg: &Inner, call: &Call<'_>, resp: &ureq::Response) -> Result<Url, RegistryError> {
    let loc = resp
        .header("location")
        .ok_or_else(|| RegistryError::Protocol {
            host: reg.host.clone(),
            url: call.url.to_string(),
            message: format!("HTTP {} without a Location header", resp.status()),
        })?;
    call.url.join(loc).map_err(|e| RegistryError::Protocol {
        host: reg.host.clone(),
        url: call.url.to_string(),
        message: format!("unusable Location {loc:?}: {e}"),
    })
}

fn expect_status(
    reg: &Inner,
    call: &Call<'_>,
    resp: &ureq::Response,
    want: &[u16],
) -> Result<(), RegistryError> {
    if want.contains(&resp.status()) {
        Ok(())
    } else {
        Err(RegistryError::Protocol {
            host: reg.host.clone(),
            url: call.url.to_string(),
            message: format!("HTTP {} where {want:?} was expected", resp.status()),
        })
    }
}

impl Inner {
    fn push_scopes(repo: &str) -> Scopes {
        Scopes::repo(repo, &["pull", "push"])
    }

    /// The upload session to use: one left by a mount the registry declined, else a new one.
    /// The flag says whether it was a left-over one.
    fn start_upload(&self, repo: &str, digest: &Digest) -> Result<(Url, bool), RegistryError> {
        let key = (repo.to_string(), digest.to_string());
        if let Some(url) = self.pending_uploads.lock().expect("lock").remove(&key) {
            return Ok((url, true));
        }
        let call = Call {
            method: "POST",
            url: self.endpoint(repo, "blobs/uploads/", "")?,
            action: "start a blob upload to",
            repository: repo,
            what: format!("repository {repo}"),
            scopes: Self::push_scopes(repo),
            headers: vec![("Content-Type", OCTET_STREAM.into())],
            body: Body::Bytes(&[]),
        };
        let resp = self.send_once(&call)?;
        Stats::add(&self.stats.blob_uploads_started, 1);
        expect_status(self, &call, &resp, &[202])?;
        let url = location(self, &call, &resp)?;
        drain(resp);
        Ok((url, false))
    }

    /// Remembers the session a declined mount opened, so the next push of that blob uses it
    /// (cancelling one remembered before for the same blob).
    pub(crate) fn keep_pending_upload(&self, repo: &str, digest: &Digest, url: Url) {
        let old = self
            .pending_uploads
            .lock()
            .expect("lock")
            .insert((repo.to_string(), digest.to_string()), url);
        if let Some(old) = old {
            self.cancel_upload(old, repo);
        }
    }

    /// Cancels an upload session ferry gives up on (`DELETE`), so that the registry can free
    /// what it holds. Best effort: a failure is only logged (the session expires anyway).
    pub(crate) fn cancel_upload(&self, url: Url, repo: &str) {
        let call = Call {
            method: "DELETE",
            url,
            action: "cancel a blob upload to",
            repository: repo,
            what: "blob upload session".into(),
            scopes: Self::push_scopes(repo),
            headers: Vec::new(),
            body: Body::None,
        };
        match self.send_once(&call) {
            Ok(resp) => {
                log::debug!("upload session {} cancelled", call.url);
                drain(resp);
            }
            Err(e) => log::debug!("cancelling upload session {} failed: {e}", call.url),
        }
    }

    /// `result`, after cancelling the session at `url` if it is an error.
    fn or_cancel<T>(
        &self,
        url: &Url,
        repo: &str,
        result: Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        if result.is_err() {
            self.cancel_upload(url.clone(), repo);
        }
        result
    }

    /// One complete upload attempt (session, data, commit).
    pub(crate) fn upload_once(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        source: &dyn BlobSource,
    ) -> Result<(), RegistryError> {
        let (url, reused) = self.start_upload(repo, digest)?;
        match self.upload_at(url, repo, digest, size, source) {
            // The left-over session was cancelled by `upload_at`.
            Err(e) if reused => {
                log::debug!("left-over upload session for {digest} unusable ({e}); starting anew");
                let (url, _) = self.start_upload(repo, digest)?;
                self.upload_at(url, repo, digest, size, source)
            }
            r => r,
        }
    }

    fn upload_at(
        &self,
        url: Url,
        repo: &str,
        digest: &Digest,
        size: u64,
        source: &dyn BlobSource,
    ) -> Result<(), RegistryError> {
        if size <= SMALL_BLOB {
            let r = self.put_monolithic(url.clone(), repo, digest, size, source);
            return self.or_cancel(&url, repo, r);
        }
        match self.patch(url.clone(), repo, size, source) {
            Ok(next) => {
                let r = self.put_commit(next.clone(), repo, digest, Body::Bytes(&[]));
                self.or_cancel(&next, repo, r)
            }
            Err(
                e @ (RegistryError::Status { .. }
                | RegistryError::NotFound { .. }
                | RegistryError::Protocol { .. }),
            ) => {
                log::debug!("streamed upload of {digest} failed ({e}); falling back to one PUT");
                self.cancel_upload(url, repo);
                let (url, _) = self.start_upload(repo, digest)?;
                let r = self.put_monolithic(url.clone(), repo, digest, size, source);
                self.or_cancel(&url, repo, r)
            }
            Err(e) => self.or_cancel(&url, repo, Err(e)),
        }
    }

    fn put_monolithic(
        &self,
        url: Url,
        repo: &str,
        digest: &Digest,
        size: u64,
        source: &dyn BlobSource,
    ) -> Result<(), RegistryError> {
        self.put_commit(url, repo, digest, Body::Source(source, size))
    }

    fn patch(
        &self,
        url: Url,
        repo: &str,
        size: u64,
        source: &dyn BlobSource,
    ) -> Result<Url, RegistryError> {
        let call = Call {
            method: "PATCH",
            url,
            action: "upload blob data to",
            repository: repo,
            what: "blob upload session".into(),
            scopes: Self::push_scopes(repo),
            headers: vec![
                ("Content-Type", OCTET_STREAM.into()),
                ("Content-Range", format!("0-{}", size.saturating_sub(1))),
            ],
            body: Body::Source(source, size),
        };
        let resp = self.send_once(&call)?;
        expect_status(self, &call, &resp, &[202])?;
        let next = location(self, &call, &resp)?;
        drain(resp);
        Ok(next)
    }

    fn put_commit(
        &self,
        mut url: Url,
        repo: &str,
        digest: &Digest,
        body: Body<'_>,
    ) -> Result<(), RegistryError> {
        url.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let call = Call {
            method: "PUT",
            url,
            action: "push blob to",
            repository: repo,
            what: format!("upload session for blob {digest}"),
            scopes: Self::push_scopes(repo),
            headers: vec![("Content-Type", OCTET_STREAM.into())],
            body,
        };
        let resp = self.send_once(&call)?;
        expect_status(self, &call, &resp, &[201, 204])?;
        drain(resp);
        Ok(())
    }
}

impl Drop for Inner {
    /// Cancels the sessions of declined mounts that no push used.
    fn drop(&mut self) {
        let pending: Vec<_> = match self.pending_uploads.get_mut() {
            Ok(p) => p.drain().collect(),
            Err(_) => return,
        };
        for ((repo, _), url) in pending {
            self.cancel_upload(url, &repo);
        }
    }
}
