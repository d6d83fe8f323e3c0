# shellcheck shell=bash source-path=SCRIPTDIR disable=SC2034 # (variables set here are used by the row scripts)
# Helpers for the device suite (sourced, not run), on top of tests/integration/lib.sh.
#
# Every row of the suite runs the same check over one DPDK virtual device: a peer sends
# DEV_BYTES (default 32 MiB) through rf-echo and reads them back, SHA-256 equal, then both
# sides close cleanly, and rf-echo's --stats shows every packet buffer back in the pool
# (mbufs_in_use <= mbufs_idle). Each row prints one line,
#
#   dev-tap: ROW net_tap | mtu 1500 (max 65535), tx offloads: multi-seg (max 32 segs, assumed) ... | 33554432 bytes verified | 412 Mbit/s each way, 61000 frames/s
#
# with the device's capabilities as rawflow logged them at start (the rawflow.drivers INFO
# line of drivers/port.c: programs run with --log-level=rawflow.*:info), never as this file
# assumes them.
#
# Exit status as in tests/integration/lib.sh (0 pass, 1 fail, 77 skip), plus:
#   - dev_unavailable REASON: exit 77 for an optional device this machine cannot run (a
#     kernel without XDP, a device that makes no sense for the check); unlike rf_skip it also
#     skips under CI=true, so it is only used by the rows of suite devices-optional.
#   - rows with a known problem (dev_known_problem, and should_fail in meson.build): see below.

# shellcheck source=../integration/lib.sh
. "${RF_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/tests/integration/lib.sh"

DEV_BYTES=${DEV_BYTES:-$((32 * 1024 * 1024))}
DEV_CHECK=${DEV_CHECK:-$RF_BUILD/tests/devices/echo_check}
# EAL arguments every row shares: no hugepages, no PCI, no shared files, and rawflow's INFO
# lines (the port's capabilities).
DEV_EAL=(--no-huge --no-pci --no-shconf -m 512 '--log-level=rawflow.*:info')

# ---- known problems ---------------------------------------------------------------------------
#
# A row that cannot pass because of a problem in drivers/, stack/ or flow/ is registered with
# should_fail: true and declares the problem with dev_known_problem TEXT. It still runs every
# check. dev_symptom then checks that the failure is exactly the known one. The exit status is
# mapped for meson:
#   known symptom seen              -> 1   (EXPECTEDFAIL)
#   every check passed              -> 0   (UNEXPECTEDPASS, a failure: the problem is gone,
#                                           drop should_fail in tests/devices/meson.build)
#   any other failure, or a skip
#   turned into a failure by CI     -> 99  (ERROR, a failure even with should_fail)
DEV_KNOWN=
dev_symptom_seen=0

dev_known_problem() {
	DEV_KNOWN=$1
	rf_say "known problem of this row: $DEV_KNOWN"
}

# dev_symptom DESCRIPTION CMD...: CMD succeeds when the known problem showed as described.
dev_symptom() {
	local what=$1
	shift
	if "$@"; then
		dev_symptom_seen=1
		rf_nfail=$((rf_nfail + 1))
		rf_say "KNOWN PROBLEM: $what"
	else
		rf_say "known symptom absent: $what"
	fi
}

# lib.sh's EXIT trap, wrapped: the status is mapped (above) before the cleanup exits with it.
eval "dev__lib_cleanup() $(declare -f rf__cleanup | tail -n +2)"
rf__cleanup() {
	local rc=$?
	if [ -n "$DEV_KNOWN" ]; then
		case $rc in
		0)
			rf_err "FAIL: the known problem did not show, every check passed: register this" \
				"test without should_fail in tests/devices/meson.build ($DEV_KNOWN)"
			;;
		1)
			if [ "$dev_symptom_seen" = 1 ]; then
				rf_say "expected failure: $DEV_KNOWN"
			else
				rf_err "failed, but not with the known problem: reporting an error"
				rc=99
			fi
			;;
		77) [ "$rf_skipping" = 1 ] || rc=99 ;;
		*) rc=99 ;;
		esac
	fi
	# the programs first (lib.sh's cleanup kills them too, later), then their EAL folders
	# (stderr off: bash reports each killed child as it reaps it)
	local p ns
	{
		for p in "${rf_pids[@]}"; do
			rf__is_child "$p" && kill -KILL "$p"
		done
		for ns in "${rf_namespaces[@]}"; do
			rf__kill_ns_procs "$ns"
		done
		for p in "${rf_pids[@]}"; do
			wait "$p"
		done
	} 2>/dev/null
	dev__rm_runtime_dirs "$$"
	(exit "$rc")
	dev__lib_cleanup
}

