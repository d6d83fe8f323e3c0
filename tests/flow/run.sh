#!/usr/bin/env bash
# shellcheck disable=SC2317 # (cleanup runs from a trap)
# run.sh SCENARIO: one test of the flow suite.
#
# Creates a network namespace rf-flow-<scenario>-<pid>, runs flowtest SCENARIO in it (rawflow
# on its embedded default: net_tap rf0, 198.18.0.2/24, kernel side 198.18.0.1/24) and the
# scenario's kernel-socket peer (peer.py SCENARIO) next to it, then checks:
#   - flowtest printed "PASS SCENARIO: ..." and exited 0 (its own checks, leak check included)
#   - the peer exited 0 (what the kernel side saw was right)
#   - the digests both sides printed agree (what one sent is what the other received)
# Exit status: 0 pass, 1 fail, 77 skip (not root, no /dev/net/tun, no ip; a failure under
# CI=true). Every wait is bounded; an EXIT trap kills what the test started, deletes the
# namespace and the scratch folder, also after a failure or a signal. Namespaces of an
# earlier run killed outright (SIGKILL runs no trap) are found by name and deleted.
#
# Environment: FLOWTEST (the flowtest program), FLOW_PEER (peer.py); meson sets both.
set -u

scenario=${1:?usage: run.sh SCENARIO}
here=$(cd "$(dirname "$0")" && pwd)
FLOWTEST=${FLOWTEST:-$here/../../build/tests/flow/flowtest}
FLOW_PEER=${FLOW_PEER:-$here/peer.py}
PY=/usr/bin/python3
PORT=5001
START_TIMEOUT=30 # flowtest up and listening / the peer listening
RUN_TIMEOUT=95   # whole run of flowtest (its own deadline, at most 80 s, comes first)
PEER_GRACE=10    # the peer's end after flowtest's

# What each scenario needs: the peer's role (server: flowtest listens, the peer connects;
# client: the peer listens; none), the bytes both sides move, and which digests must agree
# (rx: what flowtest read == what the peer sent; tx: what flowtest wrote == what the peer
# received).
MIB=$((1024 * 1024))
case $scenario in
test_read_returns_data_then_eof) role=server bytes=$((64 * MIB)) digests="rx" ;;
test_write_delivers_64mib_to_kernel) role=server bytes=$((64 * MIB)) digests="tx" ;;
test_client_role_echo_64mib) role=client bytes=$((64 * MIB)) digests="rx tx" ;;
test_close_completes_after_peer_fin) role=server bytes=$((256 * 1024)) digests="rx" ;;
test_read_gets_econnreset_on_peer_reset) role=server bytes=1000 digests="" ;;
test_connect_refused) role=none bytes=0 digests="" ;;
test_connect_without_route_fails) role=none bytes=0 digests="" ;;
test_completions_never_reentrant) role=server bytes=$MIB digests="rx tx" ;;
test_slow_reader_holds_peer_back) role=server bytes=$((64 * MIB)) digests="rx" ;;
test_misuse_returns_errors) role=server bytes=100 digests="" ;;
test_final_callbacks_refuse_new_requests) role=server bytes=0 digests="" ;;
test_odd_length_writes_reach_kernel) role=server bytes=$MIB digests="tx" ;;
*)
	echo "run.sh: unknown scenario '$scenario'" >&2
	exit 1
	;;
esac

short=${scenario#test_}
ns_prefix=rf-flow-
ns=$ns_prefix$short-$$
tmp=
ns_made=0
pids=()
failures=0

say() { printf 'run.sh: %s\n' "$*"; }
fail() {
	failures=$((failures + 1))
	say "FAIL: $*"
}

skip() {
	if [ "${CI:-}" = true ]; then
		say "FAIL: cannot run under CI: $*"
		exit 1
	fi
	say "SKIP: $*"
	exit 77
}

kill_ns_procs() {
	local p
	for p in $(ip netns pids "$1" 2>/dev/null); do
		kill -KILL "$p" 2>/dev/null || true
	done
}

delete_ns() {
	kill_ns_procs "$1"
	# the kernel releases a namespace's last process asynchronously: retry briefly
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		ip netns del "$1" 2>/dev/null && return 0
		[ -e "/run/netns/$1" ] || return 0
		sleep 0.2
	done
	say "could not delete namespace $1"
	return 1
}

cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	for p in "${pids[@]}"; do
		# only our own children (a recycled pid belongs to someone else)
		if [ "$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null)" = "$$" ]; then
			kill -KILL "$p" 2>/dev/null || true
		fi
		wait "$p" 2>/dev/null || true
	done
	[ "$ns_made" = 1 ] && delete_ns "$ns"
	[ -n "$tmp" ] && rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# leftovers of this suite's runs that were killed outright: rf-flow-*-<pid of a dead run.sh>
reap_stale() {
	local n pid
	for n in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		case $n in "$ns_prefix"*) ;; *) continue ;; esac
		pid=${n##*-}
		case $pid in '' | *[!0-9]*) continue ;; esac
		[ -d "/proc/$pid" ] && continue
		delete_ns "$n" && say "deleted stale namespace $n"
	done
}

