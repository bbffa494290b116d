//! After the copy: every OCI 1.1 referrer of the bundle listed for its subject at the target,
//! by the target's referrers API when it indexes `subject` itself, else in the fallback tag
//! `sha256-<hex>` (an index ferry extends, keeping what it already lists).

use super::{ImageResult, PushError};
use crate::bundle::root::{Attachment, AttachmentKind, ImageEntry};
use crate::bundle::{Bundle, Verified};
use crate::model::referrers::{add_to_list, descriptor_of, fallback_tag, parse_list, INDEX_TYPE};
use crate::model::{MediaType, Reference};
use crate::naming::Naming;
use crate::registry::{Registry, RegistryError};

/// Lists each referrer pushed (`results[i].ok`) for its subject at `target`; a referrer that
/// cannot be listed is marked failed in `results`, with why.
pub(crate) fn list_at_target(
    bundle: &Bundle<Verified>,
    target: &Registry,
    naming: &Naming,
    results: &mut [ImageResult],
) {
    for (img, res) in bundle.root().images.iter().zip(results.iter_mut()) {
        let Some(a) = img.attached.as_ref() else {
            continue;
        };
        if a.kind != AttachmentKind::Referrer || !res.ok {
            continue;
        }
        if let Err(e) = list_one(bundle, img, a, target, naming) {
            res.ok = false;
            res.error = Some(format!(
                "pushed, but not listed as a referrer of {}: {}",
                a.subject,
                crate::error_chain(&e)
            ));
        }
    }
}

fn list_one(
    bundle: &Bundle<Verified>,
    img: &ImageEntry,
    a: &Attachment,
    target: &Registry,
    naming: &Naming,
) -> Result<(), PushError> {
    let name = Reference::parse(&img.name).map_err(|_| PushError::BadName(img.name.clone()))?;
    let repo = naming.repository(&name)?;
    let listed =
        |bytes: &[u8]| parse_list(bytes).is_some_and(|l| l.iter().any(|e| e.digest == img.digest));
    // A registry with the API indexed the manifest's `subject` when it was pushed.
    if let Some(list) = target.referrers(&repo, &a.subject)? {
        if listed(&list) {
            return Ok(());
        }
    }
    let (media_type, bytes) = bundle.manifest_bytes(&img.digest)?;
    let tag = fallback_tag(&a.subject);
    let existing = match target.get_manifest(&repo, &tag) {
        Ok(m) => Some(m.bytes),
        Err(RegistryError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(list) = add_to_list(existing.as_deref(), descriptor_of(&media_type, &bytes)) {
        target.put_manifest(&repo, &tag, &MediaType::from(INDEX_TYPE), &list)?;
    }
    Ok(())
}
