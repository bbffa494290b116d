//! What every command shares: exit codes, JSON output, worker count, registry options, opening
//! bundles, and the target's notes.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use super::args::RegistryArgs;
use ferry::bundle::{Bundle, Unverified, Verified};
use ferry::flavor::Target;
use ferry::registry::{ClientOptions, Credential};
use ferry::sign::{self, PublicKey};

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: an error stopped the work.
pub const EXIT_ERROR: i32 = 1;
/// Exit code: usage error.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: the work ran and found problems (damage, failed images, missing images).
pub const EXIT_PROBLEMS: i32 = 3;

/// Prints `v` as pretty JSON on stdout.
pub fn print_json<T: Serialize>(v: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

/// `--jobs`, or the number of CPUs (at least 2).
pub fn jobs(j: Option<usize>) -> usize {
    j.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .max(2)
    })
}

/// The user agent ferry sends.
pub fn user_agent() -> String {
    format!("ferry/{}", env!("CARGO_PKG_VERSION"))
}

/// The registry client options the flags ask for.
pub fn client_options(a: &RegistryArgs) -> Result<ClientOptions> {
    let mut o = ClientOptions::default();
    if let Some(c) = &a.creds {
        o.creds = Some(Credential::parse(c).context("--creds must be USER:PASS")?);
    }
    o.authfile = a.authfile.clone();
    o.ca_files = a.ca_files.clone();
    o.insecure = a.insecure.clone();
    o.retry.attempts = a.retry_times.saturating_add(1);
    o.user_agent = user_agent();
    Ok(o)
}

/// Reads the public key a bundle must be signed with.
pub fn read_public_key(p: &Path) -> Result<PublicKey> {
    sign::read_public_key(p).with_context(|| format!("reading trusted key {}", p.display()))
}

/// Opens a bundle without checking its signature.
pub fn open_bundle(dir: &Path) -> Result<Bundle<Unverified>> {
    Bundle::open(dir).with_context(|| format!("opening bundle {}", dir.display()))
}

/// Reads every `--trusted-key`.
pub fn read_public_keys(paths: &[PathBuf]) -> Result<Vec<PublicKey>> {
    paths.iter().map(|p| read_public_key(p)).collect()
}

/// Opens a bundle and checks its signature against the one of `keys` it names.
pub fn open_verified(dir: &Path, keys: &[PathBuf]) -> Result<Bundle<Verified>> {
    let keys = read_public_keys(keys)?;
    open_bundle(dir)?
        .verify_any(&keys)
        .with_context(|| format!("verifying bundle {}", dir.display()))
}

/// Prints what the user should know about how the target was read.
pub fn print_notes(target: &Target) {
    for n in target.notes() {
        eprintln!("note: {n}");
    }
}
