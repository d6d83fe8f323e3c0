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
	else
		rf_fail "rf-echo exited 0 on SIGINT (exit status $rc)"
	fi
	rf_finish
}
