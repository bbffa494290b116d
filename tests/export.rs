//! `ferry export`: a verified bundle into an OCI layout that skopeo reads, every image by its
//! upstream name, digests unchanged (issue 9).

mod support;

use ferry::model::Digest;
use support::run::*;
use support::*;

fn export_json(p: &Packed, layout: &std::path::Path) -> serde_json::Value {
    let out = ferry_ok([
        "export".to_string(),
        p.dir.display().to_string(),
        "--trusted-key".into(),
        p.pubkey.display().to_string(),
        "--to".into(),
        format!("oci:{}", layout.display()),
        "--json".into(),
    ]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn every_exported_image_copies_with_skopeo_and_keeps_its_digest() {
    let set = fixtures_small();
    let mut lines = local_lines(set);
    lines.push(oci_line(&set.nested_index));
    let p = pack(&lines, &[]);
    let layout = p.tmp.path().join("layout");
    let report = export_json(&p, &layout);
    assert!(all_ok(&report), "{report}");

    let root = ferry::bundle::Bundle::open(&p.dir).unwrap();
    let target = TestRegistry::plain();
    let dest = skopeo_tls_args(&target);
    let images = report["images"].as_array().unwrap();
    assert_eq!(images.len(), root.root().images.len());
    for (i, (img, r)) in root.root().images.iter().zip(images).enumerate() {
        // The report names where to read each image: oci:DIR:<upstream name>.
        let source = r["mirror"].as_str().unwrap();
        let expected = format!("oci:{}:", layout.display());
        assert!(source.starts_with(&expected), "{source}");
        let repo = format!("exported/image{i}");
        let dest_ref = format!("docker://{}/{repo}@{}", target.host(), img.digest);
        let mut args = vec![
            "copy".to_string(),
            "--all".into(),
            "--preserve-digests".into(),
            "-q".into(),
        ];
        args.extend(dest.dest.clone());
        args.push(source.to_string());
        args.push(format!("docker://{}/{repo}:x", target.host()));
        let out = skopeo_output(&args);
        assert!(
            out.status.success(),
            "skopeo copy {source}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut inspect = vec!["inspect".to_string(), "--raw".into()];
        inspect.extend(dest.inspect.clone());
        inspect.push(dest_ref);
        let raw = skopeo(&inspect);
        assert_eq!(Digest::sha256_of(&raw), img.digest, "{}", img.name);
    }
}

#[test]
fn a_second_export_into_the_same_layout_writes_no_blob_again() {
    let set = fixtures_small();
    let p = pack(
        &[oci_line(set.image("app-a")), oci_line(set.image("app-b"))],
        &[],
    );
    let layout = p.tmp.path().join("layout");
    let first = export_json(&p, &layout);
    assert!(first["blobs_written"].as_u64().unwrap() > 0, "{first}");
    let second = export_json(&p, &layout);
    assert_eq!(second["blobs_written"], 0, "{second}");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2, "{index}");
}
