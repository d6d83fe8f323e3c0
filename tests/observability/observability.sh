#!/usr/bin/env bash
# shellcheck disable=SC2317 # (checks run through rf_check)
# Pins: while rf-echo (embedded default, --pcap) serves the kernel's TCP in a namespace,
#  - DPDK's own telemetry client (dpdk-telemetry.py) lists and runs /rawflow/stats;
#  - /rawflow/flows lists the one open flow, /rawflow/flow,<id> shows it ESTABLISHED (4)
#    with the right endpoints, srtt > 0 after paced round trips, windows and cwnd; the
#    counters of /rawflow/stats and of the flow grow by the 4 MiB sent in between; after the
#    close the flow leaves the list (observe.py does these, printing what it saw);
#  - the --pcap file, read by tshark, holds the handshake (SYN, SYN-ACK), data both ways and
#    FINs both ways, with every IPv4 and TCP checksum verified good (the stack's TX frames,
#    captured before the device, have their offloaded checksums filled in the copy; the
#    kernel's 0xffff for a TCP checksum of 0x0000, about 1 frame in 65,536, is good, see
#    pcap_checks), frames of both directions, and the capture dropped nothing;
#  - a second rf-echo with a packet pool barely larger than its RX ring (--mbufs 1100) runs
#    low under a client that sends without reading (stack/pressure.c keeps it from running
#    dry), and telemetry still answers.
# The EAL's runtime folder for each run gets its own --file-prefix through RF_EAL_ARGS (so
# the socket is this test's, whatever else runs), and is removed at the end.
set -euo pipefail
. "${RF_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

rf_init observability
command -v tshark >/dev/null || rf_skip "no tshark (./run deps installs it)"
command -v dpdk-telemetry.py >/dev/null || rf_skip "no dpdk-telemetry.py (package dpdk-dev)"
echo_bin='' ns='' pid='' rc='' # set by rf_app, rf_ns_new, rf_start, rf_stop
rf_app echo_bin rf-echo
observe=$RF_SRC/tests/observability/observe.py
pcap=$RF_TMP/echo.pcapng
prefix=rf-observability-$$
prefix2=rf-observability-dry-$$
# The EAL's runtime folders of this test (root: /var/run/dpdk/<prefix>), removed on exit
# (before lib.sh's cleanup, which ends with exit; a folder removed under a live process is
# not made again), and those of earlier runs whose pid is gone.
run_dirs=("/var/run/dpdk/$prefix" "/var/run/dpdk/$prefix2")
cleanup_run_dirs() {
	local d
	for d in "${run_dirs[@]}"; do
		case $d in /var/run/dpdk/rf-observability-*) rm -rf -- "$d" ;; esac
	done
}
trap 'obs_rc=$?; cleanup_run_dirs; (exit "$obs_rc"); rf__cleanup' EXIT
for d in /var/run/dpdk/rf-observability-*; do
	old_pid=${d##*-}
	case $old_pid in '' | *[!0-9]*) continue ;; esac
	[ -d "/proc/$old_pid" ] || rm -rf -- "$d"
done

rf_ns_new ns
rf_start pid "$ns" rf-echo.log RF_EAL_ARGS="--file-prefix=$prefix" "$echo_bin" \
	--quiet --pcap "$pcap" --stats "$RF_TMP/stats.json"
if ! rf_wait_ready "$ns" "$pid" rf-echo.log; then
	rf_fail "rf-echo --pcap came up"
	rf_finish
fi

standard_client() {
	local out
	out=$(echo /rawflow/stats | rf_timeout 10 dpdk-telemetry.py -f "$prefix") || return 1
	printf '%s\n' "$out" | "$RF_PY" -c '
import json, sys
st = json.loads(sys.stdin.read())["/rawflow/stats"]
assert st["listeners"] == 1 and st["tsc_hz"] > 0, st
print("  dpdk-telemetry.py /rawflow/stats: %d fields, listeners %d, rx_pkts %d" %
      (len(st), st["listeners"], st["rx_pkts"]))' || { printf '%s\n' "$out"; return 1; }
}
rf_check "dpdk-telemetry.py -f $prefix reads /rawflow/stats" standard_client

