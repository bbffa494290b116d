//! [`Registry`]: a client for one registry host speaking the OCI distribution API.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use url::Url;

use super::auth::{Scopes, TokenCache};
use super::credentials;
use super::error::RegistryError;
use super::http::{drain, Body, Call, Inner};
use super::journal::UploadJournal;
use super::options::ClientOptions;
use super::pages::read_page;
use super::resume::ResumingReader;
use super::source::BlobSource;
use super::stats::{Stats, StatsSnapshot};
use super::transport::Limits;
use super::wire::Wire;
use crate::model::media_type::{essence, MANIFEST_TYPES};
use crate::model::{Digest, DigestingReader, MediaType};

/// A stalled read or write fails after 5 minutes (there is no limit on a whole transfer);
/// ureq follows no redirect: [`Wire`] does, deciding where credentials go.
const LIMITS: Limits = Limits {
    call: None,
    io: Some(Duration::from_secs(300)),
    redirects: 0,
};
/// Manifests larger than this are refused (the distribution spec suggests 4 MiB).
const MAX_MANIFEST: u64 = 8 * 1024 * 1024;

/// A manifest as the registry served it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedManifest {
    /// Its media type (from `Content-Type`, else the `mediaType` field).
    pub media_type: MediaType,
    /// The digest of `bytes`.
    pub digest: Digest,
    /// The exact bytes served.
    pub bytes: Vec<u8>,
}

/// A client for one registry host. Clones share connections, tokens and counters.
#[derive(Clone)]
pub struct Registry {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("host", &self.inner.host)
            .field("insecure", &self.inner.insecure)
            .field("user", &self.inner.creds.as_ref().map(|c| &c.username))
            .field("tokens", &self.inner.tokens)
            .field("stats", &self.inner.stats.snapshot())
            .finish()
    }
}

/// The media type of a served manifest: its `Content-Type` without parameters, unless that is
/// missing or generic JSON/text, in which case the body's `mediaType` field (or else the
/// parameterless `Content-Type`, possibly empty).
fn media_type_of(content_type: Option<&str>, bytes: &[u8]) -> MediaType {
    let ct = content_type.map(essence).unwrap_or_default();
    if !ct.is_empty() && ct != "application/json" && ct != "text/plain" {
        return MediaType::from(ct);
    }
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    serde_json::from_slice::<Probe>(bytes)
        .ok()
        .and_then(|p| p.media_type)
        .map_or_else(|| MediaType::from(ct), MediaType::from)
}

impl Registry {
    /// A client for `host` (`HOST[:PORT]`, `docker.io` meaning Docker Hub), with credentials
    /// and trust settings from `opts`. Does not contact the registry.
    pub fn new(host: &str, opts: &ClientOptions) -> Result<Registry, RegistryError> {
        let api_host = if host == "docker.io" || host == "index.docker.io" {
            "registry-1.docker.io"
        } else {
            host
        };
        let wire = Wire::new(host, api_host, opts, LIMITS).map_err(|e| RegistryError::Config {
            host: host.to_string(),
            message: crate::error_chain(&e),
        })?;
        let (creds, creds_origin) = credentials::lookup_with_origin(
            host,
            opts.creds.as_ref(),
            opts.authfile.as_deref(),
            &|k| std::env::var(k).ok(),
        )?;
        Ok(Registry {
            inner: Arc::new(Inner {
                host: host.to_string(),
                api_host: api_host.to_string(),
                insecure: wire.insecure(),
                wire,
                creds,
                creds_origin,
                retry: opts.retry.clone(),
                session: Mutex::new(None),
                tokens: TokenCache::default(),
                stats: Stats::default(),
                pending_uploads: Mutex::new(HashMap::new()),
                journal: UploadJournal::new(host, opts.upload_journal.as_deref()),
                segment: opts.upload_segment.max(1),
            }),
        })
    }

    /// The registry host this client talks to, as given to [`Registry::new`].
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// Checks that the registry speaks the distribution API and learns how it authenticates
    /// (`GET /v2/`); for an insecure host, falls back from HTTPS to plain HTTP.
    pub fn ping(&self) -> Result<(), RegistryError> {
        self.inner.session().map(|_| ())
    }