# EAL creates a runtime folder per --file-prefix (/var/run/dpdk/PREFIX: with --no-shconf only
# the telemetry socket, removed at a clean exit, not at a kill) and leaves the folder behind.
# The rows name their prefixes rf-dev-<row>-<pid>; the cleanup removes this run's, and
# rf_init those of runs that were killed outright.
dev__rm_runtime_dirs() {
	local d
	for d in /var/run/dpdk/rf-dev-*-"$1"; do
		[ -d "$d" ] && rm -rf -- "$d"
	done
	return 0
}
eval "dev__lib_init() $(declare -f rf_init | tail -n +2)"
# The scratch folder (lib.sh's RF_TMP, which holds the logs and the unix sockets of memif and
# vhost) is $DEV_TMP_ROOT/<pid>, so that the folder of a run killed outright can be recognised
# by its dead pid and removed by the next run. lib.sh's cleanup removes it at exit.
DEV_TMP_ROOT=${TMPDIR:-/tmp}/rf-devices
rf_init() {
	local d pid
	dev__lib_init "$@"
	mkdir -p "$DEV_TMP_ROOT/$$"
	rmdir "$RF_TMP"
	RF_TMP=$DEV_TMP_ROOT/$$
	for d in /var/run/dpdk/rf-dev-* "$DEV_TMP_ROOT"/*; do
		[ -d "$d" ] || continue
		pid=${d##*[-/]}
		case $pid in '' | *[!0-9]*) continue ;; esac
		[ -d "/proc/$pid" ] && continue
		case $d in
		/var/run/dpdk/*) dev__rm_runtime_dirs "$pid" ;;
		*) rm -rf -- "$d" ;;
		esac
	done
}

# dev_unavailable REASON: this optional device cannot run here; skip, also under CI.
dev_unavailable() {
	rf_say "SKIP: not available: $*"
	rf_skipping=1
	exit 77
}

# ---- start-up --------------------------------------------------------------------------------

# dev_cpus: sets cpu0 and cpu1, two CPUs this process may use (the same one twice on a
# single-CPU machine), for two rawflow processes that each poll a core.
dev_cpus() {
	cpu0=$(rf_first_cpu)
	cpu1=$("$RF_PY" -c 'import os; c = sorted(os.sched_getaffinity(0)); print(c[1] if len(c) > 1 else c[0])')
}

# dev_caps LOG: the port's capabilities from rawflow's INFO line in LOG (in $RF_TMP), e.g.
# "mtu 1500 (max 65535), tx offloads: multi-seg (max 32 segs, assumed) ipv4-cksum tcp-cksum,
# rx offloads: ipv4-cksum tcp-cksum, queue pairs 1 (device: 16 rx / 16 tx)".
# Fails when the line is missing.
dev_caps() {
	local line
	line=$(grep -m1 'rawflow.drivers: port 0 (' "$RF_TMP/$1") || return 1
	line=${line#*descriptors, }
	printf '%s\n' "$line"
}

# dev_wait_exit PID VAR SECONDS: waits for PID to exit by itself (--duration), at most
# SECONDS, then stops it (rf_stop); its exit status goes to VAR. Returns 0 when it exited on
# its own.
dev_wait_exit() {
	local _dev_deadline=$((SECONDS + $3))
	while rf_alive "$1" && [ "$SECONDS" -lt "$_dev_deadline" ]; do
		sleep 0.1
	done
	if rf_alive "$1"; then
		rf_err "pid $1 still running after ${3}s"
		rf_stop "$1" "$2"
		return 1
	fi
	rf_stop "$1" "$2"
}

# dev_wait_ping NS ADDR PID LOG [SECONDS]: waits until ADDR answers a ping from NS; fails at
# once when PID exits.
dev_wait_ping() {
	local ns=$1 addr=$2 pid=$3 log=$4 secs=${5:-$RF_READY_TIMEOUT} deadline
	deadline=$((SECONDS + secs))
	while [ "$SECONDS" -lt "$deadline" ]; do
		if ! rf_alive "$pid"; then
			rf_err "$(basename "$log" .log) exited before it answered a ping"
			return 1
		fi
		rf_timeout 3 ip netns exec "$ns" ping -q -c 1 -W 1 "$addr" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	rf_err "$addr did not answer a ping from $ns within ${secs}s"
	return 1
}

# dev_veth NS_RAWFLOW NS_KERNEL VAR_RF VAR_K KERNEL_ADDR/LEN: a veth pair between the two
# namespaces. rawflow's end is up without an address (af_packet and af_xdp take it over);
# the kernel's end gets KERNEL_ADDR with TX checksum offload off: a frame the kernel sends
# with a partial checksum (CHECKSUM_PARTIAL, the veth default) reaches a packet socket or an
# XDP socket with only the pseudo-header sum in its TCP checksum field, and nothing tells the
# PMD so (docs/devices.md). Deleted with the namespaces.
dev_veth() {
	local _rf=rfd$$a _k=rfd$$b
	ip link add "$_rf" netns "$1" type veth peer name "$_k" netns "$2" || return 1
	ip -n "$1" link set "$_rf" up
	ip -n "$2" addr add "$5" dev "$_k"
	ip -n "$2" link set "$_k" up
	ip netns exec "$2" ethtool -K "$_k" tx off >/dev/null || return 1
	printf -v "$3" '%s' "$_rf"
	printf -v "$4" '%s' "$_k"
}

# ---- the echo check --------------------------------------------------------------------------

# dev_kernel_echo NS ADDR LABEL: the kernel's TCP in NS pushes DEV_BYTES through rf-echo at
# ADDR:7 and reads them back (tests/integration/echo_client.py); its JSON goes to
# $RF_TMP/LABEL.client. Bounded.
dev_kernel_echo() {
	rf_timeout 120 ip netns exec "$1" "$RF_PY" "$RF_SRC/tests/integration/echo_client.py" \
		"$2" 7 "$DEV_BYTES" 90 >"$RF_TMP/$3.client"
}

# dev_intact LABEL: the client's JSON says every byte came back with the same SHA-256.
dev_intact() {
	"$RF_PY" - "$RF_TMP/$1.client" "$DEV_BYTES" <<'EOF'
import json, sys
try:
    r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
except (OSError, ValueError, IndexError) as e:
    print("no result from the client: %s" % e)
    sys.exit(1)
n = int(sys.argv[2])
if r.get("match") and r.get("received") == n:
    sys.exit(0)
print("client: sent %s, received %s of %d; %s" % (r.get("sent"), r.get("received"), n,
                                                  r.get("error", "contents differ")))
sys.exit(1)
EOF
}

# dev_memif_hold LABEL NS ECHO_PID SECONDS ECHO_CHECK_ARGS...: runs echo_check (the memif
# client; its EAL and own arguments, --hold added) in NS, output in $RF_TMP/LABEL.client,
# then rf_memif_depart: rf-echo (ECHO_PID) leaves first, once the client holds its end of the
# link (SECONDS + 30 at most: SECONDS is its --timeout), then the client; both must exit 0,
# and rf-echo's --stats ($RF_TMP/LABEL.json) and exit line are checked. Sets crc to the
# client's exit status.
dev_memif_hold() {
	local label=$1 ns=$2 epid=$3 secs=$4 cpid
	shift 4
	rf_logs+=("$RF_TMP/check.log")
	ip netns exec "$ns" "$DEV_CHECK" "$@" --hold \
		</dev/null >"$RF_TMP/$label.client" 2>"$RF_TMP/check.log" &
	cpid=$!
	rf_pids+=("$cpid")
	if rf_memif_depart "$label" rf-echo "$epid" echo_check "$cpid" check.log $((secs + 30)) crc; then
		rf_check "rf-echo --stats: no leak, all echoed, nothing received copied" \
			dev_echo_stats "$label"
		rf_check "rf-echo: every packet buffer back in the pool after the port closed" \
			dev_exit_clean echo.log
	fi
	rf_say "client: $(cat "$RF_TMP/$label.client")"
}

# dev_stat LABEL KEY: one counter of the --stats file $RF_TMP/LABEL.json.
dev_stat() { "$RF_PY" "$RF_SRC/tests/integration/stats.py" get "$RF_TMP/$1.json" "$2"; }

# dev_echo_stats LABEL [SLACK]: rf-echo's --stats after a clean stop: no leak, the payload
# echoed, nothing received copied. SLACK (default 0): buffers above the idle baseline that
# are still allowed, for a PMD known to hold sent frames at stop (af_xdp.sh says why).
dev_echo_stats() {
	local f=$RF_TMP/$1.json slack=${2:-0} echoed in_use idle
	if [ "$slack" = 0 ]; then
		"$RF_PY" "$RF_SRC/tests/integration/stats.py" check "$f" || return 1
	else
		in_use=$(dev_stat "$1" mbufs_in_use) && idle=$(dev_stat "$1" mbufs_idle) || return 1
		rf_say "buffers at stop: mbufs_in_use $in_use, mbufs_idle $idle (allowed: idle + $slack)"
		if [ "$in_use" -gt $((idle + slack)) ]; then
			echo "leak: mbufs_in_use $in_use > mbufs_idle $idle + $slack"
			return 1
		fi
	fi
	echoed=$(dev_stat "$1" echoed_bytes) || return 1
	if [ "$echoed" -lt "$DEV_BYTES" ]; then
		echo "echoed_bytes $echoed < $DEV_BYTES"
		return 1
	fi
	[ "$(dev_stat "$1" rx_copied_bytes)" = 0 ] || { echo "rx_copied_bytes is not 0"; return 1; }
}

# dev_exit_clean LOG: a program's log (in $RF_TMP) says every packet buffer was back in the
# pool once its ports closed (rawflow.stack's INFO line at rf_loop_destroy; the programs run
# with --log-level=rawflow.*:info). The leak check that holds on every device, including one
# that keeps sent buffers in its TX ring while it runs (net_virtio_user).
dev_exit_clean() {
	grep -q 'every packet buffer back in the pool after the ports closed' "$RF_TMP/$1" && return 0
	echo "$1: $(grep -m1 'not back in the pool' "$RF_TMP/$1" || echo 'no exit line')"
	return 1
}

# dev_exit_left LOG: how many packet buffers that exit line says were not back (0 when all).
dev_exit_left() {
	local n
	grep -q 'every packet buffer back in the pool after the ports closed' "$RF_TMP/$1" &&
		{ echo 0; return 0; }
	n=$(sed -n 's/.*: \([0-9]*\) packet buffers not back in the pool.*/\1/p' "$RF_TMP/$1" | head -n 1)
	[ -n "$n" ] && echo "$n"
}

