//! Operator catalogs (issue 11): `mirror.operators` of an ImageSetConfiguration packs exactly
//! the bundles and related images oc-mirror v2's rules select, and a filtered catalog image
//! that holds exactly the kept packages, channels and bundles; pulled back from the target
//! with skopeo it is a valid file-based catalog whose every image resolves through the
//! generated IDMS. `full: true` carries the catalog byte for byte. A misspelt package is an
//! error naming the catalog and the nearest names.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use ferry::pack::catalog::channel::Graph;
use ferry::pack::catalog::fbc::{parse_file, Catalog};
use support::catalog::load_catalog;
use support::olm_schema::check_resource;
use support::run::*;
use support::*;

const CATALOG: &str = "registry.redhat.io/redhat/redhat-operator-index:v4.16";

/// Packs `isc` (with the source registry standing in for registry.redhat.io); the summary.
fn pack_isc(source: &TestRegistry, dir: &Path, isc: &str) -> (Packed, serde_json::Value) {
    let (key, pubkey) = keygen(dir, "k");
    let file = dir.join("isc.yaml");
    std::fs::write(&file, isc).unwrap();
    let out = dir.join("bundle");
    let mut args = pack_args(&file, &key, &out, &[]);
    args.extend([
        "--source-mirror".into(),
        format!("registry.redhat.io={}", source.host()),
        "--insecure-registry".into(),
        source.host(),
        "--json".into(),
    ]);
    let summary: serde_json::Value = serde_json::from_str(&ferry_ok(args)).unwrap();
    verify_ok(&out, &pubkey, &[]);
    let tmp = tempfile::tempdir().unwrap();
    (
        Packed {
            dir: out,
            key,
            pubkey,
            tmp,
        },
        summary,
    )
}

fn names(summary: &serde_json::Value) -> BTreeMap<String, String> {
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

/// `quay.io/...@sha256:…` mapped through `idms` as CRI-O resolves a pull by digest.
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
    panic!("no IDMS entry covers {reference}")
}

fn raw_sha(reference: &str) -> String {
    let raw = skopeo([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]);
    ferry::model::Digest::sha256_of(&raw).to_string()
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn blob(layout: &Path, digest: &str) -> std::path::PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

/// Pulls `reference` from a plain-HTTP registry into an OCI layout with skopeo; the layout's
/// image manifest and config.
fn pull(reference: &str, dir: &Path) -> (serde_json::Value, serde_json::Value) {
    skopeo([
        "copy".to_string(),
        "--src-tls-verify=false".into(),
        format!("docker://{reference}"),
        format!("oci:{}:pulled", dir.display()),
    ]);
    let index = read_json(&dir.join("index.json"));
    let m = read_json(&blob(
        dir,
        index["manifests"][0]["digest"].as_str().unwrap(),
    ));
    let config = read_json(&blob(dir, m["config"]["digest"].as_str().unwrap()));
    (m, config)
}

/// The file-based catalog in a gzip layer of `layout`, parsed with ferry's own reader.
fn catalog_in_layer(layout: &Path, digest: &str) -> (Catalog, Vec<String>) {
    let gz = std::fs::File::open(blob(layout, digest)).unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(gz));
    let mut catalog = Catalog::default();
    let mut paths = Vec::new();
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        paths.push(path.clone());
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        parse_file(&path, bytes.len() as u64, &bytes[..], &mut |v| {
            catalog.add(v, &|_| true)
        })
        .unwrap();
    }
    (catalog, paths)
}

