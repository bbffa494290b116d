//! A fault-injecting stand-in: an HTTP proxy in front of a real registry that forwards every
//! request unchanged (through the stand-ins' forwarder, which rewrites upload `Location`s back
//! to the proxy) except those a rule picks, which it answers itself — a registry that
//! mishandles chunked uploads, say, or one that answers 500.

use std::sync::{Arc, Mutex, OnceLock};

use super::standin::{respond_json, Served, Upstream};

/// What the proxy does with one request.
pub enum Action {
    /// Forward it to the registry.
    Forward,
    /// Answer with this status and JSON body instead.
    Reply(u16, Vec<u8>),
}

/// One request seen by the proxy (recorded before it is answered).
#[derive(Debug, Clone)]
pub struct Seen {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub url: String,
    /// The status the rule answered with; `None` when the request was forwarded.
    pub answered: Option<u16>,
}

/// The running proxy; stopped when dropped.
pub struct FaultProxy {
    served: Served,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FaultProxy {
    /// Proxies to `upstream` (`127.0.0.1:PORT`, plain HTTP), applying `rule(method, url)`.
    pub fn start(
        upstream: &str,
        rule: impl Fn(&str, &str) -> Action + Send + Sync + 'static,
    ) -> FaultProxy {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let forwarder: Arc<OnceLock<Upstream>> = Arc::new(OnceLock::new());
        let served = {
            let (seen, forwarder) = (Arc::clone(&seen), Arc::clone(&forwarder));
            Served::start(move |request| {
                let method = request.method().as_str().to_string();
                let url = request.url().to_string();
                let action = rule(&method, &url);
                let answered = match &action {
                    Action::Reply(status, _) => Some(*status),
                    Action::Forward => None,
                };
                seen.lock().unwrap().push(Seen {
                    method,
                    url,
                    answered,
                });
                match action {
                    Action::Reply(status, body) => {
                        let body: serde_json::Value =
                            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                        respond_json(request, status, &body, &[]);
                    }
                    Action::Forward => forwarder
                        .get()
                        .expect("forwarder set before the proxy is used")
                        .forward_registry(request),
                }
            })
        };
        let public = format!("http://{}", served.host());
        let _ = forwarder.set(Upstream::new(
            &format!("http://{upstream}"),
            "",
            &public,
            "",
        ));
        FaultProxy { served, seen }
    }

    /// `127.0.0.1:PORT` of the proxy.
    pub fn host(&self) -> String {
        self.served.host()
    }

    /// Requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}
