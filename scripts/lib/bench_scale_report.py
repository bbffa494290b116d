#!/usr/bin/env python3
"""Turns `scripts/bench.sh --scale`'s measurements into one Markdown table per run (time,
per-image time, peak RSS at each size; root size and bundle overhead; the growth of the
per-image cost from the smallest to the largest size against the 25 % bound) and writes it
between the bench-scale markers of a Markdown file."""

import argparse
import datetime
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import Results, load_json, write_block  # noqa: E402

BEGIN = "<!-- bench-scale:begin -->"
END = "<!-- bench-scale:end -->"
MB = 1_000_000
MIB = 1024 * 1024
RSS_LIMIT = 128 * MIB
ROOT_LOAD_LIMIT = 1.0
FLAT = 1.25

STEPS = [
    ("pack", "ferry pack", True),
    ("verify", "ferry verify", True),
    ("push", "ferry push (empty registry)", True),
    ("push-again", "ferry push again (all present)", True),
    ("inspect", "ferry inspect (read + check the root)", False),
    ("serve-start", "ferry serve: start to listening", False),
    ("serve", "ferry serve: 64 images, 16 skopeo clients", False),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--sizes", required=True)
    ap.add_argument("--rounds", type=int, required=True)
    ap.add_argument("--write", required=True)
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split()]

    results = Results(a.results)
    med, cpu, peak = results.med, results.cpu, results.peak

    corpus = json.load(open(a.corpus))
    lines = []
    header = ["Step"] + [f"{n:,} images" for n in sizes] + [
        f"per image {sizes[-1]:,} / {sizes[0]:,}: wall, CPU", "Flat (≤ 1.25×)"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * len(sizes) + ["---:", "---"]) + "|")
    verdicts = []
    max_rss = 0
    for step, label, per_image in STEPS:
        cells = []
        for n in sizes:
            who = f"{step}-{n}"
            t = med(who)
            p = peak(who)
            if p:
                max_rss = max(max_rss, p)
            if t is None:
                cells.append("–")
                continue
            cell = f"{t:.2f} s"
            c = cpu(who)
            if c:
                cell += f" (CPU {c:.2f} s)"
            if per_image:
                cell += f", {t / n * 1000:.2f} ms/img"
            if p:
                cell += f", {p / MIB:.0f} MiB"
            cells.append(cell)
        growth, flat = "", ""
        t0, t1 = med(f"{step}-{sizes[0]}"), med(f"{step}-{sizes[-1]}")
        c0, c1 = cpu(f"{step}-{sizes[0]}"), cpu(f"{step}-{sizes[-1]}")
        if per_image and t0 and t1:
            g = (t1 / sizes[-1]) / (t0 / sizes[0])
            gc = (c1 / sizes[-1]) / (c0 / sizes[0]) if c0 and c1 else None
            growth = f"{g:.2f}×, " + (f"{gc:.2f}×" if gc else "–")
            ok = g <= FLAT or (gc is not None and gc <= FLAT)
            flat = "yes" if g <= FLAT else ("CPU only" if ok else "**no**")
            verdicts.append(ok)
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {growth} | {flat} |")

    # Root and bundle sizes, from the pack summaries and inspect.
    def size_cells(fn):
        out = []
        for n in sizes:
            pack = load_json(os.path.join(a.out_dir, f"pack-{n}-{a.rounds}.out")) or {}
            out.append(fn(n, pack))
        return out

    def root_size(n, _pack):
        ins = load_json(os.path.join(a.out_dir, f"inspect-{n}-{a.rounds}.out")) or {}
        b = ins.get("root_bytes")
        return f"{b / MB:.2f} MB ({b / n:,.0f} B/img)" if b else "–"

    def overhead(n, pack):
        bundle, unique = pack.get("bundle_bytes"), pack.get("unique_blob_bytes")
        if not bundle or not unique:
            return "–"
        return f"{bundle / MB:,.1f} MB / {unique / MB:,.1f} MB = {bundle / unique:.3f}"

    lines.append("| root.json size | " + " | ".join(size_cells(root_size)) + " | | |")
    lines.append("| bundle bytes / unique blob bytes | " + " | ".join(size_cells(overhead))
                 + " | | |")
    load = med(f"inspect-{sizes[-1]}")
    load_ok = load is not None and load < ROOT_LOAD_LIMIT
    rss_ok = max_rss <= RSS_LIMIT

    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True, check=False).stdout.strip() or "?"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=False).stdout.strip()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    n_index = sum(1 for i in corpus["images"][: sizes[-1]] if i["is_index"])
    block = [
        BEGIN,
        f"### `scripts/bench.sh --scale` — {now}",
        "",
        f"Machine: {os.cpu_count()} cores; ferry at {rev}{' (with local changes)' if dirty else ''}; "
        f"{'median of ' + str(a.rounds) + ' rounds' if a.rounds > 1 else 'one round'} per cell. "
        f"Scale corpus (`ferry-corpus --scale`): the first N of {len(corpus['images']):,} "
        f"synthetic images ({n_index} of the first {sizes[-1]:,} are multi-arch indexes) on "
        f"16 shared base stacks, {corpus['unique_blobs']:,} blobs of "
        f"{corpus['unique_blob_bytes'] / MB:,.0f} MB in all, packed from one OCI layout. Each "
        "cell: median wall time (median CPU time, user + sys), wall time per image, peak RSS. "
        "Wall time depends on what else the machine runs; CPU time is the steadier measure "
        "when it is shared; a step whose wall time per image grew but "
        "whose CPU time per image did not is marked \"CPU only\".",
        "",
        *lines,
        "",
        f"- per-image cost flat from {sizes[0]:,} to {sizes[-1]:,} images (≤ 1.25×) for pack, "
        f"verify, push and re-push: {'yes' if verdicts and all(verdicts) else '**no**'}",
        f"- largest peak RSS of any ferry command: {max_rss / MIB:.0f} MiB (≤ 128 MiB: "
        f"{'yes' if rss_ok else '**no**'})",
        f"- root read and checked (`ferry inspect`) at {sizes[-1]:,} images: "
        f"{'–' if load is None else f'{load:.2f} s'} (< 1 s: {'yes' if load_ok else '**no**'})",
        END,
    ]
    text = "\n".join(block) + "\n"
    print(text)
    write_block(a.write, BEGIN, END, text)


if __name__ == "__main__":
    main()
