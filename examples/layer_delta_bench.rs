//! Measures incremental layers on real layer pairs (docs/performance.md, "Incremental layers").
//!
//! `cargo run --release --example layer_delta_bench -- NEW_LAYER [BASE_LAYER...]`
//!
//! Plans NEW_LAYER (a gzip blob) against the base layers, stores the plan into a throwaway
//! bundle, rebuilds the layer from that bundle and the bases, and prints one JSON line: sizes,
//! reconstruction-data share, bytes shipped, analysis / prove / rebuild times and MB/s of layer
//! and of tar, and the process's peak RSS. One pair per process, so the peak is that pair's.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::PathBuf;
use std::time::Instant;

use ferry::bundle::root::ChunkingInfo;
use ferry::bundle::writer::{BundleWriter, RootContent};
use ferry::bundle::Bundle;
use ferry::layerdelta::{encode_layer, store_layer, BaseCandidate, Encoded, SpooledBases};
use ferry::model::{Digest, DigestAlgorithm, DigestingReader, MediaType};
use ferry::sign::{KeyId, SecretKey};

fn digest_of(path: &PathBuf) -> io::Result<Digest> {
    let mut r = DigestingReader::new(BufReader::new(File::open(path)?), DigestAlgorithm::Sha256);
    io::copy(&mut r, &mut io::sink())?;
    Ok(r.finish().0)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// CPU seconds (user + system) this process has used: per-core rates stay meaningful on a
/// machine shared with other work.
fn cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
            Some(ticks / 100.0)
        })
        .unwrap_or(0.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let (layer, bases) = args
        .split_first()
        .ok_or("usage: layer_delta_bench NEW [BASE...]")?;
    let digest = digest_of(layer)?;
    let size = std::fs::metadata(layer)?.len();
    let work = tempfile::tempdir_in(std::env::var_os("TMPDIR").unwrap_or_else(|| "/tmp".into()))?;
    let mut candidates = Vec::new();
    let mut base_paths = std::collections::HashMap::new();
    for b in bases {
        let d = digest_of(b)?;
        base_paths.insert(d.clone(), b.clone());
        candidates.push(BaseCandidate {
            digest: d,
            blob: Box::new(BufReader::new(File::open(b)?)),
        });
    }
    let started = Instant::now();
    let cpu0 = cpu_secs();
    let encoded = encode_layer(
        BufReader::new(File::open(layer)?),
        &digest,
        candidates,
        work.path(),
    )?;
    let plan_secs = started.elapsed().as_secs_f64();
    let plan_cpu = cpu_secs() - cpu0;
    let plan = match encoded {
        Encoded::Delta(p) => p,
        Encoded::Whole(why) => {
            println!(
                "{}",
                serde_json::json!({"layer": layer, "size": size, "whole": why.to_string(),
                    "peak_rss_mib": peak_rss_kib() / 1024})
            );
            return Ok(());
        }
    };
    let dir = work.path().join("bundle");
    let (mut w, _) = BundleWriter::open(&dir, "bench", None)?;
    let stored = store_layer(
        &plan,
        &mut w,
        &MediaType::from("application/vnd.oci.image.layer.v1.tar+gzip"),
        3,
    )?;
    let key = SecretKey::from_seed([7; 32], KeyId(*b"benchkey"));
    w.finish(
        RootContent {
            created: "2026-01-01T00:00:00Z".into(),
            mtime: 1_767_225_600,
            sequence: 1_767_225_600,
            images: vec![],
            manifests: vec![],
            chunking: ChunkingInfo {
                algorithm: "fastcdc-2020".into(),
                min: 524_288,
                avg: 1_048_576,
                max: 8_388_608,
            },
            release_signatures: vec![],
            catalog_sources: vec![],
            base: None,
            in_base: vec![],
        },
        &key,
        None,
    )?;
    let bundle = Bundle::open(&dir)?.verify(&key.public_key())?;
    // The root carries the layer's piece list: part of what the layer costs the bundle.
    let root_bytes = bundle.root_bytes().len() as u64;
    let paths = base_paths.clone();
    let spool = work.path().join("spool");
    std::fs::create_dir_all(&spool)?;
    let bases = SpooledBases::new(
        spool,
        Box::new(move |d: &Digest| -> io::Result<Box<dyn Read + Send>> {
            let p = paths
                .get(d)
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, d.to_string()))?;
            Ok(Box::new(BufReader::new(File::open(p)?)))
        }),
    );
    let started = Instant::now();
    let cpu1 = cpu_secs();
    let mut r = DigestingReader::verifying(
        bundle.blob_reader_with_bases(&digest, true, Box::new(bases))?,
        digest.clone(),
        Some(size),
    );
    io::copy(&mut r, &mut io::sink())?;
    let rebuild_secs = started.elapsed().as_secs_f64();
    let rebuild_cpu = cpu_secs() - cpu1;
    let tar = plan.recipe.tar_size as f64;
    let mb = 1e6;
    println!(
        "{}",
        serde_json::json!({
            "layer": layer,
            "size": size,
            "tar_size": plan.recipe.tar_size,
            "recipe_bytes": stored.recipe_bytes,
            "recipe_share_of_gzip_pct": stored.recipe_bytes as f64 * 100.0 / size as f64,
            "new_tar_bytes": stored.new_bytes,
            "stored_bytes": stored.stored_bytes,
            "pieces": plan.pieces.len(),
            "root_bytes": root_bytes,
            "shipped_share_of_gzip_pct": (stored.stored_bytes + root_bytes) as f64 * 100.0 / size as f64,
            "analysis_secs": plan.analysis_time.as_secs_f64(),
            "prove_secs": plan.prove_time.as_secs_f64(),
            "plan_secs": plan_secs,
            "analysis_mb_s_gzip": size as f64 / mb / plan.analysis_time.as_secs_f64(),
            "analysis_mb_s_tar": tar / mb / plan.analysis_time.as_secs_f64(),
            "plan_cpu_secs": plan_cpu,
            "plan_mb_s_gzip_per_core": size as f64 / mb / plan_cpu,
            "rebuild_cpu_secs": rebuild_cpu,
            "rebuild_mb_s_gzip_per_core": size as f64 / mb / rebuild_cpu,
            "rebuild_secs": rebuild_secs,
            "rebuild_mb_s_gzip": size as f64 / mb / rebuild_secs,
            "rebuild_mb_s_tar": tar / mb / rebuild_secs,
            "peak_rss_mib": peak_rss_kib() / 1024,
        })
    );
    Ok(())
}
