#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317 # (SC2317: checks run through rf_check)
# Suite scale (issue 10, "connections at scale"): many concurrent connections to one rawflow
# core, each exchanging a message, within the memory docs/scaling.md documents.
#
# rf-echo (one core, memif server, --max-flows N, listening on enough ports) against one rf-load
# --once over memif: N connections, each sends one 64-byte request, gets it back, and stays
# open. Pins:
#   - all N are answered and held open at once (rf-load's held_max = N; connects that failed
#     on the way, on a machine busy with other work, are retried and reported), and rf-echo
#     counts N flows open;
#   - rf-echo's resident anonymous memory (malloc; DPDK's pool is shared memory, sized by
#     --mbufs and left out) grew by at most SC_BUDGET bytes per flow (docs/scaling.md: the
#     fixed cost of a flow in rawflow plus rf-echo's record, with allocator slack) plus
#     SC_SLACK_KIB for the rest (completion ring, allocator arenas);
#   - both stop cleanly with every packet buffer back.
# rf-echo is always stopped before its client: DPDK 22.11's memif server can crash when its
# client leaves while it receives (docs/scaling.md), and here the client would leave sending a
# close for every connection.
# Then --max-flows itself, on a small rf-echo: connections beyond its --max-flows are reset and
# counted (accept_refused), never more flows open than the limit; and rf-load's own
# --max-flows makes its connects beyond it fail (connect_errors). Last, a client's ports:
# short flows to one destination go on past its 16,383 local ports (TIME-WAIT reuse).
#
# N: 100,000 (issue 10's target; 12 s in all on a quiet machine here, opening them 2 s; up to
# half a minute on a busy one); RF_SCALE_CONNS=N for another count.
set -uo pipefail
# shellcheck source=../integration/lib.sh
. "${RF_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"
# shellcheck source=lib.sh
. "$RF_SRC/tests/scale/lib.sh"

# Memory per flow on rf-echo (docs/scaling.md): 352 B pcb + 256 B flow + 144 B sent ring + 16 B
# of hash buckets at most + 64 B rf-echo's record = 832 B, plus allocator slack.
SC_BUDGET=1024
SC_SLACK_KIB=$((8 * 1024))

N=${RF_SCALE_CONNS:-100000}
hold_limit=240
P=$(sc_ports "$N")

epid='' lpid='' rc='' # set by sc_*_start, rf_memif_depart
sc_init scale
sock=$RF_TMP/memif.sock
echo_stats=$RF_TMP/echo-stats.json
load_stats=$RF_TMP/load-stats.json

# ---- N connections held open ------------------------------------------------------------------

if ! sc_echo_start epid "$sock" echo.log --ports "$P" --max-flows "$N" --stats "$echo_stats"; then
	rf_fail "rf-echo came up as memif server"
	rf_finish
fi
base_kib=$(sc_anon_kib "$epid")
t0=$SECONDS
sc_load_start lpid hold 198.18.2.2 "$sock" load.log --conns "$N" --ports "$P" --once \
	--duration $((hold_limit + 60)) --json --stats "$load_stats" --hold
if rf_wait_line "$hold_limit" "$lpid" load.log "all $N connections answered"; then
	held_s=$((SECONDS - t0))
	rf_pass "$N connections answered and held open by one rf-load ($P server ports), after ${held_s} s"
else
	rf_fail "$N connections answered and held open by one rf-load within $hold_limit s"
	tail -n 3 "$(rf_log load.log)"
fi

# rf-echo's status line comes every second: the next one shows the flows held.
echo_holds() {
	local deadline=$((SECONDS + 5)) got
	while [ "$SECONDS" -lt "$deadline" ]; do
		got=$("$RF_PY" "$sc_tool" flows "$(rf_log echo.log)") && [ "$got" = "$N" ] && return 0
		sleep 0.5
	done
	echo "rf-echo's last status line shows ${got:-no} flows, not $N"
	return 1
}
rf_check "rf-echo holds $N flows" echo_holds

in_budget() {
	local kib grown per
	kib=$(sc_anon_kib "$epid") || return 1
	grown=$((kib - base_kib))
	per=$((grown * 1024 / N))
	echo "  rf-echo resident anonymous memory ${base_kib} KiB -> ${kib} KiB: +$((grown / 1024)) MiB for $N flows, $per B per flow (budget $SC_BUDGET B + $((SC_SLACK_KIB / 1024)) MiB)"
	[ "$grown" -le $((N * SC_BUDGET / 1024 + SC_SLACK_KIB)) ]
}
rf_check "rf-echo's memory within the budget of docs/scaling.md" in_budget

# Connects that failed on the way (a machine busy with other work starves the loops until
# lwIP's SYN retries run out: 1,536 of 20,000 once) were retried; what is pinned is that all
# were held at the end. The count is reported.
errors=$(grep '^rf-load: .* | held' "$(rf_log load.log)" | tail -n 1 | sed -n 's/.*| errors \([0-9]*\).*/\1/p')
rf_say "rf-load's errors while opening and holding them (retried): ${errors:-0}"

sc_load_depart "$N held" "$epid" "$lpid" load.log
rf_check "rf-load: every connection answered once and held" \
	"$RF_PY" "$sc_tool" json "$(rf_log load.log)" "requests>=$N" "held_max=$N" \
	"connections>=$N"
rf_check "rf-load: no packet buffer leaked" \
	"$RF_PY" "$RF_SRC/tests/integration/stats.py" check "$load_stats"
