//! The OLM resource schemas of `tests/data/olm-crds/` and their CEL rules, as transcribed in
//! `tests/support/olm_schema.rs`, refuse what the API server refuses (so the checks the catalog
//! tests make of ferry's CatalogSource and ClusterCatalog can fail), and accept what ferry's
//! writer produces.

mod support;

use ferry::mirrorset::catalog::{catalog_source, cluster_catalog, CatalogResource};
use ferry::model::Reference;
use serde_json::{json, Value};
use support::olm_schema::problems;

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn cc(name: &str, source: Value) -> Value {
    json!({"apiVersion": "olm.operatorframework.io/v1", "kind": "ClusterCatalog",
        "metadata": {"name": name}, "spec": {"source": source}})
}

fn image(ref_: &str) -> Value {
    json!({"type": "Image", "image": {"ref": ref_}})
}

/// Asserts `doc` has exactly one problem, containing `want`.
fn refused(doc: &Value, crd: &str, want: &str) {
    let errs = problems(doc, crd);
    assert!(
        errs.len() == 1 && errs[0].contains(want),
        "{want:?} expected alone, got {errs:#?} for {doc}"
    );
}

#[test]
fn ferrys_catalog_resources_satisfy_the_crds_and_their_cel_rules() {
    for upstream in [
        "registry.redhat.io/redhat/redhat-operator-index:v4.16",
        &format!("quay.io/x/cat@{DIGEST}"),
    ] {
        let c = CatalogResource {
            upstream: Reference::parse(upstream).unwrap(),
            mirror: Reference::parse(&format!("127.0.0.1:5000/mirror/q/cat@{DIGEST}")).unwrap(),
            template: None,
        };
        let cs: Value = serde_norway::from_str(&catalog_source(&c).unwrap()).unwrap();
        assert_eq!(
            problems(&cs, "catalogsources.crd.yaml"),
            Vec::<String>::new()
        );
        let cc: Value = serde_norway::from_str(&cluster_catalog(&c).unwrap()).unwrap();
        assert_eq!(
            problems(&cc, "clustercatalogs.crd.yaml"),
            Vec::<String>::new()
        );
    }
}

#[test]
fn cluster_catalog_refs_are_checked_as_the_cel_rules_say() {
    let crd = "clustercatalogs.crd.yaml";
    for ok in [
        format!("127.0.0.1:5000/mirror/registry.redhat.io/redhat/redhat-operator-index@{DIGEST}"),
        "quay.io/operatorhubio/catalog:latest".to_string(),
        "registry:5000/a/b_c__d-e.f:v4.16".to_string(),
    ] {
        assert_eq!(
            problems(&cc("cc-a", image(&ok)), crd),
            Vec::<String>::new(),
            "{ok}"
        );
    }
    let long_tag = format!("quay.io/a/b:{}", "t".repeat(128));
    for (ref_, want) in [
        ("quay.io/a/b", "must end with a digest or a tag"),
        ("127.0.0.1:5000/a/b", "tag is invalid"),
        ("quay.io/a/b:-bad", "tag is invalid"),
        (long_tag.as_str(), "not be more than 127 characters"),
        ("quay.io/a/b@sha256:0123abcd", "at least 32 characters"),
        (
            "quay.io/a/b@sha256:0123456789abcdef0123456789abcdefXYZ",
            "only contain hex characters",
        ),
        (
            "quay.io/a/b@256sha:0123456789abcdef0123456789abcdef",
            "digest algorithm is not valid",
        ),
        ("quay.io/A:1", "a valid name is required"),
        ("-quay.io/a:1", "must start with a valid domain"),
    ] {
        refused(&cc("cc-a", image(ref_)), crd, want);
    }
    // The reference is by digest: polling is refused.
    let mut polled = image(&format!("quay.io/a/b@{DIGEST}"));
    polled["image"]["pollIntervalMinutes"] = json!(10);
    refused(&cc("cc-a", polled), crd, "pollIntervalMinutes");
    let mut polled = image("quay.io/a/b:v1");
    polled["image"]["pollIntervalMinutes"] = json!(10);
    assert_eq!(problems(&cc("cc-a", polled), crd), Vec::<String>::new());
    // The source: type Image needs image; another type is not in the enum.
    refused(
        &cc("cc-a", json!({"type": "Image"})),
        crd,
        "image is required",
    );
    let errs = problems(&cc("cc-a", json!({"type": "Git"})), crd);
    assert!(
        errs.iter().any(|e| e.contains(".spec.source.type")),
        "{errs:?}"
    );
    // Names, bounds and unknown fields.
    refused(
        &cc("Bad_Name", image("quay.io/a/b:1")),
        crd,
        ".metadata.name",
    );
    let mut doc = cc("cc-a", image("quay.io/a/b:1"));
    doc["spec"]["priority"] = json!(1u64 << 31);
    refused(&doc, crd, "out of bounds");
    let mut doc = cc("cc-a", image("quay.io/a/b:1"));
    doc["spec"]["availabilityMode"] = json!("Sometimes");
    refused(&doc, crd, ".spec.availabilityMode");
    let mut doc = cc("cc-a", image("quay.io/a/b:1"));
    doc["spec"]["source"]["image"]["poll"] = json!(1);
    refused(&doc, crd, "unknown field poll");
}

#[test]
fn catalog_sources_are_checked_field_by_field() {
    let crd = "catalogsources.crd.yaml";
    let base = json!({"apiVersion": "operators.coreos.com/v1alpha1", "kind": "CatalogSource",
        "metadata": {"name": "cs-a", "namespace": "openshift-marketplace"},
        "spec": {"sourceType": "grpc", "image": format!("q.io/a@{DIGEST}"),
            "updateStrategy": {"registryPoll": {"interval": "30m"}},
            "grpcPodConfig": {"extractContent": {"catalogDir": "/configs"},
                "memoryTarget": "30Mi", "securityContextConfig": "restricted",
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "tolerations": [{"key": "k", "operator": "Exists"}]}}});
    assert_eq!(problems(&base, crd), Vec::<String>::new());
    let with = |path: &[&str], v: Value| {
        let mut d = base.clone();
        let mut at = &mut d;
        for k in &path[..path.len() - 1] {
            at = &mut at[*k];
        }
        at[path[path.len() - 1]] = v;
        d
    };
    let cases = [
        (with(&["metadata", "name"], json!("CS_A")), ".metadata.name"),
        (
            with(&["metadata", "name"], json!("a".repeat(254))),
            "longer than 253",
        ),
        (
            with(&["spec", "grpcPodConfig", "memoryTarget"], json!("lots")),
            "memoryTarget",
        ),
        (
            with(
                &["spec", "grpcPodConfig", "securityContextConfig"],
                json!("root"),
            ),
            "securityContextConfig",
        ),
        (
            with(
                &["spec", "grpcPodConfig", "extractContent"],
                json!({"cacheDir": "/c"}),
            ),
            "missing \"catalogDir\"",
        ),
        (with(&["spec", "priority"], json!("high")), "not a integer"),
        (
            with(&["spec", "imageRef"], json!("x")),
            "unknown field imageRef",
        ),
    ];
    for (doc, want) in &cases {
        refused(doc, crd, want);
    }
    let mut doc = base.clone();
    doc["metadata"].as_object_mut().unwrap().remove("namespace");
    doc["spec"].as_object_mut().unwrap().remove("sourceType");
    let errs = problems(&doc, crd);
    assert!(
        errs.iter().any(|e| e.contains("missing \"namespace\"")),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|e| e.contains("missing \"sourceType\"")),
        "{errs:?}"
    );
}
