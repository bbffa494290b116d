//! Damaged, tampered and mixed-up bundles: every problem `ferry verify` must name, and the
//! signature checked independently by minisign.

mod support;

use support::run::*;
use support::*;

fn pack_small(extra: &[&str]) -> Packed {
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    pack(&local_lines(fixtures_small()), &extra)
}

/// A bundle of several volumes: the 100 MiB `large` image in 16 MiB volumes (the smallest
/// allowed; the small fixtures fit in one).
fn pack_multi() -> Packed {
    let p = pack(
        &[oci_line(fixtures().image("large"))],
        &["--volume-size".to_string(), "16MiB".to_string()],
    );
    let n = volumes(&p.dir).len();
    assert!(n >= 3, "a bundle of several volumes, got {n}");
    p
}

fn verify_fails(p: &Packed, expect: &[&str]) -> String {
    let out = ferry([
        "verify",
        p.dir.to_str().unwrap(),
        "--trusted-key",
        p.pubkey.to_str().unwrap(),
    ]);
    let t = text(&out);
    assert!(!out.status.success(), "verify must fail:\n{t}");
    for e in expect {
        assert!(t.contains(e), "expected {e:?} in:\n{t}");
    }
    t
}

/// A root byte flipped in one volume: its label's digest no longer matches.
#[test]
fn a_root_that_does_not_match_its_label_is_named() {
    let p = pack_small(&[]);
    let v = &volumes(&p.dir)[0];
    let (at, len) = member(v, "root.json");
    flip_byte(v, at + len / 2);
    verify_fails(&p, &["root.json", "damaged or modified"]);
}

/// Rewrites `volume`'s root with `edit` (same length) and its label's `root_digest` to match,
/// so that only the signature can tell.
fn modify_root_consistently(volume: &std::path::Path, edit: impl Fn(&mut Vec<u8>)) {
    use ferry::bundle::volume::VolumeLabel;
    let mut bytes = std::fs::read(volume).unwrap();
    let (at, len) = member(volume, "root.json");
    let mut root = bytes[at as usize..(at + len) as usize].to_vec();
    edit(&mut root);
    assert_eq!(root.len() as u64, len, "the edit keeps the root's length");
    bytes[at as usize..(at + len) as usize].copy_from_slice(&root);
    let (lat, llen) = member(volume, "volume.json");
    let range = lat as usize..(lat + llen) as usize;
    let mut label: VolumeLabel = serde_json::from_slice(&bytes[range.clone()]).unwrap();
    label.root_digest = ferry::model::Digest::sha256_of(&root);
    let label = serde_json::to_vec(&label).unwrap();
    assert_eq!(label.len() as u64, llen, "a digest is as long as another");
    bytes[range].copy_from_slice(&label);
    std::fs::write(volume, bytes).unwrap();
}

/// A modified root with a label that agrees with it, in every volume: the tar structure, the
/// labels and the volume set are all consistent, and only the signature refuses it.
#[test]
fn a_modified_root_with_a_consistent_label_fails_the_signature() {
    let p = pack_multi();
    let vols = volumes(&p.dir);
    for v in &vols {
        // Still valid JSON: the tool's name changes (`ferry` → `gerry`).
        modify_root_consistently(v, |root| {
            let at = root
                .windows(14)
                .position(|w| w == b"\"tool\":\"ferry ")
                .expect("the tool field");
            root[at + 8] = b'g';
        });
    }
    let t = verify_fails(&p, &["not signed by a trusted key or was modified"]);
    assert!(
        !t.contains("damaged or modified"),
        "not caught by a label: {t}"
    );
}

#[test]
fn tampered_signature_fails() {
    let p = pack_small(&[]);
    let v = &volumes(&p.dir)[0];
    let (at, _) = member(v, "root.json.minisig");
    // Inside the first base64 line (the signature), past the untrusted comment.
    let text = std::fs::read_to_string(p.dir.join("..").join("k.pub")).unwrap();
    assert!(text.starts_with("untrusted comment"));
    let sig_start = {
        let f = std::fs::read(v).unwrap();
        let body = &f[at as usize..];
        body.iter().position(|&b| b == b'\n').unwrap() as u64 + 20
    };
    flip_byte(v, at + sig_start);
    verify_fails(&p, &["not signed by a trusted key or was modified"]);
}

#[test]
fn tampered_chunk_data_is_located() {
    let p = pack_small(&[]);
    let v = &volumes(&p.dir)[0];
    flip_byte(v, 512 + 1000);
    let t = verify_fails(&p, &["chunk sha256:", "offset", "images affected"]);
    assert!(
        t.contains(v.file_name().unwrap().to_str().unwrap()),
        "names the volume:\n{t}"
    );
}

