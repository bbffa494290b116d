//! Fuzz targets for the volume trailer and label reader ([`read_trailer`]) and the root parser
//! ([`Root::from_json`]).

use std::io::Write;
use std::path::PathBuf;

use proptest::prelude::*;

use super::{apply, config, edit_list, inputs};
use crate::bundle::root::Root;
use crate::bundle::volume::{read_trailer, VolumeError, VolumeTrailer};

/// The two single-volume bundles of the format's test vectors (formats 1.1 and 1.0).
fn vector_volumes() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bundle-format/test-vectors");
    [
        "bundle/ferry-7627b3793985-001-of-001.tar",
        "v1.0/bundle/ferry-17da24cd3221-001-of-001.tar",
    ]
    .iter()
    .map(|f| std::fs::read(dir.join(f)).expect("test vector volume"))
    .collect()
}

/// The members of a volume: (header, contents), in order.
fn members(volume: &[u8]) -> Vec<(tar::Header, Vec<u8>)> {
    let mut a = tar::Archive::new(volume);
    let mut out = Vec::new();
    for entry in a.entries().expect("tar") {
        let mut entry = entry.expect("tar entry");
        let header = entry.header().clone();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).expect("tar data");
        out.push((header, data));
    }
    out
}

/// A volume made of `members`, each header's size and checksum fixed to its contents.
fn rebuild(members: &[(tar::Header, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (header, data) in members {
        let mut h = header.clone();
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, &data[..]).expect("tar append");
    }
    b.into_inner().expect("tar finish")
}

/// Recomputes the checksum of every 512-byte block with the ustar magic, so that a mutated
/// header gets past the checksum test and into the checks behind it.
fn fix_checksums(volume: &mut [u8]) {
    for block in volume.chunks_exact_mut(512) {
        if &block[257..262] == b"ustar" {
            let mut h = tar::Header::from_byte_slice(block).clone();
            h.set_cksum();
            block.copy_from_slice(h.as_bytes());
        }
    }
}

/// A mutated volume: the whole file edited (and its checksums fixed or not), or one member's
/// contents edited and the volume rebuilt around them (the label, root or signature reach
/// their parsers that way).
fn volumes() -> BoxedStrategy<Vec<u8>> {
    let seeds = vector_volumes();
    let whole = (inputs(seeds.clone()), any::<bool>()).prop_map(|(mut v, fix)| {
        if fix {
            fix_checksums(&mut v);
        }
        v
    });
    let member =
        (prop::sample::select(seeds), 0usize..4, edit_list()).prop_map(|(seed, which, edits)| {
            let mut m = members(&seed);
            m[which].1 = apply(&m[which].1, &edits);
            rebuild(&m)
        });
    prop_oneof![whole, member].boxed()
}

/// Reads the trailer of a volume holding `bytes`: `Ok` or a typed error,
/// never a panic.
fn read_volume(bytes: &[u8]) {
    match read_trailer_of(bytes) {
        Ok(t) => assert!(t.label.volume >= 1 && t.label.volume <= t.label.volume_count),
        Err(e) => drop(e.to_string()),
    }
}

/// The roots of the test vectors, and the empty root of the module tests.
fn roots() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = vector_volumes()
        .iter()
        .map(|v| members(v)[2].1.clone())
        .collect();
    out.push(Root::empty_for_tests("0123456789abcdef0123456789abcdef", Some(7)).to_json());
    out
}

#[test]
fn the_seeds_are_valid_and_rebuilding_keeps_them_valid() {
    for v in vector_volumes() {
        read_trailer_of(&v).expect("vector volume reads");
        read_trailer_of(&rebuild(&members(&v))).expect("rebuilt volume reads");
        let mut fixed = v.clone();
        fix_checksums(&mut fixed);
        assert_eq!(fixed, v, "checksums were already right");
    }
    for r in roots() {
        Root::from_json(&r).expect("seed root parses");
    }
}

/// Reads the trailer of a temporary volume file holding `bytes`.
fn read_trailer_of(bytes: &[u8]) -> Result<VolumeTrailer, VolumeError> {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(bytes).expect("write temp volume");
    f.flush().expect("flush temp volume");
    read_trailer(f.path())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fuzz_volume_trailer(bytes in volumes()) {
        read_volume(&bytes);
    }

    #[test]
    fn fuzz_root_from_json(bytes in inputs(roots())) {
        if let Err(e) = Root::from_json(&bytes) {
            drop(e.to_string());
        }
    }
}
