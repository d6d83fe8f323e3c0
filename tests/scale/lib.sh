# shellcheck shell=bash
# Helpers of the scale suite (sourced by scale.sh and idle_rate.sh, after
# tests/integration/lib.sh).
#
# Every run joins rawflow processes by DPDK memif links inside one namespace of the test: rf-echo
# is the memif server (198.18.2.1/24, ports 7 and up), each rf-load a memif client with an
# address of its own (198.18.2.2 and up). A memif server takes one client at a time, and a new
# one once the last has gone, so clients follow each other on the same link. Each process gets
# an EAL --file-prefix rf-scale-<role>-<test pid>; the runtime folders those leave in
# /var/run/dpdk (a killed process leaves its folder) are removed at exit, and those of runs
# killed outright by the next run.

SC_ECHO_IP=198.18.2.1
# Local ports lwIP gives one client per server port (0xc000..0xfffe; stack/patches/0010).
SC_PORTS_PER_SERVER_PORT=16383
sc_ns='' sc_echo_bin='' sc_load_bin='' sc_tool='' cpu0='' cpu1='' # set by sc_init

sc_rm_runtime_dirs() {
	local d pid
	for d in /var/run/dpdk/rf-scale-*; do
		[ -d "$d" ] || continue
		pid=${d##*-}
		case $pid in '' | *[!0-9]*) continue ;; esac
		if [ "$pid" = "$$" ] || [ ! -d "/proc/$pid" ]; then
			rm -rf -- "$d"
		fi
	done
	return 0
}

# sc_init NAME: rf_init, then the runtime-folder cleanup on exit, the two CPUs (cpu0 for
# rf-echo, cpu1 for the clients) and the namespace (sc_ns).
sc_init() {
	rf_init "$1"
	sc_rm_runtime_dirs
	# shellcheck disable=SC2154 # (sc_rc is set by the trap itself)
	trap 'sc_rc=$?; sc_rm_runtime_dirs; (exit "$sc_rc"); rf__cleanup' EXIT
	rf_app sc_echo_bin rf-echo
	rf_app sc_load_bin rf-load
	cpu0=$(rf_first_cpu)
	cpu1=$("$RF_PY" -c 'import os; c = sorted(os.sched_getaffinity(0)); print(c[1] if len(c) > 1 else c[0])')
	rf_ns_new sc_ns memif
	# shellcheck disable=SC2034 # (used by the scripts that source this file)
	sc_tool=$RF_SRC/tests/scale/scale.py
}

# sc_eal VAR ROLE CPU SOCKET MEMIF_ROLE: the EAL arguments (and "--") of one process, into the
# array VAR.
sc_eal() {
	local -n _sc_out=$1
	_sc_out=(--no-huge --no-pci --no-shconf -m 1024 -l "$3" --file-prefix "rf-scale-$2-$$"
		--vdev="net_memif0,role=$5,socket=$4" --)
}

# sc_echo_start VAR SOCKET LOG ARGS...: rf-echo as the memif server on cpu0, 198.18.2.1/24, port
# 7; its pid in VAR once its loop runs (its first status line: a client that connects before
# the port started is turned away and does not try again).
sc_echo_start() {
	local _sc_var=$1 _sc_sock=$2 _sc_log=$3 _sc_pid
	local -a _sc_eal
	shift 3
	sc_eal _sc_eal echo "$cpu0" "$_sc_sock" server
	rf_start _sc_pid "$sc_ns" "$_sc_log" "$sc_echo_bin" "${_sc_eal[@]}" --ip "$SC_ECHO_IP/24" \
		--port 7 "$@"
	printf -v "$_sc_var" '%s' "$_sc_pid"
	rf_wait_line 30 "$_sc_pid" "$_sc_log" '^rf-echo: .* \| flows'
}

# sc_load_start VAR ROLE IP SOCKET LOG ARGS...: rf-load as a memif client on cpu1 at IP/24,
# against rf-echo; its pid in VAR.
sc_load_start() {
	local _sc_var=$1 _sc_role=$2 _sc_ip=$3 _sc_sock=$4 _sc_log=$5
	local -a _sc_eal
	shift 5
	sc_eal _sc_eal "$_sc_role" "$cpu1" "$_sc_sock" client
	rf_start "$_sc_var" "$sc_ns" "$_sc_log" "$sc_load_bin" "${_sc_eal[@]}" \
		--ip "$_sc_ip/24" --to "$SC_ECHO_IP:7" "$@"
}

# sc_load_depart LABEL ECHO_PID LOAD_PID LOG: ends rf-load's run (SIGINT; started with --hold,
# it then holds its end of the memif link unpolled) and stops rf-echo first, then rf-load, each
# within 30 s and with exit status 0 (rf_memif_depart; LABEL prefixes its checks).
sc_load_depart() {
	local _sc_rc
	kill -INT "$3" 2>/dev/null
	rf_memif_depart "$1" rf-echo "$2" rf-load "$3" "$4" 30 _sc_rc 30
}

# sc_ports N: the server ports N connections from one client address need.
sc_ports() {
	echo $((($1 + SC_PORTS_PER_SERVER_PORT - 1) / SC_PORTS_PER_SERVER_PORT))
}

# sc_anon_kib PID: the resident anonymous memory of PID (malloc and the like), in KiB. DPDK's
# memory (the packet pool, rings: shared memory even with --no-huge) is in RssShmem and left
# out: its size is fixed by --mbufs, and how much of it is resident depends on how many pool
# elements a burst touched, not on the number of flows.
sc_anon_kib() {
	awk '/^RssAnon:/ {print $2}' "/proc/$1/status"
}
