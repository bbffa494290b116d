//! Incremental layers end to end: an N+1 gzip layer packed against its N layer as a `gzip-tar`
//! blob (format 1.2) into a real bundle, verified, and rebuilt byte for byte from the bundle and
//! the N layer; a wrong base is an error, never a wrong layer.

#[path = "support/layers.rs"]
mod layers;

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use ferry::bundle::root::ChunkingInfo;
use ferry::bundle::writer::{BundleWriter, RootContent};
use ferry::bundle::{BlobEncoding, Bundle, Verified};
use ferry::layerdelta::{encode_layer, store_layer, BaseCandidate, Encoded, SpooledBases};
use ferry::model::{Digest, MediaType};
use ferry::progress::Silent;
use ferry::sign::{KeyId, SecretKey};
use layers::Writer;

const GZIP_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

struct Pair {
    n: Vec<u8>,
    n1: Vec<u8>,
}

fn pair(writer: Writer) -> Pair {
    let files = layers::files(21, 300, 3 << 20);
    let n = layers::compress(writer, &layers::tar(&files));
    let n1 = layers::compress(writer, &layers::tar(&layers::patched(&files, 4)));
    Pair { n, n1 }
}

fn key() -> SecretKey {
    SecretKey::from_seed(*b"ferry layer delta test key 0001!", KeyId(*b"layerdlt"))
}

/// Packs `layer` against `base` into a bundle in `dir`; returns the bundle, verified.
fn pack(dir: &Path, layer: &[u8], base: &[u8]) -> Bundle<Verified> {
    let digest = Digest::sha256_of(layer);
    let spool = tempfile::tempdir().unwrap();
    let bases = vec![BaseCandidate {
        digest: Digest::sha256_of(base),
        blob: Box::new(io::Cursor::new(base.to_vec())),
    }];
    let plan = match encode_layer(layer, &digest, bases, spool.path()).unwrap() {
        Encoded::Delta(plan) => plan,
        Encoded::Whole(why) => panic!("shipped whole: {why}"),
    };
    assert!(plan.skipped_bases.is_empty());
    let (mut w, _) = BundleWriter::open(dir, "layer-delta-test", None).unwrap();
    let media = MediaType::from(GZIP_LAYER);
    let stored = store_layer(&plan, &mut w, &media, 3).unwrap();
    eprintln!(
        "layer {} bytes: new tar {} bytes, reconstruction data {} bytes, stored {} bytes",
        layer.len(),
        stored.new_bytes,
        stored.recipe_bytes,
        stored.stored_bytes
    );
    // The point of the encoding: far less than the layer.
    assert!(
        stored.stored_bytes * 5 < layer.len() as u64,
        "stored {} of {}",
        stored.stored_bytes,
        layer.len()
    );
    let content = RootContent {
        created: "2026-01-01T00:00:00Z".into(),
        mtime: 1_767_225_600,
        sequence: 1_767_225_600,
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
    w.finish(content, &key(), None).unwrap();
    Bundle::open(dir)
        .unwrap()
        .verify(&key().public_key())
        .unwrap()
}

/// Base layers served from memory by compressed digest, spooled like a push does.
fn bases_of(blobs: &[&[u8]], spool: &Path) -> SpooledBases<'static> {
    let map: Arc<HashMap<Digest, Vec<u8>>> = Arc::new(
        blobs
            .iter()
            .map(|b| (Digest::sha256_of(b), b.to_vec()))
            .collect(),
    );
    SpooledBases::new(
        spool,
        Box::new(move |d: &Digest| -> io::Result<Box<dyn Read + Send>> {
            let b = map
                .get(d)
                .cloned()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no base {d}")))?;
            Ok(Box::new(io::Cursor::new(b)))
        }),
    )
}

fn rebuild_from_bundle(
    bundle: &Bundle<Verified>,
    digest: &Digest,
    bases: &[&[u8]],
) -> io::Result<Vec<u8>> {
    let spool = tempfile::tempdir().unwrap();
    let mut r = bundle
        .blob_reader_with_bases(digest, true, Box::new(bases_of(bases, spool.path())))
        .unwrap();
    let mut out = Vec::new();
    r.read_to_end(&mut out)?;
    Ok(out)
}

