//! Blob uploads: the upload strategies (single PUT for small blobs, streamed PATCH + PUT for
//! large ones, monolithic PUT when a registry mishandles PATCH) and the upload sessions a
//! declined mount leaves behind.

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

    /// Remembers the session a declined mount opened, so the next push of that blob uses it.
    pub(crate) fn keep_pending_upload(&self, repo: &str, digest: &Digest, url: Url) {
        self.pending_uploads
            .lock()
            .expect("lock")
            .insert((repo.to_string(), digest.to_string()), url);
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
            return self.put_monolithic(url, repo, digest, size, source);
        }
        match self.patch(url, repo, size, source) {
            Ok(next) => self.put_commit(next, repo, digest, Body::Bytes(&[])),
            Err(
                e @ (RegistryError::Status { .. }
                | RegistryError::NotFound { .. }
                | RegistryError::Protocol { .. }),
            ) => {
                log::debug!("streamed upload of {digest} failed ({e}); falling back to one PUT");
                let (url, _) = self.start_upload(repo, digest)?;
                self.put_monolithic(url, repo, digest, size, source)
            }
            Err(e) => Err(e),
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
