//! Command-line arguments, as clap parses them (no system calls here): the top level and
//! the options several commands share; each command family's own in a submodule.

mod bundle;
mod pack;
mod site;

pub use bundle::*;
pub use pack::*;
pub use site::*;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// ferry carries container images across an air gap.
///
/// Connected side: `ferry keygen`, then `ferry pack` writes a signed, deduplicated bundle of
/// volumes sized for removable media. Disconnected side: `ferry verify` checks it, `ferry push`
/// fills the mirror registry (digests unchanged) and writes the OpenShift mirror sets.
///
/// Exit codes: 0 success; 1 error (nothing or not everything done, see the message);
/// 2 usage error; 3 the work ran but found problems (damage found by verify, images that
/// failed to push, images missing at check).
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about, long_about, max_term_width = 100)]
pub struct Cli {
    /// Show each registry request (method, URL, status) on stderr; twice for more.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// How to show progress on stderr: `auto` (bars on a terminal, else plain lines; nothing
    /// with --json), `tty` (bars), `plain` (a line every FERRY_PROGRESS_INTERVAL_MS, default
    /// 5000: percent, bytes, rate, ETA), `json` (every stderr line a JSON event: start,
    /// progress, note, finish, end) or `none`.
    #[arg(long, value_enum, global = true, default_value_t = ProgressArg::Auto,
          env = "FERRY_PROGRESS", value_name = "MODE")]
    pub progress: ProgressArg,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make an ed25519 signing key (minisign format): PATH (secret, mode 0600) and PATH.pub.
    Keygen(KeygenArgs),
    /// Read images and write a signed bundle.
    Pack(PackArgs),
    /// Check a bundle's signature, volume set and every digest.
    Verify(VerifyArgs),
    /// Show what a bundle holds: images, volumes, dedup figures.
    Inspect(InspectArgs),
    /// Push every image of a verified bundle to a mirror registry and write the mirror sets.
    ///
    /// An incremental bundle (`pack --base`) is pushed only when every blob it leaves to the
    /// site is in the registry: otherwise nothing is pushed and the missing base images and
    /// their inventory are named (exit 1). Those blobs are then mounted (or copied within the
    /// registry) into the repositories that lack them. A layer carried as changes (a
    /// `gzip-tar` blob) is rebuilt from its pieces and its base layers, read back from the
    /// registry, hashed while it uploads: temporary disk, under the system temporary directory
    /// (TMPDIR), is the uncompressed base layers of one layer at a time per upload job, plus
    /// their blocks and shape streams (about a third of that), removed after; memory per
    /// rebuild is about 16 MiB whatever the layer's size. A bundle that leaves only whole blobs
    /// to the site needs no temporary disk.
    Push(PushArgs),
    /// Write the mirror sets (IDMS, ICSP, ITMS, registries.conf, mapping.txt) without pushing.
    Mirrorsets(MirrorsetsArgs),
    /// Confirm that every image of a bundle is in the mirror registry, by digest.
    Check(CheckArgs),
    /// List what the mirror registry holds under the prefix (or what bundles carried) into a
    /// small file for `ferry pack --base`, which then leaves out every blob the site has.
    Inventory(InventoryArgs),
    /// Write every image of a verified bundle into an OCI image layout directory, named by its
    /// upstream name (skopeo, podman and oc read it as oci:DIR:NAME), digests unchanged.
    Export(ExportArgs),
    /// Serve verified bundles as a read-only OCI registry: each image under its upstream name
    /// and its mirror name, blobs streamed from the chunks and hashed as they are sent.
    ///
    /// Later bundles add to earlier ones. An incremental bundle (`pack --base`) is served when
    /// its base is among the bundles served (give the base first); otherwise serve refuses to
    /// start, naming the missing base images and their inventory (exit 1). Its layers carried
    /// as changes are rebuilt once each, on first request, into a spool directory
    /// (`ferry-serve-*` under TMPDIR, default /tmp, removed at stop; see --spool-size).
    Serve(ServeArgs),
    /// Prepare Quay, mirror-registry or Harbor for `ferry push`: namespace, least-privilege
    /// robot, robot credential in an auth file (idempotent).
    Setup(SetupArgs),
    /// Print a shell completion script on stdout, e.g.
    /// `ferry completions bash > /etc/bash_completion.d/ferry`.
    Completions(CompletionsArgs),
    /// Print ferry's man page (roff) on stdout, e.g. `ferry man | man -l -`; `ferry man pack`
    /// prints ferry-pack(1).
    #[command(visible_alias = "manpage")]
    Man(ManArgs),
}

/// `--progress`: how progress and messages are shown on stderr.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ProgressArg {
    /// Bars on a terminal, plain lines otherwise; nothing with --json.
    Auto,
    /// Progress bars.
    Tty,
    /// Plain lines: when a phase starts, every interval, and when it ends.
    Plain,
    /// JSON lines events on stderr.
    Json,
    /// No progress (warnings and errors still show).
    None,
}

/// `ferry man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// A command whose page to print instead of ferry(1).
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}

/// `ferry completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: ShellArg,
}

/// Shells completions are written for.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ShellArg {
    /// bash.
    Bash,
    /// zsh.
    Zsh,
    /// fish.
    Fish,
}

/// `ferry keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the secret key; the public key goes to PATH.pub.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// Replace existing key files.
    #[arg(long)]
    pub force: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

