//! [`Places`]: where the pieces of base layers are, by digest — every place, so that a run
//! along a base continues through content the base holds more than once (identical small
//! files, repeated stream chunks) instead of jumping to its first place.

use std::collections::HashMap;

use crate::model::Digest;

/// A base layer (by its position) and an offset in it.
pub type Place = (u32, u64);

/// Places of pieces by digest. Memory: about 100 bytes per distinct piece, plus 16 bytes per
/// repeat.
#[derive(Default)]
pub struct Places {
    first: HashMap<Digest, Place>,
    more: HashMap<Digest, Vec<Place>>,
}

impl Places {
    /// Records that the piece `digest` is at `place`. Places of one base must be added in
    /// increasing offset, bases in increasing position.
    pub fn add(&mut self, digest: Digest, place: Place) {
        match self.first.get(&digest) {
            None => {
                self.first.insert(digest, place);
            }
            Some(_) => self.more.entry(digest).or_default().push(place),
        }
    }

    /// Forgets every place in base `base`.
    pub fn remove_base(&mut self, base: u32) {
        self.first.retain(|_, (b, _)| *b != base);
        self.more.retain(|_, v| {
            v.retain(|(b, _)| *b != base);
            !v.is_empty()
        });
        // A digest whose first place went may still have others.
        for (d, v) in &mut self.more {
            if !self.first.contains_key(d) {
                self.first.insert(d.clone(), v.remove(0));
            }
        }
        self.more.retain(|_, v| !v.is_empty());
    }

    /// Where to take the piece `digest` from: `next` when the piece is there (the current run
    /// goes on), else its first place; `None` when no base holds it.
    pub fn find(&self, digest: &Digest, next: Option<Place>) -> Option<Place> {
        let first = *self.first.get(digest)?;
        if let Some(n) = next {
            if first == n
                || self
                    .more
                    .get(digest)
                    .is_some_and(|v| v.binary_search(&n).is_ok())
            {
                return Some(n);
            }
        }
        Some(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_continues_through_repeated_content() {
        let (a, b) = (Digest::sha256_of(b"a"), Digest::sha256_of(b"b"));
        let mut p = Places::default();
        p.add(a.clone(), (0, 0));
        p.add(b.clone(), (0, 10));
        p.add(a.clone(), (0, 20));
        p.add(a.clone(), (1, 5));
        assert_eq!(p.find(&a, None), Some((0, 0)));
        assert_eq!(p.find(&a, Some((0, 20))), Some((0, 20)));
        assert_eq!(p.find(&a, Some((1, 5))), Some((1, 5)));
        assert_eq!(p.find(&a, Some((0, 30))), Some((0, 0)));
        assert_eq!(p.find(&Digest::sha256_of(b"c"), None), None);
        p.remove_base(0);
        assert_eq!(p.find(&a, None), Some((1, 5)));
        assert_eq!(p.find(&b, None), None);
        p.remove_base(1);
        assert_eq!(p.find(&a, None), None);
    }
}
