use super::*;

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

fn naming() -> Naming {
    Naming::new("registry.local:8443", "mirror").unwrap()
}

fn input(s: &str, by_tag: bool) -> MirrorInput {
    MirrorInput {
        source: Reference::parse(s).unwrap(),
        by_tag,
    }
}

fn yaml(s: &str) -> serde_norway::Value {
    serde_norway::from_str(s).unwrap()
}

#[test]
fn empty_input_gives_empty_specs_and_no_itms() {
    let sets = build(&[], &naming(), &Options::default()).unwrap();
    for doc in [&sets.idms, &sets.icsp] {
        let v = yaml(doc);
        assert_eq!(v["spec"], yaml("{}"), "{doc}");
        assert_eq!(v["metadata"]["name"], yaml("ferry-registry.local-8443"));
    }
    assert!(sets.itms.is_none());
    assert!(!sets.registries_conf.contains("[[registry]]"));
    assert!(sets.mapping.lines().all(|l| l.starts_with('#')));
    let names: Vec<_> = sets.files().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [IDMS_FILE, ICSP_FILE, REGISTRIES_CONF_FILE, MAPPING_FILE]
    );
}

#[test]
fn many_images_in_one_registry_collapse_to_one_entry() {
    let inputs: Vec<_> = [
        format!("quay.io/org/a@{D1}"),
        format!("quay.io/org/b@{D2}"),
        format!("quay.io/other/deep/c@{D3}"),
        format!("quay.io/org/a@{D1}"),
    ]
    .iter()
    .map(|s| input(s, false))
    .collect();
    let p = plan(&inputs, &naming(), Scope::Registry).unwrap();
    assert_eq!(
        p.digest,
        [MirrorEntry {
            source: "quay.io".into(),
            mirrors: vec!["registry.local:8443/mirror/quay.io".into()],
        }]
    );
    assert!(p.tag.is_empty());
    // The duplicate image appears once in the mapping.
    assert_eq!(p.images.len(), 3);

    let p = plan(&inputs, &naming(), Scope::Repository).unwrap();
    let sources: Vec<_> = p.digest.iter().map(|e| e.source.as_str()).collect();
    assert_eq!(
        sources,
        ["quay.io/org/a", "quay.io/org/b", "quay.io/other/deep/c"]
    );
    assert_eq!(
        p.digest[2].mirrors,
        ["registry.local:8443/mirror/quay.io/other/deep/c"]
    );
}

#[test]
fn same_repository_by_tag_and_by_digest() {
    let inputs = [
        input(&format!("quay.io/org/app:v1@{D1}"), true),
        input(&format!("quay.io/org/app@{D1}"), false),
        input(&format!("quay.io/org/app@{D2}"), false),
    ];
    let sets = build(&inputs, &naming(), &Options::default()).unwrap();
    let idms = yaml(&sets.idms);
    let itms = yaml(sets.itms.as_deref().expect("an image is held by tag"));
    let want = yaml("- source: quay.io\n  mirrors: [registry.local:8443/mirror/quay.io]\n");
    assert_eq!(idms["spec"]["imageDigestMirrors"], want);
    assert_eq!(itms["spec"]["imageTagMirrors"], want);
    // One [[registry]] for the prefix, whose mirror serves both kinds of pull.
    assert_eq!(sets.registries_conf.matches("[[registry]]").count(), 1);
    assert_eq!(
        sets.registries_conf.matches("[[registry.mirror]]").count(),
        1
    );
    assert!(sets.registries_conf.contains("pull-from-mirror = \"all\""));
    assert!(!sets.registries_conf.contains("digest-only"));
    // The tagged image and the same digest untagged are one mapping line.
    let lines: Vec<_> = sets
        .mapping
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert_eq!(
        lines,
        [
            format!("quay.io/org/app@{D1}=registry.local:8443/mirror/quay.io/org/app@{D1}"),
            format!("quay.io/org/app@{D2}=registry.local:8443/mirror/quay.io/org/app@{D2}"),
        ]
    );
}

#[test]
fn digest_only_and_tagged_sources_in_registries_conf() {
    let inputs = [
        input(&format!("quay.io/org/app@{D1}"), false),
        input(&format!("docker.io/library/busybox:1.36@{D2}"), true),
    ];
    let conf = build(&inputs, &naming(), &Options::default())
        .unwrap()
        .registries_conf;
    let quay = conf.split("prefix = \"quay.io\"").nth(1).unwrap();
    let docker = conf
        .split("prefix = \"docker.io\"")
        .nth(1)
        .unwrap()
        .split("prefix =")
        .next()
        .unwrap();
    assert!(
        quay.contains("pull-from-mirror = \"digest-only\""),
        "{conf}"
    );
    assert!(docker.contains("pull-from-mirror = \"all\""), "{conf}");
    assert!(!conf.contains("blocked"));
}

#[test]
fn output_does_not_depend_on_input_order() {
    let mut inputs = vec![
        input(&format!("quay.io/org/app:v1@{D1}"), true),
        input(&format!("busybox@{D2}"), false),
        input(&format!("127.0.0.1:5001/ns/app:2@{D3}"), true),
        input(&format!("quay.io/org/other@{D2}"), false),
    ];
    let opts = Options {
        scope: Scope::Repository,
        ..Options::default()
    };
    let first = build(&inputs, &naming(), &opts).unwrap();
    inputs.reverse();
    assert_eq!(build(&inputs, &naming(), &opts).unwrap(), first);
    inputs.swap(0, 2);
    assert_eq!(build(&inputs, &naming(), &opts).unwrap(), first);
}

