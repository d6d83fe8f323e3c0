#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317 # (SC2317: checks run through rf_check)
# Pins: bad arguments make rf-echo exit non-zero at once with an error on stderr that names
# the problem (its own options: one line, no usage dump; EAL options: DPDK may add lines of its
# own), leaving no process and no rf0 interface behind; --help exits 0 with usage on stdout.
# Runs inside a fresh namespace because a run that gets as far as DPDK may create a tap.
set -euo pipefail
# shellcheck source=lib.sh
. "${RF_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

rf_init badargs
echo_bin='' ns='' pid='' rc='' # set by rf_app, rf_ns_new, rf_start, rf_stop
rf_app echo_bin rf-echo
rf_ns_new ns
out=$RF_TMP/stdout
err=$RF_TMP/stderr
cpu=$(rf_first_cpu)

# run ARGS...: runs rf-echo in the namespace, at most 20 s; sets rc (124: did not exit by
# itself in time, then stopped by SIGTERM).
run() {
	rc=0
	rf_timeout 20 ip netns exec "$ns" "$echo_bin" "$@" </dev/null >"$out" 2>"$err" || rc=$?
}

# nothing_left: no process in the namespace and no rf0 interface.
nothing_left() {
	local pids
	pids=$(ip netns pids "$ns")
	if [ -n "$pids" ]; then
		echo "left running in $ns: $(ps -o pid=,args= -p "${pids//$'\n'/,}" 2>/dev/null)"
		return 1
	fi
	if ip -n "$ns" link show "$RF_IFACE" >/dev/null 2>&1; then
		echo "$RF_IFACE still exists in $ns"
		return 1
	fi
}

# show: what the last run printed, for a failure report.
show() {
	echo "  exit status $rc"
	sed 's/^/  stderr: /' "$err" | head -n 20
}

# rejected WHAT PATTERN MAXLINES ARGS...: the run must exit with a plain error status (1..123,
# not killed, not 77 which meson reads as skip), stderr must have a line matching the
# extended regex PATTERN, at most MAXLINES lines in all (0: no limit), and nothing is left.
rejected() {
	local what=$1 pattern=$2 maxlines=$3 lines
	shift 3
	run "$@"
	lines=$(grep -c . "$err" || true)
	if [ "$rc" -ge 1 ] && [ "$rc" -le 123 ] && [ "$rc" != 77 ] &&
		grep -Eiq -- "$pattern" "$err" &&
		{ [ "$maxlines" = 0 ] || [ "$lines" -le "$maxlines" ]; }; then
		rf_pass "$what: exit $rc, \"$(grep -Ei -m1 -- "$pattern" "$err")\""
	else
		rf_fail "$what (wanted an exit status 1..123 and a stderr line matching /$pattern/$([ "$maxlines" = 0 ] || echo ", at most $maxlines lines"))"
		show
	fi
	rf_check "$what: nothing left behind" nothing_left
}

# The program's own options are parsed before DPDK starts: a single line (a second one, such
# as "try --help", is tolerated; a usage dump is not).
rejected "unknown option --bogus" 'bogus' 2 --bogus
rejected "--ip 300.1.2.3/24 (octet out of range)" '300\.1\.2\.3' 2 --ip 300.1.2.3/24
rejected "--ip abc (not an address)" 'abc' 2 --ip abc
rejected "--ip 198.18.0.2/33 (prefix too long)" '198\.18\.0\.2/33|/33|prefix' 2 --ip 198.18.0.2/33
rejected "--mtu 100 (below IPv6's 1280)" '--mtu: 100 is out of range 1280\.\.65000' 2 --mtu 100
rejected "--mtu 70000 (above 65000)" '--mtu: 70000 is out of range 1280\.\.65000' 2 --mtu 70000
# within range but above what the device takes: DPDK starts, the port set-up says why
rejected "--mtu 9000 on the embedded net_tap (takes at most 1504)" \
	'--mtu 9000: the device takes [0-9]+\.\.1504' 0 --mtu 9000

# An address without a prefix length may be accepted (a default prefix) or rejected; either
# way the program must behave: reject it with a line naming it, or come up and exit 0 on SIGINT.
rf_start pid "$ns" noprefix.log "$echo_bin" --ip 198.18.0.2
if rf_wait_ready "$ns" "$pid" noprefix.log 2>/dev/null; then
	if rf_stop "$pid" rc && [ "$rc" = 0 ]; then
		rf_pass "--ip 198.18.0.2 (no prefix) accepted: came up, exited 0 on SIGINT"
	else
		rf_fail "--ip 198.18.0.2 (no prefix) accepted, but exit status $rc on SIGINT"
	fi
else
	rf_stop "$pid" rc || true
	noprefix=$(rf_log noprefix.log)
	if [ "$rc" -ge 1 ] && [ "$rc" -le 123 ] && [ "$rc" != 77 ] &&
		grep -Eq '198\.18\.0\.2|prefix' "$noprefix"; then
		rf_pass "--ip 198.18.0.2 (no prefix) rejected: \"$(grep -E -m1 '198\.18\.0\.2|prefix' "$noprefix")\""
	else
		rf_fail "--ip 198.18.0.2 (no prefix): neither came up nor was rejected by name (exit $rc)"
		sed 's/^/  output: /' "$noprefix" | head -n 20
	fi
fi
rf_check "--ip 198.18.0.2: nothing left behind" nothing_left

# EAL arguments before "--" are DPDK's to judge; DPDK prints lines of its own ("EAL: ..."), so
# the line wanted is the program's: "<path>/rf-echo: ... EAL/DPDK ..." or one naming the flag.
rejected "EAL rejects --no-such-eal-flag" 'rf-echo: .*(EAL|DPDK)|no-such-eal-flag' 0 \
	--no-such-eal-flag --
rejected "EAL without a device: no usable port" 'no usable' 0 \
	--no-huge --no-pci --no-shconf -m 256 -l "$cpu" --

# --help: exit 0, usage on stdout.
run --help
if [ "$rc" = 0 ] && grep -qi 'usage' "$out" && grep -q -- '--ip' "$out"; then
	rf_pass "--help exits 0 and prints usage (mentions --ip)"
else
	rf_fail "--help exits 0 and prints usage (mentions --ip)"
	show
	sed 's/^/  stdout: /' "$out" | head -n 20
fi
rf_check "--help: nothing left behind" nothing_left

rf_finish