fn packs_and_rebuilds_exactly(writer: Writer) {
    let p = pair(writer);
    let dir = tempfile::tempdir().unwrap();
    let bundle = pack(dir.path(), &p.n1, &p.n);
    let root = bundle.root();
    assert_eq!(root.format, "1.3");
    assert_eq!(root.blobs.len(), 1);
    assert_eq!(root.blobs[0].encoding, BlobEncoding::GzipTar);
    let report = ferry::bundle::verify::verify(&bundle, 1, &Silent);
    assert!(report.is_ok(), "{:?}", report.damage);
    assert_eq!(report.layers_checked_at_push, 1);
    let digest = Digest::sha256_of(&p.n1);
    let out = rebuild_from_bundle(&bundle, &digest, &[&p.n]).unwrap();
    assert!(
        out == p.n1,
        "{writer:?}: the layer rebuilt from the bundle differs"
    );
    // Read without base layers, the blob is refused by name, not rebuilt wrong.
    let err = bundle
        .blob_reader(&digest, true)
        .unwrap()
        .read_to_end(&mut Vec::new())
        .unwrap_err();
    assert!(err.to_string().contains("rebuilt"), "{err}");
}

#[test]
fn a_go_written_n1_layer_packs_against_n_and_rebuilds_byte_for_byte() {
    packs_and_rebuilds_exactly(Writer::GoStd(6));
}

#[test]
fn a_pgzip_written_n1_layer_packs_against_n_and_rebuilds_byte_for_byte() {
    packs_and_rebuilds_exactly(Writer::Pgzip);
}

#[test]
fn a_zlib_written_n1_layer_packs_against_n_and_rebuilds_byte_for_byte() {
    packs_and_rebuilds_exactly(Writer::PythonZlib);
}

#[test]
fn a_wrong_base_layer_is_an_error_never_a_wrong_layer() {
    let p = pair(Writer::GoStd(6));
    let dir = tempfile::tempdir().unwrap();
    let bundle = pack(dir.path(), &p.n1, &p.n);
    let digest = Digest::sha256_of(&p.n1);
    // Another layer served under the base's digest: its ranges do not hash as recorded.
    let other = layers::compress(
        Writer::GoStd(6),
        &layers::tar(&layers::files(99, 300, 3 << 20)),
    );
    let spool = tempfile::tempdir().unwrap();
    let base_digest = Digest::sha256_of(&p.n);
    let served = Arc::new(other);
    let swapped = SpooledBases::new(
        spool.path(),
        Box::new(move |d: &Digest| -> io::Result<Box<dyn Read + Send>> {
            assert_eq!(d, &base_digest);
            Ok(Box::new(io::Cursor::new(served.to_vec())))
        }),
    );
    let mut out = Vec::new();
    let err = bundle
        .blob_reader_with_bases(&digest, true, Box::new(swapped))
        .unwrap()
        .read_to_end(&mut out)
        .unwrap_err();
    assert!(out.len() < p.n1.len());
    assert!(err.to_string().contains("base layer"), "{err}");
    // A base that cannot be read at all is named too.
    let err = rebuild_from_bundle(&bundle, &digest, &[]).unwrap_err();
    assert!(err.to_string().contains("base layer"), "{err}");
}

#[test]
fn a_zstd_layer_is_shipped_whole_with_the_reason() {
    let tar = layers::tar(&layers::files(5, 40, 100_000));
    let z = zstd::encode_all(&tar[..], 3).unwrap();
    let spool = tempfile::tempdir().unwrap();
    match encode_layer(&z[..], &Digest::sha256_of(&z), vec![], spool.path()).unwrap() {
        Encoded::Whole(why) => assert!(why.to_string().contains("not a gzip"), "{why}"),
        Encoded::Delta(_) => panic!("a zstd layer was encoded"),
    }
}
