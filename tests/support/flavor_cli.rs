//! Driving `ferry setup` and `ferry push` for the registry-flavor tests: bundles, argument
//! lists, auth files, and checks that no secret reaches ferry's output.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use ferry::bundle::Bundle;
use ferry::model::Digest;
use ferry::registry::{find_in_authfile, Credential};

use super::run::*;
use super::skopeo::{skopeo, skopeo_output, skopeo_tls_args};
use super::{fixtures_small, TestRegistry};

/// Packs the small fixtures (OCI layouts and the docker archive) into a signed bundle.
pub fn pack_small() -> Packed {
    pack(&local_lines(fixtures_small()), &[])
}

/// (name, digest) of every bundled image.
pub fn bundled(p: &Packed) -> Vec<(String, String)> {
    let root = Bundle::open(&p.dir).unwrap().unverified_root().unwrap();
    root.images
        .iter()
        .map(|i| (i.name.clone(), i.digest.to_string()))
        .collect()
}

/// A path as an argument.
pub fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Writes a secret into `dir/name` with mode 0600.
pub fn secret_file(dir: &Path, name: &str, value: &str) -> PathBuf {
    let f = dir.join(name);
    std::fs::write(&f, format!("{value}\n")).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    f
}

/// `ferry setup --flavor F --to HOST --robot ferry --authfile-out FILE --insecure-registry HOST`
/// plus the admin-credential options.
pub fn setup_args(flavor: &str, host: &str, authfile: &Path, admin: &[String]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "setup".into(),
        "--flavor".into(),
        flavor.into(),
        "--to".into(),
        host.into(),
        "--robot".into(),
        "ferry".into(),
        "--authfile-out".into(),
        s(authfile),
        "--insecure-registry".into(),
        host.into(),
    ];
    v.extend_from_slice(admin);
    v
}

/// Runs setup with `--json`, checking that it succeeds and that no secret is in its output.
pub fn setup_json(args: &[String], secrets: &[&str]) -> serde_json::Value {
    let mut args = args.to_vec();
    args.push("--json".into());
    let out = ferry(&args);
    assert_no_secret(&out, secrets);
    assert!(out.status.success(), "setup failed: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Panics if any of `secrets` (which must not be empty) appears in stdout or stderr.
pub fn assert_no_secret(out: &Output, secrets: &[&str]) {
    let all = text(out);
    for secret in secrets {
        assert!(
            !secret.is_empty() && !all.contains(secret),
            "a secret appears in ferry's output:\n{all}"
        );
    }
}

/// The credential the auth file holds for `host`.
pub fn robot_credential(authfile: &Path, host: &str) -> Credential {
    let text = std::fs::read_to_string(authfile).unwrap();
    find_in_authfile(&text, authfile, host)
        .unwrap()
        .expect("the auth file holds the robot")
}

/// A JSON array of strings.
pub fn names(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// `ferry push` of `p` to `host` with the robot auth file, JSON output, plus `extra`.
pub fn push_args(p: &Packed, host: &str, authfile: &Path, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "push".into(),
        s(&p.dir),
        "--trusted-key".into(),
        s(&p.pubkey),
        "--to".into(),
        host.into(),
        "--authfile".into(),
        s(authfile),
        "--insecure-registry".into(),
        host.into(),
        "--mirrorsets-out".into(),
        s(&p.tmp.path().join("mirrorsets")),
        "--json".into(),
    ];
    v.extend(extra.iter().map(|x| x.to_string()));
    v
}

/// sha256 of the manifest at `docker://REF` as `creds` sees it through `host` (plain HTTP).
pub fn fetched_digest(reference: &str, creds: &Credential) -> Result<String, String> {
    let out = skopeo_output([
        "inspect".to_string(),
        "--raw".into(),
        "--tls-verify=false".into(),
        "--creds".into(),
        format!("{}:{}", creds.username, creds.password()),
        format!("docker://{reference}"),
    ]);
    if out.status.success() {
        Ok(Digest::sha256_of(&out.stdout).to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Every bundled image is in the registry behind the stand-in under the passthrough name.
pub fn assert_pushed(registry: &TestRegistry, p: &Packed, prefix: &str) {
    let flags = skopeo_tls_args(registry);
    for (name, digest) in bundled(p) {
        let r = ferry::model::Reference::parse(&name).unwrap();
        let repo = format!("{prefix}/{}/{}", r.registry(), r.repository());
        let mut args = vec!["inspect".to_string(), "--raw".into()];
        args.extend(flags.inspect.clone());
        args.push(format!("docker://{}/{repo}@{digest}", registry.host()));
        assert_eq!(
            Digest::sha256_of(&skopeo(&args)).to_string(),
            digest,
            "{name}"
        );
    }
}
