//! Command-line arguments, as clap parses them (no system calls here).

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
    Push(PushArgs),
    /// Write the mirror sets (IDMS, ICSP, ITMS, registries.conf, mapping.txt) without pushing.
    Mirrorsets(MirrorsetsArgs),
    /// Confirm that every image of a bundle is in the mirror registry, by digest.
    Check(CheckArgs),
    /// Write every image of a verified bundle into an OCI image layout directory, named by its
    /// upstream name (skopeo, podman and oc read it as oci:DIR:NAME), digests unchanged.
    Export(ExportArgs),
    /// Serve verified bundles as a read-only OCI registry: each image under its upstream name
    /// and its mirror name, blobs streamed from the chunks and hashed as they are sent.
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
    /// How many times to retry a request that failed with a connection error, 429 or 5xx
    /// (with exponential backoff from 0.5 s).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub retry_times: u32,
}

/// `ferry pack`.
#[derive(Debug, Args)]
pub struct PackArgs {
    /// The image list: one reference per line (`#` comments), or an oc-mirror
    /// ImageSetConfiguration (additionalImages, platform releases and channels, blockedImages,
    /// archiveSize; sections ferry does not carry yet are refused, naming field and line). A
    /// line is `SOURCE [NAME]`; SOURCE is a registry reference by tag or digest,
    /// `oci:PATH[:TAG]` or `docker-archive:PATH`.
    #[arg(long, value_name = "FILE", required_unless_present = "releases")]
    pub images: Option<PathBuf>,
    /// An OpenShift release image to carry with every component its
    /// release-manifests/image-references lists, all by digest (repeatable).
    #[arg(long = "release", value_name = "REF")]
    pub releases: Vec<String>,
    /// The OpenShift update graph that resolves the ImageSetConfiguration's channels
    /// (oc-mirror's UPDATE_URL_OVERRIDE; default
    /// https://api.openshift.com/api/upgrades_info/v1/graph).
    #[arg(long, value_name = "URL", env = "UPDATE_URL_OVERRIDE")]
    pub graph_url: Option<String>,
    /// Read images named under PREFIX (HOST[/PATH]) from MIRROR (HOST[:PORT][/PATH]) instead,
    /// as registries.conf mirrors do; the bundle keeps the upstream names (repeatable; the
    /// longest prefix wins). E.g. quay.io=cache.example.com:5000.
    #[arg(long = "source-mirror", value_name = "PREFIX=MIRROR")]
    pub source_mirrors: Vec<String>,
    /// The secret key to sign with (from `ferry keygen`).
    #[arg(long, value_name = "PATH")]
    pub key: PathBuf,
    /// Output directory (new or empty, or an interrupted pack of the same list to resume).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Largest volume file: `fat32` (4GiB − 1 byte, the largest file FAT32 holds), bytes, or a
    /// number with a unit: SI kB, MB, GB, TB (powers of 1000; 4.7GB) or binary KiB, MiB, GiB,
    /// TiB and K, M, G, T (powers of 1024). 0 means a single volume. Default: the
    /// ImageSetConfiguration's archiveSize (GiB) when it has one, else fat32.
    #[arg(long, value_name = "SIZE")]
    pub volume_size: Option<String>,
    /// Parallel workers.
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Carry only these platforms of multi-arch images (repeatable), e.g. linux/amd64. The
    /// index keeps its original bytes and digest.
    /// A single-platform image of another platform is refused.
    #[arg(long = "platform", value_name = "OS/ARCH", value_parser = parse_platform)]
    pub platforms: Vec<String>,
    /// zstd compression level for chunks that compress.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub zstd_level: i32,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `ferry verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The bundle directory.
    pub dir: PathBuf,
    /// A public key the bundle may be signed with (repeatable: the old and the new key while
    /// keys rotate).
    #[arg(long, value_name = "PATH.pub", required = true, action = clap::ArgAction::Append)]
    pub trusted_key: Vec<PathBuf>,
    /// Check only this volume file (one stick as it arrives).
    #[arg(long, value_name = "FILE")]
    pub volume: Option<PathBuf>,
    /// Parallel workers.
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `ferry export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The bundle directory.
    pub dir: PathBuf,
    /// A public key the bundle may be signed with (repeatable: the old and the new key while
    /// keys rotate).
    #[arg(long, value_name = "PATH.pub", required = true, action = clap::ArgAction::Append)]
    pub trusted_key: Vec<PathBuf>,
    /// Where to write: `oci:DIR`, an OCI image layout directory (created when absent; an
    /// existing layout keeps its other images).
    #[arg(long, value_name = "oci:DIR")]
    pub to: String,
    /// Parallel workers.
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `ferry serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Bundle directories; a later one adds to the earlier ones (its tags win).
    #[arg(required = true, value_name = "BUNDLE")]
    pub bundles: Vec<PathBuf>,
    /// A public key the bundles may be signed with (repeatable).
    #[arg(long, value_name = "PATH.pub", required = true, action = clap::ArgAction::Append)]
    pub trusted_key: Vec<PathBuf>,
    /// The address to listen on; port 0 picks a free port (the start-up line names it).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:5000")]
    pub listen: String,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require HTTP Basic authentication against this htpasswd file (bcrypt entries only,
    /// as `htpasswd -B` writes them).
    #[arg(long, value_name = "FILE")]
    pub htpasswd: Option<PathBuf>,
    /// Path prefix of the mirror names (as `ferry push --prefix`).
    #[arg(long, default_value = ferry::naming::DEFAULT_PREFIX, value_name = "PREFIX")]
    pub prefix: String,
    /// Connections served at once.
    #[arg(long, short = 'j', value_name = "N", default_value_t = 32)]
    pub jobs: usize,
    /// Print the start-up line as JSON on stdout (with the address listened on), and the
    /// access log as JSON lines on stderr.
    #[arg(long)]
    pub json: bool,
}

/// `ferry inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The bundle directory (or one volume file).
    pub dir: PathBuf,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Scope of mirror-set entries.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ScopeArg {
    /// One entry per upstream registry (quay.io → TARGET/mirror/quay.io).
    Registry,
    /// One entry per repository.
    Repository,
}

impl ScopeArg {
    /// The library's scope.
    pub fn scope(self) -> ferry::mirrorset::Scope {
        match self {
            ScopeArg::Registry => ferry::mirrorset::Scope::Registry,
            ScopeArg::Repository => ferry::mirrorset::Scope::Repository,
        }
    }
}

/// The registry product at the target.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum FlavorArg {
    /// The CNCF registry or any plain OCI registry: no checks.
    #[default]
    Distribution,
    /// Quay: the first prefix component is an organization.
    Quay,
    /// quay/mirror-registry: Quay on port 8443 (added when --to has no port).
    MirrorRegistry,
    /// Harbor: the first prefix component is a project, which must exist before a push.
    Harbor,
}

