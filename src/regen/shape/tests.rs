use std::io::BufReader;

use super::*;
use crate::model::Digest;
use crate::regen::tests::{content, gzip};

/// Parses `gz` and rebuilds its DEFLATE bytes from the two streams and the content.
fn round_trip(gz: &[u8]) -> (Parsed, Vec<u8>, Vec<u8>, Vec<u8>) {
    let (mut tar, mut blocks, mut shape) = (Vec::new(), Vec::new(), Vec::new());
    let parsed = parse_gzip(gz, &mut tar, &mut blocks, &mut shape).unwrap();
    let mut enc = ShapeEncoder::new(
        BufReader::new(&blocks[..]),
        BufReader::new(&shape[..]),
        BufReader::new(&tar[..]),
    );
    let mut out = parsed.header.clone();
    while let Some(b) = enc.next_bytes().unwrap() {
        out.extend_from_slice(&b);
    }
    out.extend_from_slice(&parsed.trailer);
    assert!(out == gz, "the rebuilt layer differs");
    (parsed, tar, blocks, shape)
}

#[test]
fn flate2_layers_of_every_level_rebuild_exactly() {
    let data = content(3 << 20, 11);
    for level in [0, 1, 6, 9] {
        let gz = gzip(&data, level);
        let (parsed, tar, blocks, shape) = round_trip(&gz);
        assert_eq!(tar, data, "level {level}");
        assert_eq!(parsed.layer_digest, Digest::sha256_of(&gz));
        assert_eq!(parsed.tar_size, data.len() as u64);
        assert!(!blocks.is_empty());
        if level > 0 {
            assert!(!shape.is_empty());
        }
    }
}

#[test]
fn an_empty_layer_rebuilds_exactly() {
    round_trip(&gzip(b"", 6));
}

