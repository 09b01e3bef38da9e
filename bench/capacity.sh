#!/usr/bin/env bash
# Daemon capacity: how many 48 kHz stereo sources one core sustains in real time.
#
# Usage:
#   bench/capacity.sh [options] INDEX OUTDIR [N ...]
#
#   INDEX    an aircheck index folder (build one with ≥ 1000 tracks: see bench/RESULTS.md,
#            "Daemon capacity")
#   OUTDIR   results: capacity.md (the Markdown tables), results.jsonl (one object per run),
#            runs/<pace>-<N>-<rep>/ (events.jsonl and aircheckd.log of each run)
#   N ...    source counts for the real-time runs (default: 25 50 100 115 130)
#
# Options:
#   --bin DIR        build folder holding daemon/aircheckd and cli/aircheck (default: build)
#   --inputs DIR     48 kHz stereo inputs (in-NNNN.flac + inputs.tsv); made with ffmpeg from the
#                    corpus references when missing (default: OUTDIR/inputs)
#   --refs TSV       refs.tsv of a corpus folder to cut the inputs from, repeatable
#                    (default: $AIRCHECK_CORPUS/A/refs.tsv and $AIRCHECK_CORPUS/NA/refs.tsv,
#                    AIRCHECK_CORPUS defaulting to /data/aircheck)
#   --input-s S      length of each input in seconds (default 120; must exceed startup + --seconds)
#   --fast-n N       sources in the throughput run (default 32; 0 skips it)
#   --seconds T      length of each real-time run after start-up, in seconds (default 40)
#   --warmup W       seconds after start-up before CPU is counted (default 10)
#   --reps R         repetitions of every configuration; tables show medians (default 3)
#   --cpus LIST      CPUs the whole aircheckd process is pinned to, taskset syntax (default 0)
#   --nice N         run aircheckd under `nice -n N` (default 0); on a shared machine a negative
#                    value (as root) keeps other work off the pinned CPU
#   --profile YAML   the default matching profile as YAML flow, e.g.
#                    '{rescaled_speeds: [0.98, 1.02]}' (default: the built-in profile)
#   --report-only    no runs: rewrite OUTDIR/capacity.md from OUTDIR/results.jsonl
#
# What is run (one worker thread in every case, `--threads 1`):
#   (a) throughput: `taskset -c LIST aircheckd --threads 1` with --fast-n file sources at
#       pace=fast, each a different input; CPU = the child's user + sys time (every thread:
#       worker, capture threads that decode and resample 48 kHz stereo, sinks) over the run.
#   (b) real time: the same with N sources at pace=realtime for --seconds, then SIGTERM; CPU is
#       sampled from /proc/PID/stat over [warmup, seconds] after the daemon logs "up:", memory
#       from /proc/PID/status just before SIGTERM. Events are checked for overflow (none
#       allowed), source_down, and airings of the references the input contains.
# Every input is a different cut of the corpus, so no two sources play the same audio.
# Runs take about reps × (len(N) × (seconds + 8) + fast run) seconds: ~14 min by default.
#
# Exit codes: 0 done, 1 a run failed, 2 bad command line.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=build
inputs=
refs=()
input_s=120
fast_n=32
seconds=40
warmup=10
reps=3
cpus=0
nice=0
profile=
report_only=0
pos=()
while (($#)); do
  case $1 in
    --bin) bin=$2; shift 2 ;;
    --inputs) inputs=$2; shift 2 ;;
    --refs) refs+=("$2"); shift 2 ;;
    --input-s) input_s=$2; shift 2 ;;
    --fast-n) fast_n=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --cpus) cpus=$2; shift 2 ;;
    --nice) nice=$2; shift 2 ;;
    --profile) profile=$2; shift 2 ;;
    --report-only) report_only=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "capacity.sh: unknown option $1" >&2; exit 2 ;;
    *) pos+=("$1"); shift ;;
  esac
