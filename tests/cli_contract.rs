//! What the binary promises whatever the bundle: unverified input never becomes cluster
//! configuration unannounced, a volume holds only the members the format allows, stray files
//! are skipped by name, every cause is printed once, and the exit codes the help documents
//! (0 success, 1 error, 2 usage, 3 problems found), also with a closed stdout.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::run::*;
use support::*;

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn pack_two() -> Packed {
    pack(&local_lines(fixtures_small())[..2], &[])
}

fn verify_args(p: &Packed, extra: &[&str]) -> Vec<String> {
    let mut v = vec![
        "verify".to_string(),
        s(&p.dir),
        "--trusted-key".into(),
        s(&p.pubkey),
    ];
    v.extend(extra.iter().map(|x| x.to_string()));
    v
}

// ---- item 6: unverified input ----

#[test]
fn mirrorsets_and_check_need_a_trusted_key_or_an_explicit_no_verify() {
    let p = pack_two();
    let out_dir = p.tmp.path().join("ms");
    let base = |cmd: &str| -> Vec<String> {
        let mut v = vec![cmd.to_string(), s(&p.dir), "--to".into()];
        v.push("mirror.example:5000".into());
        if cmd == "mirrorsets" {
            v.extend(["--out".to_string(), s(&out_dir)]);
        }
        v
    };
    for cmd in ["mirrorsets", "check"] {
        let out = ferry(base(cmd));
        assert_eq!(out.status.code(), Some(2), "{cmd}: {}", text(&out));
        assert!(text(&out).contains("--trusted-key"), "{}", text(&out));
    }
    assert!(!out_dir.exists(), "nothing written without a key");

    // A forged stick: the same bundle format signed by someone else's key.
    let forged = pack_two();
    let mut args = base("mirrorsets");
    args[1] = s(&forged.dir);
    args.extend(["--trusted-key".to_string(), s(&p.pubkey)]);
    let out = ferry(&args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not signed by a trusted key"));
    assert!(!out_dir.exists(), "no IDMS from a forged bundle");

    // --no-verify is explicit and says what was not checked.
    let mut args = base("mirrorsets");
    args.push("--no-verify".into());
    let out = ferry(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--no-verify") && err.contains("NOT checked"),
        "{err}"
    );
    assert!(out_dir.exists());
}

#[test]
fn inspect_says_plainly_that_the_signature_was_not_checked() {
    let p = pack_two();
    let human = ferry_ok(["inspect", &s(&p.dir)]);
    assert!(human.contains("signature NOT checked"), "{human}");
    let json: serde_json::Value =
        serde_json::from_str(&ferry_ok(["inspect", &s(&p.dir), "--json"])).unwrap();
    assert_eq!(json["signature_checked"], false, "{json}");
}

// ---- item 7: members the format does not allow ----

/// A GNU tar header for `name` of `kind` with `size` bytes (names with `..` written raw).
fn raw_header(name: &str, kind: tar::EntryType, size: u64, link: Option<&str>) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    let old = h.as_old_mut();
    old.name[..name.len()].copy_from_slice(name.as_bytes());
    if let Some(l) = link {
        old.linkname[..l.len()].copy_from_slice(l.as_bytes());
    }
    h.set_size(size);
    h.set_mode(0o644);
    h.set_entry_type(kind);
    h.set_mtime(0);
    h.set_cksum();
    h
}

/// `original` with `entry` (header and data) put where its end-of-archive blocks were, and
/// new ones after it (what `tar --append` does).
fn with_appended(original: &[u8], h: &tar::Header, data: &[u8]) -> Vec<u8> {
    let mut v = original[..original.len() - 1024].to_vec();
    v.extend_from_slice(h.as_bytes());
    v.extend_from_slice(data);
    v.resize(v.len().div_ceil(512) * 512, 0);
    v.extend_from_slice(&[0u8; 1024]);
    v
}

