//! The OpenShift update graph (Cincinnati): `GET <url>?channel=C&arch=A` answers
//! `{"nodes":[{"version","payload","metadata"}…],"edges":[[from,to]…]}`, and which versions of a
//! channel an ImageSetConfiguration asks for, chosen as oc-mirror v2 chooses them.
//!
//! The request goes through the registry module's admin client: the same TLS trust (system
//! roots, `--ca-file`, certs.d), `--insecure-registry` for the graph host, no credentials.

use std::collections::{BTreeMap, VecDeque};

use serde::Deserialize;

use super::imageset::{ChannelRequest, ChannelType};
use super::version::Version;
use crate::registry::{AdminAuth, AdminClient, ClientOptions};

/// The OCP update graph oc-mirror reads.
pub const OCP_GRAPH_URL: &str = "https://api.openshift.com/api/upgrades_info/v1/graph";
/// The OKD update graph.
pub const OKD_GRAPH_URL: &str = "https://origin-release.ci.openshift.org/graph";
/// The environment variable oc-mirror takes the OCP graph URL from.
pub const GRAPH_URL_ENV: &str = "UPDATE_URL_OVERRIDE";

/// Why a channel's versions could not be chosen.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The graph URL is unusable.
    #[error("update graph URL {url:?}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The graph could not be fetched.
    #[error("channel {channel} ({location}), arch {arch}: {source}")]
    Fetch {
        /// The channel.
        channel: String,
        /// Where it was asked for.
        location: String,
        /// The architecture.
        arch: String,
        /// What failed.
        source: crate::registry::AdminError,
    },
    /// The graph's answer, or what it holds, does not give what was asked.
    #[error("channel {channel} ({location}), arch {arch}: {reason}")]
    Select {
        /// The channel.
        channel: String,
        /// Where it was asked for.
        location: String,
        /// The architecture.
        arch: String,
        /// What is wrong, and what to do.
        reason: String,
    },
}

/// One release in the graph.
#[derive(Debug, Clone, Deserialize)]
pub struct Node {
    /// Its version, e.g. `4.16.5`.
    pub version: String,
    /// The release image by digest.
    pub payload: String,
    /// Channels, errata URL and more.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// An update graph: nodes and the update edges between them (indexes into `nodes`).
#[derive(Debug, Clone, Deserialize)]
pub struct UpdateGraph {
    /// The releases.
    pub nodes: Vec<Node>,
    /// `[from, to]` pairs.
    #[serde(default)]
    pub edges: Vec<(usize, usize)>,
}

/// The URL to ask for `kind`: `--graph-url` (or `UPDATE_URL_OVERRIDE`, which the CLI reads)
/// for OCP channels, the OKD graph for OKD channels.
pub fn graph_url(kind: ChannelType, given: Option<&str>) -> String {
    match (kind, given) {
        (ChannelType::Ocp, Some(u)) if !u.trim().is_empty() => u.trim().to_string(),
        (ChannelType::Ocp, _) => OCP_GRAPH_URL.to_string(),
        (ChannelType::Okd, _) => OKD_GRAPH_URL.to_string(),
    }
}

/// Fetches the graph of `channel` for `arch` from `base` (an `http(s)://HOST[:PORT]/PATH` URL).
/// An `http://` URL is read in plain HTTP, as written; an `https://` one with TLS verified
/// unless the host is listed with `--insecure-registry`.
pub fn fetch_graph(
    base: &str,
    req: &ChannelRequest,
    arch: &str,
    client: &ClientOptions,
) -> Result<UpdateGraph, ChannelError> {
    let url_err = |reason: String| ChannelError::Url {
        url: base.to_string(),
        reason,
    };
    let mut url = url::Url::parse(base).map_err(|e| url_err(e.to_string()))?;
    let scheme = url.scheme().to_string();
    if scheme != "https" && scheme != "http" {
        return Err(url_err("not an http(s) URL".into()));
    }
    let host = url
        .host_str()
        .ok_or_else(|| url_err("no host".into()))?
        .to_string();
    let host = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    };
    url.query_pairs_mut()
        .append_pair("channel", &req.name)
        .append_pair("arch", arch);
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let mut opts = client.clone();
    if scheme == "http" {
        opts.insecure.push(host.clone());
    }
    let fetch_err = |source| ChannelError::Fetch {
        channel: req.name.clone(),
        location: req.location.clone(),
        arch: arch.to_string(),
        source,
    };
    let admin = AdminClient::new(&host, &opts, AdminAuth::None).map_err(fetch_err)?;
    let resp = admin
        .call("GET", &path, &[], None)
        .and_then(|r| r.expect(&[200]))
        .map_err(fetch_err)?;
    serde_json::from_value(resp.body.clone()).map_err(|e| {
        fetch_err(resp.protocol_error(format!(
            "not an update graph ({{\"nodes\":[…],\"edges\":[…]}}): {e}"
        )))
    })
}

