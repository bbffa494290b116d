//! An image built on top of another: its new manifests and blobs in an OCI layout, every other
//! blob read from the image it was built from (a filtered operator catalog keeps the original
//! catalog's layers, which are not copied into the layout).

use std::io::Read;

use super::{ContentSource, ImageSource, OciLayoutSource, RawManifest, SourceError};
use crate::model::Digest;

/// An OCI layout in front of a base source.
pub struct OverlaySource {
    layout: OciLayoutSource,
    dir: std::path::PathBuf,
    base: Box<dyn ContentSource>,
}

impl OverlaySource {
    /// The image tagged `tag` in the layout `dir`, with blobs missing there read from `base`.
    pub fn new(dir: &std::path::Path, tag: &str, base: Box<dyn ContentSource>) -> Self {
        OverlaySource {
            layout: OciLayoutSource::new(dir, Some(tag)),
            dir: dir.to_path_buf(),
            base,
        }
    }

    fn in_layout(&self, digest: &Digest) -> bool {
        self.dir
            .join("blobs")
            .join(digest.algorithm().name())
            .join(digest.hex())
            .is_file()
    }
}

impl ContentSource for OverlaySource {
    fn describe(&self) -> String {
        format!("{} over {}", self.layout.describe(), self.base.describe())
    }

    fn manifest(&self, digest: &Digest) -> Result<RawManifest, SourceError> {
        if self.in_layout(digest) {
            self.layout.manifest(digest)
        } else {
            self.base.manifest(digest)
        }
    }

    fn blob(&self, digest: &Digest, size: u64) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        if self.in_layout(digest) {
            self.layout.blob(digest, size)
        } else {
            self.base.blob(digest, size)
        }
    }

    fn diagnose(&self, digest: &Digest) -> Option<SourceError> {
        self.base.diagnose(digest)
    }
}

impl ImageSource for OverlaySource {
    fn top_manifest(&self) -> Result<RawManifest, SourceError> {
        self.layout.top_manifest()
    }
}