/// How to reach registries.
#[derive(Debug, Args, Clone, Default)]
pub struct RegistryArgs {
    /// Credentials USER:PASS for every registry (else the auth file is used).
    #[arg(
        long,
        value_name = "USER:PASS",
        env = "FERRY_CREDS",
        hide_env_values = true
    )]
    pub creds: Option<String>,
    /// A containers auth file (auth.json / docker config.json). Default: $REGISTRY_AUTH_FILE,
    /// $XDG_RUNTIME_DIR/containers/auth.json, ~/.docker/config.json.
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// A PEM file of CA certificates to trust besides the system roots (repeatable).
    /// /etc/containers/certs.d/HOST[:PORT]/*.crt are trusted for their host too.
    #[arg(long = "ca-file", value_name = "FILE")]
    pub ca_files: Vec<PathBuf>,
    /// Allow plain HTTP or an unverified certificate for this host only (repeatable): a
    /// registry, or a token service that should get credentials over plain HTTP.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure: Vec<String>,
    /// Let a registry's token service on this other host receive the registry's credentials
    /// (repeatable). A token service on the registry's own host (and Docker Hub's) needs none.
    #[arg(long = "auth-realm-host", value_name = "HOST[:PORT]")]
    pub realm_hosts: Vec<String>,
    /// skopeo's spelling: `--tls-verify=false` is `--insecure-registry` for every registry this
    /// command addresses (pack: each registry of the list; push and check: --to).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub tls_verify: Option<bool>,
    /// skopeo's spelling: a directory of CA certificates (*.crt), each trusted as with
    /// --ca-file. Client certificates (*.cert, *.key) are read from
    /// /etc/containers/certs.d/HOST[:PORT]/ only.
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// How long one step (a request, a blob upload or download) may keep failing with a
    /// connection error, 429 or 5xx before ferry gives up on it: `300`, `90s`, `10m`, `1h`.
    /// Retries back off exponentially from 0.5 s (at most 30 s apart, jittered) and honour the
    /// registry's `Retry-After`.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub retry_for: std::time::Duration,
    /// Also stop after this many retries of one step (skopeo's flag); without it, only
    /// --retry-for limits retries.
    #[arg(long, value_name = "N")]
    pub retry_times: Option<u32>,
}

/// Parses a duration: plain seconds, or a number with `s`, `m` or `h`.
pub(super) fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 300, 90s, 10m, 1h"))?;
    let secs = match unit {
        "" | "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        _ => None,
    }
    .ok_or_else(|| format!("invalid duration {s:?}: expected e.g. 300, 90s, 10m, 1h"))?;
    Ok(std::time::Duration::from_secs(secs))
}

/// A `--platform` value: `OS/ARCH[/VARIANT]`.
pub(super) fn parse_platform(s: &str) -> Result<String, String> {
    ferry::pack::resolve::check_platform(s).map(|()| s.to_string())
}

/// Parses a size: `fat32`, plain bytes, or a number (decimals allowed, rounded down to a byte)
/// with a unit: SI `kB`/`MB`/`GB`/`TB` are powers of 1000, `KiB`/`MiB`/`GiB`/`TiB` and the bare
/// `K`/`M`/`G`/`T` powers of 1024 (as coreutils reads them). Case does not matter.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("fat32") {
        return Ok(ferry::pack::DEFAULT_VOLUME_SIZE);
    }
    let end = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(end);
    let bad = || format!("invalid size {s:?}: expected fat32, bytes, or e.g. 64MiB, 4GiB, 4.7GB");
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if (int.is_empty() && frac.is_empty()) || frac.contains('.') || frac.len() > 9 {
        return Err(bad());
    }
    let int: u128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let frac_n: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| bad())?
    };
    let mult: u128 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        u => {
            return Err(format!(
                "invalid size unit {u:?} in {s:?}: use kB, MB, GB, TB (powers of 1000) or \
                 KiB, MiB, GiB, TiB (powers of 1024)"
            ))
        }
    };
    let bytes = int * mult + frac_n * mult / 10u128.pow(frac.len() as u32);
    u64::try_from(bytes).map_err(|_| format!("size {s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_budgets_parse_as_durations() {
        use std::time::Duration;
        assert_eq!(parse_duration("300"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "m", "5d", "1.5m", "-1"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("4G").unwrap(), 4 << 30);
        assert_eq!(parse_size("4GiB").unwrap(), 4 << 30);
        assert_eq!(parse_size("4GB").unwrap(), 4_000_000_000);
        assert_eq!(parse_size("4gb").unwrap(), 4_000_000_000);
        assert_eq!(parse_size("4.7GB").unwrap(), 4_700_000_000);
        assert_eq!(parse_size("1.5KiB").unwrap(), 1536);
        assert_eq!(parse_size("16MB").unwrap(), 16_000_000);
        assert_eq!(parse_size("fat32").unwrap(), 4294967295);
        assert_eq!(parse_size("FAT32").unwrap(), (4u64 << 30) - 1);
        assert_eq!(parse_size("0").unwrap(), 0);
        assert_eq!(parse_size("4294967295").unwrap(), 4294967295);
        assert!(parse_size("12XB").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("1.2.3GB").is_err());
        assert!(parse_size(".GB").is_err());
        assert!(parse_size("99999999999TB").is_err());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
