#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317 # (SC2317: checks run through rf_check)
# --mtu 9000 (jumbo frames) end to end: two rawflow processes joined by net_memif, both at
# MTU 9000, as in memif.sh:
#
#   rf-echo     --vdev=net_memif0,role=server,...,bsize=9216 -- --mtu 9000 --ip 198.18.6.1/24
#   echo_check  --vdev=net_memif0,role=client,...,bsize=9216 -- --mtu 9000 --ip 198.18.6.2/24
#
# bsize: memif buffers that hold a whole frame. With the default 2048-byte buffers a jumbo
# frame spans several ring slots, and DPDK 22.11's memif PMD then delivers stale slots again
# (old segments reappear, the flow stalls in a storm of duplicate ACKs: docs/devices.md).
#
#   - both ports log "mtu 9000"; JUMBO_BYTES (default 64 MiB) come back intact (byte for
#     byte and SHA-256), both sides close cleanly, no leak on either side
#   - the SYN and the SYN-ACK advertise MSS 8960 (MTU 9000 less 40), and frames longer than
#     1514 bytes went both ways: counted in rf-echo's own capture (headers only,
#     --pcap-snaplen 96; the frame length is the original's) and in the average frame of its
#     port counters. Received jumbo frames are scattered over 3 packet buffers each (4 KiB
#     elements), sent ones are chains: both paths are in use.
# Then the limits: net_tap (the embedded default) at --mtu 9000 must fail at start with a
# line naming the device's maximum (DPDK 22.11's net_tap takes at most 1504), and must work
# at --mtu 1504.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
rf_init dev-jumbo

bytes=${JUMBO_BYTES:-$((64 * 1024 * 1024))}
DEV_BYTES=$bytes
echo_bin='' ns='' pid='' rc='' cpu0='' cpu1=''
rf_app echo_bin rf-echo
[ -x "$DEV_CHECK" ] || { rf_fail "$DEV_CHECK was not built"; rf_finish; }
command -v tshark >/dev/null || rf_skip "no tshark (Debian package tshark)"
rf_ns_new ns
dev_cpus
sock=$RF_TMP/memif.sock
cap=$RF_TMP/jumbo.pcapng

rf_start pid "$ns" echo.log "$echo_bin" "${DEV_EAL[@]}" -l "$cpu0" --file-prefix "rf-dev-jumbo-e-$$" \
	--vdev="net_memif0,role=server,socket=$sock,bsize=9216" -- --mtu 9000 --ip 198.18.6.1/24 \
	--stats "$RF_TMP/jumbo.json" --pcap "$cap" --pcap-snaplen 96
if ! rf_wait_line 30 "$pid" echo.log '^rf-echo: .* \| flows'; then
	rf_fail "rf-echo came up as memif server at --mtu 9000"
	rf_finish
fi
caps=$(dev_caps echo.log) || caps=''
rf_check "rf-echo's port runs at MTU 9000: $caps" grep -q '^mtu 9000 ' <<<"$caps"

crc=''
dev_memif_hold jumbo "$ns" "$pid" 150 "${DEV_EAL[@]}" -l "$cpu1" \
	--file-prefix "rf-dev-jumbo-c-$$" --vdev="net_memif0,role=client,socket=$sock,bsize=9216" -- \
	--mtu 9000 --ip 198.18.6.2/24 --to 198.18.6.1:7 --bytes "$bytes" --timeout 150
ccaps=$(dev_caps check.log) || ccaps=''
rf_check "echo_check's port runs at MTU 9000: $ccaps" grep -q '^mtu 9000 ' <<<"$ccaps"
rf_check "$bytes bytes echoed at MTU 9000, checked byte for byte and by SHA-256, closed both ways, no leak in the client (exit $crc)" \
	dev_intact jumbo

# What the wire carried, from rf-echo's capture: MSS options, frame sizes per direction.
tshark -r "$cap" -T fields -e ip.src -e frame.len -e tcp.options.mss_val \
	>"$RF_TMP/frames.txt" 2>"$RF_TMP/tshark.err"
read -r syn_mss rx_big tx_big rx_max tx_max < <(awk '
	$3 != "" { mss = mss (mss == "" ? "" : ",") $3 }
	$1 == "198.18.6.2" && $2 > 1514 { rxb++ } $1 == "198.18.6.2" && $2 > rxm { rxm = $2 }
	$1 == "198.18.6.1" && $2 > 1514 { txb++ } $1 == "198.18.6.1" && $2 > txm { txm = $2 }
	END { printf "%s %d %d %d %d\n", (mss == "" ? "none" : mss), rxb, txb, rxm, txm }' \
	"$RF_TMP/frames.txt")
rf_say "capture: MSS options $syn_mss; frames > 1514 bytes: $rx_big received (longest $rx_max), $tx_big sent (longest $tx_max)"
rf_check "the SYN and the SYN-ACK advertise MSS 8960 (got $syn_mss)" test "$syn_mss" = 8960,8960
# 64 MiB in 8960-byte segments is about 7500 frames each way; most must be full-sized
rf_check "at least $((bytes / 8960 / 2)) frames > 1514 bytes received by rf-echo (got $rx_big)" \
	test "$rx_big" -ge $((bytes / 8960 / 2))
rf_check "at least $((bytes / 8960 / 2)) frames > 1514 bytes sent by rf-echo (got $tx_big)" \
	test "$tx_big" -ge $((bytes / 8960 / 2))
rf_check "the longest frames are 9014 bytes both ways (got $rx_max, $tx_max)" \
	test "$rx_max" = 9014 -a "$tx_max" = 9014
avg=$("$RF_PY" -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["rx_bytes"] // max(s["rx_pkts"], 1), s["tx_bytes"] // max(s["tx_pkts"], 1))' "$RF_TMP/jumbo.json")
rf_say "rf-echo's port counters: average frame $avg bytes (received, sent)"

# The limits: the embedded net_tap takes 1504 at most in DPDK 22.11.
rf_start pid "$ns" tap9000.log "$echo_bin" --mtu 9000 --quiet
dev_wait_exit "$pid" rc 30 || true
rf_check "net_tap --mtu 9000 fails at start (status $rc)" test "$rc" != 0
rf_check "... with a line naming the device's range: $(grep -m1 'mtu' "$RF_TMP/tap9000.log")" \
	grep -q 'port 0 (net_tap0): --mtu 9000: the device takes .*\.\.1504' "$RF_TMP/tap9000.log"
rf_start pid "$ns" tap1504.log "$echo_bin" --mtu 1504 --quiet --stats "$RF_TMP/tap.json"
if rf_wait_ready "$ns" "$pid" tap1504.log; then
	rf_check "net_tap --mtu 1504: the kernel side of rf0 is at MTU 1504 too" \
		grep -q 'mtu 1504 ' <(ip -n "$ns" link show rf0)
	DEV_BYTES=$((4 * 1024 * 1024))
	dev_kernel_echo "$ns" "$RF_STACK_IP" tap
	rf_check "net_tap --mtu 1504: $DEV_BYTES bytes echoed with the kernel, SHA-256 equal" dev_intact tap
else
	rf_fail "rf-echo came up on net_tap at --mtu 1504"
fi
rf_stop "$pid" rc || true
rf_finish
