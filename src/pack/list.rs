//! The image list `ferry pack --images FILE` reads: one reference per line, or an oc-mirror
//! `ImageSetConfiguration` (`mirror.additionalImages[].name`).
//!
//! A line is `SOURCE [NAME]`. SOURCE is a registry reference (by tag or digest),
//! `oci:PATH[:TAG]` or `docker-archive:PATH`. NAME, the upstream name the image is mirrored
//! under, is needed only where the source does not carry one.

use std::path::{Path, PathBuf};

use crate::model::{Reference, ReferenceError};

/// Why the list could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The file could not be read.
    #[error("{path}")]
    Io {
        /// The list file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line does not parse.
    #[error("{path}:{line}: {reason}")]
    Line {
        /// The list file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The YAML does not parse as an ImageSetConfiguration.
    #[error("{path}: not a valid ImageSetConfiguration: {reason}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// Several lines do not parse (each one named).
    #[error("{} lines of the list do not parse:{}", .0.len(), .0.iter().map(|e| format!("\n  - {e}")).collect::<String>())]
    Lines(Vec<ListError>),
    /// The list names no image.
    #[error("{0}: the list names no image")]
    Empty(PathBuf),
}

/// Where one image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// A registry.
    Registry(Reference),
    /// An OCI layout directory and optional tag.
    Oci {
        /// The layout directory.
        path: PathBuf,
        /// The ref name to pick.
        tag: Option<String>,
    },
    /// A `docker save` archive.
    DockerArchive(PathBuf),
}

/// One requested image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRequest {
    /// The source as written.
    pub text: String,
    /// Where to read it.
    pub source: SourceSpec,
    /// The upstream name given explicitly (second field of the line).
    pub name: Option<Reference>,
    /// Where the list names it: `FILE:LINE`, or `FILE mirror.additionalImages[I]` in an
    /// ImageSetConfiguration; empty for a request not read from a file.
    pub location: String,
}

fn parse_source(text: &str) -> Result<SourceSpec, String> {
    if let Some(rest) = text.strip_prefix("oci:") {
        // oci:PATH[:TAG] — a tag is what follows the last ':' after the last '/'.
        let slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        return Ok(match rest[slash..].rfind(':') {
            Some(i) => SourceSpec::Oci {
                path: PathBuf::from(&rest[..slash + i]),
                tag: Some(rest[slash + i + 1..].to_string()),
            },
            None => SourceSpec::Oci {
                path: PathBuf::from(rest),
                tag: None,
            },
        });
    }
    if let Some(rest) = text.strip_prefix("docker-archive:") {
        return Ok(SourceSpec::DockerArchive(PathBuf::from(rest)));
    }
    let r = text.strip_prefix("docker://").unwrap_or(text);
    Reference::parse(r)
        .map(SourceSpec::Registry)
        .map_err(|e: ReferenceError| crate::error_chain(&e))
}

/// Parses one list line (already stripped of comments); `None` for a blank line.
pub fn parse_line(line: &str) -> Result<Option<ImageRequest>, String> {
    let line = line.split('#').next().unwrap_or("").trim();
    if line.is_empty() {
        return Ok(None);
    }
    let mut fields = line.split_whitespace();
    let text = fields.next().expect("non-empty").to_string();
    let name = match fields.next() {
        Some(n) => Some(Reference::parse(n).map_err(|e| crate::error_chain(&e))?),
        None => None,
    };
    if let Some(extra) = fields.next() {
        return Err(format!("unexpected {extra:?}: a line is SOURCE [NAME]"));
    }
    let source = parse_source(&text)?;
    Ok(Some(ImageRequest {
        text,
        source,
        name,
        location: String::new(),
    }))
}

