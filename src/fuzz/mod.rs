//! Stable fuzz targets (issue 14, item 6), run by `cargo test` / nextest on stable Rust.
//!
//! cargo-fuzz needs a nightly toolchain; these targets use `proptest` instead. Each target feeds
//! a parser arbitrary bytes and structure-aware mutations of valid inputs (the bundle-format
//! test vectors, and hand-written lists, configurations, references and challenges): bytes
//! flipped, inserted, deleted, duplicated, truncated, or replaced by tokens that parsers find
//! hard (huge numbers, `null`, quotes, separators). The property is that the parser returns
//! `Ok` or a typed error (whose message renders) and never panics; proptest catches a panic and
//! shrinks the input. A failing input found once is kept as a named regression test (a fixed
//! byte string) next to its target.
//!
//! Every target runs [`cases`] cases: a bounded number by default so that `scripts/test.sh`
//! stays quick, more with `FERRY_FUZZ_CASES=100000 cargo test --lib fuzz` (see
//! docs/fuzzing.md).

mod bundle;
mod catalog;
mod model;
mod pack;
mod sign;

use proptest::prelude::*;
use proptest::test_runner::Config;

/// Cases per target when `FERRY_FUZZ_CASES` is unset.
const DEFAULT_CASES: u32 = 1024;

/// Cases per target: `FERRY_FUZZ_CASES` when set to a number, else [`DEFAULT_CASES`].
pub(crate) fn cases() -> u32 {
    std::env::var("FERRY_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

/// The proptest configuration of every target: [`cases`] cases, no regression files written
/// into the source tree (failures found are kept as named tests instead).
pub(crate) fn config() -> Config {
    Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Tokens that parsers of JSON, YAML, tar headers and header values find hard.
const TOKENS: &[&[u8]] = &[
    b"null",
    b"true",
    b"-1",
    b"0",
    b"18446744073709551615",
    b"18446744073709551616",
    b"99999999999999999999999999999999",
    b"1e400",
    b"\"\"",
    b"[]",
    b"{}",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"\"",
    b",",
    b":",
    b"=",
    b"@",
    b"/",
    b"../",
    b"sha256:",
    b"sha512:",
    b"\n",
    b"\r\n",
    b"\t",
    b"- ",
    b"  ",
    b"#",
    b"\0",
    b"\xff\xfe",
    "\u{e9}\u{1f600}".as_bytes(),
];

/// One edit of a byte string. Positions are taken modulo the length at the time of the edit.
#[derive(Debug, Clone)]
pub(crate) enum Edit {
    /// XOR the byte at a position with a non-zero mask.
    Flip(usize, u8),
    /// Insert a byte.
    Insert(usize, u8),
    /// Delete up to `n` bytes.
    Delete(usize, usize),
    /// Cut the input at a position.
    Truncate(usize),
    /// Insert one of the hard tokens.
    Token(usize, usize),
    /// Replace up to `n` bytes by one of the hard tokens.
    Replace(usize, usize, usize),
    /// Copy up to `n` bytes from one position to another.
    Duplicate(usize, usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let pos = any::<usize>();
    prop_oneof![
        3 => (pos, 1u8..=255).prop_map(|(p, m)| Edit::Flip(p, m)),
        2 => (pos, any::<u8>()).prop_map(|(p, b)| Edit::Insert(p, b)),
        2 => (pos, 1usize..16).prop_map(|(p, n)| Edit::Delete(p, n)),
        1 => pos.prop_map(Edit::Truncate),
        3 => (pos, any::<usize>()).prop_map(|(p, t)| Edit::Token(p, t)),
        3 => (pos, 1usize..12, any::<usize>()).prop_map(|(p, n, t)| Edit::Replace(p, n, t)),
        1 => (pos, pos, 1usize..64).prop_map(|(a, b, n)| Edit::Duplicate(a, b, n)),
    ]
}

/// One to eight edits.
pub(crate) fn edit_list() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(edit(), 1..8)
}

/// Applies `edits` to a copy of `seed`.
pub(crate) fn apply(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut b = seed.to_vec();
    let at = |p: usize, len: usize| if len == 0 { 0 } else { p % (len + 1) };
    for e in edits {
        let len = b.len();
        match *e {
            Edit::Flip(p, m) if len > 0 => b[p % len] ^= m,
            Edit::Flip(..) => {}
            Edit::Insert(p, v) => b.insert(at(p, len), v),
            Edit::Delete(p, n) => {
                let s = at(p, len);
                b.drain(s..(s + n).min(len));
            }
            Edit::Truncate(p) => b.truncate(at(p, len)),
            Edit::Token(p, t) => {
                let s = at(p, len);
                b.splice(s..s, TOKENS[t % TOKENS.len()].iter().copied());
            }
            Edit::Replace(p, n, t) => {
                let s = at(p, len);
                let end = (s + n).min(len);
                b.splice(s..end, TOKENS[t % TOKENS.len()].iter().copied());
            }
            Edit::Duplicate(from, to, n) => {
                let s = at(from, len);
                let piece = b[s..(s + n).min(len)].to_vec();
                let d = at(to, len);
                b.splice(d..d, piece);
            }
        }
    }
    b
}

/// Arbitrary bytes (a quarter of the cases) or one of `seeds` with one to eight edits.
pub(crate) fn inputs(seeds: Vec<Vec<u8>>) -> BoxedStrategy<Vec<u8>> {
    let mutated =
        (prop::sample::select(seeds), edit_list()).prop_map(|(seed, edits)| apply(&seed, &edits));
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..512),
        3 => mutated,
    ]
    .boxed()
}

/// [`inputs`] as text (invalid UTF-8 replaced), for parsers that take `&str`.
pub(crate) fn texts(seeds: &[&str]) -> BoxedStrategy<String> {
    inputs(seeds.iter().map(|s| s.as_bytes().to_vec()).collect())
        .prop_map(|b| String::from_utf8_lossy(&b).into_owned())
        .boxed()
}

#[test]
fn edits_stay_in_bounds_on_empty_and_short_inputs() {
    let all = [
        Edit::Flip(7, 1),
        Edit::Insert(usize::MAX, b'x'),
        Edit::Delete(usize::MAX, 15),
        Edit::Token(3, usize::MAX),
        Edit::Replace(usize::MAX, 11, 2),
        Edit::Duplicate(usize::MAX, 1, 63),
        Edit::Truncate(usize::MAX),
    ];
    for seed in [&b""[..], b"a", b"ab"] {
        for e in &all {
            apply(seed, std::slice::from_ref(e));
        }
    }
    assert_eq!(apply(b"abc", &[Edit::Truncate(1)]), b"a");
    assert_eq!(apply(b"abc", &[Edit::Replace(1, 1, 0)]), b"anullc");
}
