#!/usr/bin/env python3
"""Time from a network stream's connection to its first decoded audio in aircheckd.

Serves FILE (an MP3, ADTS AAC, ... stream) over loopback HTTP at its byte rate, as a live
station does, starts `aircheckd --source n=http://...` against it, and reports the time from
the server's accept() to the daemon's `source_up` event (emitted when the stream's first
audio goes on: after the source's hold of the first 1.5 s, which measures a server's burst). Repeats REPS times; prints each time and the median.

    python3 bench/stream_connect.py --aircheckd build/daemon/aircheckd --index DIR \
        --file station.mp3 --bytes-per-s 16000 --type audio/mpeg --reps 5 [--join-at 1001]
"""
import argparse
import datetime
import json
import os
import socket
import statistics
import subprocess
import tempfile
import threading
import time


def send_paced(conn, data, bytes_per_s, ctype, seconds=float('inf')):
    """Answers the request on `conn` with `data` at `bytes_per_s` (0.1 s ahead of the live
    point), as a live station does, for at most `seconds`; then closes."""
    conn.sendall(('HTTP/1.0 200 OK\r\nContent-Type: %s\r\n\r\n' % ctype).encode())
    t0 = time.time()
    sent = 0
    try:
        while sent < len(data) and time.time() - t0 < seconds:
            want = min(len(data), int((time.time() - t0 + 0.1) * bytes_per_s))
            if want > sent:
                conn.sendall(data[sent:want])
                sent = want
            time.sleep(0.02)
    except OSError:
        pass
    conn.close()


def serve_once(sock, data, bytes_per_s, ctype, accepted, seconds):
    conn, _ = sock.accept()
    accepted.append(time.time())
    conn.recv(4096)
    send_paced(conn, data, bytes_per_s, ctype, seconds)


def one_run(args, data):
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    sock.listen(1)
    port = sock.getsockname()[1]
    accepted = []
    server = threading.Thread(target=serve_once,
                              args=(sock, data, args.bytes_per_s, args.type, accepted, args.seconds))
    server.start()
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, 'events.jsonl')
        daemon = subprocess.Popen(
            [args.aircheckd, '--index', args.index, '--source',
             'n=http://127.0.0.1:%d/live#stall_s=10' % port, '--jsonl', log],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server.join()
        daemon.terminate()
        daemon.wait(timeout=30)
        sock.close()
        with open(log) as f:
            for line in f:
                e = json.loads(line)
                if e['type'] == 'source_up':
                    t = datetime.datetime.fromisoformat(
                        e['emitted_utc'].replace('Z', '+00:00')).timestamp()
                    return t - accepted[0]
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--aircheckd', required=True)
    ap.add_argument('--index', required=True)
    ap.add_argument('--file', required=True)
    ap.add_argument('--bytes-per-s', type=int, required=True)
    ap.add_argument('--type', default='audio/mpeg')
    ap.add_argument('--reps', type=int, default=5)
    ap.add_argument('--seconds', type=float, default=4, help='how long each run streams')
    ap.add_argument('--join-at', type=int, default=0,
                    help='byte of FILE the stream starts at (mid-frame, as an Icecast listener '
                         'joins where the burst begins)')
    args = ap.parse_args()
    with open(args.file, 'rb') as f:
        data = f.read()[args.join_at:]
    times = []
    for _ in range(args.reps):
        t = one_run(args, data)
        print('none' if t is None else '%.2f s' % t, flush=True)
        if t is not None:
            times.append(t)
    if times:
        print('median %.2f s over %d runs' % (statistics.median(times), len(times)))


if __name__ == '__main__':
    main()
