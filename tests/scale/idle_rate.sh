#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# idle_rate.sh: is the cost of a segment flat in the number of connections? (issue 10)
#
# For each count K of idle connections (0, 1000, 10000; RF_SCALE_FULL=1 adds 100000): a fresh
# rf-echo (one core, memif server) and one rf-load that first opens K idle connections (one
# 64-byte request each, then open without traffic: --idle K) and then drives a closed loop of
# RF_IDLE_CONNS connections x RF_IDLE_DEPTH requests of 64 bytes. Once all K are held and
# RF_IDLE_WARMUP seconds passed, it measures for RF_IDLE_SECONDS:
#   - rps: the median of rf-load's per-second request rates;
#   - busy ns/req: rf-echo's own cost per request it answered (its rx_payload_bytes / 64):
#     the time of its loop passes that did work (busy_cycles, from /rawflow/stats through
#     DPDK's telemetry socket, before and after) times the share of the CPU it got meanwhile
#     (utime + stime from /proc over the wall time). Busy passes are measured with the TSC,
#     which also counts time other processes took the CPU; on a shared machine, scaling by
#     the share it got removes that time, assuming it is spread evenly over busy and idle
#     passes. Idle polling is not counted, so it is the server's cost whoever limits the rate.
#   - RTOs: rf-echo's retransmission timeouts while it was measured (rto_timeouts), and the
#     packet buffers it had in use at the start: more than 0 RTOs, and more buffers than the
#     load and the RX ring hold, say that the "idle" connections were not idle yet (answers
#     not acknowledged: docs/scaling.md, "ACKs lost in a burst").
# Each figure is also given as a ratio to the K = 0 figure. RF_IDLE_ROUNDS rounds (default 1)
# go through every K in turn; with several, each figure is the median of the rounds.
#
# One rf-load holds the idle connections and drives the load: a second client process would
# need a link of its own, and a rawflow process gives all its ports one address (replies would
# leave by the first port), while clients taking turns on one memif link can crash DPDK
# 22.11's memif server (docs/scaling.md). So the client's own cost grows with K too, which
# rps shows and busy ns/req does not. For the same crash, the end of each measurement freezes
# rf-echo before rf-load leaves (sc_quiet_stop).
#
# Output: one line per K as it is measured, then a table and one JSON line:
#   idle_rate: K=1000 round 1: 61234 req/s, rf-echo 9120 busy ns/req (it had 0.93 of a CPU);
#     rf-echo: 0 RTO retransmissions while measured, 1040 packet buffers in use at the start
#   idle            rps   ratio  busy ns/req   ratio      RTOs
#   0             62000   1.000         9010   1.000         0
#   1000          61234   0.988         9120   1.012         0
#   ...
#   {"idle_rate": [{"idle": 0, "rps": 62000, "rps_ratio": 1.0, "busy_ns_per_req": 9010,
#                   "busy_ratio": 1.0, "rto_timeouts": 0}, ...], "conns": 4, "depth": 8, ...}
# The ratios are rps(K)/rps(0) (below 1: slower) and busy(K)/busy(0) (above 1: costlier).
# Exit status 0 when every level was measured, 1 otherwise; it judges no figure: on a machine
# that other work shares, rps follows that work more than K (take several rounds, and compare
# the busy figures, which the correction above makes less sensitive to it).
set -uo pipefail
# shellcheck source=../integration/lib.sh
. "${RF_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"
# shellcheck source=lib.sh
. "$RF_SRC/tests/scale/lib.sh"

levels="0 1000 10000"
[ "${RF_SCALE_FULL:-0}" = 1 ] && levels="$levels 100000"
levels=${RF_IDLE_LEVELS:-$levels}
conns=${RF_IDLE_CONNS:-4}
depth=${RF_IDLE_DEPTH:-8}
seconds=${RF_IDLE_SECONDS:-5}
warmup=${RF_IDLE_WARMUP:-2}
rounds=${RF_IDLE_ROUNDS:-1}

epid='' lpid='' rc='' # set by sc_*_start, rf_stop
sc_init idle_rate
results=$RF_TMP/results.txt
: >"$results"

