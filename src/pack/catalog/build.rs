//! The filtered catalog image, built as oc-mirror builds it: every original layer kept, then a
//! layer whose only entry whites out the configs directory, then a layer holding the filtered
//! catalog there (one `<package>/catalog.json` each); the config's `Cmd` becomes
//! `["serve", "<configs dir>"]`, without `--cache-dir`, so `opm` builds a fresh cache at start
//! instead of failing the integrity check of the stale pre-built one. A multi-arch catalog gets
//! the same two layers on every platform image.
//!
//! The bytes are deterministic (sorted entries, zero times and owners, one gzip level, the
//! JSON of each blob as read), so the same catalog and filter give the same digest. The new
//! blobs and manifests are written as an OCI layout; the original layers are not copied there
//! (the pack reads them from the catalog's source, [`crate::source::OverlaySource`]).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::fbc::Catalog;
use super::read::{CatalogImage, CatalogPart, CONFIGS_LABEL};
use super::select::Selection;
use crate::model::{Digest, DigestAlgorithm, Hasher};

pub use crate::model::labels::FILTERED_LABEL;

/// A catalog image written as an OCI layout.
#[derive(Debug, Clone)]
pub struct BuiltCatalog {
    /// The layout directory.
    pub layout: PathBuf,
    /// The ref name of the image in the layout.
    pub tag: String,
    /// The new top manifest's digest.
    pub digest: Digest,
}

struct HashWrite<W> {
    inner: W,
    hasher: Hasher,
    size: u64,
}

impl<W: Write> Write for HashWrite<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn hash_write<W>(inner: W) -> HashWrite<W> {
    HashWrite {
        inner,
        hasher: Hasher::new(DigestAlgorithm::Sha256),
        size: 0,
    }
}

/// A layer written: its blob digest and size, and its diff id.
struct Layer {
    digest: Digest,
    size: u64,
    diff_id: Digest,
}

fn blob_dir(layout: &Path) -> PathBuf {
    layout.join("blobs").join("sha256")
}

/// Writes `bytes` as a blob of `layout`.
fn put_blob(layout: &Path, bytes: &[u8]) -> io::Result<(Digest, u64)> {
    let d = Digest::sha256_of(bytes);
    fs::write(blob_dir(layout).join(d.hex()), bytes)?;
    Ok((d, bytes.len() as u64))
}

fn header(size: u64, dir: bool) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(if dir {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    h.set_size(size);
    h.set_mode(if dir { 0o755 } else { 0o644 });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h
}

/// Writes one gzip layer whose tar `fill` produces, streaming to the blob file.
fn write_layer(
    layout: &Path,
    fill: impl FnOnce(&mut tar::Builder<&mut dyn Write>) -> io::Result<()>,
) -> io::Result<Layer> {
    let tmp = blob_dir(layout).join(".layer.tmp");
    let file = hash_write(io::BufWriter::new(File::create(&tmp)?));
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::new(6));
    let mut raw = hash_write(gz);
    {
        let w: &mut dyn Write = &mut raw;
        let mut t = tar::Builder::new(w);
        t.mode(tar::HeaderMode::Deterministic);
        fill(&mut t)?;
        t.finish()?;
    }
    let diff_id = raw.hasher.finish();
    let mut file = raw.inner.finish()?;
    file.flush()?;
    let digest = file.hasher.finish();
    let size = file.size;
    fs::rename(&tmp, blob_dir(layout).join(digest.hex()))?;
    Ok(Layer {
        digest,
        size,
        diff_id,
    })
}

