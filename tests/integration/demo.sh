#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317 # (SC2317: checks run through rf_check)
# The "./run demo" tour: each rawflow program runs in a private network namespace with its own
# net_tap interface rf0, where the Linux kernel (198.18.0.1) talks to the rawflow stack
# (198.18.0.2). Shows, in plain words, that the stack answers ping, echoes data intact over
# TCP, and what it counted (payload bytes, bytes it had to copy). Programs that are not built
# yet are left out of the tour, and say so. Exit 0 only when every step worked.
set -euo pipefail
# shellcheck source=lib.sh
. "${RF_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

RF_ECHO_PORT=${RF_ECHO_PORT:-7}
RF_HTTPD_PORT=${RF_HTTPD_PORT:-80}
RF_IPERF_PORT=${RF_IPERF_PORT:-5201}
DEMO_BYTES=$((8 * 1024 * 1024))

echo_bin='' ns='' pid='' rc='' hns='' hpid='' ins='' ipid='' # set by rf_app, rf_ns_new, rf_start, rf_stop
rf_init demo
rf_app echo_bin rf-echo

step() { printf '\n== %s\n' "$*"; }
py() { "$RF_PY" "$@"; }

# ---- rf-echo: ping, then 8 MiB through TCP echo ---------------------------------------------
step "rf-echo: a TCP echo server (port $RF_ECHO_PORT) on the rawflow stack"
rf_ns_new ns echo
stats=$RF_TMP/rf-echo.json
rf_start pid "$ns" rf-echo.log "$echo_bin" --quiet --stats "$stats"
echo "Started rf-echo in network namespace $ns. It created the tap interface $RF_IFACE there,"
echo "took $RF_STACK_IP for itself and gave the kernel's side $RF_KERNEL_IP."
if ! rf_wait_ready "$ns" "$pid" rf-echo.log; then
	rf_fail "rf-echo came up and answered a first ping"
	rf_finish
fi

ping_out=$RF_TMP/ping.out
pinged() {
	local got avg
	rf_timeout 15 ip netns exec "$ns" ping -q -c 20 -i 0.05 -W 1 "$RF_STACK_IP" \
		>"$ping_out" 2>&1 || true
	got=$(sed -nE 's/.* ([0-9]+) received.*/\1/p' "$ping_out")
	avg=$(sed -nE 's|^rtt [^=]*= [0-9.]+/([0-9.]+)/.*|\1|p' "$ping_out")
	echo "The rawflow stack at $RF_STACK_IP answered ${got:-0} of 20 pings${avg:+, average round trip $avg ms}."
	[ "${got:-0}" = 20 ]
}
rf_check "ping: 20 of 20 answered" pinged

echo_out=$RF_TMP/echo.json
echoed() {
	rf_timeout 70 ip netns exec "$ns" "$RF_PY" "$RF_SRC/tests/integration/echo_client.py" \
		"$RF_STACK_IP" "$RF_ECHO_PORT" "$DEMO_BYTES" 60 >"$echo_out" 2>&1 || true
	py - "$echo_out" <<'EOF'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except ValueError:
    print("The echo client failed: " + open(sys.argv[1]).read().strip())
    sys.exit(1)
mib = r["sent"] / 2**20
if r["match"]:
    s = max(r["seconds"], 1e-9)
    print("Sent %.0f MiB of random bytes to rf-echo over TCP and got the same %.0f MiB back"
          " (SHA-256 equal) in %.2f s: %.1f MiB/s each way (%.0f Mbit/s)."
          % (mib, r["received"] / 2**20, s, mib / s, r["sent"] * 8 / s / 1e6))
else:
    print("Echo over TCP failed: %s" % r.get("error", "data differs"))
sys.exit(0 if r["match"] else 1)
EOF
}
rf_check "TCP echo: 8 MiB came back intact" echoed

if rf_stop "$pid" rc && [ "$rc" = 0 ]; then
	rf_pass "rf-echo stopped on SIGINT with exit status 0"
else
	rf_fail "rf-echo stopped on SIGINT with exit status 0 (got $rc)"
fi

