//! The file-based catalog (FBC) as ferry holds it: the `olm.package`, `olm.channel` and
//! `olm.bundle` blobs of each package (operator-registry `alpha/declcfg`), each kept with its
//! original JSON so that a rebuilt catalog carries every property unchanged.
//!
//! Blobs are parsed from `.json` files (one or several JSON objects one after the other, as
//! `opm` writes them) and `.yaml`/`.yml` files (one or several documents).

use std::collections::BTreeMap;
use std::io::Read;

use serde_json::Value;

use crate::pack::version::Version;

/// The schema of a package blob.
pub const SCHEMA_PACKAGE: &str = "olm.package";
/// The schema of a channel blob.
pub const SCHEMA_CHANNEL: &str = "olm.channel";
/// The schema of a bundle blob.
pub const SCHEMA_BUNDLE: &str = "olm.bundle";
/// The schema of a deprecations blob.
pub const SCHEMA_DEPRECATIONS: &str = "olm.deprecations";

/// One `olm.channel` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The bundle's name.
    pub name: String,
    /// The bundle it replaces.
    pub replaces: Option<String>,
    /// The bundles it skips.
    pub skips: Vec<String>,
}

/// One `olm.channel` blob.
#[derive(Debug, Clone)]
pub struct Channel {
    /// Its name.
    pub name: String,
    /// Its entries, in file order.
    pub entries: Vec<Entry>,
    /// The blob as read.
    pub raw: Value,
}

/// One `olm.bundle` blob.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Its name (`etcdoperator.v0.9.4`).
    pub name: String,
    /// Its version (the `olm.package` property), or why it has none usable.
    pub version: Result<Version, String>,
    /// The bundle image.
    pub image: String,
    /// `relatedImages[].image`, in file order.
    pub related: Vec<String>,
    /// The blob as read.
    pub raw: Value,
}

/// Everything the catalog says about one package.
#[derive(Debug, Clone, Default)]
pub struct Package {
    /// The `olm.package` blob, once read.
    pub raw: Option<Value>,
    /// Its `defaultChannel`.
    pub default_channel: String,
    /// Its channels, in file order.
    pub channels: Vec<Channel>,
    /// Its bundles by name.
    pub bundles: BTreeMap<String, Bundle>,
    /// Its `olm.deprecations` blobs.
    pub deprecations: Vec<Value>,
    /// Blobs of other schemas that name the package.
    pub others: Vec<Value>,
}

impl Package {
    /// The channel named `name`.
    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.name == name)
    }
}

/// A file-based catalog: its packages by name, and the blobs that name no package.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// The packages, by name.
    pub packages: BTreeMap<String, Package>,
    /// Blobs that belong to no package (kept as they are).
    pub others: Vec<Value>,
    /// The name of every package the catalog declares, those not held included (for "nearest
    /// names" in errors).
    pub all_packages: std::collections::BTreeSet<String>,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

