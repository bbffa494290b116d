//! The `whole` of a blob entry (bundle-format/SPEC.md §4.3, format 1.2): why a changed layer
//! of an incremental bundle is carried whole rather than as a `gzip-tar` blob. It only
//! informs (`ferry inspect` shows it); rebuilding the blob never depends on it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a changed layer went whole: a code and what the packer found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WholeLayer {
    /// The reason, as a code.
    pub reason: WholeCode,
    /// The reason in words (may be empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// The longest detail a writer records, in bytes (a longer one is cut, so that the root's
/// size stays bounded per blob).
pub const MAX_DETAIL: usize = 300;

impl WholeLayer {
    /// A reason with its detail, cut to at most [`MAX_DETAIL`] bytes.
    pub fn new(reason: WholeCode, detail: impl Into<String>) -> WholeLayer {
        let mut detail = detail.into();
        if detail.len() > MAX_DETAIL {
            let mut end = MAX_DETAIL - 3;
            while !detail.is_char_boundary(end) {
                end -= 1;
            }
            detail.truncate(end);
            detail.push_str("...");
        }
        WholeLayer { reason, detail }
    }
}

impl fmt::Display for WholeLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.detail.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{}: {}", self.reason, self.detail)
        }
    }
}

/// The codes of [`WholeLayer::reason`], serialised in kebab case. Open: a code a later writer
/// adds is kept as [`WholeCode::Other`], since readers ignore the field.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum WholeCode {
    /// `not-gzip`: the layer is not gzip-compressed (zstd, or a plain tar).
    NotGzip,
    /// `no-base-layer`: the site holds no layer of the image's repository to rebuild it from.
    NoBaseLayer,
    /// `base-unreadable`: the site's candidate layers could not be read at pack time.
    BaseUnreadable,
    /// `too-large`: the uncompressed layer is larger than the engine analyses.
    TooLarge,
    /// `not-regenerable`: the engine cannot model the layer's DEFLATE stream (or several gzip
    /// members, a malformed gzip).
    NotRegenerable,
    /// `not-exact`: the rebuild from the reconstruction data did not reproduce the layer.
    NotExact,
    /// `recipe-too-large`: the reconstruction data is more than half the blob.
    RecipeTooLarge,
    /// `no-shared-content`: no piece of the layer's tar is in a base layer.
    NoSharedContent,
    /// `no-saving`: new tar bytes and reconstruction data would not be smaller than the blob.
    NoSaving,
    /// A code this ferry does not know.
    Other(String),
}

impl WholeCode {
    /// Every code this ferry writes, in order.
    pub const ALL: [WholeCode; 9] = [
        WholeCode::NotGzip,
        WholeCode::NoBaseLayer,
        WholeCode::BaseUnreadable,
        WholeCode::TooLarge,
        WholeCode::NotRegenerable,
        WholeCode::NotExact,
        WholeCode::RecipeTooLarge,
        WholeCode::NoSharedContent,
        WholeCode::NoSaving,
    ];

    /// The code as written in a root.
    pub fn as_str(&self) -> &str {
        match self {
            WholeCode::NotGzip => "not-gzip",
            WholeCode::NoBaseLayer => "no-base-layer",
            WholeCode::BaseUnreadable => "base-unreadable",
            WholeCode::TooLarge => "too-large",
            WholeCode::NotRegenerable => "not-regenerable",
            WholeCode::NotExact => "not-exact",
            WholeCode::RecipeTooLarge => "recipe-too-large",
            WholeCode::NoSharedContent => "no-shared-content",
            WholeCode::NoSaving => "no-saving",
            WholeCode::Other(s) => s,
        }
    }
}

impl From<String> for WholeCode {
    fn from(s: String) -> WholeCode {
        WholeCode::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .unwrap_or(WholeCode::Other(s))
    }
}

impl From<WholeCode> for String {
    fn from(c: WholeCode) -> String {
        c.as_str().to_string()
    }
}

impl fmt::Display for WholeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_are_kept() {
        for c in WholeCode::ALL {
            let json = serde_json::to_string(&WholeLayer::new(c.clone(), "x")).unwrap();
            let back: WholeLayer = serde_json::from_str(&json).unwrap();
            assert_eq!(back.reason, c, "{json}");
        }
        let w: WholeLayer = serde_json::from_str(r#"{"reason":"later-code"}"#).unwrap();
        assert_eq!(w.reason, WholeCode::Other("later-code".into()));
        assert_eq!(w.to_string(), "later-code");
        assert_eq!(
            serde_json::to_string(&WholeLayer::new(WholeCode::NotExact, "")).unwrap(),
            r#"{"reason":"not-exact"}"#
        );
        let long = WholeLayer::new(WholeCode::BaseUnreadable, "é".repeat(400));
        assert!(long.detail.len() <= MAX_DETAIL && long.detail.ends_with("..."));
    }
}
