# shellcheck shell=bash
# Shared start and end of the security suite's scripts (sourced): the integration helpers
# (tests/integration/lib.sh: namespaces, traps that always clean up, bounded waits), rf-echo
# started on the embedded default in a fresh namespace, and its clean stop with the leak check.
#
#   . "$(dirname "$0")/common.sh"
#   sec_init NAME          rf_init, scapy check, namespace $ns, rf-echo started as $pid
#   sec_peer WHAT [ARGS]   runs tests/security/peer.py WHAT inside $ns (bounded), prints its
#                          lines; returns its status
#   sec_finish             rf-echo still running, stops cleanly, stats show no leak; rf_finish
#   sec_finish_idle        the same, and no lwIP pcb left but TIME-WAIT ones (after a flood)
#                          (both run the script's function sec_final_checks, if defined, once
#                          rf-echo has written its stats to $RF_TMP/stats.json)
# shellcheck source=../integration/lib.sh
. "${RF_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/tests/integration/lib.sh"

SEC_PEER=$RF_SRC/tests/security/peer.py
ns='' pid='' echo_bin=''

sec_init() {
	rf_init "$1"
	"$RF_PY" -c 'import scapy' 2>/dev/null ||
		rf_skip "no scapy for $RF_PY (./run deps installs python3-scapy)"
	rf_app echo_bin rf-echo
	rf_ns_new ns
	rf_start pid "$ns" rf-echo.log "$echo_bin" --quiet --stats "$RF_TMP/stats.json"
	if ! rf_wait_ready "$ns" "$pid" rf-echo.log; then
		rf_fail "rf-echo came up in $ns"
		rf_finish
	fi
}

# sec_peer SECONDS WHAT [ARGS...]
sec_peer() {
	local secs=$1
	shift
	rf_timeout "$secs" ip netns exec "$ns" "$RF_PY" "$SEC_PEER" "$@"
}

sec_alive() {
	rf_alive "$pid" || { rf_err "rf-echo is gone; its last lines:"; tail -n 5 "$(rf_log rf-echo.log)" >&2; return 1; }
}

sec_finish() {
	local rc=''
	if ! rf_alive "$pid"; then
		rf_fail "rf-echo still running at the end"
		rf_finish
	fi
	rf_stop "$pid" rc || true
	if [ "$rc" = 0 ]; then
		rf_pass "rf-echo exited 0 on SIGINT"
		rf_check "rf-echo's --stats show every packet buffer back in the pool" \
			"$RF_PY" "$RF_SRC/tests/integration/stats.py" check "$RF_TMP/stats.json"
		[ "${1:-}" = idle ] && rf_check \
			"no lwIP pcb left but TIME-WAIT ones (the half-open connections timed out)" \
			sec_zero_pcbs
		# a script's own checks of the final stats, if it has any
		if declare -F sec_final_checks >/dev/null; then sec_final_checks; fi
	else
		rf_fail "rf-echo exited 0 on SIGINT (exit status $rc)"
	fi
	rf_finish
}

sec_finish_idle() {
	sec_finish idle
}

# The stats rf-echo wrote at exit hold no pcb but TIME-WAIT ones; prints the figures.
sec_zero_pcbs() {
	"$RF_PY" - "$RF_TMP/stats.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
left = s["tcp_pcbs_in_use"] - s["tcp_pcbs_time_wait"]
print("tcp_pcbs_in_use %d (%d in TIME-WAIT), mbufs_in_use %d (idle %d)" % (
    s["tcp_pcbs_in_use"], s["tcp_pcbs_time_wait"], s["mbufs_in_use"], s["mbufs_idle"]))
sys.exit(0 if left == 0 else 1)
PY
}