#[test]
fn a_changed_layer_shares_most_of_its_shape_stream() {
    let base = content(2 << 20, 5);
    let mut changed = base.clone();
    changed[1 << 20..(1 << 20) + 300].fill(b'x');
    let (_, _, _, s1) = round_trip(&gzip(&base, 6));
    let (_, _, _, s2) = round_trip(&gzip(&changed, 6));
    let prefix = s1.iter().zip(&s2).take_while(|(a, b)| a == b).count();
    let suffix = s1
        .iter()
        .rev()
        .zip(s2.iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    // The streams differ only around the change (32 KiB of content either way is at most a
    // few KiB of shape).
    assert!(
        prefix + suffix + (16 << 10) > s2.len(),
        "prefix {prefix} suffix {suffix} of {}",
        s2.len()
    );
}

#[test]
fn damaged_streams_are_errors_not_wrong_bytes() {
    let gz = gzip(&content(1 << 20, 3), 6);
    let (_, tar, blocks, shape) = round_trip(&gz);
    // Too little content.
    let mut enc = ShapeEncoder::new(
        BufReader::new(&blocks[..]),
        BufReader::new(&shape[..]),
        BufReader::new(&tar[..tar.len() / 2]),
    );
    let mut failed = false;
    for _ in 0..10_000 {
        match enc.next_bytes() {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "half the content rebuilt without an error");
    // A cut shape stream.
    let mut enc = ShapeEncoder::new(
        BufReader::new(&blocks[..]),
        BufReader::new(&shape[..shape.len() - 100]),
        BufReader::new(&tar[..]),
    );
    let mut failed = false;
    loop {
        match enc.next_bytes() {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "a cut shape stream rebuilt without an error");
}

#[test]
fn engine_data_round_trips_through_bytes() {
    let d = ShapeData {
        blocks: StreamPlan {
            digest: Digest::sha256_of(&[1, 2, 3]),
            segments: vec![Segment::Inline(vec![1, 2, 3])],
        },
        shape: StreamPlan {
            digest: Digest::sha256_of(b"stream"),
            segments: vec![
                Segment::Base {
                    layer: Digest::sha256_of(b"base"),
                    offset: 7,
                    length: 9,
                },
                Segment::Inline(vec![]),
            ],
        },
    };
    let b = d.to_bytes();
    assert_eq!(ShapeData::from_bytes(&b).unwrap(), d);
    assert!(ShapeData::from_bytes(&b[..b.len() - 1]).is_err());
    assert_eq!(d.base_layers(), vec![Digest::sha256_of(b"base")]);
}

/// A recipe whose streams are all inline, as a packer with no usable base would write it.
fn inline_recipe(gz: &[u8]) -> (crate::regen::Recipe, Vec<u8>) {
    let (parsed, tar, blocks, shape) = round_trip(gz);
    let data = ShapeData {
        blocks: StreamPlan {
            digest: Digest::sha256_of(&blocks),
            segments: vec![Segment::Inline(blocks)],
        },
        shape: StreamPlan {
            digest: Digest::sha256_of(&shape),
            segments: vec![Segment::Inline(shape)],
        },
    };
    let recipe = crate::regen::Recipe {
        engine: SHAPE_ENGINE.into(),
        layer_digest: parsed.layer_digest,
        layer_size: parsed.layer_size,
        tar_digest: parsed.tar_digest,
        tar_size: parsed.tar_size,
        header: parsed.header,
        trailer: parsed.trailer,
        pieces: vec![crate::regen::RecipePiece {
            plain_len: parsed.tar_size,
            data: data.to_bytes(),
        }],
    };
    (recipe, tar)
}

#[test]
fn a_shape_recipe_rebuilds_its_layer_through_the_recipe_format() {
    let gz = gzip(&content(1 << 20, 9), 6);
    let (recipe, tar) = inline_recipe(&gz);
    let recipe = crate::regen::Recipe::from_bytes(&recipe.to_bytes()).unwrap();
    let mut out = Vec::new();
    let mut r = ShapeRebuilder::new(&recipe, &tar[..], crate::regen::no_streams()).unwrap();
    while let Some(b) = r.next_bytes().unwrap() {
        out.extend_from_slice(&b);
    }
    assert!(out == gz);
}

/// Damaged engine data: the rebuild fails, and never hands out the whole (wrong) layer.
#[test]
fn damaged_shape_data_is_an_error_never_a_wrong_layer() {
    let gz = gzip(&content(1 << 20, 4), 6);
    let (recipe, tar) = inline_recipe(&gz);
    let data = &recipe.pieces[0].data;
    let mut failures = 0;
    for k in 1..=12 {
        let pos = 9 + (data.len() - 9) * k / 13;
        let mut damaged = recipe.clone();
        damaged.pieces[0].data[pos] ^= 0x41;
        let mut out = Vec::new();
        let result = ShapeRebuilder::new(&damaged, &tar[..], crate::regen::no_streams()).and_then(
            |mut r| {
                while let Some(b) = r.next_bytes()? {
                    out.extend_from_slice(&b);
                }
                Ok(())
            },
        );
        match result {
            Ok(()) => assert!(out == gz, "damage at byte {pos} passed wrong bytes as good"),
            Err(_) => {
                failures += 1;
                assert!(
                    out != gz,
                    "the whole layer was handed out despite the damage"
                );
            }
        }
    }
    assert!(
        failures >= 10,
        "only {failures} of 12 damaged recipes failed"
    );
}

/// A recipe's base segment whose base is not available names the base layer.
#[test]
fn a_missing_base_stream_is_named() {
    let gz = gzip(&content(1 << 20, 2), 6);
    let (mut recipe, tar) = inline_recipe(&gz);
    let base = Digest::sha256_of(b"a base layer");
    let mut data = ShapeData::from_bytes(&recipe.pieces[0].data).unwrap();
    data.shape.segments.insert(
        0,
        Segment::Base {
            layer: base.clone(),
            offset: 0,
            length: 10,
        },
    );
    recipe.pieces[0].data = data.to_bytes();
    let mut r = ShapeRebuilder::new(&recipe, &tar[..], crate::regen::no_streams()).unwrap();
    let err = loop {
        match r.next_bytes() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("rebuilt without its base"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(err, crate::regen::RegenError::BaseStream(_)),
        "{err}"
    );
    assert!(err.to_string().contains(&base.to_string()), "{err}");
}
