use super::*;

fn parse(text: &str) -> Result<PackInput, InputError> {
    parse_input(Path::new("isc.yaml"), text)
}

const FULL: &str = "\
kind: ImageSetConfiguration
apiVersion: mirror.openshift.io/v2alpha1
archiveSize: 8
mirror:
  platform:
    architectures:
    - amd64
    - multi
    release: quay.io/openshift-release-dev/ocp-release:4.16.5-x86_64
    graph: false
    channels:
    - name: stable-4.16
      minVersion: 4.16.5
      maxVersion: 4.16.6
      shortestPath: true
    - name: fast-4.17
      type: ocp
      full: true
  additionalImages:
  - name: registry.redhat.io/ubi9/ubi:latest
  - name: quay.io/org/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  blockedImages:
  - name: ^registry\\.redhat\\.io/ubi9/ubi
  operators: []
";

#[test]
fn every_handled_section_is_read() {
    let i = parse(FULL).unwrap();
    assert_eq!(i.archive_size_gib, Some(8));
    assert_eq!(i.architectures, ["amd64", "multi"]);
    assert_eq!(i.releases.len(), 1);
    assert_eq!(
        i.releases[0].reference.to_string(),
        "quay.io/openshift-release-dev/ocp-release:4.16.5-x86_64"
    );
    assert_eq!(i.releases[0].location, "isc.yaml:9 mirror.platform.release");
    assert_eq!(i.channels.len(), 2);
    let c = &i.channels[0];
    assert_eq!(c.name, "stable-4.16");
    assert_eq!(c.kind, ChannelType::Ocp);
    assert_eq!(c.min_version.as_ref().unwrap().to_string(), "4.16.5");
    assert_eq!(c.max_version.as_ref().unwrap().to_string(), "4.16.6");
    assert!(c.shortest_path && !c.full);
    assert_eq!(c.location, "isc.yaml:12 mirror.platform.channels[0]");
    assert!(i.channels[1].full && i.channels[1].min_version.is_none());
    assert_eq!(i.images.len(), 2);
    assert_eq!(i.images[0].text, "registry.redhat.io/ubi9/ubi:latest");
    assert_eq!(
        i.images[1].location,
        "isc.yaml:21 mirror.additionalImages[1].name"
    );
    assert_eq!(i.blocked.len(), 1);
    assert!(i.blocked[0].matches("registry.redhat.io/ubi9/ubi:latest"));
    assert!(!i.blocked[0].matches("quay.io/registry.redhat.io/ubi9/ubi"));
    assert!(i.blocked[0].location.starts_with("isc.yaml:23 "));
}

#[test]
fn a_v1alpha2_file_without_v1_only_fields_is_read() {
    let text = "apiVersion: mirror.openshift.io/v1alpha2\nkind: ImageSetConfiguration\nmirror:\n  additionalImages:\n  - name: quay.io/a/b:1\n";
    assert_eq!(parse(text).unwrap().images.len(), 1);
}

#[test]
fn unknown_keys_are_refused_with_their_line() {
    for (text, line, key) in [
        ("kind: ImageSetConfiguration\nmirror:\n  additionalImages:\n  - name: quay.io/a/b:1\n    platform: linux/arm64\n", 5, "platform"),
        ("kind: ImageSetConfiguration\nmirror:\n  platform:\n    channels:\n    - name: stable-4.16\n      minversion: 4.16.1\n", 6, "minversion"),
        ("kind: ImageSetConfiguration\nmirror:\n  blockedImages:\n  - name: x\n    regex: true\n", 5, "regex"),
        ("kind: ImageSetConfiguration\nmirrors:\n  additionalImages: []\n", 2, "mirrors"),
    ] {
        let e = parse(text).unwrap_err().to_string();
        assert!(e.starts_with(&format!("isc.yaml:{line}:")), "{e}");
        assert!(e.contains(key) && e.contains("unknown field"), "{e}");
    }
}

