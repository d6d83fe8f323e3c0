#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317 # (SC2317: checks run through rf_check)
# Row net_pcap: a recorded session replayed into the stack, twice, with the same answers.
#
# 1. Record: rf-echo on its embedded default (net_tap rf0) in a namespace of its own;
#    tcpdump on rf0 (the kernel's side) from before the first frame of the kernel's (its ARP
#    request) to after a short echo (PCAP_BYTES, default 64 KiB, through
#    tests/integration/echo_client.py: handshake, data both ways, FIN both ways). This is
#    the capture a bug report would carry. tcpdump can lose frames on a busy machine (its
#    "dropped by kernel"); such a recording is made again, once.
# 2. Split (pcap_tool.py split): the frames the stack did not send are the replay's input.
# 3. Replay twice, each time into a fresh rf-echo with the recorded address and MAC:
#      rf-echo --vdev=net_pcap0,rx_pcap=rx.pcap,tx_pcap=outN.pcap -- --ip 198.18.0.2/24 \
#              --mac <recorded MAC> --duration 1
#    net_pcap feeds the whole file at once, as fast as the loop polls; whatever the stack
#    answers goes to outN.pcap. One second is long enough to take everything in and short
#    enough that no TCP timer (SYN-ACK retransmission after 3 s) adds frames.
# 4. Compare (pcap_tool.py compare): the answer frames of the two replays must be identical
#    in every field once the stack's own sequence numbers are written relative to the ISN it
#    chose in that run (pcap_tool.py's docstring lists what is normalised and why).
#
# This row replays a tcpdump recording of a stack that drew its ISN at random (RFC 6528), so
# the replay does not continue the recorded session: its ACKs acknowledge the recorded ISN,
# and the stack resets the handshake (RFC 793: unacceptable ACK in SYN-RECEIVED). The
# answers are still deterministic. A replay that follows the capture frame for frame is
# tests/devices/replay.sh: rawflow's own capture, --isn-seed, and paced input.
#
# DEV_KEEP=FILE keeps a copy of the recording (the scratch folder goes at exit).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
rf_init dev-pcap

PCAP_BYTES=${PCAP_BYTES:-65536}
tool=$RF_SRC/tests/devices/pcap_tool.py
echo_bin='' ns='' rc=''
rf_app echo_bin rf-echo
command -v tcpdump >/dev/null || rf_skip "no tcpdump (Debian package tcpdump, pulled in by tshark)"
rf_ns_new ns

# ---- 1. record, 2. split -------------------------------------------------------------------
field() { "$RF_PY" -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]))' "$RF_TMP/split.json" "$1"; }
recording_complete() {
	[ "$(field kernel_arp)" -ge 1 ] && [ "$(field kernel_syn)" = 1 ] && [ "$(field kernel_fin)" -ge 1 ] &&
		[ "$(field kernel_payload)" = "$PCAP_BYTES" ] && [ "$(field stack_payload)" = "$PCAP_BYTES" ]
}
rec_intact() { DEV_BYTES=$PCAP_BYTES dev_intact rec; }
# record TRY: one recorded session, split; 0 when the recording is complete, 2 when it is
# not because tcpdump lost frames (its "dropped by kernel": a busy machine), 1 otherwise.
record() {
	local try=$1 pid tpid deadline st drops
	rf_start pid "$ns" "echo$try.log" "$echo_bin" --quiet
	deadline=$((SECONDS + RF_READY_TIMEOUT))
	until rf_alive "$pid" &&
		ip -n "$ns" -4 addr show dev "$RF_IFACE" 2>/dev/null | grep -q "inet $RF_KERNEL_IP/"; do
		if [ "$SECONDS" -ge "$deadline" ] || ! rf_alive "$pid"; then
			rf_fail "rf-echo brought up rf0 with $RF_KERNEL_IP"
			return 1
		fi
		sleep 0.1
	done
	rf_start tpid "$ns" "tcpdump$try.log" tcpdump -i "$RF_IFACE" -n --immediate-mode -U \
		-B 16384 -s 0 -w "$RF_TMP/rec.pcap"
	if ! rf_wait_line 15 "$tpid" "tcpdump$try.log" 'listening on'; then
		rf_fail "tcpdump started on $RF_IFACE"
		return 1
	fi
	rf_timeout 60 ip netns exec "$ns" "$RF_PY" "$RF_SRC/tests/integration/echo_client.py" \
		"$RF_STACK_IP" 7 "$PCAP_BYTES" 30 >"$RF_TMP/rec.client"
	rf_check "recorded session: $PCAP_BYTES bytes echoed intact over net_tap" rec_intact
	sleep 0.5 # the last ACK and FIN reach the capture
	rf_stop "$tpid" st || true
	rf_stop "$pid" st || true
	[ -n "${DEV_KEEP:-}" ] && cp "$RF_TMP/rec.pcap" "$DEV_KEEP"
	"$RF_PY" "$tool" split "$RF_TMP/rec.pcap" "$RF_STACK_IP" "$RF_TMP/rx.pcap" >"$RF_TMP/split.json"
	rf_say "recording $try: $(cat "$RF_TMP/split.json")"
	recording_complete && return 0
	drops=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$RF_TMP/tcpdump$try.log")
	if [ "${drops:-0}" -gt 0 ]; then
		rf_say "recording $try is incomplete: tcpdump lost $drops frames in the kernel (a busy machine)"
		return 2
	fi
	return 1
}
rc=0
record 1 || rc=$?
[ "$rc" = 2 ] && { rc=0; record 2 || rc=$?; }
if [ "$rc" = 0 ]; then
	rf_pass "the recording holds the whole session (ARP, SYN, $PCAP_BYTES bytes each way, FIN)"