#[test]
fn entries_the_format_does_not_allow_fail_verify_naming_the_entry() {
    let p = pack_two();
    let vol = volumes(&p.dir)[0].clone();
    let original = std::fs::read(&vol).unwrap();
    assert!(original.ends_with(&[0u8; 1024]));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a file outside the directory",
            with_appended(
                &original,
                &raw_header("../../etc/x", tar::EntryType::Regular, 4, None),
                b"evil",
            ),
            "\"../../etc/x\"",
        ),
        (
            "a symlink",
            with_appended(
                &original,
                &raw_header("link", tar::EntryType::Symlink, 0, Some("/etc/passwd")),
                b"",
            ),
            "\"link\" (symbolic link)",
        ),
        (
            "a hard link",
            with_appended(
                &original,
                &raw_header("hard", tar::EntryType::Link, 0, Some("root.json")),
                b"",
            ),
            "\"hard\" (hard link)",
        ),
        (
            "bytes after the end of archive",
            [&original[..], b"trailing garbage"].concat(),
            "16 bytes after the end of the archive",
        ),
    ];
    for (what, bytes, named) in cases {
        std::fs::write(&vol, &bytes).unwrap();
        let out = ferry(verify_args(&p, &[]));
        assert_eq!(out.status.code(), Some(3), "{what}: {}", text(&out));
        assert!(text(&out).contains(named), "{what}: {}", text(&out));
        assert!(
            text(&out).contains(vol.file_name().unwrap().to_str().unwrap()),
            "{what}: names the volume: {}",
            text(&out)
        );
    }
    // Cut inside the end-of-archive blocks: truncated, damage.
    std::fs::write(&vol, &original[..original.len() - 100]).unwrap();
    let out = ferry(verify_args(&p, &[]));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("truncated"), "{}", text(&out));
    std::fs::write(&vol, &original).unwrap();
    verify_ok(&p.dir, &p.pubkey, &[]);
}

// ---- item 8: stray files ----

/// A macOS AppleDouble file (`._NAME`), as Finder leaves on FAT sticks.
fn apple_double(path: &Path) {
    let mut b = vec![0u8; 4096];
    b[..8].copy_from_slice(&[0x00, 0x05, 0x16, 0x07, 0x00, 0x02, 0x00, 0x00]);
    b[8..24].copy_from_slice(b"Mac OS X        ");
    std::fs::write(path, b).unwrap();
}

/// Adds the three kinds of stray file to `dir`; returns their paths.
fn add_strays(dir: &Path) -> Vec<PathBuf> {
    let vol = volumes(dir)[0].clone();
    let dot = dir.join(format!("._{}", vol.file_name().unwrap().to_str().unwrap()));
    apple_double(&dot);
    let empty = dir.join("empty.tar");
    std::fs::write(&empty, b"").unwrap();
    let unrelated = dir.join("photos.tar");
    let mut t = tar::Builder::new(std::fs::File::create(&unrelated).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o644);
    h.set_cksum();
    t.append_data(&mut h, "holiday.txt", &b"hello"[..]).unwrap();
    t.into_inner().unwrap().flush().unwrap();
    vec![dot, empty, unrelated]
}

#[test]
fn stray_files_are_skipped_with_one_line_each() {
    let p = pack_two();
    let strays = add_strays(&p.dir);
    let out = ferry(verify_args(&p, &[]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    for f in &strays {
        let name = f.file_name().unwrap().to_str().unwrap();
        let lines: Vec<&str> = err.lines().filter(|l| l.contains(name)).collect();
        assert_eq!(lines.len(), 1, "one line for {name}:\n{err}");
        assert!(lines[0].starts_with("skipped "), "{}", lines[0]);
    }
    let json: serde_json::Value =
        serde_json::from_str(&ferry_ok(verify_args(&p, &["--json"]))).unwrap();
    let skipped = json["skipped"]
        .as_array()
        .expect("skipped in the JSON report");
    assert_eq!(skipped.len(), 3, "{json}");
    assert!(skipped.iter().all(|s| s["reason"].as_str().is_some()));
}

#[test]
fn a_volume_of_another_bundle_than_the_directory_is_refused() {
    let p = pack_two();
    let q = pack(&local_lines(fixtures_small())[2..3], &[]);
    let other = volumes(&q.dir)[0].clone();
    let out = ferry(verify_args(&p, &["--volume", &s(&other)]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&s(&other)) && text(&out).contains("belongs to bundle"),
        "{}",
        text(&out)
    );
    // Its own volume, given with its directory, checks.
    let own = volumes(&p.dir)[0].clone();
    verify_ok(&p.dir, &p.pubkey, &["--volume", &s(&own)]);
}

// ---- item 11: each cause once; an absurd blob size ----

#[test]
fn an_io_error_names_each_cause_once() {
    let p = pack_two();
    let missing = p.tmp.path().join("no-such-key.pub");
    let out = ferry(["verify", &s(&p.dir), "--trusted-key", &s(&missing)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("No such file"), "{}", text(&out));
    assert_no_repeated_segment(&out);
}

/// Writes an OCI layout whose one image has a layer declaring `size` bytes.
fn layout_with_layer_size(dir: &Path, size: u64) -> String {
    use sha2::Digest as _;
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let hex = hex::encode(sha2::Sha256::digest(bytes));
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let (config, config_len) =
        put(br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#);
    let (layer, _) = put(b"a small layer");
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_len},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": size}]
    })
    .to_string();
    let (m, m_len) = put(manifest.as_bytes());
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": m, "size": m_len,
                       "annotations": {"org.opencontainers.image.ref.name": "v1"}}]
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    layer
}

