//! A small JSON client for the admin APIs of registry products (Quay's `/api/v1`, Harbor's
//! `/api/v2.0`): one request at a time, Basic or Bearer authorization, the module's TLS, CA and
//! insecure-host settings.
//!
//! It keeps **no cookie jar** (ureq is built without its `cookies` feature): Harbor answers a
//! POST that carries its `sid` session cookie with a CSRF error, so a cookie must never be sent
//! back. Errors carry the method, URL, status and the product's own message, never a credential.

use std::fmt;
use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use super::credentials::{self, Credential, CredentialError};
use super::options::ClientOptions;
use super::transport::{self, Failure, HostAgent, Limits};

/// One admin call may take this long; redirects are answers, not followed.
const LIMITS: Limits = Limits {
    call: Some(Duration::from_secs(120)),
    io: None,
    redirects: 0,
};
/// Response bodies larger than this are cut.
const MAX_BODY: u64 = 4 * 1024 * 1024;

/// A token or password. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value (surrounding whitespace removed).
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into().trim().to_string())
    }

    /// The value — handle with care, never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How admin calls are authorized.
#[derive(Debug, Clone)]
pub enum AdminAuth {
    /// `Authorization: Basic` (Harbor's admin user, or a robot account).
    Basic(Credential),
    /// `Authorization: Bearer` (a Quay OAuth access token).
    Bearer(Secret),
    /// No `Authorization` header (a public API such as the OpenShift update graph).
    None,
}

impl AdminAuth {
    /// The credential `opts` gives for `host` (`--creds`, else the auth file), as Basic auth.
    pub fn from_registry_options(
        host: &str,
        opts: &ClientOptions,
    ) -> Result<Option<AdminAuth>, CredentialError> {
        Ok(
            credentials::lookup(host, opts.creds.as_ref(), opts.authfile.as_deref(), &|k| {
                std::env::var(k).ok()
            })?
            .map(AdminAuth::Basic),
        )
    }

    fn header(&self) -> Option<String> {
        match self {
            AdminAuth::Basic(c) => Some(c.basic_header()),
            AdminAuth::Bearer(t) => Some(format!("Bearer {}", t.expose())),
            AdminAuth::None => None,
        }
    }
}

/// Why an admin call failed. Never carries a credential.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The client could not be configured (CA file, host name).
    #[error("registry {host}: {message}")]
    Config {
        /// The host.
        host: String,
        /// What is wrong.
        message: String,
    },
    /// The connection failed.
    #[error("cannot reach {host} ({url}): {message}")]
    Transport {
        /// The host.
        host: String,
        /// URL requested.
        url: String,
        /// What the network stack said.
        message: String,
    },
    /// The TLS handshake failed.
    #[error("TLS with {host} failed ({url}): {message}; add its CA with --ca-file, or list it with --insecure-registry")]
    Tls {
        /// The host.
        host: String,
        /// URL requested.
        url: String,
        /// What the TLS stack said.
        message: String,
    },
    /// The host answered HTTPS in plain HTTP: it serves no TLS.
    #[error("{host} answered in plain HTTP, not HTTPS ({url}); if it serves only plain HTTP, give --insecure-registry {host}")]
    PlainHttp {
        /// The host.
        host: String,
        /// URL requested.
        url: String,
    },
    /// The credential was refused (401) or may not do this (403).
    #[error("{host} refused the credential for {method} {url}: HTTP {status}: {message}")]
    Denied {
        /// The host.
        host: String,
        /// HTTP method.
        method: &'static str,
        /// URL requested.
        url: String,
        /// 401 or 403.
        status: u16,
        /// The product's message.
        message: String,
    },
    /// Another unexpected status.
    #[error("{host} answered {method} {url} with HTTP {status}: {message}")]
    Status {
        /// The host.
        host: String,
        /// HTTP method.
        method: &'static str,
        /// URL requested.
        url: String,
        /// The status.
        status: u16,
        /// The product's message.
        message: String,
    },
    /// The answer is not what the API documents.
    #[error("{host} sent an unexpected answer to {method} {url}: {message}")]
    Protocol {
        /// The host.
        host: String,
        /// HTTP method.
        method: &'static str,
        /// URL requested.
        url: String,
        /// What was wrong.
        message: String,
    },
}

/// One answer of an admin API: status, JSON body (`Null` when empty or not JSON), `Location`.
#[derive(Debug, Clone)]
pub struct AdminResponse {
    /// HTTP method of the request.
    pub method: &'static str,
    /// URL requested.
    pub url: String,
    /// HTTP status.
    pub status: u16,
    /// The body as JSON; a body that is not JSON becomes a JSON string.
    pub body: serde_json::Value,
    host: String,
}

