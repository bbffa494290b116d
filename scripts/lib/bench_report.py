#!/usr/bin/env python3
"""Turns scripts/bench.sh's measurements into one Markdown table (medians, ratios, targets),
prints it, and writes it between the bench markers of a Markdown file (creating the file, or
the markers at its end, when missing)."""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import load_json, write_block  # noqa: E402

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"
MB = 1_000_000
MIB = 1024 * 1024


def tool_version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
        return out.strip().splitlines()[0] if out.strip() else "?"
    except OSError:
        return "?"


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--mode", required=True)
    ap.add_argument("--rounds", type=int, required=True)
    ap.add_argument("--write", required=True)
    a = ap.parse_args()

    secs = defaultdict(list)
    rss = defaultdict(list)
    cpu = defaultdict(list)
    for line in open(a.results):
        step, who, rnd, s, kib, c = line.rstrip("\n").split("\t")
        if who == "serve-process":
            rss[who].append(int(kib) * 1024)
            continue
        secs[who].append(float(s))
        rss[who].append(int(kib) * 1024)
        cpu[who].append(float(c))
    med = {k: statistics.median(v) for k, v in secs.items()}
    corpus = json.load(open(a.corpus))
    unique = corpus["unique_blob_bytes"]
    summed = corpus["summed_blob_bytes"]
    pack = load_json(os.path.join(a.out_dir, f"ferry-pack-{a.rounds}.out")) or {}
    verify = load_json(os.path.join(a.out_dir, f"ferry-verify-{a.rounds}.out")) or {}
    bundle = pack.get("bundle_bytes", 0)
    checked = verify.get("bytes_checked", 0) or unique

    def cell_time(who):
        v = sorted(secs[who])
        return f"{med[who]:.2f} s", f"{v[0]:.2f}–{v[-1]:.2f}"

    def mbps(nbytes, who):
        return nbytes / med[who] / MB

    def cpu_time(who):
        return f"{statistics.median(cpu[who]):.2f} s"

    def peak(who):
        return f"{max(rss[who]) / MIB:.0f} MiB"

    def met(ok):
        return "yes" if ok else "**no**"

    rows = []

    def row(step, label, who, nbytes, vs="", target="", ok=None):
        t, span = cell_time(who)
        rows.append(
            [step, label, t, span, cpu_time(who), f"{mbps(nbytes, who):,.0f} MB/s" if nbytes else "",
             peak(who), vs, target, "" if ok is None else met(ok)]
        )

    # pack
    r_oci = med["skopeo-oci"] / med["ferry-pack"]
    r_dir = med["skopeo-dir"] / med["ferry-pack"]
    row("pack", "skopeo copy → `dir:` per image", "skopeo-dir", unique)
    row("pack", "skopeo copy → one shared `oci:` layout", "skopeo-oci", unique)
    row("pack", "**ferry pack** (chunk, compress, sign)", "ferry-pack", unique,
        f"{r_oci:.2f}× skopeo `oci:`; {r_dir:.2f}× skopeo `dir:`",
        "≥ 2× `oci:`, ≥ 4× `dir:`", r_oci >= 2 and r_dir >= 4)
    # verify
    r_ver = mbps(checked, "ferry-verify") / mbps(bundle or unique, "openssl")
    row("verify", "`openssl dgst -sha256` over the volumes", "openssl", bundle or unique)
    row("verify", "`sha256sum` over the volumes", "sha256sum", bundle or unique)
    row("verify", "**ferry verify** (signature, every blob)", "ferry-verify", checked,
        f"{r_ver:.2f}× openssl's throughput", "≥ 1.3×", r_ver >= 1.3)
    # push
    r_push = med["skopeo-push"] / med["ferry-push"]
    again = med["ferry-push-again"] / med["ferry-push"]
    row("push", "skopeo copy, image after image", "skopeo-push", unique)
    row("push", "**ferry push** into an empty registry", "ferry-push", unique,
        f"{r_push:.2f}× skopeo", "≥ 2×", r_push >= 2)
    row("push", "**ferry push** again (nothing to do)", "ferry-push-again", 0,
        f"{again * 100:.1f} % of the first push", "≤ 3 %", again <= 0.03)
    # pull (issue 15): 16 concurrent skopeo clients, every image, summed image bytes
    if "registry-pull" in med and "serve-pull" in med:
        r_pull = med["registry-pull"] / med["serve-pull"]
        row("pull", "16 × skopeo copy from `docker-registry` (after a push)", "registry-pull",
            summed)
        row("pull", "16 × skopeo copy from **ferry serve**", "serve-pull", summed,
            f"{r_pull:.2f}× the registry's throughput")
        rows[-1][6] = f"{max(rss['serve-process']) / MIB:.0f} MiB (ferry serve)"
    ferry_cmds = [k for k in rss if k.startswith("ferry-") or k == "serve-process"]
    max_rss = max(max(rss[k]) for k in ferry_cmds)
    ratio = bundle / unique if unique else 0

    header = ["Step", "Contender", "Median", "Range", "CPU (user+sys)", "Throughput", "Peak RSS",
              "Ratio", "Target", "Met"]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(["---", "---", "---:", "---", "---:", "---:", "---:", "---", "---", "---"]) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines.append(f"| size | bundle bytes / unique blob bytes | | | | | | "
                 f"{bundle / MB:,.0f} MB / {unique / MB:,.0f} MB = {ratio:.4f} "
                 f"({(ratio - 1) * 100:+.2f} %) | ≤ 1.01 (unique blobs + 1 %) | {met(ratio <= 1.01)} |")
    lines.append(f"| memory | largest peak RSS of any ferry command | | | | | "
                 f"{max_rss / MIB:.0f} MiB | | ≤ 128 MiB | {met(max_rss <= 128 * MIB)} |")

    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True, check=False).stdout.strip() or "?"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=False).stdout.strip()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    n_layers = len(corpus["layers"])
    block = [
        BEGIN,
        f"### `scripts/bench.sh{' --quick' if a.mode == 'quick' else ''}` — {now}",
        "",
        f"Machine: {os.cpu_count()} cores ({cpu_model()}), {tool_version(['skopeo', '--version'])}, "
        f"{tool_version(['openssl', 'version'])}, {tool_version(['docker-registry', '--version'])}; "
        f"ferry at {rev}{' (with local changes)' if dirty else ''}. "
        f"Medians of {a.rounds} rounds, contenders alternating, page cache warm, all on loopback.",
        "",
        f"Corpus ({a.mode}): {len(corpus['images'])} images, {n_layers} gzip layers from real files "
        f"of this machine, {corpus['unique_blobs']} unique blobs of {unique / MB:,.0f} MB "
        f"({summed / MB:,.0f} MB summed over images). Pack and push throughput is unique blob bytes "
        f"per second; verify throughput is the bytes each tool hashes (volume files for "
        f"openssl/sha256sum, blob bytes for ferry); pull throughput is the images' bytes "
        f"summed (every client fetches every blob of its image), and a pull row's peak RSS is "
        f"the largest skopeo client's, except ferry serve's row: the server's.",
        "",
        *lines,
        END,
    ]
    text = "\n".join(block) + "\n"
    print(text)
    write_block(a.write, BEGIN, END, text)


if __name__ == "__main__":
    main()
