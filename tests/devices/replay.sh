#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317 # (SC2317: checks run through rf_check)
# Deterministic replay of a recorded failing session, with rawflow's own capture (--pcap)
# and ISNs from a seed (--isn-seed, for tests only: stack/isn.c):
#
# 1. Record: rf-echo on net_tap (kernel peer, IPv6 off in the namespace) with
#    --isn-seed 7 --pcap rec.pcapng. The kernel's client echoes three 1000-byte messages,
#    is refused on a closed port (SYN -> RST), then resets its connection (SO_LINGER 0).
# 2. Split (replay_tool.py split): the frames rf-echo received become rx.pcap, each followed
#    by PACE filler frames so that it arrives in a poll pass of its own (replay_tool.py says
#    why); the frames it sent become rec_tx.pcap.
# 3. Replay twice into fresh stacks with the recorded MAC and the same seed:
#      rf-echo --vdev=net_pcap0,rx_pcap=rx.pcap,tx_pcap=outN.pcap -- --ip 198.18.0.2/24 \
#              --mac <recorded> --isn-seed 7 --duration 1
# Checks:
#   - every frame of rx.pcap was taken in, both times
#   - the two replays' answers are identical byte for byte (deterministic; IPv6 frames, the
#     stack's own start-up chatter sent after random delays, are counted, not compared)
#   - the replay's answers are the recorded ones: with the recorded ISN the recorded ACKs are
#     acceptable, so the stack follows the session (echoes, the RST to the closed port,
#     nothing after the client's reset). Compared without pure ACKs (replay_tool.py
#     significant(): while recording, timing decides whether a segment is acknowledged alone
#     or with the echo; a loaded machine added one here); how many frames were identical
#     byte for byte is printed
#   - control: a replay with another seed (8) diverges from the recording after its
#     SYN-ACK (the recorded ACK does not acknowledge that ISN: the stack answers with RST),
#     which shows the seed is what makes the replay follow the capture
set -uo pipefail
. "$(dirname "$0")/lib.sh"
rf_init dev-replay

PACE=${PACE:-255}
tool=$RF_SRC/tests/devices/replay_tool.py
echo_bin='' ns='' pid='' rc='' cpu=''
rf_app echo_bin rf-echo
rf_ns_new ns
cpu=$(rf_first_cpu)
ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
tapif=rfq$$

# ---- 1. record --------------------------------------------------------------------------------
rf_start pid "$ns" rec.log "$echo_bin" "${DEV_EAL[@]}" -l "$cpu" --file-prefix "rf-dev-replay-r-$$" \
	--vdev="net_tap0,iface=$tapif" -- --ip "$RF_STACK_IP/24" --isn-seed 7 \
	--pcap "$RF_TMP/rec.pcapng" --quiet --stats "$RF_TMP/rec.json"
deadline=$((SECONDS + RF_READY_TIMEOUT))
until ip -n "$ns" link show "$tapif" >/dev/null 2>&1 && grep -q 'port 0 (' "$RF_TMP/rec.log"; do
	if [ "$SECONDS" -ge "$deadline" ] || ! rf_alive "$pid"; then
		rf_fail "rf-echo created $tapif"
		rf_finish
	fi
	sleep 0.1
done
ip -n "$ns" addr add "$RF_KERNEL_IP/24" dev "$tapif"
ip -n "$ns" link set "$tapif" up

# The client of the scenario (rf_timeout runs commands without stdin: the script is a file).
cat >"$RF_TMP/scenario.py" <<'EOF'
import socket, struct, sys
ip = sys.argv[1]
s = socket.create_connection((ip, 7), timeout=10)
for i in range(3):
    msg = bytes([65 + i]) * 1000
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("echo closed early")
        got += chunk
    if got != msg:
        sys.exit("echo %d came back different" % i)
try:
    socket.create_connection((ip, 9), timeout=5)
    sys.exit("port 9 accepted a connection")
except ConnectionRefusedError:
    pass
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()  # RST
print("scenario done: 3 echoes, refused on port 9, reset")
EOF
scenario() {
	rf_timeout 30 ip netns exec "$ns" "$RF_PY" "$RF_TMP/scenario.py" "$RF_STACK_IP"
}
rf_check "recorded scenario: 3 echoes over net_tap, a SYN refused, a reset" scenario
sleep 0.5 # the RST reaches rf-echo
rf_check "rf-echo warned that its ISNs are predictable (--isn-seed, at its first ISN)" \
	grep -q 'RF_ISN_SEED=7: TCP initial sequence numbers are predictable' "$RF_TMP/rec.log"
