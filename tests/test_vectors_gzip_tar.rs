//! bundle-format/test-vectors/gzip-tar: a format 1.2 bundle holding one `gzip-tar` layer (an
//! N+1 layer carried against its N layer, SPEC.md §4.8), the base layer it needs, and the
//! expected digests. The vector must come out byte for byte as recorded
//! (`FERRY_UPDATE_VECTORS=1` rewrites it, then fails: review and run again), and the checked-in
//! bundle must rebuild the layer exactly from the checked-in base.

#[path = "support/expected.rs"]
mod expected;
#[path = "support/layers.rs"]
mod layers;

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use ferry::bundle::root::ChunkingInfo;
use ferry::bundle::writer::{BundleWriter, RootContent};
use ferry::bundle::{BaseLayers, Bundle, TarPiece};
use ferry::layerdelta::{encode_layer, store_layer, BaseCandidate, Encoded, SpooledBases};
use ferry::model::{Digest, MediaType};
use ferry::sign::{KeyId, SecretKey};

/// The vector ferry writes now (format 1.3: the token-shape engine, SPEC.md §4.8.1).
const DIR: &str = "bundle-format/test-vectors/gzip-tar-1.3";
/// The format 1.2 vector (the preflate engine), kept so that readers keep rebuilding it.
const DIR_1_2: &str = "bundle-format/test-vectors/gzip-tar";
const SEED: [u8; 32] = *b"ferry bundle format test key v1!";
const KEY_ID: [u8; 8] = *b"ferrytst";
const CREATED: u64 = 1_700_000_000;

/// flate2 (miniz_oxide) level 9, no name, mtime 0: written in process, so the vector does not
/// depend on an external tool's version.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::new(9));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn inputs() -> (Vec<u8>, Vec<u8>) {
    let files = layers::files(1_700, 30, 150_000);
    let n = gzip(&layers::tar(&files));
    let n1 = gzip(&layers::tar(&layers::patched(&files, 17)));
    (n, n1)
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

/// Serves one base layer from a file.
fn base_from(path: PathBuf, spool: &Path) -> SpooledBases<'static> {
    SpooledBases::new(
        spool,
        Box::new(move |_: &Digest| -> io::Result<Box<dyn Read + Send>> {
            Ok(Box::new(std::fs::File::open(&path)?))
        }),
    )
}

