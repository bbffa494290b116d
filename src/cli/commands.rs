//! `ferry keygen`, `pack`, `verify`, `inspect`, `mirrorsets` and `check`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::args::{self, MirrorsetsArgs};
use super::common::{
    client_options, jobs, open_bundle, open_verified, print_json, print_notes, read_public_keys,
    say, usage, write_stdout, EXIT_OK, EXIT_PROBLEMS,
};
use super::progress::Renderer;
use super::{events, human};
use ferry::bundle::{self, Bundle, Root};
use ferry::naming::Naming;
use ferry::registry::Registry;
use ferry::sign;

/// Runs `ferry keygen`.
pub(super) fn keygen(a: args::KeygenArgs) -> Result<i32> {
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
        outln!(
            "secret key: {} (mode 0600; keep it on the build farm)",
            a.out.display()
        )?;
        outln!(
            "public key: {} (give it to the disconnected site)",
            pub_path(&a.out).display()
        )?;
    }
    Ok(EXIT_OK)
}

fn pub_path(p: &Path) -> std::path::PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".pub");
    s.into()
}

/// Runs `ferry pack`.
pub(super) fn pack(a: args::PackArgs) -> Result<i32> {
    use ferry::pack::imageset::{read_input, PackInput, ReleaseRequest};
    let mut input = match &a.images {
        Some(path) => read_input(path)?,
        None => PackInput::default(),
    };
    for r in &a.releases {
        let reference = ferry::model::Reference::parse(r.trim_start_matches("docker://"))
            .map_err(|e| usage(format!("--release {r}: {}", ferry::error_chain(&e))))?;
        input.releases.push(ReleaseRequest {
            reference,
            location: format!("--release {r}"),
            graph_version: None,
        });
    }
    let source_mirrors = a
        .source_mirrors
        .iter()
        .map(|m| ferry::pack::mirrors::SourceMirror::parse(m).map_err(usage))
        .collect::<Result<Vec<_>, _>>()?;
    let key = sign::read_secret_key(&a.key)
        .with_context(|| format!("reading secret key {}", a.key.display()))?;
    let (size, size_text) = match (&a.volume_size, input.archive_size_gib) {
        (Some(v), _) => (
            args::parse_size(v).map_err(|e| usage(format!("--volume-size: {e}")))?,
            v.clone(),
        ),
        (None, Some(gib)) => {
            say(
                "note",
                &format!("volumes of {gib}GiB, the ImageSetConfiguration's archiveSize"),
            );
            (gib.saturating_mul(1 << 30), format!("{gib}GiB"))
        }
        (None, None) => (ferry::pack::DEFAULT_VOLUME_SIZE, "fat32".to_string()),
    };
    if size == ferry::pack::DEFAULT_VOLUME_SIZE + 1 {
        say(
            "warning",
            &format!(
                "--volume-size {size_text} is one byte over the largest file FAT32 holds; \
                 use --volume-size fat32 if the volumes go on FAT32 sticks"
            ),
        );
    }
    ferry::pack::check_out_dir(&a.out)?;
    // skopeo's --tls-verify=false addresses the registries the input reads from.
    let mut hosts: Vec<String> = input
        .images
        .iter()
        .filter_map(|r| match &r.source {
            ferry::pack::list::SourceSpec::Registry(r) => Some(r.registry().to_string()),
            _ => None,
        })
        .chain(
            input
                .releases
                .iter()
                .map(|r| r.reference.registry().to_string()),
        )
        .chain(
            input
                .catalogs
                .iter()
                .map(|c| c.reference.registry().to_string()),
        )
        .chain(source_mirrors.iter().map(|m| m.mirror_host().to_string()))
        .collect();
    hosts.sort();
    hosts.dedup();
    let created = ferry::pack::PackOptions::created_from_env();
    let opts = ferry::pack::PackOptions {
        out: a.out.clone(),
        volume_size: (size != 0).then_some(size),
        jobs: jobs(a.jobs),
        platforms: a.platforms.clone(),
        client: client_options(&a.registry, &hosts)?,
        created,
        zstd_level: a.zstd_level,
        sequence: pack_sequence(&a.key, created),
        source_mirrors,
        graph_url: a.graph_url.clone(),
        signatures: match a.signatures {
            args::SignaturesArg::All => ferry::pack::attached::Signatures::All,
            args::SignaturesArg::None => ferry::pack::attached::Signatures::None,
        },
        signature_store: match a.signature_store.as_deref().map(str::trim) {
            Some("none") => None,
            Some(url) if !url.is_empty() => Some(url.to_string()),
            _ => Some(ferry::pack::release_sigs::DEFAULT_STORE.to_string()),
        },
        base: ferry::inventory::BaseIndex::new(
            &ferry::pack::base::load(&a.base).context("reading --base")?,
        ),
    };
    let what = match &a.images {
        Some(p) => p.display().to_string(),
        None => a.releases.join(", "),
    };
    let progress = Renderer::new(a.json);
    let summary = ferry::pack::pack_input(&input, &key, &opts, &progress)
        .with_context(|| format!("packing {what} into {}", a.out.display()))?;
    for n in &summary.notes {
        say("note", n);
    }
    for w in &summary.warnings {
        say("warning", w);
    }
    for b in &summary.blocked {
        say(
            "blocked",
            &format!(
                "{} ({}) is not packed: blockedImages {}",
                b.image, b.location, b.blocked_by
            ),
        );
    }
    if a.json {
        print_json(&summary)?;
    } else {
        let took = events::elapsed();
        for r in &summary.releases {
            outln!(
                "release {} ({}): {} components",
                r.release,
                r.version.as_deref().unwrap_or("version unknown"),
                r.components
            )?;
        }
        let att = &summary.attached;
        if att.total() > 0 {
            outln!(
                "attached: {} signature(s), {} attestation(s), {} SBOM(s), {} referrer(s)",
                att.signatures,
                att.attestations,
                att.sboms,
                att.referrers
            )?;
        }
        if summary.release_signatures > 0 {
            outln!("release signatures: {}", summary.release_signatures)?;
        }
        for c in &summary.catalogs {
            outln!(
                "catalog {}: {} packages, {} bundles, {} images; {}",
                c.catalog,
                c.packages.len(),
                c.bundles,
                c.images,
                match &c.rebuilt {
                    Some(d) => format!(
                        "rebuilt by ferry as {} {d} (the one image whose digest changes)",
                        c.name
                    ),
                    None => format!("carried unchanged as {}", c.name),
                }
            )?;
            for p in &c.packages {
                for ch in &p.channels {
                    outln!(
                        "  {}/{}{}: {}",
                        p.name,
                        ch.name,
                        if ch.name == p.default_channel {
                            " (default)"
                        } else {
                            ""
                        },
                        ch.bundles.join(", ")
                    )?;
                }
            }
        }
        outln!(
            "bundle {} : {} images, {} unique blobs ({}) in {} volume(s) of {} in all, packed in {} \
             ({})",
            summary.bundle_id,
            summary.images.len(),
            summary.blobs,
            human::size(summary.unique_blob_bytes),
            summary.volumes.len(),
            human::size(summary.bundle_bytes),
            human::duration(took),
            human::rate(summary.unique_blob_bytes, took)
        )?;
        if let Some(b) = &summary.base {
            outln!(
                "left out as present at the site: {} blobs ({}), per {}",
                b.blobs_in_base,
                human::size(b.bytes_in_base),
                b.inventories
                    .iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            )?;
            let c = &b.changes;
            outln!(
                "layers the site lacks carried as changes: {} of {} ({} stored for {} of layers, {} of it reconstruction data); {} carried whole ({}){}",
                c.layers_as_changes,
                c.layers_as_changes + c.layers_whole,
                human::size(c.stored_bytes),
                human::size(c.layer_bytes),
                human::size(c.recipe_bytes),
                c.layers_whole,
                human::size(c.whole_bytes),
                if c.whole_reasons.is_empty() {
                    String::new()
                } else {
                    let why: Vec<String> =
                        c.whole_reasons.iter().map(|(k, n)| format!("{k} {n}")).collect();
                    format!(": {}; `ferry inspect` names each", why.join(", "))
                }
            )?;
        }
        for v in &summary.volumes {
            outln!("  {}", v.display())?;
        }
    }
    Ok(EXIT_OK)
}

