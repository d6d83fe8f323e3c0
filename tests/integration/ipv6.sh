#!/usr/bin/env bash
# Suite ipv6: the same paths as IPv4, over IPv6, on the embedded default (net_tap rf0; stack
# 2001:2::2/64, kernel side 2001:2::1/64, both set up by the program).
#
#   - ping -6 from the kernel side answers (neighbour discovery works both ways)
#   - a kernel client pushes RF_V6_BYTES (default 64 MiB) through rf-echo over IPv6 and reads
#     it back: SHA-256 equal; the stack copied no payload either way
#   - the stack connects out over IPv6: rf-load against a kernel echo server on [2001:2::1]
#   - the stock iperf3 client works against rf-iperf over IPv6 (-6)
#   - no buffer leak at exit in each program
set -uo pipefail
. "$(dirname "$0")/lib.sh"
rf_init ipv6

bytes=${RF_V6_BYTES:-$((64 * 1024 * 1024))}
v6_stack=2001:2::2
v6_kernel=2001:2::1
rf_app echo rf-echo
rf_app load rf-load
rf_app iperf rf-iperf
stat() { "$RF_PY" "$RF_SRC/tests/integration/stats.py" get "$RF_TMP/$1.json" "$2"; }
no_leak() { "$RF_PY" "$RF_SRC/tests/integration/stats.py" check "$RF_TMP/$1.json" >/dev/null; }

# ---- rf-echo: ping -6 and a bulk echo ----------------------------------------------------
rf_ns_new ns echo
rf_start pid "$ns" echo.log "$echo" --quiet --stats "$RF_TMP/echo.json"
if rf_wait_ready "$ns" "$pid" echo.log; then
	rf_check "kernel side has $v6_kernel on rf0" \
		bash -c "ip -n '$ns' -6 addr show dev rf0 | grep -q 'inet6 $v6_kernel/64'"
	rf_check "ping -6 $v6_stack: 10 of 10 answered" \
		rf_timeout 20 ip netns exec "$ns" ping -6 -q -c 10 -i 0.05 -W 2 "$v6_stack"
	rf_timeout 200 ip netns exec "$ns" "$RF_PY" "$RF_SRC/tests/integration/echo_client.py" \
		"$v6_stack" 7 "$bytes" 180 >"$RF_TMP/echo.client"
	rf_say "echo over IPv6: $(cat "$RF_TMP/echo.client")"
	rf_check "$bytes bytes echoed over IPv6, SHA-256 equal" "$RF_PY" -c \
		'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r.get("match") and r["received"]==int(sys.argv[2]) else 1)' \
		"$RF_TMP/echo.client" "$bytes"
	sleep 0.3
	rf_stop "$pid" rc
	rf_check "rf-echo exited 0" [ "$rc" = 0 ]
	rf_check "no payload copied over IPv6 (rx $(stat echo rx_copied_bytes), tx $(stat echo tx_copied_bytes))" \
		test "$(stat echo rx_copied_bytes)" = 0 -a "$(stat echo tx_copied_bytes)" = 0
	rf_check "rf-echo: no buffer leak" no_leak echo
else
	rf_fail "rf-echo did not come up"
fi

# ---- rf-load: the stack as an IPv6 client --------------------------------------------------
rf_ns_new ns2 load
# the server listens first, on every address (rf0 and its 2001:2::1 appear with rf-load)
rf_start spid "$ns2" server.log "$RF_PY" "$RF_SRC/tests/integration/echo_server.py" :: 7007
sleep 0.5
rf_start lpid "$ns2" load.log "$load" --to "[$v6_kernel]:7007" --conns 4 --size 64 --depth 1 \
	--duration 3 --json --quiet --stats "$RF_TMP/load.json"
deadline=$((SECONDS + 40))
while rf_alive "$lpid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
rf_stop "$lpid" rc
rf_say "rf-load over IPv6: $(grep '^{' "$(rf_log load.log)" | tail -1)"
rf_check "rf-load connected over IPv6 and completed requests without errors" "$RF_PY" -c \
	'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r["requests"] > 0 and r["errors"] == 0 else 1)' \
	"$RF_TMP/load.json"
rf_check "rf-load: no buffer leak" no_leak load

# ---- rf-iperf: stock iperf3 -6 ----------------------------------------------------------
if command -v iperf3 >/dev/null; then
	rf_ns_new ns3 iperf
	rf_start ipid "$ns3" iperf.log "$iperf" --quiet --stats "$RF_TMP/iperf.json"
	if rf_wait_ready "$ns3" "$ipid" iperf.log; then
		rf_timeout 30 ip netns exec "$ns3" iperf3 -6 -c "$v6_stack" -t 2 -J >"$RF_TMP/iperf3.json"
		rf_check "iperf3 -6 against rf-iperf: non-zero throughput" "$RF_PY" -c \
			'import json,sys; r=json.load(open(sys.argv[1])); b=r["end"]["sum_received"]["bits_per_second"]; print("iperf3 -6: %.2f Gbit/s" % (b/1e9)); sys.exit(0 if b > 0 else 1)' \
			"$RF_TMP/iperf3.json"
		rf_stop "$ipid" rc
		rf_check "rf-iperf: no buffer leak" no_leak iperf
	else
		rf_fail "rf-iperf did not come up"
	fi
else
	rf_fail "iperf3 is not installed (./run deps installs it)"
fi
rf_finish