#[test]
fn sections_not_handled_are_refused_naming_field_and_line() {
    for (text, line, field, why) in [
        ("kind: ImageSetConfiguration\nmirror:\n  operators:\n  - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.16\n    packages:\n    - name: a\n      bundles:\n      - name: a.v1\n", 7, "mirror.operators[0].packages[0].bundles", "withdrawn"),
        ("kind: ImageSetConfiguration\nmirror:\n  operators:\n  - catalog: oci:///tmp/cat\n", 4, "mirror.operators[0].catalog", "OCI layout"),
        ("kind: ImageSetConfiguration\nmirror:\n  operators:\n  - catalog: q.io/c:1\n    full: true\n    packages:\n    - name: a\n      minVersion: 1.0.0\n", 5, "mirror.operators[0].full", "cannot be mixed"),
        ("kind: ImageSetConfiguration\nmirror:\n  operators:\n  - catalog: q.io/c:1\n    packages:\n    - name: a\n      maxVersion: 1.0.0\n      channels:\n      - name: s\n        minVersion: 0.1.0\n", 6, "mirror.operators[0].packages[0]", "both for the package and for a channel"),
        ("kind: ImageSetConfiguration\nmirror:\n  operators:\n  - catalog: q.io/c:1\n    packages:\n    - name: a\n      channels:\n      - name: s\n      - name: s\n", 9, "mirror.operators[0].packages[0].channels[1].name", "listed twice"),
        ("kind: ImageSetConfiguration\nmirror:\n  operators:\n  - catalog: q.io/c:1\n    packages:\n    - name: a\n      minVersion: v1\n", 7, "mirror.operators[0].packages[0].minVersion", "semantic version"),
        ("kind: ImageSetConfiguration\nmirror:\n  operators:\n  - catalog: q.io/c:1\n    targetCatalog: My/Cat\n", 5, "mirror.operators[0].targetCatalog", "repository path"),
        ("kind: ImageSetConfiguration\nstorageConfig:\n  local:\n    path: /x\nmirror:\n  additionalImages:\n  - name: quay.io/a/b:1\n", 2, "storageConfig", "v1alpha2"),
        ("kind: ImageSetConfiguration\nmirror:\n  helm:\n    repositories:\n    - name: r\n      url: https://example.com\n", 3, "mirror.helm", "Helm"),
        ("kind: ImageSetConfiguration\nmirror:\n  platform:\n    graph: true\n", 4, "mirror.platform.graph", "graph-data"),
        ("kind: ImageSetConfiguration\nmirror:\n  platform:\n    kubeVirtContainer: true\n", 4, "mirror.platform.kubeVirtContainer", "KubeVirt"),
        ("kind: ImageSetConfiguration\nmirror:\n  platform:\n    platforms:\n    - os: linux\n      architecture: arm64\n", 4, "mirror.platform.platforms", "architectures"),
        ("kind: ImageSetConfiguration\nmirror:\n  additionalImages:\n  - name: quay.io/a/b:1\n    targetRepo: x/y\n", 5, "mirror.additionalImages[0].targetRepo", "upstream name"),
        ("kind: ImageSetConfiguration\nmirror:\n  additionalImages:\n  - name: quay.io/a/b:1\n    targetTag: v2\n", 5, "mirror.additionalImages[0].targetTag", "upstream tag"),
        ("kind: ImageSetConfiguration\nmirror:\n  samples:\n  - name: x\n", 3, "mirror.samples", "not implemented"),
        ("kind: DeleteImageSetConfiguration\ndelete:\n  additionalImages:\n  - name: quay.io/a/b:1\n", 1, "kind", "never deletes"),
        ("kind: ImageSetConfiguration\nmirror:\n  blockedImages:\n  - name: \"quay.io/(a\"\n", 4, "mirror.blockedImages[0].name", "regular expression"),
        ("kind: ImageSetConfiguration\nmirror:\n  platform:\n    architectures: [amd64, x86_64]\n", 4, "mirror.platform.architectures[1]", "x86_64"),
        ("kind: ImageSetConfiguration\nmirror:\n  platform:\n    channels:\n    - name: stable-4.16\n      maxVersion: 4.16\n", 6, "mirror.platform.channels[0].maxVersion", "semantic version"),
        ("kind: ImageSetConfiguration\nmirror:\n  platform:\n    channels:\n    - name: stable-4.16\n      type: origin\n", 6, "mirror.platform.channels[0].type", "neither ocp nor okd"),
        ("kind: ImageSetConfiguration\nmirror:\n  platform:\n    release: quay.io/Bad/Name:1\n", 4, "mirror.platform.release", "Bad"),
    ] {
        let e = parse(text).unwrap_err();
        assert!(matches!(e, InputError::Field { .. }), "{e:?}");
        let e = e.to_string();
        assert!(e.starts_with(&format!("isc.yaml:{line}: {field}: ")), "{e}");
        assert!(e.contains(why), "{e}");
    }
}

