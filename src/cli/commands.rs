//! One function per command.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::args::{self, Command, RegistryArgs, ScopeArg, TargetArgs};
use super::progress::Renderer;
use super::{EXIT_OK, EXIT_PROBLEMS};
use crate::bundle::{self, Bundle, Verified};
use crate::naming::Naming;
use crate::registry::{ClientOptions, Credential, Registry};
use crate::sign::{self, PublicKey};

/// Runs one command; returns the exit code.
pub fn run(cmd: Command) -> Result<i32> {
    match cmd {
        Command::Keygen(a) => keygen(a),
        Command::Pack(a) => pack(a),
        Command::Verify(a) => verify(a),
        Command::Inspect(a) => inspect(a),
        Command::Push(a) => push(a),
        Command::Mirrorsets(a) => mirrorsets(a),
        Command::Check(a) => check(a),
        Command::Setup(a) => super::setup::setup(a),
    }
}

pub(super) fn print_json<T: Serialize>(v: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

fn jobs(j: Option<usize>) -> usize {
    j.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .max(2)
    })
}

fn client_options(a: &RegistryArgs) -> Result<ClientOptions> {
    let mut o = ClientOptions::default();
    if let Some(c) = &a.creds {
        o.creds = Some(Credential::parse(c).context("--creds must be USER:PASS")?);
    }
    o.authfile = a.authfile.clone();
    o.ca_files = a.ca_files.clone();
    o.insecure = a.insecure.clone();
    o.retry.attempts = a.retry_times.saturating_add(1);
    o.user_agent = format!("ferry/{}", env!("CARGO_PKG_VERSION"));
    Ok(o)
}

fn read_public_key(p: &Path) -> Result<PublicKey> {
    sign::read_public_key(p).with_context(|| format!("reading trusted key {}", p.display()))
}

fn open_verified(dir: &Path, key: &Path) -> Result<Bundle<Verified>> {
    let key = read_public_key(key)?;
    let b = Bundle::open(dir).with_context(|| format!("opening bundle {}", dir.display()))?;
    b.verify(&key)
        .with_context(|| format!("verifying bundle {}", dir.display()))
}

fn keygen(a: args::KeygenArgs) -> Result<i32> {
    if a.force {
        let _ = std::fs::remove_file(&a.out);
        let _ = std::fs::remove_file(pub_path(&a.out));
    }
    let pk = sign::keygen(&a.out).with_context(|| format!("writing key {}", a.out.display()))?;
    if a.json {
        #[derive(Serialize)]
        struct Out<'a> {
            secret_key: &'a Path,
            public_key: String,
            key_id: String,
        }
        print_json(&Out {
            secret_key: &a.out,
            public_key: pub_path(&a.out).display().to_string(),
            key_id: pk.key_id().to_string(),
        })?;
    } else {
        println!(
            "secret key: {} (mode 0600; keep it on the build farm)",
            a.out.display()
        );
        println!(
            "public key: {} (give it to the disconnected site)",
            pub_path(&a.out).display()
        );
    }
    Ok(EXIT_OK)
}

fn pub_path(p: &Path) -> std::path::PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".pub");
    s.into()
}

fn pack(a: args::PackArgs) -> Result<i32> {
    let requests = crate::pack::list::read_list(&a.images)?;
    let key = sign::read_secret_key(&a.key)
        .with_context(|| format!("reading secret key {}", a.key.display()))?;
    let size = args::parse_size(&a.volume_size).map_err(anyhow::Error::msg)?;
    crate::pack::check_out_dir(&a.out)?;
    let opts = crate::pack::PackOptions {
        out: a.out.clone(),
        volume_size: (size != 0).then_some(size),
        jobs: jobs(a.jobs),
        platforms: a.platforms.clone(),
        client: client_options(&a.registry)?,
        created: crate::pack::PackOptions::created_from_env(),
        zstd_level: a.zstd_level,
    };
    let progress = Renderer::new(a.json);
    let summary = crate::pack::pack(&requests, &key, &opts, &progress)
        .with_context(|| format!("packing {} into {}", a.images.display(), a.out.display()))?;
    if a.json {
        print_json(&summary)?;
    } else {
        println!(
            "bundle {} : {} images, {} unique blobs ({} bytes) in {} volume(s), {} bytes",
            summary.bundle_id,
            summary.images.len(),
            summary.blobs,
            summary.unique_blob_bytes,
            summary.volumes.len(),
            summary.bundle_bytes
        );
        for v in &summary.volumes {
            println!("  {}", v.display());
        }
    }
    Ok(EXIT_OK)
}

