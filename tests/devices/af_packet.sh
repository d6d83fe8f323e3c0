#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317 # (SC2317: checks run through rf_check)
# Row net_af_packet: rf-echo on a packet socket bound to one end of a veth pair; the kernel's
# TCP at the other end, in a second namespace, sends DEV_BYTES and reads them back.
#
#   rawflow's namespace  rfd<pid>a (up, no address)  --veth--  rfd<pid>b 198.18.3.1/24  kernel's
#   rf-echo --vdev=net_af_packet0,iface=rfd<pid>a,qpairs=1 -- --ip 198.18.3.2/24
#
# rawflow's end has no address of its own, so the kernel of rawflow's namespace neither
# answers ARP nor resets the TCP connections that rf-echo serves on the same frames. The
# kernel's end sends without TX checksum offload (lib.sh, dev_veth: why).
#   - the bytes come back with the same SHA-256, both sides close cleanly
#   - rf-echo stops on SIGINT with status 0; its --stats: every buffer back, all echoed,
#     nothing received copied
set -uo pipefail
. "$(dirname "$0")/lib.sh"
rf_init dev-af-packet

echo_bin='' ns='' kns='' rf_if='' k_if='' pid='' rc=''
rf_app echo_bin rf-echo
rf_ns_new ns
rf_ns_new kns kernel
if ! dev_veth "$ns" "$kns" rf_if k_if 198.18.3.1/24; then
	rf_fail "veth pair between $ns and $kns (with ethtool -K tx off)"
	rf_finish
fi
rf_say "veth: $rf_if in $ns (rawflow's), $k_if 198.18.3.1/24 in $kns (the kernel's)"

rf_start pid "$ns" echo.log "$echo_bin" "${DEV_EAL[@]}" -l "$(rf_first_cpu)" \
	--file-prefix "rf-dev-af-packet-$$" --vdev="net_af_packet0,iface=$rf_if,qpairs=1" -- \
	--ip 198.18.3.2/24 --quiet --stats "$RF_TMP/afp.json"
if ! dev_wait_ping "$kns" 198.18.3.2 "$pid" echo.log; then
	rf_fail "rf-echo came up on net_af_packet ($rf_if)"
	rf_finish
fi
caps=$(dev_caps echo.log) || caps=''
rf_check "net_af_packet logged its capabilities: $caps" test -n "$caps"

dev_kernel_echo "$kns" 198.18.3.2 afp
rf_say "client: $(cat "$RF_TMP/afp.client")"
rf_check "net_af_packet: $DEV_BYTES bytes echoed, SHA-256 equal, closed both ways" dev_intact afp
sleep 0.5 # the last ACKs
if rf_stop "$pid" rc && [ "$rc" = 0 ]; then
	rf_pass "rf-echo stopped on SIGINT with status 0"
	rf_check "rf-echo --stats: no leak, all echoed, nothing received copied" dev_echo_stats afp
else
	rf_fail "rf-echo stopped on SIGINT with status 0 (got $rc)"
fi

dev_row net_af_packet "$caps" afp
rf_finish