echo_run() {
	rf_timeout 60 ip netns exec "$ns" "$RF_PY" "$observe" echo "$prefix" "$RF_STACK_IP" 7 \
		>"$RF_TMP/echo.json" 2>&1
	local st=$?
	"$RF_PY" - "$RF_TMP/echo.json" <<'EOF' || true
import json, sys
try:
    o = json.load(open(sys.argv[1]))
except ValueError:
    print(open(sys.argv[1]).read()); sys.exit(0)
if "error" in o:
    print("  " + o["error"])
for k in ("flow_paced", "flow_mid_bulk", "flow_after_bulk"):
    f = o.get(k)
    if f:
        print("  %-15s id %d %s %s -> %s srtt %d us rttvar %d us rto %d us cwnd %d "
              "snd_wnd %d rcv_wnd %d queued %d acked %d rx %d tx %d" % (
              k, f["id"], f["state_name"], f.get("local"), f.get("remote"), f["srtt_us"],
              f["rttvar_us"], f["rto_us"], f["cwnd"], f["snd_wnd"], f["rcv_wnd"],
              f["bytes_queued"], f["bytes_acked"], f["rx_bytes"], f["tx_bytes"]))
if "stats_moved" in o:
    print("  /rawflow/stats moved during the bulk echo: %s" % o["stats_moved"])
if "stats_after_bulk" in o:
    print("  /rawflow/stats after it: %s" % o["stats_after_bulk"])
print("  paced round trips: %s" % o.get("paced_rounds"))
EOF
	return $st
}
rf_check "telemetry while serving: flows, flow ESTABLISHED with srtt > 0, bytes moving, flow gone after close" echo_run

stopped=0
rf_stop "$pid" rc && stopped=1
rf_check "rf-echo stopped on SIGINT with status 0" test "$stopped:$rc" = 1:0

capture_summary() {
	grep -E '^rawflow.drivers: capture .*: [0-9]+ frames written .*, 0 dropped$' \
		"$(rf_log rf-echo.log)" || { tail -n 5 "$(rf_log rf-echo.log)"; return 1; }
}
rf_check "the capture wrote every frame (summary line says 0 dropped)" capture_summary