# dev_row DEVICE CAPS LABEL: prints the row: device, capabilities, bytes verified, and the
# rate from the client's seconds (LABEL.client) and rf-echo's frame counters (LABEL.json).
dev_row() {
	local rate
	rate=$("$RF_PY" - "$RF_TMP/$3.client" "$RF_TMP/$3.json" <<'EOF'
import json, sys
try:
    c = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
    s = json.load(open(sys.argv[2]))
    secs = c["seconds"]
    if not c.get("match") or not secs:
        print("no rate: nothing verified")
        sys.exit(0)
    frames = s["rx_pkts"] + s["tx_pkts"]
    print("%.0f Mbit/s each way, %.0f frames/s through rf-echo (%.2f s); rf-echo copied %d"
          " bytes on TX" % (8 * c["received"] / secs / 1e6, frames / secs, secs,
                            s["tx_copied_bytes"]))
except (OSError, ValueError, KeyError, IndexError, ZeroDivisionError) as e:
    print("no rate (%s)" % e)
EOF
)
	rf_say "ROW $1 | ${2:-capabilities not logged} | $(dev_verified "$3") bytes verified | $rate"
}

# dev_verified LABEL: bytes the client verified (0 unless they matched).
dev_verified() {
	"$RF_PY" -c 'import json, sys
try:
    r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
    print(r["received"] if r.get("match") else 0)
except Exception:
    print(0)' "$RF_TMP/$1.client"
}
