#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# rawflow against the Linux kernel, side by side (issue 7): `./run bench [--quick]`.
#
#   tests/bench/run.sh [--quick | --smoke] [--docs]
#     (default)  the full run: 5 runs per point, 4 s each, 1/16/64/256 connections,
#                plus tests/bench/zerocopy.sh; 631 s here (2026-11-25, with the 100 k idle
#                point; the bound for the full run is 15 minutes)
#     --quick    3 runs per point, 2 s each, 1/16/64 connections: about 2-3 minutes
#     --smoke    1 run per point, under a second each: checks the plumbing and the JSON
#     --docs     also regenerate docs/benchmarks.md (and its plots) from this run
#     --only=S,..  only these scenarios (rpc, latency_under_load, short_flows, idle_conns,
#                bulk, http; rtt comes with rpc), the others recorded as not measured
#
# Each scenario runs on both systems back to back, on the same two CPUs (the server on the
# first CPU this script may use, the client on the second), interleaved run by run and with
# the order flipped every round, because this VM switches between a fast and a slow mode
# (about 2x apart) between runs and even within one: a median over interleaved runs, with
# its min-max spread, is the figure; one run is not.
#
#   rawflow: two rawflow processes joined by a DPDK net_memif link (no system call on the
#            data path), one core each, in a namespace of their own (the memif control
#            socket is abstract); 198.18.2.1 (server) and 198.18.2.2 (client).
#   Linux:   two namespaces joined by a veth pair, 198.18.1.1 (server) and 198.18.1.2
#            (client); the kernel's TCP with its defaults (TSO/GRO on veth), C programs
#            (tests/bench/kecho.c, kload.c) or the stock tools (iperf3, nginx, wrk).
#   HTTP:    wrk against rf-httpd on net_af_packet (qpairs=1) bound to one end of a second
#            veth pair, the kernel's TCP (wrk) at the other end with TX checksum offload off
#            (docs/devices.md: partial checksums), vs wrk against nginx over the first veth.
#            Only the server differs; af_packet's RX ring is shared memory, its TX a sendto()
#            per burst (net_tap, which this scenario used before, costs a system call per frame).
#
# Scenarios (records in build/bench/results.json, see tests/bench/collect.py):
#   rpc                 64 B echo, closed loop, depth 1, at 1/16/64(/256) connections:
#                       rf-load -> rf-echo vs kload -> kecho. Requests/s, p50/p99/p99.9.
#   rtt                 the 1-connection point's p50 (the round trip).
#   latency_under_load  open loop at 50% of Linux's measured 64-connection rate, 64
#                       connections: p99 (rf-load --rate vs kload --rate).
#   bulk                one flow, MTU 1500 and 9000: rf-iperf --client -> rf-iperf (memif;
#                       --mtu 9000, bsize=9216) vs iperf3 -c -> iperf3 -s (veth at the MTU).
#                       Gbit/s and busy cycles per byte (both ends).
#   short_flows         connect, 64 B request, 64 B answer, close; 16 slots; connections/s.
#   idle_conns          16 connections of 64 B echo next to 0 / 10 k (full: also 1 k and
#                       100 k) idle connections: rf-load --idle K -> rf-echo over memif (EAL
#                       -m 1024) vs kload holders + kload -> kecho over veth.
#   http                wrk -t1 -c64 GET /64: rf-httpd vs nginx; requests/s and server
#                       cycles per request (rf-httpd's busy cycles: TSC cycles of loop passes
#                       that did work, the PMD's sendto() included; nginx's CPU time from
#                       /proc/PID/task/*/schedstat at the TSC rate).
# Plus perf profiles (cpu-clock) of rf-echo under the 64-connection load, of the rf-iperf
# receiver and of rf-httpd (perf-*.txt), for the report's "where the time goes".
#
# Output in build/bench/ ($RF_BENCH_DIR): results.json, machine.json, raw.jsonl (every run),
# perf-*.txt, benchmarks.md and *.png (tests/bench/report.py).
#
# Bounds and cleanup: every client run is under `timeout`; tests/integration/lib.sh's traps
# kill every process started here and delete the namespaces (with their veths and memif
# sockets) on any exit. Traffic goes only to 198.18.0.0/15 inside those namespaces. No
# hugepages are reserved (memif and net_af_packet run with --no-huge).
#
# Exit status: 0 when every point was measured on both systems (a single failed run is null
# in its record and listed in the report), 1 when some point has no working run or a step
# failed (the results are still written), 2 on a bad command line.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../integration/lib.sh
. "$here/../integration/lib.sh"

mode=full docs=0 only=''
for a in "$@"; do
	case $a in
	--quick) mode=quick ;;
	--smoke) mode=smoke ;;
	--docs) docs=1 ;;
	--only=?*)
		only=${a#--only=}
		for s in ${only//,/ }; do
			case $s in
			rpc | latency_under_load | short_flows | idle_conns | bulk | http) ;;
			*)
				echo "run.sh: unknown scenario '$s' in $a (try --help)" >&2
				exit 2
				;;
			esac
		done
		;;
	-h | --help)
		sed -n '4,11s/^# \{0,1\}//p' "$0"
		exit 0
		;;
	*)
		echo "run.sh: unknown option '$a' (try --help)" >&2
		exit 2
		;;
	esac
done

