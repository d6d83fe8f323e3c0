#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317 # (SC2317: checks run through rf_check)
# Suite faults: no byte lost, duplicated or changed, whatever the wire does (issue 8, part 2).
#
# The wire is rawflow's own impairment layer (--impair, drivers/impair.c) on rf-echo's port,
# both directions: 2% of frames dropped, 2% reordered (held back for 3 frames or 1 ms), 1%
# duplicated, 0.1% with one bit flipped. A kernel client (echo_client.py) pushes random bytes
# through rf-echo and reads them back, so every byte crosses the bad wire twice: kernel ->
# rawflow (rawflow receives: its RX is impaired) and rawflow -> kernel (rawflow sends: its TX
# is impaired). For each seed:
#   - every byte comes back, SHA-256 equal, within RF_FAULTS_LIMIT seconds (no stall: a
#     connection that recovers from loss only by timeouts, or not at all, fails here);
#   - the layer did act, both ways (drops, duplicates, reorders, corruptions counted);
#   - after the close: no flow open, no TCP PCB left but TIME-WAIT, every packet buffer back
#     in the pool (mbufs_in_use <= mbufs_idle), nothing held by the layer; rf-echo exits 0.
# Default: 3 seeds x 32 MiB within 90 s each, i.e. 96 MiB each way: at this loss rate the
# stack moves about 0.8 MB/s through net_tap here (lwIP recovers from most losses by fast
# retransmit now, stack/patches/0007, but still by timeout at the tail of small windows), so
# the issue's 256 MiB per direction takes RF_FAULTS_BYTES=$((96 * 1024 * 1024))
# RF_FAULTS_LIMIT=180, about 9 minutes. RF_SOAK=1: the long soak, 8 more seeds x 160 MiB
# (1.25 GiB each way), not part of the default suite (run it directly, or through meson with
# a timeout multiplier: RF_SOAK=1 meson test -C build faults -t 10).
#
# Then rawflow <-> rawflow: rf-load against rf-echo over a net_memif link, impairment on both
# ends (each its own seed): every request answered without error in bounded time, rf-load's
# buffers all back, both exit 0.
#
# Overrides: RF_FAULTS_SEEDS ("1 2 3"), RF_FAULTS_BYTES (per seed), RF_FAULTS_LIMIT (seconds
# per seed), RF_FAULTS_SPEC (the impairment, without seed=).
set -uo pipefail
# shellcheck source=lib.sh
. "${RF_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

rf_init faults
echo_bin='' load_bin='' ns='' mns='' # set by rf_app, rf_ns_new
rf_app echo_bin rf-echo
rf_app load_bin rf-load

spec=${RF_FAULTS_SPEC:-drop=0.02,reorder=0.02,dup=0.01,corrupt=0.001}
if [ "${RF_SOAK:-0}" = 1 ]; then
	seeds=${RF_FAULTS_SEEDS:-"101 102 103 104 105 106 107 108"}
	bytes=${RF_FAULTS_BYTES:-$((160 * 1024 * 1024))}
	limit=${RF_FAULTS_LIMIT:-300}
else
	seeds=${RF_FAULTS_SEEDS:-"1 2 3"}
	bytes=${RF_FAULTS_BYTES:-$((32 * 1024 * 1024))}
	limit=${RF_FAULTS_LIMIT:-90}
fi

stat() { "$RF_PY" "$RF_SRC/tests/integration/stats.py" get "$1" "$2"; }

# acted FILE: the layer dropped, duplicated, reordered and corrupted frames both ways.
acted() {
	local d k n bad=0
	for d in rx tx; do
		for k in dropped duplicated reordered corrupted; do
			n=$(stat "$1" "impair_${d}_$k")
			[ "$n" -gt 0 ] || { echo "impair_${d}_$k is $n"; bad=1; }
		done
	done
	return "$bad"
}

