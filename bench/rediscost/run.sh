#!/bin/sh
# Redis CPU per decision, and decisions per second with Redis and in memory, in one run on this machine.
#
#	bench/rediscost/run.sh [RISKD_BINARY]   # default: builds ./cmd/riskd
#
# It starts a redis-server (no persistence) and riskd pinned to CPU 1, the load generator (bench/load) on
# CPU 0: a closed loop of 32 connections over a population of 50k users (the default mix: logins, failed
# logins, checkouts, travel, credential stuffing). Each mode gets a warm-up run (the population's state comes
# to exist), then a measured one. For Redis it resets INFO commandstats after the warm-up and divides the
# usec of every command by the decisions riskd made in the measured run (riskd_decisions_total).
# Figures on a shared machine move by tens of percent from run to run: compare modes within one run.
# It also prints riskd's own CPU and system calls per decision in each mode, read from /proc.
#
# Environment: CONNS (32) the load's connections; REDIS_FLAGS more riskd flags for the Redis mode (e.g.
# "--redis-fresh 0"); REDIS_UNIX=1 connects riskd to Redis by its Unix socket instead of loopback TCP; WARM
# (6s) and DUR (10s); LOAD_BIN a built bench/load; KEEP=1 keeps the work dir; PPROF=1 also takes a CPU
# profile of riskd over 8 s of each measured run (cpu-MODE.pprof in the work dir, kept;
# `go tool pprof -top BINARY FILE`).
set -eu
cd "$(dirname "$0")/../.."
OUT=$(mktemp -d); echo "work dir $OUT" >&2
trap 'kill $(cat $OUT/*.pid 2>/dev/null) 2>/dev/null || true; [ -n "${KEEP:-}${PPROF:-}" ] || rm -rf "$OUT"' EXIT
BIN=${1:-}
if [ -z "$BIN" ]; then BIN=$OUT/riskd; go build -o "$BIN" ./cmd/riskd; fi
if [ -n "${LOAD_BIN:-}" ]; then cp "$LOAD_BIN" "$OUT/load"; else go build -o "$OUT/load" ./bench/load; fi
[ -f var/geoip/city.mmdb ] || go run ./bench/geogen -out var/geoip >/dev/null
: "${RISKD_HASH_KEY:=rediscost-0123456789abcdef0123456789}"
export RISKD_HASH_KEY
RPORT=${REDIS_PORT:-16391}
HPORT=${HTTP_PORT:-18391}
RADDR=127.0.0.1:$RPORT
[ -z "${REDIS_UNIX:-}" ] || RADDR=$OUT/redis.sock
WARM=${WARM:-6s}
DUR=${DUR:-10s}
redis-server --port "$RPORT" --unixsocket "$OUT/redis.sock" --unixsocketperm 700 --save "" --appendonly no --daemonize yes --pidfile "$OUT/redis.pid" --logfile "$OUT/redis.log"
sleep 0.3

decisions() { curl -s "http://127.0.0.1:$HPORT/metrics" | awk '/^riskd_decisions_total/ {s += $2} END {printf "%d", s}'; }
# Reads answered by riskd's local state because Redis answered late or was taken out of the request path:
# such decisions cost Redis nothing and make the Redis mode look faster than it is (should be 0, see below).
localreads() { curl -s "http://127.0.0.1:$HPORT/metrics" | awk '/^riskd_state_local_reads_total/ {s += $2} END {printf "%d", s}'; }

cpu() { redis-cli -p "$RPORT" info cpu | tr -d '\r' | awk -F: '/^used_cpu_(user|sys):/ {s += $2} END {printf "%.3f", s}'; }
# riskd's own CPU (clock ticks, user and system) and system calls (reads and writes of any kind), from /proc.
ticks() { awk '{print $14 + $15}' "/proc/$(cat "$OUT/riskd.pid")/stat"; }
syscalls() { awk '/^sysc[rw]:/ {s += $2} END {print s}' "/proc/$(cat "$OUT/riskd.pid")/io"; }

