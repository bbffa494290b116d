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

    let root = ferry::bundle::Bundle::open(&p.dir)
        .unwrap()
        .unverified_root()
        .unwrap();
    let target = TestRegistry::plain();
    let dest = skopeo_tls_args(&target);
    let images = report["images"].as_array().unwrap();
    assert_eq!(images.len(), root.images.len());
    for (i, (img, r)) in root.images.iter().zip(images).enumerate() {
        assert_layout_holds(&layout, &root, img);
        if img.media_type.as_str().contains("docker") {
            // Debian's skopeo (1.9) reads only OCI media types from an OCI layout: Docker
            // schema 2 images are checked file by file above, not copied.
            continue;
        }
        let nested = root
            .image_graph(img)
            .unwrap()
            .nodes
            .iter()
            .any(|n| n.depth > 0 && n.is_index());
        if nested {
            // skopeo copies no index of indexes; it reads the top one, which must hash to the
            // image's digest (its children are checked file by file above).
            let raw = skopeo([
                "inspect".to_string(),
                "--raw".into(),
                r["mirror"].as_str().unwrap().to_string(),
            ]);
            assert_eq!(Digest::sha256_of(&raw), img.digest, "{}", img.name);
            continue;
        }
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

/// Every manifest and blob of `img` is in the layout under its digest and hashes to it, and
/// `index.json` names the image.
fn assert_layout_holds(
    layout: &std::path::Path,
    root: &ferry::bundle::Root,
    img: &ferry::bundle::ImageEntry,
) {
    let graph = root.image_graph(img).unwrap();
    let digests = graph
        .nodes
        .iter()
        .map(|n| n.digest.clone())
        .chain(graph.blobs.iter().map(|b| b.digest.clone()));
    for d in digests {
        let path = layout.join("blobs/sha256").join(d.hex());
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(Digest::sha256_of(&bytes), d, "{}", path.display());
    }
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let named = index["manifests"].as_array().unwrap().iter().any(|e| {
        e["digest"] == img.digest.to_string()
            && e["mediaType"] == img.media_type.as_str()
            && e["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .is_some_and(|n| n.starts_with(img.name.split([':', '@']).next().unwrap_or("")))
    });
    assert!(named, "{} not named in index.json: {index}", img.name);
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
