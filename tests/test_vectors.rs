//! bundle-format/test-vectors: the published test key and the tiny bundle packed from the
//! checked-in OCI layout must come out byte for byte as recorded, and verify.
//!
//! `FERRY_UPDATE_VECTORS=1 cargo test --test test_vectors` rewrites those that differ (after a
//! deliberate format change) and then fails naming them: review the diff and run again without
//! it. CI refuses the variable.

#[path = "support/expected.rs"]
mod expected;

use std::path::{Path, PathBuf};

use ferry::bundle::Bundle;
use ferry::model::Digest;
use ferry::pack::{list, pack, PackOptions};
use ferry::progress::Silent;
use ferry::sign::{KeyId, SecretKey};

const VECTORS: &str = "bundle-format/test-vectors";
/// The published test seed and key id. Never use this key for anything real.
const SEED: [u8; 32] = *b"ferry bundle format test key v1!";
const KEY_ID: [u8; 8] = *b"ferrytst";
const CREATED: u64 = 1_700_000_000;
const LIST_LINE: &str =
    "oci:bundle-format/test-vectors/layout:1.0 example.com/ferry/test-vector:1.0";

fn check_or_write(expected: &mut expected::Expected, path: &Path, got: &[u8]) {
    assert!(
        expected.matches(path, got),
        "{} differs from what ferry writes now",
        path.display()
    );
}

fn only_tar(dir: &Path) -> PathBuf {
    let v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "tar"))
        .collect();
    assert_eq!(v.len(), 1, "one volume in {}", dir.display());
    v[0].clone()
}

#[test]
fn test_vectors_are_reproduced_byte_for_byte() {
    let vectors = Path::new(VECTORS);
    let mut files = expected::Expected::new("FERRY_UPDATE_VECTORS");
    let key = SecretKey::from_seed(SEED, KeyId(KEY_ID));
    check_or_write(
        &mut files,
        &vectors.join("test-key"),
        key.to_file_string().as_bytes(),
    );
    check_or_write(
        &mut files,
        &vectors.join("test-key.pub"),
        key.public_key().to_file_string().as_bytes(),
    );

    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bundle");
    let requests = vec![list::parse_line(LIST_LINE).unwrap().unwrap()];
    let opts = PackOptions {
        out: out.clone(),
        volume_size: None,
        jobs: 1,
        platforms: vec![],
        client: Default::default(),
        created: CREATED,
        zstd_level: 3,
        sequence: None,
        source_mirrors: Vec::new(),
        graph_url: None,
        signatures: Default::default(),
        signature_store: None,
        base: Default::default(),
    };
    let summary = pack(&requests, &key, &opts, &Silent).unwrap();
    let volume = only_tar(&out);
    let name = volume.file_name().unwrap().to_str().unwrap().to_string();
    let bytes = std::fs::read(&volume).unwrap();
    if files.updating() && !vectors.join("bundle").join(&name).exists() {
        // The volume's name changed with its content: the old one goes.
        let _ = std::fs::remove_dir_all(vectors.join("bundle"));
    }
    check_or_write(&mut files, &vectors.join("bundle").join(&name), &bytes);

    let b = Bundle::open(&out)
        .unwrap()
        .verify(&key.public_key())
        .unwrap();
    let root = b.root();
    let sig_text = {
        let mut a = tar::Archive::new(std::fs::File::open(&volume).unwrap());
        let mut s = String::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path().unwrap().to_str() == Some("root.json.minisig") {
                std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            }
        }
        s
    };
    let expected = serde_json::json!({
        "list_line": LIST_LINE,
        "source_date_epoch": CREATED,
        "bundle_id": summary.bundle_id,
        "root_digest": Digest::sha256_of(b.root_bytes()).to_string(),
        "volume_file": name,
        "volume_digest": Digest::sha256_of(&bytes).to_string(),
        "image_digest": root.images[0].digest.to_string(),
        "blobs": root.blobs.iter().map(|b| serde_json::json!({"digest": b.digest.to_string(), "size": b.size, "chunks": b.chunks.len()})).collect::<Vec<_>>(),
        "chunks": root.chunks.iter().map(|c| serde_json::json!({"digest": c.digest().to_string(), "compression": c.compression()})).collect::<Vec<_>>(),
        "signature": sig_text,
    });
    let mut pretty = serde_json::to_vec_pretty(&expected).unwrap();
    pretty.push(b'\n');
    check_or_write(&mut files, &vectors.join("expected.json"), &pretty);
    files.finish();
}

#[test]
fn checked_in_vector_bundle_verifies_with_the_published_key() {
    let vectors = Path::new(VECTORS);
    let key = ferry::sign::read_public_key(&vectors.join("test-key.pub")).unwrap();
    let b = Bundle::open(&vectors.join("bundle"))
        .unwrap()
        .verify(&key)
        .unwrap();
    let report = ferry::bundle::verify::verify(&b, 1, &Silent);
    assert!(report.is_ok(), "{:?}", report.damage);
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(vectors.join("expected.json")).unwrap()).unwrap();
    assert_eq!(expected["bundle_id"], b.root().bundle_id.as_str());
    assert_eq!(
        expected["root_digest"],
        Digest::sha256_of(b.root_bytes()).to_string().as_str()
    );
}

/// The format 1.0 vector (before `sequence`), as ferry 0.1 wrote it: still read and verified,
/// its freshness being its creation time.
#[test]
fn format_1_0_vector_still_verifies() {
    let vectors = Path::new(VECTORS);
    let key = ferry::sign::read_public_key(&vectors.join("test-key.pub")).unwrap();
    let b = Bundle::open(&vectors.join("v1.0/bundle"))
        .unwrap()
        .verify(&key)
        .unwrap();
    assert_eq!(b.root().format, "1.0");
    assert_eq!(b.root().sequence, None);
    let report = ferry::bundle::verify::verify(&b, 1, &Silent);
    assert!(report.is_ok(), "{:?}", report.damage);
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(vectors.join("v1.0/expected.json")).unwrap())
            .unwrap();
    assert_eq!(expected["bundle_id"], b.root().bundle_id.as_str());
    let f = b.root().freshness().unwrap();
    assert_eq!((f.created, f.sequence), (CREATED, CREATED));
}

#[test]
fn checked_in_vector_is_format_1_1_with_a_sequence() {
    let vectors = Path::new(VECTORS);
    let key = ferry::sign::read_public_key(&vectors.join("test-key.pub")).unwrap();
    let b = Bundle::open(&vectors.join("bundle"))
        .unwrap()
        .verify(&key)
        .unwrap();
    assert_eq!(b.root().format, "1.1");
    assert_eq!(b.root().sequence, Some(CREATED));
}
