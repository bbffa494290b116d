//! The root's record of a CatalogSource template (bundle-format/SPEC.md §4.9, format 1.2): the
//! fields of an operator catalog's `targetCatalogSourceTemplate` that the CatalogSource written
//! at the site keeps, carried in the signed root so that `push` and `mirrorsets` write the same
//! resource from the bundle alone.

use serde::{Deserialize, Serialize};

/// The CatalogSource template of one catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogSourceTemplate {
    /// The catalog's image name in the bundle (an `images[].name`).
    pub catalog: String,
    /// `{metadata: {labels?, annotations?}, spec: {…}}`: what the generated CatalogSource takes
    /// from the template (its name, namespace, `sourceType` and `image` are ferry's).
    pub template: serde_json::Value,
}
