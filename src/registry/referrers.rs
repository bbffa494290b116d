//! The OCI 1.1 referrers API (`GET /v2/<name>/referrers/<digest>`), for the registries that
//! answer it.

use std::io::Read;

use super::auth::Scopes;
use super::client::Registry;
use super::error::RegistryError;
use super::http::{Body, Call};
use crate::model::Digest;

/// The largest referrers list read (the same bound as a manifest).
const MAX_LIST: u64 = 8 * 1024 * 1024;

impl Registry {
    /// The referrers list of `digest` in `repo` (an OCI image index, exact bytes), or `None`
    /// when the registry does not answer the referrers API (404, 400, 405 or 501: it has no
    /// such route; a registry that has it never answers 404). Only the first page is read.
    pub fn referrers(&self, repo: &str, digest: &Digest) -> Result<Option<Vec<u8>>, RegistryError> {
        let call = Call {
            method: "GET",
            url: self.endpoint(repo, "referrers/", &digest.to_string())?,
            action: "list referrers in",
            repository: repo,
            what: format!("referrers of {digest}"),
            scopes: Scopes::repo(repo, &["pull"]),
            headers: vec![("Accept", "application/vnd.oci.image.index.v1+json".into())],
            body: Body::None,
        };
        let resp = match self.inner.send(&call) {
            Ok(r) => r,
            Err(RegistryError::NotFound { .. }) => return Ok(None),
            Err(RegistryError::Status {
                status: 400 | 405 | 501,
                ..
            }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut bytes = Vec::new();
        resp.into_reader()
            .take(MAX_LIST + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| RegistryError::Io {
                action: "read referrers from",
                url: call.url.to_string(),
                source,
            })?;
        if bytes.len() as u64 > MAX_LIST {
            return Err(RegistryError::Protocol {
                host: self.host().to_string(),
                url: call.url.to_string(),
                message: format!("referrers list larger than {MAX_LIST} bytes"),
            });
        }
        Ok(Some(bytes))
    }
}