#[test]
fn never_contact_source_is_consistent_across_idms_and_itms() {
    let inputs = [input(&format!("quay.io/org/app:v1@{D1}"), true)];
    let opts = Options {
        never_contact_source: true,
        ..Options::default()
    };
    let sets = build(&inputs, &naming(), &opts).unwrap();
    let idms = yaml(&sets.idms);
    let itms = yaml(sets.itms.as_deref().unwrap());
    let icsp = yaml(&sets.icsp);
    let policy = yaml("NeverContactSource");
    assert_eq!(
        idms["spec"]["imageDigestMirrors"][0]["mirrorSourcePolicy"],
        policy
    );
    assert_eq!(
        itms["spec"]["imageTagMirrors"][0]["mirrorSourcePolicy"],
        policy
    );
    assert!(icsp["spec"]["repositoryDigestMirrors"][0]
        .get("mirrorSourcePolicy")
        .is_none());
    assert!(sets.registries_conf.contains("blocked = true"));

    // Without the option, no policy is set anywhere.
    let sets = build(&inputs, &naming(), &Options::default()).unwrap();
    assert!(!sets.idms.contains("mirrorSourcePolicy"));
    assert!(!sets.itms.unwrap().contains("mirrorSourcePolicy"));
}

#[test]
fn never_contact_source_refuses_a_mirror_inside_its_source() {
    // The target is the upstream registry itself: blocking quay.io would block the mirror.
    let n = Naming::new("quay.io", "").unwrap();
    let inputs = [input(&format!("quay.io/org/app@{D1}"), false)];
    let opts = Options {
        never_contact_source: true,
        ..Options::default()
    };
    let err = build(&inputs, &n, &opts).unwrap_err();
    assert!(
        matches!(&err, MirrorSetError::MirrorInsideSource { location, mirror }
            if location == "quay.io" && mirror == "quay.io/quay.io"),
        "{err}"
    );
    // Allowed when the source stays reachable.
    assert!(build(&inputs, &n, &Options::default()).is_ok());
}

#[test]
fn inputs_without_digest_or_tag_are_refused() {
    let err = build(
        &[input("quay.io/org/app:v1", true)],
        &naming(),
        &Options::default(),
    )
    .unwrap_err();
    assert!(matches!(err, MirrorSetError::MissingDigest { .. }), "{err}");
    let err = build(
        &[input(&format!("quay.io/org/app@{D1}"), true)],
        &naming(),
        &Options::default(),
    )
    .unwrap_err();
    assert!(matches!(err, MirrorSetError::MissingTag { .. }), "{err}");
}

#[test]
fn sources_the_crd_refuses_are_a_typed_error() {
    // A bracketed IPv6 registry is a valid reference but no valid CRD source.
    let err = build(
        &[input(&format!("[::1]:5000/ns/app@{D1}"), false)],
        &naming(),
        &Options::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, MirrorSetError::InvalidSource { location, .. } if location == "[::1]:5000"),
        "{err}"
    );
}

#[test]
fn names_are_checked() {
    let inputs = [input(&format!("quay.io/org/app@{D1}"), false)];
    for bad in ["Ferry", "ferry_1", "-ferry", "ferry.", "", &"a".repeat(254)] {
        let opts = Options {
            name: Some(bad.to_string()),
            ..Options::default()
        };
        let err = build(&inputs, &naming(), &opts).unwrap_err();
        assert!(
            matches!(err, MirrorSetError::InvalidName { .. }),
            "{bad}: {err}"
        );
    }
    let opts = Options {
        name: Some("ocp-mirror.v2".into()),
        ..Options::default()
    };
    let sets = build(&inputs, &naming(), &opts).unwrap();
    assert_eq!(yaml(&sets.idms)["metadata"]["name"], yaml("ocp-mirror.v2"));
}

#[test]
fn default_names_are_dns1123_subdomains() {
    let cases = [
        ("registry.local:8443", "ferry-registry.local-8443"),
        ("Registry.Example.COM", "ferry-registry.example.com"),
        ("localhost:5000", "ferry-localhost-5000"),
        ("127.0.0.1:5001", "ferry-127.0.0.1-5001"),
        ("[::1]:5000", "ferry-1-5000"),
    ];
    for (target, want) in cases {
        let n = Naming::new(target, "mirror").unwrap();
        let name = default_name(&n);
        assert_eq!(name, want, "{target}");
        assert!(is_dns1123_subdomain(&name), "{name}");
    }
}

#[test]
fn location_checks() {
    for ok in [
        "quay.io",
        "Quay.IO/org",
        "127.0.0.1:5001",
        "registry.local:8443/mirror/127.0.0.1_5001/ns/app",
        "localhost/a__b/c---d/e.f",
        "a",
    ] {
        assert!(is_valid_mirror(ok), "{ok}");
        assert!(is_valid_source(ok), "{ok}");
    }
    for bad in [
        "",
        "quay.io/Org",
        "quay.io/org/app:v1",
        "quay.io/org/app@sha256:00",
        "https://quay.io",
        "quay.io/",
        "quay.io//org",
        "quay.io:/org",
        "-quay.io",
        "quay..io",
        "*.redhat.io",
        "quay.io/org app",
        "[::1]:5000",
    ] {
        assert!(!is_valid_mirror(bad), "{bad}");
    }
    assert!(is_valid_source("*.redhat.io"));
    assert!(!is_valid_source("*.redhat.io/foo"));
    assert!(!is_valid_source("*.redhat.io:5000"));
    assert!(!is_valid_source("*"));
}
