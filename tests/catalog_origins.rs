//! Operator catalogs from other origins and with a CatalogSource template (issue 11): a catalog
//! in a local OCI layout (`oci://PATH`, written by skopeo) is read, filtered and carried under
//! the name oc-mirror gives it (`localhost/<directory>:latest` in ferry's mirror tree); a
//! `targetCatalogSourceTemplate` gives the CatalogSource its labels, annotations and spec while
//! ferry sets its name, namespace, sourceType and image, in `push` and in `mirrorsets` alike; a
//! bad template is an error naming the file and what is wrong.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use support::catalog::load_catalog;
use support::olm_schema::check_resource;
use support::run::*;
use support::*;

const CATALOG: &str = "registry.redhat.io/redhat/redhat-operator-index:v4.16";

/// Packs `isc` with the source registry standing in for registry.redhat.io; the summary, or
/// the failed run's output.
fn pack_isc(
    source: &TestRegistry,
    dir: &Path,
    isc: &str,
) -> Result<(Packed, serde_json::Value), String> {
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
    let run = ferry(args);
    if !run.status.success() {
        return Err(text(&run));
    }
    let summary = serde_json::from_slice(&run.stdout).unwrap();
    Ok((
        Packed {
            dir: out,
            key,
            pubkey,
            tmp: tempfile::tempdir().unwrap(),
        },
        summary,
    ))
}

