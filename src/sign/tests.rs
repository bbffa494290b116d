use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::*;

fn key(seed_byte: u8, id_byte: u8) -> SecretKey {
    SecretKey::from_seed([seed_byte; 32], KeyId([id_byte; 8]))
}

/// Runs minisign with `args`; panics with a pointer to scripts/test.sh when it is missing.
fn minisign(args: &[&str]) -> Output {
    match Command::new("minisign").args(args).output() {
        Ok(out) => out,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            panic!("minisign not found: run scripts/test.sh")
        }
        Err(e) => panic!("cannot run minisign: {e}"),
    }
}

/// Replaces line `n` (0-based) of a minisign file with `f(decoded bytes)` re-encoded.
fn edit_b64_line(text: &str, n: usize, f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut raw = STANDARD.decode(&lines[n]).unwrap();
    f(&mut raw);
    lines[n] = STANDARD.encode(&raw);
    lines.join("\n") + "\n"
}

#[test]
fn sign_and_verify_round_trip() {
    let sk = generate();
    let pk = sk.public_key();
    let content = b"the bundle index".repeat(10_000);
    let sig = sk
        .sign(&content[..], "bundle 2024-01-01\tfile:index.json")
        .unwrap();
    let parsed = Signature::parse(&sig.to_file_string()).unwrap();
    assert_eq!(parsed, sig);
    pk.verify(&content[..], &parsed).unwrap();
    assert_eq!(
        parsed.trusted_comment(),
        "bundle 2024-01-01\tfile:index.json"
    );
    assert_eq!(parsed.key_id(), sk.key_id());
}

#[test]
fn generated_keys_differ() {
    let (a, b) = (generate(), generate());
    assert_ne!(a.public_key(), b.public_key());
    assert_ne!(a.key_id(), b.key_id());
}

#[test]
fn from_seed_is_deterministic() {
    let a = key(7, 1).sign(&b"content"[..], "c").unwrap();
    let b = key(7, 1).sign(&b"content"[..], "c").unwrap();
    assert_eq!(a.to_file_string(), b.to_file_string());
    let other_seed = key(8, 1).sign(&b"content"[..], "c").unwrap();
    assert_ne!(a.to_file_string(), other_seed.to_file_string());
    assert_eq!(key(7, 1).public_key(), key(7, 1).public_key());
}

#[test]
fn tampered_content_fails() {
    let sk = key(1, 1);
    let sig = sk.sign(&b"hello world"[..], "tc").unwrap();
    let err = sk
        .public_key()
        .verify(&b"hello World"[..], &sig)
        .unwrap_err();
    assert!(matches!(err, SignError::BadSignature), "{err:?}");
    let err = sk
        .public_key()
        .verify(&b"hello world "[..], &sig)
        .unwrap_err();
    assert!(matches!(err, SignError::BadSignature), "{err:?}");
}

#[test]
fn tampered_signature_fails() {
    let sk = key(1, 1);
    let text = sk.sign(&b"hello"[..], "tc").unwrap().to_file_string();
    let bad = edit_b64_line(&text, 1, |raw| raw[30] ^= 0x01);
    let sig = Signature::parse(&bad).unwrap();
    let err = sk.public_key().verify(&b"hello"[..], &sig).unwrap_err();
    assert!(matches!(err, SignError::BadSignature), "{err:?}");
}

#[test]
fn tampered_trusted_comment_fails() {
    let sk = key(1, 1);
    let text = sk
        .sign(&b"hello"[..], "release 1")
        .unwrap()
        .to_file_string();
    let bad = text.replace("trusted comment: release 1", "trusted comment: release 2");
    assert_ne!(bad, text);
    let sig = Signature::parse(&bad).unwrap();
    let err = sk.public_key().verify(&b"hello"[..], &sig).unwrap_err();
    assert!(matches!(err, SignError::BadTrustedComment), "{err:?}");

    let bad_global = edit_b64_line(&text, 3, |raw| raw[0] ^= 0x80);
    let sig = Signature::parse(&bad_global).unwrap();
    let err = sk.public_key().verify(&b"hello"[..], &sig).unwrap_err();
    assert!(matches!(err, SignError::BadTrustedComment), "{err:?}");
}

