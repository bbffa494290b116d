//! Reading a catalog image: its manifests and configs, the configs directory its label
//! `operators.operatorframework.io.index.configs.v1` names, and every `.json`/`.yaml` file
//! under that directory, streamed from the layers in order (later layers and whiteouts win,
//! as a container's file system sees them), less the files its `.indexignore` files leave out
//! ([`super::ignore`]). Only blobs of the packages asked for are kept.

use std::collections::BTreeMap;
use std::io::Read;

use serde_json::Value;

use super::fbc::{self, Catalog, SCHEMA_PACKAGE};
use super::ignore::{IgnoreRules, INDEXIGNORE};
use super::CatalogError;
use crate::model::manifest::{parse_refs, ManifestRefs, Referenced};
use crate::model::{Digest, Reference};
use crate::source::{ContentSource, ImageSource, RawManifest, SourceError};

pub use crate::model::labels::{label, CONFIGS_LABEL, DATABASE_LABEL};
/// The largest image config read.
const MAX_CONFIG: u64 = 4 << 20;
/// The largest `.indexignore` read.
const MAX_INDEXIGNORE: u64 = 1 << 20;

/// One image manifest of a catalog (the only one, or one child of its index).
#[derive(Debug, Clone)]
pub struct CatalogPart {
    /// The manifest.
    pub manifest: RawManifest,
    /// `os/arch[/variant]`, for an index child.
    pub platform: Option<String>,
    /// The image config, as read.
    pub config: Value,
    /// The config's descriptor.
    pub config_ref: Referenced,
    /// The layers.
    pub layers: Vec<Referenced>,
}

/// A catalog image as read from its source.
#[derive(Debug, Clone)]
pub struct CatalogImage {
    /// The catalog as asked for.
    pub reference: Reference,
    /// Its top manifest.
    pub top: RawManifest,
    /// Its image manifests (one, or each child of the index).
    pub parts: Vec<CatalogPart>,
    /// The configs directory, as the label names it (`/configs`).
    pub configs_dir: String,
}

fn layer_reader<'a>(
    layer: &Referenced,
    blob: Box<dyn Read + Send + 'a>,
) -> std::io::Result<Option<Box<dyn Read + 'a>>> {
    let media = layer.media_type.as_str();
    Ok(if media.ends_with("gzip") {
        Some(Box::new(flate2::read::MultiGzDecoder::new(blob)))
    } else if media.ends_with("zstd") {
        Some(Box::new(zstd::stream::read::Decoder::new(blob)?))
    } else if media.ends_with(".tar") {
        Some(blob)
    } else {
        None
    })
}

fn read_part(
    source: &dyn ContentSource,
    manifest: RawManifest,
    platform: Option<String>,
) -> Result<CatalogPart, String> {
    let (config_ref, layers) =
        match parse_refs(&manifest.digest, &manifest.media_type, &manifest.bytes) {
            Ok(ManifestRefs::Image { config, layers }) => (config, layers),
            Ok(ManifestRefs::Index { .. }) => {
                return Err(format!(
                    "{}: an index inside an index; ferry reads catalogs of one level",
                    manifest.digest
                ))
            }
            Err(e) => return Err(e.to_string()),
        };
    if config_ref.size > MAX_CONFIG {
        return Err(format!(
            "config {} is {} bytes",
            config_ref.digest, config_ref.size
        ));
    }
    let mut bytes = Vec::new();
    source
        .blob(&config_ref.digest, config_ref.size)
        .map_err(|e| crate::error_chain(&e))?
        .take(MAX_CONFIG)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("config {}: {e}", config_ref.digest))?;
    if Digest::sha256_of(&bytes) != config_ref.digest {
        return Err(format!(
            "config {} does not match its digest",
            config_ref.digest
        ));
    }
    let config: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("config {} is not JSON: {e}", config_ref.digest))?;
    Ok(CatalogPart {
        manifest,
        platform,
        config,
        config_ref,
        layers,
    })
}

