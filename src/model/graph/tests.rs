use std::collections::HashMap;

use super::*;
use crate::model::MediaType;

/// A little store of manifests, as a source or a bundle would hold them.
#[derive(Default)]
struct Store(HashMap<Digest, FetchedManifest>);

#[derive(Debug, thiserror::Error)]
#[error("no manifest {0}")]
struct Missing(Digest);

impl Store {
    fn put(&mut self, media_type: &str, json: String) -> (Digest, u64) {
        let d = Digest::sha256_of(json.as_bytes());
        let size = json.len() as u64;
        self.0.insert(
            d.clone(),
            FetchedManifest {
                media_type: media_type.into(),
                bytes: json.into_bytes(),
            },
        );
        (d, size)
    }

    fn image(&mut self, config: &str, layers: &[&str]) -> (Digest, u64) {
        let desc = |mt: &str, content: &str| {
            format!(
                r#"{{"mediaType":"{mt}","size":{},"digest":"{}"}}"#,
                content.len(),
                Digest::sha256_of(content.as_bytes())
            )
        };
        let layers: Vec<String> = layers
            .iter()
            .map(|l| {
                if let Some(f) = l.strip_prefix("foreign:") {
                    desc(MediaType::OciNondistributableGzip.as_str(), f)
                } else {
                    desc(MediaType::OciLayerGzip.as_str(), l)
                }
            })
            .collect();
        self.put(
            MediaType::OciManifest.as_str(),
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{}","config":{},"layers":[{}]}}"#,
                MediaType::OciManifest.as_str(),
                desc(MediaType::OciConfig.as_str(), config),
                layers.join(",")
            ),
        )
    }

    fn index(&mut self, children: &[(Digest, u64, &str, Option<&str>)]) -> (Digest, u64) {
        let entries: Vec<String> = children
            .iter()
            .map(|(d, size, mt, arch)| {
                let platform = arch
                    .map(|a| format!(r#","platform":{{"os":"linux","architecture":"{a}"}}"#))
                    .unwrap_or_default();
                format!(r#"{{"mediaType":"{mt}","size":{size},"digest":"{d}"{platform}}}"#)
            })
            .collect();
        self.put(
            MediaType::OciIndex.as_str(),
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{}]}}"#,
                MediaType::OciIndex.as_str(),
                entries.join(",")
            ),
        )
    }

    /// An index of an amd64 and an arm64 image that share a base layer:
    /// `(amd64, arm64, index, index size)`.
    fn two_platforms(&mut self) -> (Digest, Digest, Digest, u64) {
        let (amd, amd_n) = self.image("cfg-amd64", &["base", "app-amd64"]);
        let (arm, arm_n) = self.image("cfg-arm64", &["base", "app-arm64"]);
        let m = MediaType::OciManifest;
        let (index, n) = self.index(&[
            (amd.clone(), amd_n, m.as_str(), Some("amd64")),
            (arm.clone(), arm_n, m.as_str(), Some("arm64")),
        ]);
        (amd, arm, index, n)
    }

    fn walk(&self, top: &Digest, include: &dyn Include) -> Result<ImageGraph, GraphError<Missing>> {
        let mut fetch = |d: &Digest| self.0.get(d).cloned().ok_or_else(|| Missing(d.clone()));
        walk(top, self.0[top].clone(), &mut fetch, include)
    }
}

fn blob(content: &str) -> Digest {
    Digest::sha256_of(content.as_bytes())
}

