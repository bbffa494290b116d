//! Fault injection for the registry client: a stand-in server answers with wrong bytes,
//! server errors and rate limits, which the real registry never does on purpose.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod support;

use support::standin::Served;

use ferry::model::Digest;
use ferry::registry::{ClientOptions, Registry, RegistryError, RetryPolicy};

/// What the fault stand-in answers to one request (the `n`th, counting from 0, to that path).
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

fn reply(status: u16, body: &[u8]) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: body.to_vec(),
    }
}

/// A FAULT STAND-IN, not a registry: a tiny_http server on 127.0.0.1 whose `/v2/` answers 200
/// (anonymous) and whose other answers come from `script(path, n)`. It counts the requests to
/// non-`/v2/` paths.
struct FaultStandIn {
    host: String,
    hits: Arc<AtomicUsize>,
    _served: Served,
}

impl FaultStandIn {
    fn start(script: impl Fn(&str, usize) -> Reply + Send + Sync + 'static) -> FaultStandIn {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        // Behind the stand-ins' front door, which answers ferry's HTTPS probe in plain HTTP.
        let served = Served::start(move |mut req| {
            let mut sink = Vec::new();
            let _ = req.as_reader().read_to_end(&mut sink);
            let path = req.url().to_string();
            let r = if path == "/v2/" {
                reply(200, b"{}")
            } else {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                script(&path, n)
            };
            let mut resp = tiny_http::Response::from_data(r.body).with_status_code(r.status);
            for (k, v) in r.headers {
                resp.add_header(tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap());
            }
            let _ = req.respond(resp);
        });
        FaultStandIn {
            host: served.host(),
            hits,
            _served: served,
        }
    }

    /// The retry policy of [`FaultStandIn::client`].
    fn client_policy(&self) -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            ..RetryPolicy::default()
        }
    }

    fn client(&self) -> Registry {
        let opts = ClientOptions {
            insecure: vec![self.host.clone()],
            retry: self.client_policy(),
            ..ClientOptions::default()
        };
        Registry::new(&self.host, &opts).expect("client")
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

#[test]
fn blob_with_wrong_bytes_fails_naming_the_digest() {
    let digest = Digest::sha256_of(b"the real content");
    let srv = FaultStandIn::start(|_, _| reply(200, b"something else entirely"));
    let reg = srv.client();
    let mut r = reg
        .get_blob("app", &digest, None)
        .expect("request succeeds");
    let err = std::io::copy(&mut r, &mut std::io::sink()).expect_err("wrong bytes must fail");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(err.to_string().contains(&digest.to_string()), "{err}");
}

#[test]
fn manifest_by_digest_with_wrong_bytes_is_a_digest_mismatch() {
    let good = br#"{"schemaVersion":2}"#;
    let digest = Digest::sha256_of(good);
    let srv = FaultStandIn::start(|_, _| Reply {
        status: 200,
        headers: vec![(
            "Content-Type",
            "application/vnd.oci.image.manifest.v1+json".into(),
        )],
        body: br#"{"schemaVersion":2,"evil":true}"#.to_vec(),
    });
    let err = srv
        .client()
        .get_manifest("app", &digest.to_string())
        .expect_err("wrong bytes must fail");
    match &err {
        RegistryError::DigestMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected, &digest);
            assert_ne!(actual, &digest);
        }
        other => panic!("expected DigestMismatch, got {other:?}"),
    }
    assert!(err.to_string().contains(&digest.to_string()), "{err}");
}

