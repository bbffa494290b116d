//! Test support shared by every integration test (`mod support;`): the real registry in three
//! flavours, a token issuer, per-run certificates, skopeo helpers and the fixture images.
//!
//! Every helper panics with a clear message instead of returning errors: these are tests.
#![allow(dead_code, unused_imports)]

pub mod attached;
pub mod catalog;
pub mod certs;
pub mod flavor_cli;
pub mod harbor_standin;
pub mod olm_schema;
pub mod proxy;
pub mod quay_standin;
pub mod registry;
pub mod release;
pub mod run;
pub mod served;
pub mod site_images;
pub mod skopeo;
pub mod standin;
pub mod token;
pub mod versions;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use ferry_fixtures::{FixtureImage, FixtureSet};
pub use registry::{AccessLogEntry, Credentials, TestRegistry};
pub use skopeo::{
    load_fixture, load_fixtures, mirrored_digest, raw_digest, skopeo, skopeo_output,
    skopeo_tls_args, skopeo_tls_args_as, SkopeoFlags,
};
pub use token::{IssuerUsers, TokenIssuer, TokenRequest};

/// Panics unless `tool` (a bare name looked up in PATH, or an absolute path) exists.
pub fn require_tool(tool: &str) -> PathBuf {
    let found = if tool.starts_with('/') {
        Some(PathBuf::from(tool)).filter(|p| p.is_file())
    } else {
        std::env::var_os("PATH")
            .map(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(tool))
                    .find(|p| p.is_file())
            })
            .unwrap_or_default()
    };
    let name = Path::new(tool)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    found.unwrap_or_else(|| panic!("{name} not found: run scripts/test.sh, which installs it"))
}

/// The fixture images including `large` (100 MiB layer), built once per test process.
pub fn fixtures() -> &'static FixtureSet {
    static SET: OnceLock<FixtureSet> = OnceLock::new();
    SET.get_or_init(|| build_fixtures("full", true))
}

/// The fixture images without `large`, built once per test process.
pub fn fixtures_small() -> &'static FixtureSet {
    static SET: OnceLock<FixtureSet> = OnceLock::new();
    SET.get_or_init(|| build_fixtures("small", false))
}

/// Builds into `$CARGO_TARGET_TMPDIR/ferry-fixtures-<pid>-<variant>`. Statics are never
/// dropped, so instead of a TempDir each build first removes directories left by test
/// processes that no longer run.
fn build_fixtures(variant: &str, include_large: bool) -> FixtureSet {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(base).expect("creating CARGO_TARGET_TMPDIR");
    for entry in std::fs::read_dir(base)
        .expect("listing CARGO_TARGET_TMPDIR")
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name
            .strip_prefix("ferry-fixtures-")
            .and_then(|r| r.split('-').next())
        {
            if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let out = base.join(format!("ferry-fixtures-{}-{variant}", std::process::id()));
    let opts = ferry_fixtures::Options {
        include_large,
        ..Default::default()
    };
    ferry_fixtures::build(&out, &opts)
        .unwrap_or_else(|e| panic!("building fixtures in {}: {e:#}", out.display()))
}
