use serde_json::json;

use super::*;
use crate::pack::catalog::fbc::Catalog;

/// `(package, default channel, [(channel, [(entry, replaces, [skips])])], [(bundle, version)])`
type Spec<'a> = (
    &'a str,
    &'a str,
    Vec<(&'a str, Vec<(&'a str, &'a str, Vec<&'a str>)>)>,
    Vec<(&'a str, &'a str)>,
);

fn catalog(specs: Vec<Spec<'_>>) -> Catalog {
    let mut c = Catalog::default();
    for (pkg, default, channels, bundles) in specs {
        let all = |_: &str| true;
        c.add(
            json!({"schema":"olm.package","name":pkg,"defaultChannel":default}),
            &all,
        )
        .unwrap();
        for (ch, entries) in channels {
            let entries: Vec<_> = entries
                .into_iter()
                .map(|(n, r, s)| {
                    let mut e = json!({"name": n});
                    if !r.is_empty() {
                        e["replaces"] = json!(r);
                    }
                    if !s.is_empty() {
                        e["skips"] = json!(s);
                    }
                    e
                })
                .collect();
            c.add(
                json!({"schema":"olm.channel","package":pkg,"name":ch,"entries":entries}),
                &all,
            )
            .unwrap();
        }
        for (b, v) in bundles {
            c.add(
                json!({"schema":"olm.bundle","package":pkg,"name":b,"image":format!("q.io/{b}"),
                       "properties":[{"type":"olm.package","value":{"packageName":pkg,"version":v}}]}),
                &all,
            )
            .unwrap();
        }
    }
    c
}

/// etcd: `stable` (default) 0.9.0 ← 0.9.2 ← 0.9.4 (skips 0.9.3) ← 1.0.0, `alpha` a single
/// 1.1.0-rc.1, `odd` with an out-of-order version on its chain, `side` 0.9.0 alone;
/// prometheus: `beta` (default) 0.1.0 ← 0.2.0, `stable` 0.2.0.
fn fixture() -> Catalog {
    catalog(vec![
        (
            "etcd",
            "stable",
            vec![
                (
                    "stable",
                    vec![
                        ("etcd.v0.9.0", "", vec![]),
                        ("etcd.v0.9.2", "etcd.v0.9.0", vec![]),
                        ("etcd.v0.9.3", "", vec![]),
                        ("etcd.v0.9.4", "etcd.v0.9.2", vec!["etcd.v0.9.3"]),
                        ("etcd.v1.0.0", "etcd.v0.9.4", vec![]),
                    ],
                ),
                ("alpha", vec![("etcd.v1.1.0-rc.1", "etcd.v1.0.0", vec![])]),
                (
                    "odd",
                    vec![
                        ("etcd.c1", "", vec![]),
                        ("etcd.c2", "etcd.c1", vec![]),
                        ("etcd.c3", "etcd.c2", vec![]),
                    ],
                ),
                ("side", vec![("etcd.v0.9.0", "", vec![])]),
            ],
            vec![
                ("etcd.v0.9.0", "0.9.0"),
                ("etcd.v0.9.2", "0.9.2"),
                ("etcd.v0.9.3", "0.9.3"),
                ("etcd.v0.9.4", "0.9.4"),
                ("etcd.v1.0.0", "1.0.0"),
                ("etcd.v1.1.0-rc.1", "1.1.0-rc.1"),
                ("etcd.c1", "2.0.0"),
                ("etcd.c2", "1.0.1"),
                ("etcd.c3", "3.0.0"),
            ],
        ),
        (
            "prometheus",
            "beta",
            vec![
                (
                    "beta",
                    vec![
                        ("prometheus.v0.1.0", "", vec![]),
                        ("prometheus.v0.2.0", "prometheus.v0.1.0", vec![]),
                    ],
                ),
                ("stable", vec![("prometheus.v0.2.0", "", vec![])]),
            ],
            vec![
                ("prometheus.v0.1.0", "0.1.0"),
                ("prometheus.v0.2.0", "0.2.0"),
            ],
        ),
    ])
}

fn v(s: &str) -> Option<Version> {
    Some(Version::parse(s).unwrap())
}

fn pkg(name: &str) -> PackageFilter {
    PackageFilter {
        name: name.into(),
        channels: vec![],
        min_version: None,
        max_version: None,
        default_channel: None,
    }
}

fn ch(name: &str, min: Option<Version>, max: Option<Version>) -> ChannelFilter {
    ChannelFilter {
        name: name.into(),
        min_version: min,
        max_version: max,
    }
}

fn run(packages: Vec<PackageFilter>, full: bool) -> Result<Selection, SelectError> {
    select(&fixture(), "q.io/cat:v1", &CatalogFilter { full, packages })
}

