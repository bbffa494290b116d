//! What the registry client ([`super::Registry`]) and the admin client ([`super::AdminClient`])
//! share below HTTP semantics: the checked host name, the ureq agent (TLS trust, user agent,
//! time limits, redirects), telling TLS failures from other connection failures, and the
//! HTTPS-then-plain-HTTP probe of insecure hosts.

use std::fmt;
use std::time::Duration;

use super::options::ClientOptions;
use super::tls::{self, TlsError};

/// Connecting may take this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the HTTPS probe of an insecure host may take before plain HTTP is tried.
const HTTPS_PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Redirects ureq follows never carry `Authorization` (ureq's same-host rule ignores the port);
/// the registry client follows redirects itself, keeping it only on the same origin.
const REDIRECT_AUTH: ureq::RedirectAuthHeaders = ureq::RedirectAuthHeaders::Never;

/// The time limits and redirect policy of one kind of client.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// A whole exchange may take this long (`None`: no overall limit).
    pub call: Option<Duration>,
    /// A stalled read or write fails after this long (`None`: no limit).
    pub io: Option<Duration>,
    /// Redirects followed before the redirect itself is the answer.
    pub redirects: u32,
}

/// Why no agent could be built for a host.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AgentError {
    /// The name is not `HOST` or `HOST:PORT`.
    #[error("not a registry host (expected HOST or HOST:PORT)")]
    BadHost,
    /// The TLS settings for the host are unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// The connection pool for one host, with whether that host is insecure.
pub(crate) struct HostAgent {
    /// The ureq agent: trust settings, user agent, time limits and redirects.
    pub agent: ureq::Agent,
    /// Whether `opts` lists the host as insecure (plain HTTP or unverified TLS).
    pub insecure: bool,
}

/// The agent for `host` with the trust settings and user agent of `opts` and the given limits.
/// Does not contact the host.
pub(crate) fn host_agent(
    host: &str,
    opts: &ClientOptions,
    limits: Limits,
) -> Result<HostAgent, AgentError> {
    if host.is_empty() || host.contains(['/', '@', '?', '#', ' ']) {
        return Err(AgentError::BadHost);
    }
    let insecure = opts.is_insecure(host);
    let tls = tls::client_config(host, &opts.ca_files, &opts.certs_dir, insecure)?;
    let mut builder = ureq::AgentBuilder::new()
        .tls_config(tls)
        .timeout_connect(CONNECT_TIMEOUT)
        .redirects(limits.redirects)
        .redirect_auth_headers(REDIRECT_AUTH)
        .user_agent(&opts.user_agent);
    if let Some(t) = limits.call {
        builder = builder.timeout(t);
    }
    if let Some(t) = limits.io {
        builder = builder.timeout_read(t).timeout_write(t);
    }
    Ok(HostAgent {
        agent: builder.build(),
        insecure,
    })
}

/// A connection-level failure (no HTTP answer), sorted for the error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The TLS handshake failed; what the TLS stack said.
    Tls(String),
    /// Anything else (refused, reset, timed out, DNS); what the network stack said.
    Network(String),
    /// The server answered a TLS hello in plain HTTP (a registry without TLS).
    PlainHttp,
}

impl Failure {
    /// Sorts a ureq transport failure.
    pub fn of(t: &ureq::Transport) -> Failure {
        let message = t.to_string();
        match tls_error(t) {
            Some(rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)) => {
                Failure::PlainHttp
            }
            Some(_) => Failure::Tls(message),
            None => Failure::Network(message),
        }
    }
}

/// The TLS error anywhere in the chain of causes of `e`.
fn tls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Some(t);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(t) = io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                return Some(t);
            }
        }
        cur = err.source();
    }
    None
}

/// Runs `attempt` over `https`; for an `insecure` host whose HTTPS attempt showed that the
/// server speaks plain HTTP (`speaks_http`: it answered the TLS hello in HTTP), over plain
/// `http` next. Any other failure is the answer: a refused connection or a broken handshake
/// proves nothing about HTTP. Returns the scheme that answered with the result.
///
/// `attempt` gets the scheme and, for the HTTPS probe of an insecure host only, a short time
/// limit: a plain HTTP server may never answer a TLS hello.
pub(crate) fn https_then_http<T, E: fmt::Display>(
    host: &str,
    insecure: bool,
    speaks_http: impl Fn(&E) -> bool,
    mut attempt: impl FnMut(&'static str, Option<Duration>) -> Result<T, E>,
) -> Result<(&'static str, T), E> {
    if !insecure {
        return attempt("https", None).map(|v| ("https", v));
    }
    match attempt("https", Some(HTTPS_PROBE_TIMEOUT)) {
        Ok(v) => Ok(("https", v)),
        Err(e) if speaks_http(&e) => {
            log::debug!("{e}; trying plain HTTP for insecure registry {host}");
            attempt("http", None).map(|v| ("http", v))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            call: Some(Duration::from_secs(1)),
            io: None,
            redirects: 0,
        }
    }

    #[test]
    fn bad_hosts_are_refused() {
        let opts = ClientOptions::default();
        for host in ["", "host/with/path", "user@host", "a b"] {
            assert!(matches!(
                host_agent(host, &opts, limits()),
                Err(AgentError::BadHost)
            ));
        }
        let insecure = ClientOptions {
            insecure: vec!["h.example".into()],
            ..Default::default()
        };
        assert!(
            host_agent("h.example:5000", &insecure, limits())
                .unwrap()
                .insecure
        );
    }

    #[test]
    fn tls_errors_are_found_among_the_causes() {
        let direct = rustls::Error::General("x".into());
        assert!(tls_error(&direct).is_some());
        let wrapped = std::io::Error::other(direct);
        assert!(tls_error(&wrapped).is_some());
        let plain = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(tls_error(&plain).is_none());
    }

    #[test]
    fn probe_falls_back_only_for_insecure_hosts_and_unreachable_https() {
        let mut tried = Vec::new();
        let r = https_then_http(
            "h",
            true,
            |e: &&str| *e == "down",
            |s, limit| {
                tried.push((s, limit.is_some()));
                if s == "https" {
                    Err("down")
                } else {
                    Ok(7)
                }
            },
        );
        assert_eq!(r, Ok(("http", 7)));
        assert_eq!(tried, [("https", true), ("http", false)]);

        let r = https_then_http(
            "h",
            false,
            |_: &&str| true,
            |s, limit| {
                assert!(limit.is_none());
                Err::<(), _>(s)
            },
        );
        assert_eq!(r, Err("https"));

        let r = https_then_http(
            "h",
            true,
            |e: &&str| *e == "down",
            |_, _| Err::<(), _>("denied"),
        );
        assert_eq!(r, Err("denied"));
    }
}
