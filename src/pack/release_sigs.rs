//! OpenShift release signatures from a signature store (`--signature-store`): the files
//! `<store>/sha256=<hex>/signature-<n>`, n from 1 until the store answers 404, as the
//! cluster-version operator reads them; carried in the bundle's root (format 1.2) so that
//! `push` can write the ConfigMap a disconnected cluster verifies updates with.

use crate::bundle::root::ReleaseSignature;
use crate::model::Digest;
use crate::registry::{AdminAuth, AdminClient, AdminError, ClientOptions};

/// The public store oc-mirror reads (`OCP_SIGNATURE_URL` overrides it there).
pub const DEFAULT_STORE: &str =
    "https://mirror.openshift.com/pub/openshift-v4/signatures/openshift/release";
/// The environment variable oc-mirror takes the store URL from.
pub const STORE_ENV: &str = "OCP_SIGNATURE_URL";
/// The most signatures read per release (the cluster-version operator tries no more).
pub const MAX_SIGNATURES: u32 = 10;
/// The largest signature file accepted (one is about 1 KB).
pub const MAX_SIGNATURE_BYTES: u64 = 64 * 1024;

/// Why a release's signatures could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store URL is unusable.
    #[error("signature store {url:?}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The store could not be reached, or failed.
    #[error("signatures of release {release} from {url}; pass --signature-store none to pack without them")]
    Fetch {
        /// The release.
        release: String,
        /// The file asked for.
        url: String,
        /// What failed.
        source: AdminError,
    },
    /// The store answered something else than the file or 404.
    #[error("signatures of release {release}: {url} answered HTTP {status}; pass --signature-store none to pack without them")]
    Status {
        /// The release.
        release: String,
        /// The file asked for.
        url: String,
        /// The status.
        status: u16,
    },
}

/// Reads every signature of `digest` (the release `release`, for messages) from `store`: the
/// files `signature-1`, `signature-2`, … up to the first 404 (at most [`MAX_SIGNATURES`]).
/// An `http://` store is read in plain HTTP; an `https://` one with TLS verified unless its
/// host is listed with `--insecure-registry`.
pub fn fetch(
    store: &str,
    release: &str,
    digest: &Digest,
    client: &ClientOptions,
) -> Result<Vec<ReleaseSignature>, StoreError> {
    let url_err = |reason: &str| StoreError::Url {
        url: store.to_string(),
        reason: reason.to_string(),
    };
    let url = url::Url::parse(store).map_err(|e| url_err(&e.to_string()))?;
    let scheme = url.scheme();
    if scheme != "https" && scheme != "http" {
        return Err(url_err("not an http(s) URL"));
    }
    let host = url.host_str().ok_or_else(|| url_err("no host"))?;
    let host = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let mut opts = client.clone();
    if scheme == "http" {
        opts.insecure.push(host.clone());
    }
    let base = url.path().trim_end_matches('/');
    let file = |n: u32| {
        format!(
            "{base}/{}={}/signature-{n}",
            digest.algorithm().name(),
            digest.hex()
        )
    };
    let fetch_err = |n: u32| {
        let url = format!("{scheme}://{host}{}", file(n));
        move |source| StoreError::Fetch {
            release: release.to_string(),
            url,
            source,
        }
    };
    let admin = AdminClient::new(&host, &opts, AdminAuth::None).map_err(fetch_err(1))?;
    let mut found = Vec::new();
    for n in 1..=MAX_SIGNATURES {
        let (status, bytes) = admin
            .get_bytes(&file(n), MAX_SIGNATURE_BYTES)
            .map_err(fetch_err(n))?;
        match status {
            200 => found.push(ReleaseSignature::new(digest.clone(), n, &bytes)),
            404 => break,
            status => {
                return Err(StoreError::Status {
                    release: release.to_string(),
                    url: format!("{scheme}://{host}{}", file(n)),
                    status,
                })
            }
        }
    }
    Ok(found)
}

/// The release signatures of a pack, and what the user should know about them.
#[derive(Debug, Default)]
pub struct Fetched {
    /// Every signature, by release and index.
    pub signatures: Vec<ReleaseSignature>,
    /// How many each release has, or that none were asked for.
    pub notes: Vec<String>,
    /// Each release the store has no signature for.
    pub warnings: Vec<String>,
}

/// The signatures of every release in `releases` from `opts.signature_store`, with notes and
/// a warning for each release the store has none for (carried without).
pub fn for_releases(
    releases: &[super::expand::PackedRelease],
    opts: &super::PackOptions,
) -> Result<Fetched, StoreError> {
    let mut out = Fetched::default();
    if releases.is_empty() {
        return Ok(out);
    }
    let Some(store) = &opts.signature_store else {
        out.notes.push(format!(
            "--signature-store none: no release signatures carried for {} release(s); a \
             disconnected cluster cannot verify an update to them",
            releases.len()
        ));
        return Ok(out);
    };
    let mut done: Vec<&crate::model::Digest> = Vec::new();
    for r in releases {
        if done.contains(&&r.digest) {
            continue;
        }
        done.push(&r.digest);
        let found = fetch(store, &r.release, &r.digest, &opts.client)?;
        if found.is_empty() {
            out.warnings.push(format!(
                "release {} ({}): the signature store {store} has no signature for {}; carried \
                 without one, so a disconnected cluster will refuse to update to it unless forced",
                r.release,
                r.version.as_deref().unwrap_or("version unknown"),
                r.digest
            ));
        } else {
            out.notes.push(format!(
                "release {}: {} signature(s) from {store}",
                r.release,
                found.len()
            ));
        }
        out.signatures.extend(found);
    }
    Ok(out)
}