# measure MODE FLAGS...: prints the decisions riskd made in the measured run, its answered/s (the load's
# capacity row), the CPU seconds Redis used in it, the decisions riskd read on local state, riskd's CPU ticks and
# its system calls.
measure() {
	mode=$1; shift
	taskset -c 1 "$BIN" serve --listen "127.0.0.1:$HPORT" --geoip-city var/geoip/city.mmdb --geoip-asn var/geoip/asn.mmdb \
		--geoip-anonymous var/geoip/anonymous.mmdb --max-conns-per-ip 0 ${PPROF:+--pprof} "$@" >"$OUT/riskd-$mode.log" 2>&1 &
	echo $! >"$OUT/riskd.pid"
	for _ in $(seq 50); do curl -sf "http://127.0.0.1:$HPORT/readyz" >/dev/null && break; sleep 0.1; done
	load() { taskset -c 0 "$OUT/load" -url "http://127.0.0.1:$HPORT/v1/decide" -server-pid "$(cat "$OUT/riskd.pid")" \
		-profile capacity -capacity-conns "${CONNS:-32}" -users 50000 -warmup 1s -quiet "$@" >>"$OUT/load-$mode.txt" 2>&1; }
	load -duration "$WARM"
	redis-cli -p "$RPORT" config resetstat >/dev/null
	: >"$OUT/load-$mode.txt"
	d0=$(decisions); c0=$(cpu); l0=$(localreads); t0=$(ticks); s0=$(syscalls)
	pp=
	if [ -n "${PPROF:-}" ]; then
		(sleep 1; curl -s "http://127.0.0.1:$HPORT/debug/pprof/profile?seconds=8" -o "$OUT/cpu-$mode.pprof") &
		pp=$!
	fi
	load -duration "$DUR"
	[ -z "$pp" ] || wait "$pp"
	d1=$(decisions); c1=$(cpu); l1=$(localreads); t1=$(ticks); s1=$(syscalls)
	kill "$(cat "$OUT/riskd.pid")"; wait "$(cat "$OUT/riskd.pid")" 2>/dev/null || true; rm -f "$OUT/riskd.pid"
	rate=$(awk -F'|' '$2 ~ /^ capacity / {gsub(/[ ,]/, "", $6); print $6}' "$OUT/load-$mode.txt")
	echo "$((d1 - d0)) $rate $(echo "$c1 - $c0" | bc) $((l1 - l0)) $((t1 - t0)) $((s1 - s0))"
}

# A decision's Redis budget of 1 s rather than 25 ms: on a busy machine Redis answers late, and riskd then
# decides on local state (for 250 ms after three late answers in a row), which costs Redis nothing and made
# the Redis mode look cheap and fast. With Redis in the request path for every decision the figures are its.
set -- $(measure redis --redis "$RADDR" --redis-timeout "${REDIS_TIMEOUT:-1s}" ${REDIS_FLAGS:-}); rdec=$1; rrate=$2; rcpu=$3; rlocal=$4; rticks=$5; rsys=$6
redis-cli -p "$RPORT" info commandstats | tr -d '\r' | grep -v resetstat >"$OUT/commandstats"
redis-cli -p "$RPORT" info stats | tr -d '\r' >"$OUT/stats"
set -- $(measure memory); mdec=$1; mrate=$2; mticks=$5; msys=$6

echo "redis commandstats over the measured redis run ($rdec decisions, $rlocal reads of them on riskd's local state):"
grep '^cmdstat_' "$OUT/commandstats" | sed 's/,rejected_calls.*//' | sort -t= -k3 -rn
# Commands a script calls are counted on their own too, and inside the script's usec: the scripts' usec plus
# the commands riskd sends itself is the cost; the sum of every line counts the scripts' commands twice.
awk -F'[:=,]' -v d="$rdec" -v cpu="$rcpu" -v rr="$rrate" -v mr="$mrate" '
/^cmdstat_/ { all += $5; if ($1 ~ /^cmdstat_(evalsha|eval|fcall)$/) scripts += $5 }
END {
	printf "redis CPU per decision: scripts %.1f us; every command line summed %.1f us; redis process (INFO cpu) %.1f us\n", scripts / d, all / d, cpu * 1e6 / d
	printf "decisions/s: redis %d, memory %d, redis / memory = %.2f\n", rr, mr, rr / mr
}' "$OUT/commandstats"
# Round trips: a read is one read(2) of a client's socket (one or more commands), a write one reply flush.
awk -F: -v d="$rdec" '
/^total_reads_processed:/ { r = $2 } /^total_writes_processed:/ { w = $2 }
/^total_net_input_bytes:/ { i = $2 } /^total_net_output_bytes:/ { o = $2 } /^total_commands_processed:/ { c = $2 }
END { printf "per decision: %.2f reads, %.2f writes, %.2f commands, %.0f bytes in, %.0f bytes out\n", r / d, w / d, c / d, i / d, o / d }' "$OUT/stats"
# What a decision costs riskd itself in each mode: its CPU (its rate on one core follows from it) and its system
# calls (a decision in memory needs a read of the request and a write of the answer).
hz=$(getconf CLK_TCK)
echo "riskd per decision: CPU redis $(echo "scale=1; $rticks * 1000000 / $hz / $rdec" | bc) us, memory $(echo "scale=1; $mticks * 1000000 / $hz / $mdec" | bc) us; system calls redis $(echo "scale=2; $rsys / $rdec" | bc), memory $(echo "scale=2; $msys / $mdec" | bc)"