# sc_quiet_stop ECHO_PID LOAD_PID: ends a measurement without either side receiving while the
# other leaves (DPDK 22.11's memif PMD can crash then, docs/scaling.md): rf-echo is frozen,
# so that the closed loop stops; rf-load is stopped (SIGINT; its status in rc), and only then
# is rf-echo killed. Its counters were read already.
sc_quiet_stop() {
	kill -STOP "$1" 2>/dev/null
	sleep 0.2
	rf_stop "$2" rc 30
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# cpu_ticks PID: utime + stime of PID (all its threads), in clock ticks.
cpu_ticks() {
	awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat"
}

# measure K ROUND: one row "K ROUND RPS CPU_NS" into $results; fails when a step did.
measure() {
	local k=$1 round=$2 ports log=load-$1-$2.log elog=echo-$1-$2.log from s1 s2 rps c1 c2 w1 w2
	local -a idle=()
	ports=$(sc_ports $((k + conns)))
	[ "$k" -gt 0 ] && idle=(--idle "$k")
	sc_echo_start epid "$RF_TMP/memif-$k-$round.sock" "$elog" --ports "$ports" \
		--max-flows $((k + conns + 1024)) || return 1
	sc_load_start lpid "load" 198.18.2.2 "$RF_TMP/memif-$k-$round.sock" "$log" \
		--conns "$conns" --depth "$depth" "${idle[@]}" --ports "$ports" --duration 900
	if [ "$k" -gt 0 ]; then
		rf_wait_line $((60 + k / 500)) "$lpid" "$log" "all $k idle connections answered" ||
			return 1
	else
		rf_wait_line 30 "$lpid" "$log" '[1-9][0-9]* req/s' || return 1
	fi
	sleep "$warmup"
	from=$("$RF_PY" "$sc_tool" lines "$(rf_log "$log")")
	c1=$(cpu_ticks "$epid") || return 1
	s1=$("$RF_PY" "$sc_tool" stats "rf-scale-echo-$$") || return 1
	w1=$(date +%s%N)
	sleep "$seconds"
	c2=$(cpu_ticks "$epid") || return 1
	s2=$("$RF_PY" "$sc_tool" stats "rf-scale-echo-$$") || return 1
	w2=$(date +%s%N)
	rps=$("$RF_PY" "$sc_tool" rates "$(rf_log "$log")" "$from") || return 1
	sc_quiet_stop "$epid" "$lpid"
	[ "$rc" = 0 ] || rf_err "K=$k round $round: rf-load exited with status $rc"
	"$RF_PY" - "$k" "$round" "$rps" "$s1" "$s2" $((c2 - c1)) "$(getconf CLK_TCK)" \
		$((w2 - w1)) >>"$results" <<'EOF' || return 1
import json, sys
k, rnd, rps = sys.argv[1], sys.argv[2], sys.argv[3].split()[0]
a, b = json.loads(sys.argv[4]), json.loads(sys.argv[5])
ticks, hz, wall_ns = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
reqs = (b["rx_payload_bytes"] - a["rx_payload_bytes"]) / 64
busy_ns = (b["busy_cycles"] - a["busy_cycles"]) * 1e9 / b["tsc_hz"]
share = min(1.0, ticks / hz * 1e9 / wall_ns)
print(k, rnd, rps, "%.0f" % (busy_ns * share / reqs if reqs > 0 else 0), "%.2f" % share,
      b["rto_timeouts"] - a["rto_timeouts"], a["mbufs_in_use"])
EOF
	tail -n 1 "$results" |
		awk '{printf "idle_rate: K=%s round %s: %s req/s, rf-echo %s busy ns/req (it had %s of a CPU); rf-echo: %s RTO retransmissions while measured, %s packet buffers in use at the start\n", $1, $2, $3, $4, $5, $6, $7}'
}

failed=0
for round in $(seq "$rounds"); do
	for k in $levels; do
		if ! measure "$k" "$round"; then
			rf_err "K=$k round $round: not measured"
			failed=1
			for p in "$epid" "$lpid"; do
				rf_alive "$p" && rf_stop "$p" rc 10
			done
		fi
	done
done

"$RF_PY" - "$results" "$conns" "$depth" "$seconds" "$rounds" <<'EOF'
import json, statistics, sys
path, conns, depth, secs, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    int(sys.argv[4]), int(sys.argv[5])
rows = {}
for line in open(path):
    k, rnd, rps, cyc, _, rto = line.split()[:6]
    rows.setdefault(int(k), []).append((int(rnd), float(rps), float(cyc), int(rto)))
def med(k, i):
    return statistics.median(r[i] for r in rows[k])
out = []
base = rows.get(0)
print("%-9s %9s %7s %12s %7s %9s" % ("idle", "rps", "ratio", "busy ns/req", "ratio", "RTOs"))
for k in sorted(rows):
    rps, cyc, rto = med(k, 1), med(k, 2), med(k, 3)
    rr = rps / med(0, 1) if base and med(0, 1) > 0 else None
    cr = cyc / med(0, 2) if base and med(0, 2) > 0 else None
    print("%-9d %9.0f %7s %12.0f %7s %9.0f" % (k, rps, "%.3f" % rr if rr else "-", cyc,
                                               "%.3f" % cr if cr else "-", rto))
    out.append({"idle": k, "rps": round(rps), "rps_ratio": rr and round(rr, 3),
                "busy_ns_per_req": round(cyc), "busy_ratio": cr and round(cr, 3),
                "rto_timeouts": round(rto)})
print(json.dumps({"idle_rate": out, "conns": conns, "depth": depth, "seconds": secs,
                  "rounds": rounds, "size": 64}))
EOF
exit "$failed"