#[test]
fn a_filtered_catalog_packs_exactly_the_selection_and_is_rebuilt_valid() {
    let source = TestRegistry::plain();
    let set = load_catalog(&source);
    let tmp = tempfile::tempdir().unwrap();
    let isc = format!(
        "kind: ImageSetConfiguration
apiVersion: mirror.openshift.io/v2alpha1
mirror:
  operators:
  - catalog: {CATALOG}
    packages:
    - name: etcd
      channels:
      - name: stable
        minVersion: 0.9.2
        maxVersion: 0.9.4
    - name: prometheus
    - name: cert-manager
      defaultChannel: stable-v2
      channels:
      - name: stable-v2
"
    );
    let (packed, summary) = pack_isc(&source, tmp.path(), &isc);
    let kept = [
        "etcd.v0.9.2",
        "etcd.v0.9.3",
        "etcd.v0.9.4",
        "prometheus.v0.2.0",
        "cert-manager.v2.0.0",
    ];
    // Exactly the catalog and every image of the kept bundles.
    let mut expected: BTreeSet<String> = kept
        .iter()
        .flat_map(|b| set.bundle(b).related.iter().cloned())
        .collect();
    expected.insert(CATALOG.to_string());
    let images = names(&summary);
    assert_eq!(
        images.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "{summary:#}"
    );
    assert_eq!(images.len(), 12);
    let c = &summary["catalogs"][0];
    let rebuilt = c["rebuilt"].as_str().expect("a rebuilt digest");
    assert_ne!(rebuilt, set.catalog.digest);
    assert_eq!(c["digest"], set.catalog.digest.as_str());
    assert_eq!(images[CATALOG], rebuilt);
    assert_eq!(c["bundles"], 5);
    let channels: Vec<String> = c["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| {
            p["channels"].as_array().unwrap().iter().map(move |ch| {
                format!(
                    "{}/{} ({}): {}",
                    p["name"].as_str().unwrap(),
                    ch["name"].as_str().unwrap(),
                    p["default_channel"].as_str().unwrap(),
                    ch["bundles"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|b| b.as_str().unwrap())
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            })
        })
        .collect();
    assert_eq!(
        channels,
        [
            "etcd/stable (stable): etcd.v0.9.2 etcd.v0.9.3 etcd.v0.9.4",
            "prometheus/beta (beta): prometheus.v0.2.0",
            "cert-manager/stable-v2 (stable-v2): cert-manager.v2.0.0",
        ]
    );
    // The same input gives the same catalog digest.
    let again = tempfile::tempdir().unwrap();
    let (_, second) = pack_isc(&source, again.path(), &isc);
    assert_eq!(second["catalogs"][0]["rebuilt"], rebuilt);

    // Push, then pull the rebuilt catalog back from the target with skopeo.
    let target = TestRegistry::plain();
    let report = registry_push_json(&packed, &target);
    assert!(all_ok(&report), "{report}");
    let mirror = format!(
        "{}/mirror/registry.redhat.io/redhat/redhat-operator-index",
        target.host()
    );
    assert_eq!(raw_sha(&format!("{mirror}:v4.16")), rebuilt);
    let pulled = tmp.path().join("pulled");
    let (m, config) = pull(&format!("{mirror}:v4.16"), &pulled);
    let layers = m["layers"].as_array().unwrap();
    let original = read_json(&blob(&set.catalog.layout, &set.catalog.digest));
    let original_layers = original["layers"].as_array().unwrap();
    // The original layers, then the whiteout of /configs, then the filtered catalog.
    assert_eq!(layers.len(), original_layers.len() + 2);
    assert_eq!(&layers[..original_layers.len()], &original_layers[..]);
    let (_, whiteout) = catalog_in_layer(&pulled, layers[2]["digest"].as_str().unwrap());
    assert_eq!(whiteout, [".wh.configs"]);
    let (catalog, paths) = catalog_in_layer(&pulled, layers[3]["digest"].as_str().unwrap());
    assert!(paths.iter().all(|p| p.starts_with("configs/")), "{paths:?}");
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["serve", "/configs"])
    );
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/bin/opm"])
    );
    let labels = &config["config"]["Labels"];
    assert_eq!(
        labels["operators.operatorframework.io.index.configs.v1"],
        "/configs"
    );
    assert_eq!(
        labels["io.ferry.catalog.filtered-from"],
        format!(
            "registry.redhat.io/redhat/redhat-operator-index@{}",
            set.catalog.digest
        )
    );
    // Exactly the kept packages, channels and bundles …
    let mut shape = Vec::new();
    let mut bundles = BTreeSet::new();
    for (name, p) in &catalog.packages {
        assert!(p.raw.is_some(), "package {name} has no olm.package");
        for ch in &p.channels {
            let entries: Vec<&str> = ch.entries.iter().map(|e| e.name.as_str()).collect();
            shape.push(format!(
                "{name}/{} ({}): {}",
                ch.name,
                p.default_channel,
                entries.join(" ")
            ));
        }
        bundles.extend(p.bundles.keys().cloned());
    }
    shape.sort();
    let mut want = channels.clone();
    want.sort();
    assert_eq!(shape, want);
    assert_eq!(bundles, kept.iter().map(|s| s.to_string()).collect());
    // … valid as a file-based catalog: one head per channel, no cycle, the default channel
    // present, every entry a bundle and every bundle in a channel; deprecations only of what
    // is kept.
    for (name, p) in &catalog.packages {
        assert!(p.channel(&p.default_channel).is_some(), "{name}");
        let mut in_channels = BTreeSet::new();
        for ch in &p.channels {
            Graph::new(&ch.entries).unwrap_or_else(|e| panic!("{name}/{}: {e}", ch.name));
            for e in &ch.entries {
                assert!(p.bundles.contains_key(&e.name), "{name}: entry {}", e.name);
                in_channels.insert(e.name.clone());
            }
        }
        assert_eq!(in_channels, p.bundles.keys().cloned().collect());
    }
    let etcd = &catalog.packages["etcd"];
    assert_eq!(etcd.deprecations.len(), 1);
    assert_eq!(etcd.deprecations[0]["entries"].as_array().unwrap().len(), 0);
    assert_eq!(
        etcd.channels[0].raw["entries"][2]["skipRange"],
        ">=0.9.0 <0.9.4"
    );
    assert_eq!(
        etcd.bundles["etcd.v0.9.4"].raw["properties"][1]["type"],
        "olm.gvk"
    );

    // Every image the rebuilt catalog names resolves through the IDMS at the target.
    let sets = packed.tmp.path().join("mirrorsets");
    let idms: serde_norway::Value = serde_norway::from_str(
        &std::fs::read_to_string(bundle_mirrorset_file(&sets, "imagedigestmirrorset.yaml"))
            .unwrap(),
    )
    .unwrap();
    let mut referenced = BTreeSet::new();
    for p in catalog.packages.values() {
        for b in p.bundles.values() {
            referenced.insert(b.image.clone());
            referenced.extend(b.related.iter().cloned());
        }
    }
    assert_eq!(referenced.len(), 11);

    // A CatalogSource and a ClusterCatalog beside the mirror sets, naming the rebuilt catalog
    // by digest at the mirror, valid against their schemas.
    let by_digest = format!(
        "{}/mirror/registry.redhat.io/redhat/redhat-operator-index@{rebuilt}",
        target.host()
    );
    let cs = check_resource(
        &bundle_mirrorset_file(&sets, "cs-redhat-operator-index-v4-16.yaml"),
        "catalogsources.crd.yaml",
    );
    assert_eq!(cs["metadata"]["name"], "cs-redhat-operator-index-v4-16");
    assert_eq!(cs["metadata"]["namespace"], "openshift-marketplace");
    assert_eq!(cs["spec"]["sourceType"], "grpc");
    assert_eq!(cs["spec"]["image"], by_digest.as_str());
    let cc = check_resource(
        &bundle_mirrorset_file(&sets, "cc-redhat-operator-index-v4-16.yaml"),
        "clustercatalogs.crd.yaml",
    );
    assert_eq!(cc["metadata"]["name"], "cc-redhat-operator-index-v4-16");
    assert_eq!(cc["spec"]["source"]["image"]["ref"], by_digest.as_str());
    assert_eq!(raw_sha(&by_digest), rebuilt);
    let catalogs = report["catalogs"].as_array().unwrap();
    assert_eq!(catalogs.len(), 1, "{report}");
    assert_eq!(catalogs[0]["mirror"], by_digest.as_str());
    assert_eq!(
        catalogs[0]["filtered_from"],
        format!(
            "registry.redhat.io/redhat/redhat-operator-index@{}",
            set.catalog.digest
        )
    );
    // `ferry mirrorsets` writes the same resources from the bundle alone.
    let again = packed.tmp.path().join("again");
    ferry_ok([
        "mirrorsets".to_string(),
        packed.dir.display().to_string(),
        "--trusted-key".into(),
        packed.pubkey.display().to_string(),
        "--to".into(),
        target.host(),
        "--out".into(),
        again.display().to_string(),
    ]);
    for f in [
        "cs-redhat-operator-index-v4-16.yaml",
        "cc-redhat-operator-index-v4-16.yaml",
    ] {
        assert_eq!(
            std::fs::read(bundle_mirrorset_file(&again, f)).unwrap(),
            std::fs::read(bundle_mirrorset_file(&sets, f)).unwrap()
        );
    }
    // inspect names the rebuilt catalog.
    let shown = ferry_ok(["inspect".to_string(), packed.dir.display().to_string()]);
    assert!(
        shown.contains(&format!(
            "rebuilt operator catalog: filtered by ferry from {CATALOG}"
        )),
        "{shown}"
    );
    for r in &referenced {
        let mirrored = through_idms(&idms, r);
        assert!(mirrored.starts_with(&format!("{}/mirror/registry.redhat.io/", target.host())));
        assert_eq!(
            raw_sha(&mirrored),
            r.split_once('@').unwrap().1,
            "{r} → {mirrored}"
        );
    }
}

