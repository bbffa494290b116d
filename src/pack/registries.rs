//! Registry clients, one per host, shared by every image of a pack, and where each upstream
//! name is read from (`--source-mirror`).

use std::collections::HashMap;

use super::mirrors::{self, SourceMirror};
use crate::model::Reference;
use crate::registry::{ClientOptions, Registry};
use crate::source::LayoutIndexes;
use crate::source::RegistrySource;

/// Registry clients, one per host, shared by all images, and where each upstream name is read
/// from (`--source-mirror`); also the index of every OCI layout the list reads, parsed once.
pub struct Registries {
    options: ClientOptions,
    pub(crate) mirrors: Vec<SourceMirror>,
    clients: std::sync::Mutex<HashMap<String, Registry>>,
    /// The index of every OCI layout the list reads, parsed once per layout.
    pub(crate) layouts: LayoutIndexes,
}

impl Registries {
    /// A client cache with `options`, reading through `mirrors`.
    pub fn new(options: ClientOptions, mirrors: Vec<SourceMirror>) -> Self {
        Registries {
            options,
            mirrors,
            clients: Default::default(),
            layouts: LayoutIndexes::default(),
        }
    }

    /// A source for the upstream image `reference`, read where `--source-mirror` says.
    pub fn source(
        &self,
        reference: &Reference,
    ) -> Result<RegistrySource, crate::registry::RegistryError> {
        let from = mirrors::source_of(&self.mirrors, reference);
        Ok(RegistrySource::new(self.get(from.registry())?, from))
    }

    /// Where the upstream image `reference` is read from (`--source-mirror` applied).
    pub fn origin(&self, reference: &Reference) -> Reference {
        mirrors::source_of(&self.mirrors, reference)
    }

    /// The client for `host`.
    pub fn get(&self, host: &str) -> Result<Registry, crate::registry::RegistryError> {
        let mut c = self.clients.lock().expect("lock");
        if let Some(r) = c.get(host) {
            return Ok(r.clone());
        }
        let r = Registry::new(host, &self.options)?;
        c.insert(host.to_string(), r.clone());
        Ok(r)
    }
}
