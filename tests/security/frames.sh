#!/usr/bin/env bash
# Suite security, frames: lwIP 2.1.3's two input defects, sent as crafted frames to rf-echo.
#
#   options  segments whose last option byte is a bare kind (stack/patches/0001): on SYNs and
#            on an established connection, then data that must be echoed. Through rf-echo the
#            over-read lands inside the mbuf, so this only shows the stack carries on; the read
#            itself is caught under AddressSanitizer by tests/security/test_tcp_input.c.
#   ooseq    a trimmed last out-of-order segment replaced by a longer one, then the hole filled
#            (stack/patches/0002): unpatched lwIP asserts and rf-echo aborts; patched, the
#            stack acknowledges exactly up to its window edge.
# Both over IPv4 and over IPv6 (2001:2::1 -> ::2: the same TCP code, reached through
# ip6_input). Then a kernel client still gets 1 MB echoed intact, and rf-echo stops cleanly
# with no leak.
set -uo pipefail
. "$(dirname "$0")/common.sh"
sec_init sec-frames
for v in 4 6; do
	f=(); [ "$v" = 6 ] && f=(-6)
	rf_check "IPv$v: bare option kind in the last byte: SYNs answered, data echoed" \
		sec_peer 60 "${f[@]}" options
	rf_check "IPv$v: out-of-order segment replaced past the window: stack survives, window respected" \
		sec_peer 60 "${f[@]}" ooseq
done
rf_check "rf-echo survived the crafted frames" sec_alive
rf_check "a kernel client still gets 1 MB echoed intact" rf_timeout 60 ip netns exec "$ns" \
	"$RF_PY" "$RF_SRC/tests/integration/echo_client.py" "$RF_STACK_IP" 7 1000000 30
sec_finish
