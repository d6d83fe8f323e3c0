#!/usr/bin/env bash
# Suite zerocopy: the mbuf is the buffer, shown by the counters.
#
# A kernel client pushes RF_ZC_BYTES (default 256 MiB) through rf-echo over net_tap and reads
# it back; SHA-256 must match both ways. rf-echo's --stats must then show that the stack
# carried at least that much payload each way and copied none of it (rx_copied_bytes and
# tx_copied_bytes 0), and that every packet buffer went back to the pool after the flow closed
# (mbufs_in_use <= mbufs_idle, the start-up baseline).
#
# The second half runs the same transfer with --copy, the path a device without multi-segment
# TX takes (every frame copied into one mbuf): it must be just as correct, and the copies must
# show up in tx_copied_bytes — the fallback is counted, not hidden. (Every DPDK 22.11 vdev
# available here offers multi-segment TX, so the fallback is forced rather than discovered.)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
rf_init zerocopy

bytes=${RF_ZC_BYTES:-$((256 * 1024 * 1024))}
rf_app echo rf-echo
rf_ns_new ns

# run_echo LABEL [OPTIONS...]: one rf-echo life: start, transfer, stop; leaves
# $RF_TMP/LABEL.json (stats) and $RF_TMP/LABEL.client (client result).
run_echo() {
	local label=$1 pid rc
	shift
	rf_start pid "$ns" "$label.log" "$echo" --quiet --stats "$RF_TMP/$label.json" "$@"
	if ! rf_wait_ready "$ns" "$pid" "$label.log"; then
		rf_fail "$label: rf-echo did not come up"
		return 1
	fi
	rf_timeout 300 ip netns exec "$ns" "$RF_PY" "$RF_SRC/tests/integration/echo_client.py" \
		"$RF_STACK_IP" 7 "$bytes" 240 >"$RF_TMP/$label.client"
	rf_say "$label: client $(cat "$RF_TMP/$label.client")"
	sleep 0.5 # the last ACKs and the FIN exchange
	rf_stop "$pid" rc
	[ "$rc" = 0 ] || rf_fail "$label: rf-echo exited with $rc"
}

stat() { "$RF_PY" "$RF_SRC/tests/integration/stats.py" get "$RF_TMP/$1.json" "$2"; }
intact() { "$RF_PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r.get("match") and r["received"]==int(sys.argv[2]) else 1)' "$RF_TMP/$1.client" "$bytes"; }
is_zero() { [ "$(stat "$1" "$2")" = 0 ]; }
at_least() { [ "$(stat "$1" "$2")" -ge "$3" ]; }
# <= : the idle baseline is taken at start-up, when net_tap may hold one more RX buffer than
# later; a leak only ever adds.
no_leak() { [ "$(stat "$1" mbufs_in_use)" -le "$(stat "$1" mbufs_idle)" ]; }

run_echo zc
rf_check "zero-copy: $bytes bytes echoed, SHA-256 equal both ways" intact zc
rf_check "zero-copy: rx_payload_bytes >= $bytes" at_least zc rx_payload_bytes "$bytes"
rf_check "zero-copy: tx_payload_bytes >= $bytes" at_least zc tx_payload_bytes "$bytes"
rf_check "zero-copy: rx_copied_bytes == 0" is_zero zc rx_copied_bytes
rf_check "zero-copy: tx_copied_bytes == 0" is_zero zc tx_copied_bytes
rf_check "zero-copy: mbufs back at idle after close" no_leak zc
rf_say "zero-copy counters: rx_payload $(stat zc rx_payload_bytes) tx_payload $(stat zc tx_payload_bytes) rx_copied $(stat zc rx_copied_bytes) tx_copied $(stat zc tx_copied_bytes) mbufs $(stat zc mbufs_in_use)/$(stat zc mbufs_idle)"

run_echo copy --copy
rf_check "copy fallback: $bytes bytes echoed intact" intact copy
rf_check "copy fallback: tx_copied_bytes >= $bytes (counted)" at_least copy tx_copied_bytes "$bytes"
rf_check "copy fallback: rx_copied_bytes == 0" is_zero copy rx_copied_bytes
rf_check "copy fallback: mbufs back at idle after close" no_leak copy
rf_say "copy counters: tx_payload $(stat copy tx_payload_bytes) tx_copied $(stat copy tx_copied_bytes)"
rf_finish
