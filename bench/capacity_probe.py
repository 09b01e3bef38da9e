#!/usr/bin/env python3
"""Helper of bench/capacity.sh: makes the 48 kHz stereo inputs, runs aircheckd once while
sampling /proc, and turns the runs into Markdown tables.

  capacity_probe.py inputs  --refs A/refs.tsv [--refs NA/refs.tsv] --count M --seconds L --out DIR
  capacity_probe.py run     --aircheckd BIN --index DIR --inputs DIR --n N --pace fast|realtime
                            [--seconds T] [--warmup W] [--cpus LIST] [--threads 1]
                            [--progress-s 5] [--nice 0] --out RUNDIR
  capacity_probe.py table   RESULTS.jsonl
  capacity_probe.py brief   < one result line

`inputs` cuts M consecutive, non-overlapping L-second segments from the concatenation of the
listed references (in refs.tsv order) and writes each as DIR/in-NNNN.flac, 48 kHz stereo (the
mono reference on both channels), with DIR/inputs.tsv naming the references each one contains.
Existing files are kept.

`run` writes RUNDIR/aircheck.yaml (the index, `threads`, a JSON-lines sink, and N file sources
on the first N inputs, one each, all different), starts `taskset -c LIST aircheckd --config
RUNDIR/aircheck.yaml`, writes its events to RUNDIR/events.jsonl and prints one JSON object on
stdout. CPU is counted for the whole process (every thread: the
worker, the N capture threads that decode and resample, the sink and control threads):
- pace=fast: the child's rusage (user + sys) over the whole run, and the audio it processed
  (sum of source_finished pos_s).
- pace=realtime: the process's utime + stime from /proc/PID/stat between `warmup` seconds after
  the daemon logged "up:" and `seconds` after it, as a share of one core; then SIGTERM. Memory
  (VmRSS, RssAnon, RssFile, VmHWM) is read just before SIGTERM. The busiest thread (the worker)
  is reported on its own. Other load on the pinned CPUs is the CPUs' busy time (/proc/stat)
  minus the process's.
Events checked: overflow (must be 0), source_down, airing_start and whether its title is one of
the references in that input, and the processing delay of each airing_start
(emitted_utc - detected_utc) and, with progress_interval_s (--progress-s, default 5), the lag of
every airing_progress event (emitted_utc - pos_utc): how far the worker runs behind the audio.
Both count only events emitted after the warm-up (realtime only). lag_growth_s is the median lag
of the last third of the window minus that of the first third: about 0 while the worker keeps
up, (demand - 1) x window when it needs more than the core.
`--nice N` runs aircheckd under `nice -n N`: on a shared machine a negative value keeps other
work from taking the pinned CPU (its share is still reported as other load).
"""
import argparse
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


# ---------------------------------------------------------------------------------------------
# inputs


def read_refs(tsv):
    base = os.path.dirname(os.path.abspath(tsv))
    out = []
    with open(tsv) as f:
        header = f.readline().rstrip("\n").split("\t")
        ii, ip, idur = header.index("id"), header.index("path"), header.index("duration")
        for line in f:
            c = line.rstrip("\n").split("\t")
            if len(c) <= max(ii, ip, idur):
                continue
            out.append((c[ii], os.path.join(base, c[ip]), float(c[idur])))
    return out


def make_one(job):
    path, items, seconds = job
    if os.path.exists(path):
        return
    lst = path + ".txt"
    with open(lst, "w") as f:
        for _, ref, a, b in items:
            f.write("file '%s'\ninpoint %.3f\noutpoint %.3f\n" % (ref.replace("'", "'\\''"), a, b))
    tmp = path + ".part.flac"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "concat", "-safe",
                    "0", "-i", lst, "-t", "%.3f" % seconds, "-ar", "48000", "-ac", "2", "-c:a",
                    "flac", tmp], check=True)
    os.replace(tmp, path)
    os.remove(lst)


