#!/usr/bin/env bash
# End-to-end benchmark: `rtnode run --exit-when-done` over N generated events (file → rolled-up
# index → persisted hydrants → merged segment → local deep storage → SQLite metadata), pinned to
# one core. DAY segments, minute rollup over the 9 string dimensions, count + longSum
# added/deleted/delta + hyperUnique(user), maxBytesInMemory 256 MB.
#
# Usage: scripts/bench-e2e.sh [EVENTS]   (default 10000000; the event file is generated once
# under target/bench-data, ~2.8 GB for 10M). Prints events/s, wall time and peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-10000000}"
data_dir="$PWD/target/bench-data"
input_dir="$data_dir/e2e-$events"
mkdir -p "$input_dir"
if [ ! -s "$input_dir/events.json" ]; then
    python3 ../shared/bench/gen_events.py "$events" "$input_dir/events.json.tmp"
    mv "$input_dir/events.json.tmp" "$input_dir/events.json"
fi
cargo build --release --locked --bin rtnode
work="$(mktemp -d "$data_dir/run.XXXXXX")"
trap 'rm -rf "$work"' EXIT
scripts/e2e-spec.sh "$input_dir" "$work" > "$work/spec.json"
start_ns=$(date +%s%N)
(cd "$work" && taskset -c 0 /usr/bin/time -v "$OLDPWD/target/release/rtnode" run \
    --spec "$work/spec.json" --exit-when-done -D druid.plaintextPort=0 \
    >"$work/stdout" 2>"$work/stderr") || { tail -30 "$work/stderr"; exit 1; }
end_ns=$(date +%s%N)
elapsed_ms=$(( (end_ns - start_ns) / 1000000 ))
tail -1 "$work/stdout" | cut -c1-400
rss_kb=$(grep "Maximum resident set size" "$work/stderr" | awk '{print $NF}')
cpu=$(grep -E "User time|System time" "$work/stderr" | awk '{s+=$NF} END {print s}')
echo "events=$events wall_ms=$elapsed_ms events_per_s=$(( events * 1000 / elapsed_ms )) cpu_s=$cpu peak_rss_mb=$(( rss_kb / 1024 )) load=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
