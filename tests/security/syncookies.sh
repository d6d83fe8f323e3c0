#!/usr/bin/env bash
# Suite security, syncookies: the functional half of synflood.sh, over IPv4 and IPv6, without
# its throughput measurement (which needs a quiet machine and lives in suite 'load').
#
# For each family, peer.py floods rf-echo's port with RF_SEC_SYNS (default 20,000) SYNs from
# spoofed on-link sources (198.18.0.10-250, 2001:2::1:0-ffff: nobody answers ARP or neighbour
# solicitation for them) with random ports, paced over RF_SEC_SYNS_S (default 4) seconds, while
# a kernel client opens a new connection every 200 ms (handshake and one echo within 3 s). The
# listener's backlog (255) is full of spoofed half-open connections after the first SYNs, so
# new connections go through SYN cookies (stack/patches/0005). Passes when
#   - at least one new connection started during the flood and one in the second after it
#     succeeded, and at least 90% of all of them did, for each family;
#   - the stack sent at most 1,000 frames a second (plus 1,000) from the flood's start until
#     the prober is done: answering a spoofed on-link source costs an ARP request or a
#     neighbour solicitation, and those are limited to 1,000 a second for new entries
#     (stack/patches/0008, 0019); unlimited it is one frame per SYN;
#   - after TCP_SYN_RCVD_TIMEOUT (20 s) rf-echo stops cleanly with no lwIP pcb left but
#     TIME-WAIT ones and every packet buffer back in the pool;
#   - its stats show the cookies at work: SYN-ACKs with a cookie for at least half of all
#     the spoofed SYNs, and at least 10 connections made from a cookie (of about 40 probes
#     started during the floods).
set -uo pipefail
. "$(dirname "$0")/common.sh"
sec_init sec-syncookies
syns=${RF_SEC_SYNS:-20000}
secs=${RF_SEC_SYNS_S:-4}

# frames the stack sent so far: what the kernel side of rf0 received
stack_frames() {
	ip netns exec "$ns" cat /sys/class/net/rf0/statistics/rx_packets
}

for v in 4 6; do
	f=(); [ "$v" = 6 ] && f=(-6)
	if ! sec_peer 120 "${f[@]}" flood-build "$syns" "$RF_TMP/syns$v.bin" >/dev/null; then
		rf_fail "IPv$v: could not build the flood's frames"
		continue
	fi
	rf_timeout $((secs + 30)) ip netns exec "$ns" "$RF_PY" "$SEC_PEER" "${f[@]}" connects \
		$((secs + 3)) "$RF_TMP/connects$v.log" &
	cpid=$!
	sleep 1
	sent0=$(stack_frames) t0=$SECONDS
	sec_peer $((3 * secs + 30)) "${f[@]}" flood "$RF_TMP/syns$v.bin" "$secs" "$RF_TMP/flood$v.log"
	wait "$cpid"
	sent=$(($(stack_frames) - sent0)) took=$((SECONDS - t0 + 1))
	rf_check "IPv$v: the stack sent $sent frames in about ${took} s (at most $((1000 * took + 1000)))" \
		[ "$sent" -le $((1000 * took + 1000)) ]
	rf_check "IPv$v: $syns spoofed SYNs: new connections during and in the second after the flood" \
		sec_peer 30 "${f[@]}" analyze-connects "$RF_TMP/flood$v.log" "$RF_TMP/connects$v.log"
	rf_check "IPv$v: rf-echo survived the flood" sec_alive
done

sec_final_checks() {
	local sent valid half
	sent=$("$RF_PY" "$RF_SRC/tests/integration/stats.py" get "$RF_TMP/stats.json" syn_cookies_sent)
	valid=$("$RF_PY" "$RF_SRC/tests/integration/stats.py" get "$RF_TMP/stats.json" syn_cookies_valid)
	rf_check "SYN cookies sent for $sent of $((2 * syns)) spoofed SYNs (at least half)" \
		[ "${sent:-0}" -ge "$syns" ]
	rf_check "connections made from a returning cookie: $valid (at least 10)" \
		[ "${valid:-0}" -ge 10 ]
	# one listener: its backlog (255) fills long before the core's half-open bound (at least
	# 1,024), so none of the cookies is the core bound's
	half=$("$RF_PY" "$RF_SRC/tests/integration/stats.py" get "$RF_TMP/stats.json" half_open_cookies)
	rf_check "cookies for the per-core half-open bound in --stats: ${half:-missing} (0 expected)" \
		[ "${half:-missing}" = 0 ]
}

# Pools back to idle: the floods' half-open connections leave after TCP_SYN_RCVD_TIMEOUT.
rf_say "waiting 22 s for the half-open connections to time out"
sleep 22
sec_finish_idle
