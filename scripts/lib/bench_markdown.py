"""Writes a benchmark report's block into a Markdown file, between its begin and end markers."""

import os
import re


def write_block(path, begin, end, text):
    """Replaces the block between `begin` and `end` in `path` with `text` (which holds both
    markers), or appends it when the file has no such block; creates the file if needed."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    old = open(path).read() if os.path.exists(path) else "# Performance\n\n"
    if begin in old and end in old:
        new = re.sub(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", lambda _: text, old,
                     flags=re.S)
    else:
        new = old.rstrip("\n") + "\n\n" + text
    with open(path, "w") as f:
        f.write(new)
