#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317 # (SC2317: checks run through rf_check)
# Pins: rf-echo with no arguments (the embedded default) comes up on its own net_tap rf0 in a
# fresh namespace at 198.18.0.2/24, gives the kernel side 198.18.0.1/24, answers ARP and 20
# pings without loss, stops cleanly on SIGINT (exit 0, per-port rx/tx counters printed), and
# writes --stats JSON whose packet buffers are all back in the pool (no leak).
set -euo pipefail
# shellcheck source=lib.sh
. "${RF_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

rf_init ping
echo_bin='' ns='' pid='' rc='' # set by rf_app, rf_ns_new, rf_start, rf_stop
rf_app echo_bin rf-echo
rf_ns_new ns
stats=$RF_TMP/stats.json

rf_start pid "$ns" rf-echo.log "$echo_bin" --stats "$stats"
if ! rf_wait_ready "$ns" "$pid" rf-echo.log; then
	rf_fail "rf-echo came up with $RF_IFACE at $RF_KERNEL_IP and answered a first ping"
	rf_finish
fi
rf_pass "rf-echo came up with $RF_IFACE at $RF_KERNEL_IP and answered a first ping"

ping_out=$RF_TMP/ping.out
no_loss() {
	# 20 pings 50 ms apart: at most about 2 s, plus 1 s for the last reply.
	rf_timeout 15 ip netns exec "$ns" ping -c 20 -i 0.05 -W 1 "$RF_STACK_IP" >"$ping_out" 2>&1 || true
	grep -q ' 20 received, 0% packet loss' "$ping_out" || { cat "$ping_out"; return 1; }
}
rf_check "20 of 20 pings to $RF_STACK_IP answered (0% loss)" no_loss

arp_resolved() {
	local line
	line=$(ip -n "$ns" neigh show dev "$RF_IFACE" "$RF_STACK_IP")
	echo "$line" | grep -Eq "^$RF_STACK_IP .*lladdr ([0-9a-f]{2}:){5}[0-9a-f]{2}" ||
		{ echo "ip neigh: '$line'"; return 1; }
}
rf_check "kernel resolved $RF_STACK_IP to a MAC address (ARP)" arp_resolved

stopped=0
rf_stop "$pid" rc || true
if [ "$rc" = 0 ]; then
	rf_pass "rf-echo exited 0 on SIGINT"
	stopped=1
else
	rf_fail "rf-echo exited 0 on SIGINT (exit status $rc)"
fi

# The exit report must count the port's frames, e.g. "ports  rx 27 frames, ...; tx 27 frames":
# at least the 21 pings and their replies went through.
log=$(rf_log rf-echo.log)
port_counters() {
	local dir n
	for dir in rx tx; do
		n=$(grep -oEi "(^|[^a-z_])$dir [0-9]+ (frames|packets|pkts)" "$log" | grep -oE '[0-9]+' |
			tail -n 1)
		if [ -z "$n" ] || [ "$n" -lt 21 ]; then
			echo "wanted '$dir N frames' with N >= 21 in the exit report, found '${n:-nothing}'"
			return 1
		fi
	done
}
rf_check "rf-echo printed its port counters at exit (rx and tx frames >= 21)" port_counters

if [ "$stopped" = 1 ]; then
	rf_check "--stats JSON has the required counters and mbufs_in_use <= mbufs_idle" \
		"$RF_PY" "$RF_SRC/tests/integration/stats.py" check "$stats"
else
	rf_fail "--stats JSON not checked: rf-echo did not shut down cleanly"
fi

rf_finish