/// Reads the catalog image `name` (carried as `reference`) from `source`, and its file-based
/// catalog, keeping the blobs of the packages `keep` accepts.
pub fn read_catalog(
    name: &str,
    reference: &Reference,
    source: &dyn ImageSource,
    keep: &dyn Fn(&str) -> bool,
) -> Result<(CatalogImage, Catalog), CatalogError> {
    let invalid = |reason: String| CatalogError::Invalid {
        catalog: name.to_string(),
        reason,
    };
    let src_err = |source: SourceError| CatalogError::Source {
        catalog: name.to_string(),
        source,
    };
    let top = source.top_manifest().map_err(src_err)?;
    let mut parts = Vec::new();
    match parse_refs(&top.digest, &top.media_type, &top.bytes)
        .map_err(|e| invalid(e.to_string()))?
    {
        ManifestRefs::Image { .. } => {
            parts.push(read_part(source, top.clone(), None).map_err(invalid)?)
        }
        ManifestRefs::Index { children } => {
            for c in children {
                let m = source.manifest(&c.digest).map_err(src_err)?;
                parts.push(read_part(source, m, c.platform.clone()).map_err(invalid)?);
            }
        }
    }
    let pick = parts
        .iter()
        .find(|p| p.platform.as_deref() == Some("linux/amd64"))
        .or(parts.first())
        .ok_or_else(|| invalid("an index with no image manifest".into()))?;
    let Some(configs_dir) = label(&pick.config, CONFIGS_LABEL).map(str::to_string) else {
        let why = if label(&pick.config, DATABASE_LABEL).is_some() {
            "a SQLite catalog (label operators.operatorframework.io.index.database.v1); \
             ferry reads file-based catalogs only (OpenShift 4.11 and later)"
        } else {
            "no label operators.operatorframework.io.index.configs.v1: not a file-based \
             catalog image"
        };
        return Err(invalid(why.into()));
    };
    let dir = configs_dir.trim_matches('/').to_string();
    let mut walk = Walk::default();
    for layer in pick.layers.iter().filter(|l| !l.foreign) {
        let layer_err = |reason: String| invalid(format!("layer {}: {reason}", layer.digest));
        let blob = source.blob(&layer.digest, layer.size).map_err(src_err)?;
        let Some(reader) = layer_reader(layer, blob).map_err(|e| layer_err(e.to_string()))? else {
            continue;
        };
        scan_layer(reader, &dir, keep, &mut walk).map_err(layer_err)?;
    }
    let files = walk.finish(&dir).map_err(invalid)?;
    if files.is_empty() {
        return Err(invalid(format!("no .json or .yaml file under /{dir}")));
    }
    let mut catalog = Catalog::default();
    for (path, blobs) in files {
        for b in blobs {
            catalog
                .add(b, keep)
                .map_err(|e| invalid(format!("{path}: {e}")))?;
        }
    }
    Ok((
        CatalogImage {
            reference: reference.clone(),
            top,
            parts,
            configs_dir,
        },
        catalog,
    ))
}

/// The package a blob belongs to (its name for an `olm.package`), if any.
fn package_of(v: &Value) -> Option<&str> {
    let key = if v.get("schema").and_then(Value::as_str) == Some(SCHEMA_PACKAGE) {
        "name"
    } else {
        "package"
    };
    v.get(key).and_then(Value::as_str).filter(|p| !p.is_empty())
}

/// What the layers read so far hold under the configs directory.
#[derive(Debug, Default)]
struct Walk {
    /// Each catalog file (by its path in the image) and its blobs, or why it could not be
    /// parsed: an error counts only if no `.indexignore` leaves the file out, which is known
    /// only once every layer is read.
    files: BTreeMap<String, Result<Vec<Value>, String>>,
    /// Each `.indexignore` (by its path in the image) and its text.
    ignores: BTreeMap<String, String>,
}

impl Walk {
    /// Applies a whiteout of `gone` (a file, or a directory and all under it).
    fn remove(&mut self, gone: &str) {
        let under = format!("{gone}/");
        self.files
            .retain(|f, _| f != gone && !f.starts_with(&under));
        self.ignores
            .retain(|f, _| f != gone && !f.starts_with(&under));
    }

    /// The catalog files `.indexignore` does not leave out, under `dir`; the first that could
    /// not be parsed is an error.
    fn finish(self, dir: &str) -> Result<BTreeMap<String, Vec<Value>>, String> {
        let prefix = format!("{dir}/");
        let rel = |p: &str| p.strip_prefix(&prefix).unwrap_or(p).to_string();
        let texts: Vec<(String, &str)> = self
            .ignores
            .iter()
            .map(|(p, t)| (rel(p), t.as_str()))
            .collect();
        let rules = IgnoreRules::new(texts.iter().map(|(p, t)| (p.as_str(), *t)));
        let mut out = BTreeMap::new();
        for (path, blobs) in self.files {
            if rules.ignores(&rel(&path)) {
                continue;
            }
            out.insert(path, blobs?);
        }
        Ok(out)
    }
}

