//! `ferry inventory`: what the site holds (or what bundles carried), written for `pack --base`.

use anyhow::{Context, Result};
use serde::Serialize;

use super::args::InventoryArgs;
use super::common::{client_options, jobs, open_verified, print_json, say, EXIT_OK};
use super::human;
use super::progress::Renderer;
use ferry::inventory::{self, Inventory, TakeOptions};
use ferry::naming::Naming;
use ferry::registry::Registry;

/// Runs `ferry inventory`.
pub(super) fn inventory(a: InventoryArgs) -> Result<i32> {
    let taken = ferry::pack::PackOptions::created_from_env();
    let inv = match &a.from {
        Some(host) => {
            let mut naming = Naming::new(host, &a.prefix)
                .map_err(|e| super::common::usage(ferry::error_chain(&e)))?;
            if a.flatten {
                naming = naming.flattened();
            }
            let client = client_options(&a.registry, std::slice::from_ref(host))?;
            let registry =
                Registry::new(host, &client).with_context(|| format!("connecting to {host}"))?;
            let progress = Renderer::new(a.json);
            let opts = TakeOptions {
                taken,
                jobs: jobs(a.jobs),
            };
            inventory::take(&registry, &naming, &opts, &progress)
                .with_context(|| format!("taking the inventory of {host} prefix {:?}", a.prefix))?
        }
        None => {
            let mut bundles = Vec::new();
            for dir in &a.bundle {
                bundles.push(open_verified(dir, &a.trusted_key)?);
            }
            inventory::of_bundles(&bundles, taken).context("describing the bundles")?
        }
    };
    for n in &inv.notes {
        say("note", n);
    }
    let file_bytes =
        inventory::write(&inv, &a.out).with_context(|| format!("writing {}", a.out.display()))?;
    let summary = Summary::of(&inv, &a.out, file_bytes);
    if a.json {
        print_json(&summary)?;
    } else {
        super::common::write_stdout(format_args!(
            "inventory {} of {} ({:?}), taken {}: {} repositories, {} tags, {} manifests, {} blobs \
             ({}) → {} ({})\n",
            summary.digest,
            inv.describe(),
            inv.source.listing,
            inv.taken,
            summary.repositories,
            summary.tags,
            summary.manifests,
            summary.blobs,
            human::size(summary.blob_bytes),
            a.out.display(),
            human::size(file_bytes)
        ))?;
    }
    Ok(EXIT_OK)
}

/// The JSON summary of `ferry inventory`.
#[derive(Serialize)]
struct Summary<'a> {
    digest: String,
    file: &'a std::path::Path,
    file_bytes: u64,
    source: &'a inventory::InventorySource,
    taken: &'a str,
    repositories: usize,
    tags: usize,
    manifests: usize,
    blobs: usize,
    blob_bytes: u64,
    notes: &'a [String],
}

impl<'a> Summary<'a> {
    fn of(inv: &'a Inventory, file: &'a std::path::Path, file_bytes: u64) -> Self {
        Summary {
            digest: inv.digest().to_string(),
            file,
            file_bytes,
            source: &inv.source,
            taken: &inv.taken,
            repositories: inv.repositories.len(),
            tags: inv.tag_count(),
            manifests: inv.manifests.len(),
            blobs: inv.blobs.len(),
            blob_bytes: inv.blob_bytes(),
            notes: &inv.notes,
        }
    }
}
