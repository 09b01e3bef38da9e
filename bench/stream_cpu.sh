#!/usr/bin/env bash
# CPU of stream sources against file sources: N sources of the same audio, read either as
# FLAC files at real time or as MP3 streams over loopback HTTP (paced at 16 000 B/s by
# bench/stream_connect.py's send_paced), by aircheckd with one worker pinned to CPU 0 (the
# server on CPU 1); CPU over [10, 40] s.
#
# Usage: bench/stream_cpu.sh AIRCHECKD INDEX DIR REPS
#   DIR holds inNN.flac (48 kHz stereo) and inNN.mp3 (128 kbit/s) for NN = 01..N, made e.g. with
#     ffmpeg -ss 5 -t 70 -i T.wav -ar 48000 -ac 2 inNN.flac
#     ffmpeg -ss 5 -t 70 -i T.wav -ar 44100 -ac 2 -c:a libmp3lame -b:a 128k inNN.mp3
set -euo pipefail
daemon=$1 index=$2 dir=$3 reps=$4
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
port=18777
n=$(ls "$dir"/in*.mp3 | wc -l)
cd "$dir"
taskset -c 1 python3 - "$here" "$port" <<'EOF' &
import socket, sys, threading
sys.path.insert(0, sys.argv[1])
from stream_connect import send_paced
def handle(c):
    req = b''
    while b'\r\n\r\n' not in req:
        d = c.recv(4096)
        if not d:
            return
        req += d
    try:
        data = open(req.split(b' ')[1].decode().lstrip('/'), 'rb').read()
    except OSError:
        c.sendall(b'HTTP/1.0 404 Not Found\r\n\r\n')
        c.close()
        return
    send_paced(c, data, 16000, 'audio/mpeg')
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', int(sys.argv[2])))
s.listen(64)
while True:
    c, _ = s.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
EOF
server=$!
trap 'kill $server 2>/dev/null' EXIT
sleep 1
cfg=$(mktemp)
printf 'index: %s\nthreads: 1\nsinks: {journald: {enabled: false}}\n' "$index" > "$cfg"
tck=$(getconf CLK_TCK)
for rep in $(seq 1 "$reps"); do
  for kind in flac mp3; do
    args=()
    for f in in*.mp3; do
      id=${f%.mp3}
      if [ $kind = flac ]; then args+=(--source "$id=file:$dir/$id.flac"); else
        args+=(--source "$id=http://127.0.0.1:$port/$id.mp3"); fi
    done
    taskset -c 0 "$daemon" --config "$cfg" "${args[@]}" --jsonl /dev/null >/dev/null 2>&1 &
    pid=$!
    sleep 10
    a=$(awk '{print $14 + $15}' /proc/$pid/stat)
    sleep 30
    b=$(awk '{print $14 + $15}' /proc/$pid/stat)
    kill -TERM $pid
    wait $pid || true
    python3 -c "c = ($b - $a) / $tck / 30 * 100; print('$kind rep $rep: %.1f %% of a core, %.2f %% per source' % (c, c / $n))"
  done
done
rm -f "$cfg"
