//! An image whose index holds another index (issue 9): every command follows the one manifest
//! graph, so the inner index's children and their blobs are packed, verified, pushed and
//! checked like any other child.

mod support;

use ferry::model::Digest;
use support::run::*;
use support::*;

#[test]
fn an_index_of_an_index_packs_verifies_pushes_and_checks() {
    let set = fixtures_small();
    let img = &set.nested_index;
    assert_eq!(img.children.len(), 4, "inner index, amd64, arm64, s390x");
    let p = pack(&[oci_line(img)], &[]);

    // Every manifest and blob of the graph is in the bundle, the inner index's children too.
    let root = ferry::bundle::Bundle::open(&p.dir)
        .unwrap()
        .unverified_root()
        .unwrap();
    for child in &img.children {
        let d = Digest::parse(child).unwrap();
        assert!(root.manifest(&d).is_some(), "manifest {child} not packed");
    }
    for (blob, size, _) in &img.blobs {
        let d = Digest::parse(blob).unwrap();
        let entry = root.blobs.iter().find(|b| b.digest == d);
        assert_eq!(entry.map(|e| e.size), Some(*size), "blob {blob} not packed");
    }

    let out = verify_ok(&p.dir, &p.pubkey, &[]);
    // top + inner index + three image manifests
    assert!(out.contains("5 manifests"), "{out}");
    assert!(out.contains(&format!("{} blobs", img.blobs.len())), "{out}");

    let target = TestRegistry::plain();
    let report = registry_push_json(&p, &target);
    assert!(all_ok(&report), "{report}");

    let repo = format!("mirror/quay.io/{}", img.repository);
    for d in std::iter::once(&img.digest).chain(&img.children) {
        assert_eq!(&mirrored_digest(&target, &repo, d), d, "manifest at mirror");
    }
    let tagged = mirrored_digest(&target, &repo, &img.tag);
    assert_eq!(tagged, img.digest, "tag points at the top index");

    let out = ferry_ok(check_args(&p.dir, &target, p.tmp.path()));
    assert!(out.contains("1 of 1 images complete"), "{out}");
}