# tshark COUNT FILTER: frames of the capture matching the display filter, checksums verified.
tcount() {
	tshark -r "$pcap" -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE -Y "$1" 2>/dev/null |
		wc -l
}
conn="tcp.port == 7 && ip.addr == $RF_STACK_IP"
from_k="ip.src == $RF_KERNEL_IP && $conn"
from_s="ip.src == $RF_STACK_IP && $conn"
# Linux writes a TCP checksum that computes to 0x0000 as 0xffff (skb_checksum_help() puts
# CSUM_MANGLED_0 there: it completes the checksums of the frames it sends to the tap device in
# software), so about 1 of its frames in 65,536 carries it. The same number in ones' complement
# (RFC 1624, section 3), and lwIP and DPDK's net_tap verify it as good, but tshark marks it bad
# (tcp.checksum.ffff): it made this check fail by chance (1 frame of 8,075 on 2026-11-25, an
# inbound ACK). Good in the kernel's frames only: rawflow's own (lwIP's checksums, and those
# the capture fills in for the device) are 0x0000 there, never 0xffff.
minus0="frame.packet_flags_direction == 1 && $from_k && tcp.checksum.ffff && ip.checksum.status == 1"
pcap_checks() {
	local syn synack data_k data_s fin_k fin_s bad tcp good in out m0
	syn=$(tcount "$from_k && tcp.flags.syn == 1 && tcp.flags.ack == 0")
	synack=$(tcount "$from_s && tcp.flags.syn == 1 && tcp.flags.ack == 1")
	data_k=$(tcount "$from_k && tcp.len > 0")
	data_s=$(tcount "$from_s && tcp.len > 0")
	fin_k=$(tcount "$from_k && tcp.flags.fin == 1")
	fin_s=$(tcount "$from_s && tcp.flags.fin == 1")
	bad=$(tcount "(ip.checksum.status == 0 || tcp.checksum.status == 0) && !($minus0)")
	m0=$(tcount "$minus0")
	tcp=$(tcount "tcp")
	good=$(tcount "tcp && ip.checksum.status == 1 && (tcp.checksum.status == 1 || $minus0)")
	in=$(tcount "frame.packet_flags_direction == 1")
	out=$(tcount "frame.packet_flags_direction == 2")
	rf_say "  pcap: SYN $syn, SYN-ACK $synack, data frames kernel->stack $data_k, stack->kernel $data_s, FIN kernel $fin_k, FIN stack $fin_s; TCP frames $tcp, checksums good $good (of which the kernel's 0xffff for 0x0000: $m0), bad $bad; inbound $in, outbound $out"
	if [ "$bad" != 0 ]; then
		# which frames, for the report: direction, flags, lengths, the checksum fields
		tshark -r "$pcap" -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE \
			-Y "(ip.checksum.status == 0 || tcp.checksum.status == 0) && !($minus0)" \
			-T fields -e frame.number -e frame.packet_flags_direction -e frame.len \
			-e ip.len -e tcp.flags.str -e tcp.len -e ip.checksum -e ip.checksum_calculated \
			-e tcp.checksum -e tcp.checksum_calculated 2>/dev/null | head -n 5 | sed 's/^/    bad: /'
	fi
	[ "$syn" -ge 1 ] && [ "$synack" -ge 1 ] && [ "$data_k" -ge 1 ] && [ "$data_s" -ge 1 ] &&
		[ "$fin_k" -ge 1 ] && [ "$fin_s" -ge 1 ] && [ "$bad" = 0 ] && [ "$tcp" -gt 0 ] &&
		[ "$good" = "$tcp" ] && [ "$in" -ge 1 ] && [ "$out" -ge 1 ]
}
rf_check "tshark reads the pcapng: handshake, data both ways, FIN both ways, all checksums good" pcap_checks

payload_matches() {
	# the echoed payload in the capture: what the kernel sent equals what the stack sent
	local k s
	k=$(tshark -r "$pcap" -Y "$from_k && tcp.len > 0 && !tcp.analysis.retransmission" \
		-T fields -e tcp.len 2>/dev/null | awk '{n += $1} END {print n + 0}')
	s=$(tshark -r "$pcap" -Y "$from_s && tcp.len > 0 && !tcp.analysis.retransmission" \
		-T fields -e tcp.len 2>/dev/null | awk '{n += $1} END {print n + 0}')
	rf_say "  pcap: payload kernel->stack $k bytes, stack->kernel $s bytes"
	[ "$k" -gt $((4 << 20)) ] && [ "$k" = "$s" ]
}
rf_check "the capture holds every payload byte both ways (more than 4 MiB, equal)" payload_matches

# Phase 2: telemetry with the packet pool low (the stack dropping what it cannot hold).
ns2=''
rf_ns_new ns2 dry
rf_start pid "$ns2" rf-echo-dry.log RF_EAL_ARGS="--file-prefix=$prefix2" "$echo_bin" \
	--quiet --mbufs 1100
if rf_wait_ready "$ns2" "$pid" rf-echo-dry.log; then
	dry_run() {
		rf_timeout 40 ip netns exec "$ns2" "$RF_PY" "$observe" flood "$prefix2" \
			"$RF_STACK_IP" 7 >"$RF_TMP/dry.json" 2>&1
		local st=$?
		sed 's/^/  /' "$RF_TMP/dry.json"
		return $st
	}
	rf_check "telemetry answers while the packet pool is low (--mbufs 1100, flooded)" dry_run
	stopped=0
	rf_stop "$pid" rc && stopped=1
	rf_check "the flooded rf-echo stopped on SIGINT with status 0" test "$stopped:$rc" = 1:0
else
	rf_fail "rf-echo --mbufs 1100 came up"
fi
rf_finish
