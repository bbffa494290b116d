//! Issue #13, `pack --base FILE --volume-size SIZE`: an incremental bundle cut into volumes.
//! Every volume carries the root, and the root of an incremental bundle holds the piece lists
//! of its `gzip-tar` blobs, known only once the layers are encoded: the first volumes must
//! still leave room for it. Version N of an image goes to a real registry (the site), the
//! site's inventory comes back, and N+1 (most of one layer rewritten, one layer new) is packed
//! against it into 16 MiB volumes; the bundle verifies, pushes onto the site and every N+1
//! image reads back with its digest through skopeo.

mod support;

#[path = "support/layers.rs"]
mod layers;

use std::io::Write;
use std::path::{Path, PathBuf};

use ferry::model::Digest;
use ferry_fixtures::media;
use support::run::*;
use support::site_images::*;
use support::*;

/// The smallest volume `--volume-size` takes, 16 MiB.
const VOLUME: u64 = 16 << 20;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

/// `len` bytes that neither gzip nor zstd shrink, so that volume counts are predictable.
fn noise(rng: &mut layers::Rng, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        v.extend_from_slice(&rng.next().to_le_bytes());
    }
    v.truncate(len);
    v
}

/// The site's inventory, taken from `site` into `dir/site.inventory`.
fn inventory(site: &TestRegistry, dir: &Path) -> PathBuf {
    let inv = dir.join("site.inventory");
    let mut args = vec![
        "inventory".to_string(),
        "--from".into(),
        site.host(),
        "--out".into(),
        inv.display().to_string(),
    ];
    args.extend(registry_flags(site, dir));
    ferry_ok(&args);
    inv
}