    /// Where the credential this client sends came from, in words (`--creds`, `auth file
    /// PATH (user NAME)`, or that none was found and where ferry looked).
    pub fn credential_origin(&self) -> &str {
        &self.inner.creds_origin
    }

    /// Checks, with one request, that the registry accepts the credentials for pushing to
    /// `repo` (a token for `pull,push` from its token service, or `GET /v2/` with Basic
    /// credentials): so that wrong credentials are refused once, before any work, rather than
    /// once per image (which can lock an account). Anonymous registries pass.
    pub fn check_credentials(&self, repo: &str) -> Result<(), RegistryError> {
        self.inner.check_credentials(repo)
    }

    /// Counters of what this client (and its clones) did.
    pub fn stats(&self) -> StatsSnapshot {
        self.inner.stats.snapshot()
    }

    /// `BASE/v2/<repo>/<kind><reference>`, after checking the names.
    pub(crate) fn endpoint(
        &self,
        repo: &str,
        kind: &str,
        reference: &str,
    ) -> Result<Url, RegistryError> {
        self.inner.endpoint(repo, kind, reference)
    }

    fn manifest_call<'a>(
        &self,
        method: &'static str,
        repo: &'a str,
        reference: &str,
    ) -> Result<Call<'a>, RegistryError> {
        Ok(Call {
            method,
            url: self.endpoint(repo, "manifests/", reference)?,
            action: if method == "HEAD" {
                "look up manifest in"
            } else {
                "pull manifest from"
            },
            repository: repo,
            what: format!("manifest {reference}"),
            scopes: Scopes::repo(repo, &["pull"]),
            headers: vec![(
                "Accept",
                MANIFEST_TYPES
                    .iter()
                    .map(MediaType::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            )],
            body: Body::None,
        })
    }

    /// Fetches a manifest by tag or digest, keeping its exact bytes. Fetched by digest, the
    /// bytes must hash to it.
    pub fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<FetchedManifest, RegistryError> {
        let call = self.manifest_call("GET", repo, reference)?;
        let (content_type, bytes) = self.inner.retrying(|| {
            let resp = self.inner.send_once(&call)?;
            let ct = resp.header("content-type").map(str::to_string);
            let mut bytes = Vec::new();
            resp.into_reader()
                .take(MAX_MANIFEST + 1)
                .read_to_end(&mut bytes)
                .map_err(|source| RegistryError::Io {
                    action: "read manifest from",
                    url: call.url.to_string(),
                    source,
                })?;
            Ok((ct, bytes))
        })?;
        if bytes.len() as u64 > MAX_MANIFEST {
            return Err(RegistryError::Protocol {
                host: self.inner.host.clone(),
                url: call.url.to_string(),
                message: format!("manifest larger than {MAX_MANIFEST} bytes"),
            });
        }
        let digest = match Digest::parse(reference) {
            Ok(expected) => {
                let mut h = expected.hasher();
                h.update(&bytes);
                let actual = h.finish();
                if actual != expected {
                    return Err(RegistryError::DigestMismatch {
                        expected,
                        actual,
                        url: call.url.to_string(),
                    });
                }
                expected
            }
            Err(_) => Digest::sha256_of(&bytes),
        };
        Ok(FetchedManifest {
            media_type: media_type_of(content_type.as_deref(), &bytes),
            digest,
            bytes,
        })
    }

    /// The digest of a manifest (`HEAD`), or `None` when the registry does not have it.
    pub fn manifest_digest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<Digest>, RegistryError> {
        let call = self.manifest_call("HEAD", repo, reference)?;
        let header = match self.inner.send(&call) {
            Ok(resp) => {
                let h = resp.header("docker-content-digest").map(str::to_string);
                drain(resp);
                h
            }
            Err(RegistryError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        match header.as_deref().map(Digest::parse) {
            Some(Ok(d)) => Ok(Some(d)),
            // No (usable) header: fetch and hash.
            _ => match self.get_manifest(repo, reference) {
                Ok(m) => Ok(Some(m.digest)),
                Err(RegistryError::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    /// The tags of `repo` (`GET /v2/<repo>/tags/list`, following `Link: …; rel="next"` pages);
    /// empty when the repository does not exist.
    pub fn tags(&self, repo: &str) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut url = self.endpoint(repo, "tags/list", "")?;
        let mut all = Vec::new();
        for _ in 0..10_000 {
            let call = Call {
                method: "GET",
                url: url.clone(),
                action: "list tags of",
                repository: repo,
                what: format!("repository {repo}"),
                scopes: Scopes::repo(repo, &["pull"]),
                headers: Vec::new(),
                body: Body::None,
            };
            let resp = match self.inner.send(&call) {
                Ok(r) => r,
                Err(RegistryError::NotFound { .. }) => return Ok(all),
                Err(e) => return Err(e),
            };
            let (list, next): (TagList, _) = read_page(
                resp,
                &self.inner.host,
                &url,
                MAX_MANIFEST,
                "list tags of",
                "the tag list",
            )?;
            all.extend(list.tags.unwrap_or_default());
            match next {
                Some(n) => url = n,
                None => return Ok(all),
            }
        }
        Ok(all)
    }

    /// Stores a manifest under a tag or its digest; returns the digest of `bytes`.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &MediaType,
        bytes: &[u8],
    ) -> Result<Digest, RegistryError> {
        let url = self.endpoint(repo, "manifests/", reference)?;
        let digest = Digest::sha256_of(bytes);
        if let Ok(expected) = Digest::parse(reference) {
            let mut h = expected.hasher();
            h.update(bytes);
            let actual = h.finish();
            if actual != expected {
                return Err(RegistryError::DigestMismatch {
                    expected,
                    actual,
                    url: url.to_string(),
                });
            }
        }
        let call = Call {
            method: "PUT",
            url,
            action: "push manifest to",
            repository: repo,
            what: format!("manifest {reference}"),
            scopes: Scopes::repo(repo, &["pull", "push"]),
            headers: vec![("Content-Type", media_type.to_string())],
            body: Body::Bytes(bytes),
        };
        let resp = self.inner.send(&call)?;
        let served = resp.header("docker-content-digest").map(str::to_string);
        drain(resp);
        if let Some(Ok(d)) = served.as_deref().map(Digest::parse) {
            if d.algorithm() == digest.algorithm() && d != digest {
                return Err(RegistryError::DigestMismatch {
                    expected: digest,
                    actual: d,
                    url: call.url.to_string(),
                });
            }
        }
        Ok(digest)
    }

    fn blob_call<'a>(
        &self,
        method: &'static str,
        repo: &'a str,
        digest: &Digest,
    ) -> Result<Call<'a>, RegistryError> {
        Ok(Call {
            method,
            url: self.endpoint(repo, "blobs/", &digest.to_string())?,
            action: if method == "HEAD" {
                "look up blob in"
            } else {
                "pull blob from"
            },
            repository: repo,
            what: format!("blob {digest}"),
            scopes: Scopes::repo(repo, &["pull"]),
            headers: Vec::new(),
            body: Body::None,
        })
    }

    /// The size of a blob if the repository has it (`HEAD`), `None` if not.
    pub fn blob_exists(&self, repo: &str, digest: &Digest) -> Result<Option<u64>, RegistryError> {
        let call = self.blob_call("HEAD", repo, digest)?;
        match self.inner.send(&call) {
            Ok(resp) => {
                let len = resp
                    .header("content-length")
                    .and_then(|l| l.trim().parse::<u64>().ok());
                drain(resp);
                len.map(Some).ok_or_else(|| RegistryError::Protocol {
                    host: self.inner.host.clone(),
                    url: call.url.to_string(),
                    message: "blob HEAD without a Content-Length".into(),
                })
            }
            Err(RegistryError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Streams a blob. Reading fails at the end, naming the digest, if the content does not
    /// hash to `digest` (or is not `size` bytes, when given).
    pub fn get_blob(
        &self,
        repo: &str,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<Box<dyn Read + Send>, RegistryError> {
        Ok(Box::new(DigestingReader::verifying(
            self.get_blob_unverified(repo, digest)?,
            digest.clone(),
            size,
        )))
    }

    /// Streams a blob without checking it against `digest`: for a caller that hashes the
    /// content itself anyway (pack, while cutting it into chunks) and reports a mismatch.
    /// A download cut part-way is resumed where it stopped.
    pub fn get_blob_unverified(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Box<dyn Read + Send>, RegistryError> {
        let call = self.blob_call("GET", repo, digest)?;
        let body = self.inner.send(&call)?.into_reader();
        Ok(Box::new(ResumingReader::new(
            Arc::clone(&self.inner),
            call.url,
            repo,
            call.what,
            body,
        )))
    }

    /// Asks the registry to link a blob from `from_repo` into `repo` without uploading it.
    /// Returns whether it did; when it did not, the upload session it opened is kept for the
    /// next [`Registry::push_blob`] of that blob.
    pub fn mount_blob(
        &self,
        repo: &str,
        digest: &Digest,
        from_repo: &str,
    ) -> Result<bool, RegistryError> {
        let mut url = self.endpoint(repo, "blobs/uploads/", "")?;
        self.endpoint(from_repo, "blobs/", "")?; // validates the name
        url.query_pairs_mut()
            .append_pair("mount", &digest.to_string())
            .append_pair("from", from_repo);
        let mut scopes = Scopes::repo(repo, &["pull", "push"]);
        scopes.add_repo(from_repo, &["pull"]);
        let call = Call {
            method: "POST",
            url,
            action: "mount blob into",
            repository: repo,
            what: format!("repository {repo}"),
            scopes,
            headers: vec![("Content-Type", "application/octet-stream".into())],
            body: Body::Bytes(&[]),
        };
        let resp = self.inner.send(&call)?;
        match resp.status() {
            201 => {
                drain(resp);
                Stats::add(&self.inner.stats.mounts_succeeded, 1);
                Ok(true)
            }
            202 => {
                if let Some(loc) = resp.header("location").and_then(|l| call.url.join(l).ok()) {
                    self.inner.keep_pending_upload(repo, digest, loc);
                }
                drain(resp);
                Stats::add(&self.inner.stats.blob_uploads_started, 1);
                Ok(false)
            }
            other => Err(RegistryError::Protocol {
                host: self.inner.host.clone(),
                url: call.url.to_string(),
                message: format!("HTTP {other} to a mount request (201 or 202 expected)"),
            }),
        }
    }

    /// Uploads a blob of `size` bytes from `source` (re-opened for each retry).
    pub fn push_blob(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        source: &dyn BlobSource,
    ) -> Result<(), RegistryError> {
        let mut first = true;
        self.inner.retrying(|| {
            if !std::mem::take(&mut first) && self.blob_exists(repo, digest)? == Some(size) {
                // The last attempt's commit went through but its answer was lost.
                self.inner.journal.forget(repo, digest);
                return Ok(());
            }
            self.inner.upload_once(repo, digest, size, source)
        })?;
        Stats::add(&self.inner.stats.blob_bytes_uploaded, size);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Credential;

    #[test]
    fn debug_output_has_no_secrets() {
        let opts = ClientOptions {
            creds: Some(Credential::new("alice", "hunter2-secret")),
            ..ClientOptions::default()
        };
        let reg = Registry::new("registry.example:5000", &opts).unwrap();
        for text in [format!("{opts:?}"), format!("{reg:?}")] {
            assert!(!text.contains("hunter2-secret"), "{text}");
            assert!(text.contains("alice"), "{text}");
        }
    }

    #[test]
    fn refuses_bad_hosts_and_names() {
        let opts = ClientOptions::default();
        assert!(Registry::new("host/with/path", &opts).is_err());
        assert!(Registry::new("", &opts).is_err());
        assert_eq!(
            media_type_of(
                Some("application/vnd.oci.image.index.v1+json; charset=utf-8"),
                b""
            ),
            "application/vnd.oci.image.index.v1+json"
        );
        assert_eq!(
            media_type_of(Some("application/json"), br#"{"mediaType":"x/y"}"#),
            "x/y"
        );
    }
}
