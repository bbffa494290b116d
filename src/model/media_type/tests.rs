use super::*;

/// Every known variant, each once.
fn known() -> Vec<MediaType> {
    vec![
        MediaType::OciManifest,
        MediaType::OciIndex,
        MediaType::DockerManifest,
        MediaType::DockerManifestList,
        MediaType::OciConfig,
        MediaType::DockerConfig,
        MediaType::OciLayerGzip,
        MediaType::OciLayerZstd,
        MediaType::OciLayerTar,
        MediaType::DockerLayerGzip,
        MediaType::DockerLayerTar,
        MediaType::DockerForeignLayer,
        MediaType::OciNondistributableGzip,
        MediaType::OciNondistributableTar,
        MediaType::OciNondistributableZstd,
    ]
}

#[test]
fn known_values_round_trip() {
    let all = known();
    for m in &all {
        let s = m.as_str();
        let parsed = MediaType::from(s);
        assert!(
            !matches!(parsed, MediaType::Other(_)),
            "{s} parsed as Other"
        );
        assert_eq!(&parsed, m);
        assert_eq!(parsed.as_str(), s);
        assert_eq!(MediaType::from(s.to_string()).as_str(), s);
        assert_eq!(s.parse::<MediaType>().unwrap().as_str(), s);
        assert_eq!(m.to_string(), s);
        let json = serde_json::to_string(m).unwrap();
        assert_eq!(json, serde_json::to_string(s).unwrap());
        let back: MediaType = serde_json::from_str(&json).unwrap();
        assert!(!matches!(back, MediaType::Other(_)));
        assert_eq!(&back, m);
    }
    // Every variant has its own string.
    let strings: std::collections::HashSet<_> = all.iter().map(MediaType::as_str).collect();
    assert_eq!(strings.len(), all.len());
}

#[test]
fn unknown_values_are_kept_verbatim() {
    for s in [
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.dev.cosign.simplesigning.v1+json",
        "application/vnd.oci.image.manifest.v1+json; charset=utf-8",
        " application/vnd.oci.image.index.v1+json",
        "APPLICATION/VND.OCI.IMAGE.MANIFEST.V1+JSON",
        "x/y",
        "",
    ] {
        let m = MediaType::from(s);
        assert_eq!(m, MediaType::Other(s.to_string()));
        assert_eq!(m.as_str(), s);
        assert_eq!(m.to_string(), s);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, serde_json::to_string(s).unwrap());
        let back: MediaType = serde_json::from_str(&json).unwrap();
        assert_eq!(back.as_str(), s);
        assert!(!back.is_manifest());
    }
}

#[test]
fn parameters_are_stripped_only_by_essence() {
    let header = "application/vnd.oci.image.index.v1+json; charset=utf-8";
    assert!(matches!(MediaType::from(header), MediaType::Other(_)));
    assert_eq!(essence(header), MediaType::OciIndex.as_str());
    assert_eq!(MediaType::from(essence(header)), MediaType::OciIndex);
    assert_eq!(essence("  x/y  "), "x/y");
    assert_eq!(essence("x/y"), "x/y");
}

#[test]
fn predicates() {
    for m in known() {
        assert_eq!(
            m.is_manifest(),
            MANIFEST_TYPES.contains(&m),
            "{m}: is_manifest"
        );
        assert_eq!(m.is_manifest(), m.is_index() || m.is_image_manifest());
    }
    assert!(MediaType::OciIndex.is_index());
    assert!(MediaType::DockerManifestList.is_index());
    assert!(!MediaType::OciManifest.is_index());
    assert!(MediaType::OciManifest.is_image_manifest());
    assert!(MediaType::DockerManifest.is_image_manifest());
    assert!(!MediaType::DockerManifestList.is_image_manifest());
    let foreign: Vec<_> = known()
        .into_iter()
        .filter(|m| m.is_foreign_layer())
        .collect();
    assert_eq!(
        foreign,
        [
            MediaType::DockerForeignLayer,
            MediaType::OciNondistributableGzip,
            MediaType::OciNondistributableTar,
            MediaType::OciNondistributableZstd,
        ]
    );
    assert!(MediaType::OciLayerGzip.is_compressed());
    assert!(MediaType::OciLayerZstd.is_compressed());
    assert!(MediaType::DockerLayerGzip.is_compressed());
    assert!(!MediaType::OciLayerTar.is_compressed());
    assert!(!MediaType::DockerLayerTar.is_compressed());
    assert!(!MediaType::OciConfig.is_compressed());
    // Unknown types are judged by their spelling.
    assert!(MediaType::from("application/x-custom+zstd").is_compressed());
    assert!(!MediaType::from("application/x-custom").is_compressed());
    // An `Other` built by hand with a known spelling behaves as the known type.
    let spelled = MediaType::Other(MediaType::OciIndex.as_str().to_string());
    assert_eq!(spelled, MediaType::OciIndex);
    assert!(spelled.is_index());
}
