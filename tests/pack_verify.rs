//! The connected side end to end: fixtures → `ferry pack` → `ferry verify`, from a real
//! registry, OCI layouts and a docker archive; dedup figures; tampering; volume sizing;
//! reproducibility; minisign interoperability.

mod support;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

use ferry::bundle::Bundle;
use ferry::model::Digest;
use support::run::*;
use support::*;

/// Rebuilds every blob and manifest of a bundle through the library and checks each digest;
/// returns the blob digests.
fn reassemble_all(dir: &Path, pubkey: &Path) -> BTreeSet<String> {
    let key = ferry::sign::read_public_key(pubkey).unwrap();
    let b = Bundle::open(dir).unwrap().verify(&key).unwrap();
    let mut seen = BTreeSet::new();
    for blob in &b.root().blobs {
        let mut r = b.blob_reader(&blob.digest, true).unwrap();
        let mut h = blob.digest.hasher();
        let mut buf = vec![0u8; 1 << 16];
        let mut n_total = 0u64;
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            n_total += n as u64;
            h.update(&buf[..n]);
        }
        assert_eq!(h.finish(), blob.digest, "blob rebuilt byte-identical");
        assert_eq!(n_total, blob.size);
        seen.insert(blob.digest.to_string());
    }
    for m in &b.root().manifests {
        let (_, bytes) = b.manifest_bytes(&m.digest).unwrap();
        assert_eq!(Digest::sha256_of(&bytes), m.digest);
    }
    seen
}

fn inspect_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&ferry_ok([
        "inspect".as_ref(),
        dir.as_os_str(),
        "--json".as_ref(),
    ]))
    .unwrap()
}

#[test]
fn round_trip_from_a_real_registry() {
    let set = fixtures_small();
    let reg = TestRegistry::plain();
    load_fixtures(&reg, set);
    let tmp = tempfile::tempdir().unwrap();
    let (key, pubkey) = keygen(tmp.path(), "k");
    let list = write_list(tmp.path(), "images.txt", &registry_lines(&reg, set));
    let out = tmp.path().join("bundle");
    let mut extra: Vec<String> = vec!["--json".into()];
    extra.extend(registry_flags(&reg, tmp.path()));
    let args = pack_args(&list, &key, &out, &extra);
    let summary: serde_json::Value = serde_json::from_str(&ferry_ok(&args)).unwrap();
    assert_eq!(
        summary["images"].as_array().unwrap().len(),
        set.images.len()
    );
    verify_ok(&out, &pubkey, &[]);
    let blobs = reassemble_all(&out, &pubkey);
    // Every fixture blob is carried (foreign layers are not), and each image's top digest is kept.
    for img in &set.images {
        for (d, _, _) in &img.blobs {
            assert!(blobs.contains(d), "{} blob {d} missing", img.slug);
        }
        for f in &img.foreign {
            assert!(!blobs.contains(f), "foreign layer {f} must not be carried");
        }
        let packed = summary["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| {
                i["name"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("/{}", img.repository))
            })
            .unwrap();
        assert_eq!(packed["digest"], img.digest.as_str());
    }
}

#[test]
fn round_trip_from_oci_layouts_and_docker_archive_with_dedup() {
    let set = fixtures_small();
    let tmp = tempfile::tempdir().unwrap();
    let (key, pubkey) = keygen(tmp.path(), "k");
    let list = write_list(tmp.path(), "images.txt", &local_lines(set));
    let out = tmp.path().join("bundle");
    ferry_ok([
        "pack",
        "--images",
        list.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    verify_ok(&out, &pubkey, &[]);
    reassemble_all(&out, &pubkey);
    let info = inspect_json(&out);
    let d = &info["dedup"];
    let unique = d["unique_blob_bytes"].as_u64().unwrap();
    let bundle = d["bundle_bytes"].as_u64().unwrap();
    let sum = d["sum_of_image_sizes"].as_u64().unwrap();
    assert!(
        bundle as f64 <= unique as f64 * 1.01,
        "bundle {bundle} > unique {unique} + 1 %"
    );
    assert!(
        sum > unique,
        "images share blobs, so the sum ({sum}) exceeds the unique bytes ({unique})"
    );
    // The base layer app-a and app-b share is stored once.
    let a: BTreeSet<_> = set
        .image("app-a")
        .blobs
        .iter()
        .map(|b| b.0.clone())
        .collect();
    let b: BTreeSet<_> = set
        .image("app-b")
        .blobs
        .iter()
        .map(|b| b.0.clone())
        .collect();
    let shared: Vec<_> = a.intersection(&b).collect();
    assert!(!shared.is_empty());
    let root_blobs: Vec<String> = info_blobs(&out, &pubkey);
    for s in shared {
        assert_eq!(
            root_blobs.iter().filter(|d| *d == s).count(),
            1,
            "{s} stored once"
        );
    }
    // The docker archive was named after its RepoTags.
    let names: Vec<&str> = info["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"docker.io/ferry/docker-archive:1"),
        "{names:?}"
    );
}

fn info_blobs(dir: &Path, pubkey: &Path) -> Vec<String> {
    let key = ferry::sign::read_public_key(pubkey).unwrap();
    let b = Bundle::open(dir).unwrap().verify(&key).unwrap();
    b.root()
        .blobs
        .iter()
        .map(|b| b.digest.to_string())
        .collect()
}

#[test]
fn reproducible_with_source_date_epoch() {
    let set = fixtures_small();
    let tmp = tempfile::tempdir().unwrap();
    let (key, _) = keygen(tmp.path(), "k");
    let list = write_list(tmp.path(), "images.txt", &local_lines(set));
    let mut outs = Vec::new();
    for i in 0..2 {
        let dir = tmp.path().join(format!("b{i}"));
        let out = std::process::Command::new(ferry_bin())
            .args([
                "pack",
                "--images",
                list.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
                "--out",
                dir.to_str().unwrap(),
                "--volume-size",
                "16MiB",
                "--jobs",
                if i == 0 { "1" } else { "4" },
            ])
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        outs.push(dir);
    }
    let a = volumes(&outs[0]);
    let b = volumes(&outs[1]);
    assert_eq!(a.len(), b.len());
    assert!(!a.is_empty());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.file_name(), y.file_name());
        assert!(
            std::fs::read(x).unwrap() == std::fs::read(y).unwrap(),
            "{} differs",
            x.display()
        );
    }
}

