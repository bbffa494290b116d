"""What the benchmark report scripts share: reading the measurements and writing a report's
block into a Markdown file between its markers."""

import json
import os
import re
import statistics
from collections import defaultdict


def load_json(path):
    """The JSON in `path`, or None when it is missing or not JSON."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


class Results:
    """The timed runs of a results file (step, contender, round, seconds, peak KiB, CPU
    seconds per line, tab-separated), by contender."""

    def __init__(self, path):
        self.secs = defaultdict(list)
        self.rss = defaultdict(list)
        self.cpus = defaultdict(list)
        for line in open(path):
            _step, who, _rnd, s, kib, c = line.rstrip("\n").split("\t")
            self.secs[who].append(float(s))
            self.rss[who].append(int(kib) * 1024)
            self.cpus[who].append(float(c))

    def med(self, who):
        """Median wall seconds, or None."""
        return statistics.median(self.secs[who]) if self.secs.get(who) else None

    def cpu(self, who):
        """Median CPU seconds, or None."""
        return statistics.median(self.cpus[who]) if self.cpus.get(who) else None

    def peak(self, who):
        """Largest peak RSS in bytes, or None when none was measured."""
        return max(self.rss[who]) if self.rss.get(who) and max(self.rss[who]) > 0 else None


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
