use std::collections::HashSet;
use std::io::{self, Read};
use std::process::Command;

use proptest::prelude::*;

use super::*;
use crate::model::Digest;

/// Deterministic pseudo-random bytes (splitmix64).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

const SMALL: ChunkParams = ChunkParams {
    min: 1024,
    avg: 4096,
    max: 16384,
};

fn chunks(data: &[u8], params: ChunkParams) -> Vec<Chunk> {
    Chunker::new(data, params)
        .unwrap()
        .collect::<io::Result<Vec<_>>>()
        .unwrap()
}

/// The cut-point rules as written in the module documentation, one byte at a time.
fn reference_lengths(data: &[u8], p: ChunkParams, gear: &[u64; 256]) -> Vec<usize> {
    let bits = (p.avg as f64).log2().round() as usize;
    let (mask_s, mask_l) = (
        fastcdc::v2020::MASKS[bits + 1],
        fastcdc::v2020::MASKS[bits - 1],
    );
    let (min, avg, max) = (p.min as usize, p.avg as usize, p.max as usize);
    let mut lengths = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let n = (data.len() - pos).min(max);
        let len = if n <= min {
            n
        } else {
            let center = avg.min(n);
            let mut h: u64 = 0;
            let mut cut = n;
            let mut i = 2 * (min / 2);
            while i / 2 < n / 2 {
                h = (h << 1).wrapping_add(gear[data[pos + i] as usize]);
                let mask = if i / 2 < center / 2 { mask_s } else { mask_l };
                if h & mask == 0 {
                    cut = i;
                    break;
                }
                i += 1;
            }
            cut
        };
        lengths.push(len);
        pos += len;
    }
    lengths
}

/// The GEAR table as documented: MD5 of 64 copies of each byte value, first 8 bytes big-endian,
/// computed with openssl.
fn documented_gear() -> [u64; 256] {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["dgst".to_string(), "-md5".to_string(), "-r".to_string()];
    for b in 0..=255u8 {
        let p = dir.path().join(format!("{b:03}"));
        std::fs::write(&p, [b; 64]).unwrap();
        args.push(p.to_str().unwrap().to_string());
    }
    let out = match Command::new("openssl").args(&args).output() {
        Ok(o) => o,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            panic!("openssl not found: run scripts/test.sh")
        }
        Err(e) => panic!("cannot run openssl: {e}"),
    };
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut gear = [0u64; 256];
    let mut seen = 0;
    for line in text.lines() {
        let (hex, file) = line.split_once(' ').unwrap();
        let b: usize = file
            .trim_start_matches('*')
            .rsplit('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        gear[b] = u64::from_str_radix(&hex[..16], 16).unwrap();
        seen += 1;
    }
    assert_eq!(seen, 256);
    gear
}

#[test]
fn documented_gear_table_and_masks_are_fastcdcs() {
    let gear = documented_gear();
    let (lib_gear, lib_gear_ls) = fastcdc::v2020::get_gear_with_seed(0);
    assert_eq!(*lib_gear, gear);
    for b in 0..256 {
        assert_eq!(lib_gear_ls[b], gear[b] << 1);
    }
    assert_eq!(gear[0], 0x3b5d3c7d207e37dc);
    let bits = (ChunkParams::DEFAULT.avg as f64).log2().round() as usize;
    assert_eq!(bits, 20);
    assert_eq!(fastcdc::v2020::MASKS[bits + 1], 0x0000d91767537000);
    assert_eq!(fastcdc::v2020::MASKS[bits - 1], 0x0000d91707537000);
    assert_eq!(fastcdc::v2020::MASKS[bits + 1].count_ones(), 21);
    assert_eq!(fastcdc::v2020::MASKS[bits - 1].count_ones(), 19);
}