// Unknown keys are refused (with the line that holds them), not skipped: an ImageSetConfiguration
// asking for operators, releases or helm charts must not pack as if it asked for nothing more.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ImageSetConfiguration {
    #[allow(dead_code)]
    api_version: Option<String>,
    kind: Option<String>,
    mirror: Option<Mirror>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Mirror {
    #[serde(default)]
    additional_images: Vec<Named>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Named {
    name: String,
}

/// Parses list text read from `path`.
pub fn parse_list(path: &Path, text: &str) -> Result<Vec<ImageRequest>, ListError> {
    let looks_yaml = text
        .lines()
        .any(|l| l.trim_start().starts_with("kind:") || l.trim_start().starts_with("apiVersion:"));
    let mut out = Vec::new();
    if looks_yaml {
        let isc: ImageSetConfiguration = serde_norway::from_str(text).map_err(|e| {
            let hint = if e.to_string().contains("unknown field") {
                "; ferry reads apiVersion, kind and mirror.additionalImages[].name only: remove \
                 the key, or carry what it asks for in another list"
            } else {
                ""
            };
            match e.location() {
                Some(l) => ListError::Line {
                    path: path.to_path_buf(),
                    line: l.line(),
                    reason: format!("not a valid ImageSetConfiguration: {e}{hint}"),
                },
                None => ListError::Yaml {
                    path: path.to_path_buf(),
                    reason: format!("{e}{hint}"),
                },
            }
        })?;
        if isc.kind.as_deref() != Some("ImageSetConfiguration") {
            return Err(ListError::Yaml {
                path: path.to_path_buf(),
                reason: format!("kind is {:?}, expected ImageSetConfiguration", isc.kind),
            });
        }
        for (i, img) in isc
            .mirror
            .map(|m| m.additional_images)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            match parse_line(&img.name) {
                Ok(Some(mut r)) => {
                    r.location = format!("{} mirror.additionalImages[{i}]", path.display());
                    out.push(r)
                }
                Ok(None) => {}
                Err(reason) => {
                    return Err(ListError::Yaml {
                        path: path.to_path_buf(),
                        reason: format!("mirror.additionalImages[{i}].name: {reason}"),
                    })
                }
            }
        }
    } else {
        // Every line is read, so that all bad lines are reported at once.
        let mut bad = Vec::new();
        for (i, line) in text.lines().enumerate() {
            match parse_line(line) {
                Ok(Some(mut r)) => {
                    r.location = format!("{}:{}", path.display(), i + 1);
                    out.push(r)
                }
                Ok(None) => {}
                Err(reason) => bad.push(ListError::Line {
                    path: path.to_path_buf(),
                    line: i + 1,
                    reason,
                }),
            }
        }
        if bad.len() > 1 {
            return Err(ListError::Lines(bad));
        }
        if let Some(e) = bad.pop() {
            return Err(e);
        }
    }
    if out.is_empty() {
        return Err(ListError::Empty(path.to_path_buf()));
    }
    Ok(out)
}

/// Reads and parses the list at `path`.
pub fn read_list(path: &Path) -> Result<Vec<ImageRequest>, ListError> {
    let text = std::fs::read_to_string(path).map_err(|source| ListError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_list(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_list() {
        let text = "# images\n\nquay.io/org/app:v1\n  busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef # pinned\noci:/tmp/layout:1 quay.io/org/local:1\ndocker-archive:/tmp/a.tar\n";
        let l = parse_list(Path::new("list"), text).unwrap();
        assert_eq!(l.len(), 4);
        assert_eq!(l[1].location, "list:4");
        assert_eq!(
            l[0].source,
            SourceSpec::Registry(Reference::parse("quay.io/org/app:v1").unwrap())
        );
        assert!(
            matches!(&l[1].source, SourceSpec::Registry(r) if r.repository() == "library/busybox")
        );
        assert_eq!(
            l[2].source,
            SourceSpec::Oci {
                path: "/tmp/layout".into(),
                tag: Some("1".into())
            }
        );
        assert_eq!(
            l[2].name.as_ref().unwrap().to_string(),
            "quay.io/org/local:1"
        );
        assert_eq!(l[3].source, SourceSpec::DockerArchive("/tmp/a.tar".into()));
    }

    #[test]
    fn image_set_configuration() {
        let text = "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n  - name: registry.redhat.io/ubi9/ubi:latest\n  - name: quay.io/org/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n";
        let l = parse_list(Path::new("isc.yaml"), text).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].text, "registry.redhat.io/ubi9/ubi:latest");
        assert_eq!(l[1].location, "isc.yaml mirror.additionalImages[1]");
    }

    #[test]
    fn unknown_image_set_keys_are_refused_with_their_line() {
        for (text, line, key) in [
            ("kind: ImageSetConfiguration\nmirror:\n  additionalImages:\n  - name: quay.io/a/b:1\n  operators:\n  - catalog: x\n", 5, "operators"),
            ("kind: ImageSetConfiguration\nmirror:\n  additionalImages:\n  - name: quay.io/a/b:1\n    platform: linux/arm64\n", 5, "platform"),
            ("kind: ImageSetConfiguration\nstorageConfig: {}\nmirror:\n  additionalImages:\n  - name: quay.io/a/b:1\n", 2, "storageConfig"),
        ] {
            let e = parse_list(Path::new("isc.yaml"), text).unwrap_err().to_string();
            assert!(e.starts_with(&format!("isc.yaml:{line}:")), "{e}");
            assert!(e.contains(key), "{e}");
        }
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_list(Path::new("list"), "quay.io/org/app\nquay.io/Bad/App\n").unwrap_err();
        assert!(e.to_string().starts_with("list:2:"), "{e}");
        let e = parse_list(
            Path::new("list"),
            "quay.io/A/b\nquay.io/ok/b\nquay.io/C/d x y\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("2 lines of the list do not parse"), "{e}");
        assert!(
            e.contains("\n  - list:1:") && e.contains("\n  - list:3:"),
            "{e}"
        );
        assert!(matches!(
            parse_list(Path::new("l"), "# nothing\n"),
            Err(ListError::Empty(_))
        ));
    }
}