[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
[ -c /dev/net/tun ] || skip "no /dev/net/tun: net_tap cannot create rf0"
command -v ip >/dev/null || skip "no 'ip' command (iproute2)"
[ -x "$PY" ] || skip "no $PY"
if [ ! -x "$FLOWTEST" ]; then
	say "FAIL: flowtest not built at $FLOWTEST"
	exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rf-flow.XXXXXX")
reap_stale
if ! ip netns add "$ns" 2>"$tmp/netns.err"; then
	skip "cannot create a network namespace: $(head -n 1 "$tmp/netns.err")"
fi
ns_made=1
ip -n "$ns" link set lo up

alive() {
	local state
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# start VAR LOG SECONDS CMD...: CMD in the namespace, in the background, killed after SECONDS.
start() {
	local var=$1 log=$2 secs=$3
	shift 3
	timeout -k 5 "$secs" ip netns exec "$ns" "$@" </dev/null >"$log" 2>&1 &
	pids+=("$!")
	printf -v "$var" '%s' "$!"
}

# wait_line PID LOG PATTERN SECONDS: until LOG has a line matching PATTERN; fails when PID
# exits first or the time is up.
wait_line() {
	local pid=$1 log=$2 pat=$3 deadline=$((SECONDS + $4))
	while [ "$SECONDS" -lt "$deadline" ]; do
		grep -q -- "$pat" "$log" 2>/dev/null && return 0
		alive "$pid" || { grep -q -- "$pat" "$log" 2>/dev/null && return 0 || return 1; }
		sleep 0.05
	done
	return 1
}

ft_log=$tmp/flowtest.log
peer_log=$tmp/peer.log
ft_pid=
peer_pid=
: >"$ft_log"
: >"$peer_log"
ft_args=("$FLOWTEST" "$scenario" --port "$PORT" --bytes "$bytes")
peer_args=("$PY" "$FLOW_PEER" "$scenario" --port "$PORT" --bytes "$bytes")

say "$scenario in namespace $ns (peer role: $role, $bytes bytes; $FLOWTEST)"
case $role in
client)
	start peer_pid "$peer_log" $((RUN_TIMEOUT + PEER_GRACE)) "${peer_args[@]}"
	wait_line "$peer_pid" "$peer_log" "LISTENING" "$START_TIMEOUT" ||
		fail "the peer was not listening within ${START_TIMEOUT}s (or exited)"
	start ft_pid "$ft_log" "$RUN_TIMEOUT" "${ft_args[@]}"
	;;
server)
	start ft_pid "$ft_log" "$RUN_TIMEOUT" "${ft_args[@]}"
	if wait_line "$ft_pid" "$ft_log" "READY" "$START_TIMEOUT"; then
		start peer_pid "$peer_log" $((RUN_TIMEOUT + PEER_GRACE)) "${peer_args[@]}"
	else
		fail "flowtest was not listening within ${START_TIMEOUT}s (or exited)"
	fi
	;;
none)
	start ft_pid "$ft_log" "$RUN_TIMEOUT" "${ft_args[@]}"
	;;
esac

ft_rc=0
wait "$ft_pid" || ft_rc=$?
peer_rc=0
if [ -n "$peer_pid" ]; then
	deadline=$((SECONDS + PEER_GRACE))
	while alive "$peer_pid" && [ "$SECONDS" -lt "$deadline" ]; do
		sleep 0.1
	done
	if alive "$peer_pid"; then
		fail "the peer was still running ${PEER_GRACE}s after flowtest ended"
		kill -KILL "$peer_pid" 2>/dev/null || true
	fi
	wait "$peer_pid" || peer_rc=$?
fi

echo "---- flowtest $scenario ----"
cat "$ft_log"
if [ -n "$peer_pid" ]; then
	echo "---- peer.py $scenario ----"
	cat "$peer_log"
fi
echo "----"

if [ "$ft_rc" = 124 ] || [ "$ft_rc" = 137 ]; then
	fail "flowtest killed after ${RUN_TIMEOUT}s"
elif [ "$ft_rc" != 0 ]; then
	fail "flowtest exited $ft_rc"
fi
grep -q "^PASS $scenario: " "$ft_log" || fail "flowtest printed no PASS line"
if [ -n "$peer_pid" ] && [ "$peer_rc" != 0 ]; then
	fail "the peer exited $peer_rc: $(grep -m 1 '^peer: FAIL' "$peer_log")"
fi

# "sha256 DIR HEX BYTES" from flowtest against the peer's opposite direction
digest() { # digest LOG PREFIX DIR
	grep -m 1 "^$2sha256 $3 " "$1" | awk '{print $(NF-1), $NF}'
}
for d in $digests; do
	case $d in rx) o=tx ;; tx) o=rx ;; esac
	mine=$(digest "$ft_log" "" "$d")
	theirs=$(digest "$peer_log" "peer: " "$o")
	if [ -z "$mine" ] || [ -z "$theirs" ]; then
		fail "digest missing: flowtest $d '${mine}', peer $o '${theirs}'"
	elif [ "$mine" != "$theirs" ]; then
		fail "flowtest $d sha256/bytes '$mine' != peer $o '$theirs'"
	else
		say "ok: flowtest $d == peer $o (sha256 ${mine%% *}, ${mine##* } bytes)"
	fi
done

if [ "$failures" = 0 ]; then
	say "PASS $scenario"
	exit 0
fi
say "FAIL $scenario ($failures failures)"
exit 1
