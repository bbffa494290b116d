use super::*;

fn graph() -> UpdateGraph {
    // 4.15.20 → 4.16.4 → 4.16.5 → 4.16.6 → 4.16.8, 4.16.4 → 4.16.6 (skip), 4.16.5 → 4.16.8,
    // and 4.16.7 reachable from nothing.
    let text = r#"{"version":1,"nodes":[
        {"version":"4.16.5","payload":"quay.io/openshift-release-dev/ocp-release@sha256:5555555555555555555555555555555555555555555555555555555555555555","metadata":{}},
        {"version":"4.16.4","payload":"quay.io/openshift-release-dev/ocp-release@sha256:4444444444444444444444444444444444444444444444444444444444444444","metadata":{}},
        {"version":"4.16.6","payload":"quay.io/openshift-release-dev/ocp-release@sha256:6666666666666666666666666666666666666666666666666666666666666666","metadata":{}},
        {"version":"4.16.8","payload":"quay.io/openshift-release-dev/ocp-release@sha256:8888888888888888888888888888888888888888888888888888888888888888","metadata":{}},
        {"version":"4.16.7","payload":"quay.io/openshift-release-dev/ocp-release@sha256:7777777777777777777777777777777777777777777777777777777777777777","metadata":{}},
        {"version":"4.15.20","payload":"quay.io/openshift-release-dev/ocp-release@sha256:2020202020202020202020202020202020202020202020202020202020202020"}],
      "edges":[[5,1],[1,0],[0,2],[2,3],[1,2],[0,3]],
      "conditionalEdges":[{"edges":[{"from":"4.16.4","to":"4.16.7"}],"risks":[]}]}"#;
    serde_json::from_str(text).unwrap()
}

fn req(min: Option<&str>, max: Option<&str>, shortest: bool, full: bool) -> ChannelRequest {
    ChannelRequest {
        name: "stable-4.16".into(),
        kind: ChannelType::Ocp,
        min_version: min.map(|v| Version::parse(v).unwrap()),
        max_version: max.map(|v| Version::parse(v).unwrap()),
        shortest_path: shortest,
        full,
        location: "isc.yaml:5".into(),
    }
}

fn versions(g: &UpdateGraph, r: &ChannelRequest) -> Vec<String> {
    select(g, r, "amd64")
        .unwrap()
        .iter()
        .map(|n| n.version.clone())
        .collect()
}

#[test]
fn version_selection_follows_oc_mirror() {
    let g = graph();
    // Both bounds: every node in the range, edges not consulted (4.16.7 has none into it).
    assert_eq!(
        versions(&g, &req(Some("4.16.5"), Some("4.16.7"), false, false)),
        ["4.16.5", "4.16.6", "4.16.7"]
    );
    // No bounds: only the latest; with full: the whole channel, older minors included.
    assert_eq!(versions(&g, &req(None, None, false, false)), ["4.16.8"]);
    assert_eq!(versions(&g, &req(None, None, false, true)).len(), 6);
    // Only min: up to the highest. Only max: from the lowest.
    assert_eq!(
        versions(&g, &req(Some("4.16.7"), None, false, false)),
        ["4.16.7", "4.16.8"]
    );
    assert_eq!(
        versions(&g, &req(None, Some("4.16.4"), false, false)),
        ["4.15.20", "4.16.4"]
    );
    // shortestPath: BFS over edges, newest neighbour first: 4.16.4 → 4.16.6 → 4.16.8.
    assert_eq!(
        versions(&g, &req(Some("4.16.4"), Some("4.16.8"), true, false)),
        ["4.16.4", "4.16.6", "4.16.8"]
    );
    assert_eq!(
        versions(&g, &req(Some("4.15.20"), Some("4.16.5"), true, false)),
        ["4.15.20", "4.16.4", "4.16.5"]
    );
}

#[test]
fn selection_failures_name_channel_and_reason() {
    let g = graph();
    let e = select(
        &g,
        &req(Some("4.16.4"), Some("4.16.7"), true, false),
        "amd64",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("stable-4.16") && e.contains("no update path from 4.16.4 to 4.16.7"),
        "{e}"
    );
    let e = select(&g, &req(Some("4.17.0"), None, false, false), "amd64")
        .unwrap_err()
        .to_string();
    assert!(e.contains("no release between 4.17.0 and 4.16.8"), "{e}");
    let e = select(
        &g,
        &req(Some("4.16.3"), Some("4.16.5"), true, false),
        "amd64",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("minVersion 4.16.3"), "{e}");
    let empty: UpdateGraph = serde_json::from_str(r#"{"nodes":[],"edges":[]}"#).unwrap();
    assert!(select(&empty, &req(None, None, false, false), "amd64").is_err());
    let bad_edge: UpdateGraph = serde_json::from_str(
        r#"{"nodes":[{"version":"4.16.1","payload":"quay.io/a/b@sha256:1111111111111111111111111111111111111111111111111111111111111111"}],"edges":[[0,3]]}"#,
    )
    .unwrap();
    assert!(select(&bad_edge, &req(None, None, false, false), "amd64").is_err());
}

#[test]
fn urls_and_tags() {
    assert_eq!(graph_url(ChannelType::Ocp, None), OCP_GRAPH_URL);
    assert_eq!(
        graph_url(ChannelType::Ocp, Some("http://127.0.0.1:9/graph")),
        "http://127.0.0.1:9/graph"
    );
    assert_eq!(
        graph_url(ChannelType::Okd, Some("http://x/graph")),
        OKD_GRAPH_URL
    );
    assert_eq!(
        release_tag(ChannelType::Ocp, "4.16.5", "amd64"),
        "4.16.5-x86_64"
    );
    assert_eq!(
        release_tag(ChannelType::Ocp, "4.16.5", "arm64"),
        "4.16.5-aarch64"
    );
    assert_eq!(
        release_tag(ChannelType::Ocp, "4.16.5", "multi"),
        "4.16.5-multi"
    );
    let r = req(None, None, false, false);
    for bad in ["ftp://h/graph", "not a url"] {
        assert!(matches!(
            fetch_graph(bad, &r, "amd64", &ClientOptions::default()),
            Err(ChannelError::Url { .. })
        ));
    }
}
