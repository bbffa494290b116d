//! Where the registry client sends credentials, which hosts `--insecure-registry` loosens, the
//! upload sessions it abandons, and blob downloads cut part-way (issue 14: items 1, 2, 8, 9).
//! The library runs against real registries and against stand-ins that misbehave on purpose.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use ferry::model::Digest;
use ferry::registry::{ClientOptions, Credential, Registry, RegistryError, RetryPolicy};
use support::proxy::{Action, FaultProxy};
use support::standin::{answer_tls_in_plain_http, header, respond_json, Served};
use support::TestRegistry;

/// One request a stand-in saw: method, path and query, `Authorization` header.
type Seen = Arc<Mutex<Vec<(String, String, Option<String>)>>>;

fn record(seen: &Seen, request: &tiny_http::Request) {
    seen.lock().unwrap().push((
        request.method().as_str().to_string(),
        request.url().to_string(),
        header(request, "authorization").map(str::to_string),
    ));
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        attempts: 4,
        base_delay: std::time::Duration::from_millis(10),
        max_delay: std::time::Duration::from_millis(50),
        ..RetryPolicy::default()
    }
}

const USER: &str = "alice";
const PASSWORD: &str = "s3cret-never-shown";

fn basic() -> String {
    let raw = format!("{USER}:{PASSWORD}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// A registry stand-in on plain HTTP asking for Basic credentials on every request; the rest
/// of its answers come from `route` (for requests carrying the right credentials).
fn basic_registry(
    seen: Seen,
    route: impl Fn(tiny_http::Request) + Send + Sync + 'static,
) -> Served {
    Served::start(move |request| {
        record(&seen, &request);
        if header(&request, "authorization") != Some(basic().as_str()) {
            let challenge = [("WWW-Authenticate", "Basic realm=\"standin\"")];
            return respond_json(request, 401, &serde_json::Value::Null, &challenge);
        }
        if request.url() == "/v2/" {
            return respond_json(request, 200, &serde_json::json!({}), &[]);
        }
        route(request)
    })
}

fn basic_client(host: &str) -> Registry {
    let opts = ClientOptions {
        creds: Some(Credential::new(USER, PASSWORD)),
        insecure: vec![host.to_string()],
        retry: fast_retries(),
        ..ClientOptions::default()
    };
    Registry::new(host, &opts).unwrap()
}

#[test]
fn credentials_never_reach_a_plain_http_token_service_unless_it_is_listed() {
    let reg = TestRegistry::token_auth();
    let issuer = reg.token_issuer().unwrap();
    let c = reg.credentials().unwrap();
    let mut opts = ClientOptions {
        ca_files: vec![reg.ca_cert_path().to_path_buf()],
        creds: Some(Credential::new(c.username.clone(), c.password.clone())),
        ..ClientOptions::default()
    };
    let err = Registry::new(&reg.host(), &opts)
        .unwrap()
        .check_credentials("app")
        .unwrap_err();
    assert!(matches!(err, RegistryError::Withheld { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("--insecure-registry {}", issuer.host())),
        "{msg}"
    );
    assert!(!msg.contains(&c.password), "{msg}");
    assert!(issuer.requests().is_empty(), "{:?}", issuer.requests());

    opts.insecure.push(issuer.host());
    Registry::new(&reg.host(), &opts)
        .unwrap()
        .check_credentials("app")
        .unwrap();
    assert!(
        issuer
            .requests()
            .iter()
            .any(|r| r.user.as_deref() == Some(c.username.as_str())),
        "{:?}",
        issuer.requests()
    );
}

#[test]
fn a_redirect_target_on_another_origin_gets_no_credentials_and_its_challenge_is_ignored() {
    // The storage answers on another port of the same host: ureq's same-host rule kept the
    // credentials there.
    let storage_seen: Seen = Arc::default();
    let storage = {
        let seen = Arc::clone(&storage_seen);
        Served::start(move |request| {
            record(&seen, &request);
            let host = header(&request, "host").unwrap_or_default().to_string();
            let realm = format!("Bearer realm=\"http://{host}/token\",service=\"evil\"");
            respond_json(
                request,
                401,
                &serde_json::Value::Null,
                &[("WWW-Authenticate", &realm)],
            );
        })
    };
    let registry_seen: Seen = Arc::default();
    let target = format!("http://{}/storage/blob", storage.host());
    let registry = basic_registry(Arc::clone(&registry_seen), move |request| {
        respond_json(
            request,
            307,
            &serde_json::Value::Null,
            &[("Location", &target)],
        )
    });
    let reg = basic_client(&registry.host());
    let digest = Digest::sha256_of(b"blob");
    let err = reg
        .get_blob("app", &digest, None)
        .err()
        .expect("the storage refused");
    assert!(!err.to_string().contains(PASSWORD), "{err}");

    // The challenge of the storage did not replace the registry's: Basic still works, and the
    // storage's token realm was never asked.
    reg.check_credentials("app").unwrap();
    let storage_seen = storage_seen.lock().unwrap().clone();
    assert!(!storage_seen.is_empty(), "the redirect was followed");
    assert!(
        storage_seen.iter().all(|(_, _, auth)| auth.is_none()),
        "credentials reached the storage: {storage_seen:?}"
    );
    assert!(
        storage_seen
            .iter()
            .all(|(_, url, _)| !url.starts_with("/token")),
        "{storage_seen:?}"
    );
}

#[test]
fn an_upload_location_on_another_origin_gets_no_credentials() {
    let elsewhere_seen: Seen = Arc::default();
    let elsewhere = {
        let seen = Arc::clone(&elsewhere_seen);
        Served::start(move |mut request| {
            record(&seen, &request);
            let mut body = Vec::new();
            let _ = request.as_reader().read_to_end(&mut body);
            let status = if request.method().as_str() == "PUT" {
                201
            } else {
                202
            };
            respond_json(request, status, &serde_json::Value::Null, &[]);
        })
    };
    let location = format!("http://{}/upload/1", elsewhere.host());
    let registry = basic_registry(Arc::default(), move |request| {
        respond_json(
            request,
            202,
            &serde_json::Value::Null,
            &[("Location", &location)],
        )
    });
    let reg = basic_client(&registry.host());
    let data = b"small blob".to_vec();
    let digest = Digest::sha256_of(&data);
    let _ = reg.push_blob("app", &digest, data.len() as u64, &data);
    let seen = elsewhere_seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|(m, _, _)| m == "PUT"),
        "the upload went to its location: {seen:?}"
    );
    assert!(
        seen.iter().all(|(_, _, auth)| auth.is_none()),
        "credentials reached another origin: {seen:?}"
    );
}

#[test]
fn insecure_registry_does_not_loosen_the_hosts_it_redirects_to() {
    // An HTTPS server whose certificate ferry does not trust (its CA is not given).
    let untrusted = TestRegistry::tls_htpasswd();
    let target = format!("https://{}/v2/app/blobs/x", untrusted.host());
    let registry = Served::start(move |request| {
        if request.url() == "/v2/" {
            return respond_json(request, 200, &serde_json::json!({}), &[]);
        }
        respond_json(
            request,
            307,
            &serde_json::Value::Null,
            &[("Location", &target)],
        )
    });
    let opts = ClientOptions {
        insecure: vec![registry.host()],
        retry: fast_retries(),
        ..ClientOptions::default()
    };
    let reg = Registry::new(&registry.host(), &opts).unwrap();
    let err = reg
        .get_blob("app", &Digest::sha256_of(b"x"), None)
        .err()
        .expect("the redirect target is not trusted");
    assert!(matches!(err, RegistryError::Tls { .. }), "{err}");
}

/// A TCP server that drops every TLS hello without a word and answers anything else with
/// `200 {}`, counting the plain HTTP requests.
fn tls_dropping_server() -> (String, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let plain = Arc::new(Mutex::new(0));
    let count = Arc::clone(&plain);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut first = [0u8; 1];
            if c.peek(&mut first).ok() != Some(1) || first[0] == 0x16 {
                continue; // dropped: a reset, not an HTTP answer
            }
            *count.lock().unwrap() += 1;
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ =
                c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
        }
    });
    (host, plain)
}

