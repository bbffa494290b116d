#!/usr/bin/env python3
"""Turns the large-corpus half of `scripts/bench.sh --scale` into one Markdown table per run
(time, throughput and peak RSS of every step at each size; root size and bundle overhead; how
time per byte and peak RSS grow from the smallest to the largest size) and writes it between
the bench-large markers of a Markdown file."""

import argparse
import datetime
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import Results, load_json, write_block  # noqa: E402

BEGIN = "<!-- bench-large:begin -->"
END = "<!-- bench-large:end -->"
MB = 1_000_000
MIB = 1024 * 1024
RSS_LIMIT = 128 * MIB
LINEAR = 1.25

# (step, label, throughput over: "unique" blob bytes, "pulled" image bytes, or None)
STEPS = [
    ("pack", "ferry pack", "unique"),
    ("verify", "ferry verify", "unique"),
    ("push", "ferry push (empty registry)", "unique"),
    ("push-again", "ferry push again (all present)", None),
    ("inspect", "ferry inspect (read + check the root)", None),
    ("serve-start", "ferry serve: start to listening", None),
    ("serve", "ferry serve: every image, 8 skopeo clients", "pulled"),
]


def read_int(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--sizes", required=True)
    ap.add_argument("--rounds", type=int, required=True)
    ap.add_argument("--write", required=True)
    a = ap.parse_args()
    sizes = a.sizes.split()

    results = Results(a.results)
    med, cpu, peak = results.med, results.cpu, results.peak

    corpus = {s: load_json(os.path.join(a.out_dir, f"large-{s}.json")) or {} for s in sizes}
    unique = {s: corpus[s].get("unique_blob_bytes") for s in sizes}
    pulled = {s: read_int(os.path.join(a.out_dir, f"large-pulled-bytes-{s}")) for s in sizes}
    first, last = sizes[0], sizes[-1]

    lines = []
    header = ["Step"] + [f"{s} ({unique[s] / MB:,.0f} MB)" if unique[s] else s for s in sizes]
    header += [f"CPU per byte {last} / {first}", "peak RSS " + f"{last} / {first}"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * len(sizes) + ["---:", "---:"]) + "|")
    linear = []
    rss_growth = []
    max_rss = 0
    for step, label, over in STEPS:
        cells = []
        for s in sizes:
            who = f"{step}-large-{s}"
            t, c, p = med(who), cpu(who), peak(who)
            if p:
                max_rss = max(max_rss, p)
            if t is None:
                cells.append("–")
                continue
            cell = f"{t:.2f} s"
            if c:
                cell += f" (CPU {c:.2f} s)"
            base = {"unique": unique, "pulled": pulled}.get(over, {}).get(s)
            if base and t > 0:
                cell += f", {base / MB / t:,.0f} MB/s"
            if p:
                cell += f", {p / MIB:.0f} MiB"
            cells.append(cell)
        growth, rgrowth = "", ""
        c0, c1 = cpu(f"{step}-large-{first}"), cpu(f"{step}-large-{last}")
        b0 = {"unique": unique, "pulled": pulled}.get(over, {}).get(first)
        b1 = {"unique": unique, "pulled": pulled}.get(over, {}).get(last)
        if over and c0 and c1 and b0 and b1 and first != last:
            g = (c1 / b1) / (c0 / b0)
            growth = f"{g:.2f}×"
            if step != "serve":
                linear.append(g <= LINEAR)
        p0, p1 = peak(f"{step}-large-{first}"), peak(f"{step}-large-{last}")
        if p0 and p1 and first != last:
            rgrowth = f"{p1 / p0:.2f}×"
            rss_growth.append((label, p1 / p0))
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {growth} | {rgrowth} |")

    def per_size(fn):
        return " | ".join(fn(s) for s in sizes)

    def layers(s):
        c = corpus[s]
        if not c:
            return "–"
        return (f"{c['layers']} layers ({c['tar_layers']} plain tar), "
                f"{c['smallest_layer_bytes'] / MB:,.1f}–{c['largest_layer_bytes'] / MB:,.0f} MB")

    def root_size(s):
        ins = load_json(os.path.join(a.out_dir, f"inspect-large-{s}-{a.rounds}.out")) or {}
        b = ins.get("root_bytes")
        return f"{b / 1000:,.0f} KB" if b else "–"

    def overhead(s):
        pack = load_json(os.path.join(a.out_dir, f"pack-large-{s}-{a.rounds}.out")) or {}
        bundle, uniq = pack.get("bundle_bytes"), pack.get("unique_blob_bytes")
        if not bundle or not uniq:
            return "–"
        return f"{bundle / MB:,.0f} MB / {uniq / MB:,.0f} MB = {bundle / uniq:.3f}"

    lines.append("| layers of the corpus | " + per_size(layers) + " | | |")
    lines.append("| image bytes pulled from serve | "
                 + per_size(lambda s: f"{pulled[s] / MB:,.0f} MB" if pulled[s] else "–")
                 + " | | |")
    lines.append("| root.json size | " + per_size(root_size) + " | | |")
    lines.append("| bundle bytes / unique blob bytes | " + per_size(overhead) + " | | |")

    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True, check=False).stdout.strip() or "?"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=False).stdout.strip()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    c = corpus[last] or {}
    grown = [f"{label} {g:.2f}×" for label, g in rss_growth if g > LINEAR]
    block = [
        BEGIN,
        f"### `scripts/bench.sh --scale`, large corpus — {now}",
        "",
        f"Machine: {os.cpu_count()} cores; ferry at {rev}{' (with local changes)' if dirty else ''}; "
        f"{'median of ' + str(a.rounds) + ' rounds' if a.rounds > 1 else 'one round'} per cell. "
        f"Large corpus (`ferry-corpus --large SIZE`, seed `{c.get('seed', '?')}`): "
        f"{len(c.get('images', []))} images "
        f"({sum(1 for i in c.get('images', []) if i['is_index'])} multi-arch indexes) on 4 "
        "shared bases, applications in four versions sharing long runs, packed from one OCI "
        "layout. Each cell: median wall time (median CPU time, user + sys), throughput "
        "(unique blob bytes per wall second; serve: the bytes of every image pulled), peak "
        "RSS. The last two columns compare the largest size with the smallest: CPU time per "
        "byte (1.00× is linear in bytes) and peak RSS (1.00× is flat in layer size).",
        "",
        *lines,
        "",
        f"- CPU time linear in bytes from {first} to {last} (per byte ≤ {LINEAR}×) for pack, "
        f"verify and push: {'yes' if linear and all(linear) else '**no**' if linear else '–'}",
        f"- largest peak RSS of any ferry command: {max_rss / MIB:.0f} MiB (≤ 128 MiB: "
        f"{'yes' if max_rss <= RSS_LIMIT else '**no**'})",
        f"- peak RSS grown more than {LINEAR}× from {first} to {last}: "
        f"{', '.join(grown) if grown else 'none'}",
        END,
    ]
    text = "\n".join(block) + "\n"
    print(text)
    write_block(a.write, BEGIN, END, text)


if __name__ == "__main__":
    main()
