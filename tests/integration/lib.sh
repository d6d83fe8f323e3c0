# shellcheck shell=bash
# Helpers for rawflow's integration tests (sourced, not run).
#
# An integration test runs a rawflow program against the Linux kernel of a private network
# namespace: the program's DPDK net_tap device creates the interface rf0 inside that
# namespace, the program takes 198.18.0.2/24 and gives the kernel side 198.18.0.1/24, and the
# kernel's own ping, TCP, curl or iperf3 are the peer. Nothing is sent outside namespaces the
# test created, and only to 198.18.0.0/15.
#
# Shape of a test:
#
#   . "$RF_SRC/tests/integration/lib.sh"
#   rf_init ping                        # name, root check, traps, scratch folder
#   rf_ns_new ns                        # ns=rf-ping-<pid>, created, lo up
#   rf_start pid "$ns" echo.log "$RF_APPS/rf-echo" --stats "$RF_TMP/stats.json"
#   rf_wait_ready "$ns" "$pid" echo.log
#   rf_check "20 pings answered" ping_ok "$ns"
#   rf_stop "$pid" rc                   # SIGINT, then SIGKILL after a timeout
#   rf_finish                           # prints "ping: N passed, N failed", exits 0 or 1
#
# Exit codes: 0 pass, 1 fail, 77 skip (meson's convention). A skip is only for a missing
# precondition of the machine (not root, no network namespaces, no /dev/net/tun), never for
# something the program under test did; under CI (CI=true) even those fail, so that a CI run
# cannot pass without running the tests.
#
# Cleanup: an EXIT trap (also reached on failure, SIGINT and SIGTERM) kills every process the
# test started and every process left inside its namespaces, deletes the namespaces and the
# scratch folder. Namespaces of an earlier run of the same test that was killed outright
# (SIGKILL runs no trap) are recognised by their name, rf-<test>-<pid> with a dead pid, and
# deleted at rf_init.
#
# Functions that store a result in a variable the caller names (rf_start pid ...) keep their
# own locals as _rf_*, so that no local can shadow the caller's variable.
#
# Every wait is bounded: RF_READY_TIMEOUT (default 30 s) to start, RF_STOP_TIMEOUT (default
# 10 s) to stop after SIGINT.

RF_SRC=${RF_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
RF_BUILD=${RF_BUILD:-$RF_SRC/build}
RF_APPS=$RF_BUILD/apps
RF_PY=/usr/bin/python3
RF_STACK_IP=198.18.0.2
RF_KERNEL_IP=198.18.0.1
RF_IFACE=rf0
RF_READY_TIMEOUT=${RF_READY_TIMEOUT:-30}
RF_STOP_TIMEOUT=${RF_STOP_TIMEOUT:-10}

RF_TEST=
RF_TMP=
rf_pids=()
rf_namespaces=()
rf_logs=()
rf_npass=0
rf_nfail=0
rf_skipping=0
rf_out=
rf_errout=
rf_finished=0

rf_say() { printf '%s: %s\n' "$RF_TEST" "$*"; }
rf_err() { printf '%s: %s\n' "$RF_TEST" "$*" >&2; }

# rf_init NAME: sets up a test. Call first.
rf_init() {
	RF_TEST=$1
	# The test's own stdout and stderr, for the cleanup: a trap can run while a redirection
	# of the interrupted command (ping >file) is still in force.
	exec {rf_out}>&1 {rf_errout}>&2
	trap rf__cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	if [ "$(id -u)" != 0 ]; then
		rf_skip "needs root for network namespaces (run as root or with sudo)"
	fi
	[ -c /dev/net/tun ] || rf_skip "no /dev/net/tun: net_tap cannot create rf0"
	command -v ip >/dev/null || rf_skip "no 'ip' command (./run deps installs iproute2)"
	[ -x "$RF_PY" ] || rf_skip "no $RF_PY (Debian's python3)"
	RF_TMP=$(mktemp -d "${TMPDIR:-/tmp}/rf-$RF_TEST.XXXXXX")
	rf__reap_stale
}

# rf_skip REASON: exits 77 ("skipped") with the reason, or 1 under CI.
rf_skip() {
	if [ "${CI:-}" = true ]; then
		rf_err "FAIL: cannot run under CI: $*"
		rf_finished=1
		exit 1
	fi
	rf_say "SKIP: $*"
	rf_skipping=1
	exit 77
}

# Deletes this test's namespaces (rf-<test>-<pid>, rf-<test>-<suffix>-<pid>) whose pid is
# gone: leftovers of a run that was killed outright. Nobody else's names match.
rf__reap_stale() {
	local ns pid
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		case $ns in "rf-$RF_TEST-"*) ;; *) continue ;; esac
		pid=${ns##*-}
		case $pid in '' | *[!0-9]*) continue ;; esac
		[ -d "/proc/$pid" ] && continue
		rf__kill_ns_procs "$ns"
		ip netns del "$ns" 2>/dev/null && rf_say "deleted stale namespace $ns"
	done
}