#[test]
fn issue_13_an_incremental_bundle_in_small_volumes_keeps_room_for_its_piece_lists() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let source = TestRegistry::plain();
    let site = TestRegistry::plain();
    let mut rng = layers::Rng::new(13);
    // N: one layer of 2,400 files of 16 KiB. N+1 rewrites every other file (about 19 MiB of
    // new content, more than one volume holds, in some 4,000 pieces) and adds a layer of
    // 20 MiB: the incremental bundle needs three volumes.
    let files_n: Vec<(String, Vec<u8>)> = (0..2400)
        .map(|i| (format!("usr/lib/f{i:04}.bin"), noise(&mut rng, 16 << 10)))
        .collect();
    let mut files_n1 = files_n.clone();
    for (i, f) in files_n1.iter_mut().enumerate() {
        if i % 2 == 0 {
            f.1 = noise(&mut rng, 16 << 10);
        }
    }
    let added = vec![("opt/new.bin".to_string(), noise(&mut rng, 20 << 20))];
    let layer_n = gzip(&layers::tar(&files_n));
    let n_digest = push_image(
        &source,
        d,
        "ns/app",
        "v1",
        &[&layer_n],
        media::OCI_LAYER_GZIP,
    )
    .0;
    let n1_layers = [gzip(&layers::tar(&files_n1)), gzip(&layers::tar(&added))];
    let n1_digest = push_image(
        &source,
        d,
        "ns/app",
        "v2",
        &[&n1_layers[0], &n1_layers[1]],
        media::OCI_LAYER_GZIP,
    )
    .0;
    // A second N+1 image sharing the changed layer: one blob, two images.
    let other_digest = push_image(
        &source,
        d,
        "ns/other",
        "v2",
        &[&n1_layers[0]],
        media::OCI_LAYER_GZIP,
    )
    .0;
    drop((files_n, files_n1, added, layer_n));

    let (key, pubkey) = keygen(d, "k");
    let src_flags = registry_flags(&source, d);
    let line = |repo: &str, tag: &str| format!("{}/{repo}:{tag}", source.host());

    // Month 1: N, whole, onto the site; its inventory comes back.
    let list = write_list(d, "n.txt", &[line("ns/app", "v1")]);
    let full_n = d.join("n");
    ferry_ok(pack_args(&list, &key, &full_n, &src_flags));
    let report: serde_json::Value =
        serde_json::from_str(&ferry_ok(push_args(&full_n, &pubkey, &site, d))).unwrap();
    assert!(all_ok(&report), "{report:#}");
    let inv = inventory(&site, d);

    // Month 2: N+1 against the inventory, in 16 MiB volumes.
    let n1_lines = [line("ns/app", "v2"), line("ns/other", "v2")];
    let list = write_list(d, "n1.txt", &n1_lines);
    let inc = d.join("n1");
    let mut extra = src_flags.clone();
    extra.extend([
        "--base".to_string(),
        inv.display().to_string(),
        "--volume-size".into(),
        VOLUME.to_string(),
        "--json".into(),
    ]);
    let packed: serde_json::Value =
        serde_json::from_str(&ferry_ok(pack_args(&list, &key, &inc, &extra))).unwrap();
    let vols = volumes(&inc);
    assert_eq!(
        packed["volumes"].as_array().map_or(0, Vec::len),
        vols.len(),
        "{packed:#}"
    );
    assert!(vols.len() >= 3, "{} volumes: {packed:#}", vols.len());
    for v in &vols {
        let len = std::fs::metadata(v).unwrap().len();
        assert!(len <= VOLUME, "{} is {len} bytes", v.display());
    }
    let info: serde_json::Value =
        serde_json::from_str(&ferry_ok(["inspect", inc.to_str().unwrap(), "--json"])).unwrap();
    assert_eq!(info["volume_count"], vols.len(), "{info:#}");
    assert_eq!(info["volumes"].as_array().unwrap().len(), vols.len());
    let encodings: Vec<&str> = info["blob_encodings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["encoding"].as_str().unwrap())
        .collect();
    assert!(encodings.contains(&"gzip-tar"), "{encodings:?}");
    assert!(info["layers_as_changes"].as_u64().unwrap() >= 1, "{info:#}");
    assert!(info["blobs_in_base"].as_u64().unwrap() == 0, "{info:#}");
    // The root, in every volume, is large: the piece lists it was given room for.
    let root_bytes = info["root_bytes"].as_u64().unwrap();
    eprintln!(
        "{} volumes, root {root_bytes} bytes, sizes {:?}",
        vols.len(),
        info["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["file_size"].as_u64().unwrap())
            .collect::<Vec<_>>()
    );

    // verify passes on it.
    verify_ok(&inc, &pubkey, &[]);

    // Pushed onto the site that holds N: every N+1 image, read back by skopeo, hashes to its
    // manifest digest; check agrees.
    let report: serde_json::Value =
        serde_json::from_str(&ferry_ok(push_args(&inc, &pubkey, &site, d))).unwrap();
    assert!(all_ok(&report), "{report:#}");
    let seg = source.host().replace(':', "_");
    for (repo, digest) in [
        ("ns/app", &n1_digest),
        ("ns/other", &other_digest),
        ("ns/app", &n_digest),
    ] {
        let flags = skopeo_tls_args(&site);
        let mut a = vec!["inspect".to_string(), "--raw".into()];
        a.extend(flags.inspect);
        a.push(format!(
            "docker://{}/mirror/{seg}/{repo}@{digest}",
            site.host()
        ));
        let raw = skopeo(&a);
        assert_eq!(Digest::sha256_of(&raw).to_string(), *digest, "{repo}");
    }
    let mut args = vec![
        "check".to_string(),
        inc.display().to_string(),
        "--to".into(),
        site.host(),
        "--trusted-key".into(),
        pubkey.display().to_string(),
    ];
    args.extend(registry_flags(&site, d));
    ferry_ok(&args);

    // A volume too small to hold a root beside any data refuses before anything is written,
    // naming the flag (a usage error).
    let small = d.join("small");
    let mut extra = src_flags.clone();
    extra.extend([
        "--base".to_string(),
        inv.display().to_string(),
        "--volume-size".into(),
        "1MiB".into(),
    ]);
    let out = ferry(pack_args(&list, &key, &small, &extra));
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("--volume-size 1048576 is too small"), "{t}");
    assert!(!small.exists() || volumes(&small).is_empty(), "{t}");
}
