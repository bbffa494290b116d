//! Reading a `targetCatalogSourceTemplate` file at pack: bounded, parsed as YAML, checked by
//! [`crate::mirrorset::catalog_template::check_template`]; every error names the file.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::mirrorset::catalog_template::{check_template, CheckedTemplate};

/// The largest template read.
const MAX_TEMPLATE: u64 = 1 << 20;

/// Why a template cannot be used; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The file could not be read.
    #[error("CatalogSource template {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a CatalogSource template ferry can use.
    #[error("CatalogSource template {}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Reads and checks the template at `path`.
pub fn read_template(path: &Path) -> Result<CheckedTemplate, TemplateError> {
    let invalid = |reason: String| TemplateError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let read_err = |source| TemplateError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let size = file.metadata().map_err(read_err)?.len();
    if size > MAX_TEMPLATE {
        return Err(invalid(format!(
            "{size} bytes, more than the {MAX_TEMPLATE} ferry reads"
        )));
    }
    let mut text = String::new();
    file.take(MAX_TEMPLATE)
        .read_to_string(&mut text)
        .map_err(read_err)?;
    let doc: Value =
        serde_norway::from_str(&text).map_err(|e| invalid(format!("not YAML: {e}")))?;
    check_template(doc).map_err(invalid)
}