rf__kill_ns_procs() {
	local p
	for p in $(ip netns pids "$1" 2>/dev/null); do
		kill -KILL "$p" 2>/dev/null || true
	done
}

# rf__is_child PID: true while PID is still a child of this shell (so a pid number that was
# reused by some other process after ours ended is never signalled).
rf__is_child() {
	local stat ppid
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	# Fields after the command name (which is in parentheses and may hold spaces): state ppid.
	read -r _ ppid _ <<<"${stat##*) }"
	[ "$ppid" = "$$" ]
}

rf__cleanup() {
	local rc=$? p ns f
	trap - EXIT INT TERM
	[ -n "$rf_out" ] && exec 1>&"$rf_out" 2>&"$rf_errout"
	# 77 means "skipped" to meson: only rf_skip may produce it.
	if [ "$rc" = 77 ] && [ "$rf_skipping" != 1 ]; then
		rc=1
	fi
	for p in "${rf_pids[@]}"; do
		if rf__is_child "$p"; then
			kill -KILL "$p" 2>/dev/null || true
			wait "$p" 2>/dev/null || true
		fi
	done
	for ns in "${rf_namespaces[@]}"; do
		rf__kill_ns_procs "$ns"
		# The kernel frees a namespace's last process asynchronously; retry briefly.
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			ip netns del "$ns" 2>/dev/null && break
			[ -e "/run/netns/$ns" ] || break
			sleep 0.2
		done
		[ -e "/run/netns/$ns" ] && rf_err "could not delete namespace $ns"
	done
	if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		if [ "$rf_finished" != 1 ]; then
			rf_err "FAIL: aborted (exit status $rc) after $rf_npass passed, $rf_nfail failed"
		fi
		for f in "${rf_logs[@]}"; do
			[ -s "$f" ] || continue
			echo "---- last lines of $(basename "$f") ----" >&2
			tail -n 30 "$f" >&2
		done
	fi
	# DPDK's runtime folders (/var/run/dpdk/PREFIX: telemetry socket, config files) of the
	# processes this test started: every --file-prefix here ends in -<pid> or holds -<pid>-.
	for f in /var/run/dpdk/*-"$$" /var/run/dpdk/*-"$$"-*; do
		[ -d "$f" ] && rm -rf -- "$f"
	done
	[ -n "$RF_TMP" ] && rm -rf "$RF_TMP"
	exit "$rc"
}

# rf_ns_new VAR [SUFFIX]: creates namespace rf-<test>[-SUFFIX]-<pid>, brings up its loopback,
# and stores its name in VAR. Deleted at exit.
rf_ns_new() {
	local _rf_name
	_rf_name=rf-$RF_TEST${2:+-$2}-$$
	if ! ip netns add "$_rf_name" 2>"$RF_TMP/netns.err"; then
		rf_skip "cannot create a network namespace: $(head -n1 "$RF_TMP/netns.err")"
	fi
	rf_namespaces+=("$_rf_name")
	ip -n "$_rf_name" link set lo up
	printf -v "$1" '%s' "$_rf_name"
}

# rf_in NS CMD...: runs CMD inside namespace NS.
rf_in() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# rf_app VAR NAME: stores the path of program NAME (in $RF_APPS) in VAR; exits (fail) when it
# was not built.
rf_app() {
	if [ ! -x "$RF_APPS/$2" ]; then
		rf_err "FAIL: $RF_APPS/$2 was not built"
		rf_finished=1
		exit 1
	fi
	printf -v "$1" '%s' "$RF_APPS/$2"
}

# rf_start VAR NS LOG PROG [ARGS...]: starts PROG in the background inside NS, stdout and
# stderr to $RF_TMP/LOG; stores its pid in VAR. ip netns exec and env exec PROG, so the pid is
# PROG's. A shell starts background commands with SIGINT ignored; env gives PROG the default
# disposition back, as if it had been started from a terminal.
rf_start() {
	local _rf_var=$1 _rf_ns=$2 _rf_log=$RF_TMP/$3
	shift 3
	ip netns exec "$_rf_ns" env --default-signal=INT,QUIT "$@" </dev/null >"$_rf_log" 2>&1 &
	rf_pids+=("$!")
	rf_logs+=("$_rf_log")
	printf -v "$_rf_var" '%s' "$!"
}

# rf_timeout SECONDS CMD...: runs CMD (at most SECONDS, then SIGTERM, SIGKILL 5 s later) and
# returns its status, 124 when it timed out. CMD runs in the background and is waited for:
# a foreground command that survives a Ctrl-C (ping does) would make bash skip the test's INT
# trap, while `wait` returns at once when a trapped signal arrives.
rf_timeout() {
	local _rf_secs=$1
	shift
	timeout -k 5 "$_rf_secs" "$@" &
	rf_pids+=("$!")
	wait "$!"
}

# rf_wait_line SECONDS PID LOG REGEX: waits until LOG (in $RF_TMP) has a line matching REGEX;
# fails at once when PID exits first (unless its last words matched), or after SECONDS.
rf_wait_line() {
	local secs=$1 pid=$2 log=$RF_TMP/$3 re=$4 deadline=$((SECONDS + $1))
	while [ "$SECONDS" -lt "$deadline" ]; do
		grep -qE -- "$re" "$log" 2>/dev/null && return 0
		if ! rf_alive "$pid"; then
			grep -qE -- "$re" "$log" 2>/dev/null && return 0
			rf_err "$(basename "$log" .log) exited before printing /$re/"
			return 1
		fi
		sleep 0.1
	done
	rf_err "$(basename "$log" .log): no line /$re/ after ${secs}s"
	return 1
}

# rf_alive PID: true while PID runs (a zombie does not count).
rf_alive() {
	local state
	case $1 in '' | *[!0-9]*) return 1 ;; esac
	[ -r "/proc/$1/stat" ] || return 1
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# rf_wait_ready NS PID LOG [TIMEOUT]: waits until rf0 in NS has the kernel-side address and
# the stack answers a ping. Fails at once if the program exits, or after TIMEOUT seconds.
rf_wait_ready() {
	local ns=$1 pid=$2 log=$RF_TMP/$3 timeout=${4:-$RF_READY_TIMEOUT} deadline
	deadline=$((SECONDS + timeout))
	while [ "$SECONDS" -lt "$deadline" ]; do
		if ! rf_alive "$pid"; then
			rf_err "$(basename "$log" .log) exited before it was ready"
			return 1
		fi
		if ip -n "$ns" -4 addr show dev "$RF_IFACE" 2>/dev/null |
			grep -q "inet $RF_KERNEL_IP/" &&
			rf_timeout 3 ip netns exec "$ns" ping -q -c 1 -W 1 "$RF_STACK_IP" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.2
	done
	rf_err "$(basename "$log" .log) not ready after ${timeout}s ($RF_IFACE with $RF_KERNEL_IP, ping $RF_STACK_IP)"
	return 1
}

# rf_stop PID VAR [TIMEOUT]: SIGINT, wait up to TIMEOUT seconds, then SIGKILL. Stores the exit
# status in VAR (128+9 = 137 when it had to be killed). Returns 0 when it stopped on SIGINT.
rf_stop() {
	local _rf_pid=$1 _rf_var=$2 _rf_timeout=${3:-$RF_STOP_TIMEOUT} _rf_deadline _rf_st=0
	local _rf_killed=0
	kill -INT "$_rf_pid" 2>/dev/null || true
	_rf_deadline=$((SECONDS + _rf_timeout))
	while rf_alive "$_rf_pid" && [ "$SECONDS" -lt "$_rf_deadline" ]; do
		sleep 0.1
	done
	if rf_alive "$_rf_pid"; then
		rf_err "pid $_rf_pid still running ${_rf_timeout}s after SIGINT: killing it"
		kill -KILL "$_rf_pid" 2>/dev/null || true
		_rf_killed=1
	fi
	wait "$_rf_pid" 2>/dev/null || _rf_st=$?
	printf -v "$_rf_var" '%s' "$_rf_st"
	[ "$_rf_killed" = 0 ]
}

# rf_memif_depart LABEL SERVER SERVER_PID CLIENT CLIENT_PID CLIENT_LOG SECONDS VAR [STOP]: ends
# a memif link in the one order DPDK 22.11's memif PMD survives (a process that polls its end
# while the peer leaves can crash: docs/devices.md). The client runs with --hold: once its run
# ended it prints "CLIENT: holding" (in CLIENT_LOG) and keeps its end up, unpolled, until a
# signal. So: wait for that line (at most SECONDS; said when the client exited first or never
# held, and the server is stopped anyway), stop the server, then the client (rf_stop, STOP
# seconds each); both must exit 0, a check each. The client's exit status goes to VAR. Returns
# 0 when the server exited 0: only then is what it left (its --stats, its log) worth checking.
rf_memif_depart() {
	local _rf_srv_st=''
	rf_wait_line "$7" "$5" "$6" "^$4: holding" || rf_err "$1: $4 did not reach its hold"
	rf__stopped "$1" "$2" "$3" _rf_srv_st "${9:-}"
	rf__stopped "$1" "$4" "$5" "$8" "${9:-}"
	[ "$_rf_srv_st" = 0 ]
}

# rf__stopped LABEL NAME PID VAR [STOP]: rf_stop PID, its exit status into VAR; checks it is 0.
rf__stopped() {
	local _rf_got=''
	rf_stop "$3" _rf_got ${5:+"$5"} || true
	printf -v "$4" '%s' "$_rf_got"
	if [ "$_rf_got" = 0 ]; then
		rf_pass "$1: $2 stopped on SIGINT with exit status 0"
	else
		rf_fail "$1: $2 stopped on SIGINT with exit status 0 (got $_rf_got)"
	fi
}

# rf_check DESCRIPTION CMD...: runs CMD, counts and prints the outcome; never exits.
rf_check() {
	local what=$1
	shift
	if "$@"; then
		rf_pass "$what"
	else
		rf_fail "$what"
	fi
}

rf_pass() {
	rf_npass=$((rf_npass + 1))
	rf_say "ok: $*"
}

rf_fail() {
	rf_nfail=$((rf_nfail + 1))
	rf_say "FAIL: $*"
}

# rf_finish: prints the summary; exits 0 when nothing failed and something passed.
rf_finish() {
	rf_finished=1
	rf_say "$rf_npass passed, $rf_nfail failed"
	[ "$rf_nfail" = 0 ] && [ "$rf_npass" -gt 0 ] && exit 0
	exit 1
}

# rf_log PATH-IN-TMP: the full path of a log started with rf_start.
rf_log() { printf '%s\n' "$RF_TMP/$1"; }

# rf_first_cpu: the first CPU this process may run on (for EAL's -l).
rf_first_cpu() {
	"$RF_PY" -c 'import os; print(min(os.sched_getaffinity(0)))'
}
