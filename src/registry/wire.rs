//! One exchange on the wire for the registry client: an agent per host (each with that host's
//! own trust settings, so that `--insecure-registry` loosens only the host it names), redirects
//! followed here rather than by ureq (GET and HEAD only), and the rule that `Authorization`
//! travels only to the origin it was meant for, and over plain HTTP only to insecure hosts.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use url::{Origin, Url};

use super::error::RegistryError;
use super::options::{authority, ClientOptions};
use super::source::{BlobSource, ExactReader, ReadVia, SegmentReader};
use super::stats::Stats;
use super::transport::{self, Failure, Limits};

/// Redirects followed before the redirect itself is the answer.
const MAX_REDIRECTS: usize = 5;
/// Bodies drained for connection reuse are read up to this length.
const MAX_DRAIN: u64 = 64 * 1024;

/// A request body.
pub(crate) enum Body<'a> {
    /// No body at all.
    None,
    /// A small in-memory body (sent with `Content-Length`).
    Bytes(&'a [u8]),
    /// A blob streamed from its source (re-opened for every attempt), `len` bytes long.
    Source(&'a dyn BlobSource, u64),
    /// The next `len` bytes of a reader already open (one segment of an upload that goes up
    /// in several requests). After a failed send its position is unknown: the caller drops it.
    Stream(&'a dyn SegmentReader, u64),
}

/// What to send: the request line, headers and body, and the `Authorization` value meant for
/// the origin of `url` (dropped on a redirect to any other origin).
pub(crate) struct Request<'r, 'a> {
    pub method: &'static str,
    pub url: &'r Url,
    pub headers: &'r [(&'static str, String)],
    pub body: &'r Body<'a>,
    pub authorization: Option<&'r str>,
    pub timeout: Option<Duration>,
}

/// A failure of one exchange: an HTTP error status (to interpret), or a final error.
pub(crate) enum WireFailure {
    Status(u16, Box<ureq::Response>),
    Failed(RegistryError),
}

/// The agents of one registry client, by host, and what they need to be built.
pub(crate) struct Wire {
    /// The registry host as the user named it (for messages, `certs.d` and `--insecure-registry`).
    host: String,
    /// The host the API answers at (`registry-1.docker.io` for `docker.io`).
    api_host: String,
    /// Whether the user listed the registry host as insecure.
    insecure: bool,
    opts: ClientOptions,
    limits: Limits,
    agents: Mutex<HashMap<String, ureq::Agent>>,
}

/// A request body that remembers how its own reading failed (ureq reports it as a transport
/// error, which would look retryable).
struct Watched<'f, R> {
    inner: R,
    failed: &'f Mutex<Option<std::io::Error>>,
}

impl<R: Read> Read for Watched<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            *self.failed.lock().expect("lock") = Some(std::io::Error::new(e.kind(), e.to_string()));
        })
    }
}

/// Reads a response body (up to a limit) so the connection can be reused.
pub(crate) fn drain(resp: ureq::Response) {
    let _ = std::io::copy(
        &mut resp.into_reader().take(MAX_DRAIN),
        &mut std::io::sink(),
    );
}

impl Wire {
    /// The wire of the registry `host` answering at `api_host`; `limits` must not let ureq
    /// follow redirects itself. Builds (and checks) the registry's own agent at once.
    pub fn new(
        host: &str,
        api_host: &str,
        opts: &ClientOptions,
        limits: Limits,
    ) -> Result<Wire, transport::AgentError> {
        let own = transport::host_agent(host, opts, limits)?;
        let wire = Wire {
            host: host.to_string(),
            api_host: api_host.to_string(),
            insecure: own.insecure,
            opts: opts.clone(),
            limits,
            agents: Mutex::new(HashMap::new()),
        };
        wire.agents
            .lock()
            .expect("agents lock")
            .insert(api_host.to_string(), own.agent);
        Ok(wire)
    }

    /// Whether the registry host was listed as insecure.
    pub fn insecure(&self) -> bool {
        self.insecure
    }

    /// The client options this wire was built from.
    pub fn opts(&self) -> &ClientOptions {
        &self.opts
    }

    /// Whether `url` is on the registry's API host and port (any scheme).
    fn is_own_host(&self, url: &Url) -> bool {
        Url::parse(&format!("{}://{}/", url.scheme(), self.api_host)).is_ok_and(|own| {
            own.host_str() == url.host_str()
                && own.port_or_known_default() == url.port_or_known_default()
        })
    }

    /// Whether the host of `url` was listed with `--insecure-registry`.
    pub fn is_insecure_url(&self, url: &Url) -> bool {
        if self.is_own_host(url) {
            self.insecure
        } else {
            self.opts.is_insecure(&authority(url))
        }
    }

    /// The origins the registry answers at: HTTPS, and plain HTTP for an insecure host.
    fn registry_origins(&self) -> Vec<Origin> {
        let mut schemes = vec!["https"];
        if self.insecure {
            schemes.push("http");
        }
        schemes
            .into_iter()
            .filter_map(|s| Url::parse(&format!("{s}://{}/", self.api_host)).ok())
            .map(|u| u.origin())
            .collect()
    }

