//! Mirror sets: golden files, and every generated resource checked against the OpenShift CRDs
//! in `tests/data/openshift-crds/`.
//!
//! Set `FERRY_UPDATE_GOLDEN=1` to rewrite the cases of `tests/golden/mirrorsets/` that differ
//! from the current output; the test then fails naming them (review, and run again without
//! it). CI refuses the variable.

#[path = "support/expected.rs"]
mod expected;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use ferry::mirrorset::{
    build, is_valid_mirror, is_valid_source, write_all, MirrorInput, MirrorSets, Options, Scope,
    ICSP_FILE, IDMS_FILE, ITMS_FILE, MAPPING_FILE, REGISTRIES_CONF_FILE,
};
use ferry::model::Reference;
use ferry::naming::Naming;
use proptest::prelude::*;
use regex::Regex;
use serde_norway::Value;

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
const D4: &str = "sha256:4444444444444444444444444444444444444444444444444444444444444444";
const D5: &str = "sha256:5555555555555555555555555555555555555555555555555555555555555555";
const D6: &str = "sha256:6666666666666666666666666666666666666666666666666666666666666666";

fn naming() -> Naming {
    Naming::new("registry.local:8443", "mirror").unwrap()
}

fn input(s: &str, by_tag: bool) -> MirrorInput {
    MirrorInput {
        source: Reference::parse(s).unwrap(),
        by_tag,
    }
}

/// Images from quay.io, docker.io (with `library/`) and a registry with a port, by tag and by digest.
fn mixed_inputs() -> Vec<MirrorInput> {
    vec![
        input(&format!("quay.io/org/app:v1@{D1}"), true),
        input(&format!("quay.io/org/app@{D2}"), false),
        input(&format!("quay.io/org/tools/cli@{D3}"), false),
        input(&format!("busybox:1.36@{D4}"), true),
        input(&format!("docker.io/bitnami/redis@{D5}"), false),
        input(&format!("127.0.0.1:5001/ns/app:2@{D6}"), true),
    ]
}

fn digest_only_inputs() -> Vec<MirrorInput> {
    vec![
        input(&format!("quay.io/org/app@{D1}"), false),
        input(&format!("quay.io/org/app@{D2}"), false),
        input(&format!("docker.io/library/alpine@{D3}"), false),
        input(&format!("127.0.0.1:5001/ns/app@{D6}"), false),
    ]
}

struct Case {
    name: &'static str,
    inputs: Vec<MirrorInput>,
    options: Options,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "registry-scope",
            inputs: mixed_inputs(),
            options: Options::default(),
        },
        Case {
            name: "repository-scope",
            inputs: mixed_inputs(),
            options: Options {
                scope: Scope::Repository,
                ..Options::default()
            },
        },
        Case {
            name: "digest-only",
            inputs: digest_only_inputs(),
            options: Options::default(),
        },
        Case {
            name: "never-contact-source",
            inputs: mixed_inputs(),
            options: Options {
                scope: Scope::Repository,
                name: Some("ocp-mirror".into()),
                never_contact_source: true,
            },
        },
    ]
}

fn golden_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/mirrorsets")
        .join(case)
}

fn read_dir(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
    {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        files.insert(name, fs::read_to_string(entry.path()).unwrap());
    }
    files
}

/// A readable account of where two texts differ: each differing line, numbered.
fn diff(want: &str, got: &str) -> String {
    let (w, g): (Vec<_>, Vec<_>) = (want.lines().collect(), got.lines().collect());
    let mut out = String::new();
    for i in 0..w.len().max(g.len()) {
        let (a, b) = (w.get(i), g.get(i));
        if a != b {
            out.push_str(&format!(
                "line {}:\n  - golden: {}\n  + actual: {}\n",
                i + 1,
                a.map_or("<none>", |s| s),
                b.map_or("<none>", |s| s)
            ));
        }
    }
    out
}

