//! Images from a registry.

use std::io::Read;

use super::{ContentSource, ImageSource, RawManifest, SourceError};
use crate::model::{Digest, Reference};
use crate::registry::Registry;

/// One repository of a registry, with the tag or digest the user asked for.
pub struct RegistrySource {
    registry: Registry,
    reference: Reference,
}

impl RegistrySource {
    /// A source for `reference` read through `registry` (a client for its host).
    pub fn new(registry: Registry, reference: Reference) -> Self {
        RegistrySource {
            registry,
            reference,
        }
    }
}

impl ImageSource for RegistrySource {
    fn top_manifest(&self) -> Result<RawManifest, SourceError> {
        let m = self
            .registry
            .get_manifest(self.reference.repository(), &self.reference.manifest_ref())?;
        Ok(RawManifest {
            media_type: crate::model::manifest::detect_media_type(
                Some(m.media_type.as_str()),
                &m.bytes,
            ),
            digest: m.digest,
            bytes: m.bytes,
        })
    }
}

impl ContentSource for RegistrySource {
    fn describe(&self) -> String {
        self.reference.to_string()
    }

    fn manifest(&self, digest: &Digest) -> Result<RawManifest, SourceError> {
        let m = self
            .registry
            .get_manifest(self.reference.repository(), &digest.to_string())?;
        Ok(RawManifest {
            media_type: crate::model::manifest::detect_media_type(
                Some(m.media_type.as_str()),
                &m.bytes,
            ),
            digest: m.digest,
            bytes: m.bytes,
        })
    }

    fn blob(&self, digest: &Digest, _size: u64) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        // Unchecked, as the trait says: the caller hashes it, once.
        Ok(self
            .registry
            .get_blob_unverified(self.reference.repository(), digest)?)
    }
}