impl AdminResponse {
    /// `Ok(self)` when the status is one of `ok`; otherwise the matching error.
    pub fn expect(self, ok: &[u16]) -> Result<AdminResponse, AdminError> {
        if ok.contains(&self.status) {
            Ok(self)
        } else {
            Err(self.into_error())
        }
    }

    /// The error this answer stands for.
    pub fn into_error(self) -> AdminError {
        let message = api_message(&self.body);
        match self.status {
            401 | 403 => AdminError::Denied {
                host: self.host,
                method: self.method,
                url: self.url,
                status: self.status,
                message,
            },
            status => AdminError::Status {
                host: self.host,
                method: self.method,
                url: self.url,
                status,
                message,
            },
        }
    }

    /// An error saying the body lacks what the API documents.
    pub fn protocol_error(&self, message: impl Into<String>) -> AdminError {
        AdminError::Protocol {
            host: self.host.clone(),
            method: self.method,
            url: self.url.clone(),
            message: message.into(),
        }
    }
}

/// The product's message in an error body: Harbor's `errors[].message`, Quay's
/// `error_message` / `detail` / `message`, or a short plain-text body.
pub fn api_message(body: &serde_json::Value) -> String {
    use serde_json::Value;
    if let Some(errors) = body.get("errors").and_then(Value::as_array) {
        let parts: Vec<String> = errors
            .iter()
            .map(|e| {
                let code = e.get("code").and_then(Value::as_str).unwrap_or("");
                let msg = e.get("message").and_then(Value::as_str).unwrap_or("");
                match (code.is_empty(), msg.is_empty()) {
                    (false, false) => format!("{code}: {msg}"),
                    (false, true) => code.to_string(),
                    _ => msg.to_string(),
                }
            })
            .filter(|s| !s.is_empty())
            .collect();
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    for key in [
        "error_message",
        "detail",
        "message",
        "error_description",
        "error",
    ] {
        if let Some(s) = body
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            return s.to_string();
        }
    }
    match body {
        Value::String(s) if !s.trim().is_empty() => s.trim().chars().take(300).collect(),
        Value::Null => "no message".into(),
        other => other.to_string().chars().take(300).collect(),
    }
}

/// A client for one product's admin API on `HOST[:PORT]`.
pub struct AdminClient {
    host: String,
    agent: ureq::Agent,
    insecure: bool,
    auth: AdminAuth,
    scheme: Mutex<Option<&'static str>>,
}

impl fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminClient")
            .field("host", &self.host)
            .field("insecure", &self.insecure)
            .field("auth", &self.auth)
            .finish()
    }
}

impl AdminClient {
    /// A client for `host` with the trust settings of `opts` (CA files, certs.d, insecure
    /// hosts); `auth` goes with every request. Does not contact the host.
    pub fn new(host: &str, opts: &ClientOptions, auth: AdminAuth) -> Result<Self, AdminError> {
        let HostAgent { agent, insecure } =
            transport::host_agent(host, opts, LIMITS).map_err(|e| AdminError::Config {
                host: host.to_string(),
                message: e.to_string(),
            })?;
        Ok(AdminClient {
            host: host.to_string(),
            agent,
            insecure,
            auth,
            scheme: Mutex::new((!insecure).then_some("https")),
        })
    }

    /// The host this client talks to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Sends one request (`path` starts with `/` and may hold a query) with optional extra
    /// headers and JSON body. Any HTTP status is an answer; only failures to get one are errors.
    pub fn call(
        &self,
        method: &'static str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<AdminResponse, AdminError> {
        let known = *self.scheme.lock().expect("scheme lock");
        if let Some(scheme) = known {
            return self.call_with(scheme, method, path, headers, body, None);
        }
        // An insecure host: HTTPS (unverified) if it speaks it, else plain HTTP.
        let (scheme, r) = transport::https_then_http(
            &self.host,
            self.insecure,
            |e| matches!(e, AdminError::PlainHttp { .. }),
            |scheme, limit| self.call_with(scheme, method, path, headers, body, limit),
        )?;
        *self.scheme.lock().expect("scheme lock") = Some(scheme);
        Ok(r)
    }

