//! What `ferry pack` is asked to carry ([`PackInput`]): an image list, or an oc-mirror
//! `ImageSetConfiguration` (`mirror.openshift.io/v2alpha1`, and `v1alpha2`), plus `--release`.
//!
//! Every field of the ImageSetConfiguration is either honoured or refused with an error naming
//! the field and its line; unknown keys are errors (as oc-mirror v2 makes them). Honoured:
//! `archiveSize`, `mirror.additionalImages[].name`, `mirror.platform.{release, channels,
//! architectures}`, `mirror.blockedImages`, `mirror.operators` (catalog, full, packages with
//! channels, minVersion/maxVersion, defaultChannel; targetCatalog, targetTag). Refused: the
//! withdrawn `packages[].bundles` (as oc-mirror v2 refuses it), and until ferry carries them:
//! Helm charts, the graph-data image, sparse `platforms`, the KubeVirt container,
//! `targetRepo`/`targetTag`, `samples`, and the v1alpha2-only `storageConfig`.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_norway::Value;

use super::catalog::CatalogRequest;
use super::keylines::KeyLines;
use super::list::{self, ImageRequest, ListError};
use super::version::Version;
use crate::model::Reference;

/// Why the input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The plain image list failed.
    #[error(transparent)]
    List(#[from] ListError),
    /// The file could not be read.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The YAML does not parse as an ImageSetConfiguration (an unknown key, a wrong type).
    #[error("{path}{}: not a valid ImageSetConfiguration: {reason}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Yaml {
        /// The file.
        path: PathBuf,
        /// 1-based line, when the parser knows it.
        line: Option<usize>,
        /// What the parser said.
        reason: String,
    },
    /// A field that parsed but that ferry cannot honour, or whose value is wrong.
    #[error("{path}{}: {field}: {reason}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Field {
        /// The file.
        path: PathBuf,
        /// 1-based line of the field, when found.
        line: Option<usize>,
        /// The field, e.g. `mirror.operators`.
        field: String,
        /// Why, and what to do.
        reason: String,
    },
    /// Several fields cannot be honoured (each one named).
    #[error("{} fields of the ImageSetConfiguration cannot be honoured:{}", .0.len(), .0.iter().map(|e| format!("\n  - {e}")).collect::<String>())]
    Fields(Vec<InputError>),
}

/// Which update graph a channel is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelType {
    /// OpenShift Container Platform (`type: ocp`, the default).
    Ocp,
    /// OKD (`type: okd`).
    Okd,
}

/// One `mirror.platform.channels[]` entry.
#[derive(Debug, Clone)]
pub struct ChannelRequest {
    /// The channel, e.g. `stable-4.16`.
    pub name: String,
    /// OCP or OKD.
    pub kind: ChannelType,
    /// Lowest version wanted.
    pub min_version: Option<Version>,
    /// Highest version wanted.
    pub max_version: Option<Version>,
    /// Only the versions on a shortest upgrade path from min to max.
    pub shortest_path: bool,
    /// Every version of the channel when a bound is missing.
    pub full: bool,
    /// Where it was asked for (`FILE:LINE mirror.platform.channels[I]`).
    pub location: String,
}

/// A release image to carry with every component it lists.
#[derive(Debug, Clone)]
pub struct ReleaseRequest {
    /// The release image (by tag or digest).
    pub reference: Reference,
    /// Where it was asked for (`--release`, or `FILE:LINE mirror.platform.release`).
    pub location: String,
    /// The version the update graph gives it, for a release chosen through a channel.
    pub graph_version: Option<String>,
}

/// One `mirror.blockedImages[]` entry: a regular expression (unanchored, as oc-mirror matches)
/// on an image's source and upstream name.
#[derive(Debug, Clone)]
pub struct BlockedImage {
    /// The compiled expression.
    pub pattern: regex::Regex,
    /// Where it is written (`FILE:LINE mirror.blockedImages[I]`).
    pub location: String,
}

impl BlockedImage {
    /// Whether `text` (an image's source as written or its upstream name) is blocked.
    pub fn matches(&self, text: &str) -> bool {
        self.pattern.is_match(text)
    }
}

