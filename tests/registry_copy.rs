//! The registry client against real registries: every fixture image copied plain → TLS with
//! htpasswd → token auth, checked with skopeo; shared blobs mounted, not uploaded again.

mod support;

use std::io::Read;

use ferry::model::manifest::{parse_refs, ManifestRefs};
use ferry::model::Digest;
use ferry::registry::{BlobSource, ClientOptions, Credential, Registry};
use support::*;

struct FromRegistry<'a> {
    registry: &'a Registry,
    repo: &'a str,
    digest: Digest,
    size: u64,
}

impl BlobSource for FromRegistry<'_> {
    fn open(&self) -> std::io::Result<Box<dyn Read + Send + '_>> {
        self.registry
            .get_blob(self.repo, &self.digest, Some(self.size))
            .map_err(std::io::Error::other)
    }
}

fn client(reg: &TestRegistry) -> Registry {
    let mut o = ClientOptions::default();
    if reg.is_tls() {
        o.ca_files.push(reg.ca_cert_path().to_path_buf());
    } else {
        o.insecure.push(reg.host());
    }
    if let Some(issuer) = reg.token_issuer() {
        o.insecure.push(issuer.host());
    }
    if let Some(c) = reg.credentials() {
        o.creds = Some(Credential::new(c.username.clone(), c.password.clone()));
    }
    Registry::new(&reg.host(), &o).unwrap()
}

/// Copies one image (and, for an index, its children) by digest, then tags it. Blobs already
/// copied to another repository of `dst` (listed in `placed`) are mounted.
fn copy_image(
    src: &Registry,
    dst: &Registry,
    repo: &str,
    digest: &str,
    tag: &str,
    placed: &mut Vec<(Digest, String)>,
) {
    let top = src.get_manifest(repo, digest).unwrap();
    let mut manifests = vec![top.clone()];
    if let ManifestRefs::Index { children } =
        parse_refs(&top.digest, &top.media_type, &top.bytes).unwrap()
    {
        for c in children {
            manifests.push(src.get_manifest(repo, &c.digest.to_string()).unwrap());
        }
    }
    for m in manifests.iter().rev() {
        let refs = parse_refs(&m.digest, &m.media_type, &m.bytes).unwrap();
        for b in refs.blobs() {
            if dst.blob_exists(repo, &b.digest).unwrap().is_some() {
                continue;
            }
            let from = placed
                .iter()
                .find(|(d, _)| d == &b.digest)
                .map(|(_, r)| r.clone());
            let mounted = match &from {
                Some(from) => dst.mount_blob(repo, &b.digest, from).unwrap(),
                None => false,
            };
            if !mounted {
                let s = FromRegistry {
                    registry: src,
                    repo,
                    digest: b.digest.clone(),
                    size: b.size,
                };
                dst.push_blob(repo, &b.digest, b.size, &s).unwrap();
                placed.push((b.digest.clone(), repo.to_string()));
            }
        }
        dst.put_manifest(repo, &m.digest.to_string(), &m.media_type, &m.bytes)
            .unwrap();
    }
    dst.put_manifest(repo, tag, &top.media_type, &top.bytes)
        .unwrap();
}

fn assert_all_present(reg: &TestRegistry, set: &FixtureSet) {
    let flags = skopeo_tls_args(reg);
    for img in &set.images {
        for d in std::iter::once(&img.digest).chain(img.children.iter()) {
            let mut args = vec!["inspect".to_string(), "--raw".to_string()];
            args.extend(flags.inspect.clone());
            args.push(format!("docker://{}/{}@{d}", reg.host(), img.repository));
            let raw = skopeo(&args);
            assert_eq!(
                &Digest::sha256_of(&raw).to_string(),
                d,
                "{} at {}",
                img.slug,
                reg.host()
            );
        }
    }
}