/// Walks one layer: applies its whiteouts to `walk`, and reads the catalog files and
/// `.indexignore` files under `dir`.
fn scan_layer(
    reader: Box<dyn Read + '_>,
    dir: &str,
    keep: &dyn Fn(&str) -> bool,
    walk: &mut Walk,
) -> Result<(), String> {
    let prefix = format!("{dir}/");
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path().map_err(|e| e.to_string())?;
        let path = path.to_string_lossy();
        let path = path
            .trim_start_matches("./")
            .trim_start_matches('/')
            .to_string();
        let (parent, base) = match path.rsplit_once('/') {
            Some((p, b)) => (format!("{p}/"), b.to_string()),
            None => (String::new(), path.clone()),
        };
        if base == ".wh..wh..opq" {
            walk.files.retain(|f, _| !f.starts_with(&parent));
            walk.ignores.retain(|f, _| !f.starts_with(&parent));
            continue;
        }
        if let Some(gone) = base.strip_prefix(".wh.") {
            walk.remove(&format!("{parent}{gone}"));
            continue;
        }
        if !path.starts_with(&prefix) {
            continue;
        }
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let size = entry.size();
        if base == INDEXIGNORE {
            if size > MAX_INDEXIGNORE {
                return Err(format!(
                    "{path}: {size} bytes, more than the {MAX_INDEXIGNORE} ferry reads"
                ));
            }
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|e| format!("{path}: {e}"))?;
            walk.ignores.insert(path, text);
            continue;
        }
        let mut blobs = Vec::new();
        let parsed = fbc::parse_file(&path, size, entry, &mut |v| {
            match package_of(&v) {
                Some(p) if !keep(p) => {
                    // Only its name is kept, for "nearest names" in errors.
                    if v.get("schema").and_then(Value::as_str) == Some(SCHEMA_PACKAGE) {
                        blobs.push(serde_json::json!({"schema": SCHEMA_PACKAGE, "name": p}));
                    }
                }
                _ => blobs.push(v),
            }
            Ok(())
        });
        match parsed {
            Ok(true) => {
                walk.files.insert(path, Ok(blobs));
            }
            Ok(false) => {
                walk.files.remove(&path);
            }
            Err(e) => {
                walk.files.insert(path, Err(e));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar(files: &[(&str, &str)]) -> Vec<u8> {
        let mut t = tar::Builder::new(Vec::new());
        for (p, body) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            t.append_data(&mut h, p, body.as_bytes()).unwrap();
        }
        t.into_inner().unwrap()
    }

    #[test]
    fn later_layers_and_whiteouts_win() {
        let mut walk = Walk::default();
        let all = |_: &str| true;
        let l1 = tar(&[
            (
                "configs/a/catalog.json",
                r#"{"schema":"olm.package","name":"a"}"#,
            ),
            ("configs/b/catalog.yaml", "schema: olm.package\nname: b\n"),
            ("configs/c/x.json", r#"{"schema":"olm.package","name":"c"}"#),
            ("etc/passwd", "root"),
            (
                "./configs/d/catalog.json",
                r#"{"schema":"olm.package","name":"d"}"#,
            ),
        ]);
        scan_layer(Box::new(&l1[..]), "configs", &all, &mut walk).unwrap();
        assert_eq!(walk.files.len(), 4);
        let l2 = tar(&[
            ("configs/a/.wh.catalog.json", ""),
            ("configs/.wh.c", ""),
            ("configs/d/.wh..wh..opq", ""),
            ("configs/b/catalog.yaml", "schema: olm.package\nname: b2\n"),
        ]);
        scan_layer(Box::new(&l2[..]), "configs", &all, &mut walk).unwrap();
        let files = walk.finish("configs").unwrap();
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            vec!["configs/b/catalog.yaml"]
        );
        assert_eq!(files["configs/b/catalog.yaml"][0]["name"], "b2");
    }

    #[test]
    fn blobs_of_packages_not_asked_for_are_not_kept() {
        let mut walk = Walk::default();
        let l = tar(&[(
            "configs/all.json",
            r#"{"schema":"olm.package","name":"a"}{"schema":"olm.bundle","package":"b","name":"b1"}{"schema":"x"}"#,
        )]);
        scan_layer(Box::new(&l[..]), "configs", &|p| p == "a", &mut walk).unwrap();
        let files = walk.finish("configs").unwrap();
        assert_eq!(files["configs/all.json"].len(), 2);
    }

    #[test]
    fn indexignore_leaves_files_out_and_only_errors_of_files_kept_count() {
        let all = |_: &str| true;
        let mut walk = Walk::default();
        let l1 = tar(&[
            ("configs/.indexignore", "drafts/\n*.md\n"),
            (
                "configs/a/catalog.json",
                r#"{"schema":"olm.package","name":"a"}"#,
            ),
            ("configs/drafts/broken.json", "{not json"),
            ("configs/b/.indexignore", "old.yaml\n"),
            ("configs/b/old.yaml", "schema: [unclosed"),
            ("configs/b/catalog.yaml", "schema: olm.package\nname: b\n"),
        ]);
        scan_layer(Box::new(&l1[..]), "configs", &all, &mut walk).unwrap();
        let files = walk.finish("configs").unwrap();
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            vec!["configs/a/catalog.json", "configs/b/catalog.yaml"]
        );
        // The same broken file with its .indexignore whited out in a later layer fails.
        let mut walk = Walk::default();
        scan_layer(Box::new(&l1[..]), "configs", &all, &mut walk).unwrap();
        let l2 = tar(&[("configs/b/.wh..indexignore", "")]);
        scan_layer(Box::new(&l2[..]), "configs", &all, &mut walk).unwrap();
        let e = walk.finish("configs").unwrap_err();
        assert!(e.starts_with("configs/b/old.yaml: not YAML"), "{e}");
    }
}
