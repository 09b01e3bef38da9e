#!/usr/bin/env python3
"""A transport stream that loses packets, as a UDP feed does: what aircheckd's airings keep.

The programme (a WAV `aircheck eval programme --keep-audio` leaves, with its truth.json) is
encoded once by the ffmpeg tool into MPEG-TS (MP2 at 48 kHz stereo, as DVB radio carries it,
or AAC), cut into UDP-sized datagrams of 7 transport packets, and datagrams are dropped by a
two-state (Gilbert) model: a mean loss rate and a mean burst length, from a seed; with
--holes S, also S seconds from the middle of every play from start to end (an interruption
of the feed without a reconnect). The same
lossy bytes are served over loopback HTTP at --pace times real time to each daemon named
(a `stream` source reads them as it would a multicast feed: the transport stream's packets,
minus those lost), until the end; the run stops at the source's first source_down.

Each run is scored against the truth by position in the source's own sample clock (found,
false, fragments, starts / ends at cuts within 0.25 s, duration of whole plays against the
truth's, speeds reported off 1). Positions are what a lost packet moves: audio lost without
its time shifts everything after it earlier.

    python3 bench/lossy_stream.py --index I --programme W/programme.wav --truth O/truth.json \
        --loss 0,0.002,0.01 --aircheckd NAME=build/daemon/aircheckd[#OPTS] ...

OPTS are appended to the stream URL's options (e.g. `gap_fill_s=0`).
"""
import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from soak import score_loops  # noqa: E402
from stream_connect import send_paced  # noqa: E402

DGRAM = 7 * 188


