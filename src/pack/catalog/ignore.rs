//! `.indexignore` files of a file-based catalog: gitignore-style patterns that take files out of
//! the catalog walk, honoured as operator-registry's declcfg walker honours them (through
//! go-git's gitignore matcher): every `.indexignore` under the configs directory contributes
//! its patterns, scoped to its own directory; blank lines and `#` comments are skipped; `!`
//! re-includes; a trailing `/` matches directories only; a pattern without `/` matches any path
//! element below its directory, one with `/` is matched element by element from its directory,
//! with `**` standing for any number of elements; the last pattern that matches decides, the
//! patterns of a directory coming after those of the directories that hold it.

/// The name of the ignore files.
pub const INDEXIGNORE: &str = ".indexignore";

/// One pattern line of an `.indexignore`.
#[derive(Debug, Clone)]
struct Pattern {
    /// The directory of the file it came from, as path elements under the configs directory.
    domain: Vec<String>,
    /// The pattern's elements (split at `/`; a leading `/` gives an empty first element).
    elements: Vec<String>,
    /// `!`: a match includes rather than ignores.
    include: bool,
    /// A trailing `/`: only a directory (a path element that is not the last) matches.
    dir_only: bool,
    /// Whether the pattern has a `/` (other than a trailing one).
    anchored: bool,
}

impl Pattern {
    fn parse(line: &str, domain: &[String]) -> Pattern {
        let (include, mut p) = match line.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        if !p.ends_with("\\ ") {
            p = p.trim_end_matches(' ');
        }
        let dir_only = p.ends_with('/');
        let p = p.strip_suffix('/').unwrap_or(p);
        Pattern {
            domain: domain.to_vec(),
            elements: p.split('/').map(str::to_string).collect(),
            include,
            dir_only,
            anchored: p.contains('/'),
        }
    }

    /// `Some(include)` when the pattern matches the file `path` (elements under the configs
    /// directory).
    fn matches(&self, path: &[&str]) -> Option<bool> {
        if path.len() <= self.domain.len() || self.domain.iter().zip(path).any(|(d, p)| d != p) {
            return None;
        }
        let rest = &path[self.domain.len()..];
        let hit = if self.anchored {
            self.element_match(rest)
        } else {
            rest.iter()
                .position(|e| glob(&self.elements[0], e))
                .is_some_and(|i| !(self.dir_only && i == rest.len() - 1))
        };
        hit.then_some(self.include)
    }

    /// The element-by-element match of an anchored pattern against a file's path.
    fn element_match(&self, mut path: &[&str]) -> bool {
        let mut matched = false;
        let mut traverse = false;
        for (i, el) in self.elements.iter().enumerate() {
            if el.is_empty() {
                traverse = false;
                continue;
            }
            if el == "**" {
                if i == self.elements.len() - 1 {
                    break;
                }
                traverse = true;
                continue;
            }
            if el.contains("**") || path.is_empty() {
                return false;
            }
            if traverse {
                traverse = false;
                while let Some((first, tail)) = path.split_first() {
                    path = tail;
                    if glob(el, first) {
                        matched = true;
                        break;
                    } else if path.is_empty() {
                        matched = false;
                    }
                }
            } else {
                if !glob(el, path[0]) {
                    return false;
                }
                matched = true;
                path = &path[1..];
            }
        }
        // A file is never a directory: a directory-only pattern must stop above it.
        matched && !(self.dir_only && path.is_empty())
    }
}

/// A shell glob against one path element: `*` any run of characters, `?` one character,
/// `[...]` a class (ranges, `^` or `!` negating), `\` escaping; a malformed pattern matches
/// nothing.
fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob_at(&p, &n)
}

fn glob_at(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|k| glob_at(&p[1..], &n[k..])),
        Some('?') => !n.is_empty() && glob_at(&p[1..], &n[1..]),
        Some('[') => {
            let Some(c) = n.first() else { return false };
            match class(&p[1..], *c) {
                Some((hit, used)) => hit && glob_at(&p[1 + used..], &n[1..]),
                None => false,
            }
        }
        Some('\\') => match p.get(1) {
            Some(lit) => n.first() == Some(lit) && glob_at(&p[2..], &n[1..]),
            None => false,
        },
        Some(lit) => n.first() == Some(lit) && glob_at(&p[1..], &n[1..]),
    }
}

