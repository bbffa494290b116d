//! Fuzz targets for the reference parser ([`Reference::parse`]) and the digest parser
//! ([`Digest::parse`]), with a round trip through `Display` for what they accept.

use proptest::prelude::*;

use super::{config, texts};
use crate::model::{Digest, Reference};

const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn references() -> Vec<String> {
    vec![
        "busybox".into(),
        "library/busybox:1.36".into(),
        "quay.io/openshift/origin-tools:4.16".into(),
        format!("localhost:5000/a/b/c:tag@sha256:{HEX}"),
        format!("registry.example.com/ns/app@sha256:{HEX}"),
        "[::1]:5000/x/y:z".into(),
    ]
}

fn digests() -> Vec<String> {
    vec![format!("sha256:{HEX}"), format!("sha512:{HEX}{HEX}")]
}

#[test]
fn the_seeds_are_valid() {
    for r in references().iter().filter(|r| !r.starts_with('[')) {
        Reference::parse(r).expect("seed reference parses");
    }
    for d in digests() {
        Digest::parse(&d).expect("seed digest parses");
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fuzz_reference_parse(
        text in texts(&references().iter().map(String::as_str).collect::<Vec<_>>())
    ) {
        match Reference::parse(&text) {
            Ok(r) => {
                let again = Reference::parse(&r.to_string());
                prop_assert_eq!(again.as_ref().ok(), Some(&r), "{:?} -> {}", text, r);
            }
            Err(e) => drop(e.to_string()),
        }
    }

    #[test]
    fn fuzz_digest_parse(text in texts(&digests().iter().map(String::as_str).collect::<Vec<_>>())) {
        match Digest::parse(&text) {
            Ok(d) => prop_assert_eq!(Digest::parse(&d.to_string()).ok(), Some(d)),
            Err(e) => drop(e.to_string()),
        }
    }
}