#[test]
fn golden_files() {
    let mut expected = expected::Expected::new("FERRY_UPDATE_GOLDEN");
    let mut failures = Vec::new();
    for case in cases() {
        let sets = build(&case.inputs, &naming(), &case.options).unwrap();
        let out = tempfile::tempdir().unwrap();
        // A stale ITMS from an earlier run must not survive a run without tags.
        fs::write(out.path().join(ITMS_FILE), "stale").unwrap();
        let written = write_all(out.path(), &sets).unwrap();
        assert_eq!(written.len(), sets.files().len());
        let got = read_dir(out.path());
        assert_eq!(
            got.contains_key(ITMS_FILE),
            sets.itms.is_some(),
            "{}: an ITMS file exactly when some image is held by tag",
            case.name
        );

        let golden = golden_dir(case.name);
        if expected.updating() && golden.is_dir() && read_dir(&golden) != got {
            let _ = fs::remove_dir_all(&golden);
        }
        if expected.updating() && !golden.is_dir() {
            fs::create_dir_all(&golden).unwrap();
            for (name, content) in &got {
                fs::write(golden.join(name), content).unwrap();
            }
            expected.record(&golden);
            continue;
        }
        let want = read_dir(&golden);
        let (want_names, got_names): (BTreeSet<_>, BTreeSet<_>) =
            (want.keys().collect(), got.keys().collect());
        if want_names != got_names {
            failures.push(format!(
                "{}: files differ: golden {want_names:?}, actual {got_names:?}",
                case.name
            ));
            continue;
        }
        for (name, content) in &want {
            if &got[name] != content {
                failures.push(format!(
                    "{}/{name}:\n{}",
                    case.name,
                    diff(content, &got[name])
                ));
            }
        }
    }
    expected.finish();
    assert!(
        failures.is_empty(),
        "output differs from tests/golden/mirrorsets (run with FERRY_UPDATE_GOLDEN=1 to accept):\n{}",
        failures.join("\n")
    );
}

#[test]
fn digest_only_bundle_has_no_itms() {
    let sets = build(&digest_only_inputs(), &naming(), &Options::default()).unwrap();
    assert!(sets.itms.is_none());
    let sets = build(&mixed_inputs(), &naming(), &Options::default()).unwrap();
    assert!(sets.itms.is_some());
}

// ---- The CRDs ----

struct Crd {
    api_version: String,
    kind: String,
    schema: Value,
}

fn load_crd(file: &str) -> Crd {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/openshift-crds")
        .join(file);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let crd: Value = serde_norway::from_str(&text).unwrap();
    let spec = &crd["spec"];
    let versions = spec["versions"].as_sequence().unwrap();
    let version = versions
        .iter()
        .find(|v| v["storage"] == Value::Bool(true))
        .expect("a storage version");
    Crd {
        api_version: format!(
            "{}/{}",
            spec["group"].as_str().unwrap(),
            version["name"].as_str().unwrap()
        ),
        kind: spec["names"]["kind"].as_str().unwrap().to_string(),
        schema: version["schema"]["openAPIV3Schema"].clone(),
    }
}

fn idms_crd() -> Crd {
    load_crd("0000_10_config-operator_01_imagedigestmirrorsets.crd.yaml")
}
fn itms_crd() -> Crd {
    load_crd("0000_10_config-operator_01_imagetagmirrorsets.crd.yaml")
}
fn icsp_crd() -> Crd {
    load_crd("0000_10_config-operator_01_imagecontentsourcepolicies.crd.yaml")
}