impl Catalog {
    /// Adds one blob; `keep` says which packages to hold (others are dropped as they are read,
    /// so that only what may be selected stays in memory). An error says what is wrong with it.
    pub fn add(&mut self, blob: Value, keep: &dyn Fn(&str) -> bool) -> Result<(), String> {
        let schema = text(&blob, "schema").ok_or("a blob without a schema")?;
        let package = match schema.as_str() {
            SCHEMA_PACKAGE => text(&blob, "name").ok_or("an olm.package without a name")?,
            _ => text(&blob, "package").unwrap_or_default(),
        };
        if package.is_empty() {
            if schema == SCHEMA_CHANNEL || schema == SCHEMA_BUNDLE {
                return Err(format!("an {schema} blob without a package"));
            }
            self.others.push(blob);
            return Ok(());
        }
        if schema == SCHEMA_PACKAGE {
            self.all_packages.insert(package.clone());
        }
        if !keep(&package) {
            return Ok(());
        }
        let p = self.packages.entry(package.clone()).or_default();
        match schema.as_str() {
            SCHEMA_PACKAGE => {
                if p.raw.is_some() {
                    return Err(format!("package {package:?} is declared twice"));
                }
                p.default_channel = text(&blob, "defaultChannel").unwrap_or_default();
                p.raw = Some(blob);
            }
            SCHEMA_CHANNEL => {
                let name = text(&blob, "name")
                    .ok_or_else(|| format!("an olm.channel of {package:?} without a name"))?;
                if p.channel(&name).is_some() {
                    return Err(format!("channel {name:?} of {package:?} is declared twice"));
                }
                let entries = blob
                    .get("entries")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(entry).collect::<Result<Vec<_>, _>>())
                    .transpose()
                    .map_err(|e| format!("channel {name:?} of {package:?}: {e}"))?
                    .unwrap_or_default();
                p.channels.push(Channel {
                    name,
                    entries,
                    raw: blob,
                });
            }
            SCHEMA_BUNDLE => {
                let name = text(&blob, "name")
                    .ok_or_else(|| format!("an olm.bundle of {package:?} without a name"))?;
                let b = Bundle {
                    version: bundle_version(&blob),
                    image: text(&blob, "image").unwrap_or_default(),
                    related: blob
                        .get("relatedImages")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(|r| text(r, "image"))
                                .filter(|i| !i.is_empty())
                                .collect()
                        })
                        .unwrap_or_default(),
                    name: name.clone(),
                    raw: blob,
                };
                if p.bundles.insert(name.clone(), b).is_some() {
                    return Err(format!("bundle {name:?} of {package:?} is declared twice"));
                }
            }
            SCHEMA_DEPRECATIONS => p.deprecations.push(blob),
            _ => p.others.push(blob),
        }
        Ok(())
    }
}

fn entry(v: &Value) -> Result<Entry, String> {
    let name = text(v, "name").ok_or("an entry without a name")?;
    Ok(Entry {
        replaces: text(v, "replaces").filter(|r| !r.is_empty()),
        skips: v
            .get("skips")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        name,
    })
}

/// The version an `olm.bundle` declares in its `olm.package` property, strictly semver as
/// oc-mirror's filter reads it.
fn bundle_version(blob: &Value) -> Result<Version, String> {
    let props = blob.get("properties").and_then(Value::as_array);
    let value = props
        .into_iter()
        .flatten()
        .find(|p| p.get("type").and_then(Value::as_str) == Some(SCHEMA_PACKAGE))
        .and_then(|p| p.get("value"))
        .ok_or("no olm.package property")?;
    let v = text(value, "version").ok_or("its olm.package property has no version")?;
    Version::parse(&v)
}

/// The largest YAML file read (it is parsed whole; JSON files are streamed).
pub const MAX_YAML_FILE: u64 = 256 << 20;