#[test]
fn the_gzip_tar_vector_is_reproduced_byte_for_byte() {
    let dir = Path::new(DIR);
    let mut files = expected::Expected::new("FERRY_UPDATE_VECTORS");
    let key = SecretKey::from_seed(SEED, KeyId(KEY_ID));
    let (n, n1) = inputs();
    let (n_digest, n1_digest) = (Digest::sha256_of(&n), Digest::sha256_of(&n1));
    assert!(
        files.matches(&dir.join("base-layer.tar.gz"), &n),
        "base-layer.tar.gz differs"
    );
    assert!(
        files.matches(&dir.join("layer.tar.gz"), &n1),
        "layer.tar.gz differs"
    );

    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bundle");
    let plan = match encode_layer(
        &n1[..],
        &n1_digest,
        vec![BaseCandidate {
            digest: n_digest.clone(),
            blob: Box::new(io::Cursor::new(n.clone())),
        }],
        tmp.path(),
    )
    .unwrap()
    {
        Encoded::Delta(p) => p,
        Encoded::Whole(why) => panic!("{why}"),
    };
    let (mut w, _) = BundleWriter::open(&out, "gzip-tar-vector", None).unwrap();
    let media = MediaType::from("application/vnd.oci.image.layer.v1.tar+gzip");
    store_layer(&plan, &mut w, &media, 3).unwrap();
    let content = RootContent {
        created: "2023-11-14T22:13:20Z".into(),
        mtime: CREATED,
        sequence: CREATED,
        images: vec![],
        manifests: vec![],
        chunking: ChunkingInfo {
            algorithm: "fastcdc-2020".into(),
            min: 524_288,
            avg: 1_048_576,
            max: 8_388_608,
        },
        release_signatures: vec![],
        catalog_sources: vec![],
        base: None,
        in_base: vec![],
    };
    w.finish(content, &key, None).unwrap();
    let volume = only_tar(&out);
    let name = volume.file_name().unwrap().to_str().unwrap().to_string();
    let bytes = std::fs::read(&volume).unwrap();
    if files.updating() && !dir.join("bundle").join(&name).exists() {
        let _ = std::fs::remove_dir_all(dir.join("bundle"));
    }
    assert!(
        files.matches(&dir.join("bundle").join(&name), &bytes),
        "the bundle differs from what ferry writes now"
    );
    let b = Bundle::open(&out)
        .unwrap()
        .verify(&key.public_key())
        .unwrap();
    let root = b.root();
    let blob = &root.blobs[0];
    let layer = blob.layer.as_ref().unwrap();
    let expected = serde_json::json!({
        "format": root.format,
        "bundle_id": root.bundle_id,
        "root_digest": Digest::sha256_of(b.root_bytes()).to_string(),
        "volume_file": name,
        "volume_digest": Digest::sha256_of(&bytes).to_string(),
        "base_layer": {"digest": n_digest.to_string(), "size": n.len()},
        "layer": {"digest": n1_digest.to_string(), "size": n1.len(),
                  "tar_digest": layer.tar_digest.to_string(), "tar_size": layer.tar_size},
        "recipe_chunks": blob.chunks.iter().map(|&i| root.chunks[i as usize].digest().to_string()).collect::<Vec<_>>(),
        "pieces": layer.pieces.iter().map(|p| match p {
            TarPiece::Chunk { chunk } => serde_json::json!({"chunk_digest": root.chunks[*chunk as usize].digest().to_string()}),
            TarPiece::Base { offset, length, digest, .. } => serde_json::json!({"base_offset": offset, "length": length, "digest": digest.to_string()}),
        }).collect::<Vec<_>>(),
    });
    let mut pretty = serde_json::to_vec_pretty(&expected).unwrap();
    pretty.push(b'\n');
    assert!(
        files.matches(&dir.join("expected.json"), &pretty),
        "expected.json differs"
    );
    files.finish();
}

#[test]
fn the_checked_in_gzip_tar_bundle_rebuilds_its_layer_from_the_base() {
    rebuild_checked_in(Path::new(DIR), "1.3");
}

#[test]
fn the_format_1_2_gzip_tar_bundle_still_rebuilds_its_layer() {
    rebuild_checked_in(Path::new(DIR_1_2), "1.2");
}

fn rebuild_checked_in(dir: &Path, format: &str) {
    let key =
        ferry::sign::read_public_key(Path::new("bundle-format/test-vectors/test-key.pub")).unwrap();
    let b = Bundle::open(&dir.join("bundle"))
        .unwrap()
        .verify(&key)
        .unwrap();
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    assert_eq!(b.root().format, format);
    let digest = Digest::parse(expected["layer"]["digest"].as_str().unwrap()).unwrap();
    let spool = tempfile::tempdir().unwrap();
    let mut bases = base_from(dir.join("base-layer.tar.gz"), spool.path());
    // The base is what the bundle names.
    let base = Digest::parse(expected["base_layer"]["digest"].as_str().unwrap()).unwrap();
    assert_eq!(
        b.root().blobs[0].layer.as_ref().unwrap().bases,
        vec![base.clone()]
    );
    assert!(bases.read_range(&base, 0, 512).is_ok());
    let mut out = Vec::new();
    b.blob_reader_with_bases(&digest, true, Box::new(bases))
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(Digest::sha256_of(&out), digest);
    assert_eq!(out, std::fs::read(dir.join("layer.tar.gz")).unwrap());
    let report = ferry::bundle::verify::verify(&b, 1, &ferry::progress::Silent);
    assert!(report.is_ok(), "{:?}", report.damage);
}