/// Everything one `ferry pack` was asked for.
#[derive(Debug, Clone, Default)]
pub struct PackInput {
    /// Images named one by one (list lines, `additionalImages`).
    pub images: Vec<ImageRequest>,
    /// Release images, each with its components.
    pub releases: Vec<ReleaseRequest>,
    /// Channels whose versions are chosen through the update graph.
    pub channels: Vec<ChannelRequest>,
    /// Architectures the channels are read for (`amd64` when none is given; `multi` for the
    /// multi-arch payload).
    pub architectures: Vec<String>,
    /// Operator catalogs, each with its filter.
    pub catalogs: Vec<CatalogRequest>,
    /// Images never to pack.
    pub blocked: Vec<BlockedImage>,
    /// `archiveSize` in GiB, when given.
    pub archive_size_gib: Option<u64>,
    /// What the user should know about how the input was read.
    pub notes: Vec<String>,
}

/// Architectures the update graph serves payloads for.
pub const ARCHITECTURES: [&str; 5] = ["amd64", "arm64", "ppc64le", "s390x", "multi"];

impl PackInput {
    /// Whether nothing at all is asked for.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
            && self.releases.is_empty()
            && self.channels.is_empty()
            && self.catalogs.is_empty()
    }

    /// The architectures to read channels for: those given, else `amd64` (oc-mirror's default).
    pub fn channel_architectures(&self) -> Vec<String> {
        if self.architectures.is_empty() {
            vec!["amd64".to_string()]
        } else {
            self.architectures.clone()
        }
    }
}