/// The `source` and `mirrors[]` regexes of a mirror-set CRD, compiled as written (they use no
/// lookaround, so the Rust regex crate takes them unchanged).
fn patterns(crd: &Crd, list: &str) -> (Regex, Regex) {
    let item = &crd.schema["properties"]["spec"]["properties"][list]["items"]["properties"];
    let source = item["source"]["pattern"].as_str().expect("source pattern");
    let mirror = item["mirrors"]["items"]["pattern"]
        .as_str()
        .expect("mirrors pattern");
    (Regex::new(source).unwrap(), Regex::new(mirror).unwrap())
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_mapping()
        .map(|m| m.keys().map(|k| k.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn is_dns1123_subdomain(name: &str) -> bool {
    // k8s.io/apimachinery validation.IsDNS1123Subdomain.
    let re =
        Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$").unwrap();
    name.len() <= 253 && re.is_match(name)
}

/// Checks one generated resource against its CRD: apiVersion and kind, a valid name, only
/// fields the schema knows (unknown ones would be pruned), required fields, enums, patterns,
/// and no duplicate mirror in an entry (`x-kubernetes-list-type: set`).
fn check_resource(text: &str, crd: &Crd, list: &str, source_re: &Regex, mirror_re: &Regex) {
    assert!(text.starts_with("# Generated by ferry"), "{text}");
    let doc: Value = serde_norway::from_str(text).unwrap();
    assert_eq!(
        doc["apiVersion"].as_str(),
        Some(crd.api_version.as_str()),
        "{text}"
    );
    assert_eq!(doc["kind"].as_str(), Some(crd.kind.as_str()), "{text}");
    let name = doc["metadata"]["name"].as_str().expect("metadata.name");
    assert!(is_dns1123_subdomain(name), "{name}");

    let props = &crd.schema["properties"];
    assert!(keys(&doc).is_subset(&keys(props)), "{:?}", keys(&doc));
    for required in crd.schema["required"].as_sequence().unwrap() {
        assert!(
            doc.get(required.as_str().unwrap()).is_some(),
            "missing {required:?}"
        );
    }
    let spec = &doc["spec"];
    assert!(spec.is_mapping(), "{text}");
    assert!(keys(spec).is_subset(&keys(&props["spec"]["properties"])));

    let item_schema = &props["spec"]["properties"][list]["items"];
    let item_props = &item_schema["properties"];
    let entries = spec
        .get(list)
        .and_then(Value::as_sequence)
        .cloned()
        .unwrap_or_default();
    let mut sources = BTreeSet::new();
    for entry in &entries {
        assert!(keys(entry).is_subset(&keys(item_props)), "{entry:?}");
        for required in item_schema["required"].as_sequence().unwrap() {
            assert!(entry.get(required.as_str().unwrap()).is_some(), "{entry:?}");
        }
        let source = entry["source"].as_str().unwrap();
        assert!(
            source_re.is_match(source),
            "source {source:?} fails {source_re}"
        );
        assert!(
            sources.insert(source.to_string()),
            "duplicate source {source}"
        );
        let mirrors: Vec<&str> = entry["mirrors"]
            .as_sequence()
            .expect("mirrors")
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        assert!(!mirrors.is_empty(), "{entry:?}");
        let unique: BTreeSet<_> = mirrors.iter().collect();
        assert_eq!(
            unique.len(),
            mirrors.len(),
            "duplicate mirrors in {entry:?}"
        );
        for m in mirrors {
            assert!(mirror_re.is_match(m), "mirror {m:?} fails {mirror_re}");
        }
        if let Some(policy) = entry.get("mirrorSourcePolicy") {
            let allowed = item_props["mirrorSourcePolicy"]["enum"]
                .as_sequence()
                .unwrap();
            assert!(allowed.contains(policy), "{policy:?}");
        }
    }
}

fn check_all(sets: &MirrorSets) {
    let (idms, itms, icsp) = (idms_crd(), itms_crd(), icsp_crd());
    let (idms_source, idms_mirror) = patterns(&idms, "imageDigestMirrors");
    let (itms_source, itms_mirror) = patterns(&itms, "imageTagMirrors");
    check_resource(
        &sets.idms,
        &idms,
        "imageDigestMirrors",
        &idms_source,
        &idms_mirror,
    );
    if let Some(text) = &sets.itms {
        check_resource(text, &itms, "imageTagMirrors", &itms_source, &itms_mirror);
    }
    // The ICSP schema has no patterns; the machine-config-operator applies the IDMS ones.
    check_resource(
        &sets.icsp,
        &icsp,
        "repositoryDigestMirrors",
        &idms_source,
        &idms_mirror,
    );
    let icsp_doc: Value = serde_norway::from_str(&sets.icsp).unwrap();
    assert!(!serde_norway::to_string(&icsp_doc)
        .unwrap()
        .contains("mirrorSourcePolicy"));

    check_registries_conf(&sets.registries_conf, &idms_source, &idms_mirror);
    check_mapping(&sets.mapping);
}

/// Structural checks of the registries.conf drop-in: one table per prefix, valid locations,
/// known `pull-from-mirror` values.
fn check_registries_conf(text: &str, source_re: &Regex, mirror_re: &Regex) {
    let mut prefixes = BTreeSet::new();
    let value = |line: &str, key: &str| -> Option<String> {
        let rest = line.strip_prefix(key)?.strip_prefix(" = \"")?;
        Some(rest.strip_suffix('"').expect("closing quote").to_string())
    };
    let mut in_mirror = false;
    for line in text.lines() {
        match line {
            "[[registry]]" => in_mirror = false,
            "[[registry.mirror]]" => in_mirror = true,
            "" => {}
            "blocked = true" => assert!(!in_mirror),
            l if l.starts_with('#') => {}
            l => {
                if let Some(p) = value(l, "prefix") {
                    assert!(!in_mirror);
                    assert!(source_re.is_match(&p), "{p}");
                    assert!(prefixes.insert(p.clone()), "prefix {p} twice");
                } else if let Some(loc) = value(l, "location") {
                    let re = if in_mirror { mirror_re } else { source_re };
                    assert!(re.is_match(&loc), "{loc}");
                } else if let Some(p) = value(l, "pull-from-mirror") {
                    assert!(in_mirror);
                    assert!(
                        ["all", "digest-only", "tag-only"].contains(&p.as_str()),
                        "{p}"
                    );
                } else {
                    panic!("unexpected line {l:?} in registries.conf");
                }
            }
        }
    }
}

fn check_mapping(text: &str) {
    let n = naming();
    let mut seen = BTreeSet::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (src, dst) = line.split_once('=').expect("SRC=DST");
        let src = Reference::parse(src).unwrap();
        let dst = Reference::parse(dst).unwrap();
        assert!(src.digest().is_some() && src.tag().is_none(), "{line}");
        assert_eq!(dst, n.mirror(&src).unwrap(), "{line}");
        assert!(seen.insert(line.to_string()), "duplicate {line}");
    }
}

#[test]
fn generated_resources_satisfy_the_crds() {
    for case in cases() {
        let sets = build(&case.inputs, &naming(), &case.options).unwrap();
        check_all(&sets);
    }
    check_all(&build(&[], &naming(), &Options::default()).unwrap());
}

#[test]
fn icsp_schema_has_no_patterns_and_idms_itms_agree() {
    let icsp = icsp_crd();
    let item = &icsp.schema["properties"]["spec"]["properties"]["repositoryDigestMirrors"]["items"];
    assert!(item["properties"]["source"].get("pattern").is_none());
    assert!(item["properties"].get("mirrorSourcePolicy").is_none());
    let (a, b) = (
        patterns(&idms_crd(), "imageDigestMirrors"),
        patterns(&itms_crd(), "imageTagMirrors"),
    );
    assert_eq!(a.0.as_str(), b.0.as_str());
    assert_eq!(a.1.as_str(), b.1.as_str());
}

proptest! {
    /// The library's own checks accept exactly what the CRD regexes accept.
    #[test]
    fn validators_agree_with_crd_patterns(
        s in r"(\*\.)?[a-zA-Z0-9-]{0,4}(\.[a-zA-Z0-9-]{0,3}){0,2}(:[0-9a]{0,3})?(/[a-z0-9._A-]{0,5}){0,3}(@|:)?[a-z0-9]{0,2}",
        noise in r"[a-zA-Z0-9._:/*@ -]{0,16}",
    ) {
        let (source_re, mirror_re) = patterns(&idms_crd(), "imageDigestMirrors");
        for candidate in [s.as_str(), noise.as_str()] {
            prop_assert_eq!(is_valid_mirror(candidate), mirror_re.is_match(candidate), "mirror {:?}", candidate);
            prop_assert_eq!(is_valid_source(candidate), source_re.is_match(candidate), "source {:?}", candidate);
        }
    }
}

#[test]
fn file_names() {
    let sets = build(&mixed_inputs(), &naming(), &Options::default()).unwrap();
    let names: Vec<_> = sets.files().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            IDMS_FILE,
            ITMS_FILE,
            ICSP_FILE,
            REGISTRIES_CONF_FILE,
            MAPPING_FILE
        ]
    );
}
