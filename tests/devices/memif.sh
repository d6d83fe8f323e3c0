#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317 # (SC2317: checks run through rf_check)
# Row net_memif: two rawflow processes joined by a memif link, in one namespace (the memif
# control socket is abstract, so both ends must share the network namespace):
#
#   rf-echo     --vdev=net_memif0,role=server,socket=SOCK -- --ip 198.18.5.1/24
#   echo_check  --vdev=net_memif0,role=client,socket=SOCK -- --ip 198.18.5.2/24 --to 198.18.5.1:7
#
# echo_check (tests/devices/echo_check.c, on rawflow.h) sends DEV_BYTES of a deterministic
# pattern, reads them back and checks them byte for byte and by SHA-256, closes, and checks
# its own buffers; rf-echo's --stats are checked after it stops. The client starts once the
# server's loop runs (its first status line): a memif client that connects before the
# server's port started is turned away and does not try again (tests/integration/load.sh).
#   - the bytes come back intact, both sides close cleanly, no leak on either side
# The server stops first, the client after it (--hold: rf_memif_depart in
# tests/integration/lib.sh says why).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
rf_init dev-memif

echo_bin='' ns='' pid='' rc='' cpu0='' cpu1=''
rf_app echo_bin rf-echo
[ -x "$DEV_CHECK" ] || { rf_fail "$DEV_CHECK was not built"; rf_finish; }
rf_ns_new ns
dev_cpus
sock=$RF_TMP/memif.sock

rf_start pid "$ns" echo.log "$echo_bin" "${DEV_EAL[@]}" -l "$cpu0" --file-prefix "rf-dev-memif-e-$$" \
	--vdev="net_memif0,role=server,socket=$sock" -- --ip 198.18.5.1/24 --stats "$RF_TMP/memif.json"
if ! rf_wait_line 30 "$pid" echo.log '^rf-echo: .* \| flows'; then
	rf_fail "rf-echo came up as memif server"
	rf_finish
fi
caps=$(dev_caps echo.log) || caps=''
rf_check "net_memif (server) logged its capabilities: $caps" test -n "$caps"

crc=''
dev_memif_hold memif "$ns" "$pid" 90 "${DEV_EAL[@]}" -l "$cpu1" \
	--file-prefix "rf-dev-memif-c-$$" --vdev="net_memif0,role=client,socket=$sock" -- \
	--ip 198.18.5.2/24 --to 198.18.5.1:7 --bytes "$DEV_BYTES" --timeout 90
ccaps=$(dev_caps check.log) || ccaps=''
rf_say "net_memif (client) capabilities: ${ccaps:-not logged}"
rf_check "net_memif: $DEV_BYTES bytes echoed, checked byte for byte and by SHA-256, closed both ways, no leak in the client (exit $crc)" \
	dev_intact memif

dev_row net_memif "$caps" memif
rf_finish
