#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317 # (SC2317: checks run through rf_check)
# Suite malformed: broken frames from the wire are dropped and counted; nothing crashes,
# nothing leaks, nothing reaches the application (issue 8, part 4).
#
# The corpus is tests/malformed/*.hex, one case per file, written by make_corpus.py (which
# says what each case is and what the stack must do): truncated frames, IPv4 header and total
# lengths that disagree with the frame, bad IP and TCP checksums, TCP data offsets below 5 or
# past the segment, options that run past the header, have length 0 or 1 or miss their length
# byte, fragments that never complete, overlap or end past 64 KiB, and the same kinds of
# defects inside an established connection; for IPv6 (issue 12): payload lengths that disagree
# with the frame, extension header chains (valid, long, past the frame or the payload length,
# hop-by-hop not first, routing type 0, unknown next header), fragments, truncated ICMPv6
# (echo, neighbour solicitation and advertisement, an option of length 0), bad ICMPv6 and TCP
# checksums, TCP data offsets past the segment. tests/malformed/inject.py sends every case into a
# running rf-echo from the kernel's side of rf0 (raw AF_PACKET socket) and checks, per case,
# whether the stack answered (it must not, for a frame that has to be dropped), that the
# stack's counters (read through DPDK's telemetry socket before and after) went up by what the
# case must raise, and that an established connection still echoes intact. Then:
#   - rf-echo is still running and a new connection echoes 4 MiB intact;
#   - at exit (after lwIP's 15 s reassembly timeout has passed) the drop counters are at least
#     what the cases must raise (frames dropped: rx_dropped + rx_link_dropped + rx_ip_dropped
#     + rx_tcp_dropped; checksums found wrong: rx_bad_cksum + rx_cksum_errors; summed over
#     the cases' "counts"), no flow is open, no PCB is left but TIME-WAIT, every packet
#     buffer is back in the pool, and it exits 0;
#   - the committed corpus is what make_corpus.py writes (regenerate it after changing the
#     script: python3 tests/malformed/make_corpus.py).
set -uo pipefail
# shellcheck source=lib.sh
. "${RF_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

rf_init malformed
echo_bin='' ns='' pid='' rc='' # set by rf_app, rf_ns_new, rf_start, rf_stop
rf_app echo_bin rf-echo
corpus=$RF_SRC/tests/malformed
stats=$RF_TMP/stats.json
result=$RF_TMP/inject.json
# lwIP gives up an incomplete IPv4 datagram after IP_REASS_MAXAGE (15) seconds; until then
# its fragments hold packet buffers. Stopping earlier would count them as missing.
reass_wait=17

up_to_date() {
	local fresh=$RF_TMP/corpus
	mkdir -p "$fresh"
	"$RF_PY" "$corpus/make_corpus.py" "$fresh" >/dev/null || return 1
	diff -r -x make_corpus.py -x inject.py -x '__pycache__' "$fresh" "$corpus" >/dev/null ||
		{ diff -r -q -x make_corpus.py -x inject.py -x '__pycache__' "$fresh" "$corpus"; return 1; }
}
rf_check "the committed corpus ($(ls "$corpus"/*.hex | wc -l) cases) is what make_corpus.py writes" \
	up_to_date

# The stack's counters are read per case through DPDK's telemetry socket, in the EAL runtime
# folder of this prefix (removed on exit, before lib.sh's cleanup; folders of earlier runs
# whose pid is gone too).
prefix=rf-malformed-$$
run_dir=/var/run/dpdk/$prefix
trap 'm_rc=$?; rm -rf -- "$run_dir"; (exit "$m_rc"); rf__cleanup' EXIT
for d in /var/run/dpdk/rf-malformed-*; do
	old_pid=${d##*-}
	case $old_pid in '' | *[!0-9]*) continue ;; esac
	[ -d "/proc/$old_pid" ] || rm -rf -- "$d"
done

rf_ns_new ns
rf_start pid "$ns" rf-echo.log RF_EAL_ARGS="--file-prefix=$prefix" "$echo_bin" --quiet \
	--stats "$stats"
if ! rf_wait_ready "$ns" "$pid" rf-echo.log; then
	rf_fail "rf-echo came up"
	rf_finish
fi
# No IPv6 from the kernel's side during the corpus (router solicitations, MLD reports): the
# stack drops some of those, and the per-case counts must see only the case's own frames.
ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 \
	net.ipv6.conf."$RF_IFACE".disable_ipv6=1 || true
t0=$SECONDS
irc=0
rf_timeout 240 ip netns exec "$ns" "$RF_PY" "$corpus/inject.py" "$RF_IFACE" "$RF_STACK_IP" \
	"$corpus" "$result" "$prefix" >"$RF_TMP/inject.out" 2>&1 || irc=$?
cat "$RF_TMP/inject.out"
rf_check "every case of the corpus handled as expected (inject.py exit status $irc)" \
	[ "$irc" = 0 ]
rf_check "rf-echo still runs after the corpus" rf_alive "$pid"

echo_ok() {
	rf_timeout 60 ip netns exec "$ns" "$RF_PY" "$RF_SRC/tests/integration/echo_client.py" \
		"$RF_STACK_IP" 7 $((4 * 1024 * 1024)) 30 >"$RF_TMP/client.out" ||
		{ cat "$RF_TMP/client.out"; return 1; }
}
rf_check "a new connection echoes 4 MiB intact" echo_ok

left=$((reass_wait - (SECONDS - t0)))
[ "$left" -gt 0 ] && sleep "$left"
sleep 1 # the last FIN exchange
rf_stop "$pid" rc || true
if [ "$rc" = 0 ]; then
	rf_pass "rf-echo exited 0"
else
	rf_fail "rf-echo exited 0 (exit status $rc)"
fi

counted() {
	[ -s "$result" ] && [ -s "$stats" ] || { echo "no inject result or no stats"; return 1; }
	"$RF_PY" - "$result" "$stats" <<'EOF'
import json, sys
want = json.load(open(sys.argv[1]))["counts"]
s = json.load(open(sys.argv[2]))
# where a frame is thrown away depends on the layer, and who finds a bad checksum on the
# PMD's offloads: the cases count the sums
parts = {"dropped": ("rx_dropped", "rx_link_dropped", "rx_ip_dropped", "rx_tcp_dropped"),
         "cksum": ("rx_bad_cksum", "rx_cksum_errors")}
bad = 0
for k in sorted(want):
    got = sum(s[p] for p in parts[k])
    ok = got >= want[k]
    bad += not ok
    print("  %-8s %6d counted (%s), the cases need >= %d%s" % (
        k, got, ", ".join("%s %d" % (p, s[p]) for p in parts[k]), want[k],
        "" if ok else "   <-- short"))
sys.exit(1 if bad else 0)
EOF
}
rf_check "drops counted: every counter at least what the cases must raise" counted

clean() {
	"$RF_PY" - "$stats" <<'EOF' || return 1
import json, sys
s = json.load(open(sys.argv[1]))
bad = []
if s["flows_open"]:
    bad.append("flows_open %d" % s["flows_open"])
if s["tcp_pcbs_in_use"] > s["tcp_pcbs_time_wait"]:
    bad.append("tcp_pcbs_in_use %d, of which TIME-WAIT %d"
               % (s["tcp_pcbs_in_use"], s["tcp_pcbs_time_wait"]))
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
EOF
	"$RF_PY" "$RF_SRC/tests/integration/stats.py" check "$stats"
}
rf_check "after the stop: no flow, no PCB but TIME-WAIT, every packet buffer back" clean

rf_finish
