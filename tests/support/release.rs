//! The fixture OpenShift release loaded into a test registry under its upstream paths, and a
//! stand-in for the OpenShift update graph (Cincinnati) that answers
//! `GET /api/upgrades_info/v1/graph?channel=C&arch=A` in the documented format.

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use ferry_fixtures::release::{build_release, ReleaseFixture};

use super::standin::{respond_json, Served};
use super::{load_fixture, TestRegistry};

/// The path the graph is served at.
pub const GRAPH_PATH: &str = "/api/upgrades_info/v1/graph";

/// The release fixture, built once per test process.
pub fn release_fixture() -> &'static ReleaseFixture {
    static SET: OnceLock<ReleaseFixture> = OnceLock::new();
    SET.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("ferry-fixtures-{}-release", std::process::id()));
        build_release(&out)
            .unwrap_or_else(|e| panic!("building the release fixture in {}: {e:#}", out.display()))
    })
}

/// Copies every release and component image into `reg` at its upstream repository path
/// (`openshift-release-dev/ocp-v4.0-art-dev`, …), so that `--source-mirror quay.io=HOST`
/// reads `quay.io/...` from it.
pub fn load_release(reg: &TestRegistry) -> &'static ReleaseFixture {
    let set = release_fixture();
    for image in set.images() {
        load_fixture(reg, image);
    }
    set
}

/// One request the graph stand-in answered: its query string.
pub type GraphRequests = Arc<Mutex<Vec<String>>>;

/// A running graph stand-in.
pub struct GraphStandin {
    served: Served,
    requests: GraphRequests,
}

impl GraphStandin {
    /// Serves `graphs` (`(arch, JSON body)`) for every channel, by the `arch` asked for (a
    /// graph without nodes for another arch); answers 400 without `channel`, as Cincinnati
    /// does.
    pub fn start(graphs: Vec<(&'static str, serde_json::Value)>) -> GraphStandin {
        let requests: GraphRequests = Arc::default();
        let seen = Arc::clone(&requests);
        let served = Served::start(move |request| {
            let url = request.url().to_string();
            let (path, query) = url.split_once('?').unwrap_or((&url, ""));
            seen.lock().unwrap().push(query.to_string());
            if path != GRAPH_PATH {
                return respond_json(request, 404, &serde_json::json!({"kind":"not_found"}), &[]);
            }
            if !query.split('&').any(|p| p.starts_with("channel=")) {
                return respond_json(
                    request,
                    400,
                    &serde_json::json!({"kind":"missing_params","value":"mandatory client parameters missing: channel"}),
                    &[],
                );
            }
            let arch = query
                .split('&')
                .find_map(|p| p.strip_prefix("arch="))
                .unwrap_or("amd64");
            let empty = serde_json::json!({"nodes": [], "edges": []});
            let graph = graphs
                .iter()
                .find(|(a, _)| *a == arch)
                .map_or(&empty, |(_, g)| g);
            respond_json(request, 200, graph, &[])
        });
        GraphStandin { served, requests }
    }

    /// `http://127.0.0.1:PORT/api/upgrades_info/v1/graph`.
    pub fn url(&self) -> String {
        format!("http://{}{GRAPH_PATH}", self.served.host())
    }

    /// The query strings of every request so far.
    pub fn queries(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// The amd64 graph for channel `stable-4.16` holding the fixture's releases, one release
/// before them (4.16.4, whose payload the registry does not hold) and one after (4.17.0,
/// likewise), with update edges 4.16.4 → 4.16.5 → 4.16.6 → 4.17.0; and the multi graph with the
/// multi-arch 4.16.6.
pub fn fixture_graphs(set: &ReleaseFixture) -> Vec<(&'static str, serde_json::Value)> {
    let fake = |c: char| {
        format!(
            "quay.io/openshift-release-dev/ocp-release@sha256:{}",
            c.to_string().repeat(64)
        )
    };
    let node = |version: &str, payload: String| {
        serde_json::json!({
            "version": version,
            "payload": payload,
            "metadata": {
                "io.openshift.upgrades.graph.release.channels": "candidate-4.16,fast-4.16,stable-4.16",
                "url": format!("https://access.redhat.com/errata/{version}"),
            },
        })
    };
    let mut nodes = vec![node("4.16.4", fake('4'))];
    for r in &set.releases {
        nodes.push(node(
            &r.version,
            format!(
                "quay.io/openshift-release-dev/ocp-release@{}",
                r.image.digest
            ),
        ));
    }
    nodes.push(node("4.17.0", fake('7')));
    let amd64 = serde_json::json!({
        "version": 1,
        "nodes": nodes,
        "edges": [[0, 1], [1, 2], [2, 3]],
        "conditionalEdges": [],
    });
    let multi = serde_json::json!({
        "version": 1,
        "nodes": [node(
            &set.multi.version,
            format!("quay.io/openshift-release-dev/ocp-release@{}", set.multi.image.digest),
        )],
        "edges": [],
    });
    vec![("amd64", amd64), ("multi", multi)]
}
