//! One page of a paginated list answer (`tags/list`, `_catalog`): its JSON body, read up to a
//! bound, and the next page's URL from the `Link` header.

use std::io::Read;

use serde::de::DeserializeOwned;
use url::Url;

use super::error::RegistryError;

/// Reads the page `resp` answered for `url` as `T` (at most `max` bytes; `action` and `what`
/// name it in errors) and the URL of the next page, if the registry names one.
pub(super) fn read_page<T: DeserializeOwned>(
    resp: ureq::Response,
    host: &str,
    url: &Url,
    max: u64,
    action: &'static str,
    what: &str,
) -> Result<(T, Option<Url>), RegistryError> {
    let next = resp
        .header("link")
        .and_then(|l| l.split(';').next())
        .map(|l| {
            l.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
        .and_then(|n| url.join(&n).ok());
    let mut bytes = Vec::new();
    resp.into_reader()
        .take(max)
        .read_to_end(&mut bytes)
        .map_err(|source| RegistryError::Io {
            action,
            url: url.to_string(),
            source,
        })?;
    let page = serde_json::from_slice(&bytes).map_err(|e| RegistryError::Protocol {
        host: host.to_string(),
        url: url.to_string(),
        message: format!("{what} is not JSON: {e}"),
    })?;
    Ok((page, next))
}
