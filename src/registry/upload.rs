//! Blob uploads: the upload strategies (single PUT for small blobs, PATCH segments + PUT for
//! large ones, monolithic PUT when a registry mishandles PATCH), resuming a session where the
//! registry says it stands (the journal keeps the URL after each acknowledged segment, across
//! runs), and the upload sessions a declined mount leaves behind. A session ferry gives up on is cancelled (`DELETE`): open
//! sessions hold disk on the registry until its garbage collection.

use std::io::Read as _;

use url::Url;

use super::auth::Scopes;
use super::error::RegistryError;
use super::http::{drain, Body, Call, Inner};
use super::journal::OpenUpload;
use super::source::{BlobSource, SharedReader};
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

    /// One upload attempt: continues the session the journal holds for this blob (where the
    /// registry says it stands), else opens one; then data and commit.
    pub(crate) fn upload_once(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        source: &dyn BlobSource,
    ) -> Result<(), RegistryError> {
        if size > SMALL_BLOB {
            if let Some(open) = self.journal.get(repo, digest) {
                match self.resume(open.clone(), repo, digest, size, source) {
                    Ok(()) => return Ok(()),
                    Err(e) if e.is_retryable() => return Err(e),
                    Err(e) => {
                        log::debug!("cannot continue the upload of {digest} ({e}); starting anew");
                        self.abandon(repo, digest, open.url);
                    }
                }
            }
        }
        let (url, reused) = self.start_upload(repo, digest)?;
        match self.upload_at(url, repo, digest, size, source) {
            // The left-over session was cancelled by `upload_at`.
            Err(e) if reused && !e.is_retryable() => {
                log::debug!("left-over upload session for {digest} unusable ({e}); starting anew");
                let (url, _) = self.start_upload(repo, digest)?;
                self.upload_at(url, repo, digest, size, source)
            }
            r => r,
        }
    }

    /// Asks where the session `open` stands (`GET` on its URL: `Range: 0-N`) and sends the rest.
    fn resume(
        &self,
        open: OpenUpload,
        repo: &str,
        digest: &Digest,
        size: u64,
        source: &dyn BlobSource,
    ) -> Result<(), RegistryError> {
        let call = Call {
            method: "GET",
            url: open.url,
            action: "ask the state of a blob upload to",
            repository: repo,
            what: "blob upload session".into(),
            scopes: Self::push_scopes(repo),
            headers: Vec::new(),
            body: Body::None,
        };
        let resp = self.send_once(&call)?;
        expect_status(self, &call, &resp, &[200, 204])?;
        // `0-0` is also what distribution says for an empty session; ferry records only
        // whole segments, so it never left a session holding one byte.
        let held = resp
            .header("range")
            .and_then(|r| r.trim().strip_prefix("0-"))
            .and_then(|last| last.trim().parse::<u64>().ok())
            .map_or(0, |last| if last == 0 { 0 } else { last + 1 });
        let url = match resp.header("location") {
            Some(_) => location(self, &call, &resp)?,
            None => call.url.clone(),
        };
        drain(resp);
        if held > size {
            return Err(RegistryError::Protocol {
                host: self.host.clone(),
                url: url.to_string(),
                message: format!("upload session holds {held} bytes of a {size}-byte blob"),
            });
        }
        Stats::add(&self.stats.uploads_resumed, 1);
        log::debug!("continuing the upload of {digest} at byte {held} of {size}");
        self.segments(OpenUpload { url, offset: held }, repo, digest, size, source)
    }

    /// Forgets and cancels an upload session ferry gives up on.
    fn abandon(&self, repo: &str, digest: &Digest, url: Url) {
        let latest = self.journal.get(repo, digest).map_or(url, |o| o.url);
        self.journal.forget(repo, digest);
        self.cancel_upload(latest, repo);
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
        let open = OpenUpload {
            url: url.clone(),
            offset: 0,
        };
        self.journal.put(repo, digest, open.clone());
        let r = self.segments(open, repo, digest, size, source);
        let acknowledged = self.journal.get(repo, digest).is_some_and(|o| o.offset > 0);
        match r {
            Ok(()) => Ok(()),
            // The session stays in the journal: the next attempt (or run) continues it. An
            // error status to the very first segment is taken for a registry that cannot
            // take PATCH, as before.
            Err(e)
                if e.is_retryable()
                    && (acknowledged || !matches!(e, RegistryError::Status { .. })) =>
            {
                Err(e)
            }
            Err(
                e @ (RegistryError::Status { .. }
                | RegistryError::NotFound { .. }
                | RegistryError::Protocol { .. }),
            ) => {
                log::debug!("streamed upload of {digest} failed ({e}); falling back to one PUT");
                self.abandon(repo, digest, url);
                let (url, _) = self.start_upload(repo, digest)?;
                let r = self.put_monolithic(url.clone(), repo, digest, size, source);
                self.or_cancel(&url, repo, r)
            }
            Err(e) => {
                self.abandon(repo, digest, url);
                Err(e)
            }
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
        Stats::add(&self.stats.upload_bytes_sent, size);
        self.put_commit(url, repo, digest, Body::Source(source, size))
    }

    /// Sends the blob from `at.offset` in `PATCH` segments, recording each one the registry
    /// acknowledges, then commits. The source is read from its start (the bytes before the
    /// offset are skipped, not sent), so its digest check still covers every byte.
    fn segments(
        &self,
        mut at: OpenUpload,
        repo: &str,
        digest: &Digest,
        size: u64,
        source: &dyn BlobSource,
    ) -> Result<(), RegistryError> {
        let io_err = |source| RegistryError::Io {
            action: "read the blob to upload to",
            url: at.url.to_string(),
            source,
        };
        let mut reader = source.open().map_err(io_err)?;
        let skipped = std::io::copy(&mut (&mut reader).take(at.offset), &mut std::io::sink())
            .map_err(io_err)?;
        if skipped != at.offset {
            return Err(io_err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("blob source ended after {skipped} of {size} bytes"),
            )));
        }
        let reader = SharedReader::new(reader);
        while at.offset < size {
            let len = self.segment.min(size - at.offset);
            let call = Call {
                method: "PATCH",
                url: at.url.clone(),
                action: "upload blob data to",
                repository: repo,
                what: "blob upload session".into(),
                scopes: Self::push_scopes(repo),
                headers: vec![
                    ("Content-Type", OCTET_STREAM.into()),
                    (
                        "Content-Range",
                        format!("{}-{}", at.offset, at.offset + len - 1),
                    ),
                ],
                body: Body::Stream(&reader, len),
            };
            Stats::add(&self.stats.upload_bytes_sent, len);
            let resp = self.send_once(&call)?;
            expect_status(self, &call, &resp, &[202])?;
            let next = location(self, &call, &resp)?;
            drain(resp);
            at = OpenUpload {
                url: next,
                offset: at.offset + len,
            };
            self.journal.put(repo, digest, at.clone());
        }
        self.put_commit(at.url, repo, digest, Body::Bytes(&[]))?;
        self.journal.forget(repo, digest);
        Ok(())
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
