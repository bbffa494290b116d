//! What is checked before writing anything: the options (before resolving the list), every
//! line resolved (all failures reported at once), and no `name:tag` claimed by two different
//! images.

use std::collections::HashMap;
use std::fmt;

use super::list::ImageRequest;
use super::resolve::Resolved;
use super::{resolve, PackError, PackOptions, MIN_VOLUME_SIZE};
use crate::model::Digest;

/// The options that are wrong whatever the list holds: a volume size under the minimum, a
/// platform that does not parse.
pub(super) fn check_options(opts: &PackOptions) -> Result<(), PackError> {
    if let Some(v) = opts.volume_size {
        if v < MIN_VOLUME_SIZE {
            return Err(PackError::Options(format!(
                "--volume-size {v} is too small: at least {MIN_VOLUME_SIZE} bytes (16MiB)"
            )));
        }
    }
    for p in &opts.platforms {
        resolve::check_platform(p).map_err(PackError::Options)?;
    }
    Ok(())
}

/// One line of the list that cannot be packed as asked.
#[derive(Debug, thiserror::Error)]
pub enum ImageProblem {
    /// The image could not be opened or resolved.
    #[error("{location}: {error}")]
    Failed {
        /// Where the list names it.
        location: String,
        /// What failed (it names the image).
        error: Box<PackError>,
    },
    /// Two lines give one `name:tag` to images of different digests.
    #[error(
        "{name} is claimed by two images: {first_location} ({first_image}) is {first_digest}, \
         {second_location} ({second_image}) is {second_digest}; drop one of the lines, or mirror \
         one under another name (`SOURCE NAME`)"
    )]
    TagConflict {
        /// The normalized `registry/repository:tag`.
        name: String,
        /// Where the list names the first image.
        first_location: String,
        /// The first image as written.
        first_image: String,
        /// Its digest.
        first_digest: Digest,
        /// Where the list names the second image.
        second_location: String,
        /// The second image as written.
        second_image: String,
        /// Its digest.
        second_digest: Digest,
    },
}

/// Every problem found with the list's images; nothing is written when there is one.
#[derive(Debug)]
pub struct ImageProblems {
    /// The problems, in list order.
    pub problems: Vec<ImageProblem>,
    /// How many lines the list has.
    pub total: usize,
}

impl fmt::Display for ImageProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} problem(s) with the {} image(s) of the list; no bundle was written:",
            self.problems.len(),
            self.total
        )?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

/// The resolved images once every check passed, each listed once, and notes on what was merged.
pub(super) struct Checked {
    /// The images to pack, in list order.
    pub resolved: Vec<Resolved>,
    /// Lines that named an image already listed (same name, same digest): packed once.
    pub notes: Vec<String>,
}

/// Where a request sits in the list, for messages.
fn location(req: &ImageRequest, index: usize) -> String {
    if req.location.is_empty() {
        format!("image {}", index + 1)
    } else {
        req.location.clone()
    }
}

/// Collects every failure and every `name:tag` claimed twice; drops exact repeats with a note.
pub(super) fn check(
    requests: &[ImageRequest],
    results: Vec<Result<Resolved, PackError>>,
) -> Result<Checked, PackError> {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let mut kept: Vec<Resolved> = Vec::new();
    // name key → (index into `kept`, index into `requests`)
    let mut claimed: HashMap<String, (usize, usize)> = HashMap::new();
    for (i, (req, result)) in requests.iter().zip(results).enumerate() {
        let r = match result {
            Ok(r) => r,
            Err(error) => {
                problems.push(ImageProblem::Failed {
                    location: location(req, i),
                    error: Box::new(error),
                });
                continue;
            }
        };
        let key = match r.name.tag() {
            Some(tag) => format!("{}/{}:{tag}", r.name.registry(), r.name.repository()),
            None => format!(
                "{}/{}@{}",
                r.name.registry(),
                r.name.repository(),
                r.entry.digest
            ),
        };
        match claimed.get(&key) {
            Some(&(k, j)) if kept[k].entry.digest == r.entry.digest => {
                notes.push(format!(
                    "{}: {} is the image {} already lists ({key}, {}); packed once",
                    location(req, i),
                    req.text,
                    location(&requests[j], j),
                    r.entry.digest
                ));
            }
            Some(&(k, j)) => problems.push(ImageProblem::TagConflict {
                name: key,
                first_location: location(&requests[j], j),
                first_image: requests[j].text.clone(),
                first_digest: kept[k].entry.digest.clone(),
                second_location: location(req, i),
                second_image: req.text.clone(),
                second_digest: r.entry.digest.clone(),
            }),
            None => {
                claimed.insert(key, (kept.len(), i));
                kept.push(r);
            }
        }
    }
    if !problems.is_empty() {
        return Err(PackError::Images(ImageProblems {
            problems,
            total: requests.len(),
        }));
    }
    Ok(Checked {
        resolved: kept,
        notes,
    })
}
