//! Issue #15, "an incremental bundle is served when its base is among them": version N packed
//! whole, N+1 packed against N's inventory (`pack --base`: blobs left to the site, changed gzip
//! layers carried as `gzip-tar` changes), both served; skopeo pulls every N+1 image by either
//! name with its digests. Served without its base, the incremental bundle is refused.

mod support;

use std::fs;
use std::path::Path;

use ferry::bundle::Bundle;
use ferry::model::Digest;
use ferry_fixtures::corpus::plan::Plan;
use support::run::*;
use support::served::*;
use support::versions::*;
use support::*;

/// The host of the images' upstream names.
const UPSTREAM: &str = "upstream.example";

/// Every file of an OCI layout's `blobs/` hashes to its name; returns the digests.
fn layout_blobs(layout: &Path) -> Vec<Digest> {
    let dir = layout.join("blobs/sha256");
    let mut found = Vec::new();
    for e in fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let name = format!("sha256:{}", path.file_name().unwrap().to_str().unwrap());
        let digest = Digest::parse(&name).unwrap();
        let mut f = fs::File::open(&path).unwrap();
        let mut h = digest.hasher();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = std::io::Read::read(&mut f, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        assert_eq!(h.finish(), digest, "{}", path.display());
        found.push(digest);
    }
    found
}

#[test]
fn issue_15_an_incremental_bundle_is_served_with_its_base_and_refused_without() {
    let tmp = tempfile::tempdir().unwrap();
    let source = TestRegistry::plain();
    let plan = Plan::tiny(varied_tree(&tmp.path().join("src"), 400), 1000);
    let (n, n1) = load_versions(tmp.path(), &source, plan);
    let (key, pubkey) = keygen(tmp.path(), "k");
    // Upstream names without a port (a client cannot name `HOST:PORT/repo` as a repository
    // of the server), read from the source registry as a mirror of their host.
    let mut src_flags = registry_flags(&source, tmp.path());
    src_flags.extend([
        "--source-mirror".to_string(),
        format!("{UPSTREAM}={}", source.host()),
    ]);
    let named = |c: &ferry_fixtures::corpus::Corpus| -> Vec<String> {
        lines(&source, c)
            .iter()
            .map(|l| l.replacen(&source.host(), UPSTREAM, 1))
            .collect()
    };

    let list = write_list(tmp.path(), "n.txt", &named(&n));
    let full_n = tmp.path().join("n");
    ferry_ok(pack_args(&list, &key, &full_n, &src_flags));
    let inv = tmp.path().join("n.inventory");
    ferry_ok([
        "inventory",
        "--bundle",
        full_n.to_str().unwrap(),
        "--trusted-key",
        pubkey.to_str().unwrap(),
        "--out",
        inv.to_str().unwrap(),
    ]);
    let mut extra = src_flags.clone();
    extra.extend(["--base".to_string(), inv.display().to_string()]);
    let list = write_list(tmp.path(), "n1.txt", &named(&n1));
    let inc = tmp.path().join("n1-inc");
    ferry_ok(pack_args(&list, &key, &inc, &extra));
    let root = Bundle::open(&inc).unwrap().unverified_root().unwrap();
    let as_changes: Vec<_> = root.blobs.iter().filter(|b| b.layer.is_some()).collect();
    let in_base: Vec<_> = root.blobs.iter().filter(|b| b.in_base).collect();
    assert!(
        !as_changes.is_empty() && !in_base.is_empty(),
        "the N+1 bundle leaves blobs to the site and carries layers as changes"
    );

    // Alone, the incremental bundle is refused, its base images and inventory named.
    let out = ferry([
        "serve",
        inc.to_str().unwrap(),
        "--trusted-key",
        pubkey.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("Missing base images: "), "{said}");
    let base_image = in_base[0].base.as_ref().unwrap().image.as_str();
    assert!(said.contains(base_image), "{said}");
    assert!(
        said.contains(&root.base.as_ref().unwrap().inventories[0].to_string()),
        "{said}"
    );
    assert!(said.contains(&in_base[0].digest.to_string()), "{said}");

    // With N, every N+1 image pulls by either name, by tag and by digest.
    let spool_parent = tmp.path().join("spool");
    fs::create_dir(&spool_parent).unwrap();
    let s = Served::start_env(
        &[&full_n, &inc],
        &[&pubkey],
        &[],
        &[("TMPDIR", &spool_parent)],
    );
    let layout = tmp.path().join("pulled");
    let mut copies = 0;
    for img in &root.images {
        let tag = img.tags.first().expect("corpus images have tags");
        for repo in repositories(&img.name) {
            for reference in [format!("{repo}:{tag}"), format!("{repo}@{}", img.digest)] {
                let src = format!("docker://{}/{reference}", s.addr);
                let raw_manifest = skopeo(["inspect", "--raw", "--tls-verify=false", &src]);
                assert_eq!(Digest::sha256_of(&raw_manifest), img.digest, "{src}");
                let dest = format!("oci:{}:image{copies}", layout.display());
                let out =
                    skopeo_output(["copy", "--all", "-q", "--src-tls-verify=false", &src, &dest]);
                assert!(
                    out.status.success(),
                    "skopeo copy {src}: {}\n{}",
                    String::from_utf8_lossy(&out.stderr),
                    s.log()
                );
                copies += 1;
            }
        }
    }
    assert_eq!(copies, 4 * root.images.len());
    let pulled = layout_blobs(&layout);
    for b in root.blobs.iter().filter(|b| b.in_base || b.layer.is_some()) {
        assert!(pulled.contains(&b.digest), "{} was not pulled", b.digest);
    }

    // A range of a rebuilt layer is that slice of it.
    let layer = &as_changes[0];
    let whole = fs::read(layout.join("blobs/sha256").join(layer.digest.hex())).unwrap();
    let users = root.blob_users();
    let user = &users[&layer.digest][0];
    let repo_of_user = &repositories(user)[1];
    let (status, head, body) = raw(
        &s.addr,
        "GET",
        &format!("/v2/{repo_of_user}/blobs/{}", layer.digest),
        &["Range: bytes=100-199"],
    );
    assert_eq!(status, 206, "{head}");
    assert_eq!(body, whole[100..200]);

    let spooled: Vec<_> = fs::read_dir(&spool_parent).unwrap().collect();
    assert_eq!(spooled.len(), 1, "one spool directory while serving");
    let log = s.stop();
    assert!(!log.contains("ABORTED"), "{log}");
    assert_eq!(
        fs::read_dir(&spool_parent).unwrap().count(),
        0,
        "the spool is removed at stop"
    );
}