/// The filtered catalog's files: `(path under the configs dir, bytes)`, one per package (and
/// `catalog.json` for blobs of no package), each blob pretty JSON, as `opm` writes them.
pub fn fbc_files(catalog: &Catalog, selection: &Selection) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let write = |buf: &mut Vec<u8>, v: &Value| -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *buf, v)?;
        buf.push(b'\n');
        Ok(())
    };
    for kept in &selection.packages {
        let Some(pkg) = catalog.packages.get(&kept.name) else {
            continue;
        };
        let mut buf = Vec::new();
        if let Some(raw) = &pkg.raw {
            let mut p = raw.clone();
            p["defaultChannel"] = json!(kept.default_channel);
            write(&mut buf, &p)?;
        }
        for ch in &kept.channels {
            let Some(orig) = pkg.channel(&ch.name) else {
                continue;
            };
            let mut c = orig.raw.clone();
            if let Some(entries) = c.get_mut("entries").and_then(Value::as_array_mut) {
                entries.retain(|e| {
                    e.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| ch.entries.iter().any(|k| k == n))
                });
            }
            write(&mut buf, &c)?;
        }
        for b in &kept.bundles {
            if let Some(bundle) = pkg.bundles.get(b) {
                write(&mut buf, &bundle.raw)?;
            }
        }
        for d in &pkg.deprecations {
            let mut d = d.clone();
            if let Some(entries) = d.get_mut("entries").and_then(Value::as_array_mut) {
                entries.retain(|e| {
                    let r = &e["reference"];
                    let name = r.get("name").and_then(Value::as_str).unwrap_or_default();
                    match r.get("schema").and_then(Value::as_str) {
                        Some("olm.bundle") => kept.bundles.contains(name),
                        Some("olm.channel") => kept.channels.iter().any(|c| c.name == name),
                        _ => true,
                    }
                });
            }
            write(&mut buf, &d)?;
        }
        for o in &pkg.others {
            write(&mut buf, o)?;
        }
        out.push((format!("{}/catalog.json", kept.name), buf));
    }
    if !catalog.others.is_empty() {
        let mut buf = Vec::new();
        for o in &catalog.others {
            write(&mut buf, o)?;
        }
        out.push(("catalog.json".to_string(), buf));
    }
    Ok(out)
}

/// Builds the filtered catalog of `image` holding `selection` into the OCI layout `layout`,
/// tagged `tag` there.
pub fn build(
    image: &CatalogImage,
    catalog: &Catalog,
    selection: &Selection,
    layout: &Path,
    tag: &str,
) -> io::Result<BuiltCatalog> {
    fs::create_dir_all(blob_dir(layout))?;
    fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    let dir = image.configs_dir.trim_matches('/').to_string();
    let (parent, base) = match dir.rsplit_once('/') {
        Some((p, b)) => (format!("{p}/"), b.to_string()),
        None => (String::new(), dir.clone()),
    };
    let whiteout = write_layer(layout, |t| {
        let mut h = header(0, false);
        t.append_data(&mut h, format!("{parent}.wh.{base}"), io::empty())
    })?;
    let files = fbc_files(catalog, selection)?;
    let configs = write_layer(layout, |t| {
        let mut dirs: Vec<String> = Vec::new();
        let mut d = String::new();
        for part in dir.split('/') {
            d.push_str(part);
            d.push('/');
            dirs.push(d.clone());
        }
        for (path, _) in &files {
            if let Some((pkg, _)) = path.rsplit_once('/') {
                dirs.push(format!("{dir}/{pkg}/"));
            }
        }
        dirs.sort();
        dirs.dedup();
        for d in &dirs {
            t.append_data(&mut header(0, true), d, io::empty())?;
        }
        let mut files: Vec<&(String, Vec<u8>)> = files.iter().collect();
        files.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, bytes) in files {
            let mut h = header(bytes.len() as u64, false);
            t.append_data(&mut h, format!("{dir}/{path}"), &bytes[..])?;
        }
        Ok(())
    })?;
    let from = format!("{}@{}", image.reference.name(), image.top.digest);
    let mut new_parts: Vec<(Digest, Option<(Digest, u64)>)> = Vec::new();
    for part in &image.parts {
        if part.platform.as_deref() == Some("unknown/unknown") {
            // An attestation manifest describes the original image: left out.
            new_parts.push((part.manifest.digest.clone(), None));
            continue;
        }
        let m = rebuild_part(
            layout,
            part,
            &image.configs_dir,
            &from,
            &[&whiteout, &configs],
        )?;
        new_parts.push((part.manifest.digest.clone(), Some(m)));
    }
    let (digest, media_type) = if image.top.media_type.is_index() {
        let mut index: Value = serde_json::from_slice(&image.top.bytes)?;
        if let Some(children) = index.get_mut("manifests").and_then(Value::as_array_mut) {
            children.retain_mut(|c| {
                let d = c
                    .get("digest")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                match new_parts.iter().find(|(old, _)| old.to_string() == d) {
                    Some((_, Some((nd, size)))) => {
                        c["digest"] = json!(nd.to_string());
                        c["size"] = json!(size);
                        true
                    }
                    _ => false,
                }
            });
        }
        let bytes = serde_json::to_vec(&index)?;
        (
            put_blob(layout, &bytes)?.0,
            image.top.media_type.as_str().to_string(),
        )
    } else {
        let (d, _) = new_parts[0]
            .1
            .clone()
            .ok_or_else(|| io::Error::other("no image"))?;
        (d, image.top.media_type.as_str().to_string())
    };
    let size = fs::metadata(blob_dir(layout).join(digest.hex()))?.len();
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": media_type,
            "digest": digest.to_string(),
            "size": size,
            "annotations": {crate::source::REF_NAME: tag},
        }],
    });
    fs::write(layout.join("index.json"), serde_json::to_vec(&index)?)?;
    Ok(BuiltCatalog {
        layout: layout.to_path_buf(),
        tag: tag.to_string(),
        digest,
    })
}

