#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317 # (SC2317: checks run through rf_check)
# Pins: rf-iperf speaks iperf3's protocol both ways.
#
# Server: the stock iperf3 client (Debian's 3.12) completes 3-second tests against rf-iperf in
# normal mode, -R, -P 4 and --bidir, each with a JSON result (-J) that has the right number of
# streams and non-zero throughput on the sending and the receiving side (half of those figures
# come from rf-iperf's results message); a second client during a test is told the server is
# busy while the first one completes; rf-iperf stops cleanly on SIGINT, and its --stats count
# the tests, the denied client and bytes both ways, with every packet buffer back in the pool.
#
# Client: rf-iperf --client completes a 3-second test against `iperf3 -s -1` in normal mode,
# --reverse and --parallel 4 and exits 0; its --stats and the server's JSON both show non-zero
# throughput, and its packet buffers are all back in the pool.
set -euo pipefail
# shellcheck source=lib.sh
. "${RF_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

rf_init iperf
iperf_bin='' ns='' cns='' pid='' spid='' rc='' # set by rf_app, rf_ns_new, rf_start, rf_stop
command -v iperf3 >/dev/null || rf_skip "no iperf3 (apt-get install -y iperf3)"
command -v ss >/dev/null || rf_skip "no 'ss' command (iproute2)"
rf_app iperf_bin rf-iperf
TEST_TIME=3

# said DESCRIPTION CMD...: rf_check, with the last line CMD printed added to the outcome.
said() {
	local what=$1 out st=0
	shift
	out=$("$@" 2>&1) || st=$?
	if [ "$st" = 0 ]; then
		rf_pass "$what: ${out##*$'\n'}"
	else
		rf_fail "$what: ${out##*$'\n'}"
	fi
}

# iperf_json_ok FILE STREAMS KEY...: iperf3 -J output without error, with STREAMS streams and
# a non-zero bit rate in each summary KEY of "end" (sum_sent, sum_received, ...).
iperf_json_ok() {
	"$RF_PY" - "$@" <<'PY'
import json, sys
path, streams, keys = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
try:
    r = json.load(open(path))
except ValueError as e:
    print("no JSON from iperf3: %s: %s" % (e, open(path).read().strip()[:300]))
    sys.exit(1)
if "error" in r:
    print("iperf3: " + r["error"])
    sys.exit(1)
end = r.get("end", {})
bad = False
words = []
for k in keys:
    bps = end.get(k, {}).get("bits_per_second", 0)
    words.append("%s %.0f Mbit/s" % (k, bps / 1e6))
    bad = bad or not bps > 0
n = len(end.get("streams", []))
if n != streams:
    words.append("%d streams (wanted %d)" % (n, streams))
    bad = True
print(", ".join(words))
sys.exit(1 if bad else 0)
PY
}

# ---- rf-iperf as the server, the kernel's iperf3 as the client ----------------------------
rf_ns_new ns
stats=$RF_TMP/server.json
rf_start pid "$ns" rf-iperf.log "$iperf_bin" --quiet --stats "$stats"
if ! rf_wait_ready "$ns" "$pid" rf-iperf.log; then
	rf_fail "rf-iperf came up and answered a first ping"
	rf_finish
fi
rf_pass "rf-iperf came up and answered a first ping"

# The client's summaries: each side's figures for each direction.
both=(sum_sent sum_received)
both_ways=(sum_sent sum_received sum_sent_bidir_reverse sum_received_bidir_reverse)

# client_run LABEL STREAMS [IPERF3 OPTIONS...]: one iperf3 test against rf-iperf.
client_run() {
	local label=$1 streams=$2 out keys=("${both[@]}")
	shift 2
	out=$RF_TMP/$label.json
	[ "$label" = bidir ] && keys=("${both_ways[@]}")
	rf_timeout $((TEST_TIME + 30)) ip netns exec "$ns" iperf3 -c "$RF_STACK_IP" \
		-t "$TEST_TIME" -J "$@" >"$out" 2>&1 || true
	said "iperf3 -t $TEST_TIME${*:+ $*} against rf-iperf" iperf_json_ok "$out" "$streams" \
		"${keys[@]}"
}
client_run normal 1
client_run reverse 1 -R
client_run parallel 4 -P 4
client_run bidir 2 --bidir