/// The sequence of the bundle being packed (SPEC.md §4.5): the next one of the key's state file
/// (`KEY.sequence`), or, for a reproducible pack (`SOURCE_DATE_EPOCH` set), the packing time
/// without touching the state file. When the state cannot be kept, a warning says so and the
/// packing time is the sequence.
fn pack_sequence(key: &Path, created: u64) -> Option<u64> {
    if std::env::var_os("SOURCE_DATE_EPOCH").is_some() {
        return None;
    }
    let state = ferry::pack::sequence::state_file(key);
    match ferry::pack::sequence::next_sequence(&state, created) {
        Ok(n) => Some(n),
        Err(e) => {
            say(
                "warning",
                &format!(
                    "cannot keep the bundle sequence in {}: {e}; this bundle's sequence is \
                     its packing time",
                    state.display()
                ),
            );
            None
        }
    }
}

/// Runs `ferry verify`.
pub(super) fn verify(a: args::VerifyArgs) -> Result<i32> {
    let keys = read_public_keys(&a.trusted_key)?;
    let b = match &a.volume {
        Some(v) => Bundle::open_volume_of(&a.dir, v)
            .with_context(|| format!("opening volume {}", v.display()))?,
        None => open_bundle(&a.dir)?,
    };
    let b = b.verify_any(&keys).with_context(|| {
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
            say("DAMAGED", &d.message);
            if !d.images.is_empty() {
                say("", &format!("  images affected: {}", d.images.join(", ")));
            }
        }
        if report.is_ok() {
            // A whole bundle is checked blob by blob, a single volume chunk by chunk.
            let what = if report.blobs_checked > 0 {
                format!("{} blobs", report.blobs_checked)
            } else {
                format!("{} chunks", report.chunks_checked)
            };
            let took = events::elapsed();
            outln!(
                "bundle {} OK: signature trusted, {} volume(s), {} manifests, {what}, {} checked \
                 in {} ({})",
                report.bundle_id,
                report.volumes.len(),
                report.manifests_checked,
                human::size(report.bytes_checked),
                human::duration(took),
                human::rate(report.bytes_checked, took)
            )?;
            if !report.base.is_empty() {
                outln!(
                    "incremental bundle: {} blob(s) are left to the site and not carried (packed \
                     against {}); ferry push checks them against the target registry before it \
                     pushes anything",
                    report.blobs_in_base,
                    report.base.join("; ")
                )?;
            }
            if report.layers_checked_at_push > 0 {
                outln!(
                    "  {} layer(s) are carried as changes against base layers at the target: \
                     the bytes carried were checked; each layer is rebuilt and checked against \
                     its digest at push",
                    report.layers_checked_at_push
                )?;
            }
        } else {
            say(
                "",
                &format!(
                    "bundle {}: {} problem(s) found in {}; copy the damaged volume(s) again",
                    report.bundle_id,
                    report.damage.len(),
                    human::duration(events::elapsed())
                ),
            );
        }
    }
    Ok(if report.is_ok() {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    })
}

