//! Running skopeo against test registries.

use std::ffi::OsStr;
use std::process::{Command, Output};

use super::registry::{Credentials, TestRegistry};
use super::{require_tool, FixtureImage, FixtureSet};

/// Runs skopeo and returns its output whatever the exit status (for expected failures).
pub fn skopeo_output<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let tool = require_tool("skopeo");
    Command::new(tool)
        .args(args)
        .output()
        .expect("running skopeo")
}

/// Runs skopeo, panicking with its stderr unless it succeeds; returns stdout.
pub fn skopeo<I, S>(args: I) -> Vec<u8>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<std::ffi::OsString> = args
        .into_iter()
        .map(|a| a.as_ref().to_os_string())
        .collect();
    let out = skopeo_output(&args);
    if !out.status.success() {
        // Arguments may hold credentials: show only the subcommand.
        let sub = args
            .first()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default();
        panic!(
            "skopeo {sub} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    out.stdout
}

/// skopeo flags for talking to one registry, by the role the registry plays.
#[derive(Clone)]
pub struct SkopeoFlags {
    /// For `skopeo copy` when the registry is the source (`--src-...`).
    pub src: Vec<String>,
    /// For `skopeo copy` when the registry is the destination (`--dest-...`).
    pub dest: Vec<String>,
    /// For `skopeo inspect` / `delete` / `list-tags` (`--tls-verify`, `--cert-dir`, `--creds`).
    pub inspect: Vec<String>,
}

/// Flags for `reg` with its read-write user (if it has authentication):
/// plain → `--*tls-verify=false`; TLS → `--*cert-dir DIR` (a dir with `ca.crt`);
/// plus `--*creds user:pass` when the registry has users.
pub fn skopeo_tls_args(reg: &TestRegistry) -> SkopeoFlags {
    flags(reg, reg.credentials())
}

/// Like [`skopeo_tls_args`] but authenticating as `creds` (e.g. the token registry's reader).
pub fn skopeo_tls_args_as(reg: &TestRegistry, creds: &Credentials) -> SkopeoFlags {
    flags(reg, Some(creds))
}

fn flags(reg: &TestRegistry, creds: Option<&Credentials>) -> SkopeoFlags {
    let role = |prefix: &str| {
        let mut v = match reg.skopeo_cert_dir() {
            Some(dir) => vec![format!("--{prefix}cert-dir"), dir.display().to_string()],
            None => vec![format!("--{prefix}tls-verify=false")],
        };
        if let Some(c) = creds {
            v.push(format!("--{prefix}creds"));
            v.push(c.colon_joined());
        }
        v
    };
    SkopeoFlags {
        src: role("src-"),
        dest: role("dest-"),
        inspect: role(""),
    }
}

/// Copies one fixture image (all platforms, digests preserved) into `reg` as
/// `<repository>:<tag>`, as the read-write user.
pub fn load_fixture(reg: &TestRegistry, image: &FixtureImage) {
    ferry_fixtures::copy_with_skopeo(image, &reg.host(), &skopeo_tls_args(reg).dest)
        .unwrap_or_else(|e| panic!("loading fixture {} into {}: {e:#}", image.slug, reg.host()));
}

/// Copies every image of `set` into `reg` (see [`load_fixture`]).
pub fn load_fixtures(reg: &TestRegistry, set: &FixtureSet) {
    for image in &set.images {
        load_fixture(reg, image);
    }
}

/// sha256 of `skopeo inspect --raw docker://<host>/<repository><suffix>` (suffix `:tag` or
/// `@digest`), as the read-write user.
pub fn raw_digest(reg: &TestRegistry, image: &FixtureImage, suffix: &str) -> String {
    ferry_fixtures::raw_digest_with_skopeo(
        image,
        &reg.host(),
        suffix,
        &skopeo_tls_args(reg).inspect,
    )
    .unwrap_or_else(|e| {
        panic!(
            "inspecting {}{suffix} in {}: {e:#}",
            image.repository,
            reg.host()
        )
    })
}

/// `skopeo inspect --raw` of `repo@digest` (or `repo:tag`) at `target`, hashed.
pub fn mirrored_digest(target: &TestRegistry, repo: &str, reference: &str) -> String {
    let flags = skopeo_tls_args(target);
    let mut args = vec!["inspect".to_string(), "--raw".to_string()];
    args.extend(flags.inspect.clone());
    let sep = if reference.contains(':') { '@' } else { ':' };
    args.push(format!("docker://{}/{repo}{sep}{reference}", target.host()));
    ferry::model::Digest::sha256_of(&skopeo(&args)).to_string()
}
