//! `ferry check`: is every image of a bundle in the mirror registry, by digest, with every blob?

use serde::Serialize;

use crate::bundle::Root;
use crate::model::Reference;
use crate::naming::Naming;
use crate::registry::Registry;

/// One image's state at the target.
#[derive(Debug, Clone, Serialize)]
pub struct ImageCheck {
    /// Upstream name.
    pub name: String,
    /// Mirror reference by digest.
    pub mirror: String,
    /// What is missing (manifests, blobs, tags), in words.
    pub missing: Vec<String>,
}

/// The outcome of a check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The target registry.
    pub target: String,
    /// Per image.
    pub images: Vec<ImageCheck>,
}

impl CheckReport {
    /// Images with nothing missing.
    pub fn complete(&self) -> usize {
        self.images.iter().filter(|i| i.missing.is_empty()).count()
    }
}

/// Checks every image of `root` at `target` under `naming`.
pub fn check(root: &Root, target: &Registry, naming: &Naming) -> CheckReport {
    let mut images = Vec::new();
    for img in &root.images {
        let mut missing = Vec::new();
        let (repo, mirror) = match Reference::parse(&img.name)
            .map_err(|e| crate::error_chain(&e))
            .and_then(|n| {
                let repo = naming.repository(&n).map_err(|e| crate::error_chain(&e))?;
                let m = naming
                    .mirror(&n.by_digest(img.digest.clone()))
                    .map_err(|e| crate::error_chain(&e))?;
                Ok((repo, m.to_string()))
            }) {
            Ok(x) => x,
            Err(e) => {
                images.push(ImageCheck {
                    name: img.name.clone(),
                    mirror: String::new(),
                    missing: vec![e],
                });
                continue;
            }
        };
        match root.image_graph(img) {
            Ok(graph) => {
                for n in &graph.nodes {
                    match target.manifest_digest(&repo, &n.digest.to_string()) {
                        Ok(Some(_)) => {}
                        Ok(None) => missing.push(format!("manifest {}", n.digest)),
                        Err(e) => missing.push(format!(
                            "manifest {}: {}",
                            n.digest,
                            crate::error_chain(&e)
                        )),
                    }
                }
                for b in &graph.blobs {
                    match target.blob_exists(&repo, &b.digest) {
                        Ok(Some(_)) => {}
                        Ok(None) => missing.push(format!("blob {}", b.digest)),
                        Err(e) => {
                            missing.push(format!("blob {}: {}", b.digest, crate::error_chain(&e)))
                        }
                    }
                }
            }
            Err(e) => missing.push(crate::error_chain(&e)),
        }
        for t in &img.tags {
            match target.manifest_digest(&repo, t) {
                Ok(Some(d)) if d == img.digest => {}
                Ok(Some(d)) => missing.push(format!("tag {t} points at {d}, not {}", img.digest)),
                Ok(None) => missing.push(format!("tag {t}")),
                Err(e) => missing.push(format!("tag {t}: {}", crate::error_chain(&e))),
            }
        }
        images.push(ImageCheck {
            name: img.name.clone(),
            mirror,
            missing,
        });
    }
    CheckReport {
        target: naming.target().to_string(),
        images,
    }
}
