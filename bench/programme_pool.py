#!/usr/bin/env python3
"""Pools the per-airing figures of several `aircheck eval programme` runs.

    python3 bench/programme_pool.py OUT1 OUT2 ...            # one folder per seed
    python3 bench/programme_pool.py --diff A1,A2,... B1,B2,...  # two builds, airing by airing

Each OUT is the --out folder of one run (its programme.json). Prints recall, precision, false
airings and fragments summed over the runs, then start/end errors by edge kind (cut or
crossfade) and detection latency by start kind, with plays more than 1 % off normal speed
apart (and all of them together: "any speed"), as p50 / p95 / p99 (linear interpolation) and the count within 250 ms (edges) or 5 s
(latency). Crossfade latency counts from the fade's first sample, as the truth does. Latency
at cuts within 1 % of normal speed is also split by whether speech is laid over the play's
first seconds (the `voice-over` effect of its item in the run's truth.json), and for those
also counted from where the speech ends (`voice_over_s`; negative: announced while the speech
still ran). Also counts the
`airing_start` events (from each run's airings.jsonl) whose reference start is more than 0.1 s
off the true play's at that point: a looping track's airing opened on a repeat of its audio
(its `airing_end` carries the offset adopted later).

--diff compares two sets of runs of the same seeds, airing by airing, and lists each airing
whose start, end or latency moved by more than 10 ms, or that one build found and the other not.

--list names the airings behind the false-airing and fragment counts, from each run's
airings.jsonl and truth.json: an `airing_end` with no item of its track around its start
(2 s of slack) is listed as false, with the items it overlapped; two or more around one item
as that item's pieces. (By overlap with the truth's items: close to the eval's own counts,
not the same rule.)

    python3 bench/programme_pool.py --list OUT1 OUT2 ...
"""

import json
import math
import sys

from query_intervals import percentile as pct


def load(folders):
    runs = []
    for f in folders:
        with open(f.rstrip("/") + "/programme.json") as fh:
            run = json.load(fh)
        try:
            with open(f.rstrip("/") + "/truth.json") as fh:
                truth = json.load(fh)
            run["truth_items"] = truth["items"]
            run["truth_airings_list"] = truth["airings"]
        except FileNotFoundError:
            run["truth_items"] = run["truth_airings_list"] = None
        try:
            with open(f.rstrip("/") + "/airings.jsonl") as fh:
                run["events"] = [json.loads(line) for line in fh if line.strip()]
        except FileNotFoundError:
            run["events"] = None
        runs.append(run)
    return runs


def start_offsets(runs):
    """(airing_start events matched to a true airing, those whose reference offset is more than
    0.1 s off the truth's line at their start). None when a run lacks its files."""
    matched = wrong = 0
    for r in runs:
        if r["events"] is None or r["truth_airings_list"] is None:
            return None
        for e in r["events"]:
            if e.get("type") != "airing_start":
                continue
            for a in r["truth_airings_list"]:
                if (a["track_id"] == e["track_id"] and a["start_s"] - 3 < e["start_pos_s"]
                        < a["end_s"]):
                    matched += 1
                    ref = a["ref_start_s"] + (e["start_pos_s"] - a["start_s"]) * a["speed"]
                    wrong += abs(e["ref_start_s"] - ref) > 0.1
                    break
    return matched, wrong


def voice_over(run, a):
    """(Whether the truth item of airing `a` has speech laid over it, for how many seconds of
    its start or None when the truth does not say); None when unknown."""
    if run["truth_items"] is None:
        return None
    for it in run["truth_items"]:
        if it.get("source") == a["ref_id"] and abs(it["start_s"] - a["start_s"]) < 0.05:
            return "voice-over" in (it.get("effects") or ""), it.get("voice_over_s")
    return None