/// `package/channel: entries` lines, and the kept bundles, for exact comparison.
fn shape(s: &Selection) -> (Vec<String>, Vec<String>) {
    let mut lines = Vec::new();
    let mut bundles = Vec::new();
    for p in &s.packages {
        for c in &p.channels {
            lines.push(format!("{}/{}: {}", p.name, c.name, c.entries.join(" ")));
        }
        bundles.extend(p.bundles.iter().cloned());
    }
    (lines, bundles)
}

#[test]
fn no_package_listed_keeps_every_default_channel_head() {
    let s = run(vec![], false).unwrap();
    assert_eq!(
        shape(&s).0,
        vec![
            "etcd/stable: etcd.v1.0.0",
            "prometheus/beta: prometheus.v0.2.0"
        ]
    );
    assert_eq!(s.packages[1].default_channel, "beta");
}

#[test]
fn a_package_without_channels_keeps_its_default_channel_head() {
    let s = run(vec![pkg("prometheus")], false).unwrap();
    assert_eq!(shape(&s).0, vec!["prometheus/beta: prometheus.v0.2.0"]);
    assert_eq!(shape(&s).1, vec!["prometheus.v0.2.0"]);
}

#[test]
fn listed_channels_keep_their_heads() {
    let mut p = pkg("etcd");
    p.channels = vec![ch("stable", None, None), ch("alpha", None, None)];
    let s = run(vec![p], false).unwrap();
    assert_eq!(
        shape(&s),
        (
            vec![
                "etcd/stable: etcd.v1.0.0".to_string(),
                "etcd/alpha: etcd.v1.1.0-rc.1".to_string()
            ],
            vec!["etcd.v1.0.0".to_string(), "etcd.v1.1.0-rc.1".to_string()]
        )
    );
}

#[test]
fn a_range_keeps_the_replaces_chain_and_in_range_skips() {
    let mut p = pkg("etcd");
    p.channels = vec![ch("stable", v("0.9.2"), v("0.9.4"))];
    let s = run(vec![p], false).unwrap();
    assert_eq!(
        shape(&s).0,
        vec!["etcd/stable: etcd.v0.9.2 etcd.v0.9.3 etcd.v0.9.4"]
    );
    assert!(s.notes.is_empty(), "{:?}", s.notes);
}

#[test]
fn a_range_with_a_min_only_runs_to_the_head() {
    let mut p = pkg("etcd");
    p.min_version = v("0.9.4");
    let s = run(vec![p], false).unwrap();
    assert_eq!(shape(&s).0, vec!["etcd/stable: etcd.v0.9.4 etcd.v1.0.0"]);
}

#[test]
fn a_range_with_a_max_only_starts_at_the_lowest_node_holding_all() {
    let mut p = pkg("etcd");
    p.max_version = v("0.9.2");
    let s = run(vec![p], false).unwrap();
    assert_eq!(shape(&s).0, vec!["etcd/stable: etcd.v0.9.0 etcd.v0.9.2"]);
}

#[test]
fn a_skipped_bundle_in_range_is_kept_but_out_of_range_skips_are_not() {
    let mut p = pkg("etcd");
    p.channels = vec![ch("stable", v("0.9.4"), v("1.0.0"))];
    let s = run(vec![p], false).unwrap();
    assert_eq!(shape(&s).0, vec!["etcd/stable: etcd.v0.9.4 etcd.v1.0.0"]);
    let mut p = pkg("etcd");
    p.channels = vec![ch("stable", v("0.9.3"), v("0.9.3"))];
    let s = run(vec![p], false).unwrap();
    assert_eq!(shape(&s).0, vec!["etcd/stable: etcd.v0.9.3"]);
}

#[test]
fn chain_nodes_outside_the_range_are_kept_with_a_note() {
    let mut p = pkg("etcd");
    p.channels = vec![ch("odd", v("2.0.0"), v("3.0.0"))];
    p.default_channel = Some("odd".into());
    let s = run(vec![p], false).unwrap();
    assert_eq!(shape(&s).0, vec!["etcd/odd: etcd.c1 etcd.c2 etcd.c3"]);
    assert_eq!(s.packages[0].default_channel, "odd");
    assert_eq!(s.notes.len(), 1);
    assert!(
        s.notes[0].contains("\"etcd.c2\" is outside the range"),
        "{:?}",
        s.notes
    );
}

#[test]
fn package_range_applies_to_each_channel_unless_the_channel_has_its_own() {
    let mut p = pkg("prometheus");
    p.channels = vec![ch("beta", None, None), ch("stable", v("0.2.0"), None)];
    p.min_version = v("0.1.0");
    p.max_version = v("0.1.5");
    let s = run(vec![p], false).unwrap();
    assert_eq!(
        shape(&s).0,
        vec![
            "prometheus/beta: prometheus.v0.1.0",
            "prometheus/stable: prometheus.v0.2.0"
        ]
    );
}

