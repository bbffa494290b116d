//! `ferry export`: a verified bundle into an OCI image layout.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::args::ExportArgs;
use super::common::{jobs, open_verified, print_json, say, usage, EXIT_OK, EXIT_PROBLEMS};
use super::progress::Renderer;
use super::{events, human};

/// The layout directory named by `--to oci:DIR`.
fn layout_dir(to: &str) -> Result<PathBuf> {
    match to.strip_prefix("oci:") {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => Err(usage(format!(
            "--to {to:?}: ferry exports to an OCI image layout, written as oci:DIR"
        ))),
    }
}

/// Runs `ferry export`.
pub(super) fn export(a: ExportArgs) -> Result<i32> {
    let dir = layout_dir(&a.to)?;
    let b = open_verified(&a.dir, &a.trusted_key)?;
    let progress = Renderer::new(a.json);
    let report = ferry::export::export(&b, &dir, jobs(a.jobs), &progress)
        .with_context(|| format!("exporting {} to {}", a.dir.display(), a.to))?;
    let failed: Vec<_> = report.failed().collect();
    if a.json {
        print_json(&report)?;
    } else {
        let took = events::elapsed();
        outln!(
            "exported {} of {} images to {}: {} blobs written, {} already there, {} copied in {} \
             ({})",
            report.images.len() - failed.len(),
            report.images.len(),
            dir.display(),
            report.blobs_written,
            report.blobs_present,
            human::size(progress.bytes()),
            human::duration(took),
            human::rate(progress.bytes(), took)
        )?;
        for i in report.images.iter().filter(|i| i.ok) {
            outln!("  {}", i.mirror)?;
        }
        for f in &failed {
            say(
                "",
                &format!(
                    "FAILED {}: {}",
                    f.name,
                    f.error.as_deref().unwrap_or("unknown error")
                ),
            );
        }
    }
    Ok(if failed.is_empty() {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    })
}
