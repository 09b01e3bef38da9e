#!/usr/bin/env python3
"""Top-1 rates of an `aircheck eval queries --details` run with 95 % Wilson intervals.

  query_intervals.py OUT/queries.tsv [--markdown]

Per (length, condition) cell: n, top-1 with the right track and offset (the eval's "correct":
rank 1), top-1 of the track alone (best candidate names the right track, any offset), detected
(rank 1 and accepted), speed-estimate error p50 / p95 of the correct answers, and full passes
per query (the `hypotheses` column; reports without these columns read as none measured and
one pass), and the misses answered at another offset of the right track at normal speed, with
how many of them are near copies of the true passage (`repeat_similarity_db` >= 20) and
how many hold its very samples (>= 60; a loop's copies), with top-1 counting those as right.
Negatives (non-indexed music, generated speech): false
matches (accepted) per length with their interval.

The Wilson score interval is used because the rates sit near 0 or 1, where the normal
approximation leaves [0, 1] or collapses to a point: for k successes in n,
  centre = (k + z^2/2) / (n + z^2),  half = z / (n + z^2) * sqrt(k (n - k) / n + z^2 / 4),
z = 1.96.
"""
import argparse
import csv
import math
import sys
from collections import defaultdict

Z = 1.96
# A miss at a repeat whose audio matches the true passage's to this many dB or more (the
# `repeat_similarity_db` column: the two differ by 1 % of their energy or less) is counted as
# a near copy: under the noise a query carries, no fingerprint tells them apart.
NEAR_COPY_DB = 20.0
# ... and at this many dB or more, the same samples (a loop's copies measure 99, the cap):
# the audio at the answer is the audio at the label, so the answer counts as right.
SAME_SAMPLES_DB = 60.0


def wilson(k, n):
    if n == 0:
        return float("nan"), float("nan")
    centre = (k + Z * Z / 2) / (n + Z * Z)
    half = Z / (n + Z * Z) * math.sqrt(k * (n - k) / n + Z * Z / 4)
    return max(0.0, centre - half), min(1.0, centre + half)


def pct(k, n):
    lo, hi = wilson(k, n)
    return f"{100 * k / n:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"


def percentile(v, q):
    if not v:
        return float("nan")
    v = sorted(v)
    pos = q * (len(v) - 1)
    i = int(math.floor(pos))
    j = min(i + 1, len(v) - 1)
    return v[i] + (v[j] - v[i]) * (pos - i)


def num(text):
    try:
        x = float(text)
    except ValueError:
        return float("nan")
    return x


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("queries_tsv")
    ap.add_argument("--markdown", action="store_true", help="Markdown tables")
    a = ap.parse_args()

    cells = defaultdict(lambda: {"n": 0, "top1": 0, "track": 0, "detected": 0, "speed": [],
                                 "passes": [], "repeat": 0, "near_copy": 0,
                                 "same": 0})
    negs = defaultdict(lambda: {"n": 0, "false": 0})
    with open(a.queries_tsv, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            length = float(row["length_s"])
            cond = row["condition"]
            accepted = row["accepted"] == "1"
            if cond in ("negative", "speech"):
                s = negs[(length, "music" if cond == "negative" else "speech")]
                s["n"] += 1
                s["false"] += accepted
                continue
            c = cells[(length, cond)]
            c["n"] += 1
            rank1 = row["rank"] == "1"
            c["top1"] += rank1
            c["track"] += row["best_track"] == row["track"]
            c["detected"] += rank1 and accepted
            speed_err = num(row.get("speed_err_pct") or "nan")
            if rank1 and not math.isnan(speed_err):
                c["speed"].append(speed_err)
            c["passes"].append(num(row.get("hypotheses") or "1"))
            similarity = num(row.get("repeat_similarity_db") or "nan")
            if not math.isnan(similarity):
                c["repeat"] += 1
                c["near_copy"] += similarity >= NEAR_COPY_DB
                c["same"] += similarity >= SAME_SAMPLES_DB

    sep = " | " if a.markdown else "  "
    head = ["length s", "condition", "n", "top-1 % [95 % CI]", "same samples counted %",
            "track only % [95 % CI]", "detected %", "speed err p50 / p95 %", "passes",
            "misses at a repeat (near copies, same samples)"]
    out = sys.stdout
    if a.markdown:
        out.write("| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n")
    else:
        out.write(sep.join(head) + "\n")
    for (length, cond), c in sorted(cells.items()):
        n = c["n"]
        row = [f"{length:g}", cond, str(n), pct(c["top1"], n),
               f"{100 * (c['top1'] + c['same']) / n:.1f}", pct(c["track"], n),
               f"{100 * c['detected'] / n:.1f}",
               f"{percentile(c['speed'], 0.5):.3f} / {percentile(c['speed'], 0.95):.3f}",
               f"{sum(c['passes']) / n:.2f}", f"{c['repeat']} ({c['near_copy']}, {c['same']})"]
        out.write(("| " + " | ".join(row) + " |" if a.markdown else sep.join(row)) + "\n")
    out.write("\n")
    head = ["length s", "negatives", "n", "false matches", "rate % [95 % CI]"]
    if a.markdown:
        out.write("| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n")
    else:
        out.write(sep.join(head) + "\n")
    for (length, kind), s in sorted(negs.items()):
        row = [f"{length:g}", kind, str(s["n"]), str(s["false"]), pct(s["false"], s["n"])]
        out.write(("| " + " | ".join(row) + " |" if a.markdown else sep.join(row)) + "\n")


if __name__ == "__main__":
    main()
