//! OpenShift content (issue 10, items 1 and 2): `ferry pack --release` and the
//! ImageSetConfiguration's platform channels (through a stand-in update graph) carry the
//! release image and every component its `release-manifests/image-references` lists; after a
//! push, each of the release's own upstream references resolves through the generated IDMS to
//! the mirror, by digest. `blockedImages` keeps an image out; sections ferry does not carry
//! are refused naming field and line.

mod support;

use std::path::Path;
use std::process::Command;

use support::release::{fixture_graphs, load_release, GraphStandin};
use support::run::*;
use support::*;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Runs `ferry pack ARGS --json` with `env` set; panics unless it succeeds; the summary.
fn pack_json(args: &[String], env: &[(&str, &str)]) -> serde_json::Value {
    let mut cmd = Command::new(ferry_bin());
    cmd.args(args)
        .arg("--json")
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("UPDATE_URL_OVERRIDE")
        // Release signatures are tested in release_signatures.rs, against a stand-in store;
        // these tests skip them on purpose rather than reach the public store.
        .env("OCP_SIGNATURE_URL", "none");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("running ferry");
    assert!(
        out.status.success(),
        "ferry {args:?} failed:\n{}",
        text(&out)
    );
    serde_json::from_slice(&out.stdout).expect("JSON summary")
}

