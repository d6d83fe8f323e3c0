#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317 # (SC2317: checks run through rf_check)
# Row net_vhost + net_virtio_user: two rawflow processes on the path a VM's traffic takes,
# a vhost-user backend and a virtio-net driver sharing memory over a unix socket, with
# virtio's offload negotiation:
#
#   rf-echo     --vdev=net_vhost0,iface=SOCK,queues=1  -- --ip 198.18.6.1/24   (backend, socket server)
#   echo_check  --vdev=net_virtio_user0,path=SOCK      -- --ip 198.18.6.2/24 --to 198.18.6.1:7
#
# Both run without hugepages: DPDK 22.11's --no-huge memory is backed by a memfd, which
# virtio_user hands to the backend (VHOST_USER_SET_MEM_TABLE), so no hugepage reservation
# is needed. The client starts once the backend's loop runs and its socket exists.
#   - the bytes come back intact, both sides close cleanly, no leak on either side
#
#   - rf-echo's leak check: --stats after SIGINT (mbufs_in_use <= mbufs_idle) and the exit
#     check (every buffer back in the pool once the port closed: rawflow.stack's INFO line)
#   - the client's leak check is the exit check alone (echo_check, rf_loop_destroy): while it
#     runs, net_virtio_user keeps sent buffers in its TX ring (it has no tx_done_cleanup and
#     frees them only inside a later, fuller burst), so mbufs_in_use there says nothing.
#   - the virtio features both ends negotiated (VHOST_CONFIG's negotiated Virtio features),
#     and the offloads rawflow chose from them, are printed in the row.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
rf_init dev-vhost

echo_bin='' ns='' pid='' rc='' cpu0='' cpu1=''
rf_app echo_bin rf-echo
[ -x "$DEV_CHECK" ] || { rf_fail "$DEV_CHECK was not built"; rf_finish; }
rf_ns_new ns
dev_cpus
sock=$RF_TMP/vhost.sock

rf_start pid "$ns" echo.log "$echo_bin" "${DEV_EAL[@]}" -l "$cpu0" --file-prefix "rf-dev-vhost-$$" \
	--vdev="net_vhost0,iface=$sock,queues=1" -- --ip 198.18.6.1/24 --stats "$RF_TMP/vhost.json"
if ! rf_wait_line 30 "$pid" echo.log '^rf-echo: .* \| flows' || [ ! -S "$sock" ]; then
	rf_fail "rf-echo came up as vhost-user backend (socket $sock)"
	rf_finish
fi
caps=$(dev_caps echo.log) || caps=''
rf_check "net_vhost logged its capabilities: $caps" test -n "$caps"

# The link moves 32 MiB in 2 to 5 s here (a busy machine); 20 s bounds a stuck transfer.
rf_logs+=("$RF_TMP/check.log")
rf_timeout 60 ip netns exec "$ns" "$DEV_CHECK" "${DEV_EAL[@]}" -l "$cpu1" \
	--file-prefix "rf-dev-vhost-c-$$" --vdev="net_virtio_user0,path=$sock" -- \
	--ip 198.18.6.2/24 --to 198.18.6.1:7 --bytes "$DEV_BYTES" --timeout 20 \
	>"$RF_TMP/vhost.client" 2>"$RF_TMP/check.log"
rc=$?
rf_say "client: $(cat "$RF_TMP/vhost.client")"
ccaps=$(dev_caps check.log) || ccaps=''
rf_say "net_virtio_user capabilities: ${ccaps:-not logged}"
rf_check "net_vhost/net_virtio_user: $DEV_BYTES bytes echoed, checked byte for byte and by SHA-256, closed both ways, no leak in the client (exit $rc)" \
	dev_intact vhost
sleep 0.5
if rf_stop "$pid" rc && [ "$rc" = 0 ]; then
	rf_pass "rf-echo stopped on SIGINT with status 0"
	rf_check "rf-echo --stats: no leak, all echoed, nothing received copied" dev_echo_stats vhost