#[test]
fn documented_cut_points_match_the_chunker() {
    let (gear, _) = fastcdc::v2020::get_gear_with_seed(0);
    let odd = ChunkParams {
        min: 1001,
        avg: 3000,
        max: 9999,
    };
    for (params, data) in [
        (SMALL, noise(1, 300_000)),
        (SMALL, noise(2, 100_001)),
        (odd, noise(3, 200_003)),
        (ChunkParams::DEFAULT, noise(4, 12 * 1024 * 1024 + 77)),
        (ChunkParams::DEFAULT, vec![0u8; 17 * 1024 * 1024 + 1]),
    ] {
        let got: Vec<usize> = chunks(&data, params).iter().map(|c| c.data.len()).collect();
        assert_eq!(got, reference_lengths(&data, params, &gear), "{params:?}");
        assert!(got.len() > 2, "{params:?}: only {} chunks", got.len());
    }
}

#[test]
fn finish_gives_whole_stream_digest_and_length() {
    let data = noise(9, 50_000);
    let mut chunker = Chunker::new(&data[..], SMALL).unwrap();
    let first = chunker.next().unwrap().unwrap();
    assert_eq!(first.offset, 0);
    assert_eq!(first.digest, Digest::sha256_of(&first.data));
    // The rest is read by finish itself.
    let (digest, len) = chunker.finish().unwrap();
    assert_eq!(digest, Digest::sha256_of(&data));
    assert_eq!(len, data.len() as u64);

    let (digest, len) = Chunker::new(&b""[..], SMALL).unwrap().finish().unwrap();
    assert_eq!((digest, len), (Digest::sha256_of(b""), 0));
    assert_eq!(Chunker::new(&b""[..], SMALL).unwrap().count(), 0);
}

#[test]
fn read_errors_surface_and_finish_fails() {
    struct FailAfter(usize);
    impl Read for FailAfter {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("cable pulled"));
            }
            let n = buf.len().min(self.0);
            buf[..n].fill(1);
            self.0 -= n;
            Ok(n)
        }
    }
    let mut chunker = Chunker::new(FailAfter(5000), SMALL).unwrap();
    let err = chunker.next().unwrap().unwrap_err();
    assert!(err.to_string().contains("cable pulled"), "{err}");
    assert!(chunker.next().is_none());
    assert!(Chunker::new(FailAfter(5000), SMALL)
        .unwrap()
        .finish()
        .is_err());
}

#[test]
fn interrupted_reads_are_retried() {
    struct Flaky(Vec<u8>, usize, bool);
    impl Read for Flaky {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.2 = !self.2;
            if self.2 {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = buf.len().min(self.0.len() - self.1).min(1000);
            buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
    }
    let data = noise(5, 40_000);
    let (digest, len) = Chunker::new(Flaky(data.clone(), 0, false), SMALL)
        .unwrap()
        .finish()
        .unwrap();
    assert_eq!((digest, len), (Digest::sha256_of(&data), data.len() as u64));
}

#[test]
fn invalid_params_are_refused() {
    for p in [
        ChunkParams { min: 10, ..SMALL },
        ChunkParams { min: 8192, ..SMALL },
        ChunkParams { max: 2048, ..SMALL },
        ChunkParams {
            max: 32 * 1024 * 1024,
            ..SMALL
        },
    ] {
        assert!(matches!(
            Chunker::new(&b""[..], p),
            Err(ChunkError::InvalidParams { .. })
        ));
    }
    ChunkParams::DEFAULT.validate().unwrap();
}

/// A stream that hands out reads of odd sizes, as a socket does.
struct Dribble<'a>(&'a [u8], usize);

impl Read for Dribble<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.1 = self.1 % 70_001 + 7919;
        let n = self.0.len().min(buf.len()).min(self.1);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// `fastcdc`'s own stream chunker, which the module documentation names as the definition.
fn stream_cdc_lengths(data: &[u8], p: ChunkParams) -> Vec<usize> {
    fastcdc::v2020::StreamCDC::with_level(
        data,
        p.min,
        p.avg,
        p.max,
        fastcdc::v2020::Normalization::Level1,
    )
    .map(|c| c.unwrap().length)
    .collect()
}

