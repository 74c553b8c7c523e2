#!/usr/bin/env bash
# Prints the realtime spec of the end-to-end runs (scripts/bench-e2e.sh, callgrind-e2e.sh,
# build-pgo.sh): the file firehose over INPUT_DIR/events.json, DAY segments, minute rollup over
# the 9 string dimensions, count + longSum added/deleted/delta + hyperUnique(user), hydrants
# under WORK_DIR/persist.
#
# Usage: scripts/e2e-spec.sh INPUT_DIR WORK_DIR [MAX_ROWS_IN_MEMORY [MAX_BYTES_IN_MEMORY]]
#        (defaults 100000000 and 268435456: memory, not rows, decides when to persist)
set -euo pipefail
input_dir="${1:?usage: scripts/e2e-spec.sh INPUT_DIR WORK_DIR [MAX_ROWS [MAX_BYTES]]}"
work="${2:?usage: scripts/e2e-spec.sh INPUT_DIR WORK_DIR [MAX_ROWS [MAX_BYTES]]}"
max_rows="${3:-100000000}"
max_bytes="${4:-268435456}"
cat <<EOF
[{"dataSchema":{"dataSource":"bench","parser":{"type":"string","parseSpec":{"format":"json",
   "timestampSpec":{"column":"timestamp","format":"auto"},
   "dimensionsSpec":{"dimensions":["page","user","language","country","city","namespace","channel","isRobot","isAnonymous"]}}},
  "metricsSpec":[{"type":"count","name":"count"},{"type":"longSum","name":"added","fieldName":"added"},
   {"type":"longSum","name":"deleted","fieldName":"deleted"},{"type":"longSum","name":"delta","fieldName":"delta"},
   {"type":"hyperUnique","name":"user_unique","fieldName":"user"}],
  "granularitySpec":{"type":"uniform","segmentGranularity":"DAY","queryGranularity":"MINUTE"}},
 "ioConfig":{"type":"realtime","firehose":{"type":"local","baseDir":"$input_dir","filter":"events.json"},
  "plumber":{"type":"realtime"}},
 "tuningConfig":{"type":"realtime","maxRowsInMemory":$max_rows,"maxBytesInMemory":$max_bytes,
  "intermediatePersistPeriod":"PT10M","windowPeriod":"PT10M","basePersistDirectory":"$work/persist",
  "rejectionPolicy":{"type":"none"}}}]
EOF
