//! The real registry (`/usr/bin/docker-registry serve CONFIG`, CNCF distribution 2.8) on
//! 127.0.0.1 with its own temporary storage, in plain, TLS+htpasswd and token-auth variants.

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::certs::{server_tls, ServerTls};
use super::require_tool;
use super::token::{TokenIssuer, ISSUER, SERVICE};

/// Where Debian installs the registry.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
const READY_DEADLINE: Duration = Duration::from_secs(30);

/// A user name and password; `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    fn random(username: &str) -> Credentials {
        let mut bytes = [0u8; 12];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
            .expect("random password");
        Credentials {
            username: username.into(),
            password: hex::encode(bytes),
        }
    }

    /// `user:pass`, as skopeo's `--creds` wants.
    pub fn colon_joined(&self) -> String {
        format!("{}:{}", self.username, self.password)
    }
}

/// One line of the registry's access log (Apache combined format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogEntry {
    /// HTTP method.
    pub method: String,
    /// Request path with query.
    pub path: String,
    /// Response status.
    pub status: u16,
}

/// Which authentication the registry asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthKind {
    None,
    Htpasswd,
    Token,
}

/// A running registry. Dropping it (also while unwinding from a panic) kills and reaps the
/// process, stops the token issuer and removes storage, certificates and logs.
pub struct TestRegistry {
    child: Child,
    port: u16,
    tls: Option<ServerTls>,
    user: Option<Credentials>,
    reader: Option<Credentials>,
    issuer: Option<TokenIssuer>,
    log_path: PathBuf,
    storage: PathBuf,
    // Declared last: removed after the process is gone.
    dir: TempDir,
}

impl fmt::Debug for TestRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestRegistry")
            .field("host", &self.host())
            .field("tls", &self.tls.is_some())
            .field("user", &self.user)
            .finish()
    }
}

impl TestRegistry {
    /// Plain HTTP, no authentication.
    pub fn plain() -> TestRegistry {
        Self::start(false, AuthKind::None)
    }

    /// HTTPS with a per-run CA (see [`TestRegistry::ca_cert_path`]) and htpasswd Basic auth
    /// for one user ([`TestRegistry::username`] / [`TestRegistry::password`]).
    pub fn tls_htpasswd() -> TestRegistry {
        Self::start(true, AuthKind::Htpasswd)
    }

    /// HTTPS with a per-run CA and Docker token auth: the realm is a [`TokenIssuer`] on
    /// plain HTTP at 127.0.0.1 with a read-write user ([`TestRegistry::credentials`]) and a
    /// pull-only user ([`TestRegistry::reader_credentials`]).
    pub fn token_auth() -> TestRegistry {
        Self::start(true, AuthKind::Token)
    }

    /// Like [`TestRegistry::token_auth`] but the registry speaks plain HTTP.
    pub fn token_auth_plain() -> TestRegistry {
        Self::start(false, AuthKind::Token)
    }

