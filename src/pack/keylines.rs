//! Where each key of a block-style YAML document sits: `mirror.platform.channels[0].minVersion`
//! → line 7. The YAML parser gives values without positions, so messages about a field that
//! parsed but cannot be honoured find its line here.
//!
//! Block mappings and sequences (`key:`, `- key:`, `-` on its own line) are followed by
//! indentation; flow collections and multi-line scalars are not looked into (a key not found
//! has no line, and the message then names the field alone).

use std::collections::HashMap;

struct Entry {
    indent: usize,
    segment: String,
    is_item: bool,
    items: usize,
}

/// The 1-based line of every block-mapping key, by dotted path with `[i]` for sequence items.
#[derive(Debug, Default)]
pub struct KeyLines(HashMap<String, usize>);

impl KeyLines {
    /// Scans `text`.
    pub fn scan(text: &str) -> KeyLines {
        let mut map = HashMap::new();
        let mut stack: Vec<Entry> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = strip_comment(raw);
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with("---") || trimmed.starts_with("...") {
                continue;
            }
            let mut col = line.len() - trimmed.len();
            let mut rest = trimmed;
            // Sequence items: `- `, possibly several on one line (`- - a`).
            while rest == "-" || rest.starts_with("- ") {
                while stack
                    .last()
                    .is_some_and(|e| e.indent > col || (e.indent == col && e.is_item))
                {
                    stack.pop();
                }
                let index = match stack.last_mut() {
                    Some(parent) => {
                        parent.items += 1;
                        parent.items - 1
                    }
                    None => 0,
                };
                stack.push(Entry {
                    indent: col,
                    segment: format!("[{index}]"),
                    is_item: true,
                    items: 0,
                });
                let after = rest[1..].trim_start();
                col += rest.len() - after.len();
                rest = after;
            }
            let Some(key) = block_key(rest) else {
                continue;
            };
            while stack.last().is_some_and(|e| e.indent >= col) {
                stack.pop();
            }
            stack.push(Entry {
                indent: col,
                segment: key.to_string(),
                is_item: false,
                items: 0,
            });
            let mut path = String::new();
            for e in &stack {
                if !e.is_item && !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&e.segment);
            }
            map.entry(path).or_insert(i + 1);
        }
        KeyLines(map)
    }

    /// The line of the key at `path`, e.g. `mirror.operators`.
    pub fn line(&self, path: &str) -> Option<usize> {
        self.0.get(path).copied()
    }
}

/// The line without a trailing `# comment` (a `#` at the start or after a blank, outside quotes).
fn strip_comment(line: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev.is_whitespace() => return &line[..i],
            _ => {}
        }
        prev = c;
    }
    line
}

/// The key of a `key: value` or `key:` line, unquoted; `None` for anything else.
fn block_key(rest: &str) -> Option<&str> {
    let (key, _) = if let Some(q) = rest.strip_prefix('"') {
        let end = q.find('"')?;
        (&q[..end], q[end + 1..].strip_prefix(':')?)
    } else if let Some(q) = rest.strip_prefix('\'') {
        let end = q.find('\'')?;
        (&q[..end], q[end + 1..].strip_prefix(':')?)
    } else {
        let i = rest
            .find(": ")
            .or_else(|| rest.ends_with(':').then(|| rest.len() - 1))?;
        let key = &rest[..i];
        if key.starts_with(['{', '[', '|', '>', '&', '*', '!']) || key.contains(['{', '[']) {
            return None;
        }
        (key, &rest[i + 1..])
    };
    Some(key.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_block_keys() {
        let text = "kind: ImageSetConfiguration # a comment\n\
                    mirror:\n\
                    \x20 platform:\n\
                    \x20   channels:\n\
                    \x20   - name: stable-4.16\n\
                    \x20     minVersion: 4.16.5\n\
                    \x20   - name: \"fast-4.16\"\n\
                    \x20     full: true\n\
                    \x20 additionalImages:\n\
                    \x20 - name: a # '#' quoted\n\
                    \x20 -\n\
                    \x20   name: b\n\
                    \x20 operators:\n\
                    \x20 - catalog: x\n\
                    \x20   packages:\n\
                    \x20   - name: p\n\
                    \x20     minBundle: y\n";
        let k = KeyLines::scan(text);
        assert_eq!(k.line("kind"), Some(1));
        assert_eq!(k.line("mirror.platform.channels"), Some(4));
        assert_eq!(k.line("mirror.platform.channels[0].name"), Some(5));
        assert_eq!(k.line("mirror.platform.channels[0].minVersion"), Some(6));
        assert_eq!(k.line("mirror.platform.channels[1].full"), Some(8));
        assert_eq!(k.line("mirror.additionalImages[0].name"), Some(10));
        assert_eq!(k.line("mirror.additionalImages[1].name"), Some(12));
        assert_eq!(k.line("mirror.operators"), Some(13));
        assert_eq!(
            k.line("mirror.operators[0].packages[0].minBundle"),
            Some(17)
        );
        assert_eq!(k.line("mirror.helm"), None);
    }
}
