//! What every command shares: exit codes, JSON output, messages on stderr, worker count, registry
//! options, opening bundles, and the target's notes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use serde::Serialize;

use super::args::RegistryArgs;
pub use super::events::say;
use ferry::bundle::{Bundle, SkippedFile, Unverified, Verified};
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

/// Set once stdout is found closed: later output is dropped quietly.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes to stdout without panicking (as `print!` does on a closed pipe). A closed stdout
/// (`ferry inspect B | head`) is not an error: output stops quietly and the command finishes
/// with its own exit code. Other write errors (a full disk) are errors.
pub fn write_stdout(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match out.write_fmt(args).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        r => r,
    }
}

/// Prints `v` (a struct or map: every command's `--json` is one object) as pretty JSON on
/// stdout, with `elapsed_seconds`, how long the command took.
pub fn print_json<T: Serialize>(v: &T) -> Result<()> {
    #[derive(Serialize)]
    struct Timed<'a, T> {
        #[serde(flatten)]
        report: &'a T,
        elapsed_seconds: f64,
    }
    let elapsed = (super::events::elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    let text = serde_json::to_string_pretty(&Timed {
        report: v,
        elapsed_seconds: elapsed,
    })?;
    write_stdout(format_args!("{text}\n"))?;
    Ok(())
}

/// A value the user gave on the command line is unusable: exit code 2, like a parse error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A usage error as an `anyhow::Error`.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// Prints one line per file of a bundle directory that is not a volume (skipped).
pub fn print_skipped(skipped: &[SkippedFile]) {
    for s in skipped {
        say(
            "",
            &format!(
                "skipped {}: not a ferry volume ({})",
                s.path.display(),
                s.reason
            ),
        );
    }
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

/// The registry client options the flags ask for; `hosts` are the registries the command
/// addresses, which skopeo's `--tls-verify=false` makes insecure.
pub fn client_options(a: &RegistryArgs, hosts: &[String]) -> Result<ClientOptions> {
    let mut o = ClientOptions::default();
    if let Some(c) = &a.creds {
        o.creds =
            Some(Credential::parse(c).map_err(|_| {
                usage("--creds must be USER:PASS (a user name, ':', the password)")
            })?);
    }
    o.authfile = a.authfile.clone();
    o.ca_files = a.ca_files.clone();
    if let Some(dir) = &a.cert_dir {
        o.ca_files.extend(cert_dir_files(dir)?);
    }
    o.insecure = a.insecure.clone();
    o.realm_hosts = a.realm_hosts.clone();
    if a.tls_verify == Some(false) {
        o.insecure.extend(hosts.iter().cloned());
    }
    o.retry.budget = a.retry_for;
    if let Some(n) = a.retry_times {
        o.retry.attempts = n.saturating_add(1);
    }
    o.user_agent = user_agent();
    o.upload_journal = upload_journal_dir();
    Ok(o)
}

/// Where open upload sessions are recorded between runs: `$XDG_STATE_HOME/ferry/uploads`, or
/// `~/.local/state/ferry/uploads`; `FERRY_UPLOAD_JOURNAL` overrides it (empty: none).
fn upload_journal_dir() -> Option<std::path::PathBuf> {
    if let Some(dir) = std::env::var_os("FERRY_UPLOAD_JOURNAL") {
        return (!dir.is_empty()).then(|| dir.into());
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/state")))?;
    Some(state.join("ferry/uploads"))
}

/// The CA certificates (`*.crt`) of a skopeo-style `--cert-dir`. Client certificates there
/// would be ignored, so they are refused with where ferry reads them.
fn cert_dir_files(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut crts = Vec::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("reading --cert-dir {}", dir.display()))?;
    for e in entries {
        let p = e
            .with_context(|| format!("reading --cert-dir {}", dir.display()))?
            .path();
        match p.extension().and_then(|x| x.to_str()) {
            Some("crt") => crts.push(p),
            Some("cert" | "key") => anyhow::bail!(
                "--cert-dir {}: client certificate {} is not read from there; put NAME.cert and \
                 NAME.key in /etc/containers/certs.d/HOST[:PORT]/",
                dir.display(),
                p.display()
            ),
            _ => {}
        }
    }
    if crts.is_empty() {
        anyhow::bail!(
            "--cert-dir {}: no CA certificate (*.crt) in it",
            dir.display()
        );
    }
    crts.sort();
    Ok(crts)
}

/// Reads the public key a bundle must be signed with.
pub fn read_public_key(p: &Path) -> Result<PublicKey> {
    sign::read_public_key(p).with_context(|| format!("reading trusted key {}", p.display()))
}

/// Opens a bundle without checking its signature; names the files skipped as not volumes.
pub fn open_bundle(dir: &Path) -> Result<Bundle<Unverified>> {
    let b = Bundle::open(dir).with_context(|| format!("opening bundle {}", dir.display()))?;
    print_skipped(b.skipped());
    Ok(b)
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
        say("note", &n.to_string());
    }
}