case $mode in
full) runs=5 dur=4 conns_list="1 16 64 256" bulk_t=4 short_n=15000 wrk_d=4 perf_s=4 ;;
quick) runs=3 dur=1.5 conns_list="1 16 64" bulk_t=2 short_n=5000 wrk_d=2 perf_s=2 ;;
smoke) runs=1 dur=0.5 conns_list="1 16" bulk_t=1 short_n=500 wrk_d=1 perf_s=0 ;;
esac
case $mode in
full) idle_list="0 1000 10000 100000" ;;
quick) idle_list="0 10000" ;;
smoke) idle_list="0 100" ;;
esac
idle_load=16 # connections of the fixed load next to the idle ones
idle_max=${idle_list##* }
# A process here may hold 20,000 files at most (ulimit -n; raising the hard limit is not
# permitted) and a client address 28,232 local ports per server port. So beyond 10 k Linux's
# idle connections go to idle_ports server ports, each served by a kecho of its own (the load
# uses the first), and are opened by holders of at most idle_chunk connections each. rf-load
# and rf-echo spread theirs over server ports the same way (--ports), in one process each.
idle_chunk=15000
idle_ports=$(((idle_max + idle_load + 14000 - 1) / 14000))
# The open loop's run is one second longer: its schedule starts once all connections are up.
case $mode in
full) lul_dur=5 ;;
quick) lul_dur=3 ;;
smoke) lul_dur=1.5 ;;
esac
short_slots=16
http_conns=64