def cmd_inputs(a):
    refs = [r for tsv in a.refs for r in read_refs(tsv)]
    total = sum(r[2] for r in refs)
    if total < a.count * a.seconds:
        sys.exit("capacity_probe: the references hold %.0f s, %d inputs of %.0f s need %.0f s"
                 % (total, a.count, a.seconds, a.count * a.seconds))
    os.makedirs(a.out, exist_ok=True)
    jobs, rows = [], []
    k, pos = 0, 0.0  # current reference and position inside it
    for i in range(a.count):
        need, items = a.seconds, []
        while need > 1e-6:
            rid, path, dur = refs[k]
            take = min(need, dur - pos)
            if take > 0.5:
                items.append((rid, path, pos, pos + take))
            need -= take
            pos += take
            if pos >= dur - 1e-6:
                k, pos = k + 1, 0.0
        name = os.path.join(a.out, "in-%04d.flac" % i)
        jobs.append((name, items, a.seconds))
        rows.append("%s\t%s\n" % (os.path.basename(name), ",".join(x[0] for x in items)))
    tsv = os.path.join(a.out, "inputs.tsv")
    with open(tsv + ".part", "w") as f:  # complete once every input exists
        f.write("file\trefs\n")
        f.writelines(rows)
    with ThreadPoolExecutor(max_workers=a.jobs) as ex:
        list(ex.map(make_one, jobs))
    os.replace(tsv + ".part", tsv)
    print("%d inputs of %.0f s (48 kHz stereo FLAC) in %s" % (a.count, a.seconds, a.out))


# ---------------------------------------------------------------------------------------------
# run


def proc_cpu_ticks(pid, tid=None):
    path = "/proc/%d/stat" % pid if tid is None else "/proc/%d/task/%d/stat" % (pid, tid)
    with open(path) as f:
        s = f.read()
    fields = s[s.rfind(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, in ticks


def thread_ticks(pid):
    out = {}
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            out[int(t)] = proc_cpu_ticks(pid, int(t))
        except OSError:
            pass
    return out


def cpus_busy(cpus):
    """Busy and total jiffies of the listed CPUs, from /proc/stat."""
    busy = total = 0
    with open("/proc/stat") as f:
        for line in f:
            name = line.split()[0]
            if not name.startswith("cpu") or name == "cpu":
                continue
            if int(name[3:]) not in cpus:
                continue
            v = [int(x) for x in line.split()[1:]]
            idle = v[3] + v[4]
            total += sum(v[:8])
            busy += sum(v[:8]) - idle
    return busy, total


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "Threads"):
                out[k] = int(v.split()[0])
    return out


def parse_cpus(text):
    cpus = set()
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-")
            cpus.update(range(int(lo), int(hi) + 1))
        elif part:
            cpus.add(int(part))
    return cpus


def iso(t):
    return dt.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=dt.timezone.utc).timestamp()


def pct(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100.0 * (len(xs) - 1))))]


def check_events(path, truth, ids, since=None):
    ev = {"overflow": 0, "samples_dropped": 0, "source_down": 0, "airing_start": 0,
          "airing_correct": 0, "finished": 0, "audio_s": 0.0}
    delays, lags, with_airing = [], [], set()
    with open(path) as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            t = e.get("type")
            src = e.get("source")
            if t == "overflow":
                ev["overflow"] += 1
                ev["samples_dropped"] += int(e.get("samples_dropped", 0))
            elif t == "source_down":
                ev["source_down"] += 1
            elif t == "source_finished":
                ev["finished"] += 1
                ev["audio_s"] += float(e.get("pos_s", 0))
            elif t == "airing_progress" and "pos_utc" in e and "emitted_utc" in e:
                emitted = iso(e["emitted_utc"])
                if since is not None and emitted >= since:
                    lags.append((emitted, emitted - iso(e["pos_utc"])))
            elif t == "airing_start":
                ev["airing_start"] += 1
                if e.get("title") in truth.get(ids.get(src), ()):
                    ev["airing_correct"] += 1
                    with_airing.add(src)
                if "detected_utc" in e and "emitted_utc" in e:
                    emitted = iso(e["emitted_utc"])
                    if since is None or emitted >= since:
                        delays.append(emitted - iso(e["detected_utc"]))
    ev["sources_with_correct_airing"] = len(with_airing)
    ev["lag_n"] = len(lags)
    ev["lag_p50_s"] = pct([x[1] for x in lags], 50)
    ev["lag_p99_s"] = pct([x[1] for x in lags], 99)
    ev["lag_max_s"] = max(x[1] for x in lags) if lags else None
    # Falling behind shows as a lag that grows: last third of the window against the first.
    ev["lag_growth_s"] = None
    if len(lags) >= 6:
        lags.sort()
        t0, t1 = lags[0][0], lags[-1][0]
        first = [x[1] for x in lags if x[0] <= t0 + (t1 - t0) / 3]
        last = [x[1] for x in lags if x[0] >= t1 - (t1 - t0) / 3]
        if first and last:
            ev["lag_growth_s"] = statistics.median(last) - statistics.median(first)
    ev["delays_n"] = len(delays)
    ev["delay_p50_s"] = pct(delays, 50)
    ev["delay_p95_s"] = pct(delays, 95)
    ev["delay_max_s"] = max(delays) if delays else None
    return ev


