//! One channel's upgrade graph (`replaces` and `skips` edges; `skipRange` is not an edge
//! here, as in oc-mirror's filter), its head, and the entries a version range keeps.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::fbc::Entry;
use crate::pack::version::Version;

/// A channel's entries as a graph; built only for a channel with one head and no cycle.
#[derive(Debug)]
pub struct Graph<'a> {
    head: &'a str,
    replaces: BTreeMap<&'a str, &'a str>,
    skips: BTreeMap<&'a str, Vec<&'a str>>,
}

impl<'a> Graph<'a> {
    /// Checks `entries` the way OLM and oc-mirror do: no duplicate, nothing replacing or
    /// skipping itself, exactly one head (an entry nothing replaces or skips), no cycle.
    pub fn new(entries: &'a [Entry]) -> Result<Graph<'a>, String> {
        if entries.is_empty() {
            return Err("the channel has no entries".into());
        }
        let mut errs = Vec::new();
        let mut seen = BTreeSet::new();
        let mut replaces = BTreeMap::new();
        let mut skips: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        // incoming[n] = the entries with an edge to n
        let mut incoming: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for e in entries {
            if !seen.insert(e.name.as_str()) {
                errs.push(format!("duplicate channel entry {:?}", e.name));
                continue;
            }
            if let Some(r) = &e.replaces {
                if *r == e.name {
                    errs.push(format!("entry {:?} replaces itself", e.name));
                }
                replaces.insert(e.name.as_str(), r.as_str());
                incoming.entry(r.as_str()).or_default().insert(&e.name);
            }
            for s in &e.skips {
                if *s == e.name {
                    errs.push(format!("entry {:?} skips itself", e.name));
                }
                skips.entry(e.name.as_str()).or_default().push(s.as_str());
                incoming.entry(s.as_str()).or_default().insert(&e.name);
            }
        }
        let heads: Vec<&str> = entries
            .iter()
            .map(|e| e.name.as_str())
            .filter(|n| incoming.get(n).is_none_or(BTreeSet::is_empty))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        match heads.len() {
            0 => errs.push("no channel head (every entry is replaced or skipped)".into()),
            1 => {}
            _ => errs.push(format!("multiple channel heads: {}", heads.join(", "))),
        }
        if !errs.is_empty() {
            return Err(errs.join("; "));
        }
        // Kahn's walk from the head: an edge left untraversed is a cycle.
        let mut queue = VecDeque::from([heads[0]]);
        while let Some(cur) = queue.pop_front() {
            let next = replaces
                .get(cur)
                .into_iter()
                .chain(skips.get(cur).into_iter().flatten());
            for n in next {
                if let Some(inc) = incoming.get_mut(n) {
                    inc.remove(cur);
                    if inc.is_empty() {
                        incoming.remove(n);
                        queue.push_back(n);
                    }
                }
            }
        }
        if !incoming.is_empty() {
            return Err(format!(
                "a cycle in the upgrade graph (through {})",
                incoming.keys().copied().collect::<Vec<_>>().join(", ")
            ));
        }
        Ok(Graph {
            head: heads[0],
            replaces,
            skips,
        })
    }

    /// The head: the entry nothing replaces or skips.
    pub fn head(&self) -> &'a str {
        self.head
    }

    /// The `replaces` chain from the head down (it may end on a name that is not an entry).
    fn chain(&self) -> Vec<&'a str> {
        let mut out = vec![self.head];
        while let Some(next) = self.replaces.get(out[out.len() - 1]) {
            out.push(next);
        }
        out
    }

    fn skips_of(&self, n: &str) -> &[&'a str] {
        self.skips.get(n).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Whether `v` is in `[min, max]`, as Masterminds semver checks `>=min <=max`: a pre-release
/// version only matches a bound that has a pre-release itself.
pub fn in_range(v: &Version, min: Option<&Version>, max: Option<&Version>) -> bool {
    let ok = |b: &Version, cmp: bool| cmp && (!v.is_prerelease() || b.is_prerelease());
    min.is_none_or(|m| ok(m, v >= m)) && max.is_none_or(|m| ok(m, v <= m))
}

/// The entries a range keeps (oc-mirror's `filterByVersionRange`): for each node of the
/// `replaces` chain, count the in-range bundles at or below it that no lower node counted (a
/// node counts itself and its skips); the new head is the lowest node with the top count, the
/// tail the first node with none; every chain node from head to tail (tail excluded) is kept,
/// in range or not, with the in-range `skips` of each.
pub fn filter_range<'v>(
    g: &Graph<'_>,
    version: &dyn Fn(&str) -> Option<&'v Version>,
    min: Option<&Version>,
    max: Option<&Version>,
) -> BTreeSet<String> {
    let chain = g.chain();
    let hit = |n: &str| version(n).is_some_and(|v| in_range(v, min, max));
    // Counted from the bottom of the chain up, as the recursion in oc-mirror does.
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut counts = vec![0usize; chain.len()];
    for i in (0..chain.len()).rev() {
        let n = chain[i];
        let mut count = counts.get(i + 1).copied().unwrap_or(0);
        if hit(n) && seen.insert(n) {
            count += 1;
        }
        for s in g.skips_of(n) {
            if hit(s) && seen.insert(s) {
                count += 1;
            }
        }
        counts[i] = count;
    }
    let mut head = 0;
    let mut tail = chain.len();
    let mut max_count = None;
    for (i, &c) in counts.iter().enumerate() {
        if max_count.is_none_or(|m| c >= m) {
            head = i;
            max_count = Some(c);
        }
        if c == 0 {
            tail = i;
            break;
        }
    }
    let mut keep = BTreeSet::new();
    for &n in chain.iter().take(tail).skip(head) {
        keep.insert(n.to_string());
        for s in g.skips_of(n) {
            if hit(s) {
                keep.insert(s.to_string());
            }
        }
    }
    keep
}