#[test]
fn two_server_errors_then_success_is_retried() {
    let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#;
    let srv = FaultStandIn::start(move |_, n| {
        if n < 2 {
            reply(500, br#"{"errors":[{"code":"UNKNOWN","message":"boom"}]}"#)
        } else {
            reply(200, body)
        }
    });
    let reg = srv.client();
    let m = reg
        .get_manifest("app", "latest")
        .expect("third attempt succeeds");
    assert_eq!(m.bytes, body);
    assert_eq!(m.digest, Digest::sha256_of(body));
    assert_eq!(m.media_type, "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(reg.stats().retries, 2);
    assert_eq!(srv.hits(), 3);
}

/// A 429's `Retry-After` reaches the retry policy as the delay to wait (checked without
/// waiting: the policy's delay is what the client sleeps), and the request is retried.
#[test]
fn too_many_requests_is_retried_after_the_delay_the_registry_asks_for() {
    let digest = Digest::sha256_of(b"blob");
    let slow_down = |retry_after: &str| Reply {
        status: 429,
        headers: vec![("Retry-After", retry_after.to_string())],
        body: br#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#.to_vec(),
    };
    // With no retries left, the 429 itself: it carries the delay, and the policy would wait
    // exactly that long (longer than its own backoff) before the next attempt.
    let srv = FaultStandIn::start(move |_, _| slow_down("7"));
    let opts = ClientOptions {
        insecure: vec![srv.host.clone()],
        retry: RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        },
        ..ClientOptions::default()
    };
    let err = Registry::new(&srv.host, &opts)
        .unwrap()
        .blob_exists("app", &digest)
        .expect_err("429");
    assert_eq!(err.status(), Some(429), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    let policy = srv.client_policy();
    assert_eq!(
        policy.next_delay(1, Duration::ZERO, &err),
        Some(Duration::from_secs(7))
    );
    assert!(policy.backoff(1) < Duration::from_secs(7));
    // With retries, the request is repeated after the (here zero) delay and succeeds.
    let srv = FaultStandIn::start(move |_, n| {
        if n == 0 {
            slow_down("0")
        } else {
            reply(200, b"blob")
        }
    });
    let reg = srv.client();
    let size = reg
        .blob_exists("app", &digest)
        .expect("second attempt succeeds");
    assert_eq!(size, Some(4));
    assert_eq!(reg.stats().retries, 1);
    assert_eq!(srv.hits(), 2);
}

#[test]
fn not_found_is_not_retried() {
    let srv = FaultStandIn::start(|_, _| {
        reply(
            404,
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
        )
    });
    let reg = srv.client();
    let err = reg.get_manifest("app", "nosuchtag").expect_err("404");
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("MANIFEST_UNKNOWN"), "{err}");
    assert_eq!(srv.hits(), 1);
    assert_eq!(reg.stats().retries, 0);
    assert_eq!(reg.manifest_digest("app", "nosuchtag").unwrap(), None);
    assert_eq!(srv.hits(), 2, "HEAD 404 not retried either");
}

/// A FAULT STAND-IN for a token-authenticated registry: `/v2/` challenges with Bearer, `/token`
/// issues `tok1`, `tok2`, ... and records the scopes asked for; the first token is rejected as
/// `invalid_token` (an expired token), later ones are accepted.
#[test]
fn rejected_token_is_refreshed_once_and_mount_asks_for_the_source_scope() {
    use std::sync::Mutex;
    let scopes_seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = scopes_seen.clone();
    // The realm is on the stand-in itself (its own origin), which answers ferry's HTTPS probe in
    // plain HTTP through the stand-ins' front door.
    let realm_slot: Arc<std::sync::OnceLock<String>> = Arc::default();
    let realm_of = realm_slot.clone();
    let issued = AtomicUsize::new(0);
    let served = Served::start(move |req| {
        let realm = realm_of.get().expect("realm set before use").clone();
        {
            let url = req.url().to_string();
            let auth = req
                .headers()
                .iter()
                .find(|h| h.field.equiv("Authorization"))
                .map(|h| h.value.to_string());
            let challenge = |extra: &str| {
                tiny_http::Header::from_bytes(
                    &b"WWW-Authenticate"[..],
                    format!(r#"Bearer realm="{realm}",service="stand-in"{extra}"#).as_bytes(),
                )
                .unwrap()
            };
            let resp = if url.starts_with("/token") {
                seen.lock().unwrap().push(url.clone());
                let issued = issued.fetch_add(1, Ordering::SeqCst) + 1;
                tiny_http::Response::from_data(format!(
                    r#"{{"token":"tok{issued}","expires_in":300}}"#
                ))
            } else if auth.as_deref() == Some("Bearer tok1") || auth.is_none() {
                tiny_http::Response::from_data(
                    br#"{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}"#.to_vec(),
                )
                .with_status_code(401)
                .with_header(challenge(if auth.is_some() {
                    r#",error="invalid_token""#
                } else {
                    ""
                }))
            } else if url.contains("mount=") {
                tiny_http::Response::from_data(Vec::new()).with_status_code(201)
            } else {
                tiny_http::Response::from_data(b"data".to_vec())
            };
            let _ = req.respond(resp);
        }
    });
    let host = served.host();
    let _ = realm_slot.set(format!("http://{host}/token"));
    let opts = ClientOptions {
        insecure: vec![host.clone()],
        creds: Some(ferry::registry::Credential::new("u", "tokenpass")),
        ..ClientOptions::default()
    };
    let reg = Registry::new(&host, &opts).unwrap();
    let d = Digest::sha256_of(b"data");
    assert_eq!(reg.blob_exists("team/app", &d).unwrap(), Some(4));
    assert!(reg.mount_blob("team/copy", &d, "team/app").unwrap());
    let seen = scopes_seen.lock().unwrap().clone();
    assert_eq!(
        seen.len(),
        3,
        "one token, one refresh, one for the mount: {seen:?}"
    );
    assert!(seen[0].contains("service=stand-in"), "{seen:?}");
    assert!(
        seen[0].contains("scope=repository%3Ateam%2Fapp%3Apull"),
        "{seen:?}"
    );
    assert_eq!(seen[0], seen[1], "the refresh asks for the same scopes");
    assert!(
        seen[2].contains("scope=repository%3Ateam%2Fapp%3Apull&"),
        "{seen:?}"
    );
    assert!(
        seen[2].contains("scope=repository%3Ateam%2Fcopy%3Apull%2Cpush"),
        "{seen:?}"
    );
    assert_eq!(reg.stats().mounts_succeeded, 1);
}
