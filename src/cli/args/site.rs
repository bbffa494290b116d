//! Arguments of the commands that work on the site's registry: setup, push, mirror sets, check.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::RegistryArgs;

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

/// `ferry inventory`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["from", "bundle"])))]
pub struct InventoryArgs {
    /// The mirror registry to list, HOST[:PORT]: every repository under --prefix (from its
    /// catalog, else from ferry's push history in PREFIX/ferry-state), each tag, its manifests
    /// and blobs.
    #[arg(long, value_name = "HOST[:PORT]", conflicts_with = "bundle")]
    pub from: Option<String>,
    /// The mirror prefix to list under.
    #[arg(long, default_value = ferry::naming::DEFAULT_PREFIX, value_name = "PREFIX")]
    pub prefix: String,
    /// The mirror names are flattened (as `push --flatten` writes them).
    #[arg(long)]
    pub flatten: bool,
    /// Describe what these bundles carry instead (repeatable); with --trusted-key.
    #[arg(long, value_name = "DIR", num_args = 1.., requires = "trusted_key")]
    pub bundle: Vec<PathBuf>,
    /// A public key the bundles may be signed with (repeatable).
    #[arg(long, value_name = "PATH.pub", action = clap::ArgAction::Append)]
    pub trusted_key: Vec<PathBuf>,
    /// Where to write the inventory (zstd-compressed JSON); carry it back to `ferry pack
    /// --base FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Repositories read in parallel.
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}
