//! Fuzz targets for the operator catalog readers: a catalog file ([`parse_file`], JSON and
//! YAML) fed blob by blob into [`Catalog::add`], then the selection ([`select`], which builds
//! every kept channel's graph); and an ImageSetConfiguration's `operators` section.

use std::path::Path;

use proptest::prelude::*;

use super::{config, inputs, texts};
use crate::pack::catalog::fbc::{parse_file, Catalog};
use crate::pack::catalog::select::{select, CatalogFilter};
use crate::pack::imageset::parse_input;

const JSON: &str = r#"{"schema":"olm.package","name":"etcd","defaultChannel":"stable"}
{"schema":"olm.channel","package":"etcd","name":"stable","entries":[{"name":"etcd.v0.9.0"},{"name":"etcd.v0.9.2","replaces":"etcd.v0.9.0","skips":["etcd.v0.9.1"],"skipRange":">=0.9.0 <0.9.2"}]}
{"schema":"olm.bundle","package":"etcd","name":"etcd.v0.9.2","image":"quay.io/e/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","properties":[{"type":"olm.package","value":{"packageName":"etcd","version":"0.9.2"}}],"relatedImages":[{"name":"op","image":"quay.io/e/op:1"}]}
{"schema":"olm.bundle","package":"etcd","name":"etcd.v0.9.0","properties":[{"type":"olm.package","value":{"packageName":"etcd","version":"0.9.0"}}]}
{"schema":"olm.deprecations","package":"etcd","entries":[]}
"#;

const YAML: &str = "---\nschema: olm.package\nname: p\ndefaultChannel: a\n---\nschema: olm.channel\npackage: p\nname: a\nentries:\n- name: p.v1\n- name: p.v2\n  replaces: p.v1\n---\nschema: olm.bundle\npackage: p\nname: p.v2\nproperties:\n- type: olm.package\n  value: {packageName: p, version: 2.0.0-rc.1}\n";

const OPERATORS: &str = "kind: ImageSetConfiguration\nmirror:\n  operators:\n  - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.16\n    targetTag: v1\n    packages:\n    - name: etcd\n      defaultChannel: stable\n      channels:\n      - name: stable\n        minVersion: 0.9.0\n        maxVersion: 0.9.2\n    - name: p\n      minVersion: 1.0.0\n";

fn load(path: &str, bytes: &[u8]) {
    let mut c = Catalog::default();
    let r = parse_file(path, bytes.len() as u64, bytes, &mut |v| {
        c.add(v, &|_| true)
    });
    if r.is_ok() {
        for full in [false, true] {
            if let Err(e) = select(
                &c,
                "cat",
                &CatalogFilter {
                    full,
                    packages: Vec::new(),
                },
            ) {
                drop(e.to_string());
            }
        }
    }
}

#[test]
fn the_seeds_are_valid() {
    let mut c = Catalog::default();
    parse_file("a.json", 0, JSON.as_bytes(), &mut |v| c.add(v, &|_| true)).unwrap();
    select(&c, "cat", &CatalogFilter::default()).unwrap();
    parse_file("b.yaml", 0, YAML.as_bytes(), &mut |v| c.add(v, &|_| true)).unwrap();
    parse_input(Path::new("isc.yaml"), OPERATORS).unwrap();
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fuzz_catalog_json(bytes in inputs(vec![JSON.as_bytes().to_vec()])) {
        load("configs/etcd/catalog.json", &bytes);
    }

    #[test]
    fn fuzz_catalog_yaml(bytes in inputs(vec![YAML.as_bytes().to_vec()])) {
        load("configs/p/catalog.yaml", &bytes);
    }

    #[test]
    fn fuzz_operators_section(text in texts(&[OPERATORS])) {
        if let Err(e) = parse_input(Path::new("isc.yaml"), &text) {
            drop(e.to_string());
        }
    }
}