/// `(name, digest)` of every image of a summary.
fn packed(summary: &serde_json::Value) -> Vec<(String, String)> {
    summary["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_string(),
                i["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// `quay.io/...@sha256:…` (no tag) mapped through `idms` (the first mirror of the entry whose
/// source is a prefix of the reference's repository), as CRI-O resolves a pull by digest.
fn through_idms(idms: &serde_norway::Value, reference: &str) -> String {
    let (repo, digest) = reference.split_once('@').expect("a reference by digest");
    for entry in idms["spec"]["imageDigestMirrors"].as_sequence().unwrap() {
        let source = entry["source"].as_str().unwrap();
        if let Some(rest) = repo.strip_prefix(source) {
            if rest.is_empty() || rest.starts_with('/') {
                let mirror = entry["mirrors"][0].as_str().unwrap();
                return format!("{mirror}{rest}@{digest}");
            }
        }
    }
    panic!("no IDMS entry covers {reference}:\n{idms:?}")
}

/// sha256 of what `skopeo inspect --raw docker://REF` prints from a plain-HTTP registry.
fn raw_sha(reference: &str) -> String {
    let raw = skopeo([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]);
    ferry::model::Digest::sha256_of(&raw).to_string()
}

fn keys(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    keygen(dir, "k")
}

#[test]
fn release_flag_packs_every_component_and_the_idms_reaches_each_of_them() {
    let source = TestRegistry::plain();
    let set = load_release(&source);
    let release = &set.releases[0];
    let tmp = tempfile::tempdir().unwrap();
    let (key, pubkey) = keys(tmp.path());
    let out = tmp.path().join("bundle");
    let mut args = strings(&["pack", "--key"]);
    args.push(key.display().to_string());
    args.extend(["--out".into(), out.display().to_string()]);
    args.extend([
        "--release".into(),
        format!(
            "quay.io/openshift-release-dev/ocp-release:{}",
            release.image.tag
        ),
        "--source-mirror".into(),
        format!("quay.io={}", source.host()),
        "--insecure-registry".into(),
        source.host(),
    ]);
    let summary = pack_json(&args, &[]);
    let images = packed(&summary);
    // The release image under its upstream name, and every component by digest.
    assert_eq!(images.len(), 1 + release.components.len(), "{images:?}");
    assert!(images.contains(&(
        format!(
            "quay.io/openshift-release-dev/ocp-release:{}",
            release.image.tag
        ),
        release.image.digest.clone()
    )));
    let repos: std::collections::BTreeSet<&str> = release
        .components
        .iter()
        .map(|(_, p)| p.split('@').next().unwrap())
        .collect();
    assert!(repos.len() >= 2, "{repos:?}");
    for (name, pullspec) in &release.components {
        let digest = pullspec.split('@').nth(1).unwrap();
        assert!(
            images.contains(&(pullspec.clone(), digest.to_string())),
            "component {name} ({pullspec}) not packed: {images:?}"
        );
    }
    // The multi-arch component is kept whole.
    let cli = summary["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == release.components.iter().find(|c| c.0 == "cli").unwrap().1)
        .unwrap();
    assert_eq!(cli["platforms"].as_array().unwrap().len(), 2, "{cli}");
    assert_eq!(summary["releases"][0]["version"], "4.16.5");
    assert_eq!(summary["releases"][0]["components"], 24);
    verify_ok(&out, &pubkey, &[]);

    // Push into another registry and resolve the release's own references through the IDMS.
    let target = TestRegistry::plain();
    let packed_bundle = Packed {
        dir: out.clone(),
        key: key.clone(),
        pubkey: pubkey.clone(),
        tmp,
    };
    let report = registry_push_json(&packed_bundle, &target);
    assert!(all_ok(&report), "{report}");
    let sets = packed_bundle.tmp.path().join("mirrorsets");
    let idms: serde_norway::Value = serde_norway::from_str(
        &std::fs::read_to_string(bundle_mirrorset_file(&sets, "imagedigestmirrorset.yaml"))
            .unwrap(),
    )
    .unwrap();
    let release_ref = format!(
        "quay.io/openshift-release-dev/ocp-release@{}",
        release.image.digest
    );
    let mut references = vec![release_ref];
    references.extend(release.components.iter().map(|c| c.1.clone()));
    for reference in &references {
        let mirrored = through_idms(&idms, reference);
        assert!(
            mirrored.starts_with(&format!("{}/mirror/quay.io/", target.host())),
            "{mirrored}"
        );
        let digest = reference.split('@').nth(1).unwrap();
        assert_eq!(raw_sha(&mirrored), digest, "{reference} → {mirrored}");
    }
}

#[test]
fn channels_resolve_through_the_graph_and_blocked_images_stay_out() {
    let source = TestRegistry::plain();
    let set = load_release(&source);
    let graph = GraphStandin::start(fixture_graphs(set));
    let extra = fixtures_small().image("app-a");
    load_fixture(&source, extra);
    let tmp = tempfile::tempdir().unwrap();
    let (key, pubkey) = keys(tmp.path());
    let isc = tmp.path().join("isc.yaml");
    std::fs::write(
        &isc,
        format!(
            "kind: ImageSetConfiguration\n\
             apiVersion: mirror.openshift.io/v2alpha1\n\
             mirror:\n  \
               platform:\n    \
                 architectures:\n    \
                 - amd64\n    \
                 channels:\n    \
                 - name: stable-4.16\n      \
                   minVersion: 4.16.5\n      \
                   maxVersion: 4.16.6\n  \
               additionalImages:\n  \
               - name: quay.io/{}@{}\n  \
               blockedImages:\n  \
               - name: ^quay\\.io/openshift/origin-tools@\n",
            extra.repository, extra.digest
        ),
    )
    .unwrap();
    let out = tmp.path().join("bundle");
    let mut args = pack_args(&isc, &key, &out, &[]);
    args.extend([
        "--source-mirror".into(),
        format!("quay.io={}", source.host()),
        "--insecure-registry".into(),
        source.host(),
    ]);
    // The graph URL comes from oc-mirror's environment variable.
    let summary = pack_json(&args, &[("UPDATE_URL_OVERRIDE", &graph.url())]);
    let queries = graph.queries();
    assert!(
        queries
            .iter()
            .any(|q| q.contains("channel=stable-4.16") && q.contains("arch=amd64")),
        "{queries:?}"
    );
    let images = packed(&summary);
    let names: Vec<&str> = images.iter().map(|i| i.0.as_str()).collect();
    // Both releases in range (tagged as Red Hat tags them), neither bound's neighbour.
    for r in &set.releases {
        assert!(
            images.contains(&(
                format!(
                    "quay.io/openshift-release-dev/ocp-release:{}@{}",
                    r.image.tag, r.image.digest
                ),
                r.image.digest.clone()
            )),
            "{names:?}"
        );
    }
    assert_eq!(summary["releases"].as_array().unwrap().len(), 2);
    // Every component of both releases, except those blockedImages names.
    let mut blocked = 0;
    for r in &set.releases {
        for (name, pullspec) in &r.components {
            let is_blocked = pullspec.starts_with("quay.io/openshift/origin-tools@");
            assert_eq!(
                names.contains(&pullspec.as_str()),
                !is_blocked,
                "component {name} of {}",
                r.version
            );
            blocked += usize::from(is_blocked);
        }
    }
    assert!(blocked > 0);
    let listed = summary["blocked"].as_array().unwrap();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(listed.iter().all(|b| b["blocked_by"]
        .as_str()
        .unwrap()
        .contains("mirror.blockedImages[0]")));
    // The additional image, and nothing else.
    assert!(names.contains(&format!("quay.io/{}@{}", extra.repository, extra.digest).as_str()));
    let distinct: std::collections::BTreeSet<&String> = set
        .releases
        .iter()
        .flat_map(|r| r.components.iter().map(|c| &c.1))
        .collect();
    assert_eq!(images.len(), 2 + distinct.len() - 3 + 1, "{names:?}");
    verify_ok(&out, &pubkey, &[]);
}

#[test]
fn the_multi_arch_payload_is_kept_whole_with_its_digest() {
    let source = TestRegistry::plain();
    let set = load_release(&source);
    let graph = GraphStandin::start(fixture_graphs(set));
    let tmp = tempfile::tempdir().unwrap();
    let (key, pubkey) = keys(tmp.path());
    let isc = tmp.path().join("isc.yaml");
    std::fs::write(
        &isc,
        "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  \
         platform:\n    architectures: [multi]\n    channels:\n    - name: stable-4.16\n",
    )
    .unwrap();
    let out = tmp.path().join("bundle");
    let mut args = pack_args(&isc, &key, &out, &[]);
    args.extend([
        "--graph-url".into(),
        graph.url(),
        "--source-mirror".into(),
        format!("quay.io={}", source.host()),
        "--insecure-registry".into(),
        source.host(),
    ]);
    let summary = pack_json(&args, &[]);
    assert!(
        graph.queries().iter().any(|q| q.contains("arch=multi")),
        "{:?}",
        graph.queries()
    );
    let multi = &set.multi;
    let name = format!(
        "quay.io/openshift-release-dev/ocp-release:{}@{}",
        multi.image.tag, multi.image.digest
    );
    let entry = summary["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name.as_str())
        .unwrap_or_else(|| panic!("{name} not packed: {summary}"));
    assert_eq!(entry["digest"], multi.image.digest.as_str());
    assert_eq!(entry["platforms"].as_array().unwrap().len(), 2, "{entry}");
    assert_eq!(summary["releases"][0]["version"], multi.version.as_str());
    let names: Vec<&str> = summary["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    for (component, pullspec) in &multi.components {
        assert!(names.contains(&pullspec.as_str()), "{component}: {names:?}");
    }
    assert_eq!(names.len(), 1 + multi.components.len());
    verify_ok(&out, &pubkey, &[]);
}

#[test]
fn sections_not_carried_and_unknown_keys_fail_naming_them_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (key, _) = keys(tmp.path());
    for (body, line, field) in [
        ("mirror:\n  operators:\n  - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.16\n    packages:\n    - name: a\n      bundles:\n      - name: a.v1\n", 8, "mirror.operators[0].packages[0].bundles"),
        ("mirror:\n  platform:\n    channels:\n    - name: stable-4.16\n      minVerison: 4.16.1\n", 7, "minVerison"),
        ("mirror:\n  helm:\n    repositories:\n    - name: r\n      url: https://example.com/charts\n", 4, "mirror.helm"),
    ] {
        let isc = tmp.path().join("isc.yaml");
        std::fs::write(
            &isc,
            format!("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\n{body}"),
        )
        .unwrap();
        let out = tmp.path().join("bundle");
        let r = ferry(pack_args(&isc, &key, &out, &[]));
        let t = text(&r);
        assert_eq!(r.status.code(), Some(1), "{t}");
        assert!(t.contains(&format!("{}:{line}:", isc.display())), "{t}");
        assert!(t.contains(field), "{t}");
        assert!(!out.exists() || volumes(&out).is_empty(), "{t}");
    }
    // An ImageSetConfiguration that asks for nothing is not a successful pack of nothing.
    let isc = tmp.path().join("empty.yaml");
    std::fs::write(
        &isc,
        "kind: ImageSetConfiguration\nmirror:\n  blockedImages:\n  - name: x\n",
    )
    .unwrap();
    let r = ferry(pack_args(&isc, &key, &tmp.path().join("b2"), &[]));
    assert_eq!(r.status.code(), Some(1), "{}", text(&r));
    assert!(text(&r).contains("nothing to pack"), "{}", text(&r));
}