stat() { "$RF_PY" "$RF_SRC/tests/integration/stats.py" get "$1" "$2"; }
echo_counted() {
	local conns refused
	conns=$(stat "$echo_stats" connections) || return 1
	refused=$(stat "$echo_stats" accept_refused) || return 1
	if [ "$conns" -lt "$N" ] || [ "$refused" != 0 ]; then
		echo "  connections $conns, accept_refused $refused"
		return 1
	fi
	"$RF_PY" "$RF_SRC/tests/integration/stats.py" check "$echo_stats"
}
rf_check "rf-echo: $N connections accepted, none refused, no packet buffer leaked" echo_counted

# Opening them all at once makes bursts far larger than a port's send queue: thousands of
# answers on rf-echo, and thousands of delayed ACKs in one fast-timer run on rf-load. A full
# queue holds TCP back (tx_queue_full) and TCP sends again once it drained (lwIP patch 0013);
# nothing is dropped. Before that, 20,000 connections lost 20,061 frames on rf-echo and
# 32,497 on rf-load, and rf-echo had 11,008 retransmission timeouts (the answers whose ACKs
# were lost). RTOs are reported, not pinned: a loop starved of its CPU still has some.
nothing_dropped() {
	local side file drops full rtos bad=0
	for side in rf-echo rf-load; do
		file=$echo_stats
		[ "$side" = rf-load ] && file=$load_stats
		drops=$(stat "$file" tx_drops) || return 1
		full=$(stat "$file" tx_queue_full) || return 1
		rtos=$(stat "$file" rto_timeouts) || return 1
		echo "  $side: tx_drops $drops, tx_queue_full $full (held back, sent later), rto_timeouts $rtos"
		[ "$drops" = 0 ] || bad=1
	done
	return "$bad"
}
rf_check "a burst beyond the send queue is held back, not dropped (tx_drops 0 on both sides)" \
	nothing_dropped

# ---- --max-flows ------------------------------------------------------------------------------

# Connections beyond rf-echo's --max-flows are reset after their handshake (and retried by
# rf-load every 100 ms); rf-echo never has more flows open.
echo2_stats=$RF_TMP/echo2-stats.json
if ! sc_echo_start epid "$RF_TMP/memif2.sock" echo2.log --max-flows 100 --stats "$echo2_stats"; then
	rf_fail "rf-echo --max-flows 100 came up"
	rf_finish
fi
sc_load_start lpid over 198.18.2.3 "$RF_TMP/memif2.sock" over.log --conns 150 --once \
	--duration 60 --json --hold
rf_wait_line 30 "$lpid" over.log '\| held 100 \|'
sc_load_depart "rf-echo --max-flows 100" "$epid" "$lpid" over.log
over_server() {
	local most refused
	"$RF_PY" "$sc_tool" json "$(rf_log over.log)" held_max=100 'resets>=50' || return 1
	most=$("$RF_PY" "$sc_tool" flows "$(rf_log echo2.log)" max) || return 1
	[ "$most" -le 100 ] || { echo "  rf-echo had $most flows open"; return 1; }
	refused=$(stat "$echo2_stats" accept_refused) || return 1
	[ "$refused" -ge 50 ] || { echo "  accept_refused $refused"; return 1; }
	"$RF_PY" "$RF_SRC/tests/integration/stats.py" check "$echo2_stats"
}
rf_check "rf-echo --max-flows 100, 150 clients: 100 held, the others reset and counted in accept_refused" \
	over_server

# rf-load's own --max-flows: connects beyond it fail at once (RF_ENOMEM), counted.
if ! sc_echo_start epid "$RF_TMP/memif3.sock" echo3.log; then
	rf_fail "rf-echo came up for rf-load --max-flows"
	rf_finish
fi
sc_load_start lpid under 198.18.2.4 "$RF_TMP/memif3.sock" under.log --conns 60 --max-flows 40 \
	--once --duration 60 --json --hold
rf_wait_line 30 "$lpid" under.log '\| held 40 \|'
sc_load_depart "rf-load --max-flows 40" "$epid" "$lpid" under.log
over_client() {
	"$RF_PY" "$sc_tool" json "$(rf_log under.log)" held_max=40 'connect_errors>=20'
}
rf_check "rf-load --max-flows 40, 60 connections: 40 held, the others fail to open" over_client

# ---- a client's ports -------------------------------------------------------------------------

# rf-load closes first, so each short flow keeps its local port in TIME-WAIT for 60 s, and a
# client has 16,383 ports per destination. An active open takes over the port of a connection
# in TIME-WAIT for 1 s or more (lwIP patch 0014, like Linux's tcp_tw_reuse), so short flows to
# one destination go on past 16,383 within a TIME-WAIT period; before, every connect after
# the 16,383rd failed for a minute, so 20,000 within the 60 s bound could not be made.
# Connects that find every port's TIME-WAIT younger than 1 s still fail (about 16,383 new
# connections a second at most): counted, not pinned. About 1.5 s here.
if ! sc_echo_start epid "$RF_TMP/memif4.sock" echo4.log; then
	rf_fail "rf-echo came up for short flows"
	rf_finish
fi
sc_load_start lpid short 198.18.2.5 "$RF_TMP/memif4.sock" short.log --conns 16 --short-flows \
	--requests 20000 --duration 60 --json --hold
# its run ends by itself (--requests), so it is already holding: no SIGINT (sc_load_depart's
# would end the hold and let rf-load leave while rf-echo still polls)
rf_memif_depart "short flows" rf-echo "$epid" rf-load "$lpid" short.log 90 rc 30
rf_check "rf-load --short-flows to one destination: 20,000 connections (past its 16,383 ports) within a TIME-WAIT period, none reset" \
	"$RF_PY" "$sc_tool" json "$(rf_log short.log)" 'requests>=20000' 'resets=0'

rf_finish
