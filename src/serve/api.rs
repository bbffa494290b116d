//! The read side of the OCI distribution API over a [`Catalog`]: `/v2/`, manifests and blobs
//! (`GET`, `HEAD`; blobs with `Range`), `tags/list`, `_catalog`. Every other method answers 405.

use super::accept::{accepted, negotiate, Negotiated};
use super::catalog::{Catalog, Repo};
use super::http::{parse_range, Request};
use std::io::Read;

use crate::model::Digest;

/// What a reply carries.
pub(super) enum Body<'a> {
    /// Bytes held in memory (manifests, JSON).
    Bytes(Vec<u8>),
    /// A blob streamed from its chunks (or from the spool); `range` is the inclusive slice to
    /// send, if not all.
    Blob {
        digest: Digest,
        reader: Box<dyn Read + Send + 'a>,
        size: u64,
        range: Option<(u64, u64)>,
    },
}

/// A reply: status, headers (besides `Content-Length` and `Connection`), body.
pub(super) struct Reply<'a> {
    pub(super) status: u16,
    pub(super) headers: Vec<(&'static str, String)>,
    pub(super) body: Body<'a>,
}

impl Reply<'_> {
    /// The length the reply declares.
    pub(super) fn length(&self) -> u64 {
        match &self.body {
            Body::Bytes(b) => b.len() as u64,
            Body::Blob { size, range, .. } => match range {
                Some((a, b)) => b - a + 1,
                None => *size,
            },
        }
    }
}

/// A distribution error reply: `{"errors":[{"code":…,"message":…}]}`.
pub(super) fn error<'a>(status: u16, code: &str, message: &str) -> Reply<'a> {
    let body =
        serde_json::json!({ "errors": [{ "code": code, "message": message, "detail": null }] });
    json(status, &body)
}

fn json<'a>(status: u16, v: &serde_json::Value) -> Reply<'a> {
    Reply {
        status,
        headers: vec![("Content-Type", "application/json".into())],
        body: Body::Bytes(v.to_string().into_bytes()),
    }
}

/// Answers `req` from `catalog`.
pub(super) fn route<'a>(catalog: &'a Catalog, req: &Request) -> Reply<'a> {
    if req.method != "GET" && req.method != "HEAD" {
        let mut r = error(
            405,
            "UNSUPPORTED",
            "this registry is read-only: ferry serve answers pulls only",
        );
        r.headers.push(("Allow", "GET, HEAD".into()));
        return r;
    }
    let Some(rest) = req.path.strip_prefix("/v2") else {
        return error(404, "NOT_FOUND", "not an OCI distribution path");
    };
    let rest = rest.trim_start_matches('/');
    if rest.is_empty() {
        return json(200, &serde_json::json!({}));
    }
    if rest == "_catalog" {
        let names: Vec<&str> = catalog.repositories().collect();
        let page = paginate(&names, req);
        return json(200, &serde_json::json!({ "repositories": page }));
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        let Some(repo) = catalog.repo(name) else {
            return name_unknown(name);
        };
        let tags: Vec<&str> = repo.tags.keys().map(|t| t.as_str()).collect();
        let page = paginate(&tags, req);
        return json(200, &serde_json::json!({ "name": name, "tags": page }));
    }
    if let Some((name, reference)) = rest.rsplit_once("/manifests/") {
        let Some(repo) = catalog.repo(name) else {
            return name_unknown(name);
        };
        let accept = accepted(req.header_values("accept"));
        return manifest(catalog, repo, reference, &accept);
    }
    if let Some((name, digest)) = rest.rsplit_once("/blobs/") {
        let Some(repo) = catalog.repo(name) else {
            return name_unknown(name);
        };
        return blob(catalog, repo, digest, req);
    }
    error(404, "NOT_FOUND", "not an OCI distribution path")
}

fn name_unknown<'a>(name: &str) -> Reply<'a> {
    error(
        404,
        "NAME_UNKNOWN",
        &format!("repository {name} is not served"),
    )
}

