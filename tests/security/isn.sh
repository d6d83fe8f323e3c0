#!/usr/bin/env bash
# Suite security, isn: initial sequence numbers are unpredictable (RFC 6528, stack/isn.c).
#
# A kernel client opens RF_SEC_ISN_CONNS (default 10,000) connections to rf-echo, each closed
# with a RST (no TIME-WAIT), and peer.py reads the ISN of every SYN-ACK off rf0. Passes when no
# two consecutive differences between ISNs are equal, the ISNs span the 32-bit space, and their
# top four bits fill 16 buckets evenly (chi-square below the 0.1% critical value). lwIP's own
# ISNs (a counter plus timer ticks) repeat the same difference for every connection opened
# within one tick. Prints the figures. The same again over IPv6 (2001:2::1 -> 2001:2::2).
set -uo pipefail
. "$(dirname "$0")/common.sh"
sec_init sec-isn
n=${RF_SEC_ISN_CONNS:-10000}
rf_check "$n SYN-ACK ISNs from connections to the same peer are not predictable" \
	sec_peer 240 isn "$n"
rf_check "IPv6: $n SYN-ACK ISNs from connections to the same peer are not predictable" \
	sec_peer 240 -6 isn "$n"
sec_finish
