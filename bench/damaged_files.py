#!/usr/bin/env python3
"""Queries of damaged recordings: does the answer keep the recording's own time?

  damaged_files.py --index I --refs DIR [--n 20] [--bytes 30] [--formats flac,opus,mp3]
                   [--aircheck BIN ...] [--work DIR]

For each of the first N references (sorted), 60 s from 30 s in are encoded with the ffmpeg
tool in each format, then BYTES random bytes (a fixed seed per file) are overwritten between
30 % and 50 % of the file: damage before the longer part of the recording. Each damaged file
is queried whole with every `aircheck` binary given; a query is right when it names the
track with its offset within 20 ms of 30 s and its speed within 0.2 % of 1 (the part after
the damage, matched at the recording's own time, explains more than the part before it).
Prints, per binary and format: right, wrong offset or speed, no match, and the damage reported.
"""
import argparse
import json
import os
import random
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", required=True)
    ap.add_argument("--refs", required=True)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--bytes", type=int, default=30)
    ap.add_argument("--formats", default="flac,opus,mp3")
    ap.add_argument("--aircheck", action="append", default=[])
    ap.add_argument("--work", default="/tmp/aircheck-damaged")
    a = ap.parse_args()
    bins = a.aircheck or ["aircheck"]
    os.makedirs(a.work, exist_ok=True)
    refs = sorted(f for f in os.listdir(a.refs) if not f.startswith("."))[: a.n]
    rows = {}
    for k, ref in enumerate(refs):
        stem = os.path.splitext(ref)[0]
        for fmt in a.formats.split(","):
            out = os.path.join(a.work, f"{stem}.{fmt}")
            codec = {"flac": ["-c:a", "flac"], "opus": ["-c:a", "libopus", "-b:a", "96k"],
                     "mp3": ["-c:a", "libmp3lame", "-b:a", "128k"]}[fmt]
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", "30", "-t", "60", "-i",
                            os.path.join(a.refs, ref)] + codec + [out], check=True)
            data = bytearray(open(out, "rb").read())
            rng = random.Random(1000 * k + len(fmt))
            for _ in range(a.bytes):
                data[rng.randrange(len(data) * 3 // 10, len(data) // 2)] = rng.randrange(256)
            open(out, "wb").write(data)
            for b in bins:
                r = subprocess.run([b, "--index", a.index, "query", "--json", out],
                                   capture_output=True, text=True)
                if r.returncode != 0 or not r.stdout.strip():
                    verdict, lost = "failed", 0.0
                else:
                    j = json.loads(r.stdout)
                    lost = j.get("lost_s", 0.0)
                    m = j["matches"]
                    if not m:
                        verdict = "no match"
                    elif (m[0]["title"] == stem and abs(m[0]["offset_s"] - 30.0) <= 0.02
                          and abs(m[0]["speed"] - 1.0) <= 0.002):
                        verdict = "right"
                    else:
                        verdict = "wrong offset/speed" if m[0]["title"] == stem else "wrong track"
                cell = rows.setdefault((b, fmt), {"n": 0, "lost": 0.0, "named": 0})
                cell["n"] += 1
                cell[verdict] = cell.get(verdict, 0) + 1
                cell["lost"] += lost
                cell["named"] += "damaged:" in r.stderr
    print("| aircheck | format | files | right | wrong offset/speed | no match | named damaged | lost (mean) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for (b, fmt), c in rows.items():
        print(f"| {b} | {fmt} | {c['n']} | {c.get('right', 0)} | {c.get('wrong offset/speed', 0)} | "
              f"{c.get('no match', 0)} | {c['named']} | {c['lost'] / c['n']:.2f} s |")


if __name__ == "__main__":
    sys.exit(main())
