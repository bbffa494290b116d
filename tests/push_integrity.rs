//! Push hashes what it uploads: a damaged chunk is refused by ferry itself while it streams,
//! before the upload is committed, even to a registry that stores whatever bytes it is sent
//! under whatever digest it is told (a LAX STAND-IN, not a registry: the real one would check).

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ferry::bundle::Bundle;
use ferry::chunk::Compression;
use ferry::model::{Digest, Reference};
use ferry::naming::NamingError;
use ferry::push::copy::{copy_bundle, TargetNames};
use ferry::registry::{ClientOptions, Registry, RetryPolicy};
use support::run::*;
use support::standin::Served;
use support::*;

/// What the lax stand-in holds: upload sessions and committed blobs, by digest as told.
#[derive(Default)]
struct Lax {
    next: AtomicUsize,
    sessions: Mutex<HashMap<String, Vec<u8>>>,
    blobs: Mutex<HashMap<String, Vec<u8>>>,
}

fn respond(req: tiny_http::Request, status: u16, headers: &[(&str, String)]) {
    let mut resp = tiny_http::Response::from_data(Vec::new()).with_status_code(status);
    for (k, v) in headers {
        resp.add_header(tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap());
    }
    let _ = req.respond(resp);
}

impl Lax {
    /// Answers like a registry that checks nothing but HTTP framing: a body shorter than its
    /// Content-Length (a client that gave up mid-upload) is not kept.
    fn handle(&self, mut req: tiny_http::Request) {
        let method = req.method().as_str().to_string();
        let url = req.url().to_string();
        let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
        let announced = req.body_length();
        let mut body = Vec::new();
        let read = req.as_reader().read_to_end(&mut body).is_ok();
        let whole = read && announced.is_none_or(|n| n == body.len());
        let Some((repo, rest)) = path
            .strip_prefix("/v2/")
            .and_then(|p| p.split_once("/blobs/"))
        else {
            return match (method.as_str(), path) {
                (_, "/v2/") => respond(req, 200, &[]),
                ("PUT", p) if p.contains("/manifests/") => {
                    let d = Digest::sha256_of(&body).to_string();
                    respond(req, 201, &[("Docker-Content-Digest", d)])
                }
                _ => respond(req, 404, &[]),
            };
        };
        let session_url = |id: &str| format!("/v2/{repo}/blobs/uploads/{id}");
        match (method.as_str(), rest.strip_prefix("uploads/")) {
            ("POST", Some("")) => {
                let id = self.next.fetch_add(1, Ordering::SeqCst).to_string();
                self.sessions.lock().unwrap().insert(id.clone(), Vec::new());
                respond(req, 202, &[("Location", session_url(&id))]);
            }
            ("PATCH", Some(id)) if whole => {
                if let Some(s) = self.sessions.lock().unwrap().get_mut(id) {
                    s.extend_from_slice(&body);
                }
                respond(req, 202, &[("Location", session_url(id))]);
            }
            ("PUT", Some(id)) if whole => {
                let digest = query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("digest="))
                    .unwrap_or_default()
                    .replace("%3A", ":")
                    .replace("%3a", ":");
                let mut data = self.sessions.lock().unwrap().remove(id).unwrap_or_default();
                data.extend_from_slice(&body);
                // No digest check: whatever was sent is stored under whatever digest was named.
                self.blobs.lock().unwrap().insert(digest.clone(), data);
                respond(req, 201, &[("Docker-Content-Digest", digest)]);
            }
            (_, Some(_)) => respond(req, 400, &[]),
            ("HEAD" | "GET", None) => {
                let held = self.blobs.lock().unwrap().get(rest).map(Vec::len);
                match held {
                    Some(n) => respond(
                        req,
                        200,
                        &[
                            ("Docker-Content-Digest", rest.to_string()),
                            ("Content-Length", n.to_string()),
                        ],
                    ),
                    None => respond(req, 404, &[]),
                }
            }
            _ => respond(req, 404, &[]),
        }
    }
}

/// Every image under `mirror/` plus its repository path.
struct Flat;

impl TargetNames for Flat {
    fn repository(&self, name: &Reference) -> Result<String, NamingError> {
        Ok(format!("mirror/{}", name.name()))
    }

    fn display(&self, name: &Reference, digest: &Digest) -> String {
        format!("mirror/{}@{digest}", name.name())
    }
}

#[test]
fn a_corrupted_chunk_is_refused_by_ferry_and_never_committed() {
    let set = fixtures_small();
    let p = pack(&local_lines(set), &[]);
    let key = ferry::sign::read_public_key(&p.pubkey).unwrap();
    // A chunk stored as is (so that the flipped byte decompresses fine and only a hash can
    // tell), in the middle of its stored bytes.
    let (victim, path, offset) = {
        let b = Bundle::open(&p.dir).unwrap().verify(&key).unwrap();
        let root = b.root();
        let (blob, c) = root
            .blobs
            .iter()
            .find_map(|blob| {
                blob.chunks
                    .iter()
                    .map(|&i| &root.chunks[i as usize])
                    .find(|c| c.compression() == Compression::None && c.stored_len() > 2)
                    .map(|c| (blob, c))
            })
            .expect("a blob with a chunk stored raw");
        let v = b.volume_of(c).unwrap();
        (
            blob.digest.clone(),
            v.path.clone(),
            512 + c.offset() + c.stored_len() / 2,
        )
    };
    flip_byte(&path, offset);
    let b = Bundle::open(&p.dir).unwrap().verify(&key).unwrap();
    let users = b.root().blob_users()[&victim].clone();

    let lax = Arc::new(Lax::default());
    let served = {
        let lax = Arc::clone(&lax);
        Served::start(move |req| lax.handle(req))
    };
    let opts = ClientOptions {
        insecure: vec![served.host()],
        retry: RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        },
        ..ClientOptions::default()
    };
    let reg = Registry::new(&served.host(), &opts).unwrap();
    let results = copy_bundle(
        &b,
        None,
        &reg,
        &Flat,
        2,
        &ferry::progress::Silent,
        "push",
        &|_| None,
    );

    // Every image that uses the blob failed; the one that streamed it names chunk and volume
    // (the others were told that the blob could not be pushed).
    let volume = path.file_name().unwrap().to_str().unwrap();
    let mut named = false;
    for r in &results {
        if users.contains(&r.name) {
            let err = r.error.as_deref().unwrap_or_default();
            assert!(!r.ok, "{} uses the damaged blob but was pushed", r.name);
            named |= err.contains("chunk") && err.contains(volume);
        } else {
            assert!(r.ok, "{}: {:?}", r.name, r.error);
        }
    }
    assert!(named, "no error names the chunk in {volume}: {results:#?}");
    let blobs = lax.blobs.lock().unwrap();
    assert!(
        !blobs.contains_key(&victim.to_string()),
        "the damaged blob was committed under {victim}"
    );
    assert!(!blobs.is_empty(), "the stand-in kept the other blobs");
    for (d, bytes) in blobs.iter() {
        assert_eq!(&Digest::sha256_of(bytes).to_string(), d, "wrong bytes kept");
    }
}