/// One platform image with the two layers appended; returns its manifest's digest and size.
fn rebuild_part(
    layout: &Path,
    part: &CatalogPart,
    configs_dir: &str,
    from: &str,
    layers: &[&Layer],
) -> io::Result<(Digest, u64)> {
    let mut config = part.config.clone();
    let c = &mut config["config"];
    if !c.is_object() {
        *c = json!({});
    }
    c["Cmd"] = json!(["serve", configs_dir]);
    if !c["Labels"].is_object() {
        c["Labels"] = json!({});
    }
    c["Labels"][CONFIGS_LABEL] = json!(configs_dir);
    c["Labels"][FILTERED_LABEL] = json!(from);
    config["author"] = json!("ferry");
    if let Some(ids) = config["rootfs"]["diff_ids"].as_array_mut() {
        ids.extend(layers.iter().map(|l| json!(l.diff_id.to_string())));
    } else {
        return Err(io::Error::other("the image config has no rootfs.diff_ids"));
    }
    if let Some(history) = config.get_mut("history").and_then(Value::as_array_mut) {
        history.push(json!({"created_by": format!("ferry: remove {configs_dir}")}));
        history.push(json!({"created_by": format!("ferry: filtered catalog in {configs_dir}")}));
    }
    let (config_digest, config_size) = put_blob(layout, &serde_json::to_vec(&config)?)?;
    let mut m: Value = serde_json::from_slice(&part.manifest.bytes)?;
    m["config"]["digest"] = json!(config_digest.to_string());
    m["config"]["size"] = json!(config_size);
    let docker = part.manifest.media_type.as_str().contains("docker");
    let layer_type = if docker {
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    } else {
        "application/vnd.oci.image.layer.v1.tar+gzip"
    };
    let Some(list) = m.get_mut("layers").and_then(Value::as_array_mut) else {
        return Err(io::Error::other("the manifest has no layers"));
    };
    for l in layers {
        list.push(json!({"mediaType": layer_type, "digest": l.digest.to_string(), "size": l.size}));
    }
    put_blob(layout, &serde_json::to_vec(&m)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::manifest::Referenced;
    use crate::model::MediaType;
    use crate::pack::catalog::select::{select, CatalogFilter};
    use crate::source::RawManifest;

    fn raw(media_type: &str, v: &Value) -> RawManifest {
        let bytes = serde_json::to_vec(v).unwrap();
        RawManifest {
            media_type: MediaType::from(media_type.to_string()),
            digest: Digest::sha256_of(&bytes),
            bytes,
        }
    }

    fn part(arch: &str, platform: Option<&str>) -> CatalogPart {
        let config = json!({"architecture": arch, "config": {"Cmd": ["serve", "/a/b", "--cache-dir=/tmp/cache"],
            "Labels": {CONFIGS_LABEL: "/a/b"}}, "rootfs": {"type": "layers", "diff_ids": ["sha256:00"]}});
        let manifest = raw(
            "application/vnd.docker.distribution.manifest.v2+json",
            &json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": "sha256:11", "size": 1},
                "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": format!("sha256:{arch}"), "size": 1}]}),
        );
        CatalogPart {
            manifest,
            platform: platform.map(str::to_string),
            config,
            config_ref: Referenced {
                digest: Digest::sha256_of(b"c"),
                size: 1,
                media_type: MediaType::from(
                    "application/vnd.docker.container.image.v1+json".to_string(),
                ),
                platform: None,
                foreign: false,
            },
            layers: Vec::new(),
        }
    }

    fn catalog() -> Catalog {
        let mut c = Catalog::default();
        let all = |_: &str| true;
        c.add(
            json!({"schema":"olm.package","name":"p","defaultChannel":"s"}),
            &all,
        )
        .unwrap();
        c.add(json!({"schema":"olm.channel","package":"p","name":"s","entries":[{"name":"p.v1"},{"name":"p.v2","replaces":"p.v1"}]}), &all).unwrap();
        for (n, v) in [("p.v1", "1.0.0"), ("p.v2", "2.0.0")] {
            c.add(
                json!({"schema":"olm.bundle","package":"p","name":n,"image":format!("q.io/b:{v}"),
                "properties":[{"type":"olm.package","value":{"packageName":"p","version":v}}]}),
                &all,
            )
            .unwrap();
        }
        c
    }

    #[test]
    fn a_multi_arch_catalog_is_rebuilt_the_same_on_every_platform_and_deterministically() {
        let parts = vec![
            part("amd64", Some("linux/amd64")),
            part("arm64", Some("linux/arm64")),
            part("att", Some("unknown/unknown")),
        ];
        let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
            "manifests": parts.iter().map(|p| json!({"mediaType": p.manifest.media_type.as_str(),
                "digest": p.manifest.digest.to_string(), "size": p.manifest.bytes.len(),
                "platform": {"os": "linux", "architecture": p.config["architecture"]}})).collect::<Vec<_>>()});
        let image = CatalogImage {
            reference: crate::model::Reference::parse("q.io/cat:v1").unwrap(),
            top: raw(
                "application/vnd.docker.distribution.manifest.list.v2+json",
                &index,
            ),
            parts,
            configs_dir: "/a/b".into(),
        };
        let c = catalog();
        let sel = select(&c, "q.io/cat:v1", &CatalogFilter::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let one = build(&image, &c, &sel, &dir.path().join("1"), "t").unwrap();
        let two = build(&image, &c, &sel, &dir.path().join("2"), "t").unwrap();
        assert_eq!(one.digest, two.digest);
        let read = |d: &Digest| -> Value {
            serde_json::from_slice(&fs::read(blob_dir(&one.layout).join(d.hex())).unwrap()).unwrap()
        };
        let top = read(&one.digest);
        let children = top["manifests"].as_array().unwrap();
        // The attestation is left out; both platforms get the same two new layers.
        assert_eq!(children.len(), 2);
        let mut added = Vec::new();
        for ch in children {
            let m = read(&Digest::parse(ch["digest"].as_str().unwrap()).unwrap());
            let layers = m["layers"].as_array().unwrap();
            assert_eq!(layers.len(), 3);
            assert_eq!(
                layers[1]["mediaType"],
                "application/vnd.docker.image.rootfs.diff.tar.gzip"
            );
            added.push(layers[1..].to_vec());
            let config = read(&Digest::parse(m["config"]["digest"].as_str().unwrap()).unwrap());
            assert_eq!(config["config"]["Cmd"], json!(["serve", "/a/b"]));
            assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 3);
            assert_eq!(
                config["config"]["Labels"][FILTERED_LABEL],
                format!("q.io/cat@{}", image.top.digest)
            );
        }
        assert_eq!(added[0], added[1]);
        // The whiteout sits in the configs dir's parent; the catalog holds the head only.
        let layer = |v: &Value| -> Vec<(String, Vec<u8>)> {
            let d = Digest::parse(v["digest"].as_str().unwrap()).unwrap();
            let f = fs::File::open(blob_dir(&one.layout).join(d.hex())).unwrap();
            let mut t = tar::Archive::new(flate2::read::GzDecoder::new(f));
            t.entries()
                .unwrap()
                .map(|e| {
                    let mut e = e.unwrap();
                    let mut b = Vec::new();
                    std::io::Read::read_to_end(&mut e, &mut b).unwrap();
                    (e.path().unwrap().to_string_lossy().into_owned(), b)
                })
                .collect()
        };
        let wh = layer(&added[0][0]);
        assert_eq!(
            wh.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(),
            ["a/.wh.b"]
        );
        let files = layer(&added[0][1]);
        let names: Vec<&str> = files.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["a/", "a/b/", "a/b/p/", "a/b/p/catalog.json"]);
        let text = String::from_utf8(files[3].1.clone()).unwrap();
        // The head keeps its `replaces` (as oc-mirror keeps it); the replaced bundle is gone.
        assert!(
            text.contains("\"name\": \"p.v2\"") && !text.contains("\"name\": \"p.v1\""),
            "{text}"
        );
    }
}