def cmd_run(a):
    with open(os.path.join(a.inputs, "inputs.tsv")) as f:
        f.readline()
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    if len(rows) < a.n:
        sys.exit("capacity_probe: %s has %d inputs, %d needed" % (a.inputs, len(rows), a.n))
    os.makedirs(a.out, exist_ok=True)
    events = os.path.join(a.out, "events.jsonl")
    if os.path.exists(events):
        os.remove(events)
    # A configuration file rather than --source flags: progress_interval_s makes every open
    # airing report its position every few seconds, which samples the worker's lag all along.
    conf = os.path.join(a.out, "aircheck.yaml")
    truth, ids = {}, {}
    with open(conf, "w") as f:
        f.write("index: %s\nthreads: %d\n" % (json.dumps(os.path.abspath(a.index)), a.threads))
        if a.profile:
            f.write("profiles: {default: %s}\n" % a.profile)
        f.write("sinks: {journald: {enabled: false}, jsonl: {path: %s}}\nsources:\n"
                % json.dumps(os.path.abspath(events)))
        for i in range(a.n):
            sid = "s%04d" % i
            path = os.path.abspath(os.path.join(a.inputs, rows[i][0]))
            f.write("  - {id: %s, kind: file, address: %s, options: {pace: %s}, "
                    "progress_interval_s: %g}\n" % (sid, json.dumps(path), a.pace, a.progress_s))
            ids[sid] = rows[i][0]
            truth[rows[i][0]] = set(rows[i][1].split(","))
    cmd = ["nice", "-n", str(a.nice)] if a.nice else []
    cmd += ["taskset", "-c", a.cpus] if a.cpus else []
    cmd += [a.aircheckd, "--config", conf]
    log = open(os.path.join(a.out, "aircheckd.log"), "w+")
    t_start = time.monotonic()
    child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    pid = child.pid
    res = {"pace": a.pace, "n": a.n, "threads": a.threads, "cpus": a.cpus, "profile": a.profile}

    def wait_up(limit_s):
        end = time.monotonic() + limit_s
        while time.monotonic() < end:
            if child.poll() is not None:
                return False
            log.seek(0)
            if "up:" in log.read():
                return True
            time.sleep(0.05)
        return False

    since = None
    if a.pace == "fast":
        up = wait_up(600)
        t_up = time.monotonic()
        _, status, ru = os.wait4(pid, 0)
        wall = time.monotonic() - t_start
        res.update({
            "rc": os.waitstatus_to_exitcode(status),
            "wall_s": wall,
            "run_s": time.monotonic() - t_up if up else None,
            "cpu_user_s": ru.ru_utime,
            "cpu_sys_s": ru.ru_stime,
            "cpu_s": ru.ru_utime + ru.ru_stime,
            "maxrss_mib": ru.ru_maxrss / 1024.0,
        })
    else:
        if not wait_up(120):
            child.kill()
            child.wait()
            sys.exit("capacity_probe: aircheckd did not come up; see %s"
                     % os.path.join(a.out, "aircheckd.log"))
        t_up = time.monotonic()
        since = time.time() + a.warmup
        res["startup_s"] = t_up - t_start
        cpus = parse_cpus(a.cpus) if a.cpus else set(range(os.cpu_count()))
        time.sleep(max(0.0, t_up + a.warmup - time.monotonic()))
        c0, th0, (b0, tot0), w0 = proc_cpu_ticks(pid), thread_ticks(pid), cpus_busy(cpus), \
            time.monotonic()
        samples = []
        while time.monotonic() < t_up + a.seconds:
            time.sleep(1.0)
            samples.append(proc_cpu_ticks(pid))
            if child.poll() is not None:
                break
        c1, th1, (b1, tot1), w1 = proc_cpu_ticks(pid), thread_ticks(pid), cpus_busy(cpus), \
            time.monotonic()
        mem = proc_status(pid)
        child.send_signal(signal.SIGTERM)
        t_term = time.monotonic()
        rc = child.wait(timeout=120)
        span = w1 - w0
        per = [(th1[t] - th0.get(t, 0)) / CLK_TCK for t in th1]
        per.sort(reverse=True)
        busy = (b1 - b0) / CLK_TCK
        res.update({
            "rc": rc,
            "window_s": span,
            "cpu_pct": 100.0 * (c1 - c0) / CLK_TCK / span,
            "worker_pct": 100.0 * per[0] / span if per else None,
            "others_pct": 100.0 * sum(per[1:]) / span if per else None,
            "other_load_pct": 100.0 * (busy - (c1 - c0) / CLK_TCK) / span,
            "cpus_busy_pct": 100.0 * (b1 - b0) / max(1, tot1 - tot0) * len(cpus),
            "stop_s": time.monotonic() - t_term,
            "rss_mib": mem.get("VmRSS", 0) / 1024.0,
            "hwm_mib": mem.get("VmHWM", 0) / 1024.0,
            "anon_mib": mem.get("RssAnon", 0) / 1024.0,
            "file_mib": mem.get("RssFile", 0) / 1024.0,
            "threads_n": mem.get("Threads", 0),
        })
    res.update(check_events(events, truth, ids, since if a.pace == "realtime" else None))
    log.close()
    print(json.dumps(res))


