//! A fault-injecting stand-in: an HTTP proxy in front of a real registry that forwards every
//! request unchanged except those a rule picks, which it answers itself (a registry that
//! mishandles chunked uploads, say). Upload `Location` headers are rewritten to point back at
//! the proxy so that clients keep going through it.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// What the proxy does with one request.
pub enum Action {
    /// Forward it to the registry.
    Forward,
    /// Answer with this status and body instead.
    Reply(u16, Vec<u8>),
}

/// One request seen by the proxy: method, URL, status returned.
#[derive(Debug, Clone)]
pub struct Seen {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub url: String,
    /// Status sent back.
    pub status: u16,
}

type Rule = dyn Fn(&str, &str) -> Action + Send + Sync;

/// The running proxy; stopped when dropped.
pub struct FaultProxy {
    host: String,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FaultProxy {
    /// Proxies to `upstream` (`127.0.0.1:PORT`, plain HTTP), applying `rule(method, url)`.
    pub fn start(
        upstream: &str,
        rule: impl Fn(&str, &str) -> Action + Send + Sync + 'static,
    ) -> FaultProxy {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("binding proxy"));
        let host = format!("127.0.0.1:{}", server.server_addr().to_ip().unwrap().port());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let rule: Arc<Rule> = Arc::new(rule);
        let agent = ureq::AgentBuilder::new().redirects(0).build();
        let thread = {
            let server = server.clone();
            let seen = seen.clone();
            let upstream = upstream.to_string();
            let host = host.clone();
            std::thread::spawn(move || {
                for mut req in server.incoming_requests() {
                    let method = req.method().as_str().to_string();
                    let url = req.url().to_string();
                    let response = match rule(&method, &url) {
                        Action::Reply(status, body) => tiny_http::Response::from_data(body)
                            .with_status_code(status)
                            .with_header(header("Content-Type", "application/json")),
                        Action::Forward => forward(&agent, &mut req, &upstream, &host),
                    };
                    // Recorded before answering, so a client that has its answer finds it here.
                    let status = response.status_code().0;
                    seen.lock().unwrap().push(Seen {
                        method,
                        url,
                        status,
                    });
                    let _ = req.respond(response);
                }
            })
        };
        FaultProxy {
            host,
            server,
            thread: Some(thread),
            seen,
        }
    }

    /// `127.0.0.1:PORT` of the proxy.
    pub fn host(&self) -> String {
        self.host.clone()
    }

    /// Requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn header(k: &str, v: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).expect("valid header")
}

fn forward(
    agent: &ureq::Agent,
    req: &mut tiny_http::Request,
    upstream: &str,
    host: &str,
) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let url = format!("http://{upstream}{}", req.url());
    let mut out = agent.request(req.method().as_str(), &url);
    for h in req.headers() {
        let name = h.field.as_str().as_str();
        if name.eq_ignore_ascii_case("host") || name.eq_ignore_ascii_case("transfer-encoding") {
            continue;
        }
        out = out.set(name, h.value.as_str());
    }
    let mut body = Vec::new();
    let _ = req.as_reader().read_to_end(&mut body);
    let resp = match out.send_bytes(&body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => {
            return tiny_http::Response::from_data(e.to_string().into_bytes()).with_status_code(502)
        }
    };
    let status = resp.status();
    let mut headers = Vec::new();
    for name in resp.headers_names() {
        if name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            continue;
        }
        if let Some(v) = resp.header(&name) {
            headers.push(header(&name, &v.replace(upstream, host)));
        }
    }
    let mut data = Vec::new();
    let _ = resp.into_reader().read_to_end(&mut data);
    let mut r = tiny_http::Response::from_data(data).with_status_code(status);
    for h in headers {
        r.add_header(h);
    }
    r
}