/// The nodes of `graph` that `req` selects, lowest version first (oc-mirror v2's rules):
/// both bounds → every node in `[min, max]`; no `maxVersion` → the channel's highest; no
/// `minVersion` → the channel's lowest with `full`, or with `maxVersion`, else the highest
/// (only the latest release); `shortestPath` → the nodes of a shortest update path from min to
/// max over the graph's edges instead of every node in the range.
pub fn select<'g>(
    graph: &'g UpdateGraph,
    req: &ChannelRequest,
    arch: &str,
) -> Result<Vec<&'g Node>, ChannelError> {
    let fail = |reason: String| ChannelError::Select {
        channel: req.name.clone(),
        location: req.location.clone(),
        arch: arch.to_string(),
        reason,
    };
    let mut versions = Vec::with_capacity(graph.nodes.len());
    for n in &graph.nodes {
        versions.push(
            Version::parse(&n.version)
                .map_err(|e| fail(format!("the graph holds a node whose version {e}")))?,
        );
    }
    if let Some(&(a, b)) = graph
        .edges
        .iter()
        .find(|(a, b)| *a >= graph.nodes.len() || *b >= graph.nodes.len())
    {
        return Err(fail(format!(
            "the graph has an edge [{a}, {b}] outside its {} nodes",
            graph.nodes.len()
        )));
    }
    let (Some(lowest), Some(highest)) = (versions.iter().min(), versions.iter().max()) else {
        return Err(fail(
            "the graph lists no release; is the channel name right?".into(),
        ));
    };
    let max = req.max_version.clone().unwrap_or_else(|| highest.clone());
    let min = match &req.min_version {
        Some(v) => v.clone(),
        None if req.full || req.max_version.is_some() => lowest.clone(),
        None => max.clone(),
    };
    let mut picked: Vec<usize> = if req.shortest_path {
        let find = |v: &Version, which: &str| {
            versions.iter().position(|x| x == v).ok_or_else(|| {
                fail(format!(
                    "shortestPath needs {which} {v} to be a release of the channel; it is not"
                ))
            })
        };
        let (from, to) = (find(&min, "minVersion")?, find(&max, "maxVersion")?);
        shortest_path(graph, &versions, from, to).ok_or_else(|| {
            fail(format!(
                "the graph has no update path from {min} to {max}; drop shortestPath to take \
                 every release between them"
            ))
        })?
    } else {
        (0..versions.len())
            .filter(|&i| versions[i] >= min && versions[i] <= max)
            .collect()
    };
    if picked.is_empty() {
        return Err(fail(format!(
            "no release between {min} and {max} (the channel has {lowest} to {highest})"
        )));
    }
    picked.sort_by(|&a, &b| versions[a].cmp(&versions[b]));
    picked.dedup_by(|a, b| graph.nodes[*a].payload == graph.nodes[*b].payload);
    Ok(picked.into_iter().map(|i| &graph.nodes[i]).collect())
}

/// Breadth-first search over the edges from `from` to `to`, newest neighbours first (as
/// oc-mirror tries them); the path's nodes, `from` and `to` included.
fn shortest_path(
    graph: &UpdateGraph,
    versions: &[Version],
    from: usize,
    to: usize,
) -> Option<Vec<usize>> {
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); graph.nodes.len()];
    for &(a, b) in &graph.edges {
        next[a].push(b);
    }
    for n in &mut next {
        n.sort_by(|&a, &b| versions[b].cmp(&versions[a]));
    }
    let mut came: Vec<Option<usize>> = vec![None; graph.nodes.len()];
    let mut seen = vec![false; graph.nodes.len()];
    let mut queue = VecDeque::from([from]);
    seen[from] = true;
    while let Some(n) = queue.pop_front() {
        if n == to {
            let mut path = vec![to];
            let mut cur = to;
            while let Some(p) = came[cur] {
                path.push(p);
                cur = p;
            }
            path.reverse();
            return Some(path);
        }
        for &m in &next[n] {
            if !seen[m] {
                seen[m] = true;
                came[m] = Some(n);
                queue.push_back(m);
            }
        }
    }
    None
}

/// The tag Red Hat gives a release of `version` for `arch` (`4.16.5-x86_64`, `4.16.5-multi`);
/// OKD releases are tagged with the version alone.
pub fn release_tag(kind: ChannelType, version: &str, arch: &str) -> String {
    if kind == ChannelType::Okd {
        return version.to_string();
    }
    let suffix = match arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        other => other,
    };
    format!("{version}-{suffix}")
}

#[cfg(test)]
#[path = "graph_api_tests.rs"]
mod tests;