#[test]
fn large_layer_split_across_64mib_volumes_in_any_order() {
    let set = fixtures();
    let large = set.image("large");
    let p = pack(
        &[oci_line(large)],
        &["--volume-size".into(), "64MiB".into()],
    );
    let (dir, pubkey) = (p.dir.clone(), p.pubkey.clone());
    let vols = volumes(&dir);
    assert!(
        vols.len() >= 2,
        "a 100 MiB layer needs at least two 64 MiB volumes"
    );
    for v in &vols {
        let len = std::fs::metadata(v).unwrap().len();
        assert!(len <= 64 * 1024 * 1024, "{} is {len} bytes", v.display());
        // GNU tar lists every volume.
        let out = std::process::Command::new(require_tool("tar"))
            .arg("tf")
            .arg(v)
            .output()
            .unwrap();
        assert!(out.status.success(), "tar tf {}", v.display());
        assert!(String::from_utf8_lossy(&out.stdout).contains("root.json"));
    }
    verify_ok(&dir, &pubkey, &[]);
    // Each volume alone.
    for v in &vols {
        verify_ok(&dir, &pubkey, &["--volume", v.to_str().unwrap()]);
    }
    // Shuffled names: rename in reverse order to names that sort the other way.
    for (i, v) in vols.iter().enumerate() {
        std::fs::rename(v, dir.join(format!("stick-{}.tar", vols.len() - i))).unwrap();
    }
    verify_ok(&dir, &pubkey, &[]);
    reassemble_all(&dir, &pubkey);
}

#[test]
fn platform_filter_keeps_the_index_and_records_absent_children() {
    let set = fixtures_small();
    let multi = set.image("multiarch");
    let p = pack(
        &[oci_line(multi)],
        &["--platform".into(), "linux/arm64".into()],
    );
    let (dir, pubkey) = (p.dir.clone(), p.pubkey.clone());
    verify_ok(&dir, &pubkey, &[]);
    let info = inspect_json(&dir);
    let img = &info["images"][0];
    assert_eq!(
        img["digest"],
        multi.digest.as_str(),
        "original index digest kept"
    );
    assert_eq!(img["platforms"], serde_json::json!(["linux/arm64"]));
    assert_eq!(img["platforms_absent"], serde_json::json!(["linux/amd64"]));
}

#[test]
fn killed_pack_leaves_nothing_verifiable_and_resumes_without_refetching() {
    let set = fixtures();
    let reg = TestRegistry::plain();
    load_fixtures(&reg, set);
    let tmp = tempfile::tempdir().unwrap();
    let (key, pubkey) = keygen(tmp.path(), "k");
    // Small images first, the 100 MiB one last: the kill lands while it streams.
    let mut lines: Vec<String> = set
        .images
        .iter()
        .filter(|i| i.slug != "large")
        .map(|i| registry_ref(&reg, i))
        .collect();
    lines.push(registry_ref(&reg, set.image("large")));
    let list = write_list(tmp.path(), "images.txt", &lines);
    let out = tmp.path().join("bundle");
    let mut extra: Vec<String> = vec!["--jobs".into(), "1".into(), "--json".into()];
    extra.extend(registry_flags(&reg, tmp.path()));
    let args = pack_args(&list, &key, &out, &extra);
    let mut child = std::process::Command::new(ferry_bin())
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill once the journal holds a few completed blobs.
    let journal = out.join(".ferry-pack").join("journal.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let lines = std::fs::read_to_string(&journal)
            .map(|s| s.lines().count())
            .unwrap_or(0);
        if lines >= 4 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "pack finished before it could be interrupted"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "pack made no progress"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success());
    // Nothing there verifies as a bundle, and the message says what to do.
    let v = ferry([
        "verify",
        out.to_str().unwrap(),
        "--trusted-key",
        pubkey.to_str().unwrap(),
    ]);
    assert!(!v.status.success());
    assert!(text(&v).contains("unfinished pack"), "{}", text(&v));
    // The blobs the journal vouches for must not be fetched again.
    let journalled: Vec<String> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|r| r["blob"]["digest"].as_str().unwrap().to_string())
        .collect();
    assert!(journalled.len() >= 3);
    let fetched_before: Vec<usize> = journalled
        .iter()
        .map(|d| reg.count_requests("GET", &format!("/blobs/{d}")))
        .collect();
    let summary: serde_json::Value = serde_json::from_str(&ferry_ok(&args)).unwrap();
    assert_eq!(
        summary["blobs_resumed"].as_u64().unwrap(),
        journalled.len() as u64,
        "{summary:#}"
    );
    for (d, before) in journalled.iter().zip(&fetched_before) {
        assert!(*before >= 1, "{d} was fetched by the first run");
        assert_eq!(
            reg.count_requests("GET", &format!("/blobs/{d}")),
            *before,
            "{d} fetched again"
        );
    }
    verify_ok(&out, &pubkey, &[]);
    reassemble_all(&out, &pubkey);
    assert!(
        !out.join(".ferry-pack").exists(),
        "work in progress is cleared"
    );
}