fn verify(a: args::VerifyArgs) -> Result<i32> {
    let key = read_public_key(&a.trusted_key)?;
    let b = match &a.volume {
        Some(v) => {
            Bundle::open_volume(v).with_context(|| format!("opening volume {}", v.display()))?
        }
        None => {
            Bundle::open(&a.dir).with_context(|| format!("opening bundle {}", a.dir.display()))?
        }
    };
    let b = b.verify(&key).with_context(|| {
        format!(
            "verifying {}",
            a.volume.as_deref().unwrap_or(&a.dir).display()
        )
    })?;
    let progress = Renderer::new(a.json);
    let report = bundle::verify::verify(&b, jobs(a.jobs), &progress);
    if a.json {
        print_json(&report)?;
    } else {
        for d in &report.damage {
            eprintln!("DAMAGED: {}", d.message);
            if !d.images.is_empty() {
                eprintln!("  images affected: {}", d.images.join(", "));
            }
        }
        if report.is_ok() {
            // A whole bundle is checked blob by blob, a single volume chunk by chunk.
            let what = if report.blobs_checked > 0 {
                format!("{} blobs", report.blobs_checked)
            } else {
                format!("{} chunks", report.chunks_checked)
            };
            println!(
                "bundle {} OK: signature trusted, {} volume(s), {} manifests, {what}, {} bytes checked",
                report.bundle_id,
                report.volumes.len(),
                report.manifests_checked,
                report.bytes_checked
            );
        } else {
            eprintln!(
                "bundle {}: {} problem(s) found; copy the damaged volume(s) again",
                report.bundle_id,
                report.damage.len()
            );
        }
    }
    Ok(if report.is_ok() {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    })
}

fn inspect(a: args::InspectArgs) -> Result<i32> {
    let b = if a.dir.is_file() {
        Bundle::open_volume(&a.dir)
    } else {
        Bundle::open(&a.dir)
    }
    .with_context(|| format!("opening bundle {}", a.dir.display()))?;
    let info = crate::inspect::describe(&b);
    if a.json {
        print_json(&info)?;
    } else {
        print!("{}", crate::inspect::render(&info));
    }
    Ok(EXIT_OK)
}

/// The mirror-set scope: per repository whenever names are flattened (a registry-wide entry
/// cannot redirect to flattened names).
fn scope(s: ScopeArg, naming: &Naming) -> crate::mirrorset::Scope {
    match s {
        _ if naming.is_flattened() => crate::mirrorset::Scope::Repository,
        ScopeArg::Registry => crate::mirrorset::Scope::Registry,
        ScopeArg::Repository => crate::mirrorset::Scope::Repository,
    }
}

/// The naming for `--to`, `--prefix`, `--flatten`, checked against the `--flavor`'s rules
/// (mirror-registry gets its port 8443 when none is given).
fn target_naming(t: &TargetArgs) -> Result<Naming> {
    let flavor = t.flavor.flavor();
    let mut to = t.to.trim().trim_end_matches('/').to_string();
    if let Some(with_port) = flavor.default_port_for(&to) {
        eprintln!(
            "note: mirror-registry listens on port {}: using {with_port}",
            crate::flavor::MIRROR_REGISTRY_PORT
        );
        to = with_port;
    }
    let mut naming = Naming::new(&to, &t.prefix)?;
    if t.flatten {
        naming = naming.flattened();
    }
    crate::flavor::check_naming(flavor, &naming)?;
    Ok(naming)
}

/// A hint for failures a product's limits explain.
fn failure_hint(flavor: crate::flavor::Flavor, error: &str) -> Option<&'static str> {
    use crate::flavor::Flavor;
    if error.contains("Nested repositories are not supported")
        || (matches!(flavor, Flavor::Quay | Flavor::MirrorRegistry)
            && error.contains("NAME_INVALID"))
    {
        return Some("this registry refuses nested repository paths: push again with --flatten (and apply the mirror sets it writes)");
    }
    None
}

fn write_mirrorsets<S>(
    b: &Bundle<S>,
    naming: &Naming,
    scope: crate::mirrorset::Scope,
    out: &Path,
) -> Result<Vec<String>> {
    let mut inputs = Vec::new();
    for img in &b.root().images {
        let name = crate::model::Reference::parse(&img.name)
            .with_context(|| format!("image name {:?} in the bundle", img.name))?;
        inputs.push(crate::mirrorset::MirrorInput {
            source: name.with_digest(img.digest.clone()),
            by_tag: !img.tags.is_empty(),
        });
    }
    let opts = crate::mirrorset::Options {
        scope,
        ..Default::default()
    };
    let sets = crate::mirrorset::build(&inputs, naming, &opts).context("building mirror sets")?;
    let files = crate::mirrorset::write_all(out, &sets)
        .with_context(|| format!("writing mirror sets to {}", out.display()))?;
    Ok(files.into_iter().map(|p| p.display().to_string()).collect())
}