#[test]
fn every_refused_field_is_reported_at_once() {
    let text = "kind: ImageSetConfiguration\nmirror:\n  operators:\n  - catalog: oci:x\n  helm:\n    local:\n    - name: c\n      path: /c\n";
    let e = parse(text).unwrap_err().to_string();
    assert!(e.starts_with("2 fields"), "{e}");
    assert!(
        e.contains("\n  - isc.yaml:4: mirror.operators[0].catalog: "),
        "{e}"
    );
    assert!(e.contains("\n  - isc.yaml:5: mirror.helm: "), "{e}");
}

#[test]
fn architectures_without_channels_are_noted() {
    let text = "kind: ImageSetConfiguration\nmirror:\n  platform:\n    architectures: [arm64]\n    release: quay.io/openshift-release-dev/ocp-release:4.16.5-x86_64\n";
    let i = parse(text).unwrap();
    assert_eq!(i.notes.len(), 1);
    assert!(
        i.notes[0].starts_with("isc.yaml:4 mirror.platform.architectures:"),
        "{:?}",
        i.notes
    );
    assert!(parse(FULL).unwrap().notes.is_empty());
}

#[test]
fn plain_lists_still_read() {
    let i = parse("quay.io/a/b:1\n").unwrap();
    assert_eq!(i.images.len(), 1);
    assert!(i.releases.is_empty() && i.blocked.is_empty());
}

#[test]
fn operators_are_read_with_their_filters() {
    let text = "kind: ImageSetConfiguration
apiVersion: mirror.openshift.io/v2alpha1
mirror:
  operators:
  - catalog: docker://registry.redhat.io/redhat/redhat-operator-index:v4.16
    targetCatalog: my/catalog
    targetTag: v1
    skipDependencies: true
    packages:
    - name: aws-load-balancer-operator
      defaultChannel: stable-v1
      channels:
      - name: stable-v1
        minVersion: 1.1.0
        maxVersion: 1.2.0
    - name: compliance-operator
      minVersion: 1.0.0
  - catalog: registry.redhat.io/redhat/certified-operator-index:v4.16
    full: true
";
    let i = parse(text).unwrap();
    assert_eq!(i.catalogs.len(), 2);
    let c = &i.catalogs[0];
    assert_eq!(
        c.reference.to_string(),
        "registry.redhat.io/redhat/redhat-operator-index:v4.16"
    );
    assert_eq!(c.location, "isc.yaml:5 mirror.operators[0].catalog");
    assert_eq!(c.target_catalog.as_deref(), Some("my/catalog"));
    assert_eq!(c.target_tag.as_deref(), Some("v1"));
    assert!(!c.filter.full && !c.is_whole());
    let p = &c.filter.packages[0];
    assert_eq!(p.default_channel.as_deref(), Some("stable-v1"));
    assert_eq!(p.channels[0].name, "stable-v1");
    assert_eq!(
        p.channels[0].max_version.as_ref().unwrap().to_string(),
        "1.2.0"
    );
    assert_eq!(
        c.filter.packages[1]
            .min_version
            .as_ref()
            .unwrap()
            .to_string(),
        "1.0.0"
    );
    assert!(i.catalogs[1].is_whole());
    assert!(i.notes[0].contains("skipDependencies"), "{:?}", i.notes);
    assert!(!i.is_empty());
    let twice = "kind: ImageSetConfiguration\nmirror:\n  operators:\n  - catalog: q.io/c:1\n  - catalog: q.io/c:1\n";
    let e = parse(twice).unwrap_err().to_string();
    assert!(
        e.contains("mirror.operators[1].catalog") && e.contains("listed twice"),
        "{e}"
    );
}
