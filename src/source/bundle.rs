//! A verified bundle as a source: its manifests from the signed root, its blobs rebuilt from
//! the volumes. Only [`Bundle<Verified>`] is a source, so nothing is read from a stick before
//! its signature is checked.

use std::io::Read;

use super::{ContentSource, RawManifest, SourceError};
use crate::bundle::{Bundle, Verified};
use crate::model::Digest;

impl ContentSource for Bundle<Verified> {
    fn describe(&self) -> String {
        format!("bundle {}", self.root().bundle_id)
    }

    fn manifest(&self, digest: &Digest) -> Result<RawManifest, SourceError> {
        let (media_type, bytes) = self.manifest_bytes(digest)?;
        Ok(RawManifest {
            media_type,
            digest: digest.clone(),
            bytes,
        })
    }

    /// Chunks are not hashed on their own here: the caller checks the whole blob against its
    /// digest, as it must for any source, and that one pass covers every byte (hashing each
    /// chunk too was a second SHA-256 pass, a third of push's CPU time). A blob that fails
    /// that check is then located chunk by chunk by [`ContentSource::diagnose`], which names
    /// the volume file and offset of the damage.
    fn blob(&self, digest: &Digest, _size: u64) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        Ok(Box::new(self.blob_reader(digest, false)?))
    }

    fn diagnose(&self, digest: &Digest) -> Option<SourceError> {
        locate_damage(self, digest).map(SourceError::Bundle)
    }
}

/// The first damaged chunk of a blob that failed to stream, for a message that names the
/// volume file and offset.
fn locate_damage(bundle: &Bundle<Verified>, digest: &Digest) -> Option<crate::bundle::BundleError> {
    let blob = bundle.root().blobs.iter().find(|b| &b.digest == digest)?;
    let mut files = Default::default();
    blob.chunks
        .iter()
        .find_map(|&ci| bundle.read_chunk(&mut files, ci).err())
}
