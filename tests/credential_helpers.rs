//! Credential helpers named in auth files (`credHelpers`, `credsStore`): ferry runs
//! `docker-credential-NAME get` as the containers tools do (issue 14, item 3), with a fake
//! helper script placed on PATH, against the real TLS + htpasswd registry.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use support::run::{ferry_bin, local_lines, pack, text, Packed};
use support::{fixtures_small, TestRegistry};

/// Writes `docker-credential-test` into `dir`: it answers `get` for `host` with `user` and
/// `secret`, and says "credentials not found" for any other server.
fn write_helper(dir: &Path, host: &str, user: &str, secret: &str) {
    let script = format!(
        "#!/bin/sh\n\
         [ \"$1\" = get ] || exit 2\n\
         server=$(cat)\n\
         if [ \"$server\" = \"{host}\" ]; then\n\
           printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}' \"$server\"\n\
           exit 0\n\
         fi\n\
         echo 'credentials not found in native keychain'\n\
         exit 1\n"
    );
    let path = dir.join("docker-credential-test");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `ferry push` of `p` into `reg` with auth file `authfile`, the helper directory first on
/// PATH, and request tracing on.
fn push(p: &Packed, reg: &TestRegistry, authfile: &Path, helpers: &Path) -> Output {
    let path = format!(
        "{}:{}",
        helpers.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new(ferry_bin())
        .args(["push", p.dir.to_str().unwrap(), "--trusted-key"])
        .arg(&p.pubkey)
        .args(["--to", &reg.host(), "--ca-file"])
        .arg(reg.ca_cert_path())
        .arg("--authfile")
        .arg(authfile)
        .arg("--mirrorsets-out")
        .arg(p.tmp.path().join("mirrorsets"))
        .arg("-vv")
        .env("PATH", path)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("running ferry")
}

#[test]
fn credentials_come_from_the_helper_an_auth_file_names() {
    let set = fixtures_small();
    let p = pack(&local_lines(set)[..1], &[]);
    let reg = TestRegistry::tls_htpasswd();
    let helpers = tempfile::tempdir().unwrap();
    write_helper(helpers.path(), &reg.host(), reg.username(), reg.password());

    // credHelpers names the helper for this registry; the auths entry is empty, as docker
    // login leaves it.
    let authfile = p.tmp.path().join("helpers.json");
    let body = serde_json::json!({
        "auths": {reg.host(): {}},
        "credHelpers": {reg.host(): "test"},
    });
    std::fs::write(&authfile, body.to_string()).unwrap();
    let out = push(&p, &reg, &authfile, helpers.path());
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        !t.contains(reg.password()),
        "the secret is never shown: {t}"
    );

    // credsStore: the helper for every registry without its own.
    let store = p.tmp.path().join("store.json");
    std::fs::write(&store, r#"{"auths":{},"credsStore":"test"}"#).unwrap();
    let out = push(&p, &reg, &store, helpers.path());
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_helper_that_is_not_installed_is_named() {
    let set = fixtures_small();
    let p = pack(&local_lines(set)[..1], &[]);
    let reg = TestRegistry::tls_htpasswd();
    let empty = tempfile::tempdir().unwrap();
    let authfile = p.tmp.path().join("missing.json");
    std::fs::write(&authfile, r#"{"credsStore":"absent"}"#).unwrap();
    let out = push(&p, &reg, &authfile, empty.path());
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("docker-credential-absent") && t.contains("not on PATH"),
        "{t}"
    );
}
