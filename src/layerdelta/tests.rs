use std::io::{Cursor, Write};

use flate2::write::GzEncoder;

use super::*;
use crate::model::Digest;

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn tar_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1);
        h.set_cksum();
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

fn files(seed: u64) -> Vec<(String, Vec<u8>)> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..60)
        .map(|i| {
            let len = if i == 59 {
                900_000
            } else {
                500 + (next() % 20_000) as usize
            };
            let data: Vec<u8> = (0..len)
                .map(|j| {
                    if j % 3 == 0 {
                        (next() >> 40) as u8
                    } else {
                        b"abcdefgh"[j % 8]
                    }
                })
                .collect();
            (format!("f{i}"), data)
        })
        .collect()
}

#[test]
fn a_changed_layer_is_planned_as_base_ranges_and_a_little_new_data() {
    let n_files = files(3);
    let mut n1_files = n_files.clone();
    n1_files[10].1.extend_from_slice(b"changed");
    n1_files[59].1[450_000] ^= 1;
    let (n_tar, n1_tar) = (tar_of(&n_files), tar_of(&n1_files));
    let (n, n1) = (gz(&n_tar), gz(&n1_tar));
    let spool = tempfile::tempdir().unwrap();
    let base = BaseCandidate {
        digest: Digest::sha256_of(&n),
        blob: Box::new(Cursor::new(n.clone())),
    };
    let Encoded::Delta(plan) =
        encode_layer(&n1[..], &Digest::sha256_of(&n1), vec![base], spool.path()).unwrap()
    else {
        panic!("shipped whole")
    };
    assert_eq!(plan.bases, vec![Digest::sha256_of(&n)]);
    assert_eq!(plan.new_bytes() + plan.base_bytes(), n1_tar.len() as u64);
    assert!(plan.new_bytes() < 300_000, "{} new bytes", plan.new_bytes());
    // Base runs are joined: a handful of pieces, not one per file.
    assert!(plan.pieces.len() < 12, "{} pieces", plan.pieces.len());
    // The pieces reassemble the new tar.
    let mut tar = Vec::new();
    for p in &plan.pieces {
        match p {
            PlannedPiece::New {
                offset,
                length,
                digest,
            } => {
                let b = plan.read_new(*offset, *length).unwrap();
                assert_eq!(&Digest::sha256_of(&b), digest);
                tar.extend(b);
            }
            PlannedPiece::Base {
                offset,
                length,
                digest,
                ..
            } => {
                let b = &n_tar[*offset as usize..(*offset + *length) as usize];
                assert_eq!(&Digest::sha256_of(b), digest);
                tar.extend_from_slice(b);
            }
        }
    }
    assert!(tar == n1_tar);
}

