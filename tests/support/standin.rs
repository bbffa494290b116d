//! Plumbing shared by the product stand-ins: a tiny_http server with a few worker threads, a
//! streaming reverse proxy that carries `/v2/` traffic to the real registry (and token requests
//! to its issuer), and JSON answers.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Worker threads per stand-in: ferry pushes several images at once.
const WORKERS: usize = 8;

/// A running tiny_http server whose requests go to `handler` on [`WORKERS`] threads; stopped
/// (and joined) when dropped.
pub struct Served {
    server: Arc<tiny_http::Server>,
    threads: Vec<JoinHandle<()>>,
    front: Option<JoinHandle<()>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    port: u16,
}

impl Served {
    /// Starts on a free port of 127.0.0.1.
    pub fn start<F>(handler: F) -> Served
    where
        F: Fn(tiny_http::Request) + Send + Sync + 'static,
    {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("starting stand-in"));
        let inner_port = server
            .server_addr()
            .to_ip()
            .expect("stand-in IP address")
            .port();
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding stand-in front door");
        let port = listener.local_addr().expect("front door address").port();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let front = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || front_door(listener, inner_port, &stop))
        };
        let handler = Arc::new(handler);
        let threads = (0..WORKERS)
            .map(|_| {
                let (server, handler) = (Arc::clone(&server), Arc::clone(&handler));
                std::thread::spawn(move || {
                    while let Ok(request) = server.recv() {
                        handler(request);
                    }
                })
            })
            .collect();
        Served {
            server,
            threads,
            front: Some(front),
            stop,
            port,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(f) = self.front.take() {
            let _ = f.join();
        }
        for _ in 0..self.threads.len() {
            self.server.unblock();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Accepts connections for the stand-in: a TLS ClientHello (first byte 0x16) is answered with
/// `400 Bad Request` in plain HTTP and closed, as a Go server answers it, so that clients
/// probing HTTPS first (skopeo, ferry with --insecure-registry) see a server speaking plain
/// HTTP and fall back to it; anything else is relayed to the tiny_http server.
fn front_door(listener: TcpListener, inner_port: u16, stop: &std::sync::atomic::AtomicBool) {
    for conn in listener.incoming() {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        let Ok(client) = conn else { continue };
        std::thread::spawn(move || {
            let mut first = [0u8; 1];
            match client.peek(&mut first) {
                Ok(1) if first[0] != 0x16 => {}
                Ok(1) => return answer_tls_in_plain_http(client),
                _ => return,
            }
            let Ok(inner) = TcpStream::connect(("127.0.0.1", inner_port)) else {
                return;
            };
            let (Ok(mut c2), Ok(mut i2)) = (client.try_clone(), inner.try_clone()) else {
                return;
            };
            let up = std::thread::spawn(move || {
                let _ = std::io::copy(&mut c2, &mut i2);
                let _ = i2.shutdown(std::net::Shutdown::Write);
            });
            let (mut i3, mut c3) = (inner, client);
            let _ = std::io::copy(&mut i3, &mut c3);
            let _ = c3.shutdown(std::net::Shutdown::Both);
            let _ = up.join();
        });
    }
}

/// What Go's HTTP server says to a TLS hello on a plain HTTP port.
pub fn answer_tls_in_plain_http(mut client: TcpStream) {
    use std::io::Write as _;
    let mut hello = [0u8; 4096];
    let _ = client.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = client.read(&mut hello);
    let _ = client.write_all(
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
          Connection: close\r\n\r\n400 Bad Request",
    );
    let _ = client.shutdown(std::net::Shutdown::Write);
    let _ = client.read(&mut hello);
}

/// A header value of a request, if present.
pub fn header<'a>(request: &'a tiny_http::Request, name: &str) -> Option<&'a str> {
    request
        .headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// Answers with a JSON body (or none for `Value::Null`) and extra headers.
pub fn respond_json(
    request: tiny_http::Request,
    status: u16,
    body: &serde_json::Value,
    headers: &[(&str, &str)],
) {
    let text = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let mut resp = tiny_http::Response::from_string(text).with_status_code(status);
    if !body.is_null() {
        resp = resp.with_header(
            tiny_http::Header::from_bytes("Content-Type", "application/json").expect("header"),
        );
    }
    for (k, v) in headers {
        resp = resp.with_header(tiny_http::Header::from_bytes(*k, *v).expect("header"));
    }
    let _ = request.respond(resp);
}

/// Reads a request body as JSON (`Null` when empty, `None` when not JSON).
pub fn read_json(request: &mut tiny_http::Request) -> Option<serde_json::Value> {
    let mut raw = Vec::new();
    request.as_reader().read_to_end(&mut raw).ok()?;
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Some(serde_json::Value::Null);
    }
    serde_json::from_slice(&raw).ok()
}