#[test]
fn other_key_fails_with_both_key_ids() {
    let signer = key(1, 1);
    let trusted = key(2, 2);
    let sig = signer.sign(&b"hello"[..], "tc").unwrap();
    let err = trusted
        .public_key()
        .verify(&b"hello"[..], &sig)
        .unwrap_err();
    assert!(matches!(err, SignError::KeyIdMismatch { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with("not signed by a trusted key"), "{msg}");
    assert!(msg.contains(&signer.key_id().to_string()), "{msg}");
    assert!(msg.contains(&trusted.key_id().to_string()), "{msg}");

    // Same key id, different key: the signature itself does not verify.
    let impostor = key(3, 1);
    let err = impostor
        .public_key()
        .verify(&b"hello"[..], &sig)
        .unwrap_err();
    assert!(matches!(err, SignError::BadSignature), "{err:?}");
}

#[test]
fn key_id_displays_like_minisign() {
    let id = KeyId([0xa4, 0xc6, 0x4c, 0x49, 0x1b, 0xd2, 0xff, 0xed]);
    assert_eq!(id.to_string(), "EDFFD21B494CC6A4");
}

#[test]
fn trusted_comment_must_be_one_line() {
    let sk = key(1, 1);
    for bad in ["a\nb", "a\rb", "a\0b"] {
        let err = sk.sign(&b"x"[..], bad).unwrap_err();
        assert!(
            matches!(err, SignError::InvalidTrustedComment(_)),
            "{err:?}"
        );
    }
    let long = "x".repeat(MAX_TRUSTED_COMMENT_LEN + 1);
    assert!(matches!(
        sk.sign(&b"x"[..], &long),
        Err(SignError::InvalidTrustedComment(_))
    ));
    let longest = "x".repeat(MAX_TRUSTED_COMMENT_LEN);
    let sig = sk.sign(&b"x"[..], &longest).unwrap();
    sk.public_key().verify(&b"x"[..], &sig).unwrap();
}

#[test]
fn content_read_error_is_reported() {
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
    }
    let err = key(1, 1).sign(Failing, "tc").unwrap_err();
    assert!(matches!(err, SignError::Content(_)), "{err:?}");
    assert!(crate::error_chain(&err).contains("disk on fire"));
}

#[test]
fn legacy_signature_is_refused() {
    let text = key(1, 1).sign(&b"x"[..], "tc").unwrap().to_file_string();
    let legacy = edit_b64_line(&text, 1, |raw| raw[1] = b'd');
    let err = Signature::parse(&legacy).unwrap_err();
    assert!(matches!(err, SignError::LegacySignature), "{err:?}");
}

#[test]
fn malformed_signatures_are_refused() {
    let text = key(1, 1).sign(&b"x"[..], "tc").unwrap().to_file_string();
    let cases = [
        text.replacen("untrusted comment: ", "comment: ", 1),
        text.replacen("trusted comment: tc", "tc", 1),
        text.lines().take(3).collect::<Vec<_>>().join("\n"),
        edit_b64_line(&text, 1, |raw| raw.truncate(73)),
        edit_b64_line(&text, 1, |raw| raw[0] = b'X'),
        text.clone() + "extra\n",
    ];
    for bad in cases {
        let err = Signature::parse(&bad).unwrap_err();
        assert!(
            matches!(err, SignError::Malformed { .. }),
            "{bad:?}: {err:?}"
        );
    }
}

#[test]
fn secret_key_debug_hides_secret() {
    let seed = [0x5a; 32];
    let sk = SecretKey::from_seed(seed, KeyId([9; 8]));
    let dbg = format!("{sk:?} {sk:#?}");
    assert!(dbg.contains(&sk.key_id().to_string()), "{dbg}");
    assert!(!dbg.contains("90, 90"), "{dbg}"); // the seed bytes as a Debug array
    assert!(!dbg.to_lowercase().contains("5a5a"), "{dbg}");
    let file_line = sk.to_file_string().lines().nth(1).unwrap().to_string();
    assert!(!dbg.contains(&file_line[..40]), "{dbg}");
}

#[test]
fn secret_key_file_round_trip_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.key");
    let sk = generate();
    sk.write_secret_key(&path, false).unwrap();
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let back = read_secret_key(&path).unwrap();
    assert_eq!(back.public_key(), sk.public_key());
    assert_eq!(back.to_file_string(), sk.to_file_string());

    let err = generate().write_secret_key(&path, false).unwrap_err();
    assert!(matches!(err, SignError::Exists(_)), "{err:?}");
    assert_eq!(
        read_secret_key(&path).unwrap().public_key(),
        sk.public_key()
    );

    let replacement = generate();
    replacement.write_secret_key(&path, true).unwrap();
    assert_eq!(
        read_secret_key(&path).unwrap().public_key(),
        replacement.public_key()
    );
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Only the key file is left behind: no temporary files.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn public_key_file_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.pub");
    let pk = generate().public_key();
    pk.write_public_key(&path, false).unwrap();
    assert_eq!(read_public_key(&path).unwrap(), pk);
    assert_eq!(PublicKey::from_base64(&pk.to_base64()).unwrap(), pk);
    assert!(matches!(
        pk.write_public_key(&path, false),
        Err(SignError::Exists(_))
    ));
}

