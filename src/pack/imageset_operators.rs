//! `mirror.operators[]` of an ImageSetConfiguration: each catalog and its filter, checked as
//! oc-mirror v2 checks them (duplicate packages and channels, semver bounds, package-level and
//! channel-level bounds not mixed, `full` not mixed with bounds), the withdrawn `bundles`
//! refused; a `targetCatalogSourceTemplate` read and checked (a path relative to the current
//! directory, as oc-mirror reads it).

use std::path::{Path, PathBuf};

use super::{asks, Operator, PackInput, Problems};
use crate::model::Reference;
use crate::pack::catalog::select::{CatalogFilter, ChannelFilter, PackageFilter};
use crate::pack::catalog::template::read_template;
use crate::pack::catalog::CatalogRequest;
use crate::pack::version::Version;

/// Reads `mirror.operators[i]` into `input`, adding every problem to `p`.
pub(super) fn read_operator(p: &mut Problems<'_>, i: usize, op: Operator, input: &mut PackInput) {
    let field = format!("mirror.operators[{i}]");
    let full = op.full.unwrap_or(false);
    let source_template = match &op.target_catalog_source_template {
        None | Some(serde_norway::Value::Null) => None,
        Some(serde_norway::Value::String(path)) if !path.is_empty() => {
            let key = format!("{field}.targetCatalogSourceTemplate");
            match read_template(Path::new(path)) {
                Ok(t) => {
                    for n in t.notes {
                        input.notes.push(format!("{}: {path}: {n}", p.at(&key)));
                    }
                    Some(t.template)
                }
                Err(e) => {
                    p.add(&key, crate::error_chain(&e));
                    None
                }
            }
        }
        Some(_) => {
            p.add(
                &format!("{field}.targetCatalogSourceTemplate"),
                "not a file path (the path of a CatalogSource YAML)",
            );
            None
        }
    };
    if asks(&op.platforms) {
        p.add(
            &format!("{field}.platforms"),
            "per-catalog platforms are not honoured yet; remove it and use --platform OS/ARCH, \
             which applies to every image",
        );
    }
    if op.skip_dependencies.is_some() {
        input.notes.push(format!(
            "{}.skipDependencies: oc-mirror v2 ignores it and so does ferry: dependencies are \
             never followed, list every package the operators need",
            p.at(&field)
        ));
    }
    let text = op.catalog.trim();
    let mut layout = None;
    let reference = if let Some(dir) = text.strip_prefix("oci://") {
        match oci_catalog(Path::new(dir), op.target_catalog.as_deref()) {
            Ok(r) => {
                layout = Some(PathBuf::from(dir));
                Some(r)
            }
            Err(e) => {
                p.add(&format!("{field}.catalog"), e);
                None
            }
        }
    } else if text.starts_with("oci:") {
        p.add(
            &format!("{field}.catalog"),
            "a catalog in a local OCI layout is written oci://PATH (oci:///abs/path or \
             oci://relative/path), as oc-mirror reads it",
        );
        None
    } else {
        match Reference::parse(text.trim_start_matches("docker://")) {
            Ok(r) => Some(r),
            Err(e) => {
                p.add(&format!("{field}.catalog"), crate::error_chain(&e));
                None
            }
        }
    };
    if let Some(t) = &op.target_catalog {
        let ok = !t.is_empty()
            && t.split('/').all(|c| {
                !c.is_empty()
                    && c.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                    })
                    && c.as_bytes()[0].is_ascii_alphanumeric()
                    && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
            });
        if !ok {
            p.add(
                &format!("{field}.targetCatalog"),
                format!("{t:?} is not a repository path (lower-case components separated by /)"),
            );
        }
    }
    if let Some(t) = &op.target_tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.as_bytes()[0] != b'.'
            && t.as_bytes()[0] != b'-'
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !ok {
            p.add(&format!("{field}.targetTag"), format!("{t:?} is not a tag"));
        }
    }
    let mut packages: Vec<PackageFilter> = Vec::new();
    for (j, pkg) in op.packages.unwrap_or_default().into_iter().enumerate() {
        let pf = format!("{field}.packages[{j}]");
        if asks(&pkg.bundles) {
            p.add(
                &format!("{pf}.bundles"),
                "withdrawn from oc-mirror v2 (openshift/oc-mirror#1045), which refuses it as an \
                 unknown field; select bundles with minVersion/maxVersion instead",
            );
        }
        if packages.iter().any(|q| q.name == pkg.name) {
            p.add(
                &format!("{pf}.name"),
                format!("package {:?} is listed twice", pkg.name),
            );
        }
        let mut bound = |key: String, v: &Option<String>| {
            v.as_deref().and_then(|s| match Version::parse(s) {
                Ok(v) => Some(v),
                Err(e) => {
                    p.add(&key, e);
                    None
                }
            })
        };
        let min_version = bound(format!("{pf}.minVersion"), &pkg.min_version);
        let max_version = bound(format!("{pf}.maxVersion"), &pkg.max_version);
        let mut channels: Vec<ChannelFilter> = Vec::new();
        for (k, c) in pkg.channels.unwrap_or_default().into_iter().enumerate() {
            let cf = format!("{pf}.channels[{k}]");
            let mut bound = |key: &str, v: &Option<String>| {
                v.as_deref().and_then(|s| match Version::parse(s) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        p.add(&format!("{cf}.{key}"), e);
                        None
                    }
                })
            };
            let ch = ChannelFilter {
                min_version: bound("minVersion", &c.min_version),
                max_version: bound("maxVersion", &c.max_version),
                name: c.name,
            };
            if channels.iter().any(|q| q.name == ch.name) {
                p.add(
                    &format!("{cf}.name"),
                    format!("channel {:?} is listed twice", ch.name),
                );
            }
            channels.push(ch);
        }
        let pkg_ranged = pkg.min_version.is_some() || pkg.max_version.is_some();
        let ch_ranged = channels
            .iter()
            .any(|c| c.min_version.is_some() || c.max_version.is_some());
        if pkg_ranged && ch_ranged {
            p.add(
                &pf,
                "minVersion/maxVersion are given both for the package and for a channel; \
                 oc-mirror refuses the mix: keep one level",
            );
        }
        if full && (pkg_ranged || ch_ranged) {
            p.add(
                &format!("{field}.full"),
                "full: true cannot be mixed with minVersion/maxVersion (oc-mirror refuses it)",
            );
        }
        let ranges = std::iter::once((&min_version, &max_version, pf.clone())).chain(
            channels.iter().enumerate().map(|(k, c)| {
                (
                    &c.min_version,
                    &c.max_version,
                    format!("{pf}.channels[{k}]"),
                )
            }),
        );
        for (lo, hi, at) in ranges {
            if let (Some(lo), Some(hi)) = (lo, hi) {
                if lo > hi {
                    p.add(
                        &format!("{at}.minVersion"),
                        format!("{lo} is above maxVersion {hi}"),
                    );
                }
            }
        }
        packages.push(PackageFilter {
            name: pkg.name,
            channels,
            min_version,
            max_version,
            default_channel: pkg.default_channel.filter(|d| !d.is_empty()),
        });
    }
    let Some(reference) = reference else {
        return;
    };
    let request = CatalogRequest {
        reference,
        filter: CatalogFilter { full, packages },
        target_catalog: op.target_catalog,
        target_tag: op.target_tag,
        location: p.at(&format!("{field}.catalog")),
        source_template,
        layout,
    };
    let same = |r: &CatalogRequest| {
        r.reference.registry() == request.reference.registry()
            && r.target_catalog
                .as_deref()
                .unwrap_or(r.reference.repository())
                == request
                    .target_catalog
                    .as_deref()
                    .unwrap_or(request.reference.repository())
            && r.target_tag.as_deref().or(r.reference.tag())
                == request.target_tag.as_deref().or(request.reference.tag())
    };
    if input.catalogs.iter().any(same) {
        p.add(
            &format!("{field}.catalog"),
            format!(
                "catalog {} is listed twice (under the same target name); merge the entries \
                 or give one a targetCatalog/targetTag",
                request.reference
            ),
        );
        return;
    }
    input.catalogs.push(request);
}

/// The name a catalog in the OCI layout `dir` is carried under, as oc-mirror v2 names it (the
/// layout directory's base name, tag `latest`; `targetCatalog`/`targetTag` replace them), on
/// the host `localhost`, since ferry's mirrors keep the upstream host: it is mirrored at
/// `TARGET/PREFIX/localhost/<name>:latest`.
fn oci_catalog(dir: &Path, target_catalog: Option<&str>) -> Result<Reference, String> {
    if !dir.join("index.json").is_file() {
        return Err(format!(
            "{}: not an OCI layout (no index.json there)",
            dir.display()
        ));
    }
    let base = std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let repo = target_catalog.unwrap_or(&base);
    Reference::from_parts(OCI_CATALOG_HOST, repo, Some("latest"), None).map_err(|e| {
        format!(
            "{}: the directory name {base:?} is not a repository name ({}); give the \
             catalog a targetCatalog",
            dir.display(),
            crate::error_chain(&e)
        )
    })
}

/// The host of the names of catalogs read from OCI layouts.
pub(crate) const OCI_CATALOG_HOST: &str = "localhost";
