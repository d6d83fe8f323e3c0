#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317 # (SC2317: checks run through rf_check)
# Suite exhaust (issue 8, running out; docs/testing.md): rf-echo against the kernel when it runs
# out of what it has, one rf-echo per case, each with the counters read through telemetry
# (tests/exhaust/exhaust.py does the kernel's side and the checks):
#   pool   --mbufs 4096 and 3 clients sending without reading next to a 48 MiB echo stream:
#          the pool runs low but never dry, the stream keeps moving and ends intact once they
#          reset, a new connection echoes, every buffer is back at exit
#   flows  --max-flows 6 and 18 more connections next to a stream: the excess is reset and
#          counted (accept_refused), the stream ends intact, a new connection echoes after
#   ooseq  --mbufs 6144 and two crafted connections (scapy) sending 1,500 one-byte segments
#          behind a hole: 1,024 held by one, 512 by the other (a quarter of the pool in all),
#          a kernel connection echoes meanwhile, filling a hole delivers what was held
#   connect  the application's side (tests/exhaust/connect.c, rawflow.h alone; --mbufs 2048,
#          --max-flows 2) against a kernel server: holding what it reads makes the pool low
#          and rf_connect() fail with RF_ENOBUFS; released, a connect succeeds again within
#          10 s and echoes; a third flow over --max-flows gets RF_ENOMEM; buffers all back
# Each rf-echo must stop with status 0, no flow open and every packet buffer back.
set -euo pipefail
# shellcheck source=../integration/lib.sh
. "${RF_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

rf_init exhaust
echo_bin='' ns='' pid='' rc='' # set by rf_app, rf_ns_new, rf_start, rf_stop
rf_app echo_bin rf-echo
driver=$RF_SRC/tests/exhaust/exhaust.py
"$RF_PY" -c 'import scapy' 2>/dev/null || rf_skip "python3-scapy is not installed"

# The EAL runtime folders of this run's prefixes (telemetry sockets) go at exit, and those of
# earlier runs whose pid is gone.
prefix=rf-exhaust-$$
trap 'x_rc=$?; rm -rf -- /var/run/dpdk/"$prefix"-*; (exit "$x_rc"); rf__cleanup' EXIT
for d in /var/run/dpdk/rf-exhaust-*; do
	old=${d#/var/run/dpdk/rf-exhaust-}
	old=${old%%-*}
	case $old in '' | *[!0-9]*) continue ;; esac
	[ -d "/proc/$old" ] || rm -rf -- "$d"
done

# run_case NAME LIMIT_S "RF-ECHO OPTIONS" EXHAUST.PY-ARGS...
run_case() {
	local name=$1 limit=$2 opts=$3 stats=$RF_TMP/$1.json out=$RF_TMP/$1.out drc=0 stopped=0
	shift 3
	rf_ns_new ns "$name"
	# shellcheck disable=SC2086 # opts: several words
	rf_start pid "$ns" "$name.log" RF_EAL_ARGS="--file-prefix=$prefix-$name" "$echo_bin" \
		--quiet --stats "$stats" $opts
	if ! rf_wait_ready "$ns" "$pid" "$name.log"; then
		rf_fail "$name: rf-echo $opts came up"
		return
	fi
	rf_timeout "$limit" ip netns exec "$ns" env RF_SRC="$RF_SRC" "$RF_PY" "$driver" "$name" \
		"$prefix-$name" "$@" >"$out" 2>&1 || drc=$?
	sed 's/^/  /' "$out"
	if [ "$drc" = 0 ]; then
		rf_pass "$name: every check held (rf-echo $opts)"
	else
		rf_fail "$name: $(sed -n 's/^ *"error": *"\(.*\)",*$/\1/p' "$out" | head -n 1)"
	fi
	rf_stop "$pid" rc || true
	[ "$rc" = 0 ] && stopped=1
	rf_check "$name: rf-echo exited 0 on SIGINT (status $rc)" test "$stopped" = 1
	if [ "$stopped" = 1 ]; then
		rf_check "$name: no flow open and every packet buffer back at exit" \
			"$RF_PY" - "$stats" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
bad = s["flows_open"] != 0 or s["mbufs_in_use"] > s["mbufs_idle"]
print("  flows_open %d, mbufs_in_use %d, mbufs_idle %d, rx_pool_low_dropped %d, rx_nombuf %d, "
      "accept_refused %d, ooseq_dropped %d" % (s["flows_open"], s["mbufs_in_use"],
      s["mbufs_idle"], s["rx_pool_low_dropped"], s["rx_nombuf"], s["accept_refused"],
      s["ooseq_dropped"]))
sys.exit(1 if bad else 0)
EOF
	fi
	ip netns del "$ns" 2>/dev/null || true
}

run_case pool 120 "--mbufs 4096" 3
run_case flows 90 "--max-flows 6" 6
run_case ooseq 90 "--mbufs 6144" 1500 6144

# connect: exhaust_connect and exhaust.py server in one more namespace
client=$RF_BUILD/tests/exhaust/exhaust_connect
if [ -x "$client" ]; then
	rf_ns_new ns connect
	srv_pid=''
	rf_start srv_pid "$ns" server.log "$RF_PY" "$driver" server 5001 50
	for _ in $(seq 50); do grep -q listening "$RF_TMP/server.log" && break; sleep 0.1; done
	crc=0
	rf_timeout 60 ip netns exec "$ns" env RF_EAL_ARGS="--file-prefix=$prefix-connect" \
		"$client" 5001 >"$RF_TMP/connect.out" 2>&1 || crc=$?
	grep -E '^(ok|PASS|FAIL)' "$RF_TMP/connect.out" | sed 's/^/  /'
	rf_check "connect: RF_ENOBUFS while the pool is low, recovery, RF_ENOMEM at --max-flows, no leak (exit $crc)" \
		test "$crc" = 0
	rf_stop "$srv_pid" rc || true
	ip netns del "$ns" 2>/dev/null || true
else
	rf_fail "connect: $client was not built"
fi
rf_finish