#[test]
fn a_blob_declaring_an_absurd_size_is_named_with_its_image() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let layer = layout_with_layer_size(&layout, 1 << 50);
    let (key, _) = keygen(tmp.path(), "k");
    let line = format!("oci:{}:v1 quay.io/odd/app:v1", layout.display());
    let list = write_list(tmp.path(), "list.txt", &[line]);
    let out = ferry(pack_args(&list, &key, &tmp.path().join("b"), &[]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains(&layer) && t.contains("oci:"), "{t}");
    assert!(!t.contains("--volume-size"), "{t}");
}

// ---- item 12: exit codes ----

#[test]
fn missing_and_truncated_volumes_exit_3_and_bad_flag_values_exit_2() {
    // The 100 MiB layer needs two 64 MiB volumes.
    let p = pack(
        &[oci_line(fixtures().image("large"))],
        &["--volume-size".into(), "64MiB".into()],
    );
    let vols = volumes(&p.dir);
    assert!(vols.len() >= 2, "{vols:?}");
    let parked = p.tmp.path().join("parked");
    std::fs::rename(&vols[1], &parked).unwrap();
    let out = ferry(verify_args(&p, &[]));
    assert_eq!(out.status.code(), Some(3), "missing: {}", text(&out));
    std::fs::rename(&parked, &vols[1]).unwrap();
    let bytes = std::fs::read(&vols[0]).unwrap();
    std::fs::write(&vols[0], &bytes[..bytes.len() - 700]).unwrap();
    let out = ferry(verify_args(&p, &[]));
    assert_eq!(out.status.code(), Some(3), "truncated: {}", text(&out));
    std::fs::write(&vols[0], &bytes).unwrap();

    let list = write_list(p.tmp.path(), "l.txt", &local_lines(fixtures_small())[..1]);
    let args = pack_args(
        &list,
        &p.key,
        &p.tmp.path().join("x"),
        &["--volume-size".into(), "12XB".into()],
    );
    let out = ferry(&args);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = ferry([
        "export",
        &s(&p.dir),
        "--trusted-key",
        &s(&p.pubkey),
        "--to",
        "/not/oci",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = ferry([
        "push",
        &s(&p.dir),
        "--trusted-key",
        &s(&p.pubkey),
        "--to",
        "127.0.0.1:1",
        "--creds",
        "no-colon",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

/// Runs ferry with its stdout a pipe whose reading end is already closed.
pub fn ferry_closed_stdout(args: &[String]) -> std::process::Output {
    let mut child = Command::new(ferry_bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_stdout_ends_quietly_with_the_commands_own_exit_code() {
    let p = pack_two();
    for args in [
        vec!["inspect".to_string(), s(&p.dir)],
        vec!["inspect".to_string(), s(&p.dir), "--json".into()],
        verify_args(&p, &["--json"]),
    ] {
        let out = ferry_closed_stdout(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // Damage found is still exit 3 when the report cannot be printed.
    let vol = volumes(&p.dir)[0].clone();
    flip_byte(&vol, 512 + 1000);
    let out = ferry_closed_stdout(&verify_args(&p, &["--json"]));
    assert_eq!(out.status.code(), Some(3));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}
