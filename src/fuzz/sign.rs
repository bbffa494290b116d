//! Fuzz targets for the signature parser ([`Signature::parse`], then verification of what it
//! accepts) and the key parsers ([`SecretKey::parse`], [`PublicKey::parse`]).

use std::path::PathBuf;

use proptest::prelude::*;

use super::{config, texts};
use crate::sign::{PublicKey, SecretKey, Signature};

/// A file of the format's test vectors, as text.
fn vector(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("bundle-format/test-vectors")
        .join(name);
    std::fs::read_to_string(p).expect("test vector")
}

/// The exact signature file of the 1.1 test vector (from its expected.json).
fn vector_signature() -> String {
    let v: serde_json::Value = serde_json::from_str(&vector("expected.json")).expect("json");
    v["signature"].as_str().expect("signature file").to_string()
}

#[test]
fn the_seeds_are_valid() {
    Signature::parse(&vector_signature()).expect("vector signature parses");
    SecretKey::parse(&vector("test-key")).expect("vector secret key parses");
    PublicKey::parse(&vector("test-key.pub")).expect("vector public key parses");
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fuzz_signature_parse(text in texts(&[vector_signature().as_str()])) {
        match Signature::parse(&text) {
            Ok(sig) => {
                let key = PublicKey::parse(&vector("test-key.pub")).expect("public key");
                if let Err(e) = key.verify(&b"some root"[..], &sig) {
                    drop(e.to_string());
                }
            }
            Err(e) => drop(e.to_string()),
        }
    }

    #[test]
    fn fuzz_secret_key_parse(text in texts(&[vector("test-key").as_str()])) {
        if let Err(e) = SecretKey::parse(&text) {
            drop(e.to_string());
        }
    }

    #[test]
    fn fuzz_public_key_parse(text in texts(&[vector("test-key.pub").as_str()])) {
        if let Err(e) = PublicKey::parse(&text) {
            drop(e.to_string());
        }
        if let Some(line) = text.lines().nth(1) {
            if let Err(e) = PublicKey::from_base64(line) {
                drop(e.to_string());
            }
        }
    }
}