/// Where a stand-in forwards registry traffic, and how answers are rewritten on the way back.
pub struct Upstream {
    /// `http://127.0.0.1:PORT` of the real registry.
    pub registry: String,
    /// The token realm the registry announces (the issuer's `/token` URL).
    pub issuer_realm: String,
    /// What the stand-in announces instead (the product's own token endpoint on the stand-in).
    pub public_realm: String,
    /// `http://127.0.0.1:PORT` of the stand-in.
    pub public_base: String,
    agent: ureq::Agent,
}

impl Upstream {
    /// Forwarding to `registry` and its issuer `issuer_realm`, announcing `public_realm`.
    pub fn new(registry: &str, issuer_realm: &str, public_base: &str, public_realm: &str) -> Self {
        Upstream {
            registry: registry.trim_end_matches('/').to_string(),
            issuer_realm: issuer_realm.to_string(),
            public_realm: public_realm.to_string(),
            public_base: public_base.trim_end_matches('/').to_string(),
            agent: ureq::AgentBuilder::new()
                .redirects(0)
                .timeout_connect(Duration::from_secs(10))
                .build(),
        }
    }

    /// Forwards a token request (`path_and_query` of the product's token endpoint) to the issuer.
    pub fn forward_token(&self, request: tiny_http::Request) {
        let query = request
            .url()
            .split_once('?')
            .map(|(_, q)| format!("?{q}"))
            .unwrap_or_default();
        let url = format!("{}{query}", self.issuer_realm);
        self.forward_to(request, &url);
    }

    /// Forwards a registry request (`/v2/...`) to the real registry, streaming both ways.
    pub fn forward_registry(&self, request: tiny_http::Request) {
        let url = format!("{}{}", self.registry, request.url());
        self.forward_to(request, &url);
    }

