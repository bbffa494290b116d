//! `GET /v2/_catalog`: the repositories a registry lists, for `ferry inventory`.

use super::auth::Scopes;
use super::client::Registry;
use super::error::RegistryError;
use super::http::{Body, Call};
use super::pages::read_page;

/// The largest page of the catalog read (bytes).
const MAX_PAGE: u64 = 64 * 1024 * 1024;
/// Repositories asked for per page.
const PAGE: usize = 1000;

impl Registry {
    /// Every repository the registry lists (`GET /v2/_catalog`, following `Link: …;
    /// rel="next"` pages), or `None` when it offers no catalog to these credentials (Quay and
    /// Harbor flavors answer 401, 403, 404 or 405: the catalog is optional in the
    /// distribution spec).
    pub fn catalog(&self) -> Result<Option<Vec<String>>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct Catalog {
            #[serde(default)]
            repositories: Option<Vec<String>>,
        }
        let base = self.inner.session()?.base;
        let config = |message: String| RegistryError::Config {
            host: self.inner.host.clone(),
            message,
        };
        let mut url = base
            .join(&format!("v2/_catalog?n={PAGE}"))
            .map_err(|e| config(format!("cannot build the catalog URL: {e}")))?;
        let mut all = Vec::new();
        for _ in 0..1_000_000 {
            let mut scopes = Scopes::none();
            scopes.add_raw("registry:catalog:*");
            let call = Call {
                method: "GET",
                url: url.clone(),
                action: "list the repositories of",
                repository: "",
                what: "the catalog".into(),
                scopes,
                headers: Vec::new(),
                body: Body::None,
            };
            let resp = match self.inner.send(&call) {
                Ok(r) => r,
                Err(e) if unsupported(&e) => return Ok(None),
                Err(e) => return Err(e),
            };
            let (page, next): (Catalog, _) = read_page(
                resp,
                &self.inner.host,
                &url,
                MAX_PAGE,
                "list the repositories of",
                "the catalog",
            )?;
            let got = page.repositories.unwrap_or_default();
            let empty = got.is_empty();
            all.extend(got);
            match next {
                Some(n) if !empty => url = n,
                _ => return Ok(Some(all)),
            }
        }
        Ok(Some(all))
    }
}

/// Whether a failed catalog request means "no catalog here" rather than a failure.
fn unsupported(e: &RegistryError) -> bool {
    matches!(
        e,
        RegistryError::NotFound { .. } | RegistryError::Auth { .. }
    ) || matches!(e.status(), Some(400 | 404 | 405 | 501))
}