done
if ((${#pos[@]} < 2)); then
  echo "usage: bench/capacity.sh [options] INDEX OUTDIR [N ...]   (--help for more)" >&2
  exit 2
fi
index=${pos[0]}
out=${pos[1]}
ns=("${pos[@]:2}")
((${#ns[@]})) || ns=(25 50 100 115 130)
aircheckd=$bin/daemon/aircheckd
aircheck=$bin/cli/aircheck
for b in "$aircheckd" "$aircheck"; do
  [[ -x $b ]] || { echo "capacity.sh: $b not found; build it or give --bin" >&2; exit 2; }
done
[[ -f $index/data.mdb ]] || { echo "capacity.sh: $index is not an index folder" >&2; exit 2; }
command -v taskset >/dev/null || { echo "capacity.sh: taskset (util-linux) is needed" >&2; exit 2; }
command -v ffmpeg >/dev/null || { echo "capacity.sh: ffmpeg is needed" >&2; exit 2; }
probe=("${PYTHON:-python3}" "$here/capacity_probe.py")

results=$out/results.jsonl
inputs=${inputs:-$out/inputs}
if ((!report_only)); then
  mkdir -p "$out/runs"
  max_n=$fast_n
  for n in "${ns[@]}"; do ((n > max_n)) && max_n=$n; done
  have=0
  [[ -f $inputs/inputs.tsv ]] && have=$(($(wc -l <"$inputs/inputs.tsv") - 1))
  if ((have < max_n)); then
    if ((${#refs[@]} == 0)); then
      corpus=${AIRCHECK_CORPUS:-/data/aircheck}
      refs=("$corpus/A/refs.tsv" "$corpus/NA/refs.tsv")
    fi
    args=()
    for r in "${refs[@]}"; do args+=(--refs "$r"); done
    echo "making $max_n inputs of ${input_s} s in $inputs ..."
    "${probe[@]}" inputs "${args[@]}" --count "$max_n" --seconds "$input_s" --out "$inputs"
  fi

  # The index is read through mmap: load it into the page cache so the first run is not the slow one.
  cat "$index"/*.mdb >/dev/null

  : >"$results"
  run() {  # pace n rep
    local dir=$out/runs/$1-$2-$3
    echo "$(date +%T) $1 N=$2 run $3/$reps"
    if ! "${probe[@]}" run --aircheckd "$aircheckd" --index "$index" --inputs "$inputs" --n "$2" \
        --pace "$1" --seconds "$seconds" --warmup "$warmup" --cpus "$cpus" --nice "$nice" --profile "$profile" \
        --out "$dir" >>"$results"; then
      echo "capacity.sh: run $dir failed" >&2
      exit 1
    fi
    tail -n 1 "$results" | "${probe[@]}" brief
  }
  for ((rep = 1; rep <= reps; ++rep)); do
    ((fast_n > 0)) && run fast "$fast_n" "$rep"
    for n in "${ns[@]}"; do run realtime "$n" "$rep"; done
  done
fi

{
  echo "# Daemon capacity"
  echo
  # shellcheck source=/dev/null
  echo "Date: $(date -u +%F). Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo |
    cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
    "$(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)."
  echo "aircheckd: $aircheckd ($(git -C "$here" describe --always --dirty 2>/dev/null || echo '?'))."
  echo "Pinned: the whole aircheckd process (all threads) with taskset -c $cpus, nice $nice;" \
    "one worker thread."
  echo "Default profile: ${profile:-built in}."
  echo
  echo "Index: $index"
  echo
  echo '```'
  "$aircheck" --index "$index" index stats
  echo '```'
  echo
  echo "Inputs: $inputs (48 kHz stereo FLAC, ${input_s} s each, a different cut for every source)."
  echo "Command: bench/capacity.sh --bin $bin --inputs $inputs --fast-n $fast_n" \
    "--seconds $seconds --warmup $warmup --reps $reps --cpus $cpus --nice $nice $index $out ${ns[*]}"
  echo
  "${probe[@]}" table "$results"
} >"$out/capacity.md"
echo "wrote $out/capacity.md"