# clean FILE: after the close, nothing is left but TIME-WAIT, and no buffer is missing.
clean() {
	local f=$1 bad=0 open pcbs tw held
	open=$(stat "$f" flows_open)
	pcbs=$(stat "$f" tcp_pcbs_in_use)
	tw=$(stat "$f" tcp_pcbs_time_wait)
	held=$(stat "$f" impair_held)
	[ "$open" = 0 ] || { echo "flows_open $open"; bad=1; }
	[ "$pcbs" -le "$tw" ] || { echo "tcp_pcbs_in_use $pcbs, of which TIME-WAIT $tw"; bad=1; }
	[ "$held" = 0 ] || { echo "impair_held $held"; bad=1; }
	"$RF_PY" "$RF_SRC/tests/integration/stats.py" check "$f" || bad=1
	return "$bad"
}

# intact CLIENT_JSON: everything came back, same SHA-256.
intact() {
	"$RF_PY" - "$1" "$bytes" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
ok = r.get("match") and r.get("received") == int(sys.argv[2])
if not ok:
    print("client: %s" % json.dumps(r))
sys.exit(0 if ok else 1)
EOF
}

# One line of figures for the log.
figures() {
	local f=$1
	echo "retransmitted segments $(stat "$f" tx_retransmits)," \
		"impaired rx drop/dup/reorder/corrupt" \
		"$(stat "$f" impair_rx_dropped)/$(stat "$f" impair_rx_duplicated)/$(stat "$f" impair_rx_reordered)/$(stat "$f" impair_rx_corrupted)," \
		"tx $(stat "$f" impair_tx_dropped)/$(stat "$f" impair_tx_duplicated)/$(stat "$f" impair_tx_reordered)/$(stat "$f" impair_tx_corrupted)," \
		"rx_dropped $(stat "$f" rx_dropped), mbufs $(stat "$f" mbufs_in_use)/$(stat "$f" mbufs_idle)"
}

# ---- kernel <-> rawflow, one rf-echo per seed ---------------------------------------------

rf_ns_new ns
total=0
mib=$((bytes / 1024 / 1024))
for seed in $seeds; do
	label=seed$seed
	json=$RF_TMP/$label.json
	client=$RF_TMP/$label.client
	pid='' rc=''
	rf_start pid "$ns" "$label.log" "$echo_bin" --quiet --stats "$json" \
		--impair "$spec,seed=$seed"
	if ! rf_wait_ready "$ns" "$pid" "$label.log"; then
		rf_fail "$label: rf-echo came up with --impair $spec,seed=$seed"
		continue
	fi
	rf_timeout $((limit + 10)) ip netns exec "$ns" "$RF_PY" \
		"$RF_SRC/tests/integration/echo_client.py" "$RF_STACK_IP" 7 "$bytes" "$limit" \
		>"$client"
	rf_say "$label: client $(cat "$client")"
	# The last FIN/ACK exchange may need a retransmission through the bad wire.
	sleep 3
	rf_stop "$pid" rc || true
	if [ ! -s "$json" ]; then
		rf_fail "$label: rf-echo wrote its stats (exit status $rc)"
		continue
	fi
	rf_say "$label: $(figures "$json")"
	if intact "$client" >/dev/null; then
		total=$((total + bytes))
	fi
	rf_check "$label: $mib MiB through $spec both ways within ${limit}s, SHA-256 equal" \
		intact "$client"
	rf_check "$label: the impairment acted both ways" acted "$json"
	rf_check "$label: after the close no flow, no PCB but TIME-WAIT, no buffer missing" \
		clean "$json"
	if [ "$rc" = 0 ]; then
		rf_pass "$label: rf-echo exited 0"
	else
		rf_fail "$label: rf-echo exited 0 (exit status $rc)"
	fi
done
rf_say "moved $((total / 1024 / 1024)) MiB each way through impairment intact (seeds: $seeds)"