    fn start(tls: bool, auth: AuthKind) -> TestRegistry {
        let bin = require_tool(REGISTRY_BIN);
        let mut dir = tempfile::Builder::new()
            .prefix("ferry-registry-")
            .tempdir()
            .expect("creating registry temp dir");
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).expect("creating storage dir");
        let tls = tls.then(|| server_tls(dir.path()));
        let (mut user, mut reader, mut issuer) = (None, None, None);
        let auth_yaml = match auth {
            AuthKind::None => String::new(),
            AuthKind::Htpasswd => {
                let creds = Credentials::random("ferry");
                let path = dir.path().join("htpasswd");
                std::fs::write(&path, htpasswd_line(&creds)).expect("writing htpasswd");
                user = Some(creds);
                format!(
                    "auth:\n  htpasswd:\n    realm: ferry-test\n    path: {}\n",
                    path.display()
                )
            }
            AuthKind::Token => {
                let (w, r) = (Credentials::random("ferry"), Credentials::random("reader"));
                let started = TokenIssuer::start(dir.path(), &w, &r);
                let yaml = format!(
                    "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                    started.realm(),
                    started.cert_path().display()
                );
                (user, reader, issuer) = (Some(w), Some(r), Some(started));
                yaml
            }
        };
        let log_path = dir.path().join("registry.log");
        for _attempt in 0..5 {
            let port = free_port();
            let mut config = format!(
                "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: ferry-test-secret\n",
                storage.display()
            );
            if let Some(t) = &tls {
                config.push_str(&format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    t.server_cert.display(),
                    t.server_key.display()
                ));
            }
            config.push_str(
                "validation:\n  manifests:\n    urls:\n      allow:\n        - ^https?://\n",
            );
            config.push_str(&auth_yaml);
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).expect("writing registry config");
            let log = File::create(&log_path).expect("creating registry log");
            let child = Command::new(&bin)
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("cloning log handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {REGISTRY_BIN}: {e}"));
            let mut registry = TestRegistry {
                child,
                port,
                tls: tls.clone(),
                user: user.clone(),
                reader: reader.clone(),
                issuer: None,
                log_path: log_path.clone(),
                storage: storage.clone(),
                dir,
            };
            match registry.wait_ready() {
                Ok(()) => {
                    registry.issuer = issuer;
                    return registry;
                }
                Err(Retry) => {
                    // Port taken between probing and binding: take the directory back and retry.
                    dir = registry.into_dir();
                }
            }
        }
        panic!("docker-registry could not bind a free port in 5 attempts");
    }

    /// Polls `GET /v2/` until any HTTP answer; `Err(Retry)` if the port was taken.
    fn wait_ready(&mut self) -> Result<(), Retry> {
        let agent = self.agent();
        let url = format!("{}/v2/", self.url());
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            match agent.get(&url).call() {
                Ok(_) | Err(ureq::Error::Status(..)) => {
                    // Let the probe's access-log line land, so counts start settled.
                    self.wait_for_requests("GET", "/v2/", 1);
                    return Ok(());
                }
                Err(ureq::Error::Transport(_)) => {}
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = self.log();
                if log.contains("address already in use") {
                    return Err(Retry);
                }
                panic!("docker-registry exited ({status}) before answering {url}; its log:\n{log}");
            }
            if Instant::now() > deadline {
                panic!(
                    "docker-registry did not answer {url} within {READY_DEADLINE:?}; its log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn into_dir(mut self) -> TempDir {
        self.stop();
        let placeholder = tempfile::tempdir().expect("temp dir");
        let dir = std::mem::replace(&mut self.dir, placeholder);
        drop(self);
        dir
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.host())
    }

    /// Whether the registry speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The CA certificate (PEM) of a TLS registry; panics for plain ones.
    pub fn ca_cert_path(&self) -> &Path {
        &self
            .tls
            .as_ref()
            .expect("ca_cert_path on a plain-HTTP registry")
            .ca_cert
    }

    /// The CA certificate (DER) of a TLS registry, if any.
    pub fn ca_der(&self) -> Option<&[u8]> {
        self.tls.as_ref().map(|t| t.ca_der.as_slice())
    }

    /// A directory holding only `ca.crt` (skopeo's `--cert-dir`), for TLS registries.
    pub fn skopeo_cert_dir(&self) -> Option<&Path> {
        self.tls.as_ref().map(|t| t.skopeo_cert_dir.as_path())
    }

    /// The read-write user, for registries with authentication.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.user.as_ref()
    }

    /// The pull-only user of a token-auth registry.
    pub fn reader_credentials(&self) -> Option<&Credentials> {
        self.reader.as_ref()
    }

    /// The read-write user name; panics without authentication.
    pub fn username(&self) -> &str {
        &self
            .user
            .as_ref()
            .expect("username on a registry without auth")
            .username
    }

    /// The read-write user's password; panics without authentication.
    pub fn password(&self) -> &str {
        &self
            .user
            .as_ref()
            .expect("password on a registry without auth")
            .password
    }

    /// The token issuer of a token-auth registry.
    pub fn token_issuer(&self) -> Option<&TokenIssuer> {
        self.issuer.as_ref()
    }

    /// The registry's storage root (filesystem driver `rootdirectory`).
    pub fn storage_dir(&self) -> &Path {
        &self.storage
    }

    /// The file the registry's stdout and stderr go to.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything the registry logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The access-log lines so far, parsed (`"METHOD PATH HTTP/x" STATUS`).
    pub fn access_log(&self) -> Vec<AccessLogEntry> {
        self.log().lines().filter_map(parse_access_line).collect()
    }

    /// How many requests had this method and a path containing `path_contains`,
    /// e.g. `count_requests("PUT", "/blobs/uploads/")`.
    pub fn count_requests(&self, method: &str, path_contains: &str) -> usize {
        self.access_log()
            .iter()
            .filter(|e| e.method == method && e.path.contains(path_contains))
            .count()
    }

    /// Waits (up to 5 s) until at least `at_least` requests match [`TestRegistry::count_requests`]
    /// and returns the count then. The registry writes an access-log line just after it has
    /// answered, so a client can see the response a moment before the line exists.
    pub fn wait_for_requests(&self, method: &str, path_contains: &str, at_least: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let n = self.count_requests(method, path_contains);
            if n >= at_least || Instant::now() > deadline {
                return n;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// An HTTP client that trusts this registry's CA (no credentials attached).
    pub fn agent(&self) -> ureq::Agent {
        let mut builder = ureq::AgentBuilder::new().timeout(Duration::from_secs(30));
        if let Some(t) = &self.tls {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(rustls::pki_types::CertificateDer::from(t.ca_der.clone()))
                .expect("adding test CA");
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
            builder = builder.tls_config(Arc::new(config));
        }
        builder.build()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Retry;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("finding a free port")
        .port()
}

/// An htpasswd line with a bcrypt hash, made by `htpasswd -Bin` (password on stdin).
fn htpasswd_line(creds: &Credentials) -> String {
    let tool = require_tool("htpasswd");
    let mut child = Command::new(tool)
        .args(["-B", "-i", "-n", &creds.username])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running htpasswd");
    child
        .stdin
        .take()
        .expect("htpasswd stdin")
        .write_all(creds.password.as_bytes())
        .expect("writing to htpasswd");
    let out = child.wait_with_output().expect("waiting for htpasswd");
    assert!(
        out.status.success(),
        "htpasswd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("htpasswd output is UTF-8")
}

/// `127.0.0.1 - - [date] "GET /v2/ HTTP/1.1" 200 2 "" "agent"` → entry.
fn parse_access_line(line: &str) -> Option<AccessLogEntry> {
    let start = line.find("] \"")? + 3;
    let rest = &line[start..];
    let (request, after) = rest.split_once("\" ")?;
    let mut parts = request.split(' ');
    let (method, path, proto) = (parts.next()?, parts.next()?, parts.next()?);
    if !proto.starts_with("HTTP/") {
        return None;
    }
    let status = after.split(' ').next()?.parse().ok()?;
    Some(AccessLogEntry {
        method: method.into(),
        path: path.into(),
        status,
    })
}