impl FlavorArg {
    /// The library's flavor.
    pub fn flavor(self) -> ferry::flavor::Flavor {
        use ferry::flavor::Flavor;
        match self {
            FlavorArg::Distribution => Flavor::Distribution,
            FlavorArg::Quay => Flavor::Quay,
            FlavorArg::MirrorRegistry => Flavor::MirrorRegistry,
            FlavorArg::Harbor => Flavor::Harbor,
        }
    }
}

/// Where images go.
#[derive(Debug, Args, Clone)]
pub struct TargetArgs {
    /// The mirror registry, HOST[:PORT].
    #[arg(long, value_name = "HOST[:PORT]")]
    pub to: String,
    /// Path prefix under which upstream registries are mirrored.
    #[arg(long, default_value = ferry::naming::DEFAULT_PREFIX, value_name = "PREFIX")]
    pub prefix: String,
    /// The registry product: its limits are checked before anything is pushed.
    #[arg(long, value_enum, default_value_t = FlavorArg::Distribution)]
    pub flavor: FlavorArg,
    /// Map HOST/PATH into one repository component under the prefix (quay.io/org/app →
    /// PREFIX/quay.io-org-app), for registries that refuse nested repository paths. Mirror
    /// sets then hold one entry per repository.
    #[arg(long)]
    pub flatten: bool,
}

impl TargetArgs {
    /// The library's target (mirror-registry's port added when none is given).
    pub fn target(&self) -> ferry::flavor::Target {
        ferry::flavor::Target::new(self.flavor.flavor(), &self.to, &self.prefix, self.flatten)
    }
}