else
	rf_fail "rf-echo stopped on SIGINT with status 0 (got $rc)"
fi

rf_check "rf-echo: every packet buffer back in the pool after the port closed" \
	dev_exit_clean echo.log
rf_check "rf-echo received no frame with a bad checksum verdict (rx_bad_cksum 0)" \
	test "$(dev_stat vhost rx_bad_cksum)" = 0
# What virtio negotiated: the backend logs the feature bits the driver acked, once at probe
# and again when the driver's port is configured with its offloads; the last one holds.
features=$(grep -o 'negotiated Virtio features: 0x[0-9a-f]*' "$RF_TMP/echo.log" | tail -n 1 | awk '{print $NF}')
csum=''
if [ -n "$features" ]; then
	(( features & (1 << 0) )) && csum+=' CSUM'
	(( features & (1 << 1) )) && csum+=' GUEST_CSUM'
	(( features & (1 << 15) )) && csum+=' MRG_RXBUF'
	(( features & (1 << 11) )) && csum+=' HOST_TSO4'
fi
rf_say "negotiated virtio features: ${features:-not logged} (offload bits:${csum:- none})"
has_csum() { [[ $csum == *" CSUM"* ]]; }
rf_check "virtio_user and vhost negotiated checksum offload (VIRTIO_NET_F_CSUM)" has_csum

# ---- the peer vanishes mid-transfer --------------------------------------------------------
# A second backend; its client is killed (SIGKILL) while data flows both ways. The backend
# then refuses every frame (link down): rawflow drops what waits in its send queue and counts
# it (tx_link_down) instead of holding those buffers until the port closes. rf-echo must
# keep running, stop with status 0, and get every buffer back once its port closed (its
# open flow's buffers included: rf_loop_destroy aborts it first).
vanish() {
	local p2 c2 st=0 drops
	rm -f "$sock"
	rf_start p2 "$ns" echo2.log "$echo_bin" "${DEV_EAL[@]}" -l "$cpu0" \
		--file-prefix "rf-dev-vhost2-$$" --vdev="net_vhost0,iface=$sock,queues=1" -- \
		--ip 198.18.6.1/24 --stats "$RF_TMP/vhost2.json"
	rf_wait_line 30 "$p2" echo2.log '^rf-echo: .* \| flows' || return 1
	rf_start c2 "$ns" check2.log "$DEV_CHECK" "${DEV_EAL[@]}" -l "$cpu1" \
		--file-prefix "rf-dev-vhost-c2-$$" --vdev="net_virtio_user0,path=$sock" -- \
		--ip 198.18.6.2/24 --to 198.18.6.1:7 --bytes 1g --timeout 30
	rf_wait_line 20 "$p2" echo2.log '^rf-echo: .* \| flows 1 ' || return 1
	sleep 0.5
	kill -KILL "$c2"
	sleep 1.5
	rf_alive "$p2" || { echo "rf-echo died after its peer left"; return 1; }
	rf_stop "$p2" st
	[ "$st" = 0 ] || { echo "rf-echo exit status $st"; return 1; }
	drops=$(dev_stat vhost2 tx_link_down) || return 1
	rf_say "rf-echo after its peer vanished: tx_link_down $drops, tx_drops $(dev_stat vhost2 tx_drops)"
	[ "$drops" -gt 0 ] || { echo "no frame counted in tx_link_down"; return 1; }
	dev_exit_clean echo2.log
}
rf_logs+=("$RF_TMP/echo2.log")
rf_check "client killed mid-transfer: rf-echo drops (and counts) what the downed link refuses, stops cleanly, no buffer lost" \
	vanish

dev_row "net_vhost + net_virtio_user" "virtio features ${features:-?} (${csum# }); vhost: $caps; virtio_user: $ccaps" vhost
rf_finish