counted() {
	py - "$stats" <<'EOF'
import json, sys
try:
    s = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    print("rf-echo wrote no readable --stats file: %s" % e)
    sys.exit(1)
print("What rf-echo counted itself (its --stats file):")
print("  TCP payload received %d bytes, of which the stack copied %d;"
      % (s["rx_payload_bytes"], s["rx_copied_bytes"]))
print("  TCP payload sent     %d bytes, of which the stack copied %d."
      % (s["tx_payload_bytes"], s["tx_copied_bytes"]))
if s["rx_copied_bytes"] == 0 and s["tx_copied_bytes"] == 0 and s["tx_payload_bytes"] > 0:
    print("  Zero-copy: the stack copied no payload byte in either direction.")
print("  Packet buffers in use at exit: %d (the idle baseline is %d: %s)."
      % (s["mbufs_in_use"], s["mbufs_idle"],
         "nothing leaked" if s["mbufs_in_use"] <= s["mbufs_idle"] else "a LEAK"))
sys.exit(0 if s["mbufs_in_use"] <= s["mbufs_idle"] else 1)
EOF
}
rf_check "rf-echo's own counters read back, no buffer leaked" counted

# ---- rf-httpd: one request with curl, then a short load with wrk -----------------------------
if [ -x "$RF_APPS/rf-httpd" ]; then
	step "rf-httpd: an HTTP/1.1 responder (port $RF_HTTPD_PORT) on the rawflow stack"
	rf_ns_new hns httpd
	rf_start hpid "$hns" rf-httpd.log "$RF_APPS/rf-httpd" --quiet
	if rf_wait_ready "$hns" "$hpid" rf-httpd.log; then
		url=http://$RF_STACK_IP:$RF_HTTPD_PORT/
		curled() {
			local line
			line=$(rf_timeout 15 ip netns exec "$hns" curl -sS -o /dev/null --max-time 10 \
				--retry 3 --retry-connrefused --retry-delay 1 \
				-w '%{http_code} %{size_download} %{time_total}' "$url" 2>&1) || true
			echo "curl $url: $line (status, bytes, seconds)"
			[ "${line%% *}" = 200 ]
		}
		rf_check "rf-httpd answered GET / with 200" curled
		loaded() {
			local out rps
			out=$(rf_timeout 20 ip netns exec "$hns" wrk -t 1 -c 8 -d 2s "$url" 2>&1) || true
			rps=$(echo "$out" | sed -nE 's/^Requests\/sec: *([0-9.]+).*/\1/p')
			echo "wrk, 8 connections for 2 s: ${rps:-no} requests per second."
			[ -n "$rps" ]
		}
		rf_check "rf-httpd served a 2 s wrk load" loaded
	else
		rf_fail "rf-httpd came up and answered a first ping"
	fi
	if rf_stop "$hpid" rc && [ "$rc" = 0 ]; then
		rf_pass "rf-httpd stopped on SIGINT with exit status 0"
	else
		rf_fail "rf-httpd stopped on SIGINT with exit status 0 (got $rc)"
	fi
else
	step "rf-httpd: not built yet"
fi

# ---- rf-iperf: a 3 s iperf3 run from the kernel -------------------------------------------
if [ -x "$RF_APPS/rf-iperf" ]; then
	step "rf-iperf: an iperf3-compatible server (port $RF_IPERF_PORT) on the rawflow stack"
	rf_ns_new ins iperf
	rf_start ipid "$ins" rf-iperf.log "$RF_APPS/rf-iperf" --quiet
	if rf_wait_ready "$ins" "$ipid" rf-iperf.log; then
		iperfed() {
			rf_timeout 30 ip netns exec "$ins" iperf3 -c "$RF_STACK_IP" -p "$RF_IPERF_PORT" \
				-t 3 -J >"$RF_TMP/iperf.json" 2>&1 || true
			py - "$RF_TMP/iperf.json" <<'EOF'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
    bps = r["end"]["sum_received"]["bits_per_second"]
except (ValueError, KeyError) as e:
    print("iperf3 gave no result: %s" % (open(sys.argv[1]).read().strip()[:300] or e))
    sys.exit(1)
print("iperf3 from the kernel to rf-iperf for 3 s: %.0f Mbit/s received." % (bps / 1e6))
EOF
		}
		rf_check "iperf3 ran against rf-iperf" iperfed
	else
		rf_fail "rf-iperf came up and answered a first ping"
	fi
	if rf_stop "$ipid" rc && [ "$rc" = 0 ]; then
		rf_pass "rf-iperf stopped on SIGINT with exit status 0"
	else
		rf_fail "rf-iperf stopped on SIGINT with exit status 0 (got $rc)"
	fi
else
	step "rf-iperf: not built yet"
fi

step "Summary"
rf_finish