def lossy(data, rate, burst, seed, holes=(), length=1.0):
    """`data` without the datagrams a Gilbert model drops: mean loss `rate`, mean burst
    `burst` datagrams; and without those within the `holes` ((start, seconds) of a programme
    `length` seconds long, at the stream's mean byte rate). Returns (bytes, datagrams lost,
    datagrams)."""
    per_s = len(data) / length
    cut = [(int(a * per_s) // DGRAM, int((a + n) * per_s) // DGRAM) for a, n in holes]
    rng = random.Random(seed)
    to_bad = rate / (burst * (1 - rate)) if rate > 0 else 0
    to_good = 1 / burst
    bad = False
    out = bytearray()
    lost = 0
    n = (len(data) + DGRAM - 1) // DGRAM
    for i in range(n):
        if rate > 0:
            bad = (rng.random() >= to_good) if bad else (rng.random() < to_bad)
        if bad or any(a <= i < b for a, b in cut):
            lost += 1
        else:
            out += data[i * DGRAM:(i + 1) * DGRAM]
    return bytes(out), lost, n


class Server:
    """Serves `data` once per connection at `bytes_per_s`; later connections get nothing."""

    def __init__(self, data, bytes_per_s):
        self.data, self.rate = data, bytes_per_s
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.served = False
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        try:
            conn.recv(4096)
        except OSError:
            pass
        if self.served:
            conn.close()
            return
        self.served = True
        send_paced(conn, self.data, self.rate, 'video/mp2t')


def run_daemon(binary, opts, index, data, bytes_per_s, out_jsonl):
    srv = Server(data, bytes_per_s)
    options = {'stall_s': '5', 'buffer_s': '900'}
    options.update(kv.split('=', 1) for kv in opts.split('&') if kv)
    url = f'http://127.0.0.1:{srv.port}/feed.ts#' + '&'.join(f'{k}={v}' for k, v in
                                                             options.items())
    with open(out_jsonl + '.log', 'w') as log:
        d = subprocess.Popen([binary, '--foreground', '--index', index, '--source', 'p=' + url,
                              '--jsonl', out_jsonl], stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.time() + 3600
    while time.time() < deadline and d.poll() is None:
        time.sleep(0.5)
        if os.path.exists(out_jsonl):
            with open(out_jsonl) as f:
                if any('"source_down"' in line for line in f):
                    break
    d.terminate()
    d.wait(timeout=30)
    srv.sock.close()
    with open(out_jsonl) as f:
        return [json.loads(line) for line in f if line.strip()]


def durations(events, truth_path):
    """Whole plays (the truth's, played from start to end without fades) found as one airing:
    reported duration_s minus the truth's, and the speeds reported."""
    with open(truth_path) as f:
        truth = json.load(f)['airings']
    ends = [e for e in events if e['type'] == 'airing_end']
    errs, speeds = [], []
    for t in truth:
        if t['fade_in_s'] or t['fade_out_s']:
            continue
        t0, t1 = t['start_s'], t['end_s']
        ok = [d for d in ends if d['track_id'] == t['track_id'] and
              min(d['end_pos_s'], t1) - max(d['start_pos_s'], t0) >=
              0.5 * (d['end_pos_s'] - d['start_pos_s'])]
        if len(ok) != 1:
            continue
        errs.append(ok[0]['duration_s'] - (t['end_s'] - t['start_s']) /
                    t.get('speed', 1.0))
        speeds.append(ok[0]['speed'] / t.get('speed', 1.0))
    return errs, speeds


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float('nan')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--index', required=True)
    ap.add_argument('--programme', required=True)
    ap.add_argument('--truth', required=True)
    ap.add_argument('--aircheckd', action='append', required=True,
                    help='NAME=PATH[#URL-OPTIONS]; repeat to compare')
    ap.add_argument('--loss', default='0,0.002,0.01', help='datagram loss rates')
    ap.add_argument('--burst', type=float, default=2.0, help='mean burst, datagrams')
    ap.add_argument('--codec', default='mp2', choices=['mp2', 'aac'])
    ap.add_argument('--pace', type=float, default=16.0, help='times real time')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--holes', type=float, default=0,
                    help='also cut this many seconds out of the middle of every play '
                         'from start to end (an interruption)')
    ap.add_argument('--work', default=None)
    args = ap.parse_args()

    work = args.work or tempfile.mkdtemp(prefix='lossy-')
    os.makedirs(work, exist_ok=True)
    ts = os.path.join(work, f'feed-{args.codec}.ts')
    if not os.path.exists(ts):
        codec = ['-c:a', 'mp2', '-b:a', '192k'] if args.codec == 'mp2' else \
                ['-c:a', 'aac', '-b:a', '96k']
        subprocess.run(['ffmpeg', '-v', 'error', '-y', '-i', args.programme, '-ar', '48000',
                        '-ac', '2', *codec, '-f', 'mpegts', ts], check=True)
    with open(ts, 'rb') as f:
        clean = f.read()
    length = float(subprocess.run(['ffprobe', '-v', 'error', '-show_entries', 'format=duration',
                                   '-of', 'csv=p=0', args.programme], capture_output=True,
                                  text=True, check=True).stdout)
    bytes_per_s = len(clean) / length * args.pace

    holes = []
    if args.holes > 0:
        with open(args.truth) as f:
            for t in json.load(f)['airings']:
                if not t['fade_in_s'] and not t['fade_out_s']:
                    holes.append(((t['start_s'] + t['end_s'] - args.holes) / 2, args.holes))
        print(f'# {len(holes)} interruptions of {args.holes:g} s, mid-play')
    print(f'# {args.codec} transport stream, {len(clean) / 1e6:.1f} MB, {length:.0f} s, '
          f'served at {args.pace:g}x; datagrams of 7 packets, mean burst {args.burst:g}; '
          f'seed {args.seed}')
    print('| daemon | loss | datagrams lost | found | false | fragments | starts at cuts '
          '≤0.25 s | ends at cuts ≤0.25 s | whole plays: duration error p50 / max | '
          'speed ≠ 1 by > 0.2 % | audio lost, as reported |')
    print('|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|')
    for rate in [float(x) for x in args.loss.split(',')]:
        data, lost, n = lossy(clean, rate, args.burst, args.seed, holes, length)
        for spec in args.aircheckd:
            name, rest = spec.split('=', 1)
            binary, _, opts = rest.partition('#')
            out = os.path.join(work, f'{name}-{rate:g}.jsonl')
            if os.path.exists(out):
                os.remove(out)
            events = run_daemon(binary, opts, args.index, data, bytes_per_s, out)
            (k, found, total, false, frag, s_ok, s_n, e_ok, e_n, _, _, _, _), = score_loops(
                events, 1e9, 1, args.truth)
            errs, speeds = durations(events, args.truth)
            off = sum(1 for s in speeds if abs(s - 1) > 0.002)
            damage = [e for e in events if e['type'] == 'stream_damage']
            filled = (f"{sum(e['lost_s'] for e in damage):.1f} s in {len(damage)} reports"
                      if damage else 'none reported')
            print(f'| {name} | {rate:g} | {lost} of {n} | {found} of {total} | {false} | {frag} | '
                  f'{s_ok} of {s_n} | {e_ok} of {e_n} | {pct(errs, 0.5):+.2f} / '
                  f'{max(errs, key=abs) if errs else float("nan"):+.2f} s ({len(errs)}) | '
                  f'{off} of {len(speeds)} | {filled} |', flush=True)


if __name__ == '__main__':
    main()