/// Runs `ferry inspect`.
pub(super) fn inspect(a: args::InspectArgs) -> Result<i32> {
    let b = if a.dir.is_file() {
        Bundle::open_volume(&a.dir)
            .with_context(|| format!("opening volume {}", a.dir.display()))?
    } else {
        open_bundle(&a.dir)?
    };
    let info = ferry::inspect::describe(&b)
        .with_context(|| format!("reading bundle {}", a.dir.display()))?;
    if a.json {
        print_json(&info)?;
    } else {
        write_stdout(format_args!("{}", ferry::inspect::render(&info)))?;
    }
    Ok(EXIT_OK)
}

/// The target's naming, its notes printed first.
fn target_naming(t: &args::TargetArgs) -> Result<Naming> {
    let target = t.target();
    print_notes(&target);
    target.naming().map_err(|e| usage(ferry::error_chain(&e)))
}

/// Calls `f` with the root of the bundle in `dir`, its signature checked against `keys`;
/// without keys (`--no-verify`, which clap allows only then) the root is used unchecked, with
/// a warning.
fn with_root<T>(dir: &Path, keys: &[PathBuf], f: impl FnOnce(&Root) -> T) -> Result<T> {
    Ok(if keys.is_empty() {
        let root = open_bundle(dir)?
            .unverified_root()
            .with_context(|| format!("reading bundle {}", dir.display()))?;
        say(
            "warning",
            &format!(
                "--no-verify: the signature of bundle {} was NOT checked; its image \
                 names and digests are unverified input",
                root.bundle_id
            ),
        );
        f(&root)
    } else {
        f(open_verified(dir, keys)?.root())
    })
}