rf_init bench
out=${RF_BENCH_DIR:-$RF_BUILD/bench}
mkdir -p "$out"
raw=$out/raw.jsonl
: >"$raw"
rm -f "$out/results.json" "$out"/perf-*.txt "$out"/*.png
collect() { "$RF_PY" "$here/collect.py" "$@"; }
SECONDS=0
loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)

echo_bin='' load_bin='' iperf_bin='' httpd_bin=''
rf_app echo_bin rf-echo
rf_app load_bin rf-load
rf_app iperf_bin rf-iperf
rf_app httpd_bin rf-httpd

# ---- the kernel side's C programs -----------------------------------------------------------
bin=$out/bin
mkdir -p "$bin"
for p in kload kecho; do
	extra=()
	[ "$p" = kload ] && extra=("$RF_SRC/apps/histogram.c")
	if ! cc -O2 -std=gnu11 -Wall -Wextra -Werror -I"$RF_SRC/apps" -o "$bin/$p" \
		"$here/$p.c" "${extra[@]}"; then
		rf_fail "compile tests/bench/$p.c"
		rf_finish
	fi
done

cpu0=$(rf_first_cpu)
cpu1=$("$RF_PY" -c 'import os; c = sorted(os.sched_getaffinity(0)); print(c[1] if len(c) > 1 else c[0])')
[ "$cpu0" != "$cpu1" ] || rf_say "only one CPU: client and server share it (figures meaningless)"
# This VM is shared: when other processes keep one of the two CPUs busy, the servers (whose
# cost and latency are measured) get the other one.
contention_start=$(collect contention "$cpu0" "$cpu1")
read -r cpu0 cpu1 <<<"${contention_start%%|*}"
contention_start=${contention_start#*|}
rf_say "other processes keeping a CPU busy: $contention_start"

# ---- namespaces -----------------------------------------------------------------------------
mns='' lsrv='' lcli='' hns='' hkns=''
rf_ns_new mns memif
rf_ns_new lsrv lsrv
rf_ns_new lcli lcli
rf_ns_new hns httpd
rf_ns_new hkns wrk
if ! ip link add rfbv0 netns "$lsrv" type veth peer name rfbv1 netns "$lcli"; then
	rf_fail "create a veth pair between $lsrv and $lcli"
	rf_finish
fi
ip -n "$lsrv" addr add 198.18.1.1/24 dev rfbv0
ip -n "$lcli" addr add 198.18.1.2/24 dev rfbv1
ip -n "$lsrv" link set rfbv0 up
ip -n "$lcli" link set rfbv1 up
# The client makes tens of thousands of short flows and keeps each in TIME-WAIT: a wider port
# range and reuse of TIME-WAIT ports for new outgoing connections (timestamps are on), in the
# client's namespace only.
ip netns exec "$lcli" sysctl -q -w net.ipv4.ip_local_port_range="1024 65535" net.ipv4.tcp_tw_reuse=1
LSRV=198.18.1.1
# rf-httpd's link (scenario http): rawflow's end up without an address (net_af_packet takes it
# over), the kernel's end with TX checksum offload off (docs/devices.md, net_af_packet).
hveth=rfh$$a
if ! ip link add "$hveth" netns "$hns" type veth peer name rfh$$b netns "$hkns" ||
	! ip netns exec "$hkns" ethtool -K rfh$$b tx off >/dev/null; then
	rf_fail "create the veth pair between $hns and $hkns (ethtool -K tx off)"
	rf_finish
fi
ip -n "$hns" link set "$hveth" up
ip -n "$hkns" addr add 198.18.3.1/24 dev rfh$$b
ip -n "$hkns" link set rfh$$b up
HSRV=198.18.3.2
HTTPD_DEVARGS="net_af_packet0,iface=<veth>,qpairs=1; EAL --no-huge --no-pci --no-shconf -m 512 -l <cpu>; kernel end: ethtool -K tx off"

# ---- helpers --------------------------------------------------------------------------------
memif_n=0
memif_extra='' # more devargs (",bsize=9216": buffers that hold a jumbo frame, docs/devices.md)
# memif_eal VAR ROLE CPU [MEM]: EAL arguments of one end of a fresh memif link (server: a new
# socket name; client: the latest server's); -m MEM MiB (default 512).
memif_eal() {
	local _role=$2 _cpu=$3 _mem=${4:-512}
	[ "$_role" = server ] && memif_n=$((memif_n + 1))
	local -n _arr=$1
	_arr=(--no-huge --no-pci --no-shconf -m "$_mem" -l "$_cpu" --file-prefix "rfb-$_role-$$-$memif_n"
		--vdev="net_memif0,role=$_role,socket=$RF_TMP/memif-$memif_n.sock$memif_extra" --)
}
MEMIF_DEVARGS="net_memif0,role=server|client,socket=<tmp>/memif-N.sock (abstract); EAL --no-huge --no-pci --no-shconf -m 512 -l <cpu>"

# wait_line LOG REGEX SECONDS PID: until LOG (in RF_TMP) has a line matching REGEX.
wait_line() {
	local log=$RF_TMP/$1 deadline=$((SECONDS + $3))
	while [ "$SECONDS" -lt "$deadline" ]; do
		rf_alive "$4" || return 1
		grep -qE "$2" "$log" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# wait_ping NS ADDR SECONDS PID: until ADDR answers a ping from NS.
wait_ping() {
	local deadline=$((SECONDS + $3))
	while [ "$SECONDS" -lt "$deadline" ]; do
		rf_alive "$4" || return 1
		rf_timeout 3 ip netns exec "$1" ping -q -c 1 -W 1 "$2" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

# wait_listen NS ADDR:PORT SECONDS PID: until a socket listens on ADDR:PORT in NS.
wait_listen() {
	local deadline=$((SECONDS + $3))
	while [ "$SECONDS" -lt "$deadline" ]; do
		rf_alive "$4" || return 1
		ip netns exec "$1" ss -Hltn "src $2" 2>/dev/null | grep -q . && return 0
		sleep 0.1
	done
	return 1
}

tsc_hz() {
	if [ ! -s "$RF_TMP/tsc_hz" ]; then
		"$RF_PY" -c 'import re; print(int(float(re.search(r"cpu MHz\s*:\s*([0-9.]+)", open("/proc/cpuinfo").read()).group(1)) * 1e6))' >"$RF_TMP/tsc_hz"
	fi
	cat "$RF_TMP/tsc_hz"
}
note_tsc() { # STATS_FILE: remember the TSC rate rawflow measured
	[ -s "$RF_TMP/tsc_hz" ] && return 0
	"$RF_PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["tsc_hz"])' "$1" \
		>"$RF_TMP/tsc_hz" 2>/dev/null || rm -f "$RF_TMP/tsc_hz"
}

# order ROUND: the two systems in this round's order (flipped every round).
order() { if [ $(($1 % 2)) = 1 ]; then echo "rawflow linux"; else echo "linux rawflow"; fi; }

# A run is bounded by its own --duration/--requests and, whatever happens, by this.
# bound SECONDS [EXTRA]: SECONDS + EXTRA (default 30), rounded up.
bound() { "$RF_PY" -c 'import math, sys; print(math.ceil(float(sys.argv[1])) + int(sys.argv[2]))' "$1" "${2:-30}"; }

# ---- servers for the request/response scenarios ------------------------------------------------
# rf-echo polls its CPU all the time, so it is stopped (SIGSTOP) while Linux runs and resumed
# for rawflow's runs; kecho sleeps in epoll_wait when idle.
epid='' kpid='' echo_starts=0 echo_deaths=()
start_rf_echo() {
	local eal=()
	echo_starts=$((echo_starts + 1))
	memif_eal eal server "$cpu0"
	rf_start epid "$mns" "rf-echo-$echo_starts.log" "$echo_bin" "${eal[@]}" --ip 198.18.2.1/24 \
		--port 7 --stats "$RF_TMP/echo-stats.json"
	# Ready once its loop runs (first status line): a memif client that connects before the
	# server's port started is turned away and does not try again.
	if ! wait_line "rf-echo-$echo_starts.log" '^rf-echo: .* \| flows' 30 "$epid"; then
		rf_fail "rf-echo came up as memif server"
		return 1
	fi
	kill -STOP "$epid" 2>/dev/null
}
# rf-echo (DPDK 22.11's memif PMD, in fact) has been seen to segfault when a client leaves:
# a dead server is recorded (machine.json, the report) and started again, so that one crash
# does not void the runs after it.
ensure_rf_echo() {
	local st=0
	rf_alive "$epid" && return 0
	wait "$epid" 2>/dev/null || st=$?
	echo_deaths+=("exit status $st$([ "$st" = 139 ] && echo ' (SIGSEGV)') before run $1")
	rf_say "rf-echo died (exit status $st) before $1: starting it again"
	start_rf_echo
}
start_echo_servers() {
	start_rf_echo || return 1
	rf_start kpid "$lsrv" kecho.log taskset -c "$cpu0" "$bin/kecho" --port 7
	if ! wait_line kecho.log '^listening' 10 "$kpid"; then
		rf_fail "kecho started"
		return 1
	fi
}
stop_echo_servers() {
	local rc
	kill -CONT "$epid" 2>/dev/null
	rf_stop "$epid" rc || rf_fail "rf-echo stopped on SIGINT"
	rf_stop "$kpid" rc
}

load_eal=()
load_wrap=() # a command that runs the rawflow client (perf record for a profile)
load_retries=() # rawflow runs made again because the first attempt answered nothing
# rpc_run SYSTEM SCENARIO POINT RUN DURATION CLIENT-ARGS...: one client run against the echo
# servers, recorded.
rpc_run() {
	local sys=$1 scen=$2 point=$3 run=$4 d=$5 o=$RF_TMP/client.out
	shift 5
	if [ "$sys" = rawflow ]; then
		local try
		for try in 1 2; do
			ensure_rf_echo "$scen $point #$run"
			kill -CONT "$epid" 2>/dev/null
			memif_eal load_eal client "$cpu1"
			rf_timeout "$(bound "$d")" "${load_wrap[@]}" ip netns exec "$mns" "$load_bin" \
				"${load_eal[@]}" --ip 198.18.2.2/24 --to 198.18.2.1:7 --duration "$d" --json \
				--quiet --stats "$RF_TMP/load-stats.json" "$@" </dev/null >"$o" 2>"$RF_TMP/client.err"
			# rf-echo's control thread takes the client's departure down before it is
			# frozen: frozen with it pending, it handled it only when resumed for the next
			# run, while that run's client was connecting, which then often answered nothing
			# (the 16-connection point of --smoke, 3 runs in 3)
			sleep 0.3
			kill -STOP "$epid" 2>/dev/null
			# Nothing answered at all: the first SYN left before the memif link was up and
			# lwIP resends it after 3 s, past a short run's end (or the server died). Such a
			# run is made again once, and counted (machine.json, the report).
			grep -q '"requests":[1-9]' "$o" && break
			[ "$try" = 1 ] && load_retries+=("$scen $point #$run")
		done
		note_tsc "$RF_TMP/load-stats.json"
	else
		rf_timeout "$(bound "$d")" ip netns exec "$lcli" taskset -c "$cpu1" "$bin/kload" \
			--to "$LSRV:7" --duration "$d" "$@" </dev/null >"$o" 2>"$RF_TMP/client.err"
	fi
	collect add "$raw" "$scen" "$point" "$sys" "$run" load "$o" ||
		rf_fail "$sys $scen $point run $run: could not record"
	grep -q '"requests"' "$o" || tail -n 5 "$RF_TMP/client.err" | sed 's/^/    /'
}

scenario_rpc() {
	local i c s
	rf_say "== RPC echo, 64 B, closed loop: $runs runs x ${dur}s per point and system"
	for i in $(seq "$runs"); do
		for c in $conns_list; do
			for s in $(order "$i"); do
				rpc_run "$s" rpc "$c" "$i" "$dur" --conns "$c" --size 64
			done
		done
	done
}

# perf_start NAME PID SECONDS: profiles PID (cpu-clock, call graphs) for SECONDS in the
# background; perf_finish NAME TITLE writes $out/perf-NAME.txt (self time by symbol).
# Nothing happens without perf or with perf_s=0 (--smoke).
perf_job=''
perf_start() {
	perf_job=''
	[ "$perf_s" != 0 ] && command -v perf >/dev/null || return 0
	rm -f "$RF_TMP/perf-$1.data"
	timeout -k 5 $(($3 + 20)) perf record -q -e cpu-clock -g -p "$2" -o "$RF_TMP/perf-$1.data" \
		-- sleep "$3" >"$RF_TMP/perf-$1.log" 2>&1 &
	perf_job=$!
	rf_pids+=("$perf_job")
}
perf_finish() {
	local st=0
	[ -n "$perf_job" ] || return 0
	[ "$perf_job" = : ] || wait "$perf_job" || st=$?
	perf_job=''
	if [ "$st" = 0 ] && [ -s "$RF_TMP/perf-$1.data" ]; then
		{
			echo "# $2"
			echo "# perf record -e cpu-clock -g -p PID; self time by symbol (perf report --no-children --sort dso,symbol)"
			perf report -i "$RF_TMP/perf-$1.data" --stdio --no-children --sort dso,symbol -g none \
				--percent-limit 0.8 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 30 |
				sed 's/ *- *- *$//; s/ *$//'
		} >"$out/perf-$1.txt"
	else
		{ echo "# $2: perf record failed (status $st)"; tail -n 5 "$RF_TMP/perf-$1.log"; } \
			>"$out/perf-$1.txt"
	fi
}

profile_rf_echo() {
	local lp
	[ "$perf_s" != 0 ] || return 0
	rf_say "== perf profile of rf-echo (cpu-clock, ${perf_s}s) under 64 connections"
	ensure_rf_echo "the profile"
	kill -CONT "$epid" 2>/dev/null
	memif_eal load_eal client "$cpu1"
	ip netns exec "$mns" timeout -k 5 $((perf_s + 20)) "$load_bin" "${load_eal[@]}" \
		--ip 198.18.2.2/24 --to 198.18.2.1:7 --duration $((perf_s + 2)) --conns 64 --quiet \
		</dev/null >/dev/null 2>&1 &
	lp=$!
	rf_pids+=("$lp")
	sleep 1
	perf_start rf-echo "$epid" "$perf_s"
	perf_finish rf-echo "rf-echo (memif), 64 connections of 64 B echo, closed loop, ${perf_s} s"
	wait "$lp" 2>/dev/null
	kill -STOP "$epid" 2>/dev/null
}

scenario_latency_under_load() {
	local i s rate point top
	top=${conns_list##* }
	[ "$top" -ge 64 ] 2>/dev/null && top=64
	# 50% of Linux's median closed-loop rate at that many connections, measured above.
	rate=$("$RF_PY" - "$raw" "$top" <<'PY'
import json, statistics, sys
v = [r["metrics"]["rps"] for r in map(json.loads, open(sys.argv[1]))
     if r.get("scenario") == "rpc" and r.get("point") == sys.argv[2] and r.get("system") == "linux" and r.get("ok")]
print(int(statistics.median(v) / 2) if v else 50000)
PY
)
	point="${top}c@${rate}/s"
	rf_say "== latency under load: open loop, $top connections, $rate requests/s (50% of Linux's max)"
	for i in $(seq "$runs"); do
		for s in $(order "$i"); do
			# One second more: the schedule starts only once all connections are up.
			rpc_run "$s" latency_under_load "$point" "$i" "$lul_dur" --conns "$top" \
				--size 64 --rate "$rate"
		done
	done
}

scenario_short_flows() {
	local i s
	rf_say "== short flows: $short_n connections per run, $short_slots at a time"
	for i in $(seq "$runs"); do
		for s in $(order "$i"); do
			# The last round profiles rf-load (the side that keeps TIME-WAIT) and rf-echo.
			if [ "$s" = rawflow ] && [ "$i" = "$runs" ] && [ "$perf_s" != 0 ] &&
				command -v perf >/dev/null; then
				load_wrap=(perf record -q -e cpu-clock -g -o "$RF_TMP/perf-rf-load.data" --)
				ensure_rf_echo "short_flows profile"
				perf_start rf-echo-short "$epid" 2
			fi
			rpc_run "$s" short_flows "${short_slots} slots" "$i" 30 --short-flows \
				--conns "$short_slots" --requests "$short_n"
			if [ ${#load_wrap[@]} != 0 ]; then
				load_wrap=()
				perf_finish rf-echo-short "rf-echo (memif) serving short flows (first 2 s)"
				perf_job=: # rf-load's profile was recorded by the wrapper, in the foreground
				perf_finish rf-load "rf-load (memif) making $short_n short flows, whole run"
			fi
		done
	done
}

# ---- concurrency cost: a fixed load next to idle connections ---------------------------------
# 16 connections of 64 B echo (closed loop, depth 1) next to K idle connections (each sent one
# request, was answered, and stays open without traffic). The target compares each system with
# itself (K idle against 0 idle), so each system's levels interleave, run by run:
#   rawflow: one rf-echo and one rf-load --idle K --conns 16 per level, each pair on a memif link
#            of its own, all started first (rf-load opens the K idle connections, then runs its
#            closed loop next to them) and frozen (SIGSTOP) but the one measured. A run is a
#            window of dur seconds of one pair (after idle_settle s), its rate from rf-load's
#            counters (rx_payload_bytes / 64, read through DPDK telemetry); the levels take
#            turns, ascending in odd rounds and descending in even ones, so this VM's drift
#            (its fast and slow modes) spreads over all levels alike. The client holds the idle
#            connections too, so its own cost grows with K like the server's.
#   Linux:   kload holders (idle_chunk connections each) keep the idle connections to kecho
#            over veth, added level by level (the kernel holds them all in one table), and
#            kload --conns 16 runs come and go next to them; Linux's levels run in turn, so
#            its ratio holds the drift between levels. Its runs follow rawflow's.
idle_settle=0.3
declare -A ipid_e=() ipid_l=() ipfx=() # per level: rf-echo, rf-load, rf-load's EAL prefix

# idle_rf_start LEVEL: rf-echo and rf-load --idle LEVEL on a fresh memif link; returns once
# rf-load has all of them answered (or its loop runs, at 0), with both frozen.
idle_rf_start() {
	local lvl=$1 ports eal=() idle=() e l
	ports=$(((lvl + idle_load + 14000 - 1) / 14000))
	[ "$lvl" -gt 0 ] && idle=(--idle "$lvl")
	# -m 1024 on each side: a pool for --max-flows above 32,768 (docs/scaling.md)
	memif_eal eal server "$cpu0" 1024
	rf_start e "$mns" "idle-echo-$lvl.log" "$echo_bin" "${eal[@]}" --ip 198.18.2.1/24 \
		--port 7 --ports "$ports" --max-flows $((lvl + idle_load + 1024))
	ipid_e[$lvl]=$e
	wait_line "idle-echo-$lvl.log" '^rf-echo: .* \| flows' 30 "$e" || return 1
	memif_eal eal client "$cpu1" 1024
	ipfx[$lvl]=rfb-client-$$-$memif_n
	rf_start l "$mns" "idle-load-$lvl.log" "$load_bin" "${eal[@]}" --ip 198.18.2.2/24 \
		--to 198.18.2.1:7 --conns "$idle_load" --size 64 "${idle[@]}" --ports "$ports" \
		--duration 3600 --json --hold
	ipid_l[$lvl]=$l
	if [ "$lvl" -gt 0 ]; then
		wait_line "idle-load-$lvl.log" "all $lvl idle connections answered" \
			$((60 + lvl / 500)) "$l" || return 1
	else
		wait_line "idle-load-$lvl.log" '[1-9][0-9]* req/s' 30 "$l" || return 1
	fi
	kill -STOP "$l" "$e"
}

# idle_rf_stop LEVEL: ends the level's pair (rf-load holds its end while rf-echo leaves); a
# remark when rf-load counted errors (an idle connection reset, a request lost).
idle_rf_stop() {
	local rc errs e=${ipid_e[$1]:-} l=${ipid_l[$1]:-}
	[ -n "$e" ] && [ -n "$l" ] || return 0
	kill -CONT "$e" "$l" 2>/dev/null
	kill -INT "$l" 2>/dev/null
	rf_memif_depart "idle_conns $1" rf-echo "$e" rf-load "$l" "idle-load-$1.log" 30 rc
	errs=$("$RF_PY" "$RF_SRC/tests/scale/scale.py" get "$(rf_log "idle-load-$1.log")" errors 2>/dev/null)
	[ "${errs:-x}" = 0 ] || collect remark "$raw" idle_conns "$1 idle" "rf-load counted ${errs:-no} errors"
}

# idle_window LEVEL OUT: one rawflow run: the level's pair runs for idle_settle + dur seconds;
# the requests answered within the last dur of them, as JSON into OUT (collect.py's "window").
idle_window() {
	local e=${ipid_e[$1]} l=${ipid_l[$1]} a b t1 t2
	kill -CONT "$e" "$l"
	sleep "$idle_settle"
	a=$("$RF_PY" "$RF_SRC/tests/scale/scale.py" stats "${ipfx[$1]}") && t1=$(date +%s%N)
	sleep "$dur"
	b=$("$RF_PY" "$RF_SRC/tests/scale/scale.py" stats "${ipfx[$1]}") && t2=$(date +%s%N)
	kill -STOP "$l" "$e"
	"$RF_PY" - "$a" "$b" "${t1:-0}" "${t2:-0}" >"$2" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
secs = (int(sys.argv[4]) - int(sys.argv[3])) / 1e9
reqs = (b["rx_payload_bytes"] - a["rx_payload_bytes"]) // 64
print(json.dumps({"requests": reqs, "duration_s": secs, "rps": reqs / secs}))
PY
}

idle_run() { # SYSTEM LEVEL RUN
	local sys=$1 lvl=$2 run=$3 o=$RF_TMP/client.out
	if [ "$sys" = rawflow ]; then
		# The last run next to the most idle connections profiles rf-echo.
		[ "$run" = "$runs" ] && [ "$lvl" = "$idle_max" ] &&
			perf_start rf-echo-idle "${ipid_e[$lvl]}" "${dur%.*}"
		idle_window "$lvl" "$o" || : >"$o"
		perf_finish rf-echo-idle "rf-echo (memif), $idle_load connections of echo next to $lvl idle"
		collect add "$raw" idle_conns "$lvl idle" rawflow "$run" window "$o" ||
			rf_fail "rawflow idle_conns $lvl idle run $run: could not record"
		return
	fi
	rf_timeout "$(bound "$dur")" ip netns exec "$lcli" taskset -c "$cpu1" "$bin/kload" \
		--to "$LSRV:7" --duration "$dur" --conns "$idle_load" --size 64 \
		</dev/null >"$o" 2>"$RF_TMP/client.err"
	collect add "$raw" idle_conns "$lvl idle" linux "$run" load "$o" ||
		rf_fail "linux idle_conns $lvl idle run $run: could not record"
}

# idle_hold NS LOG_PREFIX TO N: holders of N more idle connections to TO (its port and the next
# idle_ports - 1), idle_chunk per process; their pids added to holders, "LOG:PID" to hlogs.
idle_hold() {
	local ns=$1 pre=$2 to=$3 n=$4 j=0 c p
	while [ "$n" -gt 0 ]; do
		c=$((n < idle_chunk ? n : idle_chunk))
		rf_start p "$ns" "$pre-$j.log" taskset -c "$cpu1" "$bin/kload" --to "$to" --conns 0 \
			--idle "$c" --idle-ports "$idle_ports" --idle-wait $((60 + c / 250)) --duration 1200
		holders+=("$p")
		hlogs+=("$pre-$j.log:$p")
		n=$((n - c)) j=$((j + 1))
	done
}

# idle_opened LOG_PREFIX: the idle connections that the holders with that log prefix say they
# opened (waiting for each).
idle_opened() {
	local h sum=0 got
	for h in "${hlogs[@]}"; do
		[[ $h == "$1"-* ]] || continue
		wait_line "${h%:*}" '^\{"idle"' $((90 + idle_chunk / 250)) "${h##*:}"
		got=$(sed -n 's/^{"idle":\([0-9]*\)}/\1/p' "$(rf_log "${h%:*}")")
		sum=$((sum + ${got:-0}))
	done
	echo "$sum"
}

scenario_idle() {
	local lvl have=0 add i k p rc got_l order_up order_down holders=() hlogs=() kps=() up=()
	rf_say "== concurrency cost: $idle_load connections of 64 B echo next to $idle_list idle ones"
	# rawflow: every level's pair first, then the runs, levels taking turns
	for lvl in $idle_list; do
		if idle_rf_start "$lvl"; then
			up+=("$lvl")
		else
			rf_fail "rf-echo and rf-load --idle $lvl over memif"
			for p in ${ipid_l[$lvl]:-} ${ipid_e[$lvl]:-}; do rf_stop "$p" rc 5; done
			collect remark "$raw" idle_conns "$lvl idle" \
				"rawflow: rf-load did not open its $lvl idle connections"
		fi
	done
	order_up="${up[*]}"
	order_down=$(printf '%s\n' "${up[@]}" | tac | tr '\n' ' ')
	for i in $(seq "$runs"); do
		if [ $((i % 2)) = 1 ]; then set -- $order_up; else set -- $order_down; fi
		for lvl in "$@"; do idle_run rawflow "$lvl" "$i"; done
	done
	for lvl in "${up[@]}"; do idle_rf_stop "$lvl"; done
	# Linux: level by level, its holders adding up
	for k in $(seq 0 $((idle_ports - 1))); do
		rf_start p "$lsrv" "kecho-idle-$k.log" taskset -c "$cpu0" "$bin/kecho" --port $((7 + k))
		kps+=("$p")
	done
	for k in "${!kps[@]}"; do
		wait_line "kecho-idle-$k.log" '^listening' 10 "${kps[$k]}" || kps=()
	done
	if [ "${#kps[@]}" = 0 ]; then
		rf_fail "kecho started"
		return 1
	fi
	for lvl in $idle_list; do
		add=$((lvl - have))
		if [ "$add" -gt 0 ]; then
			hlogs=()
			idle_hold "$lcli" "idle-lx-$lvl" "$LSRV:7" "$add"
			got_l=$(idle_opened "idle-lx-$lvl")
			rf_say "idle connections opened by Linux's holders: $((have + got_l)) of $lvl"
			if [ "$got_l" != "$add" ]; then
				rf_fail "$lvl idle connections on Linux"
				collect remark "$raw" idle_conns "$lvl idle" \
					"idle connections opened on Linux: $((have + got_l))"
			fi
			have=$lvl
		fi
		for i in $(seq "$runs"); do idle_run linux "$lvl" "$i"; done
	done
	for p in "${holders[@]}"; do rf_stop "$p" rc; done
	for p in "${kps[@]}"; do rf_stop "$p" rc; done
}

# ---- bulk -----------------------------------------------------------------------------------
# scenario_bulk [MTU]: at 1500 (default) as the devices come; at 9000 rf-iperf's memif link with
# --mtu 9000 (and memif buffers that hold a frame) against the veth at MTU 9000; profiled at
# 1500 only.
scenario_bulk() {
	local i s spid ipid rc eal=() wrap=() mtu=${1:-1500} point="1 flow, MTU ${1:-1500}" mtuopt=()
	[ "$mtu" = 1500 ] || { mtuopt=(--mtu "$mtu"); memif_extra=,bsize=9216; }
	ip -n "$lsrv" link set rfbv0 mtu "$mtu" && ip -n "$lcli" link set rfbv1 mtu "$mtu"
	rf_say "== bulk: one flow for ${bulk_t}s, MTU $mtu"
	rf_start ipid "$lsrv" iperf3-server.log taskset -c "$cpu0" iperf3 -s -B "$LSRV"
	if ! wait_listen "$lsrv" "$LSRV:5201" 10 "$ipid"; then
		rf_fail "iperf3 -s started"
		collect skip "$raw" bulk "$point" "iperf3 -s did not start"
		return 1
	fi
	for i in $(seq "$runs"); do
		for s in $(order "$i"); do
			if [ "$s" = rawflow ]; then
				memif_eal eal server "$cpu0"
				rm -f "$RF_TMP/iperf-srv.json" "$RF_TMP/iperf-cli.json"
				rf_start spid "$mns" rf-iperf.log "$iperf_bin" "${eal[@]}" --ip 198.18.2.1/24 \
					"${mtuopt[@]}" --stats "$RF_TMP/iperf-srv.json"
				if wait_line rf-iperf.log '^rf-iperf: .* \| flows' 30 "$spid"; then
					# The last round profiles the receiving server (client start-up ~1 s) and
					# the sending client (its whole run).
					wrap=()
					if [ "$i" = "$runs" ] && [ "$perf_s" != 0 ] && [ "$mtu" = 1500 ] && command -v perf >/dev/null; then
						perf_start rf-iperf "$spid" $((bulk_t + 1))
						wrap=(perf record -q -e cpu-clock -g -o "$RF_TMP/perf-rf-iperf-client.data" --)
					fi
					memif_eal eal client "$cpu1"
					rf_timeout "$(bound "$bulk_t")" "${wrap[@]}" ip netns exec "$mns" "$iperf_bin" "${eal[@]}" \
						--ip 198.18.2.2/24 "${mtuopt[@]}" --client 198.18.2.1 --time "$bulk_t" --quiet \
						--stats "$RF_TMP/iperf-cli.json" </dev/null >"$RF_TMP/iperf-cli.out" \
						2>"$RF_TMP/iperf-cli.err"
				fi
				perf_finish rf-iperf "rf-iperf server receiving one flow (memif), ${bulk_t} s test"
				if [ ${#wrap[@]} != 0 ]; then
					perf_job=: # recorded by the wrapper, in the foreground
					perf_finish rf-iperf-client "rf-iperf --client sending one flow (memif), whole run"
				fi
				rf_stop "$spid" rc
				collect add "$raw" bulk "$point" rawflow "$i" rf_iperf "$RF_TMP/iperf-cli.json" \
					"$RF_TMP/iperf-srv.json"
			else
				rf_timeout "$(bound "$bulk_t")" ip netns exec "$lcli" taskset -c "$cpu1" \
					iperf3 -c "$LSRV" -t "$bulk_t" -J </dev/null >"$RF_TMP/iperf3.json" 2>&1
				collect add "$raw" bulk "$point" linux "$i" iperf3 "$RF_TMP/iperf3.json" "$(tsc_hz)"
			fi
		done
	done
	rf_stop "$ipid" rc
	memif_extra=''
	ip -n "$lsrv" link set rfbv0 mtu 1500 && ip -n "$lcli" link set rfbv1 mtu 1500
}

# ---- HTTP: wrk against rf-httpd and nginx -----------------------------------------------------
ngx_pid=''
start_nginx() {
	local d=$RF_TMP/nginx
	mkdir -p "$d/www" "$d/tmp"
	head -c 64 /dev/zero | tr '\0' 'x' >"$d/www/64"
	cat >"$d/nginx.conf" <<EOF
# One worker, no master: one process, pinned like rf-httpd, whose CPU time is the cost.
worker_processes 1;
master_process off;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; use epoll; }
http {
	access_log off;
	keepalive_requests 100000000;
	keepalive_timeout 60s;
	tcp_nodelay on;
	sendfile on;
	open_file_cache max=16;
	default_type application/octet-stream;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	server {
		listen $LSRV:80 backlog=4096;
		root $d/www;
	}
}
EOF
	rf_start ngx_pid "$lsrv" nginx.log taskset -c "$cpu0" nginx -p "$d" -e "$d/error.log" \
		-c "$d/nginx.conf"
	if ! wait_listen "$lsrv" "$LSRV:80" 10 "$ngx_pid"; then
		rf_fail "nginx started"
		cat "$d/error.log" "$(rf_log nginx.log)" 2>/dev/null | tail -n 5
		return 1
	fi
}

cpu_ns() { # PID: CPU time of all its threads, in ns (schedstat's first field)
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}' # (mawk: %d stops at 2^31)
}

scenario_http() {
	local i s hpid rc c0 c1 point="wrk -c$http_conns GET /64" have_nginx=1
	rf_say "== HTTP: wrk -t1 -c$http_conns -d${wrk_d}s GET /64"
	if ! command -v nginx >/dev/null; then
		rf_say "nginx is not installed (apt-get install nginx-light): the Linux side is not measured"
		have_nginx=0
		collect remark "$raw" http "$point" "Linux not measured: nginx is not installed (nginx-light)"
	elif ! start_nginx; then
		have_nginx=0
		collect remark "$raw" http "$point" "Linux not measured: nginx did not start"
	fi
	for i in $(seq "$runs"); do
		for s in $(order "$i"); do
			if [ "$s" = rawflow ]; then
				rm -f "$RF_TMP/httpd.json"
				rf_start hpid "$hns" rf-httpd.log "$httpd_bin" --no-huge --no-pci --no-shconf \
					-m 512 -l "$cpu0" --file-prefix "rfb-httpd-$$-$i" \
					--vdev="net_af_packet0,iface=$hveth,qpairs=1" -- --ip "$HSRV/24" --quiet \
					--stats "$RF_TMP/httpd.json"
				if wait_ping "$hkns" "$HSRV" 30 "$hpid"; then
					[ "$i" = "$runs" ] && perf_start rf-httpd "$hpid" "$wrk_d"
					rf_timeout $((wrk_d + 30)) ip netns exec "$hkns" taskset -c "$cpu1" wrk -t1 \
						-c"$http_conns" -d"${wrk_d}s" --latency "http://$HSRV/64" \
						</dev/null >"$RF_TMP/wrk.out" 2>&1
				else
					rf_fail "rf-httpd came up on net_af_packet ($hveth)"
				fi
				perf_finish rf-httpd "rf-httpd (net_af_packet) under wrk -c$http_conns GET /64, ${wrk_d} s"
				rf_stop "$hpid" rc
				collect add "$raw" http "$point" rawflow "$i" wrk_rf "$RF_TMP/wrk.out" \
					"$RF_TMP/httpd.json"
				note_tsc "$RF_TMP/httpd.json"
			elif [ "$have_nginx" = 1 ]; then
				c0=$(cpu_ns "$ngx_pid")
				rf_timeout $((wrk_d + 30)) ip netns exec "$lcli" taskset -c "$cpu1" wrk -t1 \
					-c"$http_conns" -d"${wrk_d}s" --latency "http://$LSRV/64" \
					</dev/null >"$RF_TMP/wrk.out" 2>&1
				c1=$(cpu_ns "$ngx_pid")
				collect add "$raw" http "$point" linux "$i" wrk_linux "$RF_TMP/wrk.out" \
					$((c1 - c0)) "$(tsc_hz)"
			fi
		done
	done
	[ -n "$ngx_pid" ] && rf_stop "$ngx_pid" rc
}

# ---- the run --------------------------------------------------------------------------------
rf_say "mode $mode: $runs runs per point; server on CPU $cpu0, client on CPU $cpu1; results in $out"
# wanted SCENARIO: selected (every scenario without --only); else recorded as not measured.
wanted() {
	[ -z "$only" ] || [[ ",$only," == *",$1,"* ]] && return 0
	collect skip "$raw" "$1" - "not selected (--only=$only)"
	return 1
}
want_echo=0
for s in rpc latency_under_load short_flows; do
	[ -z "$only" ] || [[ ",$only," == *",$s,"* ]] && want_echo=1
done
if [ "$want_echo" = 0 ]; then
	for s in rpc latency_under_load short_flows; do wanted "$s"; done
elif start_echo_servers; then
	if wanted rpc; then
		scenario_rpc
		profile_rf_echo
	fi
	wanted latency_under_load && scenario_latency_under_load
	wanted short_flows && scenario_short_flows
	stop_echo_servers
else
	for s in rpc latency_under_load short_flows; do
		collect skip "$raw" "$s" - "the echo servers did not start"
	done
fi
wanted idle_conns && scenario_idle
if wanted bulk; then
	scenario_bulk
	scenario_bulk 9000
fi
wanted http && scenario_http

if [ "$mode" = full ] && [ -z "$only" ]; then
	rf_say "== zero-copy vs forced copy (tests/bench/zerocopy.sh)"
	RF_BENCH_RUNS=3 RF_BENCH_BYTES=$((64 * 1024 * 1024)) RF_BENCH_OUT=$out/zerocopy.json \
		rf_timeout 400 bash "$here/zerocopy.sh" || rf_fail "zerocopy.sh"
fi

collect machine "$out/machine.json" "mode=$mode" "runs=$runs" "run_seconds=$dur" \
	"server_cpu=$cpu0" "client_cpu=$cpu1" "tsc_hz=$(tsc_hz)" "memif_devargs=$MEMIF_DEVARGS" \
	"httpd_devargs=$HTTPD_DEVARGS" \
	"buildtype=$(meson introspect "$RF_BUILD" --buildoptions 2>/dev/null | "$RF_PY" -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "buildtype"))' 2>/dev/null)" \
	"wall_seconds=$SECONDS" "loadavg_start=$loadavg_start" \
	"loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" "contention_start=$contention_start" \
	"contention_end=$(collect contention)" \
	"rf_echo_deaths=${#echo_deaths[@]}: $(IFS=';'; echo "${echo_deaths[*]}")" \
	"rf_load_retries=${#load_retries[@]}: $(IFS=';'; echo "${load_retries[*]}")"
if collect results "$raw" "$out/results.json"; then
	rf_pass "every point measured on both systems; $out/results.json"
else
	rf_fail "some point has no working run (null in $out/results.json; raw.jsonl has the errors)"
fi
rf_check "results.json is well-formed, with all six scenarios" collect check "$out/results.json"
report_args=("$out")
[ "$docs" = 1 ] && report_args+=(--docs "$RF_SRC/docs")
if "$RF_PY" "$here/report.py" "${report_args[@]}"; then
	rf_pass "report: $out/benchmarks.md$([ "$docs" = 1 ] && echo " and docs/benchmarks.md")"
else
	rf_fail "report.py"
fi
rf_say "took ${SECONDS}s"
rf_finish
