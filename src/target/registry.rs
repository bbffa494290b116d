//! A registry as a target: the distribution API through [`Registry`].

use super::{ImageTarget, ManifestRef, TargetError};
use crate::model::Digest;
use crate::registry::{BlobSource, Registry};

impl ImageTarget for Registry {
    fn describe(&self) -> String {
        self.host().to_string()
    }

    fn has_blob(&self, repo: &str, digest: &Digest) -> Result<bool, TargetError> {
        Ok(self.blob_exists(repo, digest)?.is_some())
    }

    fn put_blob(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        data: &dyn BlobSource,
    ) -> Result<(), TargetError> {
        Ok(self.push_blob(repo, digest, size, data)?)
    }

    fn mount(&self, repo: &str, digest: &Digest, from: &str) -> Result<bool, TargetError> {
        Ok(self.mount_blob(repo, digest, from)?)
    }

    fn manifest_digest(&self, repo: &str, reference: &str) -> Result<Option<Digest>, TargetError> {
        Ok(Registry::manifest_digest(self, repo, reference)?)
    }

    fn put_manifest(&self, repo: &str, m: ManifestRef<'_>) -> Result<(), TargetError> {
        Registry::put_manifest(self, repo, &m.digest.to_string(), m.media_type, m.bytes)?;
        Ok(())
    }

    fn tag(&self, repo: &str, tag: &str, m: ManifestRef<'_>) -> Result<(), TargetError> {
        Registry::put_manifest(self, repo, tag, m.media_type, m.bytes)?;
        Ok(())
    }
}
