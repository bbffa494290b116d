//! Byte-exact regeneration of gzip layers written by the encoders container tools use:
//! Go compress/gzip (levels 1, 6, 9: docker, moby, BuildKit), klauspost/pgzip (podman, buildah,
//! skopeo), GNU gzip and zlib. Each layer is analysed into its tar and reconstruction data and
//! rebuilt from them; the rebuilt bytes must hash to the layer's digest.

#[path = "support/layers.rs"]
mod layers;

use ferry::model::Digest;
use ferry::regen::shape::{parse_gzip, ShapeEncoder};
use ferry::regen::{analyze, rebuild, Recipe, RegenError};
use layers::Writer;

/// A tar of a few MB: text files, binaries, one 2 MB binary.
fn layer_tar() -> Vec<u8> {
    layers::tar(&layers::files(13, 250, 2 << 20))
}

fn round_trip(writer: Writer) {
    let tar = layer_tar();
    assert!(tar.len() > 3 << 20, "tar of {} bytes", tar.len());
    let gz = layers::compress(writer, &tar);
    let mut got_tar = Vec::new();
    let recipe = analyze(&gz[..], &mut got_tar)
        .unwrap_or_else(|e| panic!("{writer:?}: analysis refused the layer: {e}"));
    assert!(got_tar == tar, "{writer:?}: the analysed tar differs");
    assert_eq!(recipe.layer_digest, Digest::sha256_of(&gz));
    // Through the byte format, as a bundle carries it.
    let recipe = Recipe::from_bytes(&recipe.to_bytes()).unwrap();
    let mut out = Vec::new();
    rebuild(&recipe, &tar[..], &mut out).unwrap();
    assert!(out == gz, "{writer:?}: the rebuilt layer differs");
    shape_round_trip(writer, &gz, &tar);
    eprintln!(
        "{writer:?}: gzip {} bytes, reconstruction data {} bytes ({:.2} %)",
        gz.len(),
        recipe.encoded_len(),
        recipe.encoded_len() as f64 * 100.0 / gz.len() as f64
    );
}

/// The token-shape engine: the layer parsed into its two streams and rebuilt from them and its
/// tar, byte for byte.
fn shape_round_trip(writer: Writer, gz: &[u8], tar: &[u8]) {
    use std::io::BufReader;
    let (mut got_tar, mut blocks, mut shape) = (Vec::new(), Vec::new(), Vec::new());
    let parsed = parse_gzip(gz, &mut got_tar, &mut blocks, &mut shape)
        .unwrap_or_else(|e| panic!("{writer:?}: the shape engine refused the layer: {e}"));
    assert!(got_tar == tar, "{writer:?}: the parsed tar differs");
    let mut enc = ShapeEncoder::new(
        BufReader::new(&blocks[..]),
        BufReader::new(&shape[..]),
        BufReader::new(tar),
    );
    let mut out = parsed.header.clone();
    while let Some(b) = enc.next_bytes().unwrap() {
        out.extend_from_slice(&b);
    }
    out.extend_from_slice(&parsed.trailer);
    assert!(
        out == gz,
        "{writer:?}: the shape engine's rebuilt layer differs"
    );
    eprintln!(
        "{writer:?}: blocks stream {} bytes, shape stream {} bytes",
        blocks.len(),
        shape.len()
    );
}

#[test]
fn go_compress_gzip_level_1_rebuilds_exactly() {
    round_trip(Writer::GoStd(1));
}

#[test]
fn go_compress_gzip_level_6_rebuilds_exactly() {
    round_trip(Writer::GoStd(6));
}

#[test]
fn go_compress_gzip_level_9_rebuilds_exactly() {
    round_trip(Writer::GoStd(9));
}

#[test]
fn klauspost_pgzip_default_rebuilds_exactly() {
    round_trip(Writer::Pgzip);
}

#[test]
fn gnu_gzip_rebuilds_exactly() {
    round_trip(Writer::GnuGzip);
}

#[test]
fn python_zlib_rebuilds_exactly() {
    round_trip(Writer::PythonZlib);
}

/// Damaged reconstruction data of a Go-written layer: the rebuild fails, and never hands out
/// the whole (wrong) layer as good.
#[test]
fn damaged_reconstruction_data_of_a_go_layer_is_detected() {
    let tar = layer_tar();
    let gz = layers::compress(Writer::GoStd(6), &tar);
    let recipe = analyze(&gz[..], std::io::sink()).unwrap();
    let bytes = recipe.to_bytes();
    let data_start = bytes.len()
        - recipe
            .pieces
            .iter()
            .map(|p| 12 + p.data.len())
            .sum::<usize>();
    let mut failures = 0;
    for k in 1..=8 {
        let pos = data_start + 12 + (bytes.len() - data_start - 12) * k / 9;
        let mut damaged = bytes.clone();
        damaged[pos] ^= 0x24;
        let r = Recipe::from_bytes(&damaged).unwrap();
        let mut out = Vec::new();
        match rebuild(&r, &tar[..], &mut out) {
            Ok(_) => assert!(out == gz, "damage at byte {pos} passed wrong bytes as good"),
            Err(e) => {
                failures += 1;
                // The trailer is withheld on a mismatch: what was written is never the layer.
                assert!(out != gz, "the whole layer was written despite {e}");
                assert!(
                    matches!(
                        e,
                        RegenError::DigestMismatch { .. } | RegenError::Engine { .. }
                    ),
                    "{e}"
                );
            }
        }
    }
    assert!(failures > 0, "no damage was detected");
}