rf_stop "$pid" rc
rf_check "rf-echo (recording) stopped with status 0 and wrote its capture" \
	test "$rc" = 0 -a -s "$RF_TMP/rec.pcapng"

# ---- 2. split ---------------------------------------------------------------------------------
field() { "$RF_PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$RF_TMP/split.json" "$1"; }
split() {
	"$RF_PY" "$tool" split "$RF_TMP/rec.pcapng" "$RF_TMP/rx.pcap" "$RF_TMP/rec_tx.pcap" "$PACE" \
		>"$RF_TMP/split.json" || { cat "$RF_TMP/split.json"; return 1; }
	rf_say "recording: $(cat "$RF_TMP/split.json")"
	# at least: SYN, ACK, 3 messages, the SYN to port 9, the RST in; SYN-ACK, 3 echoes, RST out
	[ "$(field tcp_rx)" -ge 7 ] && [ "$(field tcp_tx)" -ge 5 ]
}
# DEV_KEEP=DIR keeps the capture and the replay files (the scratch folder goes at exit).
keep() { [ -z "${DEV_KEEP:-}" ] || cp "$RF_TMP"/*.pcap* "$RF_TMP"/*.log "$DEV_KEEP"/; }
if ! rf_check "split the capture: what rf-echo received (paced) and what it sent" split; then
	keep
	rf_finish
fi
stack_mac=$(field stack_mac)
rf_say "the recorded answers:"
"$RF_PY" "$tool" frames "$RF_TMP/rec_tx.pcap" | sed 's/^/    /'

# ---- 3. replay --------------------------------------------------------------------------------
replay() { # N SEED
	local p st=0
	rf_start p "$ns" "replay$1.log" "$echo_bin" "${DEV_EAL[@]}" -l "$cpu" \
		--file-prefix "rf-dev-replay-$1-$$" \
		--vdev="net_pcap0,rx_pcap=$RF_TMP/rx.pcap,tx_pcap=$RF_TMP/out$1.pcap" -- \
		--ip "$RF_STACK_IP/24" --mac "$stack_mac" --isn-seed "$2" --quiet --duration 1 \
		--stats "$RF_TMP/replay$1.json"
	dev_wait_exit "$p" st 20 && [ "$st" = 0 ] && [ -s "$RF_TMP/out$1.pcap" ]
}
took_all() {
	local got
	got=$(dev_stat "replay$1" rx_pkts) || return 1
	rf_say "replay $1: rf-echo received $got of the $(field replay_frames) frames of rx.pcap"
	[ "$got" = "$(field replay_frames)" ]
}
for n in 1 2; do
	rf_check "replay $n: rf-echo on net_pcap (seed 7) took rx.pcap in and stopped with status 0" replay $n 7
	rf_check "replay $n took in every frame" took_all $n
done
caps=$(dev_caps replay1.log) || caps=''

same() {
	local out st=0
	out=$("$RF_PY" "$tool" same "$RF_TMP/out1.pcap" "$RF_TMP/out2.pcap") || st=$?
	rf_say "replay 1 vs replay 2: $out"
	return "$st"
}
rf_check "the two replays answered with the same frames, byte for byte" same

match() {
	local st=0
	"$RF_PY" "$tool" match "$RF_TMP/rec_tx.pcap" "$RF_TMP/out$1.pcap" >"$RF_TMP/match$1.txt" || st=$?
	sed 's/^/    /' "$RF_TMP/match$1.txt"
	return "$st"
}
rf_say "recorded answers vs replay 1:"
rf_check "the replay answered as the recorded session did (every answer but pure ACKs: flags, seq, ack, payload)" match 1

# The control: another seed, another ISN; the recorded handshake ACK is then unacceptable.
diverges() {
	local first
	replay 3 8 || return 1
	match 3 && { echo "seed 8 answered like the recording"; return 1; }
	first=$(grep -m1 -A1 'recorded ' "$RF_TMP/match3.txt" | tail -n 1)
	rf_say "with seed 8, the first answer that differs: ${first# *}"
	grep -q ' identical .* SA seq=' "$RF_TMP/match3.txt" && return 1 # the SYN-ACK's ISN changed too
	grep -q 'replayed .* R.* seq=' "$RF_TMP/match3.txt"
}
rf_check "control: with seed 8 the replay diverges (new ISN, recorded ACK answered with RST)" diverges

keep
rf_say "ROW net_pcap replay | ${caps:-capabilities not logged} | $(field rx_frames) recorded frames replayed twice (+ $(field fillers) fillers), the $(field tx_frames) recorded answers reproduced | replay, not a rate"
rf_finish
