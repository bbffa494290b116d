//! Arguments of the commands that read a bundle: verify, export, serve, inspect.

use std::path::PathBuf;

use clap::Args;

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
    /// The most disk the layers of incremental bundles take once rebuilt (`gzip-tar` layers
    /// are rebuilt once, on first request, into files in a directory `ferry-serve-*` under
    /// $TMPDIR, default /tmp, removed at stop; the least recently served go first). While a
    /// layer is rebuilt (one at a time), its base layers take their uncompressed size there too.
    #[arg(long, value_name = "SIZE", default_value = "4GiB", value_parser = super::parse_size)]
    pub spool_size: u64,
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
