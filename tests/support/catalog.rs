//! The fixture operator catalog loaded into a test registry under its upstream paths
//! (`redhat/redhat-operator-index`, the bundle and operator repositories), so that
//! `--source-mirror registry.redhat.io=HOST` reads `registry.redhat.io/...` from it.

use std::path::Path;
use std::sync::OnceLock;

use ferry_fixtures::catalog::{build_catalog, CatalogFixture};

use super::{load_fixture, TestRegistry};

/// The catalog fixture, built once per test process.
pub fn catalog_fixture() -> &'static CatalogFixture {
    static SET: OnceLock<CatalogFixture> = OnceLock::new();
    SET.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("ferry-fixtures-{}-catalog", std::process::id()));
        build_catalog(&out)
            .unwrap_or_else(|e| panic!("building the catalog fixture in {}: {e:#}", out.display()))
    })
}

/// Copies the catalog and every image its bundles name into `reg`.
pub fn load_catalog(reg: &TestRegistry) -> &'static CatalogFixture {
    let set = catalog_fixture();
    for image in set.all() {
        load_fixture(reg, image);
    }
    set
}