# ---------------------------------------------------------------------------------------------
# table


def med(rows, key):
    xs = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=1):
    return "–" if x is None else ("%.*f" % (nd, x))


kMaxLagGrowth = 1.0  # s
kMaxLag = 10.0  # s


def sustained(r):
    """No overflow, no source_down, and a lag that neither grows nor gets long (with fewer than
    six progress events, too few to see a trend, only the maximum is checked)."""
    growth = r.get("lag_growth_s")
    return (r["overflow"] == 0 and r["source_down"] == 0 and (r["lag_max_s"] or 0) < kMaxLag
            and (growth is None or growth < kMaxLagGrowth))


def cmd_table(a):
    rows = [json.loads(line) for line in open(a.results) if line.strip()]
    fast = [r for r in rows if r["pace"] == "fast"]
    rt = [r for r in rows if r["pace"] == "realtime"]
    out = []
    if fast:
        out.append("### Throughput: pace=fast, one worker thread, whole process on one CPU\n")
        out.append("| sources | runs | audio h | CPU s (user+sys), median | CPU s per source-hour "
                   "| CPU % per source | × real time per core (= sources per core) | overflow "
                   "| rc |")
        out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for n in sorted({r["n"] for r in fast}):
            g = [r for r in fast if r["n"] == n]
            for r in g:
                r["cpu_per_h"] = r["cpu_s"] / (r["audio_s"] / 3600.0) if r["audio_s"] else None
            cph = med(g, "cpu_per_h")
            out.append("| %d | %d | %s | %s | %s | %s | %s | %d | %s |" % (
                n, len(g), fmt(med(g, "audio_s") / 3600.0, 2), fmt(med(g, "cpu_s"), 1),
                fmt(cph, 1), fmt(cph / 36.0 if cph else None, 3),
                fmt(3600.0 / cph if cph else None, 0), sum(r["overflow"] for r in g),
                ",".join(str(r["rc"]) for r in g)))
        out.append("")
    if rt:
        out.append("### Real time: pace=realtime, one worker thread, whole process on one CPU\n")
        out.append("| sources | runs | process CPU, % of one core | worker thread % | capture "
                   "and other threads % | CPU % per source | lag p50 / max s | lag growth s | "
                   "overflow events | airings (correct) | sources with a correct airing | "
                   "RSS MiB | anon MiB | other load on the CPU % | sustained |")
        out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        ns = sorted({r["n"] for r in rt})
        ok = []
        for n in ns:
            g = [r for r in rt if r["n"] == n]
            cpu = med(g, "cpu_pct")
            good = all(sustained(r) for r in g)
            if good:
                ok.append(n)
            out.append("| %d | %d | %s | %s | %s | %s | %s / %s | %s | %d | %s (%s) | %s of %d | "
                       "%s | %s | %s | %s |" % (
                           n, len(g), fmt(cpu), fmt(med(g, "worker_pct")),
                           fmt(med(g, "others_pct")),
                           fmt(cpu / n if cpu else None, 3) if good else "(capped)",
                           fmt(med(g, "lag_p50_s"), 2),
                           fmt(max((r["lag_max_s"] or 0) for r in g), 2),
                           fmt(med(g, "lag_growth_s"), 2), sum(r["overflow"] for r in g),
                           fmt(med(g, "airing_start"), 0), fmt(med(g, "airing_correct"), 0),
                           fmt(med(g, "sources_with_correct_airing"), 0), n,
                           fmt(med(g, "rss_mib"), 0), fmt(med(g, "anon_mib"), 0),
                           fmt(med(g, "other_load_pct")),
                           "yes" if good else "no (%d of %d runs)" % (
                               sum(1 for r in g if sustained(r)), len(g))))
        out.append("\nSustained: in every run no overflow and no source_down, the lag's growth "
                   "under %.1f s and its maximum under %.0f s. Where it is not, the process "
                   "used the whole CPU and needed more, so its CPU per source is not a cost "
                   "(capped)." % (kMaxLagGrowth, kMaxLag))
        if len(ns) >= 2:
            for key, label in (("anon_mib", "Anonymous RSS"), ("rss_mib", "RSS")):
                ys = [med([r for r in rt if r["n"] == n], key) for n in ns]
                mx, my = statistics.mean(ns), statistics.mean(ys)
                sxx = sum((x - mx) ** 2 for x in ns)
                slope = sum((x - mx) * (y - my) for x, y in zip(ns, ys)) / sxx if sxx else 0
                out.append("%s per source (least-squares slope over N = %s): **%.2f MiB**, "
                           "intercept %.0f MiB." % (label, ", ".join(map(str, ns)), slope,
                                                    my - slope * mx))
        out.append("Largest N sustained: **%s**." % (max(ok) if ok else "none of those run"))
    print("\n".join(out))


