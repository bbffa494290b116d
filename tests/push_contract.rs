//! `ferry push` against real registries where something is off: wrong or missing credentials
//! (refused once, before any image, naming where they came from), credentials that may only
//! pull (no mirror sets when no image landed), a plain-HTTP registry named as such, stray files
//! beside the volumes, and a closed stdout.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::run::*;
use support::*;

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// `push` arguments without registry flags: bundle, key, target, mirror sets, JSON.
fn push_args(p: &Packed, target: &TestRegistry) -> Vec<String> {
    let mut args = vec![
        "push".into(),
        s(&p.dir),
        "--trusted-key".into(),
        s(&p.pubkey),
        "--to".into(),
        target.host(),
        "--mirrorsets-out".into(),
        s(&p.tmp.path().join("mirrorsets")),
    ];
    if let Some(issuer) = target.token_issuer() {
        // Its token service speaks plain HTTP: credentials go there only when it is listed.
        args.extend(["--insecure-registry".into(), issuer.host()]);
    }
    args
}

/// Runs ferry with no auth file in reach (HOME and the runtime dir point at `home`).
fn ferry_without_authfiles(args: &[String], home: &Path) -> Output {
    Command::new(ferry_bin())
        .args(args)
        .env("HOME", home)
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("FERRY_CREDS")
        .output()
        .unwrap()
}

#[test]
fn wrong_credentials_are_refused_once_before_any_image_naming_their_source() {
    let set = fixtures_small();
    let p = pack(&local_lines(set), &[]);
    assert!(set.images.len() >= 3);

    // htpasswd (Basic): a wrong password in an auth file.
    let reg = TestRegistry::tls_htpasswd();
    let authfile = p.tmp.path().join("wrong-auth.json");
    let user = reg.credentials().unwrap().username.clone();
    let body = serde_json::json!({"auths": {reg.host(): {
        "auth": base64_encode(&format!("{user}:not-the-password"))}}});
    std::fs::write(&authfile, body.to_string()).unwrap();
    let mut args = push_args(&p, &reg);
    args.extend([
        "--ca-file".into(),
        s(reg.ca_cert_path()),
        "--authfile".into(),
        s(&authfile),
    ]);
    let out = ferry(&args);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("refused the credentials"), "{t}");
    assert!(
        t.contains(&format!("auth file {}", authfile.display())),
        "{t}"
    );
    assert!(
        !t.contains("refused pull"),
        "nothing is pulled while pushing: {t}"
    );
    assert_no_repeated_segment(&out);
    assert!(!p.tmp.path().join("mirrorsets").exists(), "{t}");
    let log = reg.access_log();
    assert!(
        log.iter().all(|e| e.path == "/v2/"),
        "no repository was touched with wrong credentials: {log:?}"
    );
    assert!(log.len() <= 3, "{log:?}");

    // Token auth: a wrong --creds is refused by the token service once.
    let reg = TestRegistry::token_auth();
    let mut args = push_args(&p, &reg);
    args.extend([
        "--ca-file".into(),
        s(reg.ca_cert_path()),
        "--creds".into(),
        format!("{user}:not-the-password"),
    ]);
    let out = ferry(&args);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("credentials used: --creds"), "{t}");
    let issuer = reg.token_issuer().unwrap();
    assert_eq!(issuer.requests().len(), 1, "{:?}", issuer.requests());

    // No credentials at all: the message says none were found.
    let home = tempfile::tempdir().unwrap();
    let mut args = push_args(&p, &reg);
    args.extend(["--ca-file".into(), s(reg.ca_cert_path())]);
    let out = ferry_without_authfiles(&args, home.path());
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("credentials used: none"), "{t}");
    assert!(!p.tmp.path().join("mirrorsets").exists(), "{t}");
}

fn base64_encode(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn no_mirror_sets_are_written_when_no_image_landed() {
    let set = fixtures_small();
    let p = pack(&local_lines(set)[..2], &[]);
    let reg = TestRegistry::token_auth();
    let reader = reg.reader_credentials().unwrap().colon_joined();
    let mut args = push_args(&p, &reg);
    args.extend([
        "--ca-file".into(),
        s(reg.ca_cert_path()),
        "--creds".into(),
        reader,
        "--json".into(),
    ]);
    let out = ferry(&args);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["images"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["ok"] == false));
    assert_eq!(report["mirrorsets"], serde_json::json!([]), "{report}");
    assert!(!p.tmp.path().join("mirrorsets").exists());
}

#[test]
fn a_plain_http_registry_is_named_as_such() {
    let p = pack(&local_lines(fixtures_small())[..1], &[]);
    let reg = TestRegistry::plain();
    let out = ferry(push_args(&p, &reg));
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("plain HTTP"), "{t}");
    assert!(
        t.contains(&format!("--insecure-registry {}", reg.host())),
        "{t}"
    );
    assert!(
        !t.contains("InvalidContentType") && !t.contains("corrupt message"),
        "{t}"
    );
    assert_no_repeated_segment(&out);
}

#[test]
fn push_skips_stray_files_with_one_line_each() {
    let p = pack(&local_lines(fixtures_small())[..1], &[]);
    let vol = volumes(&p.dir)[0].clone();
    let dot = p
        .dir
        .join(format!("._{}", vol.file_name().unwrap().to_str().unwrap()));
    let mut apple = vec![0u8; 4096];
    apple[..4].copy_from_slice(&[0x00, 0x05, 0x16, 0x07]);
    std::fs::write(&dot, apple).unwrap();
    std::fs::write(p.dir.join("empty"), b"").unwrap();
    let reg = TestRegistry::plain();
    let out = ferry(registry_push_args(&p, &reg, &[]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["skipped"].as_array().unwrap().len(), 2, "{report}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.lines()
            .filter(|l| l.starts_with("skipped ") && l.contains("._ferry-"))
            .count(),
        1,
        "{err}"
    );
    assert!(all_ok(&report));
}

#[test]
fn push_with_a_closed_stdout_finishes_quietly() {
    let p = pack(&local_lines(fixtures_small())[..2], &[]);
    let reg = TestRegistry::plain();
    // The human output: `println!` panicked on a closed stdout.
    let mut args = push_args(&p, &reg);
    args.extend(["--insecure-registry".into(), reg.host()]);
    let mut child = ferry_command()
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(reg.count_requests("PUT", "/manifests/") >= 2);
}
