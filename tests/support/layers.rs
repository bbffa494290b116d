//! Layer tars for the incremental-layer tests: deterministic files of text and binary-like
//! content, a version N and an N+1 with a few files changed, and gzip writers that container
//! tools use (Go compress/gzip, klauspost/pgzip via fixtures/go/gzwriter, GNU gzip, zlib).

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// xorshift64: deterministic bytes.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: &[&str] = &[
    "container",
    "image",
    "layer",
    "registry",
    "mirror",
    "digest",
    "manifest",
    "release",
    "operator",
    "cluster",
    "node",
    "the",
    "of",
    "and",
    "to",
    "a",
    "is",
    "for",
    "with",
    "bundle",
    "func",
    "return",
    "error",
    "nil",
    "struct",
    "import",
    "package",
    "config",
    "value",
    "true",
];

/// Text of about `len` bytes: words, lines, some numbers.
pub fn text(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut s = String::new();
    while s.len() < len {
        for _ in 0..rng.below(12) + 3 {
            s.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
            s.push(' ');
        }
        if rng.below(4) == 0 {
            s.push_str(&format!("{:x}", rng.next() >> 20));
        }
        s.push('\n');
    }
    s.truncate(len);
    s.into_bytes()
}

/// Binary-like bytes of `len`: random "code" sections, zero runs, repeated tables.
pub fn binary(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut out = b"\x7fELF\x02\x01\x01\0".to_vec();
    while out.len() < len {
        match rng.below(3) {
            0 => {
                for _ in 0..rng.below(4096) + 256 {
                    out.push((rng.next() >> 24) as u8);
                }
            }
            1 => out.extend(std::iter::repeat_n(0u8, rng.below(2048) as usize + 16)),
            _ => {
                let table: Vec<u8> = (0..256u32).map(|i| ((i * 37) ^ 0x5a) as u8).collect();
                for _ in 0..rng.below(8) + 1 {
                    out.extend_from_slice(&table);
                }
            }
        }
    }
    out.truncate(len);
    out
}

/// The files of version N: `count` files, mostly small text, some binaries, one large.
pub fn files(seed: u64, count: usize, large: usize) -> Vec<(String, Vec<u8>)> {
    let mut rng = Rng::new(seed);
    let mut v = Vec::new();
    for i in 0..count {
        let (name, data) = if i % 7 == 0 {
            let len = 20_000 + rng.below(60_000) as usize;
            (format!("usr/bin/tool{i}"), binary(&mut rng, len))
        } else {
            let len = 200 + rng.below(12_000) as usize;
            (format!("usr/share/doc/file{i}.txt"), text(&mut rng, len))
        };
        v.push((name, data));
    }
    v.push(("usr/lib/libbig.so".to_string(), binary(&mut rng, large)));
    v
}

/// Version N+1: about 3 % of the files patched in place (a few bytes in the middle), the large
/// file patched in one place, one file added.
pub fn patched(files: &[(String, Vec<u8>)], seed: u64) -> Vec<(String, Vec<u8>)> {
    let mut rng = Rng::new(seed);
    let mut v = files.to_vec();
    let n = v.len();
    for _ in 0..(n * 3 / 100).max(1) {
        let i = rng.below(n as u64 - 1) as usize;
        let data = &mut v[i].1;
        let at = data.len() / 2;
        data.splice(at..at, b"patched in N+1 ".iter().copied());
    }
    let big = &mut v[n - 1].1;
    let at = big.len() / 3;
    for b in &mut big[at..at + 100] {
        *b ^= 0x55;
    }
    v.push(("etc/new-in-n1.conf".to_string(), text(&mut rng, 3000)));
    v
}

/// A tar of `files` (ustar headers, fixed times and owners).
pub fn tar(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

/// A gzip writer that container tools use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// Go compress/gzip at a level.
    GoStd(u8),
    /// klauspost/pgzip, defaults (podman, buildah, skopeo).
    Pgzip,
    /// GNU gzip -6 -n.
    GnuGzip,
    /// zlib through Python's gzip module (level 6, mtime 0).
    PythonZlib,
}

/// Builds fixtures/go/gzwriter once per test process, into target/.
fn gzwriter() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        // Each test process builds it (Go's build cache makes that quick) to its own name and
        // renames it into place, so parallel test processes never run a half-written file.
        let dir = root.join("target").join("gzwriter");
        std::fs::create_dir_all(&dir).unwrap();
        let tmp = dir.join(format!("gzwriter.{}", std::process::id()));
        let out = dir.join("gzwriter");
        let status = Command::new("go")
            .args(["build", "-o"])
            .arg(&tmp)
            .arg(".")
            .current_dir(root.join("fixtures/go/gzwriter"))
            .env("GO111MODULE", "off")
            .env("GOPATH", "/usr/share/gocode")
            .env("GOCACHE", root.join("target").join("gocache"))
            .status()
            .expect("go (Debian golang-go, see scripts/lib/deps.sh) runs");
        assert!(status.success(), "building fixtures/go/gzwriter failed");
        std::fs::rename(&tmp, &out).unwrap();
        out
    })
}

/// `data` compressed by `writer`.
pub fn compress(writer: Writer, data: &[u8]) -> Vec<u8> {
    let mut cmd = match writer {
        Writer::GoStd(level) => {
            let mut c = Command::new(gzwriter());
            c.arg(format!("std{level}"));
            c
        }
        Writer::Pgzip => {
            let mut c = Command::new(gzwriter());
            c.arg("pgzip");
            c
        }
        Writer::GnuGzip => {
            let mut c = Command::new("gzip");
            c.args(["-6", "-n", "-c"]);
            c
        }
        Writer::PythonZlib => {
            let mut c = Command::new("python3");
            c.args([
                "-c",
                "import gzip,sys; sys.stdout.buffer.write(gzip.compress(sys.stdin.buffer.read(), 6, mtime=0))",
            ]);
            c
        }
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{writer:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = data.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    assert!(out.status.success(), "{writer:?} failed");
    out.stdout
}