/// Reads the input at `path`: an ImageSetConfiguration when a line starts with `kind:` or
/// `apiVersion:`, else a plain image list.
pub fn read_input(path: &Path) -> Result<PackInput, InputError> {
    let text = std::fs::read_to_string(path).map_err(|source| InputError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_input(path, &text)
}

/// Parses input text read from `path` (see [`read_input`]).
pub fn parse_input(path: &Path, text: &str) -> Result<PackInput, InputError> {
    let looks_yaml = text
        .lines()
        .any(|l| l.starts_with("kind:") || l.starts_with("apiVersion:"));
    if looks_yaml {
        parse_image_set(path, text)
    } else {
        Ok(PackInput {
            images: list::parse_list(path, text)?,
            ..Default::default()
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Doc {
    api_version: Option<String>,
    kind: Option<String>,
    archive_size: Option<u64>,
    mirror: Option<Mirror>,
    delete: Option<Value>,
    storage_config: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Mirror {
    platform: Option<Platform>,
    operators: Option<Vec<Operator>>,
    additional_images: Option<Vec<Additional>>,
    helm: Option<Value>,
    blocked_images: Option<Vec<Blocked>>,
    samples: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Platform {
    channels: Option<Vec<Channel>>,
    graph: Option<bool>,
    architectures: Option<Vec<String>>,
    platforms: Option<Value>,
    release: Option<String>,
    kube_virt_container: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Channel {
    name: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    min_version: Option<String>,
    max_version: Option<String>,
    shortest_path: Option<bool>,
    full: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Operator {
    catalog: String,
    full: Option<bool>,
    packages: Option<Vec<OperatorPackage>>,
    target_catalog: Option<String>,
    target_tag: Option<String>,
    skip_dependencies: Option<bool>,
    target_catalog_source_template: Option<Value>,
    platforms: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OperatorPackage {
    name: String,
    channels: Option<Vec<OperatorChannel>>,
    min_version: Option<String>,
    max_version: Option<String>,
    default_channel: Option<String>,
    bundles: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OperatorChannel {
    name: String,
    min_version: Option<String>,
    max_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Additional {
    name: String,
    target_repo: Option<Value>,
    target_tag: Option<Value>,
    platforms: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Blocked {
    name: String,
}

/// Whether a section asks for something (not absent, null, `false` or empty).
fn asks(v: &Option<Value>) -> bool {
    match v {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Sequence(s)) => !s.is_empty(),
        Some(Value::Mapping(m)) => !m.is_empty(),
        Some(_) => true,
    }
}

/// Collects field errors with their lines.
struct Problems<'a> {
    path: &'a Path,
    lines: KeyLines,
    found: Vec<InputError>,
}

impl Problems<'_> {
    /// The line of `field`; for a sequence item, the line of its `name`; for a value inside a
    /// flow collection (`[a, b]`), the line of the nearest enclosing key.
    fn line(&self, field: &str) -> Option<usize> {
        if let Some(l) = self
            .lines
            .line(field)
            .or_else(|| self.lines.line(&format!("{field}.name")))
        {
            return Some(l);
        }
        let mut f = field;
        while let Some(i) = f.rfind(['.', '[']) {
            f = &f[..i];
            if let Some(l) = self.lines.line(f) {
                return Some(l);
            }
        }
        None
    }

    fn at(&self, field: &str) -> String {
        match self.line(field) {
            Some(l) => format!("{}:{l} {field}", self.path.display()),
            None => format!("{} {field}", self.path.display()),
        }
    }

    fn add(&mut self, field: &str, reason: impl Into<String>) {
        self.found.push(InputError::Field {
            path: self.path.to_path_buf(),
            line: self.line(field),
            field: field.to_string(),
            reason: reason.into(),
        });
    }
}

fn parse_image_set(path: &Path, text: &str) -> Result<PackInput, InputError> {
    let doc: Doc = serde_norway::from_str(text).map_err(|e| {
        let hint = if e.to_string().contains("unknown field") {
            "; the key is not part of ImageSetConfiguration mirror.openshift.io/v2alpha1 \
             (oc-mirror v2 refuses it too): remove or correct it"
        } else {
            ""
        };
        InputError::Yaml {
            path: path.to_path_buf(),
            line: e.location().map(|l| l.line()),
            reason: format!("{e}{hint}"),
        }
    })?;
    let mut p = Problems {
        path,
        lines: KeyLines::scan(text),
        found: Vec::new(),
    };
    match doc.kind.as_deref() {
        Some("ImageSetConfiguration") => {}
        Some("DeleteImageSetConfiguration") => p.add(
            "kind",
            "DeleteImageSetConfiguration: ferry never deletes from a mirror; give an \
             ImageSetConfiguration",
        ),
        other => p.add(
            "kind",
            format!("is {other:?}, expected ImageSetConfiguration"),
        ),
    }
    match doc.api_version.as_deref() {
        None | Some("mirror.openshift.io/v2alpha1" | "mirror.openshift.io/v1alpha2") => {}
        Some(v) => p.add(
            "apiVersion",
            format!(
                "{v:?} is not mirror.openshift.io/v2alpha1 (or v1alpha2), the versions ferry reads"
            ),
        ),
    }
    if asks(&doc.delete) && doc.kind.as_deref() != Some("DeleteImageSetConfiguration") {
        p.add(
            "delete",
            "ferry never deletes from a mirror; remove the section",
        );
    }
    if doc.storage_config.is_some() {
        p.add(
            "storageConfig",
            "a v1alpha2 field that oc-mirror v2 refuses and ferry has no use for (the bundle \
             is the archive, --out says where): remove it",
        );
    }
    let mut input = PackInput {
        archive_size_gib: doc.archive_size.filter(|&s| s > 0),
        ..Default::default()
    };
    let mirror = doc.mirror.unwrap_or(Mirror {
        platform: None,
        operators: None,
        additional_images: None,
        helm: None,
        blocked_images: None,
        samples: None,
    });
    for (i, op) in mirror.operators.unwrap_or_default().into_iter().enumerate() {
        operators::read_operator(&mut p, i, op, &mut input);
    }
    if asks(&mirror.helm) {
        p.add(
            "mirror.helm",
            "Helm charts are not carried by ferry yet; remove the section, or list the \
             charts' images under additionalImages",
        );
    }
    if asks(&mirror.samples) {
        p.add(
            "mirror.samples",
            "not implemented by oc-mirror either; remove the section",
        );
    }
    if let Some(platform) = mirror.platform {
        read_platform(&mut p, platform, &mut input);
    }
    for (i, img) in mirror
        .additional_images
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let field = format!("mirror.additionalImages[{i}]");
        for (key, v, why) in [
            ("targetRepo", &img.target_repo, "ferry mirrors every image under its upstream name (the passthrough mapping the mirror sets rely on); remove it, or write a plain list line `SOURCE NAME` to carry the image under another upstream name"),
            ("targetTag", &img.target_tag, "ferry keeps the upstream tag; remove it, or write a plain list line `SOURCE NAME:TAG`"),
            ("platforms", &img.platforms, "per-image platforms are not honoured yet; remove it and use --platform OS/ARCH, which applies to every image"),
        ] {
            if asks(v) {
                p.add(&format!("{field}.{key}"), why);
            }
        }
        match list::parse_line(&img.name) {
            Ok(Some(mut r)) => {
                r.location = p.at(&format!("{field}.name"));
                input.images.push(r)
            }
            Ok(None) => p.add(&format!("{field}.name"), "is empty"),
            Err(reason) => p.add(&format!("{field}.name"), reason),
        }
    }
    for (i, b) in mirror.blocked_images.unwrap_or_default().iter().enumerate() {
        let field = format!("mirror.blockedImages[{i}].name");
        match regex::Regex::new(&b.name) {
            Ok(pattern) => input.blocked.push(BlockedImage {
                pattern,
                location: format!("{} ({:?})", p.at(&field), b.name),
            }),
            Err(e) => p.add(
                &field,
                format!("{:?} is not a regular expression: {e}", b.name),
            ),
        }
    }
    match p.found.len() {
        0 => Ok(input),
        1 => Err(p.found.pop().expect("one")),
        _ => Err(InputError::Fields(p.found)),
    }
}

fn read_platform(p: &mut Problems<'_>, platform: Platform, input: &mut PackInput) {
    if platform.graph == Some(true) {
        p.add(
            "mirror.platform.graph",
            "the graph-data image and UpdateService are not carried by ferry yet; remove \
             the key (or set it to false)",
        );
    }
    if platform.kube_virt_container == Some(true) {
        p.add(
            "mirror.platform.kubeVirtContainer",
            "the KubeVirt container image is not carried by ferry yet; remove the key, or \
             list the image under additionalImages",
        );
    }
    if asks(&platform.platforms) {
        p.add(
            "mirror.platform.platforms",
            "sparse release manifest lists are not made by ferry; use architectures (multi \
             keeps the multi-arch payload whole) and --platform OS/ARCH to leave platforms out",
        );
    }
    for (i, a) in platform
        .architectures
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if ARCHITECTURES.contains(&a.as_str()) {
            if !input.architectures.contains(a) {
                input.architectures.push(a.clone());
            }
        } else {
            p.add(
                &format!("mirror.platform.architectures[{i}]"),
                format!("{a:?} is none of {}", ARCHITECTURES.join(", ")),
            );
        }
    }
    if let Some(r) = platform.release.filter(|r| !r.trim().is_empty()) {
        let field = "mirror.platform.release";
        match Reference::parse(r.trim_start_matches("docker://")) {
            Ok(reference) => input.releases.push(ReleaseRequest {
                reference,
                location: p.at(field),
                graph_version: None,
            }),
            Err(e) => p.add(field, crate::error_chain(&e)),
        }
    }
    let mut names: Vec<&str> = Vec::new();
    let channels = platform.channels.unwrap_or_default();
    if channels.is_empty() && !input.architectures.is_empty() {
        input.notes.push(format!(
            "{}: architectures choose which payloads channels resolve to; with no channel \
             they select nothing (a release named by platform.release or --release is packed \
             as it is, a multi-arch index whole)",
            p.at("mirror.platform.architectures")
        ));
    }
    for (i, c) in channels.iter().enumerate() {
        let field = format!("mirror.platform.channels[{i}]");
        if names.contains(&c.name.as_str()) {
            p.add(
                &format!("{field}.name"),
                format!("channel {:?} is listed twice", c.name),
            );
        }
        names.push(&c.name);
        let kind = match c.kind.as_deref() {
            None | Some("ocp") => ChannelType::Ocp,
            Some("okd") => ChannelType::Okd,
            Some(other) => {
                p.add(
                    &format!("{field}.type"),
                    format!("{other:?} is neither ocp nor okd"),
                );
                ChannelType::Ocp
            }
        };
        let mut bound = |key: &str, v: &Option<String>| {
            v.as_deref().and_then(|s| match Version::parse(s) {
                Ok(v) => Some(v),
                Err(e) => {
                    p.add(&format!("{field}.{key}"), e);
                    None
                }
            })
        };
        let min_version = bound("minVersion", &c.min_version);
        let max_version = bound("maxVersion", &c.max_version);
        if let (Some(lo), Some(hi)) = (&min_version, &max_version) {
            if lo > hi {
                p.add(
                    &format!("{field}.minVersion"),
                    format!("{lo} is above maxVersion {hi}"),
                );
            }
        }
        input.channels.push(ChannelRequest {
            name: c.name.clone(),
            kind,
            min_version,
            max_version,
            shortest_path: c.shortest_path.unwrap_or(false),
            full: c.full.unwrap_or(false),
            location: p.at(&field),
        });
    }
}

#[path = "imageset_operators.rs"]
mod operators;

#[cfg(test)]
#[path = "imageset_tests.rs"]
mod tests;