def cmd_brief(_):
    """One line of the main figures of the run on stdin (progress output of capacity.sh)."""
    r = json.loads(sys.stdin.read())
    keys = ["rc", "cpu_s", "audio_s", "cpu_pct", "worker_pct", "rss_mib", "anon_mib", "overflow",
            "source_down", "airing_start", "airing_correct", "lag_p50_s", "lag_max_s",
            "lag_growth_s", "other_load_pct"]
    print("   " + "  ".join("%s=%s" % (k, round(r[k], 2) if isinstance(r[k], float) else r[k])
                            for k in keys if k in r))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("inputs")
    q.add_argument("--refs", action="append", required=True)
    q.add_argument("--count", type=int, required=True)
    q.add_argument("--seconds", type=float, required=True)
    q.add_argument("--out", required=True)
    q.add_argument("--jobs", type=int, default=os.cpu_count())
    q = sub.add_parser("run")
    q.add_argument("--aircheckd", required=True)
    q.add_argument("--index", required=True)
    q.add_argument("--inputs", required=True)
    q.add_argument("--n", type=int, required=True)
    q.add_argument("--pace", choices=["fast", "realtime"], required=True)
    q.add_argument("--seconds", type=float, default=60)
    q.add_argument("--warmup", type=float, default=15)
    q.add_argument("--cpus", default="0")
    q.add_argument("--threads", type=int, default=1)
    q.add_argument("--progress-s", type=float, default=5)
    q.add_argument("--nice", type=int, default=0)
    q.add_argument("--profile", default="",
                   help="the default profile as YAML flow, e.g. '{rescaled_speeds: [0.98, 1.02]}'")
    q.add_argument("--out", required=True)
    q = sub.add_parser("table")
    q.add_argument("results")
    sub.add_parser("brief")
    a = p.parse_args()
    {"inputs": cmd_inputs, "run": cmd_run, "table": cmd_table, "brief": cmd_brief}[a.cmd](a)


if __name__ == "__main__":
    main()
