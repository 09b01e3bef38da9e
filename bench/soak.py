#!/usr/bin/env python3
"""Steadiness of aircheckd over long runs: memory, descriptors and threads, and whether the
airings it reports stay the same.

Two runs, each sampling the daemon's /proc entries (VmRSS, open descriptors, threads) as it
goes and printing a table of them:

long       PROGRAMME (any audio file, e.g. the WAV `aircheck eval programme --keep-audio`
           leaves) played LOOPS times in a row into a FIFO by `ffmpeg -stream_loop`, read by
           one `file:FIFO?pace=fast` source: a day of audio takes a few minutes. With --truth
           (that programme's truth.json) every loop is scored against the truth shifted by the
           programme's length: airings found, false, fragments, edges at cuts, latency; and
           its airings are compared with loop 1's to the millisecond. For that to hold, pad
           the programme to a whole number of the daemon's window hops, fingerprint frames
           and resampler periods (at 22.05 kHz and the default 1-s hop: a multiple of 5.04 s,
           `ffmpeg -i P.wav -af apad=whole_dur=D -t D`); the rescaled speed lanes still read
           each loop at another phase, so plays off speed may move by a frame or a window.

reconnect  An MP3 served over loopback HTTP at its byte rate, from its live point, by a server
           that closes every connection after --serve-s seconds, for --minutes minutes of real
           time: the daemon's stream source reconnects each time. Counts source_down /
           source_up and the airings, and samples memory per reconnect.

    python3 bench/soak.py long --aircheckd build/daemon/aircheckd --index I \
        --programme P.wav --loops 48
    python3 bench/soak.py reconnect --aircheckd build/daemon/aircheckd --index I \
        --mp3 station.mp3 --bytes-per-s 16000 --minutes 6

Exit status 1 when a loop after the first finds fewer airings, or more false airings or
fragments, than loop 1, or when the reconnects or airings are not what the run should give.
"""
import argparse
import collections
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time


def proc_sample(pid):
    """(VmRSS MiB, descriptors, threads) of a running process, or None once it has gone."""
    try:
        rss = threads = 0
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    rss = int(line.split()[1]) / 1024
                elif line.startswith('Threads:'):
                    threads = int(line.split()[1])
        fds = len(os.listdir('/proc/%d/fd' % pid))
        return rss, fds, threads
    except (FileNotFoundError, ProcessLookupError):
        return None


def read_events(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                if line.endswith('\n'):
                    out.append(json.loads(line))
    except FileNotFoundError:
        pass
    return out


def last_pos(path):
    """The furthest source position an event of `path` names so far (seconds), cheaply."""
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 8192))
            tail = f.read().decode(errors='replace').splitlines()
    except FileNotFoundError:
        return 0.0
    best = 0.0
    for line in tail[1:] if len(tail) > 1 else tail:
        try:
            e = json.loads(line)
        except ValueError:
            continue
        best = max(best, e.get('end_pos_s', 0) or 0, e.get('start_pos_s', 0) or 0,
                   e.get('pos_s', 0) or 0)
    return best


