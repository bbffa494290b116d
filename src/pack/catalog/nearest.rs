//! The names closest to a misspelt one, for errors ("nearest: …").

/// Levenshtein distance over characters, ASCII case folded.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Up to three of `names` closest to `wanted`: those containing it or contained in it, and
/// those within a third of its length in edits (at least 2), nearest first, then by name.
pub fn nearest(wanted: &str, names: &[&str]) -> Vec<String> {
    let w = wanted.to_lowercase();
    let limit = (wanted.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = names
        .iter()
        .filter(|n| **n != wanted)
        .filter_map(|n| {
            let l = n.to_lowercase();
            let d = distance(wanted, n);
            let contains = !w.is_empty() && (l.contains(&w) || w.contains(&l)) && !l.is_empty();
            (d <= limit || contains).then_some((d, *n))
        })
        .collect();
    scored.sort();
    scored.dedup();
    scored
        .into_iter()
        .take(3)
        .map(|(_, n)| n.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspellings_and_parts_find_their_names() {
        let names = ["stable", "stable-v2", "fast", "candidate", "alpha"];
        assert_eq!(nearest("stabel", &names), vec!["stable"]);
        assert_eq!(nearest("stable-v3", &names), vec!["stable-v2", "stable"]);
        assert_eq!(nearest("Fast", &names), vec!["fast"]);
        assert!(nearest("zzzzzzzz", &names).is_empty());
        assert_eq!(distance("kitten", "sitting"), 3);
        let versions = ["1.0.0", "1.1.0", "2.0.0", "10.0.0"];
        assert_eq!(
            nearest("1.2.0", &versions),
            vec!["1.0.0", "1.1.0", "10.0.0"]
        );
    }
}