#[test]
fn client_copies_every_fixture_plain_to_tls_to_token() {
    let set = fixtures();
    let plain = TestRegistry::plain();
    load_fixtures(&plain, set);
    let tls = TestRegistry::tls_htpasswd();
    let token = TestRegistry::token_auth();
    let chain = [(&plain, &tls), (&tls, &token)];
    for (from, to) in chain {
        let src = client(from);
        let dst = client(to);
        src.ping().unwrap();
        dst.ping().unwrap();
        let mut placed = Vec::new();
        for img in &set.images {
            copy_image(
                &src,
                &dst,
                &img.repository,
                &img.digest,
                &img.tag,
                &mut placed,
            );
        }
        assert_all_present(to, set);
        // The base layer shared by app-a and app-b was uploaded once and mounted for the other.
        let a = set.image("app-a");
        let b = set.image("app-b");
        let base = a
            .blobs
            .iter()
            .find(|x| b.blobs.iter().any(|y| y.0 == x.0))
            .unwrap()
            .0
            .clone();
        let uploads = to
            .access_log()
            .iter()
            .filter(|e| {
                e.method == "PUT"
                    && e.path.contains("/blobs/uploads/")
                    && (e.path.contains(&base) || e.path.contains(&base.replace(':', "%3A")))
            })
            .count();
        assert_eq!(
            uploads,
            1,
            "base layer {base} uploaded once to {}",
            to.host()
        );
        let mounts = to
            .access_log()
            .iter()
            .filter(|e| e.method == "POST" && e.path.contains("mount=") && e.status == 201)
            .count();
        assert!(
            mounts >= 1,
            "at least one cross-repository mount at {}",
            to.host()
        );
        assert!(dst.stats().mounts_succeeded >= 1);
    }
    // The token registry issued per-repository scopes, including the extra pull scope of a mount.
    let issued = token.token_issuer().unwrap().requests();
    assert!(
        issued.iter().any(|r| r.scopes.len() >= 2
            && r.scopes.iter().any(|s| s.ends_with(":pull"))
            && r.scopes.iter().any(|s| s.contains("push"))),
        "a token request carried push on the target and pull on the mount source: {issued:?}"
    );
}

#[test]
fn secrets_never_appear_in_errors_or_debug() {
    let reg = TestRegistry::tls_htpasswd();
    let mut o = ClientOptions::default();
    o.ca_files.push(reg.ca_cert_path().to_path_buf());
    let secret = "s3cret-Pa55word-that-must-not-leak";
    o.creds = Some(Credential::new(
        reg.username().to_string(),
        secret.to_string(),
    ));
    let r = Registry::new(&reg.host(), &o).unwrap();
    let err = r.get_manifest("ferry/none", "latest").unwrap_err();
    let shown = format!("{err} {err:?} {r:?} {o:?}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(
        shown.contains("ferry/none"),
        "the error names the repository: {shown}"
    );
    // And through the CLI, with request tracing on: a push refused for the wrong password, and
    // a check that authenticates, never show it.
    let set = fixtures_small();
    let p = support::run::pack(&support::run::local_lines(set)[..1], &[]);
    let ca = reg.ca_cert_path().display().to_string();
    let out = support::run::ferry([
        "push",
        p.dir.to_str().unwrap(),
        "--trusted-key",
        p.pubkey.to_str().unwrap(),
        "--to",
        &reg.host(),
        "--ca-file",
        &ca,
        "--creds",
        &format!("{}:{secret}", reg.username()),
        "--mirrorsets-out",
        p.tmp.path().join("ms").to_str().unwrap(),
        "-vv",
    ]);
    let t = support::run::text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("401") || t.to_lowercase().contains("unauthorized"),
        "{t}"
    );
    assert!(!t.contains(secret), "{t}");
    let good = format!("{}:{}", reg.username(), reg.password());
    let out = support::run::ferry([
        "check",
        p.dir.to_str().unwrap(),
        "--trusted-key",
        p.pubkey.to_str().unwrap(),
        "--to",
        &reg.host(),
        "--ca-file",
        &ca,
        "--creds",
        &good,
        "-vv",
    ]);
    let t = support::run::text(&out);
    assert!(
        t.contains("debug: HEAD") || t.contains("debug: GET"),
        "requests are traced: {t}"
    );
    assert!(!t.contains(reg.password()), "{t}");
}