/// Runs `ferry mirrorsets`.
pub(super) fn mirrorsets(a: MirrorsetsArgs) -> Result<i32> {
    let naming = target_naming(&a.target)?;
    let scope = ferry::mirrorset::scope_for(a.mirrorset_scope.scope(), &naming);
    let mut files = with_root(&a.dir, &a.trusted_key, |root| {
        ferry::mirrorset::write_for_root(root, &naming, scope, &a.out)
    })??;
    // Operator catalogs are found by their image config, read from the bundle: only a
    // verified bundle's blobs are read.
    if a.trusted_key.is_empty() {
        files.notes.push(
            "--no-verify: operator catalogs are not looked for (their CatalogSource and \
             ClusterCatalog need the verified bundle's image configs)"
                .to_string(),
        );
    } else {
        let bundle = open_verified(&a.dir, &a.trusted_key)?;
        let all = vec![true; bundle.root().images.len()];
        let catalogs = ferry::push::catalogs::find(&bundle, &naming, &all);
        let written = ferry::push::catalogs::write(
            &a.out,
            &catalogs,
            ferry::mirrorset::bundle_tag(bundle.root()),
        )
        .with_context(|| format!("writing catalog resources to {}", a.out.display()))?;
        files.files.extend(written);
    }
    if a.json {
        print_json(&files)?;
    } else {
        for f in &files.files {
            outln!("{}", f.display())?;
        }
    }
    for n in &files.notes {
        say("note", n);
    }
    Ok(EXIT_OK)
}

/// Runs `ferry check`.
pub(super) fn check(a: args::CheckArgs) -> Result<i32> {
    let naming = target_naming(&a.target)?;
    let client = client_options(&a.registry, &[naming.target().to_string()])?;
    let target = Registry::new(naming.target(), &client)
        .with_context(|| format!("connecting to {}", naming.target()))?;
    let report = with_root(&a.dir, &a.trusted_key, |root| {
        ferry::check::check(root, &target, &naming)
    })?;
    if a.json {
        print_json(&report)?;
    } else {
        for i in &report.images {
            if i.missing.is_empty() {
                outln!("ok       {}", i.mirror)?;
            } else {
                outln!("MISSING  {}", i.mirror)?;
                for m in &i.missing {
                    outln!("         {m}")?;
                }
            }
        }
        outln!(
            "{} of {} images complete at {}, checked in {}",
            report.complete(),
            report.images.len(),
            report.target,
            human::duration(events::elapsed())
        )?;
    }
    if report.images.iter().any(|i| !i.missing.is_empty()) {
        return Ok(EXIT_PROBLEMS);
    }
    if report.images.is_empty() {
        bail!("the bundle lists no image");
    }
    Ok(EXIT_OK)
}
