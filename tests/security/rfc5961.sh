#!/usr/bin/env bash
# Suite security, rfc5961: blind attacks on a real kernel connection to rf-echo (RFC 5961).
#
# peer.py learns the sequence numbers from what the stack sends (what a blind attacker has to
# guess) and injects segments spoofed from the kernel's address:
#   rst-in-window    RST inside the window, not at RCV.NXT: challenge ACK, the flow still echoes
#   rst-exact        RST at RCV.NXT: the flow is reset
#   syn-established  SYN on the established flow: challenge ACK, the flow still echoes
#   bad-ack          data at RCV.NXT with an ACK above SND.NXT, too old, or no ACK flag: not
#                    delivered (stack/patches/0004)
#   out-of-window    on a connection the script plays, an ACK of the stack's unacknowledged
#                    echo, window 0, sequence number 1 GiB past RCV.NXT: ignored
#                    (stack/patches/0015), so the echo is retransmitted after the RTO
#   challenge-rate   10,000 in-window RSTs at 20,000/s: at most about 1000 challenge ACKs per
#                    second (stack/patches/0003, stack/challenge_ack.c); the flow survives
#   oow-rate         10,000 ACKs 1 GiB past the window at 20,000/s: one ACK in answer per
#                    500 ms (stack/patches/0027); the flow survives
# Each scenario runs over IPv4 (198.18.0.1 -> .2) and over IPv6 (2001:2::1 -> ::2).
set -uo pipefail
. "$(dirname "$0")/common.sh"
sec_init sec-rfc5961
for v in 4 6; do
	f=(); [ "$v" = 6 ] && f=(-6)
	rf_check "IPv$v: blind in-window RST: challenge ACK, flow survives" \
		sec_peer 30 "${f[@]}" rst-in-window
	rf_check "IPv$v: exact RST resets the flow" sec_peer 30 "${f[@]}" rst-exact
	rf_check "IPv$v: SYN on an established flow: challenge ACK, flow survives" \
		sec_peer 30 "${f[@]}" syn-established
	rf_check "IPv$v: data with an unacceptable ACK is not delivered" sec_peer 30 "${f[@]}" bad-ack
	rf_check "IPv$v: out-of-window segment's ACK and window ignored" \
		sec_peer 30 "${f[@]}" out-of-window
	rf_check "IPv$v: challenge ACKs are rate-limited" sec_peer 60 "${f[@]}" challenge-rate 10000
	sleep 1.1 # a fresh second's budget
	rf_check "IPv$v: ACKs to out-of-window segments are rate-limited" \
		sec_peer 60 "${f[@]}" oow-rate 10000
	sleep 1.1 # the next family starts with a fresh second's budget
done
rf_check "rf-echo survived the attacks" sec_alive

sec_final_checks() {
	local n
	# oow-rate: 10,000 segments per family, at most 3 answered each (challenge ACKs add more)
	n=$("$RF_PY" "$RF_SRC/tests/integration/stats.py" get "$RF_TMP/stats.json" acks_rate_limited)
	rf_check "ACKs not sent for a rate limit in --stats: ${n:-missing} (at least 19,994)" \
		[ "${n:-0}" -ge 19994 ]
}
sec_finish
