//! `ferry push`: the library's push workflow, its outcome printed.

use anyhow::Result;

use super::args::PushArgs;
use super::common::{
    client_options, jobs, open_verified, print_json, print_notes, EXIT_OK, EXIT_PROBLEMS,
};
use super::progress::Renderer;
use ferry::push::PushOptions;

/// Runs `ferry push`.
pub(super) fn push(a: PushArgs) -> Result<i32> {
    let b = open_verified(&a.dir, &a.trusted_key)?;
    let target = a.target.target();
    print_notes(&target);
    let client = client_options(&a.registry, &[target.host().to_string()])?;
    let opts = PushOptions {
        target,
        client,
        jobs: jobs(a.jobs),
        mirrorsets_out: a.mirrorsets_out.clone(),
        scope: a.mirrorset_scope.scope(),
        allow_rollback: a.allow_rollback,
    };
    let progress = Renderer::new(a.json);
    let outcome = ferry::push::run(&b, &opts, &progress)?;
    let report = &outcome.report;
    let failed: Vec<_> = report.failed().collect();
    if a.json {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            outcome: &'a ferry::push::PushOutcome,
            skipped: &'a [ferry::bundle::SkippedFile],
        }
        print_json(&Out {
            outcome: &outcome,
            skipped: b.skipped(),
        })?;
    } else {
        outln!(
            "pushed {} of {} images to {}: {} blobs uploaded ({} bytes), {} mounted, {} already present",
            report.images.len() - failed.len(),
            report.images.len(),
            report.target,
            report.blobs_uploaded,
            report.bytes_uploaded,
            report.blobs_mounted,
            report.blobs_present
        )?;
        if outcome.mirrorsets.is_empty() {
            outln!("mirror sets: none written (no image was pushed)")?;
        } else {
            outln!("mirror sets:")?;
            for f in &outcome.mirrorsets {
                outln!("  {}", f.display())?;
            }
        }
        for n in &outcome.mirrorset_notes {
            println!("  ({n})");
        }
        for f in &failed {
            eprintln!(
                "FAILED {}: {}",
                f.name,
                f.error.as_deref().unwrap_or("unknown error")
            );
        }
    }
    for r in &outcome.rolled_back {
        eprintln!(
            "warning: --allow-rollback: moved {} back from {} (set by bundle {}, {}) to {}",
            r.tag, r.current, r.set_by, r.set_by_freshness, r.older
        );
    }
    for hint in outcome.hints() {
        eprintln!("hint: {hint}");
    }
    Ok(if outcome.is_complete() {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    })
}
