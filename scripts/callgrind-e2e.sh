#!/usr/bin/env bash
# Instruction count of a scaled-down end-to-end run, the stable measure on a noisy machine:
# `rtnode run --exit-when-done` under callgrind over 200,000 generated events, with the spec of
# scripts/bench-e2e.sh except maxRowsInMemory 20000 (nine intermediate persists and a merge of
# ten hydrants, as the 10M-event run makes).
#
# Usage: scripts/callgrind-e2e.sh [RTNODE_BINARY]   (default target/release/rtnode, built first)
# Prints the total instructions; the profile stays in target/bench-data/callgrind.*/cg.out
# (`callgrind_annotate --inclusive=yes …/cg.out` for the split by stage).
set -euo pipefail
cd "$(dirname "$0")/.."
events=200000
input_dir="$PWD/target/bench-data/e2e-$events"
mkdir -p "$input_dir"
if [ ! -s "$input_dir/events.json" ]; then
    python3 ../shared/bench/gen_events.py "$events" "$input_dir/events.json.tmp"
    mv "$input_dir/events.json.tmp" "$input_dir/events.json"
fi
bin="${1:-}"
if [ -z "$bin" ]; then
    cargo build --release --locked --bin rtnode
    bin="$PWD/target/release/rtnode"
fi
work="$(mktemp -d "$PWD/target/bench-data/callgrind.XXXXXX")"
scripts/e2e-spec.sh "$input_dir" "$work" 20000 > "$work/spec.json"
(cd "$work" && valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$bin" run \
    --spec "$work/spec.json" --exit-when-done -D druid.plaintextPort=0 >"$work/stdout" 2>"$work/stderr") \
    || { tail -30 "$work/stderr"; exit 1; }
tail -1 "$work/stdout" | cut -c1-200
total=$(grep -o "Collected : [0-9]*" "$work/stderr" | awk '{print $3}')
echo "events=$events instructions=$total per_event=$(( total / events )) profile=$work/cg.out"
