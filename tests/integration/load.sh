#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317 # (SC2317: checks run through rf_check)
# Pins: rf-load drives an echo server and reports sane figures.
#   Against the Linux kernel (a Python asyncio echo server on 198.18.0.1:7007, rf-load on its
#   embedded net_tap rf0): closed loop, pipelined multi-segment responses, a message larger
#   than one packet buffer, short flows, an open-loop --rate that it keeps, connection errors
#   counted (a closed port: exit 1, connect_errors > 0), --to required (exit 2); --json on
#   stdout and the --stats file carry the same figures; no packet buffer leaked.
#   Against rf-echo (two rawflow processes joined by a DPDK memif link, 198.18.2.1/24 and
#   198.18.2.2/24, in a namespace of their own): pipelined requests and short flows, without
#   errors, and both programs stop cleanly with every buffer back in the pool.
# "Sane": requests > 0, rps > 0, 0 < p50 <= p90 <= p99 <= p99.9, errors 0, the options echoed.
set -euo pipefail
# shellcheck source=lib.sh
. "${RF_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

rf_init load
load_bin='' echo_bin='' ns='' mns='' spid='' epid='' rc='' # set by rf_app, rf_ns_new, rf_start, rf_stop
rf_app load_bin rf-load
rf_app echo_bin rf-echo
PORT=7007
out=$RF_TMP/load.out
err=$RF_TMP/load.err
rf_logs+=("$err")

# ---- helpers -------------------------------------------------------------------------------

# check.py FILE COND...: the last JSON line of FILE (rf-load --json) must hold the keys of the
# contract, sane percentiles, and every COND: KEY=V, KEY>=V, KEY<=V, KEY~V (within 10%).
# Prints the figures in one line.
cat >"$RF_TMP/check.py" <<'EOF'
import json, re, sys

KEYS = ("requests", "duration_s", "rps", "p50_us", "p90_us", "p99_us", "p999_us", "errors",
        "conns", "size", "depth")
path, conds = sys.argv[1], sys.argv[2:]
lines = [l for l in open(path).read().splitlines() if l.startswith("{")]
if not lines:
    print("no JSON line on stdout")
    sys.exit(1)
r = json.loads(lines[-1])
problems = ["missing key %s" % k for k in KEYS if k not in r]
if not problems:
    print("%d requests in %.2f s: %.0f req/s; latency p50 %.1f us, p90 %.1f us, p99 %.1f us,"
          " p99.9 %.1f us; errors %d (conns %d, size %d, depth %d)"
          % (r["requests"], r["duration_s"], r["rps"], r["p50_us"], r["p90_us"], r["p99_us"],
             r["p999_us"], r["errors"], r["conns"], r["size"], r["depth"]))
    if r["requests"] > 0:
        if not r["rps"] > 0:
            problems.append("rps %r is not > 0" % r["rps"])
        if not 0 < r["p50_us"] <= r["p90_us"] <= r["p99_us"] <= r["p999_us"]:
            problems.append("percentiles not 0 < p50 <= p90 <= p99 <= p99.9")
for c in conds:
    m = re.fullmatch(r"(\w+)(=|>=|<=|~)(-?[0-9.]+)", c)
    key, op, want = m.group(1), m.group(2), float(m.group(3))
    got = r.get(key)
    ok = got is not None and {"=": lambda: got == want, ">=": lambda: got >= want,
                              "<=": lambda: got <= want,
                              "~": lambda: abs(got - want) <= 0.1 * want}[op]()
    if not ok:
        problems.append("wanted %s, got %s=%r" % (c, key, got))
for p in problems:
    print("  " + p)
sys.exit(1 if problems else 0)
EOF

# load_run RC_VAR NS ARGS...: rf-load in NS, at most 60 s, stdout to $out, stderr to $err.
load_run() {
	local _var=$1 _ns=$2 _st=0
	shift 2
	rf_timeout 60 ip netns exec "$_ns" "$load_bin" "$@" </dev/null >"$out" 2>"$err" || _st=$?
	printf -v "$_var" '%s' "$_st"
}

