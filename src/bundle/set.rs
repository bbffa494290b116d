//! The volume set held against the signed root (bundle-format/SPEC.md §3, §7): run only once
//! the root's signature checked out, so that every unsigned field of a volume — its label, the
//! data size in its tar header — is compared with what the signer wrote.

use std::collections::BTreeMap;

use super::root::{Root, RootError};
use super::volume::{self, VolumeFile, VolumeLabel};
use super::BundleError;

/// Checks the volumes present (`volumes`, with their `labels`, both keyed by the volume
/// number the label claims) against `root`: every label field, every data size, and with
/// `need_all` that no volume is missing. Returns whether the set is complete.
pub(super) fn check(
    root: &Root,
    volumes: &BTreeMap<u32, VolumeFile>,
    labels: &BTreeMap<u32, VolumeLabel>,
    need_all: bool,
) -> Result<bool, BundleError> {
    let count = u32::try_from(root.volumes.len()).map_err(|_| BundleError::Root {
        path: volumes
            .values()
            .next()
            .map(|v| v.path.clone())
            .unwrap_or_default(),
        source: RootError::Inconsistent(format!("{} volumes", root.volumes.len())),
    })?;
    for (index, v) in volumes {
        let label = labels.get(index);
        let mismatch = |field: &'static str, found: String, expected: String| {
            Err(BundleError::LabelMismatch {
                path: v.path.clone(),
                field,
                found,
                expected,
            })
        };
        let Some(label) = label else {
            return mismatch("volume", "nothing".into(), index.to_string());
        };
        if label.bundle_id != root.bundle_id {
            return mismatch("bundle_id", label.bundle_id.clone(), root.bundle_id.clone());
        }
        if label.format != root.format {
            return mismatch("format", label.format.clone(), root.format.clone());
        }
        if label.volume_count != count {
            return mismatch(
                "volume_count",
                label.volume_count.to_string(),
                count.to_string(),
            );
        }
        let info = index
            .checked_sub(1)
            .and_then(|i| root.volumes.get(i as usize));
        let Some(info) = info else {
            return mismatch("volume", index.to_string(), format!("1 to {count}"));
        };
        if info.data_size != v.data_size {
            return Err(BundleError::Truncated {
                path: v.path.clone(),
                reason: format!(
                    "its data is {} bytes, the root says {}",
                    v.data_size, info.data_size
                ),
            });
        }
    }
    let missing: Vec<u32> = (1..=count).filter(|i| !volumes.contains_key(i)).collect();
    if need_all && !missing.is_empty() {
        return Err(BundleError::MissingVolumes {
            bundle: root.bundle_id.clone(),
            count,
            missing: missing
                .iter()
                .map(|&i| volume::volume_file_name(&root.bundle_id, i, count))
                .collect(),
        });
    }
    // A base of inventories (1.2) is the site itself: push checks it against the target. A
    // base bundle would have to be given, and this ferry takes none.
    if let Some(base) = root.base.as_ref().filter(|b| !b.is_inventory()) {
        return Err(BundleError::BaseMissing {
            bundle: root.bundle_id.clone(),
            base: base.bundle_id.clone(),
        });
    }
    Ok(missing.is_empty())
}