/// The bug this module was written for: an index whose child is another index. Every copy of
/// the walk must reach the inner index's children and their blobs.
#[test]
fn an_index_of_an_index_reaches_the_inner_children_and_their_blobs() {
    let mut s = Store::default();
    let (amd, arm, inner, inner_n) = s.two_platforms();
    let (solo, solo_n) = s.image("cfg-solo", &["solo"]);
    let (top, _) = s.index(&[
        (inner.clone(), inner_n, MediaType::OciIndex.as_str(), None),
        (
            solo.clone(),
            solo_n,
            MediaType::OciManifest.as_str(),
            Some("s390x"),
        ),
    ]);
    let g = s.walk(&top, &All).unwrap();
    let order: Vec<&Digest> = g.nodes.iter().map(|n| &n.digest).collect();
    assert_eq!(order, vec![&top, &inner, &amd, &arm, &solo]);
    assert_eq!(g.top().kind, NodeKind::Top);
    assert_eq!(g.nodes[2].parent.as_ref(), Some(&inner));
    assert_eq!(g.nodes[2].depth, 2);
    let bottom_up: Vec<&Digest> = g.bottom_up().map(|n| &n.digest).collect();
    assert_eq!(bottom_up, vec![&solo, &arm, &amd, &inner, &top]);
    let blobs: Vec<Digest> = g.blobs.iter().map(|b| b.digest.clone()).collect();
    assert_eq!(
        blobs,
        vec![
            blob("cfg-amd64"),
            blob("base"),
            blob("app-amd64"),
            blob("cfg-arm64"),
            blob("app-arm64"),
            blob("cfg-solo"),
            blob("solo"),
        ],
        "each blob once, in order of first use"
    );
    assert_eq!(g.edges.len(), 4);
    assert!(!g.is_sparse());
}

#[test]
fn children_left_out_are_neither_fetched_nor_followed() {
    let mut s = Store::default();
    let (_amd, arm, top, _) = s.two_platforms();
    // The arm64 child is not even in the store: fetching it would fail the walk.
    s.0.remove(&arm);
    let only_amd = |_: &Digest, c: &Referenced| c.platform.as_deref() == Some("linux/amd64");
    let g = s.walk(&top, &only_amd).unwrap();
    assert_eq!(g.nodes.len(), 2);
    assert!(g.is_sparse());
    let absent: Vec<&Digest> = g.absent().map(|e| &e.child.digest).collect();
    assert_eq!(absent, vec![&arm]);
    assert!(!g.blobs.iter().any(|b| b.digest == blob("app-arm64")));
    // Without the filter the missing child is an error naming it.
    let e = s.walk(&top, &All).unwrap_err();
    assert!(e.to_string().contains(&arm.to_string()), "{e}");
}

#[test]
fn foreign_layers_are_listed_apart_and_not_carried() {
    let mut s = Store::default();
    let (img, _) = s.image("cfg", &["foreign:windows-base", "app"]);
    let g = s.walk(&img, &All).unwrap();
    assert_eq!(g.foreign.len(), 1);
    assert_eq!(g.foreign[0].digest, blob("windows-base"));
    assert!(!g.blobs.iter().any(|b| b.digest == blob("windows-base")));
    assert_eq!(g.blobs.len(), 2);
}

#[test]
fn a_manifest_listed_twice_is_walked_once() {
    let mut s = Store::default();
    let (amd, amd_n) = s.image("cfg", &["layer"]);
    let (top, _) = s.index(&[
        (
            amd.clone(),
            amd_n,
            MediaType::OciManifest.as_str(),
            Some("amd64"),
        ),
        (
            amd.clone(),
            amd_n,
            MediaType::OciManifest.as_str(),
            Some("amd64"),
        ),
    ]);
    let g = s.walk(&top, &All).unwrap();
    assert_eq!(g.nodes.len(), 2);
    assert_eq!(g.edges.len(), 2);
}

#[test]
fn nesting_deeper_than_the_limit_is_refused() {
    let mut s = Store::default();
    let (mut d, mut n) = s.image("cfg", &["layer"]);
    let mut mt = MediaType::OciManifest.as_str();
    for _ in 0..=MAX_DEPTH {
        (d, n) = s.index(&[(d.clone(), n, mt, None)]);
        mt = MediaType::OciIndex.as_str();
    }
    let e = s.walk(&d, &All).unwrap_err();
    assert!(matches!(e, GraphError::TooDeep { .. }), "{e}");
}
