#!/usr/bin/env bash
# Fingerprint parameter sweep: accuracy against cost for a list of settings, each evaluated by
# `aircheck eval queries --set ...` on a tuning subset of the corpus.
#
# Usage:
#   bench/tune.sh [options] OUTDIR SETTING...
#
#   SETTING  comma-separated KEY=VALUE fingerprint parameters (the keys of
#            `aircheck eval queries --set`), e.g. index_peaks=18,index_fanout=5; `defaults` is
#            this build's parameters
#   OUTDIR   tune.md     the table (Markdown), with the command of every run
#            tune.tsv    the same numbers, one line per setting
#            subset/     the tuning references: refs.tsv and symlinks to every K-th reference,
#                        and SUBSET, a line saying which
#            index/NAME/ one scratch index per set of index-side parameters, reused by the
#                        settings that differ only on the query side (query_peaks,
#                        query_fanout) and by later runs
#            runs/NAME/  report.json, queries.tsv and report.md of each setting's eval
#                        (report.md is written last: a run without it did not finish)
#
# Options:
#   --bin DIR         build folder holding cli/aircheck (default: build)
#   --refs DIR        corpus folder, refs.tsv layout or a folder of audio files
#                     (default: $AIRCHECK_CORPUS/A, AIRCHECK_CORPUS defaulting to /data/aircheck)
#   --every K         tuning subset: references 1, 1+K, 1+2K, ... in sorted order (default 3);
#                     the others stay out of the index, so nothing is tuned on them
#   --negatives DIR   non-indexed audio for the false-match rate, repeatable
#                     (default: $AIRCHECK_CORPUS/NA)
#   --n N             excerpts per (length, condition) cell (default 100)
#   --lengths L       excerpt lengths in seconds (default 2,5,10)
#   --conditions C    (default clean,white:10,white:0)
#   --speeds S        speed hypotheses per query (default 1: one matching pass per query, so
#                     neither top-1 nor the cost depends on the decision rule, which was fitted
#                     to the default parameters)
#   --seed S          (default 1)
#   -j N              threads for indexing and queries (default 2)
#   --report-only     no runs: rewrite tune.md and tune.tsv from OUTDIR/runs (the SETTINGs
#                     given, in that order, else every run there); lengths, conditions, seed
#                     and n are read from the first run's report
#
# A setting whose runs/NAME/report.md exists is not run again: delete that folder to redo it.
#
# Columns of the table:
#   index MB/h   index bytes in use per hour of indexed audio (LMDB pages in use)
#   index post/s postings stored per second of indexed audio (index density)
#   postings/s   postings the matcher reads per second of query: the mean over all cells of
#                (postings read per query / query length); the cost of a lookup
#   hashes/s     query hashes per second of query (mean over the cells likewise)
#   L s: ...     top-1 (right track and offset, no threshold), %, per condition at length L
#   mean top-1   mean of those cells
#   false        false-match rate on the negatives (decision rule of this build), %
#   vs FIRST     paired against the first setting of the table, on the same excerpts: +W
#                queries top-1 here and not there, -L the reverse
#
# Needs jq. Exit codes: 0 done, 1 a run failed, 2 bad command line.
set -euo pipefail

corpus=${AIRCHECK_CORPUS:-/data/aircheck}
bin=build
refs=$corpus/A
every=3
negatives=()
n=100
lengths=2,5,10
conditions=clean,white:10,white:0
speeds=1
seed=1
threads=2
report_only=0
pos=()
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while (($#)); do
  case $1 in
    --bin) bin=$2; shift 2 ;;
    --refs) refs=$2; shift 2 ;;
    --every) every=$2; shift 2 ;;
    --negatives) negatives+=("$2"); shift 2 ;;
    --n) n=$2; shift 2 ;;
    --lengths) lengths=$2; shift 2 ;;
    --conditions) conditions=$2; shift 2 ;;
    --speeds) speeds=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    -j) threads=$2; shift 2 ;;
    --report-only) report_only=1; shift ;;
    -h|--help) usage ;;
    -*) echo "tune.sh: unknown option $1" >&2; usage ;;
    *) pos+=("$1"); shift ;;
  esac
