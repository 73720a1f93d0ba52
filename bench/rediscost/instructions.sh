#!/bin/sh
# Instructions redis-server runs per decision (callgrind): the Redis cost of a decision's commands, deterministic where
# the shared machine's timings are not. Needs valgrind (callgrind_control). Takes about two minutes.
#
#	bench/rediscost/instructions.sh
set -eu
cd "$(dirname "$0")/../.."
OUT=$(mktemp -d); echo "work dir $OUT" >&2
PORT=${REDIS_PORT:-16392}
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/callgrind.out.%p" \
	redis-server --port "$PORT" --save "" --appendonly no >"$OUT/valgrind.log" 2>&1 &
VG=$!
trap 'kill $VG 2>/dev/null || true; wait $VG 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$OUT"' EXIT
for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.3; done
RISKD_INSTR_ADDR="127.0.0.1:$PORT" RISKD_INSTR_PID=$VG RISKD_INSTR_DIR="$OUT" \
	go test ./store -run '^TestRedisInstructionsPerDecision$' -count=1 -v -timeout 20m | grep -E 'instructions per|FAIL|Error'
