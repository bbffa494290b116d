//! `ferry pack`'s arguments.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{parse_platform, RegistryArgs};

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
    /// Which artifacts attached to the images travel with them: `all` that exist (cosign
    /// signatures, attestations and SBOMs, the tags sha256-<hex>.sig/.att/.sbom, and OCI 1.1
    /// referrers, for every image and every index child, from the same repository) or `none`.
    #[arg(long, value_enum, value_name = "WHICH", default_value_t = SignaturesArg::All)]
    pub signatures: SignaturesArg,
    /// Where OpenShift release signatures are read from (the files
    /// URL/sha256=<hex>/signature-<n>), or `none` to carry none (oc-mirror's
    /// OCP_SIGNATURE_URL; default
    /// https://mirror.openshift.com/pub/openshift-v4/signatures/openshift/release).
    #[arg(long, value_name = "URL", env = "OCP_SIGNATURE_URL")]
    pub signature_store: Option<String>,
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
    /// An inventory of the site (from `ferry inventory`, repeatable): every blob it lists is
    /// left out of the bundle (marked in_base; manifests are always carried), and `ferry push`
    /// checks that the target has them before pushing anything. A changed gzip layer of a
    /// repository the site has is carried as its new tar pieces plus the data that rebuilds
    /// its exact bytes from the site's layer (or whole, with the reason in `inspect`). The
    /// bundle is format 1.2 (1.3 when it carries such layers). Temporary disk, under TMPDIR:
    /// each changed layer and its base layers uncompressed, with their streams, one layer at a
    /// time, plus the compressed new data of all changed layers until they are stored.
    #[arg(long = "base", value_name = "FILE")]
    pub base: Vec<PathBuf>,
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

/// `--signatures`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SignaturesArg {
    /// Every signature, attestation, SBOM and referrer that exists.
    All,
    /// None of them.
    None,
}