# figures RC WANT_RC COND...: the run exited WANT_RC and its JSON meets every COND.
figures() {
	local got=$1 want=$2
	shift 2
	"$RF_PY" "$RF_TMP/check.py" "$out" "$@" || { grep -v "^EAL\|^TELEMETRY\|_probe()" "$err" | tail -n 12; return 1; }
	[ "$got" = "$want" ] || { echo "exit status $got, wanted $want"; grep -v "^EAL\|^TELEMETRY\|_probe()" "$err" | tail -n 12; return 1; }
}

# wait_for WHAT SECONDS CMD...: polls CMD every 0.2 s until it succeeds, at most SECONDS.
wait_for() {
	local what=$1 secs=$2 deadline=$((SECONDS + $2))
	shift 2
	until "$@"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			rf_err "$what: not ready after $secs s"
			return 1
		fi
		sleep 0.2
	done
}

# ---- against the kernel -------------------------------------------------------------------

rf_ns_new ns
# 0.0.0.0: 198.18.0.1 exists only while an rf-load run has its rf0 up.
rf_start spid "$ns" server.log "$RF_PY" "$RF_SRC/tests/integration/echo_server.py" 0.0.0.0 "$PORT"
listening() { grep -q listening "$(rf_log server.log)" && rf_alive "$spid"; }
if ! wait_for "kernel echo server" 15 listening; then
	rf_fail "kernel echo server started"
	rf_finish
fi
TO=$RF_KERNEL_IP:$PORT

stats=$RF_TMP/load-stats.json
load_run rc "$ns" --to "$TO" --conns 4 --size 64 --depth 1 --duration 3 --json --quiet \
	--stats "$stats"
rf_check "kernel echo, 4 conns x depth 1, 64 B, 3 s: sane figures, no error" \
	figures "$rc" 0 errors=0 conns=4 size=64 depth=1 'requests>=100' 'duration_s>=2' \
	'duration_s<=4' connections=4
same_in_stats() {
	"$RF_PY" - "$out" "$stats" <<'EOF'
import json, sys
j = json.loads([l for l in open(sys.argv[1]).read().splitlines() if l.startswith("{")][-1])
s = json.load(open(sys.argv[2]))
bad = [k for k in j if s.get(k) != j[k]]
print("keys differing between --json and --stats: %s" % bad if bad else "", end="")
sys.exit(1 if bad else 0)
EOF
}
rf_check "--stats has the --json figures under the same keys" same_in_stats
rf_check "--stats: no packet buffer leaked" "$RF_PY" "$RF_SRC/tests/integration/stats.py" check \
	"$stats"

load_run rc "$ns" --to "$TO" --conns 2 --depth 8 --size 3000 --requests 20000 --duration 30 \
	--json --quiet
rf_check "pipelined (depth 8), 3000 B responses over several segments: 20000 answered" \
	figures "$rc" 0 requests=20000 errors=0 depth=8 size=3000

load_run rc "$ns" --to "$TO" --conns 2 --depth 2 --size 100000 --requests 300 --duration 30 \
	--json --quiet
rf_check "100000 B requests (several pre-built buffers each): 300 answered" \
	figures "$rc" 0 requests=300 errors=0 size=100000

load_run rc "$ns" --to "$TO" --short-flows --conns 4 --requests 2000 --duration 30 --json \
	--quiet
rf_check "short flows: 2000 connections, one request each, closed cleanly" \
	figures "$rc" 0 requests=2000 errors=0 'connections>=2000'

# A rate is a timing check: on a machine busy with other work the kernel's echo server (a
# Python process) can stall for a second and the 3 s run falls short (1,196 req/s once at load
# 10). One more run is allowed then, and said.
load_run rc "$ns" --to "$TO" --rate 2000 --conns 4 --duration 3 --json --quiet
if ! figures "$rc" 0 'rps~2000' errors=0 depth=64 >"$RF_TMP/rate1.txt"; then
	rf_say "--rate 2000: the first run missed ($(head -n 2 "$RF_TMP/rate1.txt" | tr '\n' ' ')); once more"
	load_run rc "$ns" --to "$TO" --rate 2000 --conns 4 --duration 3 --json --quiet
fi
rf_check "--rate 2000 (open loop): 2000 req/s kept within 10%" \
	figures "$rc" 0 'rps~2000' errors=0 depth=64

