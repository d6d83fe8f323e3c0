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
#   challenge-rate   10,000 in-window RSTs at 20,000/s: at most about 1000 challenge ACKs per
#                    second (stack/patches/0003, stack/challenge_ack.c); the flow survives
set -uo pipefail
. "$(dirname "$0")/common.sh"
sec_init sec-rfc5961
rf_check "blind in-window RST: challenge ACK, flow survives" sec_peer 30 rst-in-window
rf_check "exact RST resets the flow" sec_peer 30 rst-exact
rf_check "SYN on an established flow: challenge ACK, flow survives" sec_peer 30 syn-established
rf_check "data with an unacceptable ACK is not delivered" sec_peer 30 bad-ack
rf_check "challenge ACKs are rate-limited" sec_peer 60 challenge-rate 10000
rf_check "rf-echo survived the attacks" sec_alive
sec_finish