    /// Whether `url` is on the registry's own origin (scheme, host and port).
    pub fn is_registry_origin(&self, url: &Url) -> bool {
        self.registry_origins().contains(&url.origin())
    }

    /// Whether credentials may travel to `url`: HTTPS, or plain HTTP to an insecure host.
    pub fn may_carry_credentials(&self, url: &Url) -> bool {
        match url.scheme() {
            "https" => true,
            "http" => self.is_insecure_url(url),
            _ => false,
        }
    }

    /// The agent for the host of `url`, built with that host's own trust settings.
    fn agent_for(&self, url: &Url) -> Result<ureq::Agent, RegistryError> {
        let key = if self.is_own_host(url) {
            self.api_host.clone()
        } else {
            authority(url)
        };
        let mut agents = self.agents.lock().expect("agents lock");
        if let Some(a) = agents.get(&key) {
            return Ok(a.clone());
        }
        let built = transport::host_agent(&key, &self.opts, self.limits).map_err(|e| {
            RegistryError::Config {
                host: self.host.clone(),
                message: format!("cannot reach {url}: {}", crate::error_chain(&e)),
            }
        })?;
        agents.insert(key, built.agent.clone());
        Ok(built.agent)
    }

    fn transport_error(&self, url: &Url, t: ureq::Transport) -> RegistryError {
        let (host, url) = (self.host.clone(), url.to_string());
        match Failure::of(&t) {
            Failure::Tls(message) => RegistryError::Tls { host, url, message },
            Failure::PlainHttp => RegistryError::PlainHttp { host, url },
            Failure::Network(message) => RegistryError::Transport { host, url, message },
        }
    }

    /// Sends `req`, following redirects of GET and HEAD requests. The answer's `get_url()`
    /// is the URL that gave it.
    pub fn send(
        &self,
        req: &Request<'_, '_>,
        stats: &Stats,
    ) -> Result<ureq::Response, WireFailure> {
        let first = req.url.origin();
        let mut url = req.url.clone();
        let follows = matches!(req.body, Body::None) && matches!(req.method, "GET" | "HEAD");
        for _ in 0..=MAX_REDIRECTS {
            Stats::add(&stats.requests, 1);
            let agent = self.agent_for(&url).map_err(WireFailure::Failed)?;
            let mut r = agent.request_url(req.method, &url);
            if let Some(t) = req.timeout {
                r = r.timeout(t);
            }
            for (k, v) in req.headers {
                r = r.set(k, v);
            }
            let authorization = req
                .authorization
                .filter(|_| url.origin() == first && self.may_carry_credentials(&url));
            if let Some(a) = authorization {
                r = r.set("Authorization", a);
            }
            log::debug!("{} {url}", req.method);
            let source_failed: Mutex<Option<std::io::Error>> = Mutex::new(None);
            let result = match req.body {
                Body::None => r.call(),
                Body::Bytes(b) => r.send_bytes(b),
                Body::Source(src, len) => {
                    let reader = src.open().map_err(|source| {
                        WireFailure::Failed(RegistryError::Io {
                            action: "open blob source for",
                            url: url.to_string(),
                            source,
                        })
                    })?;
                    r.set("Content-Length", &len.to_string()).send(Watched {
                        inner: ExactReader::new(reader, *len),
                        failed: &source_failed,
                    })
                }
                Body::Stream(reader, len) => {
                    r.set("Content-Length", &len.to_string()).send(Watched {
                        inner: ExactReader::new(ReadVia(*reader), *len),
                        failed: &source_failed,
                    })
                }
            };
            // A body that could not be read (a damaged bundle, a digest that does not match)
            // is not a network failure: it must not be retried as one.
            if let Some(source) = source_failed.lock().expect("lock").take() {
                if result.is_err() {
                    return Err(WireFailure::Failed(RegistryError::Io {
                        action: "read the blob to send to",
                        url: url.to_string(),
                        source,
                    }));
                }
            }
            match result {
                Ok(resp) => {
                    let status = resp.status();
                    log::debug!("{} {url} -> {status}", req.method);
                    let location = resp.header("location").map(str::to_string);
                    match location {
                        Some(loc) if follows && matches!(status, 301 | 302 | 303 | 307 | 308) => {
                            let next = url
                                .join(&loc)
                                .ok()
                                .filter(|u| matches!(u.scheme(), "http" | "https"));
                            let Some(next) = next else {
                                return Err(WireFailure::Failed(RegistryError::Protocol {
                                    host: self.host.clone(),
                                    url: url.to_string(),
                                    message: format!("unusable redirect to {loc:?}"),
                                }));
                            };
                            drain(resp);
                            url = next;
                        }
                        _ => return Ok(resp),
                    }
                }
                Err(ureq::Error::Status(code, resp)) => {
                    log::debug!("{} {url} -> {code}", req.method);
                    return Err(WireFailure::Status(code, Box::new(resp)));
                }
                Err(ureq::Error::Transport(t)) => {
                    return Err(WireFailure::Failed(self.transport_error(&url, t)))
                }
            }
        }
        Err(WireFailure::Failed(RegistryError::Protocol {
            host: self.host.clone(),
            url: req.url.to_string(),
            message: format!("more than {MAX_REDIRECTS} redirects"),
        }))
    }
}