load_run rc "$ns" --to "$RF_KERNEL_IP:$((PORT + 1))" --conns 2 --duration 1 --json --quiet
refused() {
	figures "$rc" 1 requests=0 'connect_errors>=1' 'errors>=1' || return 1
	grep -q "connection refused" "$err" || { echo "no 'connection refused' on stderr"; return 1; }
}
rf_check "a closed port: connect errors counted and reported, exit 1" refused

load_run rc "$ns" --conns 2 --json
usage_refused() {
	if [ "$rc" != 2 ] || ! grep -q -- "--to" "$err"; then
		echo "exit status $rc"
		cat "$err"
		return 1
	fi
}
rf_check "--to missing: exit 2 with a message naming it" usage_refused

# ---- against rf-echo, over memif ----------------------------------------------------------
# Two rawflow processes cannot share rf0; a memif link joins them directly (its control
# socket is abstract, so it lives in the namespace made for it here). DPDK 22.11's memif PMD
# can crash the process that polls its end of the link while the peer leaves
# (docs/devices.md), so nobody polls when somebody leaves: rf-load runs with --hold (its
# figures written, its port open and unpolled), rf-echo stops first, then rf-load. One
# rf-echo per rf-load run.
cpu0=$(rf_first_cpu)
cpu1=$("$RF_PY" -c 'import os; c = sorted(os.sched_getaffinity(0)); print(c[1] if len(c) > 1 else c[0])')
rf_ns_new mns memif
sock=$RF_TMP/memif.sock
memif_eal=(--no-huge --no-pci --no-shconf -m 512 -l "$cpu1" --file-prefix "rf-load-$$"
	--vdev="net_memif0,role=client,socket=$sock" --)

# memif_round LABEL ARGS...: rf-echo as memif server, rf-load ARGS --hold as its client; once
# rf-load holds, rf-echo is stopped (exit 0, no buffer leaked), then rf-load (exit 0:
# rf_memif_depart). Sets rc to rf-load's exit status; its output (JSON line included) is in
# $out.
memif_round() {
	local label=$1 epid='' lpid='' echo_stats=$RF_TMP/echo-$1.json
	shift
	rm -f "$sock"
	rf_start epid "$mns" "echo-$label.log" "$echo_bin" --no-huge --no-pci --no-shconf -m 512 \
		-l "$cpu0" --file-prefix "rf-load-echo-$$" \
		--vdev="net_memif0,role=server,socket=$sock" -- \
		--ip 198.18.2.1/24 --port 7 --stats "$echo_stats"
	# Ready once its loop runs, i.e. its first status line is out: the memif socket exists
	# from the device probe on, but a client that connects before the port started is turned
	# away and (DPDK's memif client) does not try again.
	if ! rf_wait_line 30 "$epid" "echo-$label.log" '^rf-echo: .* \| flows'; then
		rf_fail "$label: rf-echo came up as memif server"
		rf_finish
	fi
	rf_start lpid "$mns" "load-$label.log" "$load_bin" "${memif_eal[@]}" "$@" --hold
	out=$(rf_log "load-$label.log")
	err=$out
	if rf_memif_depart "$label" rf-echo "$epid" rf-load "$lpid" "load-$label.log" 60 rc; then
		rf_check "$label: rf-echo: no packet buffer leaked" \
			"$RF_PY" "$RF_SRC/tests/integration/stats.py" check "$echo_stats"
	fi
}

# The first SYN may go out before the memif link is up (lwIP retries it after 3 s): the
# run is bounded by --requests, with --duration as a safety net.
mstats=$RF_TMP/load-memif-stats.json
memif_round pipelined --ip 198.18.2.2/24 --to 198.18.2.1:7 --conns 4 --depth 4 \
	--size 64 --requests 50000 --duration 30 --json --quiet --stats "$mstats"
rf_check "rf-echo over memif, 4 conns x depth 4: 50000 answered, no error" \
	figures "$rc" 0 requests=50000 errors=0 conns=4 depth=4
rf_check "rf-load over memif: no packet buffer leaked" \
	"$RF_PY" "$RF_SRC/tests/integration/stats.py" check "$mstats"

memif_round short --ip 198.18.2.2/24 --to 198.18.2.1:7 --short-flows \
	--conns 4 --requests 1000 --duration 30 --json --quiet
rf_check "rf-echo over memif, short flows: 1000 connections, no error" \
	figures "$rc" 0 requests=1000 errors=0

rf_finish
