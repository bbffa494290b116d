//! The plain image list `ferry pack --images FILE` reads: one reference per line (an oc-mirror
//! `ImageSetConfiguration` is read by `imageset.rs`).
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
    /// An image ferry built (a filtered operator catalog): its new manifests and blobs in an
    /// OCI layout, the rest read from the image it was built from.
    Built {
        /// The layout directory.
        layout: PathBuf,
        /// The ref name in the layout.
        tag: String,
        /// Where the image it was built from is read (a registry or an OCI layout).
        base: Box<SourceSpec>,
    },
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
    /// Where the list names it: `FILE:LINE`, `FILE:LINE mirror.additionalImages[I].name` in an
    /// ImageSetConfiguration, the release that lists a component; empty when not known.
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

/// Parses list text read from `path`.
pub fn parse_list(path: &Path, text: &str) -> Result<Vec<ImageRequest>, ListError> {
    let mut out = Vec::new();
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