#[test]
fn insecure_registry_falls_back_to_plain_http_only_for_a_server_that_speaks_it() {
    let (host, plain) = tls_dropping_server();
    let opts = ClientOptions {
        insecure: vec![host.clone()],
        retry: fast_retries(),
        ..ClientOptions::default()
    };
    let err = Registry::new(&host, &opts).unwrap().ping().unwrap_err();
    assert!(matches!(err, RegistryError::Transport { .. }), "{err}");
    assert_eq!(
        *plain.lock().unwrap(),
        0,
        "no plain HTTP after a dropped TLS hello"
    );

    // A server that answers the TLS hello in HTTP (as Go's does) gets plain HTTP.
    let speaks_http =
        Served::start(|request| respond_json(request, 200, &serde_json::json!({}), &[]));
    let opts = ClientOptions {
        insecure: vec![speaks_http.host()],
        ..ClientOptions::default()
    };
    Registry::new(&speaks_http.host(), &opts)
        .unwrap()
        .ping()
        .unwrap();
}

#[test]
fn abandoned_upload_sessions_are_cancelled() {
    let reg = TestRegistry::plain();
    // The registry mishandles streamed uploads: ferry falls back to one PUT in a new session.
    let proxy = FaultProxy::start(&reg.host(), |method, _| match method {
        "PATCH" => Action::Reply(500, br#"{"errors":[{"code":"UNKNOWN"}]}"#.to_vec()),
        _ => Action::Forward,
    });
    let opts = ClientOptions {
        insecure: vec![proxy.host()],
        retry: fast_retries(),
        ..ClientOptions::default()
    };
    let client = Registry::new(&proxy.host(), &opts).unwrap();
    let data: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let digest = Digest::sha256_of(&data);
    client
        .push_blob("app", &digest, data.len() as u64, &data)
        .unwrap();
    assert_eq!(
        client.blob_exists("app", &digest).unwrap(),
        Some(data.len() as u64)
    );
    let seen = proxy.seen();
    let patched: Vec<&str> = seen
        .iter()
        .filter(|s| s.method == "PATCH")
        .map(|s| s.url.split('?').next().unwrap())
        .collect();
    assert!(!patched.is_empty(), "{seen:?}");
    for session in patched {
        assert!(
            seen.iter()
                .any(|s| s.method == "DELETE" && s.url.split('?').next() == Some(session)),
            "session {session} was not cancelled: {seen:?}"
        );
    }
}

/// A plain HTTP server (TLS hellos answered as Go does) closing every connection after one
/// answer; `answer(head)` writes the raw response for a request head.
fn raw_server(answer: impl Fn(&str, &mut TcpStream) + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            let answer = Arc::clone(&answer);
            std::thread::spawn(move || {
                let mut first = [0u8; 1];
                match c.peek(&mut first) {
                    Ok(1) if first[0] == 0x16 => return answer_tls_in_plain_http(c),
                    Ok(1) => {}
                    _ => return,
                }
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && c.read(&mut byte).ok() == Some(1) {
                    head.push(byte[0]);
                }
                answer(&String::from_utf8_lossy(&head), &mut c);
                let _ = c.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    host
}

#[test]
fn a_blob_download_cut_part_way_is_resumed_with_a_range_request() {
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let digest = Digest::sha256_of(&data);
    let ranges: Arc<Mutex<Vec<String>>> = Arc::default();
    let host = {
        let (data, ranges) = (data.clone(), Arc::clone(&ranges));
        raw_server(move |head, c| {
            let len = data.len();
            if head.starts_with("GET /v2/ ") {
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
                return;
            }
            let range = head.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("range: bytes=")
                    .map(str::to_string)
            });
            match range {
                None => {
                    // The whole blob announced, a third of it sent, then the connection drops.
                    let h = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
                    let _ = c.write_all(h.as_bytes());
                    let _ = c.write_all(&data[..len / 3]);
                }
                Some(r) => {
                    ranges.lock().unwrap().push(r.clone());
                    let from: usize = r.trim_end_matches('-').trim().parse().unwrap();
                    let h = format!(
                        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\n\
                         Content-Range: bytes {from}-{}/{len}\r\n\r\n",
                        len - from,
                        len - 1
                    );
                    let _ = c.write_all(h.as_bytes());
                    let _ = c.write_all(&data[from..]);
                }
            }
        })
    };
    let opts = ClientOptions {
        insecure: vec![host.clone()],
        retry: fast_retries(),
        ..ClientOptions::default()
    };
    let reg = Registry::new(&host, &opts).unwrap();
    let mut got = Vec::new();
    reg.get_blob("app", &digest, Some(data.len() as u64))
        .unwrap()
        .read_to_end(&mut got)
        .unwrap();
    assert!(got == data, "the resumed blob is whole");
    let ranges = ranges.lock().unwrap().clone();
    assert_eq!(ranges, [format!("{}-", data.len() / 3)]);
}