else
	rf_fail "the recording holds the whole session (ARP, SYN, $PCAP_BYTES bytes each way, FIN)"
	rf_finish
fi
stack_mac=$(field stack_mac)
rec_isn=$(field stack_isn)

# ---- 3. replay twice -------------------------------------------------------------------------
replay() {
	local n=$1 _pid _rc
	rf_start _pid "$ns" "replay$n.log" "$echo_bin" "${DEV_EAL[@]}" -l "$(rf_first_cpu)" \
		--file-prefix "rf-dev-pcap-$n-$$" \
		--vdev="net_pcap0,rx_pcap=$RF_TMP/rx.pcap,tx_pcap=$RF_TMP/out$n.pcap" -- \
		--ip "$RF_STACK_IP/24" --mac "$stack_mac" --quiet --duration 1 --stats "$RF_TMP/replay$n.json"
	dev_wait_exit "$_pid" _rc 20 && [ "$_rc" = 0 ] && [ -s "$RF_TMP/out$n.pcap" ]
}
rf_check "replay 1: rf-echo on net_pcap took rx.pcap in and stopped with status 0" replay 1
caps=$(dev_caps replay1.log) || caps=''
rf_check "net_pcap logged its capabilities: $caps" test -n "$caps"
rf_check "replay 2: the same" replay 2

took_all() {
	local want got1 got2
	want=$(field rx_frames)
	got1=$(dev_stat replay1 rx_pkts) && got2=$(dev_stat replay2 rx_pkts) || return 1
	rf_say "frames in: $want in rx.pcap, rf-echo received $got1 and $got2"
	[ "$got1" = "$want" ] && [ "$got2" = "$want" ]
}
rf_check "each replay received every frame of rx.pcap" took_all

# The SYN-ACK to the recorded SYN: same options and window as in the recording.
synack() { "$RF_PY" "$tool" answers "$1" "$stack_mac" | grep -m1 ' SA seq=isn+0 ' | sed 's/ sha256=.*//'; }
same_synack() {
	local a b
	a=$(synack "$RF_TMP/rec.pcap") b=$(synack "$RF_TMP/out1.pcap")
	rf_say "recorded SYN-ACK: $a"
	rf_say "replayed SYN-ACK: $b"
	[ -n "$a" ] && [ "${a#* ttl=}" = "${b#* ttl=}" ]
}
rf_check "the replay answered the recorded SYN with the recorded SYN-ACK (all but the ISN)" same_synack

# ---- 4. compare --------------------------------------------------------------------------------
compare() {
	local out st=0
	out=$("$RF_PY" "$tool" compare "$RF_TMP/out1.pcap" "$RF_TMP/out2.pcap" "$stack_mac" \
		"$rec_isn") || st=$?
	rf_say "$out"
	return "$st"
}
rf_check "the two replays answered with the same frames (stack sequence numbers relative to its ISN)" \
	compare
rf_say "recorded answers: $("$RF_PY" "$tool" summary "$RF_TMP/rec.pcap" "$stack_mac")"
rf_say "replayed answers: $("$RF_PY" "$tool" summary "$RF_TMP/out1.pcap" "$stack_mac")"
rf_say "NOTE: the replay does not continue the recorded session: its ACKs acknowledge the" \
	"recorded ISN $rec_isn, the replays chose their own (RFC 6528), so the stack resets the" \
	"handshake; replay.sh records with --isn-seed and follows the capture (docs/devices.md)"

frames=$(field rx_frames)
rf_say "ROW net_pcap | ${caps:-capabilities not logged} | $(field kernel_payload) bytes recorded, $frames frames replayed twice, answers identical | replay, not a rate"
rf_finish