# ---- rawflow <-> rawflow over memif, impairment on both ends ------------------------------
# As in load.sh: rf-echo is the memif server and must be running (its first status line out)
# before rf-load, the memif client, starts. Checked: every request answered without error in
# bounded time, rf-load's buffers all back, both exit 0. Not checked here: that every flow
# closed by the time each program stops. A program's stop waits 200 ms for its closes, and a
# FIN or last ACK lost on the impaired wire needs a retransmission timeout; once rf-load has
# gone, rf-echo's side of such a close cannot finish either. (The kernel leg above checks
# closes: the kernel stays to finish them.)

cpu0=$(rf_first_cpu)
cpu1=$("$RF_PY" -c 'import os; c = sorted(os.sched_getaffinity(0)); print(c[1] if len(c) > 1 else c[0])')
rf_ns_new mns memif
sock=$RF_TMP/memif.sock
estats=$RF_TMP/memif-echo.json
lstats=$RF_TMP/memif-load.json
lout=$RF_TMP/memif-load.out
rf_logs+=("$RF_TMP/memif-load.err")
requests=${RF_FAULTS_MEMIF_REQUESTS:-2000}
epid='' rc=''
rf_start epid "$mns" memif-echo.log "$echo_bin" --no-huge --no-pci --no-shconf -m 512 \
	-l "$cpu0" --file-prefix "rf-faults-echo-$$" --vdev="net_memif0,role=server,socket=$sock" \
	-- --ip 198.18.2.1/24 --port 7 --stats "$estats" --impair "$spec,seed=21"
echo_running() { rf_alive "$epid" && grep -q "^rf-echo: .* | flows" "$(rf_log memif-echo.log)"; }
deadline=$((SECONDS + 30))
until echo_running || [ "$SECONDS" -ge "$deadline" ]; do sleep 0.2; done
if ! echo_running; then
	rf_fail "rf-echo came up as memif server with --impair"
	rf_finish
fi
lrc=0
rf_timeout $((limit + 30)) ip netns exec "$mns" "$load_bin" --no-huge --no-pci --no-shconf -m 512 \
	-l "$cpu1" --file-prefix "rf-faults-load-$$" --vdev="net_memif0,role=client,socket=$sock" \
	-- --ip 198.18.2.2/24 --to 198.18.2.1:7 --conns 4 --depth 4 --size 16384 \
	--requests "$requests" --duration "$limit" --json --quiet --stats "$lstats" \
	--impair "$spec,seed=22" </dev/null >"$lout" 2>"$RF_TMP/memif-load.err" || lrc=$?
answered() {
	"$RF_PY" - "$lout" "$requests" "$lrc" <<'EOF'
import json, sys
lines = [l for l in open(sys.argv[1]).read().splitlines() if l.startswith("{")]
if not lines:
    print("rf-load printed no result (exit status %s)" % sys.argv[3])
    sys.exit(1)
r = json.loads(lines[-1])
print("%d requests of 16 KiB in %.1f s, errors %d, p99 %.0f us" % (
    r["requests"], r["duration_s"], r["errors"], r["p99_us"]))
sys.exit(0 if r["requests"] == int(sys.argv[2]) and r["errors"] == 0 and sys.argv[3] == "0"
         else 1)
EOF
}
rf_check "rawflow <-> rawflow over memif, both ends impaired: $requests requests of 16 KiB answered, no error" \
	answered
[ -s "$lstats" ] && rf_say "rf-load: $(figures "$lstats")"
rf_check "rf-load: the impairment acted both ways" acted "$lstats"
rf_check "rf-load: every packet buffer back in the pool" \
	"$RF_PY" "$RF_SRC/tests/integration/stats.py" check "$lstats"
sleep 2
if rf_stop "$epid" rc && [ "$rc" = 0 ]; then
	rf_pass "rf-echo (memif) exited 0"
	rf_say "rf-echo (memif): $(figures "$estats")"
	rf_check "rf-echo (memif): the impairment acted both ways" acted "$estats"
else
	rf_fail "rf-echo (memif) exited 0 (exit status $rc)"
fi

rf_finish