/// `n` and `last` of a list request, on a sorted list.
fn paginate<'s>(items: &[&'s str], req: &Request) -> Vec<&'s str> {
    let after = req.param("last").unwrap_or("");
    let n = req
        .param("n")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(usize::MAX);
    items
        .iter()
        .filter(|i| after.is_empty() || **i > after)
        .take(n)
        .copied()
        .collect()
}

fn manifest<'a>(
    catalog: &'a Catalog,
    repo: &Repo,
    reference: &str,
    accept: &[String],
) -> Reply<'a> {
    let by_tag = Digest::parse(reference).is_err();
    let mut digest = match Digest::parse(reference) {
        Ok(d) => d,
        Err(_) if !reference.contains(':') => match repo.tags.get(reference) {
            Some(d) => d.clone(),
            None => return error(404, "MANIFEST_UNKNOWN", &format!("no tag {reference} here")),
        },
        Err(e) => return error(400, "DIGEST_INVALID", &e.to_string()),
    };
    // At most one step: from a Docker list to its linux/amd64 manifest.
    for _ in 0..2 {
        let Some(&bundle) = repo.manifests.get(&digest) else {
            return error(
                404,
                "MANIFEST_UNKNOWN",
                &format!("no manifest {digest} here"),
            );
        };
        let (media_type, bytes) = match catalog.bundle(bundle).manifest_bytes(&digest) {
            Ok(m) => m,
            Err(e) => return error(500, "UNKNOWN", &e.to_string()),
        };
        match negotiate(media_type.as_str(), &bytes, by_tag, accept) {
            Negotiated::Serve => {
                return Reply {
                    status: 200,
                    headers: vec![
                        ("Content-Type", media_type.as_str().to_string()),
                        ("Docker-Content-Digest", digest.to_string()),
                    ],
                    body: Body::Bytes(bytes),
                }
            }
            Negotiated::Refuse(message) => return error(404, "MANIFEST_UNKNOWN", message),
            Negotiated::Platform(child) => digest = child,
        }
    }
    error(404, "MANIFEST_UNKNOWN", "no manifest this client accepts")
}

fn blob<'a>(catalog: &'a Catalog, repo: &Repo, digest: &str, req: &Request) -> Reply<'a> {
    let digest = match Digest::parse(digest) {
        Ok(d) => d,
        Err(e) => return error(400, "DIGEST_INVALID", &e.to_string()),
    };
    let Some(&(bundle, size)) = repo.blobs.get(&digest) else {
        // A manifest asked for through the blob endpoint is its bytes.
        if let Some(&b) = repo.manifests.get(&digest) {
            if let Ok((_, bytes)) = catalog.bundle(b).manifest_bytes(&digest) {
                return Reply {
                    status: 200,
                    headers: vec![
                        ("Content-Type", "application/octet-stream".into()),
                        ("Docker-Content-Digest", digest.to_string()),
                    ],
                    body: Body::Bytes(bytes),
                };
            }
        }
        return error(404, "BLOB_UNKNOWN", &format!("no blob {digest} here"));
    };
    let range = match parse_range(req.header("range"), size) {
        Some(Err(())) => {
            let mut r = error(416, "BLOB_UNKNOWN", "range not satisfiable");
            r.headers.push(("Content-Range", format!("bytes */{size}")));
            return r;
        }
        Some(Ok(r)) => Some(r),
        None => None,
    };
    // A HEAD reads nothing: a layer to be rebuilt is not rebuilt for it.
    let reader: Box<dyn Read + Send + 'a> = if req.method == "HEAD" {
        Box::new(std::io::empty())
    } else {
        match catalog.open_blob(bundle, &digest, size) {
            Ok(r) => r,
            Err(e) => return error(500, "UNKNOWN", &e),
        }
    };
    let mut headers = vec![
        ("Content-Type", "application/octet-stream".to_string()),
        ("Docker-Content-Digest", digest.to_string()),
        ("Accept-Ranges", "bytes".into()),
    ];
    if let Some((a, b)) = range {
        headers.push(("Content-Range", format!("bytes {a}-{b}/{size}")));
    }
    Reply {
        status: if range.is_some() { 206 } else { 200 },
        headers,
        body: Body::Blob {
            digest,
            reader,
            size,
            range,
        },
    }
}