#[test]
fn encrypted_secret_key_is_refused_clearly() {
    let text = key(1, 1).to_file_string();
    let encrypted = edit_b64_line(&text, 1, |raw| raw[2..4].copy_from_slice(b"Sc"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("enc.key");
    fs::write(&path, encrypted).unwrap();
    let err = read_secret_key(&path).unwrap_err();
    assert!(
        matches!(err, SignError::EncryptedSecretKey(Some(_))),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("minisign -G -W"), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
}

#[test]
fn secret_key_checksum_is_checked() {
    let text = key(1, 1).to_file_string();
    let bad = edit_b64_line(&text, 1, |raw| {
        let n = raw.len();
        raw[n - 1] ^= 1;
    });
    let err = SecretKey::parse(&bad).unwrap_err();
    assert!(matches!(err, SignError::BadChecksum(None)), "{err:?}");

    // `minisign -G -W` writes an all-zero checksum: accepted.
    let zero = edit_b64_line(&text, 1, |raw| {
        let n = raw.len();
        raw[n - 32..].fill(0);
    });
    assert_eq!(
        SecretKey::parse(&zero).unwrap().public_key(),
        key(1, 1).public_key()
    );

    // A damaged public half is caught even without a checksum.
    let damaged = edit_b64_line(&zero, 1, |raw| raw[54 + 8 + 40] ^= 1);
    let err = SecretKey::parse(&damaged).unwrap_err();
    assert!(matches!(err, SignError::Malformed { .. }), "{err:?}");
}

#[test]
fn read_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pub");
    let err = read_public_key(&missing).unwrap_err();
    assert!(matches!(err, SignError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.pub"), "{err}");

    let garbage = dir.path().join("garbage.minisig");
    fs::write(&garbage, "untrusted comment: x\nnot base64!\n").unwrap();
    let err = read_signature(&garbage).unwrap_err();
    assert!(err.to_string().contains("garbage.minisig"), "{err}");
    assert!(
        matches!(err, SignError::Malformed { path: Some(_), .. }),
        "{err:?}"
    );
}

#[test]
fn keygen_writes_both_files_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ferry.key");
    let pk = keygen(&out).unwrap();
    let pub_path = dir.path().join("ferry.key.pub");
    assert_eq!(read_public_key(&pub_path).unwrap(), pk);
    assert_eq!(read_secret_key(&out).unwrap().public_key(), pk);
    assert_eq!(
        fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let err = keygen(&out).unwrap_err();
    assert!(matches!(err, SignError::Exists(_)), "{err:?}");
    assert_eq!(read_public_key(&pub_path).unwrap(), pk);

    // An existing .pub alone also stops keygen before it writes anything.
    let out2 = dir.path().join("second.key");
    fs::write(dir.path().join("second.key.pub"), "x").unwrap();
    assert!(matches!(keygen(&out2), Err(SignError::Exists(_))));
    assert!(!out2.exists());
}

fn write_signed(dir: &Path, sk: &SecretKey, content: &[u8]) -> (String, String, String) {
    let msg = dir.join("index.json");
    let sig = dir.join("index.json.minisig");
    let pubf = dir.join("ferry.pub");
    fs::write(&msg, content).unwrap();
    let s = sk.sign(content, "ferry bundle test").unwrap();
    fs::write(&sig, s.to_file_string()).unwrap();
    sk.public_key().write_public_key(&pubf, true).unwrap();
    let p = |p: &Path| p.to_str().unwrap().to_string();
    (p(&pubf), p(&msg), p(&sig))
}

#[test]
fn minisign_verifies_ferry_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let sk = generate();
    let content = b"{\"images\":[]}\n".repeat(5000);
    let (pubf, msg, sig) = write_signed(dir.path(), &sk, &content);

    let out = minisign(&["-V", "-H", "-p", &pubf, "-m", &msg, "-x", &sig]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("ferry bundle test"));

    let mut tampered = content.clone();
    tampered[100] ^= 1;
    fs::write(&msg, &tampered).unwrap();
    let out = minisign(&["-V", "-p", &pubf, "-m", &msg, "-x", &sig]);
    assert!(!out.status.success(), "{out:?}");

    // A signature by another key is refused by minisign too.
    fs::write(&msg, &content).unwrap();
    generate()
        .public_key()
        .write_public_key(Path::new(&pubf), true)
        .unwrap();
    let out = minisign(&["-V", "-p", &pubf, "-m", &msg, "-x", &sig]);
    assert!(!out.status.success(), "{out:?}");
}

#[test]
fn ferry_reads_minisign_keys_and_verifies_minisign_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (pubf, keyf, msg, sig) = (p("m.pub"), p("m.key"), p("msg"), p("msg.minisig"));
    let out = minisign(&["-G", "-W", "-p", &pubf, "-s", &keyf]);
    assert!(out.status.success(), "{out:?}");
    let content = vec![0xabu8; 300_000];
    fs::write(&msg, &content).unwrap();
    let out = minisign(&[
        "-S",
        "-s",
        &keyf,
        "-m",
        &msg,
        "-x",
        &sig,
        "-t",
        "from minisign",
    ]);
    assert!(out.status.success(), "{out:?}");

    let pk = read_public_key(Path::new(&pubf)).unwrap();
    let signature = read_signature(Path::new(&sig)).unwrap();
    pk.verify(&content[..], &signature).unwrap();
    assert_eq!(signature.trusted_comment(), "from minisign");
    let err = pk.verify(&content[1..], &signature).unwrap_err();
    assert!(matches!(err, SignError::BadSignature), "{err:?}");

    // ferry reads minisign's unencrypted secret key, and what it signs minisign accepts.
    let sk = read_secret_key(Path::new(&keyf)).unwrap();
    assert_eq!(sk.public_key(), pk);
    let ours = sk.sign(&content[..], "from ferry").unwrap();
    fs::write(&sig, ours.to_file_string()).unwrap();
    let out = minisign(&["-V", "-p", &pubf, "-m", &msg, "-x", &sig]);
    assert!(out.status.success(), "{out:?}");

    // minisign signs with a ferry-written secret key.
    let ferry_key = p("ferry.key");
    let pk2 = keygen(Path::new(&ferry_key)).unwrap();
    let out = minisign(&["-S", "-s", &ferry_key, "-m", &msg, "-x", &sig, "-t", "t"]);
    assert!(out.status.success(), "{out:?}");
    pk2.verify(&content[..], &read_signature(Path::new(&sig)).unwrap())
        .unwrap();

    // A legacy (-l) minisign signature is refused with a clear error.
    let out = minisign(&["-S", "-l", "-s", &keyf, "-m", &msg, "-x", &sig]);
    assert!(out.status.success(), "{out:?}");
    let err = read_signature(Path::new(&sig)).unwrap_err();
    assert!(matches!(err, SignError::LegacySignature), "{err:?}");
}