/// The blobs of one catalog file (`.json`: concatenated objects; `.yaml`/`.yml`: documents),
/// passed to `each`; other files are skipped (returns `false`).
pub fn parse_file(
    path: &str,
    size: u64,
    reader: impl Read,
    each: &mut dyn FnMut(Value) -> Result<(), String>,
) -> Result<bool, String> {
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".json") {
        let stream = serde_json::Deserializer::from_reader(std::io::BufReader::new(reader))
            .into_iter::<Value>();
        for v in stream {
            let v = v.map_err(|e| format!("{path}: not JSON: {e}"))?;
            each(v).map_err(|e| format!("{path}: {e}"))?;
        }
        Ok(true)
    } else if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        if size > MAX_YAML_FILE {
            return Err(format!(
                "{path}: {size} bytes of YAML, more than the {MAX_YAML_FILE} ferry reads"
            ));
        }
        let mut text = String::new();
        reader
            .take(MAX_YAML_FILE)
            .read_to_string(&mut text)
            .map_err(|e| format!("{path}: {e}"))?;
        for doc in serde_norway::Deserializer::from_str(&text) {
            let v: Value = serde::Deserialize::deserialize(doc)
                .map_err(|e| format!("{path}: not YAML: {e}"))?;
            if v.is_null() {
                continue;
            }
            each(v).map_err(|e| format!("{path}: {e}"))?;
        }
        Ok(true)
    } else {
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(files: &[(&str, &str)]) -> Result<Catalog, String> {
        let mut c = Catalog::default();
        for (path, body) in files {
            parse_file(path, body.len() as u64, body.as_bytes(), &mut |v| {
                c.add(v, &|_| true)
            })?;
        }
        Ok(c)
    }

    #[test]
    fn json_and_yaml_with_several_blobs_per_file() {
        let json = r#"{"schema":"olm.package","name":"a","defaultChannel":"stable"}
{"schema":"olm.channel","package":"a","name":"stable","entries":[{"name":"a.v1"},{"name":"a.v2","replaces":"a.v1","skips":["a.v0"]}]}
{"schema":"olm.bundle","package":"a","name":"a.v2","image":"q.io/a/b@sha256:00","properties":[{"type":"olm.package","value":{"packageName":"a","version":"2.0.0"}}],"relatedImages":[{"name":"","image":"q.io/a/b@sha256:00"},{"name":"op","image":"q.io/a/op@sha256:11"}]}"#;
        let yaml = "---\nschema: olm.package\nname: b\ndefaultChannel: alpha\n---\nschema: olm.bundle\npackage: b\nname: b.v1\nimage: q.io/b:1\nproperties:\n- type: olm.package\n  value: {packageName: b, version: 1.0.0-rc.1}\n---\nschema: olm.other\nfoo: 1\n";
        let c = load(&[
            ("configs/a/catalog.json", json),
            ("configs/b/index.YAML", yaml),
            ("configs/README.md", "not a catalog"),
        ])
        .unwrap();
        let a = &c.packages["a"];
        assert_eq!(a.default_channel, "stable");
        assert_eq!(a.channels[0].entries[1].replaces.as_deref(), Some("a.v1"));
        assert_eq!(a.channels[0].entries[1].skips, vec!["a.v0"]);
        let b2 = &a.bundles["a.v2"];
        assert_eq!(b2.version.as_ref().unwrap().to_string(), "2.0.0");
        assert_eq!(
            b2.related,
            vec!["q.io/a/b@sha256:00", "q.io/a/op@sha256:11"]
        );
        let b = &c.packages["b"];
        assert!(b.bundles["b.v1"].version.as_ref().unwrap().is_prerelease());
        assert_eq!(c.others.len(), 1);
    }

    #[test]
    fn broken_blobs_are_errors_naming_the_file() {
        let e = load(&[("c/x.json", "{\"schema\":\"olm.package\"}")]).unwrap_err();
        assert!(
            e.contains("c/x.json") && e.contains("without a name"),
            "{e}"
        );
        let e = load(&[("c/x.json", "{\"schema\":")]).unwrap_err();
        assert!(e.contains("not JSON"), "{e}");
        let twice = "{\"schema\":\"olm.package\",\"name\":\"a\"}\n{\"schema\":\"olm.package\",\"name\":\"a\"}";
        assert!(load(&[("x.json", twice)]).unwrap_err().contains("twice"));
        let e = load(&[("x.json", "{\"schema\":\"olm.bundle\",\"name\":\"x\"}")]).unwrap_err();
        assert!(e.contains("without a package"), "{e}");
    }

    #[test]
    fn a_bundle_without_a_semver_version_says_why() {
        let c = load(&[(
            "x.json",
            r#"{"schema":"olm.bundle","package":"p","name":"p.v1","properties":[{"type":"olm.package","value":{"packageName":"p","version":"v1.0"}}]}
{"schema":"olm.bundle","package":"p","name":"p.v2","properties":[]}"#,
        )])
        .unwrap();
        assert!(c.packages["p"].bundles["p.v1"].version.is_err());
        assert_eq!(
            c.packages["p"].bundles["p.v2"]
                .version
                .as_ref()
                .unwrap_err(),
            "no olm.package property"
        );
    }

    #[test]
    fn packages_not_kept_are_dropped_while_reading() {
        let mut c = Catalog::default();
        let json = r#"{"schema":"olm.package","name":"a"}{"schema":"olm.package","name":"b"}"#;
        parse_file("x.json", 0, json.as_bytes(), &mut |v| {
            c.add(v, &|p| p == "b")
        })
        .unwrap();
        assert_eq!(c.packages.keys().collect::<Vec<_>>(), vec!["b"]);
    }
}