#[test]
fn full_carries_the_catalog_byte_for_byte() {
    let source = TestRegistry::plain();
    let set = load_catalog(&source);
    let tmp = tempfile::tempdir().unwrap();
    let isc = format!(
        "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  \
         operators:\n  - catalog: {CATALOG}\n    full: true\n"
    );
    let (packed, summary) = pack_isc(&source, tmp.path(), &isc);
    let images = names(&summary);
    assert_eq!(images[CATALOG], set.catalog.digest);
    assert!(summary["catalogs"][0]["rebuilt"].is_null(), "{summary:#}");
    // Every bundle of every package: the catalog and the 25 images they name.
    assert_eq!(images.len(), 1 + set.images.len(), "{images:?}");
    let target = TestRegistry::plain();
    let report = registry_push_json(&packed, &target);
    assert!(all_ok(&report));
    assert!(report["catalogs"][0]["filtered_from"].is_null(), "{report}");
    let sets = packed.tmp.path().join("mirrorsets");
    let cs = check_resource(
        &bundle_mirrorset_file(&sets, "cs-redhat-operator-index-v4-16.yaml"),
        "catalogsources.crd.yaml",
    );
    assert!(cs["spec"]["image"]
        .as_str()
        .unwrap()
        .ends_with(&set.catalog.digest));
    let mirror = format!(
        "{}/mirror/registry.redhat.io/redhat/redhat-operator-index:v4.16",
        target.host()
    );
    let raw = skopeo([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{mirror}"),
    ]);
    assert_eq!(
        raw,
        std::fs::read(blob(&set.catalog.layout, &set.catalog.digest)).unwrap()
    );
    let pulled = tmp.path().join("pulled");
    let (m, _) = pull(&mirror, &pulled);
    for l in m["layers"].as_array().unwrap() {
        let d = l["digest"].as_str().unwrap();
        assert_eq!(
            std::fs::read(blob(&pulled, d)).unwrap(),
            std::fs::read(blob(&set.catalog.layout, d)).unwrap()
        );
    }
}

#[test]
fn a_misspelt_package_names_the_catalog_and_the_nearest_names() {
    let source = TestRegistry::plain();
    load_catalog(&source);
    let tmp = tempfile::tempdir().unwrap();
    let (key, _) = keygen(tmp.path(), "k");
    let file = tmp.path().join("isc.yaml");
    std::fs::write(
        &file,
        format!(
            "kind: ImageSetConfiguration\nmirror:\n  operators:\n  - catalog: {CATALOG}\n    \
             packages:\n    - name: promethues\n"
        ),
    )
    .unwrap();
    let mut args = pack_args(&file, &key, &tmp.path().join("bundle"), &[]);
    args.extend([
        "--source-mirror".into(),
        format!("registry.redhat.io={}", source.host()),
        "--insecure-registry".into(),
        source.host(),
    ]);
    let out = ferry(args);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(
        t.contains(&format!(
            "catalog {CATALOG}: no package \"promethues\" (nearest: prometheus)"
        )),
        "{t}"
    );
}