def duration_s(path):
    out = subprocess.run(['ffprobe', '-v', 'error', '-show_entries', 'format=duration', '-of',
                          'default=nw=1:nk=1', path], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def print_samples(samples, label):
    """samples: (x, rss, fds, threads); prints about a dozen rows spread over the run."""
    if not samples:
        print('no samples')
        return
    step = max(1, len(samples) // 12)
    rows = samples[::step]
    if rows[-1] is not samples[-1]:
        rows.append(samples[-1])
    print('| %s | RSS MiB | descriptors | threads |' % label)
    print('|---:|---:|---:|---:|')
    for x, rss, fds, thr in rows:
        print('| %.1f | %.1f | %d | %d |' % (x, rss, fds, thr))


def run_long(args):
    length = duration_s(args.programme)
    with tempfile.TemporaryDirectory() as tmp:
        fifo = os.path.join(tmp, 'feed.au')
        os.mkfifo(fifo)
        log = os.path.join(tmp, 'events.jsonl')
        daemon = subprocess.Popen(
            [args.aircheckd, '--foreground', '--index', args.index, '--threads',
             str(args.threads), '--source',
             'soak=file:%s?pace=fast&start=2026-01-01T00:00:00Z' % fifo, '--jsonl', log],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, 'daemon.log'), 'w'))
        # Sun AU takes an unknown length: one header, then the loops back to back.
        writer = subprocess.Popen(
            ['ffmpeg', '-nostdin', '-v', 'error', '-y', '-stream_loop', str(args.loops - 1), '-i',
             args.programme, '-c:a', 'pcm_s16be', '-f', 'au', fifo])
        t0 = time.time()
        samples = []
        while daemon.poll() is None:
            s = proc_sample(daemon.pid)
            if s:
                samples.append((last_pos(log) / 3600, *s))
            time.sleep(args.every)
        wall = time.time() - t0
        writer.wait()
        events = read_events(log)
        if daemon.returncode != 0:
            print('aircheckd exited with %d' % daemon.returncode)
            print(open(os.path.join(tmp, 'daemon.log')).read()[-3000:])
            return 1
    hours = length * args.loops / 3600
    print('%d loops of %.1f min (%.1f h of audio) in %.0f s of wall time (%.0fx real time)'
          % (args.loops, length / 60, hours, wall, hours * 3600 / wall))
    print_samples(samples, 'audio h')
    warm = [s for s in samples if s[0] >= 1.0]
    if len(warm) >= 2:
        print('RSS from 1 h of audio to the end: %.1f -> %.1f MiB (max %.1f); descriptors %d -> %d'
              % (warm[0][1], warm[-1][1], max(s[1] for s in warm), warm[0][2], warm[-1][2]))

    other = collections.Counter(e['type'] for e in events if not e['type'].startswith('airing'))
    print('events: %d airings, %s' % (sum(e['type'] == 'airing_end' for e in events), dict(other)))
    rows = score_loops(events, length, args.loops, args.truth) if args.truth else []
    if rows:
        print('| loop | found | false | fragments | starts / ends at cuts within 0.25 s | '
              'latency p50 / max s | same as loop 1 to the ms |')
        print('|---:|---:|---:|---:|---:|---:|---:|')
        for r in rows:
            print('| %d | %d of %d | %d | %d | %d of %d / %d of %d | %.2f / %.2f | %d of %d |' % r)
    exact = sum(r[-2] for r in rows[2:])
    print('loops 2..%d: %d of %d airings the same as loop 1\'s to the millisecond'
          % (args.loops - 1, exact, sum(r[-1] for r in rows[2:])))
    worse = [r for r in rows[1:] if r[1] < r[2] or r[3] > rows[1][3] or r[4] > rows[1][4] + 1]
    return 1 if worse or not rows else 0