#[test]
fn the_cutter_cuts_where_stream_cdc_does() {
    // Runs of one byte value hit the maximum size; enough data to compact the buffer many
    // times over.
    let mut data = sample(7, 30 * 1024 * 1024 + 12345, true);
    // A stretch with no cut point: maximum-size chunks.
    data.extend(std::iter::repeat_n(0u8, 17 * 1024 * 1024));
    data.extend(noise(9, 5 * 1024 * 1024 + 3));
    let mut buf = Vec::new();
    for len in [0, 1000, 600_000, 9 * 1024 * 1024, data.len()] {
        let bytes = &data[..len];
        // The same buffer, reused stream after stream, as pack does.
        let mut cutter = Cutter::new(Dribble(bytes, 0), &ChunkParams::DEFAULT, &mut buf).unwrap();
        let mut ours = Vec::new();
        while let Some(c) = cutter.next_chunk().unwrap() {
            ours.push(c.len());
        }
        let theirs = stream_cdc_lengths(bytes, ChunkParams::DEFAULT);
        assert_eq!(ours, theirs, "{len} bytes");
        if len == data.len() {
            assert!(ours.len() > 20, "{} chunks", ours.len());
        }
    }
    let small = sample(8, 300_000, true);
    let chunker: Vec<usize> = chunks(&small, SMALL).iter().map(|c| c.data.len()).collect();
    assert_eq!(chunker, stream_cdc_lengths(&small, SMALL));
}

/// Test data: noise, or noise with long runs of a repeated byte (which hit the maximum size).
fn sample(seed: u64, len: usize, runs: bool) -> Vec<u8> {
    let mut data = noise(seed, len);
    if runs {
        let mut i = 0;
        while i < len {
            let run = (seed as usize % 40_000) + 20_000;
            let end = (i + run).min(len);
            data[i..end].fill(0);
            i = end + 30_000;
        }
    }
    data
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn chunks_concatenate_and_respect_bounds(seed in any::<u64>(), len in 0usize..200_000, runs in any::<bool>()) {
        let data = sample(seed, len, runs);
        let cs = chunks(&data, SMALL);
        let mut joined = Vec::new();
        for (i, c) in cs.iter().enumerate() {
            prop_assert_eq!(c.offset, joined.len() as u64);
            prop_assert!(c.data.len() <= SMALL.max as usize);
            if i + 1 < cs.len() {
                prop_assert!(c.data.len() >= SMALL.min as usize);
            }
            prop_assert!(!c.data.is_empty());
            prop_assert_eq!(&c.digest, &Digest::sha256_of(&c.data));
            joined.extend_from_slice(&c.data);
        }
        prop_assert!(joined == data);
    }

    #[test]
    fn inserting_at_the_front_changes_only_the_first_chunks(seed in any::<u64>(), insert in proptest::collection::vec(any::<u8>(), 1..64)) {
        let data = noise(seed, 256 * 1024);
        let mut shifted = insert.clone();
        shifted.extend_from_slice(&data);
        let before: Vec<Digest> = chunks(&data, SMALL).into_iter().map(|c| c.digest).collect();
        let after: HashSet<Digest> = chunks(&shifted, SMALL).into_iter().map(|c| c.digest).collect();
        let lost = before.iter().filter(|d| !after.contains(d)).count();
        prop_assert!(before.len() > 20);
        prop_assert!(lost <= 4, "{} of {} chunks changed", lost, before.len());
        // The ones that changed are at the front.
        prop_assert!(before[lost..].iter().all(|d| after.contains(d)));
    }
}

#[test]
fn compress_round_trip() {
    let text = b"layer.tar contains many similar lines of text\n".repeat(40_000);
    let (c, stored) = compress(&text, 3, CompressHint::Unknown);
    assert_eq!(c, Compression::Zstd);
    assert!(stored.len() < text.len() / 10);
    assert_eq!(decompress(c, &stored, text.len()).unwrap(), text);

    let random = noise(11, 1024 * 1024);
    let (c, stored) = compress(&random, 3, CompressHint::Unknown);
    assert_eq!(c, Compression::None);
    assert_eq!(stored, random);
    assert_eq!(decompress(c, &stored, random.len()).unwrap(), random);

    // Small compressible input (below the sample threshold) is compressed too.
    let small = vec![7u8; 5000];
    let (c, stored) = compress(&small, 3, CompressHint::Unknown);
    assert_eq!(c, Compression::Zstd);
    assert_eq!(decompress(c, &stored, small.len()).unwrap(), small);

    // Tiny inputs cannot save 32 bytes and stay raw.
    let (c, stored) = compress(b"abcabcabcabc", 3, CompressHint::Unknown);
    assert_eq!(
        (c, stored.as_slice()),
        (Compression::None, &b"abcabcabcabc"[..])
    );
    let (c, stored) = compress(b"", 3, CompressHint::Unknown);
    assert_eq!((c, stored.len()), (Compression::None, 0));
}