/// Whether `c` is in the class starting after `[`, and how many characters the class takes
/// (through its `]`); `None` for an unterminated class.
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 0;
    let negate = matches!(p.first(), Some('^') | Some('!'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let mut lo = *p.get(i)?;
        if lo == ']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        if lo == '\\' {
            i += 1;
            lo = *p.get(i)?;
        }
        i += 1;
        let mut hi = lo;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|&x| x != ']') {
            hi = p[i + 1];
            if hi == '\\' {
                hi = *p.get(i + 2)?;
                i += 1;
            }
            i += 2;
        }
        if lo <= c && c <= hi {
            hit = true;
        }
    }
}

/// The patterns of every `.indexignore` under a configs directory.
#[derive(Debug, Clone, Default)]
pub struct IgnoreRules {
    patterns: Vec<Pattern>,
}

impl IgnoreRules {
    /// The rules of `files`: each `.indexignore`'s path under the configs directory and its
    /// text.
    pub fn new<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> IgnoreRules {
        let mut files: Vec<(Vec<&str>, &str)> = files
            .into_iter()
            .map(|(path, text)| (path.split('/').collect(), text))
            .collect();
        // The order of a walk: a directory's own file before those of the directories in it.
        files.sort();
        let mut patterns = Vec::new();
        for (path, text) in files {
            let domain: Vec<String> = path[..path.len() - 1]
                .iter()
                .map(|s| s.to_string())
                .collect();
            for line in text.lines() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                patterns.push(Pattern::parse(line, &domain));
            }
        }
        IgnoreRules { patterns }
    }

    /// Whether the file at `path` (under the configs directory) is left out of the catalog.
    pub fn ignores(&self, path: &str) -> bool {
        let elements: Vec<&str> = path.split('/').collect();
        self.patterns
            .iter()
            .rev()
            .find_map(|p| p.matches(&elements))
            .is_some_and(|include| !include)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_one_path_element() {
        for (p, n, want) in [
            ("*.json", "catalog.json", true),
            ("*.json", "catalog.yaml", false),
            ("c?t", "cat", true),
            ("[a-c]x", "bx", true),
            ("[!a-c]x", "bx", false),
            ("[^a-c]x", "dx", true),
            ("\\*", "*", true),
            ("\\*", "a", false),
            ("[a-", "a", false),
            ("*", "", true),
        ] {
            assert_eq!(glob(p, n), want, "{p} {n}");
        }
    }

    #[test]
    fn patterns_scope_to_their_directory_and_the_last_match_decides() {
        let rules = IgnoreRules::new([
            (
                ".indexignore",
                "# a comment\n\n*.md\nREADME*\n/top.json\ndrafts/\n",
            ),
            ("pkg/.indexignore", "*.yaml\n!keep.yaml\n"),
            ("deep/.indexignore", "a/**/z.json\n"),
        ]);
        for (path, want) in [
            ("notes.md", true),
            ("pkg/sub/notes.md", true),
            ("README", true),
            ("top.json", true),
            ("pkg/top.json", false),
            ("drafts/x.json", true),
            ("pkg/drafts/x.json", true),
            ("drafts", false),
            ("pkg/catalog.yaml", true),
            ("pkg/keep.yaml", false),
            ("other/catalog.yaml", false),
            ("deep/a/z.json", true),
            ("deep/a/b/c/z.json", true),
            ("deep/a/b/y.json", false),
            ("a/z.json", false),
            ("pkg/catalog.json", false),
        ] {
            assert_eq!(rules.ignores(path), want, "{path}");
        }
    }

    #[test]
    fn a_deeper_file_overrides_its_parent() {
        let rules = IgnoreRules::new([
            ("a/.indexignore", "!x.json\n"),
            (".indexignore", "x.json\n"),
        ]);
        assert!(!rules.ignores("a/x.json"));
        assert!(rules.ignores("b/x.json"));
    }
}
