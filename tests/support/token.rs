//! A tiny Docker token issuer (the `auth.token` realm) for the token-auth registry: GET
//! `/token?service=..&scope=..` with Basic auth, answering ES256 JWTs whose `access` is the
//! intersection of what was asked and what the user may do.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::json;

use super::certs::{libtrust_key_id, signing_cert};
use super::registry::Credentials;

/// The `service` (JWT audience) the registry is configured with.
pub const SERVICE: &str = "ferry-test";
/// The `issuer` the registry is configured with.
pub const ISSUER: &str = "ferry-test-issuer";
/// Seconds a token is valid.
pub const EXPIRES_IN: u64 = 300;

/// One request the issuer answered.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// The Basic-auth user, when credentials were sent.
    pub user: Option<String>,
    /// The `service` query parameter.
    pub service: String,
    /// Every `scope` query parameter, as sent.
    pub scopes: Vec<String>,
    /// HTTP status answered (200, or 401 for missing/wrong credentials).
    pub status: u16,
    /// What was granted: (type, name, actions).
    pub granted: Vec<(String, String, Vec<String>)>,
}

struct User {
    password: String,
    actions: Vec<String>,
    /// When set, the user gets access only to repositories named `PREFIX/...`.
    repo_prefix: Option<String>,
}

struct State {
    users: Mutex<BTreeMap<String, User>>,
    key: EcdsaKeyPair,
    kid: String,
    rng: SystemRandom,
    requests: Mutex<Vec<TokenRequest>>,
}

/// A running token issuer; stopped when dropped.
pub struct TokenIssuer {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    port: u16,
    cert_path: PathBuf,
    state: Arc<State>,
}

impl TokenIssuer {
    /// Starts on 127.0.0.1 (free port) with a read-write user and a pull-only user; writes
    /// its signing certificate to `dir/token-signing.pem`.
    pub fn start(dir: &Path, writer: &Credentials, reader: &Credentials) -> TokenIssuer {
        let signing = signing_cert(ISSUER);
        let cert_path = dir.join("token-signing.pem");
        std::fs::write(&cert_path, &signing.cert_pem).expect("writing token signing cert");
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            signing.key.serialized_der(),
            &rng,
        )
        .expect("loading token signing key");
        let mut users = BTreeMap::new();
        users.insert(
            writer.username.clone(),
            User {
                password: writer.password.clone(),
                actions: ["pull", "push", "delete", "*"].map(String::from).to_vec(),
                repo_prefix: None,
            },
        );
        users.insert(
            reader.username.clone(),
            User {
                password: reader.password.clone(),
                actions: vec!["pull".to_string()],
                repo_prefix: None,
            },
        );
        let state = Arc::new(State {
            users: Mutex::new(users),
            key,
            kid: libtrust_key_id(&signing.key.public_key_der()),
            rng,
            requests: Mutex::new(Vec::new()),
        });
        let server =
            Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("starting token issuer"));
        let port = server
            .server_addr()
            .to_ip()
            .expect("token issuer IP address")
            .port();
        let thread = {
            let (server, state) = (Arc::clone(&server), Arc::clone(&state));
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    handle(&state, request);
                }
            })
        };
        TokenIssuer {
            server,
            thread: Some(thread),
            port,
            cert_path,
            state,
        }
    }

    /// The realm URL: `http://127.0.0.1:PORT/token`.
    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    /// `127.0.0.1:PORT` of the issuer: its realm is plain HTTP, so ferry sends it credentials
    /// only when this is listed with `--insecure-registry`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The signing certificate (PEM file) the registry trusts (`rootcertbundle`).
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// A handle that adds and changes users while the issuer runs (for stand-ins that create
    /// robot accounts).
    pub fn users(&self) -> IssuerUsers {
        IssuerUsers(Arc::clone(&self.state))
    }

    /// Every request answered so far.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state
            .requests
            .lock()
            .expect("token request log")
            .clone()
    }
}

/// Adds or changes users of a running [`TokenIssuer`]; clones share the issuer.
#[derive(Clone)]
pub struct IssuerUsers(Arc<State>);

impl IssuerUsers {
    /// Adds (or replaces) a user who may do `actions` on repositories named `REPO_PREFIX/...`
    /// only; every other requested access is downscoped away.
    pub fn add(&self, username: &str, password: &str, repo_prefix: &str, actions: &[&str]) {
        self.0.users.lock().expect("issuer users").insert(
            username.to_string(),
            User {
                password: password.to_string(),
                actions: actions.iter().map(|a| a.to_string()).collect(),
                repo_prefix: Some(repo_prefix.trim_end_matches('/').to_string()),
            },
        );
    }