#[test]
fn incompressible_start_skips_compression() {
    // Random first 64 KiB, compressible rest: from level 5 the sample test stores it raw...
    let mut data = noise(12, 64 * 1024);
    data.extend(std::iter::repeat_n(b'a', 512 * 1024));
    let (c, stored) = compress(&data, 5, CompressHint::Unknown);
    assert_eq!(c, Compression::None);
    assert_eq!(stored, data);
    // ...below level 5 there is no sample test, and the whole is compressed.
    let (c, stored) = compress(&data, 3, CompressHint::Unknown);
    assert_eq!(c, Compression::Zstd);
    assert_eq!(decompress(c, &stored, data.len()).unwrap(), data);
    // A compressible start passes the sample test at high levels.
    let text = b"layer.tar contains many similar lines of text\n".repeat(10_000);
    assert_eq!(
        compress(&text, 9, CompressHint::Unknown).0,
        Compression::Zstd
    );
}

#[test]
fn already_compressed_hint_stores_raw() {
    let zeros = vec![0u8; 1024 * 1024];
    let (c, stored) = compress(&zeros, 3, CompressHint::AlreadyCompressed);
    assert_eq!(c, Compression::None);
    assert_eq!(stored, zeros);
}

#[test]
fn compression_serializes_lower_case() {
    assert_eq!(
        serde_json::to_string(&Compression::Zstd).unwrap(),
        "\"zstd\""
    );
    assert_eq!(
        serde_json::to_string(&Compression::None).unwrap(),
        "\"none\""
    );
    let c: Compression = serde_json::from_str("\"zstd\"").unwrap();
    assert_eq!(c, Compression::Zstd);
    assert!(serde_json::from_str::<Compression>("\"Zstd\"").is_err());
}

#[test]
fn damaged_or_mislabelled_chunks_are_errors() {
    let text = b"0123456789abcdef".repeat(10_000);
    let (c, stored) = compress(&text, 3, CompressHint::Unknown);
    assert_eq!(c, Compression::Zstd);

    let mut corrupt = stored.clone();
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0xff;
    corrupt[mid + 1] ^= 0xff;
    let bad = [
        corrupt,
        stored[..stored.len() - 3].to_vec(),
        b"not zstd at all".to_vec(),
        [stored.clone(), b"trailing".to_vec()].concat(),
        [stored.clone(), stored.clone()].concat(),
    ];
    for (i, b) in bad.iter().enumerate() {
        match decompress(Compression::Zstd, b, text.len()) {
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}"),
            Ok(out) => panic!("case {i}: accepted damaged frame ({} bytes out)", out.len()),
        }
    }
    // With the frame checksum, damage anywhere in the frame is caught by the decoder: a flipped
    // bit either fails or (an unused header bit) changes nothing; it never yields other bytes.
    let mut failures = 0;
    for i in 0..stored.len() {
        for bit in [0x01u8, 0x10, 0x80] {
            let mut one = stored.clone();
            one[i] ^= bit;
            match decompress(Compression::Zstd, &one, text.len()) {
                Err(_) => failures += 1,
                Ok(out) => assert!(out == text, "byte {i} bit {bit:#x}: wrong output accepted"),
            }
        }
    }
    assert!(failures >= stored.len() * 3 - 3, "{failures} failures");
    // Wrong expected length, either way.
    assert!(decompress(Compression::Zstd, &stored, text.len() - 1).is_err());
    assert!(decompress(Compression::Zstd, &stored, text.len() + 1).is_err());
    assert!(decompress(Compression::None, &text, text.len() + 1).is_err());
    assert!(decompress(Compression::None, &text, MAX_CHUNK_LEN + 1).is_err());
}
