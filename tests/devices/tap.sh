#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317 # (SC2317: checks run through rf_check)
# Row net_tap: rf-echo on its embedded default (no EAL arguments: net_tap rf0, 198.18.0.2/24,
# the kernel side 198.18.0.1/24 set by the program) in a namespace of its own; the kernel's
# TCP there sends DEV_BYTES and reads them back.
#   - the bytes come back with the same SHA-256, both sides close cleanly
#   - rf-echo stops on SIGINT with status 0; its --stats: every buffer back, all echoed,
#     nothing received copied
#   - the capabilities: the embedded default logs at NOTICE, so a second, short start with
#     the same device spelled out as EAL arguments (and rawflow's INFO lines) reads them
set -uo pipefail
. "$(dirname "$0")/lib.sh"
rf_init dev-tap

echo_bin='' ns='' pid='' rc=''
rf_app echo_bin rf-echo
rf_ns_new ns

rf_start pid "$ns" echo.log "$echo_bin" --quiet --stats "$RF_TMP/tap.json"
if ! rf_wait_ready "$ns" "$pid" echo.log; then
	rf_fail "rf-echo came up on the embedded default (net_tap rf0)"
	rf_finish
fi
dev_kernel_echo "$ns" "$RF_STACK_IP" tap
rf_say "client: $(cat "$RF_TMP/tap.client")"
rf_check "net_tap: $DEV_BYTES bytes echoed, SHA-256 equal, closed both ways" dev_intact tap
sleep 0.5 # the last ACKs
if rf_stop "$pid" rc && [ "$rc" = 0 ]; then
	rf_pass "rf-echo stopped on SIGINT with status 0"
	rf_check "rf-echo --stats: no leak, all echoed, nothing received copied" dev_echo_stats tap
else
	rf_fail "rf-echo stopped on SIGINT with status 0 (got $rc)"
fi

# The same device as EAL arguments, for the capabilities line (the echo above used none).
cpu=$(rf_first_cpu)
rf_start pid "$ns" caps.log "$echo_bin" "${DEV_EAL[@]}" -l "$cpu" --file-prefix "rf-dev-tap-$$" \
	--vdev=net_tap0,iface=rf0 -- --quiet
caps=''
if rf_wait_line 20 "$pid" caps.log 'rawflow.drivers: port 0 \(' && caps=$(dev_caps caps.log); then
	rf_pass "net_tap logged its capabilities: $caps"
else
	rf_fail "net_tap: no rawflow.drivers port line at --log-level=rawflow.*:info"
fi
rf_stop "$pid" rc || true

dev_row net_tap "$caps" tap
rf_finish