    fn call_with(
        &self,
        scheme: &str,
        method: &'static str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&serde_json::Value>,
        timeout: Option<Duration>,
    ) -> Result<AdminResponse, AdminError> {
        let (url, status, raw) =
            self.exchange(scheme, method, path, headers, body, timeout, MAX_BODY)?;
        let body = if raw.iter().all(u8::is_ascii_whitespace) {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&raw).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(&raw).into_owned())
            })
        };
        Ok(AdminResponse {
            method,
            url,
            status,
            body,
            host: self.host.clone(),
        })
    }

    /// `GET path`: the status and the body's exact bytes, at most `max` of them (a longer body
    /// is an error); for files that are not JSON (a release signature).
    pub fn get_bytes(&self, path: &str, max: u64) -> Result<(u16, Vec<u8>), AdminError> {
        let fetch = |scheme: &str, limit| {
            let (url, status, raw) =
                self.exchange(scheme, "GET", path, &[], None, limit, max + 1)?;
            if raw.len() as u64 > max {
                return Err(AdminError::Protocol {
                    host: self.host.clone(),
                    method: "GET",
                    url,
                    message: format!("the answer is larger than {max} bytes"),
                });
            }
            Ok((status, raw))
        };
        let known = *self.scheme.lock().expect("scheme lock");
        if let Some(scheme) = known {
            return fetch(scheme, None);
        }
        let (scheme, r) = transport::https_then_http(
            &self.host,
            self.insecure,
            |e| matches!(e, AdminError::PlainHttp { .. }),
            fetch,
        )?;
        *self.scheme.lock().expect("scheme lock") = Some(scheme);
        Ok(r)
    }

    /// One exchange: the URL, status and (at most `max` bytes of) the body.
    #[allow(clippy::too_many_arguments)]
    fn exchange(
        &self,
        scheme: &str,
        method: &'static str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&serde_json::Value>,
        timeout: Option<Duration>,
        max: u64,
    ) -> Result<(String, u16, Vec<u8>), AdminError> {
        let url = format!("{scheme}://{}{path}", self.host);
        log::debug!("{method} {url}");
        let mut req = self
            .agent
            .request(method, &url)
            .set("Accept", "application/json");
        if let Some(h) = self.auth.header() {
            req = req.set("Authorization", &h);
        }
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let result = match body {
            Some(b) => req
                .set("Content-Type", "application/json")
                .send_string(&b.to_string()),
            None => req.call(),
        };
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(ureq::Error::Transport(t)) => {
                let host = self.host.clone();
                return Err(match Failure::of(&t) {
                    Failure::Tls(message) => AdminError::Tls { host, url, message },
                    Failure::PlainHttp => AdminError::PlainHttp { host, url },
                    Failure::Network(message) => AdminError::Transport { host, url, message },
                });
            }
        };
        let status = resp.status();
        log::debug!("{method} {url} -> {status}");
        let mut raw = Vec::new();
        resp.into_reader()
            .take(max)
            .read_to_end(&mut raw)
            .map_err(|e| AdminError::Transport {
                host: self.host.clone(),
                url: url.clone(),
                message: format!("reading the answer: {e}"),
            })?;
        Ok((url, status, raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_of_both_products() {
        let harbor =
            json!({"errors":[{"code":"CONFLICT","message":"project mirror already exists"}]});
        assert_eq!(
            api_message(&harbor),
            "CONFLICT: project mirror already exists"
        );
        let quay = json!({"detail":"x","error_message":"A user or organization with this name already exists","error_type":"invalid_request"});
        assert_eq!(
            api_message(&quay),
            "A user or organization with this name already exists"
        );
        assert_eq!(api_message(&json!("Created")), "Created");
        assert_eq!(api_message(&serde_json::Value::Null), "no message");
    }

    #[test]
    fn secrets_stay_hidden() {
        let s = Secret::new(" tok3n-value \n");
        assert_eq!(s.expose(), "tok3n-value");
        let auth = AdminAuth::Bearer(s);
        assert!(!format!("{auth:?}").contains("tok3n"));
        let client = AdminClient::new(
            "127.0.0.1:1",
            &ClientOptions::default(),
            AdminAuth::Basic(Credential::new("admin", "pa55word")),
        )
        .unwrap();
        assert!(!format!("{client:?}").contains("pa55word"));
    }

    #[test]
    fn errors_by_status() {
        let r = |status| AdminResponse {
            method: "GET",
            url: "https://h/api".into(),
            status,
            body: json!({"errors":[{"code":"UNAUTHORIZED","message":"unauthorized"}]}),
            host: "h".into(),
        };
        assert!(matches!(
            r(401).expect(&[200]),
            Err(AdminError::Denied { status: 401, .. })
        ));
        assert!(matches!(
            r(500).expect(&[200]),
            Err(AdminError::Status { status: 500, .. })
        ));
        assert!(r(200).expect(&[200]).is_ok());
        let msg = r(403).into_error().to_string();
        assert!(
            msg.contains("HTTP 403") && msg.contains("UNAUTHORIZED"),
            "{msg}"
        );
    }

    #[test]
    fn unreachable_host_is_a_transport_error() {
        let client = AdminClient::new(
            "127.0.0.1:1",
            &ClientOptions::default(),
            AdminAuth::Bearer(Secret::new("t")),
        )
        .unwrap();
        let e = client.call("GET", "/api/v1/user/", &[], None).unwrap_err();
        assert!(matches!(e, AdminError::Transport { .. }), "{e}");
    }
}
