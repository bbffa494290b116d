use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

use super::analyze::analyze_in_pieces;
use super::*;

/// Text and binary-like bytes, deterministic: a tar-ish mix that compresses like a layer.
pub(crate) fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut x = seed | 1;
    let words = [
        &b"package "[..],
        b"func main() {\n",
        b"\treturn err\n",
        b"#!/bin/sh\nset -e\n",
        b"/usr/lib/x86_64-linux-gnu/",
        b"Copyright (c) ",
    ];
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x.is_multiple_of(5) {
            for _ in 0..(x >> 8) % 64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                out.push((x >> 24) as u8);
            }
        } else {
            out.extend_from_slice(words[(x >> 16) as usize % words.len()]);
        }
    }
    out.truncate(len);
    out
}

/// `data` gzip'd by flate2 at `level`.
pub(crate) fn gzip(data: &[u8], level: u32) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::new(level));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn a_flate2_layer_rebuilds_exactly_from_many_pieces() {
    // The engine estimates the encoder's parameters from the first piece only, so the first
    // piece must be large enough to show them (in production a piece is 64 MiB). Level 6 of
    // flate2's miniz_oxide backend does not continue across pieces (see the next test).
    let data = content(6 << 20, 7);
    for level in [1, 9] {
        let gz = gzip(&data, level);
        let mut tar = Vec::new();
        let recipe = analyze_in_pieces(&gz[..], &mut tar, 1 << 20, 1 << 20).unwrap();
        assert_eq!(tar, data);
        assert!(recipe.pieces.len() > 3, "{} pieces", recipe.pieces.len());
        assert_eq!(recipe.layer_digest, crate::model::Digest::sha256_of(&gz));
        let parsed = Recipe::from_bytes(&recipe.to_bytes()).unwrap();
        assert_eq!(parsed, recipe);
        assert_eq!(recipe.to_bytes().len(), recipe.encoded_len());
        let mut out = Vec::new();
        let n = rebuild(&parsed, &tar[..], &mut out).unwrap();
        assert_eq!(n, gz.len() as u64);
        assert!(out == gz, "level {level}: rebuilt bytes differ");
    }
}

/// The engine's limit, pinned: a miniz_oxide level-6 stream analysed in pieces fails in a
/// later piece ("no match found"); that must be an error (the packer ships the whole blob),
/// never a recipe. When the engine learns to continue such streams, this test says so.
#[test]
fn a_stream_the_engine_cannot_continue_across_pieces_is_an_error() {
    let data = content(6 << 20, 7);
    let gz = gzip(&data, 6);
    let err = analyze_in_pieces(&gz[..], std::io::sink(), 2 << 20, 4 << 20).unwrap_err();
    assert!(
        matches!(err, RegenError::Engine { offset, .. } if offset > 0),
        "{err}"
    );
    // As one piece it is exact.
    let mut tar = Vec::new();
    let recipe = analyze(&gz[..], &mut tar).unwrap();
    assert_eq!(recipe.pieces.len(), 1);
    prove(&recipe, &tar[..]).unwrap();
}

#[test]
fn damaged_reconstruction_data_is_an_error_never_a_layer() {
    let data = content(1 << 20, 3);
    let gz = gzip(&data, 9);
    let mut tar = Vec::new();
    let recipe = analyze(&gz[..], &mut tar).unwrap();
    let bytes = recipe.to_bytes();
    let mut damaged_some = 0;
    // Flip one byte at a time at positions spread over the pieces' engine data.
    let first_piece = bytes.len()
        - recipe
            .pieces
            .iter()
            .map(|p| 12 + p.data.len())
            .sum::<usize>();
    for pos in (first_piece + 12..bytes.len()).step_by(bytes.len() / 12 + 1) {
        let mut b = bytes.clone();
        b[pos] ^= 0x5a;
        let Ok(r) = Recipe::from_bytes(&b) else {
            continue;
        };
        let mut out = Vec::new();
        match rebuild(&r, &tar[..], &mut out) {
            Ok(_) => assert!(out == gz, "damage at {pos} gave different bytes as good"),
            Err(_) => {
                damaged_some += 1;
                // The trailer is withheld on a mismatch: what was written is never the layer.
                assert!(out != gz, "all bytes handed out despite the error");
            }
        }
    }
    assert!(damaged_some > 0);
}

#[test]
fn the_wrong_content_or_engine_is_refused() {
    let data = content(200_000, 5);
    let gz = gzip(&data, 6);
    let recipe = analyze(&gz[..], std::io::sink()).unwrap();
    let mut other = data.clone();
    other[100_000] ^= 1;
    assert!(rebuild(&recipe, &other[..], std::io::sink()).is_err());
    assert!(matches!(
        rebuild(&recipe, &data[..1000], std::io::sink()),
        Err(RegenError::TarMismatch(_))
    ));
    let mut longer = data.clone();
    longer.push(0);
    assert!(matches!(
        rebuild(&recipe, &longer[..], std::io::sink()),
        Err(RegenError::TarMismatch(_))
    ));
    let mut foreign = recipe.clone();
    foreign.engine = "preflate-rs-0.7.7".into();
    assert!(matches!(
        rebuild(&foreign, &data[..], std::io::sink()),
        Err(RegenError::WrongEngine { .. })
    ));
    prove(&recipe, &data[..]).unwrap();
}

#[test]
fn multi_member_gzip_and_zstd_are_refused() {
    let mut two = gzip(b"first member", 6);
    two.extend(gzip(b"second member", 6));
    assert!(matches!(
        analyze(&two[..], std::io::sink()),
        Err(RegenError::MultiMember(_))
    ));
    let z = zstd::encode_all(&b"zstd layer"[..], 3).unwrap();
    assert!(matches!(
        analyze(&z[..], std::io::sink()),
        Err(RegenError::NotGzip(_))
    ));
    let gz = gzip(&content(100_000, 1), 6);
    assert!(matches!(
        analyze(&gz[..gz.len() - 20], std::io::sink()),
        Err(RegenError::BadGzip(_))
    ));
}