def score_loops(events, length, loops, truth_path):
    """Per loop k (the programme's truth shifted by k * length): (k, found, truth airings, false
    airings, fragments, starts at cuts within 0.25 s, cuts, ends at cuts within 0.25 s, cuts,
    latency p50, latency max, airings the same as loop 1's to the ms, airings)."""
    with open(truth_path) as f:
        truth = json.load(f)['airings']
    starts = {(e['track_id'], e['start_pos_s']): e for e in events if e['type'] == 'airing_start'}
    ends = [e for e in events if e['type'] == 'airing_end']
    by_loop = collections.defaultdict(list)
    for e in ends:
        by_loop[min(int((e['start_pos_s'] + e['end_pos_s']) / 2 // length), loops - 1)].append(e)

    def shape(e, k):
        return (e['track_id'], round(e['start_pos_s'] - k * length, 3),
                round(e['end_pos_s'] - k * length, 3))

    first = set(shape(e, 1) for e in by_loop[1])
    rows = []
    for k in range(loops):
        dets = by_loop[k]
        used = set()
        found = frag = 0
        s_ok = s_n = e_ok = e_n = 0
        lat = []
        for t in truth:
            t0, t1 = t['start_s'] + k * length, t['end_s'] + k * length
            ok = [d for d in dets if d['track_id'] == t['track_id'] and
                  min(d['end_pos_s'], t1) - max(d['start_pos_s'], t0) >=
                  0.5 * (d['end_pos_s'] - d['start_pos_s'])]
            if not ok:
                continue
            found += 1
            frag += len(ok) - 1
            used.update(id(d) for d in ok)
            a = min(ok, key=lambda d: d['start_pos_s'])
            z = max(ok, key=lambda d: d['end_pos_s'])
            if t['fade_in_s'] == 0:
                s_n += 1
                s_ok += abs(a['start_pos_s'] - t0) <= 0.25
                st = starts.get((a['track_id'], a['start_pos_s']))
                if st:
                    lat.append(st['detected_pos_s'] - t0)
            if t['fade_out_s'] == 0:
                e_n += 1
                e_ok += abs(z['end_pos_s'] - t1) <= 0.25
        false = sum(1 for d in dets if id(d) not in used)
        lat.sort()
        same = sum(1 for d in dets if shape(d, k) in first)
        rows.append((k, found, len(truth), false, frag, s_ok, s_n, e_ok, e_n,
                     lat[len(lat) // 2] if lat else 0, lat[-1] if lat else 0, same, len(dets)))
    return rows


class Station:
    """Serves `data` from its live point at `bytes_per_s`, closing each connection after
    `serve_s` seconds."""

    def __init__(self, data, bytes_per_s, serve_s):
        self.data, self.rate, self.serve_s = data, bytes_per_s, serve_s
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.t0 = time.time()
        self.connections = 0
        self.stop = False
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        try:
            conn.recv(4096)
            conn.sendall(b'HTTP/1.0 200 OK\r\nContent-Type: audio/mpeg\r\n\r\n')
            start = time.time()
            pos = int((start - self.t0) * self.rate) % len(self.data)
            sent = pos
            while time.time() - start < self.serve_s and not self.stop:
                want = pos + int((time.time() - start + 0.1) * self.rate)
                while sent < want:
                    end = min(want, (sent // len(self.data) + 1) * len(self.data))
                    a, b = sent % len(self.data), (end - 1) % len(self.data) + 1
                    conn.sendall(self.data[a:b])
                    sent = end
                time.sleep(0.02)
        except OSError:
            pass
        conn.close()


def run_reconnect(args):
    with open(args.mp3, 'rb') as f:
        data = f.read()
    station = Station(data, args.bytes_per_s, args.serve_s)
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, 'events.jsonl')
        daemon = subprocess.Popen(
            [args.aircheckd, '--foreground', '--index', args.index, '--source',
             'net=http://127.0.0.1:%d/live#stall_s=3' % station.port, '--jsonl', log],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, 'daemon.log'), 'w'))
        t0 = time.time()
        samples = []
        while time.time() - t0 < args.minutes * 60 and daemon.poll() is None:
            s = proc_sample(daemon.pid)
            if s:
                ups = sum(1 for e in read_events(log) if e['type'] == 'source_up')
                samples.append((ups, *s))
            time.sleep(args.every)
        daemon.terminate()
        rc = daemon.wait(timeout=30)
        station.stop = True
        events = read_events(log)
    counts = collections.Counter(e['type'] for e in events)
    print('%.1f min, %d connections served, events %s, exit %d'
          % (args.minutes, station.connections, dict(counts), rc))
    print_samples(samples, 'source_up so far')
    warm = [s for s in samples if s[0] >= 10]
    if len(warm) >= 2 and warm[-1][0] > warm[0][0]:
        print('RSS from the 10th reconnect to the %dth: %.1f -> %.1f MiB (%.1f KiB per '
              'reconnect); descriptors %d -> %d; threads %d -> %d'
              % (warm[-1][0], warm[0][1], warm[-1][1],
                 (warm[-1][1] - warm[0][1]) * 1024 / (warm[-1][0] - warm[0][0]),
                 warm[0][2], warm[-1][2], warm[0][3], warm[-1][3]))
        half = [s for s in warm if s[0] >= warm[-1][0] / 2]
        if len(half) >= 2 and half[-1][0] > half[0][0]:
            print('over the second half of the reconnects: %.1f KiB per reconnect'
                  % ((half[-1][1] - half[0][1]) * 1024 / (half[-1][0] - half[0][0])))
    # A connection the server closes before the source's hold is through may give no audio.
    ok = rc == 0 and counts['source_up'] >= 0.95 * station.connections > 0 and \
        counts['source_down'] >= counts['source_up'] - 1 and counts['airing_start'] >= 1
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='mode', required=True)
    for name in ('long', 'reconnect'):
        p = sub.add_parser(name)
        p.add_argument('--aircheckd', required=True)
        p.add_argument('--index', required=True)
        p.add_argument('--every', type=float, default=2, help='seconds between samples')
        if name == 'long':
            p.add_argument('--programme', required=True)
            p.add_argument('--loops', type=int, default=48)
            p.add_argument('--threads', type=int, default=1)
            p.add_argument('--truth', help="the programme's truth.json (aircheck eval programme)")
        else:
            p.add_argument('--mp3', required=True)
            p.add_argument('--bytes-per-s', type=int, default=16000)
            p.add_argument('--serve-s', type=float, default=2.5)
            p.add_argument('--minutes', type=float, default=6)
    args = ap.parse_args()
    sys.exit(run_long(args) if args.mode == 'long' else run_reconnect(args))


if __name__ == '__main__':
    main()
