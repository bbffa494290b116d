//! How a [`super::Registry`] client is configured: credentials, trust, insecure hosts, retries.

use std::path::PathBuf;

use super::credentials::Credential;
use super::retry::RetryPolicy;

/// Default directory of per-registry certificates (`HOST[:PORT]/*.crt`, `*.cert` + `*.key`).
pub const DEFAULT_CERTS_DIR: &str = "/etc/containers/certs.d";

/// Settings shared by every registry client ferry creates. `Debug` never shows passwords.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `--creds USER:PASS`: used for every registry, before any auth file.
    pub creds: Option<Credential>,
    /// `--authfile F`: the only auth file consulted when given.
    pub authfile: Option<PathBuf>,
    /// `--ca-file F`: extra trusted CA certificates (PEM), added to the system roots.
    pub ca_files: Vec<PathBuf>,
    /// Per-host certificates directory (`HOST[:PORT]/*.crt` roots, `*.cert`/`*.key` client cert).
    pub certs_dir: PathBuf,
    /// `--insecure-registry HOST[:PORT]`: hosts reached over plain HTTP or unverified TLS, and
    /// the only hosts credentials may travel to over plain HTTP. Nothing else is loosened.
    pub insecure: Vec<String>,
    /// `--auth-realm-host HOST[:PORT]`: token services on another host than their registry
    /// that may receive its credentials (the registry's own host always may).
    pub realm_hosts: Vec<String>,
    /// `User-Agent` header.
    pub user_agent: String,
    /// Retry policy for transient failures.
    pub retry: RetryPolicy,
    /// Blobs larger than [`crate::registry::SMALL_BLOB`] go up in `PATCH` segments of this
    /// size; an upload cut off resumes after the last segment the registry acknowledged.
    pub upload_segment: u64,
    /// Where open upload sessions are recorded, so that a rerun after a kill continues them
    /// (`None`: only within the run).
    pub upload_journal: Option<PathBuf>,
}

/// The default size of an upload segment.
pub const DEFAULT_UPLOAD_SEGMENT: u64 = 32 * 1024 * 1024;

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            creds: None,
            authfile: None,
            ca_files: Vec::new(),
            certs_dir: PathBuf::from(DEFAULT_CERTS_DIR),
            insecure: Vec::new(),
            realm_hosts: Vec::new(),
            user_agent: format!("ferry/{}", env!("CARGO_PKG_VERSION")),
            retry: RetryPolicy::default(),
            upload_segment: DEFAULT_UPLOAD_SEGMENT,
            upload_journal: None,
        }
    }
}

impl ClientOptions {
    /// Whether `host` (`HOST[:PORT]`) was listed as insecure, either exactly or by host name
    /// without a port.
    pub fn is_insecure(&self, host: &str) -> bool {
        let name = host_name(host);
        listed(&self.insecure, host, name)
    }

    /// Whether `host` (`HOST[:PORT]`) was allowed with `--auth-realm-host`, either exactly or
    /// by host name without a port.
    pub fn is_allowed_realm(&self, host: &str) -> bool {
        listed(&self.realm_hosts, host, host_name(host))
    }
}

/// Whether `list` names `host` exactly, or its host `name` in an entry without a port.
fn listed(list: &[String], host: &str, name: &str) -> bool {
    list.iter()
        .any(|i| i == host || (!i.contains(':') && i == name))
}

/// `HOST` or `HOST:PORT` of a URL, the way hosts are named on the command line: the port only
/// when the URL gives one.
pub(crate) fn authority(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// The host name part of `HOST[:PORT]` (IPv6 literals in brackets kept whole).
pub(crate) fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.split(':').next().unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_matching() {
        let o = ClientOptions {
            insecure: vec!["a.example".into(), "b.example:5000".into()],
            ..Default::default()
        };
        assert!(o.is_insecure("a.example"));
        assert!(o.is_insecure("a.example:443"));
        assert!(o.is_insecure("b.example:5000"));
        assert!(!o.is_insecure("b.example"));
        assert!(!o.is_insecure("b.example:5001"));
        assert!(!o.is_insecure("c.example"));
    }
}