#[test]
fn tampered_tar_header_fails() {
    let p = pack_small(&[]);
    let v = &volumes(&p.dir)[0];
    flip_byte(v, 3); // inside the name field of the first header
    verify_fails(&p, &["tar header at offset 0 is damaged"]);
}

#[test]
fn another_key_is_not_trusted() {
    let p = pack_small(&[]);
    let other = tempfile::tempdir().unwrap();
    let (_, other_pub) = keygen(other.path(), "other");
    let out = ferry([
        "verify",
        p.dir.to_str().unwrap(),
        "--trusted-key",
        other_pub.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("not signed by a trusted key"),
        "{}",
        text(&out)
    );
}

#[test]
fn minisign_verifies_the_root() {
    require_tool("minisign");
    let p = pack_small(&[]);
    let v = &volumes(&p.dir)[0];
    let tmp = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(v).unwrap();
    for name in ["root.json", "root.json.minisig"] {
        let (at, len) = member(v, name);
        std::fs::write(
            tmp.path().join(name),
            &bytes[at as usize..(at + len) as usize],
        )
        .unwrap();
    }
    let minisign_verify = || {
        std::process::Command::new("minisign")
            .arg("-V")
            .arg("-p")
            .arg(&p.pubkey)
            .arg("-m")
            .arg(tmp.path().join("root.json"))
            .arg("-x")
            .arg(tmp.path().join("root.json.minisig"))
            .output()
            .unwrap()
    };
    let status = minisign_verify();
    assert!(
        status.status.success(),
        "minisign -V: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    // And it rejects a modified root.
    let mut root = std::fs::read(tmp.path().join("root.json")).unwrap();
    root[10] ^= 1;
    std::fs::write(tmp.path().join("root.json"), root).unwrap();
    assert!(!minisign_verify().status.success());
}

#[test]
fn volume_set_problems_are_named() {
    // A multi-volume bundle of the small fixtures (16 MiB volumes).
    let p = pack_multi();
    let vols = volumes(&p.dir);
    // Missing: move the last volume away.
    let parked = p.dir.join("..").join("parked.tar");
    std::fs::rename(vols.last().unwrap(), &parked).unwrap();
    verify_fails(
        &p,
        &[
            "missing",
            vols.last().unwrap().file_name().unwrap().to_str().unwrap(),
        ],
    );
    std::fs::rename(&parked, vols.last().unwrap()).unwrap();
    // Duplicate.
    let dup = p.dir.join("copy-of-first.tar");
    std::fs::copy(&vols[0], &dup).unwrap();
    verify_fails(&p, &["copy-of-first.tar", "both volume 1"]);
    std::fs::remove_file(&dup).unwrap();
    // Truncated.
    let len = std::fs::metadata(&vols[0]).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&vols[0])
        .unwrap();
    f.set_len(len - 700).unwrap();
    verify_fails(
        &p,
        &["truncated", vols[0].file_name().unwrap().to_str().unwrap()],
    );
}

#[test]
fn a_volume_from_another_bundle_is_named() {
    // The bundle's own volumes outnumber the stray one, so the stray one is the foreign one.
    let p = pack_multi();
    let q = pack_small(&[]);
    let foreign = &volumes(&q.dir)[0];
    let dest = p.dir.join("stray.tar");
    std::fs::copy(foreign, &dest).unwrap();
    verify_fails(&p, &["belongs to bundle", "stray.tar"]);
}

/// Every single-bit flip anywhere in a volume is either reported or harmless (tar padding):
/// the reader never panics, and a flip inside a chunk's stored bytes is always reported.
#[test]
fn random_bit_flips_never_panic_and_payload_damage_is_always_found() {
    let p = pack_small(&[]);
    let v = volumes(&p.dir)[0].clone();
    let original = std::fs::read(&v).unwrap();
    let key = ferry::sign::read_public_key(&p.pubkey).unwrap();
    let payload: Vec<(u64, u64)> = {
        let b = ferry::bundle::Bundle::open(&p.dir)
            .unwrap()
            .verify(&key)
            .unwrap();
        b.root()
            .chunks
            .iter()
            .map(|c| (512 + c.offset(), 512 + c.offset() + c.stored_len()))
            .collect()
    };
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..150 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let at = x % original.len() as u64;
        let mut damaged = original.clone();
        damaged[at as usize] ^= 1 << (x % 8);
        std::fs::write(&v, &damaged).unwrap();
        let found = match ferry::bundle::Bundle::open(&p.dir).and_then(|b| b.verify(&key)) {
            Err(_) => true,
            Ok(b) => !ferry::bundle::verify::verify(&b, 2, &ferry::progress::Silent).is_ok(),
        };
        if payload.iter().any(|(s, e)| (*s..*e).contains(&at)) {
            assert!(
                found,
                "a flip at {at}, inside stored chunk data, went unnoticed"
            );
        }
    }
    std::fs::write(&v, &original).unwrap();
}
