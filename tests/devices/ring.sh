#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317 # (SC2317: checks run through rf_check)
# Row net_ring (suite devices-optional): skipped with the reason, after showing what the
# device is from EAL arguments.
#
# net_ring's rings live in one process's memory. Given as --vdev=net_ring0 it is a loopback:
# its RX and TX use the same ring, so a program receives every frame it sends (this script
# starts rf-echo on it for one second and shows that, with the capabilities rawflow logged).
# A crossed pair of ports needs rte_eth_from_rings() in code, and both ports are then in one
# process; a rawflow process runs one lwIP stack with its address on port 0 only, so both
# ends of such a wire would be the same stack. The echo check therefore has no meaning on
# net_ring. What net_ring is good for: a test that owns the other end of the ring in the same
# process, as tests/segments does (it puts crafted frames on the ring and reads the stack's
# answers off it); net_memif is the in-memory wire between two rawflow processes
# (docs/devices.md).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
rf_init dev-ring

echo_bin='' ns='' pid='' rc=''
rf_app echo_bin rf-echo
rf_ns_new ns

rf_start pid "$ns" echo.log "$echo_bin" "${DEV_EAL[@]}" -l "$(rf_first_cpu)" \
	--file-prefix "rf-dev-ring-$$" --vdev=net_ring0 -- --ip 198.18.7.1/24 --quiet --duration 1 \
	--stats "$RF_TMP/ring.json"
if ! dev_wait_exit "$pid" rc 20 || [ "$rc" != 0 ]; then
	rf_fail "rf-echo ran one second on net_ring0 and stopped with status 0 (got $rc)"
	rf_finish
fi
caps=$(dev_caps echo.log) || caps=''
rf_check "net_ring logged its capabilities: $caps" test -n "$caps"
loopback() {
	local rx tx
	rx=$(dev_stat ring rx_pkts) && tx=$(dev_stat ring tx_pkts) || return 1
	rf_say "rf-echo on net_ring0 sent $tx frames (start-up ARP and IPv6) and received $rx"
	[ "$tx" -gt 0 ] && [ "$rx" = "$tx" ]
}
rf_check "net_ring0 from --vdev is a loopback: every frame sent came back" loopback
rf_say "ROW net_ring | ${caps:-capabilities not logged} | 0 bytes verified | not run"
[ "$rf_nfail" = 0 ] || rf_finish # what did run must hold before the row is skipped

dev_unavailable "echo over net_ring has no meaning for rawflow: from --vdev a net_ring port is a" \
	"loopback, a crossed pair needs rte_eth_from_rings() in one process, and one rawflow" \
	"process is one lwIP stack (address on port 0 only), so both ends would be the same" \
	"stack; net_ring is the in-process wire of tests/segments (crafted frames on the ring)," \
	"and net_memif joins two rawflow processes"