#[test]
fn pre_releases_match_only_bounds_with_a_pre_release() {
    let mut p = pkg("etcd");
    p.channels = vec![
        ch("stable", v("1.0.0"), None),
        ch("alpha", v("1.0.0"), None),
    ];
    let s = run(vec![p], false).unwrap();
    assert_eq!(shape(&s).0, vec!["etcd/stable: etcd.v1.0.0"]);
    assert!(
        s.notes[0].contains("\"alpha\": nothing in the range"),
        "{:?}",
        s.notes
    );
    let mut p = pkg("etcd");
    p.channels = vec![ch("stable", None, None), ch("alpha", v("1.1.0-rc.0"), None)];
    let s = run(vec![p], false).unwrap();
    assert_eq!(shape(&s).0[1], "etcd/alpha: etcd.v1.1.0-rc.1");
}

#[test]
fn full_keeps_every_channel_and_entry_of_a_listed_package() {
    let s = run(vec![pkg("prometheus")], true).unwrap();
    assert_eq!(
        shape(&s).0,
        vec![
            "prometheus/beta: prometheus.v0.1.0 prometheus.v0.2.0",
            "prometheus/stable: prometheus.v0.2.0"
        ]
    );
    let mut p = pkg("prometheus");
    p.min_version = v("0.1.0");
    let e = run(vec![p], true).unwrap_err();
    assert!(e.to_string().contains("full: true cannot be mixed"), "{e}");
}

#[test]
fn unknown_names_are_errors_with_the_nearest_names() {
    let e = run(vec![pkg("promethues")], false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "catalog q.io/cat:v1: no package \"promethues\" (nearest: prometheus)"
    );
    let mut p = pkg("etcd");
    p.channels = vec![ch("stabel", None, None)];
    let e = run(vec![p], false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "catalog q.io/cat:v1: package \"etcd\" has no channel \"stabel\" (nearest: stable)"
    );
    let mut p = pkg("etcd");
    p.min_version = v("0.9.5");
    p.max_version = v("0.9.5");
    let e = run(vec![p], false).unwrap_err();
    assert!(
        matches!(&e, SelectError::NoVersion { version, nearest, .. }
            if version == "0.9.5" && nearest.contains(&"0.9.4".to_string())),
        "{e}"
    );
    let mut p = pkg("etcd");
    p.default_channel = Some("alpah".into());
    let e = run(vec![p], false).unwrap_err();
    assert!(e.to_string().contains("(nearest: alpha)"), "{e}");
}

#[test]
fn the_default_channel_must_survive() {
    let mut p = pkg("etcd");
    p.channels = vec![ch("alpha", None, None)];
    let e = run(vec![p.clone()], false).unwrap_err();
    assert!(
        e.to_string()
            .contains("default channel \"stable\" was filtered out"),
        "{e}"
    );
    p.default_channel = Some("alpha".into());
    let s = run(vec![p.clone()], false).unwrap();
    assert_eq!(s.packages[0].default_channel, "alpha");
    p.default_channel = Some("side".into());
    let e = run(vec![p], false).unwrap_err();
    assert!(e.to_string().contains("not among the channels kept"), "{e}");
    // A package without channels and an override keeps the override channel.
    let mut p = pkg("etcd");
    p.default_channel = Some("side".into());
    let s = run(vec![p], false).unwrap();
    assert_eq!(shape(&s).0, vec!["etcd/side: etcd.v0.9.0"]);
}

#[test]
fn a_range_that_empties_the_default_channel_is_an_error() {
    let mut p = pkg("etcd");
    p.min_version = v("5.0.0");
    let e = run(vec![p], false).unwrap_err();
    assert!(
        e.to_string()
            .contains("nothing in the default channel \"stable\""),
        "{e}"
    );
}

#[test]
fn broken_channels_are_errors_naming_them() {
    let c = catalog(vec![(
        "p",
        "s",
        vec![("s", vec![("a", "", vec![]), ("b", "", vec![])])],
        vec![("a", "1.0.0"), ("b", "2.0.0")],
    )]);
    let e = select(&c, "cat", &CatalogFilter::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("channel \"s\": multiple channel heads: a, b"),
        "{e}"
    );
    let c = catalog(vec![(
        "p",
        "s",
        vec![(
            "s",
            vec![("h", "a", vec![]), ("a", "b", vec![]), ("b", "a", vec![])],
        )],
        vec![("a", "1.0.0"), ("b", "2.0.0"), ("h", "3.0.0")],
    )]);
    let e = select(&c, "cat", &CatalogFilter::default()).unwrap_err();
    assert!(e.to_string().contains("cycle"), "{e}");
    let c = catalog(vec![(
        "p",
        "s",
        vec![("s", vec![("a", "", vec![])])],
        vec![("a", "v1")],
    )]);
    let e = select(&c, "cat", &CatalogFilter::default()).unwrap_err();
    assert!(
        e.to_string().contains("bundle \"a\"") && e.to_string().contains("semantic"),
        "{e}"
    );
}