#[test]
fn a_layer_with_nothing_in_common_with_its_bases_is_shipped_whole_saying_so() {
    // Incompressible content in no base: nothing to take from a base layer.
    let mut x = 7u64;
    let noise: Vec<u8> = (0..300_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let layer = gz(&tar_of(&[("noise".into(), noise)]));
    let spool = tempfile::tempdir().unwrap();
    match encode_layer(&layer[..], &Digest::sha256_of(&layer), vec![], spool.path()).unwrap() {
        Encoded::Whole(why @ WholeReason::NoSharedContent { bases: 0 }) => {
            assert_eq!(
                why.to_whole().reason,
                crate::bundle::WholeCode::NoSharedContent
            );
        }
        Encoded::Whole(other) => panic!("{other}"),
        Encoded::Delta(_) => panic!("encoded without saving"),
    }
}

#[test]
fn the_wrong_digest_for_the_layer_is_an_error() {
    let layer = gz(b"not what the digest says");
    let spool = tempfile::tempdir().unwrap();
    assert!(encode_layer(&layer[..], &Digest::sha256_of(b"x"), vec![], spool.path()).is_err());
}

/// A spooled layer stores exactly what storing its plan at once stores, nothing before
/// [`SpooledLayer::store`], and its entry bound is at least as long in the root as the entry
/// stored.
#[test]
fn a_spooled_layer_stores_what_its_plan_does_and_its_bound_covers_its_entry() {
    let n_files = files(5);
    let mut n1_files = n_files.clone();
    n1_files[20].1.extend_from_slice(b"changed");
    n1_files[40].1[100] ^= 1;
    let n = gz(&tar_of(&n_files));
    let n1 = gz(&tar_of(&n1_files));
    let spool_dir = tempfile::tempdir().unwrap();
    let plan = || {
        let base = BaseCandidate {
            digest: Digest::sha256_of(&n),
            blob: Box::new(Cursor::new(n.clone())),
        };
        match encode_layer(
            &n1[..],
            &Digest::sha256_of(&n1),
            vec![base],
            spool_dir.path(),
        ) {
            Ok(Encoded::Delta(plan)) => plan,
            _ => panic!("not planned as changes"),
        }
    };
    let media = crate::model::MediaType::from("application/vnd.oci.image.layer.v1.tar+gzip");
    let out = tempfile::tempdir().unwrap();
    let open = |name: &str| {
        crate::bundle::writer::BundleWriter::open(&out.path().join(name), "t", None)
            .unwrap()
            .0
    };
    let mut at_once = open("a");
    let stored = store_layer(&plan(), &mut at_once, &media, 3).unwrap();
    let mut later = open("b");
    let mut spool = Spool::new(spool_dir.path()).unwrap();
    let spooled = spool_layer(&plan(), &mut spool, &media, 3).unwrap();
    assert_eq!(later.stored_bytes(), 0, "spooling stores nothing");
    assert_eq!(spooled.store(&mut spool, &mut later).unwrap(), stored);
    let (a, b): (Vec<_>, Vec<_>) = (at_once.blobs().collect(), later.blobs().collect());
    assert_eq!(a, b);
    let bound = serde_json::to_vec(&spooled.entry_bound()).unwrap().len();
    assert!(bound >= serde_json::to_vec(b[0]).unwrap().len());
    assert_eq!(spooled.digest(), &Digest::sha256_of(&n1));
}

/// The stream planner: chunks the base has become base ranges (consecutive ones joined), the
/// rest inline bytes, and the segments give the stream back.
#[test]
fn streams_are_planned_as_base_ranges_and_inline_bytes() {
    use super::streams::{plan_streams, ParsedBase, StreamIndex};
    use crate::regen::shape::Segment;
    use std::io::Read;
    let data = |seed: u64, len: usize| -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect()
    };
    // Words and, now and then, bytes no match covers, as in real files: both parses agree
    // there, so the encoder's decisions line up again after a change. (Text of a few words
    // and nothing else keeps the parse out of step for long; it is carried inline, never
    // wrong.)
    let words = [
        "package ",
        "func main() {\n",
        "\treturn err\n",
        "/usr/lib/",
        "# comment\n",
    ];
    let noise = data(7, 1_000_003);
    let text: Vec<u8> = data(3, 1_000_000)
        .iter()
        .enumerate()
        .flat_map(|(i, b)| {
            let mut v = words[*b as usize % words.len()].as_bytes().to_vec();
            if b % 4 == 0 {
                v.extend_from_slice(&noise[i..i + 3]);
            }
            v
        })
        .collect();
    let mut changed = text.clone();
    changed.splice(4_000_000..4_000_100, data(5, 3000));
    let dir = tempfile::tempdir().unwrap();
    let base = ParsedBase::spool(&gz(&text)[..], dir.path()).unwrap();
    let new = ParsedBase::spool(&gz(&changed)[..], dir.path()).unwrap();
    let mut index = StreamIndex::default();
    index.add(0, &base).unwrap();
    let layer = Digest::sha256_of(b"base");
    let mut b = new.stream(crate::regen::shape::StreamKind::Blocks).unwrap();
    let mut s = new.stream(crate::regen::shape::StreamKind::Shape).unwrap();
    let plan = plan_streams([&mut b, &mut s], &index, std::slice::from_ref(&layer)).unwrap();
    let mut whole_shape = Vec::new();
    new.stream(crate::regen::shape::StreamKind::Shape)
        .unwrap()
        .read_to_end(&mut whole_shape)
        .unwrap();
    // The shape before the change is one range of the base from its start; most of the rest
    // is the base's too (miniz_oxide, flate2's encoder, parses a little differently near each
    // block boundary that moved, so some of it after the change is inline); the change is
    // inline.
    let inline: usize = plan
        .shape
        .segments
        .iter()
        .map(|s| match s {
            Segment::Inline(b) => b.len(),
            Segment::Base { .. } => 0,
        })
        .sum();
    assert!(
        inline > 0 && inline * 4 < whole_shape.len(),
        "{inline} of {}",
        whole_shape.len()
    );
    match &plan.shape.segments[0] {
        Segment::Base { offset, length, .. } => {
            assert_eq!(*offset, 0);
            assert!(*length as usize > whole_shape.len() / 4, "{length}");
        }
        other => panic!("{other:?}"),
    }
    // The segments give the stream back.
    let mut again = Vec::new();
    for seg in &plan.shape.segments {
        match seg {
            Segment::Inline(b) => again.extend_from_slice(b),
            Segment::Base { offset, length, .. } => {
                let mut r = base
                    .range(
                        Some(crate::regen::shape::StreamKind::Shape),
                        *offset,
                        *length,
                    )
                    .unwrap();
                let mut buf = Vec::new();
                r.read_to_end(&mut buf).unwrap();
                again.extend_from_slice(&buf);
            }
        }
    }
    assert!(again == whole_shape);
    assert_eq!(plan.shape.digest, Digest::sha256_of(&whole_shape));
}
