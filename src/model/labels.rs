//! Image config labels ferry reads or writes, and reading one from an image config.

use serde_json::Value;

/// The label naming an operator catalog image's file-based catalog directory.
pub const CONFIGS_LABEL: &str = "operators.operatorframework.io.index.configs.v1";
/// The label of the old SQLite operator catalogs (before OpenShift 4.11).
pub const DATABASE_LABEL: &str = "operators.operatorframework.io.index.database.v1";
/// The label ferry puts on a catalog it rebuilt: the original catalog, by digest.
pub const FILTERED_LABEL: &str = "io.ferry.catalog.filtered-from";

/// The label `name` of an image config.
pub fn label<'a>(config: &'a Value, name: &str) -> Option<&'a str> {
    config
        .get("config")
        .and_then(|c| c.get("Labels"))
        .and_then(|l| l.get(name))
        .and_then(Value::as_str)
}