fn image_names(summary: &serde_json::Value) -> BTreeSet<String> {
    summary["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect()
}

const TEMPLATE: &str = "apiVersion: operators.coreos.com/v1alpha1
kind: CatalogSource
metadata:
  name: from-the-template
  namespace: elsewhere
  labels:
    team: platform
  annotations:
    owner: ops
spec:
  sourceType: grpc
  image: quay.io/not/this:1
  displayName: Our operators
  priority: -200
  updateStrategy:
    registryPoll:
      interval: 45m
  grpcPodConfig:
    securityContextConfig: restricted
    extractContent:
      catalogDir: /configs
";

#[test]
fn an_oci_layout_catalog_is_filtered_named_as_oc_mirror_does_and_templated() {
    let source = TestRegistry::plain();
    let set = load_catalog(&source);
    let tmp = tempfile::tempdir().unwrap();
    // The catalog written to an OCI layout by skopeo, as `oc-mirror` users keep one on disk.
    let layout = tmp.path().join("my-index");
    skopeo([
        "copy".to_string(),
        "--src-tls-verify=false".into(),
        format!(
            "docker://{}/redhat/redhat-operator-index:v4.16",
            source.host()
        ),
        format!("oci:{}", layout.display()),
    ]);
    let template = tmp.path().join("cs-template.yaml");
    std::fs::write(&template, TEMPLATE).unwrap();
    let isc = format!(
        "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  \
         operators:\n  - catalog: oci://{}\n    targetCatalogSourceTemplate: {}\n    \
         packages:\n    - name: prometheus\n",
        layout.display(),
        template.display()
    );
    let (packed, summary) = pack_isc(&source, tmp.path(), &isc).unwrap();
    let catalog = &summary["catalogs"][0];
    assert_eq!(catalog["name"], "localhost/my-index:latest", "{summary:#}");
    assert_eq!(catalog["catalog"], format!("oci://{}", layout.display()));
    let rebuilt = catalog["rebuilt"]
        .as_str()
        .expect("a filtered catalog")
        .to_string();
    // Exactly what the same filter takes from the catalog in the registry: the default
    // channel's head, its bundle image and related images.
    let mut want: BTreeSet<String> = set
        .bundle("prometheus.v0.2.0")
        .related
        .iter()
        .cloned()
        .collect();
    want.insert("localhost/my-index:latest".into());
    assert_eq!(image_names(&summary), want);
    let notes = summary["notes"].to_string();
    assert!(
        notes.contains(
            "metadata.name, metadata.namespace, spec.sourceType, spec.image set by ferry"
        ),
        "{notes}"
    );
    // The registry catalog with the same filter keeps the same bundle images.
    let tmp2 = tempfile::tempdir().unwrap();
    let from_registry = format!(
        "kind: ImageSetConfiguration\nmirror:\n  operators:\n  - catalog: {CATALOG}\n    \
         packages:\n    - name: prometheus\n"
    );
    let (_, summary2) = pack_isc(&source, tmp2.path(), &from_registry).unwrap();
    let mut other = image_names(&summary2);
    assert!(other.remove(CATALOG));
    want.remove("localhost/my-index:latest");
    assert_eq!(other, want);

    let target = TestRegistry::plain();
    let report = registry_push_json(&packed, &target);
    assert!(all_ok(&report), "{report:#}");
    let mirror = format!("{}/mirror/localhost/my-index@{rebuilt}", target.host());
    assert_eq!(report["catalogs"][0]["mirror"], mirror.as_str());
    let tagged = skopeo([
        "inspect".to_string(),
        "--raw".into(),
        "--tls-verify=false".into(),
        format!(
            "docker://{}/mirror/localhost/my-index:latest",
            target.host()
        ),
    ]);
    assert_eq!(
        ferry::model::Digest::sha256_of(&tagged).to_string(),
        rebuilt
    );

    let sets = packed.tmp.path().join("mirrorsets");
    let cs_file = bundle_mirrorset_file(&sets, "cs-my-index-latest.yaml");
    let cs = check_resource(&cs_file, "catalogsources.crd.yaml");
    assert_eq!(cs["metadata"]["name"], "cs-my-index-latest");
    assert_eq!(cs["metadata"]["namespace"], "openshift-marketplace");
    assert_eq!(cs["metadata"]["labels"]["team"], "platform");
    assert_eq!(cs["metadata"]["annotations"]["owner"], "ops");
    assert_eq!(cs["metadata"]["annotations"]["createdBy"], "ferry");
    assert_eq!(cs["spec"]["sourceType"], "grpc");
    assert_eq!(cs["spec"]["image"], mirror.as_str());
    assert_eq!(cs["spec"]["displayName"], "Our operators");
    assert_eq!(cs["spec"]["priority"], -200);
    assert_eq!(
        cs["spec"]["updateStrategy"]["registryPoll"]["interval"],
        "45m"
    );
    assert_eq!(
        cs["spec"]["grpcPodConfig"]["securityContextConfig"],
        "restricted"
    );
    let cc = check_resource(
        &bundle_mirrorset_file(&sets, "cc-my-index-latest.yaml"),
        "clustercatalogs.crd.yaml",
    );
    assert_eq!(cc["spec"]["source"]["image"]["ref"], mirror.as_str());
    // `ferry mirrorsets` writes the same CatalogSource from the bundle alone: the template
    // travels in the signed root.
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
    assert_eq!(
        std::fs::read(bundle_mirrorset_file(&again, "cs-my-index-latest.yaml")).unwrap(),
        std::fs::read(&cs_file).unwrap()
    );
}

#[test]
fn a_bad_template_or_layout_is_an_error_naming_the_file_and_what_is_wrong() {
    let source = TestRegistry::plain();
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nowhere.yaml");
    let configmap = tmp.path().join("configmap.yaml");
    std::fs::write(
        &configmap,
        TEMPLATE.replace("sourceType: grpc", "sourceType: configmap"),
    )
    .unwrap();
    let typo = tmp.path().join("typo.yaml");
    std::fs::write(&typo, TEMPLATE.replace("updateStrategy", "updateStratgy")).unwrap();
    let not_layout = tmp.path().join("empty-dir");
    std::fs::create_dir(&not_layout).unwrap();
    for (catalog, template, want, line) in [
        (
            CATALOG.to_string(),
            missing.display().to_string(),
            format!("CatalogSource template {}: ", missing.display()),
            5,
        ),
        (
            CATALOG.to_string(),
            configmap.display().to_string(),
            format!(
                "CatalogSource template {}: spec.sourceType is \"configmap\"",
                configmap.display()
            ),
            5,
        ),
        (
            CATALOG.to_string(),
            typo.display().to_string(),
            format!(
                "CatalogSource template {}: spec.updateStratgy is not a CatalogSource field",
                typo.display()
            ),
            5,
        ),
        (
            format!("oci://{}", not_layout.display()),
            configmap.display().to_string(),
            format!(
                "{}: not an OCI layout (no index.json there)",
                not_layout.display()
            ),
            4,
        ),
    ] {
        let isc = format!(
            "kind: ImageSetConfiguration\nmirror:\n  operators:\n  - catalog: {catalog}\n    \
             targetCatalogSourceTemplate: {template}\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let Err(out) = pack_isc(&source, dir.path(), &isc) else {
            panic!("the pack of {isc} succeeded");
        };
        assert!(
            out.contains(&format!("isc.yaml:{line}: mirror.operators[0].")),
            "line {line} not in {out}"
        );
        assert!(out.contains(&want), "{want} not in {out}");
    }
}