fn push(a: args::PushArgs) -> Result<i32> {
    let b = open_verified(&a.dir, &a.trusted_key)?;
    let naming = target_naming(&a.target)?;
    let flavor = a.target.flavor.flavor();
    let opts = client_options(&a.registry)?;
    let host = naming.target().to_string();
    let target = Registry::new(&host, &opts).with_context(|| format!("connecting to {host}"))?;
    target.ping().with_context(|| {
        let ca = if flavor == crate::flavor::Flavor::MirrorRegistry {
            " (mirror-registry's CA: --ca-file QUAY_ROOT/quay-rootCA/rootCA.pem)"
        } else {
            ""
        };
        format!("reaching registry {host}{ca}")
    })?;
    crate::flavor::preflight_push(flavor, &naming, &opts)
        .with_context(|| format!("checking {host} as {} before pushing", flavor.name()))?;
    let progress = Renderer::new(a.json);
    let report = crate::push::push(&b, &target, &naming, jobs(a.jobs), &progress);
    let files = write_mirrorsets(
        &b,
        &naming,
        scope(a.mirrorset_scope, &naming),
        &a.mirrorsets_out,
    )?;
    let failed: Vec<_> = report.failed().collect();
    if a.json {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            report: &'a crate::push::PushReport,
            mirrorsets: &'a [String],
        }
        print_json(&Out {
            report: &report,
            mirrorsets: &files,
        })?;
    } else {
        println!(
            "pushed {} of {} images to {}: {} blobs uploaded ({} bytes), {} mounted, {} already present",
            report.images.len() - failed.len(),
            report.images.len(),
            report.target,
            report.blobs_uploaded,
            report.bytes_uploaded,
            report.blobs_mounted,
            report.blobs_present
        );
        println!("mirror sets:");
        for f in &files {
            println!("  {f}");
        }
        for f in &failed {
            eprintln!(
                "FAILED {}: {}",
                f.name,
                f.error.as_deref().unwrap_or("unknown error")
            );
        }
    }
    if let Some(hint) = failed
        .iter()
        .find_map(|f| failure_hint(flavor, f.error.as_deref().unwrap_or("")))
    {
        eprintln!("hint: {hint}");
    }
    Ok(if failed.is_empty() {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    })
}

fn mirrorsets(a: args::MirrorsetsArgs) -> Result<i32> {
    let naming = target_naming(&a.target)?;
    let files = match &a.trusted_key {
        Some(k) => write_mirrorsets(
            &open_verified(&a.dir, k)?,
            &naming,
            scope(a.mirrorset_scope, &naming),
            &a.out,
        )?,
        None => {
            let b = Bundle::open(&a.dir)
                .with_context(|| format!("opening bundle {}", a.dir.display()))?;
            write_mirrorsets(&b, &naming, scope(a.mirrorset_scope, &naming), &a.out)?
        }
    };
    if a.json {
        print_json(&files)?;
    } else {
        for f in &files {
            println!("{f}");
        }
    }
    Ok(EXIT_OK)
}

fn check(a: args::CheckArgs) -> Result<i32> {
    let naming = target_naming(&a.target)?;
    let target = Registry::new(naming.target(), &client_options(&a.registry)?)
        .with_context(|| format!("connecting to {}", naming.target()))?;
    let report = match &a.trusted_key {
        Some(k) => crate::check::check(open_verified(&a.dir, k)?.root(), &target, &naming),
        None => {
            let b = Bundle::open(&a.dir)
                .with_context(|| format!("opening bundle {}", a.dir.display()))?;
            crate::check::check(b.root(), &target, &naming)
        }
    };
    if a.json {
        print_json(&report)?;
    } else {
        for i in &report.images {
            if i.missing.is_empty() {
                println!("ok       {}", i.mirror);
            } else {
                println!("MISSING  {}", i.mirror);
                for m in &i.missing {
                    println!("         {m}");
                }
            }
        }
        println!(
            "{} of {} images complete at {}",
            report.complete(),
            report.images.len(),
            report.target
        );
    }
    if report.images.iter().any(|i| !i.missing.is_empty()) {
        return Ok(EXIT_PROBLEMS);
    }
    if report.images.is_empty() {
        bail!("the bundle lists no image");
    }
    Ok(EXIT_OK)
}