# One test at a time: a second client while one runs is turned away, the first completes.
busy_first=$RF_TMP/busy-first.json
busy_second=$RF_TMP/busy-second.out
ip netns exec "$ns" timeout -k 5 40 iperf3 -c "$RF_STACK_IP" -t 4 -J >"$busy_first" 2>&1 &
first=$!
rf_pids+=("$first")
sleep 1.5
rf_timeout 20 ip netns exec "$ns" iperf3 -c "$RF_STACK_IP" -t 1 >"$busy_second" 2>&1 || true
busy_denied() { grep -q "busy" "$busy_second" || { cat "$busy_second"; return 1; }; }
rf_check "a second client during a test is told the server is busy" busy_denied
wait "$first" || true
said "the first client's test completed meanwhile" iperf_json_ok "$busy_first" 1 "${both[@]}"

server_counts() {
	"$RF_PY" - "$stats" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
want = {"tests": 5, "tests_denied": 1, "bytes_received": 1, "bytes_sent": 1}
bad = [k for k, v in want.items() if not isinstance(s.get(k), int) or s[k] < v]
print("tests %s, failed %s, denied %s, bytes_received %s, bytes_sent %s" % tuple(
    s.get(k) for k in ("tests", "tests_failed", "tests_denied", "bytes_received", "bytes_sent")))
sys.exit(1 if bad else 0)
PY
}
if rf_stop "$pid" rc && [ "$rc" = 0 ]; then
	rf_pass "rf-iperf exited 0 on SIGINT"
	rf_check "--stats: required counters, every packet buffer back in the pool" \
		"$RF_PY" "$RF_SRC/tests/integration/stats.py" check "$stats"
	said "--stats counts >= 5 tests, the denied client, bytes both ways" server_counts
else
	rf_fail "rf-iperf exited 0 on SIGINT (exit status $rc)"
fi

# ---- rf-iperf --client, the kernel's iperf3 -s as the server ------------------------------
# iperf3 -s binds 198.18.0.1 before rf-iperf gives rf0 that address: non-local bind, in this
# namespace only.
rf_ns_new cns client
ip netns exec "$cns" sysctl -qw net.ipv4.ip_nonlocal_bind=1

listening() { ip netns exec "$cns" ss -Hltn "sport = :5201" | grep -q .; }

# client_ok STATS: rf-iperf's last_test says ok, with non-zero rates in the directions used.
client_ok() {
	"$RF_PY" - "$1" <<'PY'
import json, sys
t = json.load(open(sys.argv[1])).get("last_test") or {}
sent, recv = t.get("we_sent", {}), t.get("we_received", {})
rates = [d.get(k, 0) for d in (sent, recv) if d.get("streams") for k in
         ("sent_bits_per_second", "received_bits_per_second")]
print("ok %s, we sent %.0f Mbit/s, we received %.0f Mbit/s" % (
    t.get("ok"), sent.get("sent_bits_per_second", 0) / 1e6,
    recv.get("received_bits_per_second", 0) / 1e6))
sys.exit(0 if t.get("ok") and rates and all(r > 0 for r in rates) else 1)
PY
}

# server_run LABEL STREAMS KEY [rf-iperf client options...]: one test of rf-iperf --client
# against a fresh `iperf3 -s -1`, whose JSON must show a non-zero rate in its summary KEY (the
# server reports only what it measured itself).
server_run() {
	local label=$1 streams=$2 key=$3 crc=0 cstats=$RF_TMP/$1-client.json what
	shift 3
	what="rf-iperf --client${*:+ $*}"
	rf_start spid "$cns" "$label-iperf3-s.json" iperf3 -s -B "$RF_KERNEL_IP" -1 -J
	for _ in $(seq 50); do
		listening && break
		sleep 0.1
	done
	rf_timeout $((TEST_TIME + 30)) ip netns exec "$cns" "$iperf_bin" --quiet --duration 60 \
		--stats "$cstats" --client "$RF_KERNEL_IP" --time "$TEST_TIME" "$@" \
		>"$RF_TMP/$label-client.out" 2>&1 || crc=$?
	grep -E '^\[SUM\]' "$RF_TMP/$label-client.out" | sed "s/^/$RF_TEST: $label: /" || true
	# iperf3 -s -1 exits after its one test.
	for _ in $(seq 50); do
		rf_alive "$spid" || break
		sleep 0.2
	done
	if rf_alive "$spid"; then
		kill "$spid" 2>/dev/null || true
	fi
	wait "$spid" 2>/dev/null || true
	rf_check "$what exited 0 (status $crc)" test "$crc" = 0
	said "$what --stats" client_ok "$cstats"
	rf_check "$what: every packet buffer back in the pool" \
		"$RF_PY" "$RF_SRC/tests/integration/stats.py" check "$cstats"
	said "iperf3 -s saw the test of $what" \
		iperf_json_ok "$RF_TMP/$label-iperf3-s.json" "$streams" "$key"
}
server_run cnormal 1 sum_received
server_run creverse 1 sum_sent --reverse
server_run cparallel 4 sum_received --parallel 4

rf_finish
