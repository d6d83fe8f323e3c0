#!/usr/bin/env bash
# A measurement, not a test (docs/scaling.md): the request rate of rf-echo on 1 core and on 2
# cores (--cores 2, two queues of net_tap, software hand-off), driven by the kernel's TCP
# (tests/bench/kload.c: a closed loop of CONNS connections, one SIZE-byte request in flight
# each) from the namespace's side of the tap, ROUNDS alternating rounds of SECONDS each.
# Wrap it in `flock /tmp/rawflow-heavy.lock`. Prints one line per round, then the medians:
#
#   cores 1: N req/s (median of R)   cores 2: N req/s   ratio X
#
# The load generator and the kernel's TCP and tap work run on the same CPUs as rf-echo: on a
# 2-CPU machine, 2 polling cores leave the client only what the scheduler takes from them.
set -u
. "${RF_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"
rf_init mcratio

CONNS=${RF_RATIO_CONNS:-32}
SIZE=${RF_RATIO_SIZE:-64}
SECONDS_RUN=${RF_RATIO_SECONDS:-10}
ROUNDS=${RF_RATIO_ROUNDS:-3}
rf_app echo_bin rf-echo
kload=$RF_TMP/kload
cc -O2 -std=gnu11 -I"$RF_SRC/apps" -o "$kload" "$RF_SRC/tests/bench/kload.c" \
	"$RF_SRC/apps/histogram.c" || rf_skip "cannot compile tests/bench/kload.c"

rf_ns_new ns
declare -A rates
for round in $(seq "$ROUNDS"); do
	for cores in 1 2; do
		rf_start pid "$ns" "echo-$cores-$round.log" "$echo_bin" --cores "$cores" --quiet
		rf_wait_ready "$ns" "$pid" "echo-$cores-$round.log" 60 || rf_finish
		for _ in $(seq 300); do
			[ "$cores" = 1 ] || grep -q "core 1 up" "$(rf_log "echo-$cores-$round.log")" && break
			sleep 0.2
		done
		out=$(rf_timeout $((SECONDS_RUN + 30)) ip netns exec "$ns" "$kload" \
			--to "$RF_STACK_IP:7" --conns "$CONNS" --size "$SIZE" --duration "$SECONDS_RUN")
		rps=$(printf '%s\n' "$out" | "$RF_PY" -c 'import json,sys; print(int(json.loads(sys.stdin.read().strip().splitlines()[-1])["rps"]))')
		rf_stop "$pid" rc
		echo "round $round, cores $cores: $rps req/s"
		rates[$cores]+="$rps "
	done
done
median() { printf '%s\n' $1 | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m1=$(median "${rates[1]}") m2=$(median "${rates[2]}")
echo "cores 1: $m1 req/s (median of $ROUNDS)   cores 2: $m2 req/s   ratio $(awk -v a="$m1" -v b="$m2" 'BEGIN {printf "%.2f", b / a}')"
rf_pass "measured"
rf_finish