done
((${#pos[@]} >= 1)) || usage
out=${pos[0]}
settings=("${pos[@]:1}")
((${#negatives[@]})) || negatives=("$corpus/NA")
aircheck=$bin/cli/aircheck
command -v jq >/dev/null || { echo "tune.sh: jq is needed" >&2; exit 2; }
[[ $every =~ ^[1-9][0-9]*$ ]] || { echo "tune.sh: --every must be a positive integer" >&2; exit 2; }
if ((!report_only)); then
  ((${#settings[@]})) || { echo "tune.sh: no SETTING given" >&2; usage; }
  [[ -x $aircheck ]] || { echo "tune.sh: no $aircheck (see --bin)" >&2; exit 2; }
fi
mkdir -p "$out/runs" "$out/index"

# --- the tuning subset ---
make_subset() {
  local sub=$out/subset
  [[ -f $sub/refs.tsv ]] && return
  rm -rf "$sub" && mkdir -p "$sub/refs"
  local -a files=()
  if [[ -f $refs/refs.tsv ]]; then
    # Corpus layout: keep its ids and durations, in the path order eval sorts by.
    local header
    header=$(head -n 1 "$refs/refs.tsv")
    printf '%s\n' "$header" >"$sub/refs.tsv"
    tail -n +2 "$refs/refs.tsv" | sort -t $'\t' -k2,2 | awk -v k="$every" 'NR % k == 1 || k == 1' |
      while IFS=$'\t' read -r id path rest; do
        local name=$id.${path##*.}
        ln -s "$(realpath "$refs/$path")" "$sub/refs/$name"
        printf '%s\trefs/%s\t%s\n' "$id" "$name" "$rest" >>"$sub/refs.tsv"
      done
  else
    mapfile -t files < <(find "$refs" -type f \( -iname '*.wav' -o -iname '*.flac' -o \
      -iname '*.mp3' -o -iname '*.ogg' -o -iname '*.opus' -o -iname '*.m4a' -o -iname '*.aac' \
      -o -iname '*.wma' \) | LC_ALL=C sort)
    local i
    for ((i = 0; i < ${#files[@]}; i += every)); do
      ln -s "$(realpath "${files[i]}")" "$sub/refs/$(printf '%05d' "$i")-$(basename "${files[i]}")"
    done
    rm -f "$sub/refs.tsv"
  fi
  echo "one in $every of $(realpath "$refs")" >"$sub/SUBSET"
  echo "tune.sh: tuning subset of $(find "$sub/refs" -type l | wc -l) references in $sub" >&2
}

# Index folder name of a setting: its index-side assignments, sorted ("defaults" if none).
index_name() {
  local s
  s=$(tr ',' '\n' <<<"$1" | grep -v -e '^query_peaks=' -e '^query_fanout=' -e '^defaults$' \
    -e '^$' | LC_ALL=C sort | paste -sd, -) || true
  echo "${s:-defaults}"
}

run_setting() {
  local setting=$1 dir=$out/runs/$1
  if [[ -f $dir/report.md ]]; then
    echo "tune.sh: $setting: kept (delete $dir to run it again)" >&2
    return
  fi
  local -a set=() negs=()
  local a
  if [[ $setting != defaults ]]; then
    IFS=',' read -ra kv <<<"$setting"
    for a in "${kv[@]}"; do set+=(--set "$a"); done
  fi
  for a in "${negatives[@]}"; do negs+=(--negatives "$a"); done
  local t0=$SECONDS
  echo "tune.sh: $setting ..." >&2
  rm -rf "$dir"
  if ! "$aircheck" eval queries --index "$out/index/$(index_name "$setting")" \
    --refs "$out/subset" "${negs[@]}" --seed "$seed" --n "$n" --lengths "$lengths" \
    --conditions "$conditions" --speeds "$speeds" "${set[@]}" --no-plots --details -q -j "$threads" \
    --out "$dir"; then
    echo "tune.sh: $setting: eval failed" >&2
    rm -f "$dir/report.md"
    return 1
  fi
  echo "tune.sh: $setting: $((SECONDS - t0)) s" >&2
}

# "+W / -L": queries (excerpt, condition) top-1 in the second queries.tsv and not in the first,
# and the reverse.
paired() {
  [[ -f $1 && -f $2 ]] || { echo "–"; return; }
  local a=$1 b=$2
  [[ $a == /* ]] || a=./$a  # awk takes an argument like NAME=VALUE for an assignment
  [[ $b == /* ]] || b=./$b
  awk -F'\t' '
    FNR == 1 || $2 == "negative" || $2 == "speech" { next }
    NR == FNR { base[$1 FS $2 FS $3 FS $4] = ($7 == 1); next }
    { k = $1 FS $2 FS $3 FS $4; c = ($7 == 1); if (c && !base[k]) w++; if (!c && base[k]) l++ }
    END { printf "+%d / -%d", w, l }' "$a" "$b"
}

# --- the table ---
report() {
  local md=$out/tune.md tsv=$out/tune.tsv
  local -a runs=()
  local s
  if ((${#settings[@]})); then
    for s in "${settings[@]}"; do
      if [[ -f $out/runs/$s/report.md ]]; then runs+=("$s"); fi
    done
  else
    for s in "$out"/runs/*/report.md; do
      if [[ -f $s ]]; then runs+=("$(basename "$(dirname "$s")")"); fi
    done
  fi
  ((${#runs[@]})) || { echo "tune.sh: no runs in $out/runs" >&2; return 1; }
  # The protocol as the first run recorded it (--report-only may be given other options).
  local first=$out/runs/${runs[0]}/report.json
  local lengths conditions
  lengths=$(jq -r '[.cells[].length_s] | unique | map(tostring) | join(",")' "$first")
  conditions=$(jq -r 'reduce .cells[].condition as $c ([]; if index([$c]) then . else . + [$c] end)
    | join(",")' "$first")
  local -a lens conds
  IFS=',' read -ra lens <<<"$lengths"
  IFS=',' read -ra conds <<<"$conditions"
  {
    echo "# Fingerprint parameter sweep"
    echo
    echo "Tuning subset: $(jq -r '.setup.refs' "$first") references ($(jq -r \
      '.setup.refs_hours * 100 | round / 100' "$first") h, $(cat "$out/subset/SUBSET" 2>/dev/null ||
      echo "$out/subset"));" \
      "$(jq -r '"seed \(.setup.seed), n = \(.setup.n) excerpts per cell, speeds " +
        ((.setup.command | capture("--speeds (?<s>[^ ]+)").s) // "default")' "$first")." \
      "Top-1 in %, right track and offset."
    echo
    printf '| setting | index MB/h | index post/s | postings/s | hashes/s |'
    local heads
    heads=$(IFS=/; echo "${conds[*]}")
    for l in "${lens[@]}"; do printf ' %s s: %s |' "$l" "${heads//\// / }"; done
    printf ' mean top-1 | false | vs %s |\n|---|---:|---:|---:|---:|' "${runs[0]}"
    for l in "${lens[@]}"; do printf -- '---|'; done
    printf -- '---:|---:|---:|\n'
  } >"$md"
  printf 'setting\tindex_mb_per_h\tindex_postings_per_s\tpostings_per_s\thashes_per_s\tmean_top1\tfalse_match_rate' >"$tsv"
  for l in "${lens[@]}"; do for c in "${conds[@]}"; do printf '\ttop1_%ss_%s' "$l" "$c" >>"$tsv"; done; done
  printf '\n' >>"$tsv"
  local cmds=""
  for s in "${runs[@]}"; do
    local j=$out/runs/$s/report.json
    # One jq pass: the row's numbers, tab-separated.
    local row
    row=$(jq -r --arg lens "$lengths" --arg conds "$conditions" '
      def r1: . * 10 | round / 10;
      ($lens | split(",") | map(tonumber)) as $L | ($conds | split(",")) as $C |
      [.cells[] | select((.length_s as $x | $L | index($x)) and (.condition as $c | $C | index($c)))] as $cells |
      [ (.index.bytes_used_per_hour / 1e6 | . * 100 | round / 100),
        (.index.postings_per_hour / 3600 | r1),
        ([$cells[] | .postings_mean / .length_s] | add / length | round),
        ([$cells[] | .hashes_mean / .length_s] | add / length | round),
        ([$cells[] | .top1] | add / length * 100 | r1),
        (.negatives.false_match_rate // 0 | . * 100 | r1) ]
      + [ $L[] as $l | $C[] as $c | ($cells[] | select(.length_s == $l and .condition == $c) | .top1 * 100 | r1) ]
      | @tsv' "$j")
    printf '%s\t%s\n' "$s" "$row" >>"$tsv"
    local -a v
    IFS=$'\t' read -ra v <<<"$row"
    local line="| $s | ${v[0]} | ${v[1]} | ${v[2]} | ${v[3]} |" k=6
    for l in "${lens[@]}"; do
      local cell=""
      for c in "${conds[@]}"; do cell+="${cell:+ / }${v[k]}"; k=$((k + 1)); done
      line+=" $cell |"
    done
    local vs="–"
    [[ $s == "${runs[0]}" ]] || vs=$(paired "$out/runs/${runs[0]}/queries.tsv" "$out/runs/$s/queries.tsv")
    line+=" ${v[4]} | ${v[5]} | $vs |"
    echo "$line" >>"$md"
    cmds+="- \`$(jq -r '.setup.command' "$j")\` ($(jq -r '.setup.wall_s | round' "$j") s)"$'\n'
  done
  {
    echo
    echo "Commands (index folders: $out/index; reports: $out/runs):"
    echo
    printf '%s' "$cmds"
  } >>"$md"
  echo "tune.sh: wrote $md" >&2
}

if ((!report_only)); then
  make_subset
  failed=0
  for s in "${settings[@]}"; do run_setting "$s" || failed=1; done
  report
  exit $failed
fi
report