    /// Changes a user's password; false when there is no such user.
    pub fn set_password(&self, username: &str, password: &str) -> bool {
        match self.0.users.lock().expect("issuer users").get_mut(username) {
            Some(u) => {
                u.password = password.to_string();
                true
            }
            None => false,
        }
    }

    /// Changes what a user may do (keeping its repository prefix); false when unknown.
    pub fn set_actions(&self, username: &str, actions: &[&str]) -> bool {
        match self.0.users.lock().expect("issuer users").get_mut(username) {
            Some(u) => {
                u.actions = actions.iter().map(|a| a.to_string()).collect();
                true
            }
            None => false,
        }
    }
}

impl Drop for TokenIssuer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn basic_auth(request: &tiny_http::Request) -> Option<(String, String)> {
    let header = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))?;
    let encoded = header.value.as_str().strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

/// `type:name:actions` → (type, name, actions); the name may itself contain ':'.
fn parse_scope(scope: &str) -> Option<(String, String, Vec<String>)> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    Some((
        kind.to_string(),
        name.to_string(),
        actions
            .split(',')
            .filter(|a| !a.is_empty())
            .map(String::from)
            .collect(),
    ))
}

fn handle(state: &State, request: tiny_http::Request) {
    let url = request.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    if path != "/token" {
        let _ =
            request.respond(tiny_http::Response::from_string("not found").with_status_code(404));
        return;
    }
    let mut service = String::new();
    let mut scopes = Vec::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "service" => service = v.into_owned(),
            "scope" => scopes.extend(v.split(' ').filter(|s| !s.is_empty()).map(String::from)),
            _ => {}
        }
    }
    let creds = basic_auth(&request);
    let user = creds.as_ref().and_then(|(u, p)| {
        let users = state.users.lock().expect("issuer users");
        users
            .get(u)
            .filter(|user| &user.password == p)
            .map(|user| (u.clone(), user.actions.clone(), user.repo_prefix.clone()))
    });
    let mut record = TokenRequest {
        user: creds.as_ref().map(|c| c.0.clone()),
        service: service.clone(),
        scopes: scopes.clone(),
        status: 401,
        granted: vec![],
    };
    let Some((name, user_actions, repo_prefix)) = user else {
        state
            .requests
            .lock()
            .expect("token request log")
            .push(record);
        let header =
            tiny_http::Header::from_bytes("WWW-Authenticate", "Basic realm=\"ferry-test\"")
                .expect("header");
        let _ = request.respond(
            tiny_http::Response::from_string("{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}")
                .with_status_code(401)
                .with_header(header),
        );
        return;
    };
    let mut access = Vec::new();
    for (kind, repo, actions) in scopes.iter().filter_map(|s| parse_scope(s)) {
        let in_reach = match &repo_prefix {
            None => true,
            Some(p) => kind == "repository" && repo.starts_with(&format!("{p}/")),
        };
        let granted: Vec<String> = actions
            .into_iter()
            .filter(|a| in_reach && user_actions.contains(a))
            .collect();
        if !granted.is_empty() {
            access.push(json!({ "type": kind, "name": repo, "actions": granted }));
            record.granted.push((kind, repo, granted));
        }
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let mut jti = [0u8; 16];
    ring::rand::SecureRandom::fill(&state.rng, &mut jti).expect("random jti");
    let header = json!({ "typ": "JWT", "alg": "ES256", "kid": state.kid });
    let claims = json!({
        "iss": ISSUER,
        "sub": name,
        "aud": service,
        "exp": now + EXPIRES_IN,
        "nbf": now.saturating_sub(10),
        "iat": now,
        "jti": hex::encode(jti),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = state
        .key
        .sign(&state.rng, signing_input.as_bytes())
        .expect("signing token");
    let token = format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    );
    let body = json!({ "token": token, "access_token": token, "expires_in": EXPIRES_IN, "issued_at": rfc3339(now) });
    record.status = 200;
    state
        .requests
        .lock()
        .expect("token request log")
        .push(record);
    let content_type =
        tiny_http::Header::from_bytes("Content-Type", "application/json").expect("header");
    let _ = request
        .respond(tiny_http::Response::from_string(body.to_string()).with_header(content_type));
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}