    fn forward_to(&self, mut request: tiny_http::Request, url: &str) {
        let method = request.method().as_str().to_string();
        let mut req = self.agent.request(&method, url);
        let mut content_length = None;
        let mut chunked = false;
        // Repeated headers (skopeo sends one Accept per media type) are joined: ureq's `set`
        // replaces, and a comma-separated list means the same in HTTP.
        let mut forwarded: Vec<(String, Vec<String>)> = Vec::new();
        for h in request.headers() {
            let name = h.field.as_str().as_str();
            let lower = name.to_ascii_lowercase();
            match lower.as_str() {
                "host" | "connection" | "expect" | "keep-alive" => {}
                "content-length" => content_length = h.value.as_str().parse::<u64>().ok(),
                "transfer-encoding" => chunked = true,
                _ => match forwarded.iter_mut().find(|(n, _)| *n == lower) {
                    Some((_, values)) => values.push(h.value.as_str().to_string()),
                    None => forwarded.push((lower, vec![h.value.as_str().to_string()])),
                },
            }
        }
        for (name, values) in &forwarded {
            req = req.set(name, &values.join(", "));
        }
        let public_host = self
            .public_base
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .to_string();
        req = req
            .set("X-Forwarded-Host", &public_host)
            .set("X-Forwarded-Proto", "http");
        let result = match (content_length, chunked) {
            (Some(n), _) => req
                .set("Content-Length", &n.to_string())
                .send(request.as_reader()),
            (None, true) => req.send(request.as_reader()),
            (None, false) => req.call(),
        };
        let resp = match result {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(ureq::Error::Transport(t)) => {
                respond_json(
                    request,
                    502,
                    &serde_json::json!({"errors":[{"code":"UNAVAILABLE","message":t.to_string()}]}),
                    &[],
                );
                return;
            }
        };
        let status = resp.status();
        let mut headers = Vec::new();
        let mut length = None;
        let mut names = resp.headers_names();
        names.sort_by_key(|n| n.to_ascii_lowercase());
        names.dedup_by_key(|n| n.to_ascii_lowercase());
        for name in names {
            let lower = name.to_ascii_lowercase();
            for value in resp.all(&name) {
                let value = match lower.as_str() {
                    "content-length" => {
                        length = value.parse::<usize>().ok();
                        continue;
                    }
                    "transfer-encoding" | "connection" | "keep-alive" | "date" | "server" => {
                        continue
                    }
                    "location" => value.replacen(&self.registry, &self.public_base, 1),
                    "www-authenticate" => value.replace(&self.issuer_realm, &self.public_realm),
                    _ => value.to_string(),
                };
                headers.push(
                    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes())
                        .expect("header"),
                );
            }
        }
        let body = resp.into_reader();
        let response =
            tiny_http::Response::new(tiny_http::StatusCode(status), headers, body, length, None)
                // Always send Content-Length when it is known: a HEAD answer's length is the blob size.
                .with_chunked_threshold(usize::MAX);
        let _ = request.respond(response);
    }
}

/// The repository name of a `/v2/NAME/(blobs|manifests|tags)/...` path, if it is one.
pub fn repository_of(path: &str) -> Option<&str> {
    let rest = path.split('?').next()?.strip_prefix("/v2/")?;
    ["/blobs/", "/manifests/", "/tags/"]
        .iter()
        .filter_map(|m| rest.rfind(m).map(|i| &rest[..i]))
        .max_by_key(|s| s.len())
        .filter(|s| !s.is_empty())
}

/// Random lower-case hex of `bytes` random bytes.
pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).expect("random");
    hex::encode(b)
}

/// A random secret with upper- and lower-case letters and digits (Harbor's rule for robots).
pub fn random_secret() -> String {
    let h = random_hex(16);
    format!("Rb{h}9")
}

/// Starts a product stand-in in front of a fresh token-auth registry (plain HTTP): `make`
/// builds the stand-in's state from its forwarder once the stand-in's own address is known
/// (the forwarder rewrites the registry's realm to `realm_path` on the stand-in), and
/// `handle` answers every request. Requests arriving before the state exists get 503.
pub fn start_standin<S: Send + Sync + 'static>(
    realm_path: &str,
    make: impl FnOnce(Upstream, super::token::IssuerUsers) -> S,
    handle: fn(&S, tiny_http::Request),
) -> (super::TestRegistry, Served, Arc<S>) {
    let registry = super::TestRegistry::token_auth_plain();
    let issuer = registry
        .token_issuer()
        .expect("token registry has an issuer");
    let state_slot: Arc<std::sync::OnceLock<Arc<S>>> = Arc::new(std::sync::OnceLock::new());
    let served = {
        let slot = Arc::clone(&state_slot);
        Served::start(move |request| match slot.get() {
            Some(s) => handle(s, request),
            None => respond_json(request, 503, &serde_json::Value::Null, &[]),
        })
    };
    let base = format!("http://{}", served.host());
    let upstream = Upstream::new(
        &registry.url(),
        &issuer.realm(),
        &base,
        &format!("{base}{realm_path}"),
    );
    let state = Arc::new(make(upstream, issuer.users()));
    let _ = state_slot.set(Arc::clone(&state));
    (registry, served, state)
}
