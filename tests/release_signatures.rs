//! Issue 10 item 4: release signatures for the cluster-version operator. `ferry pack` reads
//! each release's signatures from a signature store (a stand-in serving
//! `/sha256=<hex>/signature-<n>` and 404 after the last), carries them in the signed bundle, and
//! `ferry push` and `ferry mirrorsets` write the ConfigMap OpenShift reads them from, carrying
//! the bytes byte for byte. A release the store has nothing for is warned about by name;
//! `--signature-store none` skips them on purpose.

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use support::release::load_release;
use support::run::*;
use support::standin::Served;
use support::*;

/// A signature store: `/sigs/sha256=<hex>/signature-<n>` from `files`, 404 otherwise.
struct Store {
    served: Served,
    asked: Arc<Mutex<Vec<String>>>,
}

impl Store {
    fn start(files: BTreeMap<String, Vec<u8>>) -> Store {
        let asked: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = Arc::clone(&asked);
        let served = Served::start(move |request| {
            let url = request.url().to_string();
            seen.lock().unwrap().push(url.clone());
            let resp = match files.get(&url) {
                Some(bytes) => tiny_http::Response::from_data(bytes.clone()).with_status_code(200),
                None => tiny_http::Response::from_data(b"not found".to_vec()).with_status_code(404),
            };
            let _ = request.respond(resp);
        });
        Store { served, asked }
    }

    fn url(&self) -> String {
        format!("http://{}/sigs", self.served.host())
    }
}

/// Two signature files of `digest`, not UTF-8 (OpenPGP is binary).
fn signature_files(digest: &str) -> Vec<(String, Vec<u8>)> {
    let hex = digest.trim_start_matches("sha256:");
    (1..=2u8)
        .map(|n| {
            let mut bytes = vec![0xa3, 0x01, 0x00, 0xff, n];
            bytes.extend(format!("fixture signature {n} of {digest}\n").bytes());
            (format!("/sigs/sha256={hex}/signature-{n}"), bytes)
        })
        .collect()
}

fn pack_release(
    source: &TestRegistry,
    release_tag: &str,
    store: &str,
    dir: &std::path::Path,
    key: &std::path::Path,
) -> std::process::Output {
    Command::new(ferry_bin())
        .args([
            "pack",
            "--key",
            key.to_str().unwrap(),
            "--out",
            dir.to_str().unwrap(),
            "--release",
            &format!("quay.io/openshift-release-dev/ocp-release:{release_tag}"),
            "--source-mirror",
            &format!("quay.io={}", source.host()),
            "--insecure-registry",
            &source.host(),
            "--signature-store",
            store,
            "--json",
        ])
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("OCP_SIGNATURE_URL")
        .output()
        .expect("running ferry")
}

#[test]
fn release_signatures_reach_the_configmap_byte_for_byte() {
    let source = TestRegistry::plain();
    let set = load_release(&source);
    let release = &set.releases[0];
    let files = signature_files(&release.image.digest);
    let store = Store::start(files.iter().cloned().collect());
    let tmp = tempfile::tempdir().unwrap();
    let (key, pubkey) = keygen(tmp.path(), "k");
    let dir = tmp.path().join("bundle");
    let out = pack_release(&source, &release.image.tag, &store.url(), &dir, &key);
    assert!(out.status.success(), "{}", text(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["release_signatures"], 2, "{summary:#}");
    // Read until the store said 404: signature-3 was asked for, nothing beyond.
    let hex = release.image.digest.trim_start_matches("sha256:");
    let asked = store.asked.lock().unwrap().clone();
    assert!(
        asked.contains(&format!("/sigs/sha256={hex}/signature-3")),
        "{asked:?}"
    );
    assert!(
        !asked.iter().any(|u| u.ends_with("signature-4")),
        "{asked:?}"
    );
    // Carried under the bundle's signature.
    verify_ok(&dir, &pubkey, &[]);
    let info: serde_json::Value =
        serde_json::from_str(&ferry_ok(["inspect", dir.to_str().unwrap(), "--json"])).unwrap();
    assert_eq!(info["format"], "1.2");
    assert_eq!(info["release_signatures"][0]["count"], 2, "{info:#}");

    let target = TestRegistry::plain();
    let p = Packed {
        tmp,
        dir,
        key,
        pubkey,
    };
    let report = registry_push_json(&p, &target);
    assert!(all_ok(&report), "{report:#}");
    let sets = p.tmp.path().join("mirrorsets");
    let path = bundle_mirrorset_file(&sets, "release-signatures.yaml");
    let cm: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(cm["apiVersion"].as_str(), Some("v1"));
    assert_eq!(cm["kind"].as_str(), Some("ConfigMap"));
    assert_eq!(
        cm["metadata"]["namespace"].as_str(),
        Some("openshift-config-managed")
    );
    assert!(
        cm["metadata"]["labels"]
            .get("release.openshift.io/verification-signatures")
            .is_some(),
        "{cm:?}"
    );
    let data = cm["binaryData"].as_mapping().unwrap();
    assert_eq!(data.len(), 2, "{cm:?}");
    for (n, (_, bytes)) in files.iter().enumerate() {
        let key = format!("sha256-{hex}-{}", n + 1);
        let b64 = cm["binaryData"][key.as_str()]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} in {cm:?}"));
        let got = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(&got, bytes, "{key} byte for byte");
    }
    // `ferry mirrorsets` writes the same ConfigMap from the bundle alone.
    let other = p.tmp.path().join("again");
    ferry_ok([
        "mirrorsets",
        p.dir.to_str().unwrap(),
        "--trusted-key",
        p.pubkey.to_str().unwrap(),
        "--to",
        &target.host(),
        "--out",
        other.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(bundle_mirrorset_file(&other, "release-signatures.yaml")).unwrap(),
        std::fs::read(&path).unwrap()
    );
}

#[test]
fn a_release_without_signatures_is_named_and_none_skips_them() {
    let source = TestRegistry::plain();
    let set = load_release(&source);
    let release = &set.releases[0];
    let store = Store::start(BTreeMap::new());
    let tmp = tempfile::tempdir().unwrap();
    let (key, _) = keygen(tmp.path(), "k");
    let out = pack_release(
        &source,
        &release.image.tag,
        &store.url(),
        &tmp.path().join("b1"),
        &key,
    );
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("warning") && t.contains(&release.image.digest) && t.contains("no signature"),
        "{t}"
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["release_signatures"], 0);

    let out = pack_release(
        &source,
        &release.image.tag,
        "none",
        &tmp.path().join("b2"),
        &key,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("--signature-store none"),
        "{}",
        text(&out)
    );
    // An unreachable store is an error, not a silent bundle without signatures.
    let out = pack_release(
        &source,
        &release.image.tag,
        "http://127.0.0.1:1/sigs",
        &tmp.path().join("b3"),
        &key,
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("--signature-store none"),
        "{}",
        text(&out)
    );
}
