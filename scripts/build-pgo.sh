#!/usr/bin/env bash
# Profile-guided release build of rtnode (PGO): an instrumented build runs a training workload,
# and the release build is then optimized with the profile it recorded (branch layout, inlining
# and hot/cold splitting of the ingest and persist paths). Only rtnode's Rust code is profiled;
# librdkafka (C) is built as usual.
#
# Training workload (not the benchmarks' data): 2,000,000 events generated with another seed
# and day than `benches/` and `scripts/bench-e2e.sh` use, through the file firehose with a
# 128 MB `maxBytesInMemory` (two persists and a merge), then the README's run on the embedded
# default spec. The Kafka and RabbitMQ firehoses' own threads are not exercised (they need a
# broker); their code is small, and the Kafka bench's poll thread measured the same.
#
# Usage: scripts/build-pgo.sh [--target-cpu CPU]   (~15 minutes from scratch on 2 cores;
# needs rustup's `llvm-tools` component, added here when missing).
# The binary: target/pgo/use/release/rtnode.
#
# `--target-cpu native` (or a level such as `x86-64-v3`) also lets the compiler use the
# instructions of that CPU (AVX2, BMI2, …) in rtnode's Rust code, both builds alike. The binary
# then runs only on such CPUs (an older one stops it with "illegal instruction"); build it on
# the machine that runs it. Without the option the binary runs on any x86-64, as the ordinary
# release build does.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
work="$root/target/pgo"

cpu_flags=""
case "${1:-}" in
    --target-cpu) cpu_flags="-Ctarget-cpu=${2:?--target-cpu needs a CPU name (native, x86-64-v3, ...)}" ;;
    "") ;;
    *) echo "usage: scripts/build-pgo.sh [--target-cpu CPU]" >&2; exit 2 ;;
esac

profdata="$(find "$(rustc --print sysroot)" -name llvm-profdata -type f | head -1)"
if [ -z "$profdata" ]; then
    rustup component add llvm-tools
    profdata="$(find "$(rustc --print sysroot)" -name llvm-profdata -type f | head -1)"
fi

rm -rf "$work/profiles" "$work/train"
mkdir -p "$work/profiles" "$work/train/readme"
ln -s "$root/data" "$work/train/readme/data"
RUSTFLAGS="-Cprofile-generate=$work/profiles $cpu_flags" \
    cargo build --release --locked --bin rtnode --target-dir "$work/gen"

python3 ../shared/bench/gen_events.py 2000000 "$work/train/events.json" --seed 7 --day 2017-03-14
# The end-to-end spec with a 128 MB `maxBytesInMemory` (two persists and a merge).
scripts/e2e-spec.sh "$work/train" "$work/train" 100000000 134217728 > "$work/train/spec.json"
(cd "$work/train" && "$work/gen/release/rtnode" run --spec spec.json --exit-when-done \
    -D druid.plaintextPort=0 >run.log 2>&1) || { tail -20 "$work/train/run.log"; exit 1; }
(cd "$work/train/readme" && "$work/gen/release/rtnode" run --exit-when-done \
    -D druid.plaintextPort=0 >run.log 2>&1) ||
    { tail -20 "$work/train/readme/run.log"; exit 1; }

"$profdata" merge -o "$work/rtnode.profdata" "$work/profiles"
# Cargo does not track the profile's contents: build every crate again with the new one.
rm -rf "$work/use"
RUSTFLAGS="-Cprofile-use=$work/rtnode.profdata $cpu_flags" \
    cargo build --release --locked --bin rtnode --target-dir "$work/use"
rm -rf "$work/train"
echo "profile-guided build: $work/use/release/rtnode"
