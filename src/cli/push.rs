//! `ferry push`: the library's push workflow, its outcome printed.

use std::path::PathBuf;

use anyhow::Result;

use super::args::PushArgs;
use super::common::{
    client_options, jobs, open_verified, print_json, print_notes, say, EXIT_OK, EXIT_PROBLEMS,
};
use super::progress::Renderer;
use super::{events, human};
use ferry::mirrorset::{ICSP_FILE, IDMS_FILE, ITMS_FILE};
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
        let took = events::elapsed();
        outln!(
            "pushed {} of {} images to {}: {} blobs uploaded ({}), {} mounted, {} already present, \
             in {} ({})",
            report.images.len() - failed.len(),
            report.images.len(),
            report.target,
            report.blobs_uploaded,
            human::size(report.bytes_uploaded),
            report.blobs_mounted,
            report.blobs_present,
            human::duration(took),
            human::rate(report.bytes_uploaded, took)
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
            outln!("  ({n})")?;
        }
        for c in &outcome.catalogs {
            match &c.filtered_from {
                Some(from) => outln!(
                    "operator catalog {} → {} (rebuilt by ferry: filtered from {from}, so its \
                     digest differs from upstream)",
                    c.name,
                    c.mirror
                )?,
                None => outln!("operator catalog {} → {} (unchanged)", c.name, c.mirror)?,
            }
        }
        for f in &outcome.catalog_resources {
            outln!("  {}", f.display())?;
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
    for r in &outcome.rolled_back {
        say(
            "warning",
            &format!(
                "--allow-rollback: moved {} back from {} (set by bundle {}, {}) to {}",
                r.tag, r.current, r.set_by, r.set_by_freshness, r.older
            ),
        );
    }
    for hint in outcome.hints() {
        say("hint", &hint.to_string());
    }
    if !a.json {
        if let Some(next) = next_step(&outcome.mirrorsets) {
            outln!("{next}")?;
        }
    }
    Ok(if outcome.is_complete() {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    })
}

/// The step after a push: `oc apply -f` of the mirror-set resources just written (IDMS and ITMS;
/// the ICSP for clusters before OpenShift 4.13); `None` when none were written.
fn next_step(files: &[PathBuf]) -> Option<String> {
    let of = |file: &str| -> Vec<&PathBuf> {
        let stem = file.strip_suffix(".yaml").unwrap_or(file);
        files
            .iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n == file || n.starts_with(&format!("{stem}-")))
            })
            .collect()
    };
    let apply = |paths: Vec<&PathBuf>| {
        paths
            .iter()
            .map(|p| format!("-f {}", p.display()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut sets = of(IDMS_FILE);
    sets.extend(of(ITMS_FILE));
    // The release signatures the cluster-version operator verifies updates with.
    sets.extend(of(ferry::mirrorset::signatures::SIGNATURES_FILE));
    if sets.is_empty() {
        return None;
    }
    let icsp = of(ICSP_FILE);
    let older = if icsp.is_empty() {
        String::new()
    } else {
        format!(" (OpenShift before 4.13: oc apply {})", apply(icsp))
    };
    Some(format!("next: oc apply {}{older}", apply(sets)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_step_applies_the_signature_configmap_too() {
        let files: Vec<PathBuf> = [
            "imagedigestmirrorset-0123456789ab.yaml",
            "imagecontentsourcepolicy-0123456789ab.yaml",
            "release-signatures-0123456789ab.yaml",
            "registries.conf",
        ]
        .iter()
        .map(|f| PathBuf::from("/out").join(f))
        .collect();
        let next = next_step(&files).unwrap();
        assert!(
            next.starts_with(
                "next: oc apply -f /out/imagedigestmirrorset-0123456789ab.yaml \
                 -f /out/release-signatures-0123456789ab.yaml"
            ),
            "{next}"
        );
        assert!(
            next_step(&files[3..]).is_none(),
            "nothing to apply, no step"
        );
    }
}