def num(x):
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def summary(runs):
    tot = {k: sum(r[k] for r in runs) for k in
           ("truth_airings", "found", "detected_airings", "correct", "false_airings", "fragments")}
    hours = sum(r["programme_s"] for r in runs) / 3600
    print(f"runs {len(runs)} (seeds {', '.join(str(r['seed']) for r in runs)}), {hours:.2f} h")
    print(f"recall {tot['found']}/{tot['truth_airings']}"
          f" ({100 * tot['found'] / max(1, tot['truth_airings']):.1f} %), precision"
          f" {tot['correct']}/{tot['detected_airings']}, false airings {tot['false_airings']},"
          f" fragments {tot['fragments']}")
    offsets = start_offsets(runs)
    if offsets is not None:
        print(f"airing_start at a wrong reference offset (more than 0.1 s off the play's):"
              f" {offsets[1]} of {offsets[0]}")
    groups = {}
    for r in runs:
        for a in r["airings"]:
            if not a["found"]:
                continue
            off = "" if abs(a["speed"] - 1) <= 0.01 else ", >1 % off speed"
            if num(a.get("start_err_s")):
                groups.setdefault(f"start at {a['start_edge']}s{off}", []).append(
                    abs(a["start_err_s"]))
                groups.setdefault(f"start at {a['start_edge']}s, any speed", []).append(
                    abs(a["start_err_s"]))
            if num(a.get("end_err_s")):
                groups.setdefault(f"end at {a['end_edge']}s{off}", []).append(abs(a["end_err_s"]))
                groups.setdefault(f"end at {a['end_edge']}s, any speed", []).append(
                    abs(a["end_err_s"]))
            if num(a.get("latency_s")):
                groups.setdefault("latency, all", []).append(a["latency_s"])
                groups.setdefault(f"latency at {a['start_edge']}{off}", []).append(a["latency_s"])
                groups.setdefault(f"latency at {a['start_edge']}, any speed", []).append(
                    a["latency_s"])
                vo = voice_over(r, a)
                if a["start_edge"] == "cut" and not off and vo is not None:
                    kind = "voice-over" if vo[0] else "no voice-over"
                    groups.setdefault(f"latency at cut, {kind}", []).append(a["latency_s"])
                    if vo[0] and num(vo[1]):
                        groups.setdefault("latency at cut, voice-over, from the speech's end",
                                          []).append(a["latency_s"] - vo[1])
    print("| measure | n | p50 | p95 | p99 | max | within |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for k in sorted(groups):
        v = groups[k]
        lim = 5.0 if k.startswith("latency") else 0.25
        within = sum(1 for x in v if (x if k.startswith("latency") else abs(x)) <= lim)
        print(f"| {k} | {len(v)} | {pct(v, .5):.2f} | {pct(v, .95):.2f} | {pct(v, .99):.2f} |"
              f" {max(v):.2f} | {within} of {len(v)} ({lim:g} s) |")


def diff(a_runs, b_runs):
    for ra, rb in zip(a_runs, b_runs):
        assert ra["seed"] == rb["seed"], "the two sets must hold the same seeds, in order"
        for x, y in zip(ra["airings"], rb["airings"]):
            moved = []
            if x["found"] != y["found"]:
                moved.append(f"found {x['found']} -> {y['found']}")
            for k in ("start_err_s", "end_err_s", "latency_s"):
                u, w = x.get(k), y.get(k)
                if num(u) and num(w) and abs(u - w) > 0.01:
                    moved.append(f"{k} {u:+.2f} -> {w:+.2f}")
            if moved:
                print(f"seed {ra['seed']} {x['ref_id']} at {x['start_s']:.1f} s"
                      f" (speed {x['speed']:.3f}, {x['start_edge']}): {'; '.join(moved)}")
    for ra, rb in zip(a_runs, b_runs):
        for k in ("false_airings", "fragments", "found"):
            if ra[k] != rb[k]:
                print(f"seed {ra['seed']}: {k} {ra[k]} -> {rb[k]}")


def listing(runs):
    for r in runs:
        if r["events"] is None or r["truth_items"] is None:
            print(f"seed {r['seed']}: no airings.jsonl or truth.json")
            continue
        ends = [e for e in r["events"] if e.get("type") == "airing_end"]
        items = r["truth_items"]

        def item_of(e):
            for i in items:
                if i.get("source") == e["title"] and i["start_s"] - 2 < e["start_pos_s"] < i["end_s"]:
                    return i
            return None

        pieces = {}
        for e in ends:
            i = item_of(e)
            desc = (f"{e['title']} {e['start_pos_s']:.2f}-{e['end_pos_s']:.2f} s, ref"
                    f" {e['ref_start_s']:.2f}-{e['ref_end_s']:.2f} s, speed {e['speed']:.3f}")
            if i is None:
                over = [f"{x['kind']} {x.get('source') or ''} {x['start_s']:.1f}-{x['end_s']:.1f} s"
                        f" speed {x['speed']:.3f} {x.get('effects', '').strip()}".rstrip()
                        for x in items
                        if x["start_s"] < e["end_pos_s"] and x["end_s"] > e["start_pos_s"]]
                print(f"seed {r['seed']} false: {desc}; over: {'; '.join(over)}")
            else:
                pieces.setdefault(id(i), (i, []))[1].append(desc)
        for i, descs in pieces.values():
            if len(descs) > 1:
                what = " ".join(x for x in (f"speed {i['speed']:.3f}",
                                            i.get("effects", "").strip()) if x)
                print(f"seed {r['seed']} {len(descs)} pieces of {i['source']}"
                      f" {i['start_s']:.2f}-{i['end_s']:.2f} s ({what}): {' | '.join(descs)}")


def main(argv):
    if len(argv) == 4 and argv[1] == "--diff":
        diff(load(argv[2].split(",")), load(argv[3].split(",")))
    elif len(argv) >= 3 and argv[1] == "--list":
        listing(load(argv[2:]))
    elif len(argv) >= 2 and not argv[1].startswith("-"):
        summary(load(argv[1:]))
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