/// `ferry setup`.
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// The registry product.
    #[arg(long, value_enum)]
    pub flavor: FlavorArg,
    /// The registry, HOST[:PORT] (mirror-registry: port 8443 when none is given).
    #[arg(long, value_name = "HOST[:PORT]")]
    pub to: String,
    /// The mirror prefix; its first component names the organization (Quay) or project (Harbor).
    #[arg(long, default_value = ferry::naming::DEFAULT_PREFIX, value_name = "PREFIX")]
    pub prefix: String,
    /// The robot's short name (login `ORG+NAME` on Quay, `robot$PROJECT+NAME` on Harbor).
    #[arg(long, value_name = "NAME")]
    pub robot: String,
    /// The auth file to write the robot credential into (mode 0600; other entries are kept).
    #[arg(long, value_name = "FILE")]
    pub authfile_out: PathBuf,
    /// Quay / mirror-registry: a file holding an OAuth access token (org:admin, user:admin);
    /// wins over --admin-token and FERRY_ADMIN_TOKEN.
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// Quay / mirror-registry: the OAuth access token itself (prefer --admin-token-file).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "FERRY_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
    /// Harbor: a file holding USER:PASS of an admin; wins over --admin-creds and
    /// FERRY_ADMIN_CREDS.
    #[arg(long, value_name = "FILE")]
    pub admin_creds_file: Option<PathBuf>,
    /// Harbor: USER:PASS of an admin (prefer --admin-creds-file).
    #[arg(
        long,
        value_name = "USER:PASS",
        env = "FERRY_ADMIN_CREDS",
        hide_env_values = true
    )]
    pub admin_creds: Option<String>,
    /// A PEM file of CA certificates to trust (repeatable); for mirror-registry
    /// QUAY_ROOT/quay-rootCA/rootCA.pem.
    #[arg(long = "ca-file", value_name = "FILE")]
    pub ca_files: Vec<PathBuf>,
    /// Allow plain HTTP or an unverified certificate for this registry (repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure: Vec<String>,
    /// Print a JSON report on stdout (never the secret).
    #[arg(long)]
    pub json: bool,
}

/// `ferry push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The bundle directory.
    pub dir: PathBuf,
    /// A public key the bundle may be signed with (repeatable: the old and the new key while
    /// keys rotate).
    #[arg(long, value_name = "PATH.pub", required = true, action = clap::ArgAction::Append)]
    pub trusted_key: Vec<PathBuf>,
    /// Target registry and prefix.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Parallel workers.
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Where to write the mirror sets.
    #[arg(long, value_name = "OUT", default_value = "ferry-mirrorsets")]
    pub mirrorsets_out: PathBuf,
    /// One mirror-set entry per registry or per repository.
    #[arg(long, value_enum, default_value_t = ScopeArg::Registry)]
    pub mirrorset_scope: ScopeArg,
    /// Move tags to this bundle's content even where a newer bundle set them (refused
    /// otherwise, naming both bundles).
    #[arg(long)]
    pub allow_rollback: bool,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `ferry mirrorsets`.
#[derive(Debug, Args)]
pub struct MirrorsetsArgs {
    /// The bundle directory.
    pub dir: PathBuf,
    /// Target registry and prefix.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Where to write the files.
    #[arg(long, value_name = "OUT")]
    pub out: PathBuf,
    /// One entry per registry or per repository.
    #[arg(long, value_enum, default_value_t = ScopeArg::Registry)]
    pub mirrorset_scope: ScopeArg,
    /// The public key the bundle must be signed with (repeatable: the old and the new key
    /// while keys rotate). Required: what the bundle says becomes cluster configuration.
    #[arg(long, value_name = "PATH.pub", action = clap::ArgAction::Append, required_unless_present = "no_verify")]
    pub trusted_key: Vec<PathBuf>,
    /// Use the bundle without checking its signature (a warning says so).
    #[arg(long, conflicts_with = "trusted_key")]
    pub no_verify: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `ferry check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The bundle directory.
    pub dir: PathBuf,
    /// Target registry and prefix.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// The public key the bundle must be signed with (repeatable: the old and the new key
    /// while keys rotate). Required: what the bundle says becomes cluster configuration.
    #[arg(long, value_name = "PATH.pub", action = clap::ArgAction::Append, required_unless_present = "no_verify")]
    pub trusted_key: Vec<PathBuf>,
    /// Use the bundle without checking its signature (a warning says so).
    #[arg(long, conflicts_with = "trusted_key")]
    pub no_verify: bool,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// A `--platform` value: `OS/ARCH[/VARIANT]`.
fn parse_platform(s: &str) -> Result<String, String> {
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
