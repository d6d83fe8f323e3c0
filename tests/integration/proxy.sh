#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317 # (SC2317: checks run through rf_check)
# Pins: rf-proxy --port 8000 --to 198.18.0.1:8080 relays curl's requests to the kernel's
# Python http.server and its answers back byte for byte (a 10 MiB random file, SHA-256, twice),
# then resets the client's connection when the upstream refuses (counted as a connect
# failure); a second run against proxy_check.py's own upstream on 198.18.0.1:9000 relays an
# upload with half-close both ways, keeps a slow reader's data intact (backpressure),
# propagates a reset in each direction and carries 20 connections at once. Each run stops on
# SIGINT with exit 0 and --stats showing the relayed bytes and every packet buffer back in
# the pool.
set -euo pipefail
# shellcheck source=lib.sh
. "${RF_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

rf_init proxy
proxy_bin='' ns='' pid='' srv='' rc='' # set by rf_app, rf_ns_new, rf_start, rf_stop
rf_app proxy_bin rf-proxy
rf_ns_new ns
files=$RF_TMP/files
mkdir -p "$files"
head -c $((10 * 1024 * 1024)) /dev/urandom >"$files/file"
want=$(sha256sum <"$files/file")
want=${want%% *}

# counted STATS KEY MIN: the stats JSON has KEY >= MIN.
counted() {
	local v
	v=$("$RF_PY" "$RF_SRC/tests/integration/stats.py" get "$1" "$2") ||
		{ echo "no key $2 in the stats"; return 1; }
	[ "$v" -ge "$3" ] || { echo "$2 is $v, wanted >= $3"; return 1; }
}

# stop_ok PID NAME: SIGINT stops it with exit status 0.
stop_ok() {
	rf_stop "$1" rc || true
	[ "$rc" = 0 ] || { echo "exit status $rc"; return 1; }
}

# ---- run 1: curl -> rf-proxy -> python3 -m http.server --------------------------------------

stats1=$RF_TMP/stats1.json
rf_start pid "$ns" rf-proxy-1.log "$proxy_bin" --port 8000 --to "$RF_KERNEL_IP:8080" \
	--stats "$stats1"
if ! rf_wait_ready "$ns" "$pid" rf-proxy-1.log; then
	rf_fail "rf-proxy came up and answered a first ping"
	rf_finish
fi
rf_pass "rf-proxy came up and answered a first ping"

# The upstream binds the kernel side's address, which exists once rf-proxy is up.
rf_start srv "$ns" http-server.log "$RF_PY" -m http.server 8080 --bind "$RF_KERNEL_IP" \
	--directory "$files"

# The http.server listens once it answers directly (bounded: 50 tries, 0.2 s apart).
upstream_up() {
	local _
	for _ in $(seq 50); do
		rf_timeout 5 ip netns exec "$ns" curl -s -o /dev/null -m 2 \
			"http://$RF_KERNEL_IP:8080/" && return 0
		sleep 0.2
	done
	echo "http.server on $RF_KERNEL_IP:8080 did not answer"
	return 1
}
rf_check "python3 -m http.server answers on $RF_KERNEL_IP:8080" upstream_up

relayed_ok() {
	local got
	got=$(rf_timeout 60 ip netns exec "$ns" curl -sS --fail -m 50 \
		"http://$RF_STACK_IP:8000/file" | sha256sum) || { echo "curl through the proxy failed"; return 1; }
	got=${got%% *}
	[ "$got" = "$want" ] || { echo "sha256 $got, wanted $want"; return 1; }
}
rf_check "10 MiB file through rf-proxy: same SHA-256" relayed_ok
rf_check "again on a new connection: same SHA-256" relayed_ok

# The upstream goes away: the next client must fail at once, with no answer (curl 7, 52, 55
# or 56, depending on how soon after the handshake the reset comes), not time out (28).
refused_ok() {
	local st=0 out
	out=$(rf_timeout 20 ip netns exec "$ns" curl -sS -m 10 "http://$RF_STACK_IP:8000/file" \
		2>"$RF_TMP/curl.err" | head -c 100) || true
	rf_timeout 20 ip netns exec "$ns" curl -sS -o /dev/null -m 10 \
		"http://$RF_STACK_IP:8000/file" 2>>"$RF_TMP/curl.err" || st=$?
	if [ -n "$out" ] || [ "$st" = 0 ] || [ "$st" = 28 ] || [ "$st" = 124 ]; then
		echo "curl exit status $st, answer '${out:0:40}' ($(cat "$RF_TMP/curl.err"))"
		return 1
	fi
}
rf_stop "$srv" rc || true
rf_check "upstream refused: the client's connection fails" refused_ok

rf_check "rf-proxy exited 0 on SIGINT" stop_ok "$pid"
rf_check "--stats: required counters, mbufs_in_use == mbufs_idle" \
	"$RF_PY" "$RF_SRC/tests/integration/stats.py" check "$stats1"
rf_check "--stats: bytes_to_client >= 20 MiB" counted "$stats1" bytes_to_client $((20 << 20))
rf_check "--stats: connect_failures >= 1" counted "$stats1" connect_failures 1
rf_check "--stats: connections >= 3" counted "$stats1" connections 3

# ---- run 2: proxy_check.py's upstream and clients -------------------------------------------

stats2=$RF_TMP/stats2.json
rf_start pid "$ns" rf-proxy-2.log "$proxy_bin" --port 8000 --to "$RF_KERNEL_IP:9000" \
	--stats "$stats2"
if ! rf_wait_ready "$ns" "$pid" rf-proxy-2.log; then
	rf_fail "rf-proxy (second run) came up and answered a first ping"
	rf_finish
fi
checks_out=$RF_TMP/proxy_check.out
proxy_checks_ok() {
	rf_timeout 150 ip netns exec "$ns" "$RF_PY" "$RF_SRC/tests/integration/proxy_check.py" \
		"$RF_STACK_IP" 8000 "$RF_KERNEL_IP" 9000 >"$checks_out" 2>&1 || { cat "$checks_out"; return 1; }
	sed 's/^/  /' "$checks_out"
}
rf_check "socket checks: half-close both ways, slow reader, resets both ways, 20 at once" \
	proxy_checks_ok
rf_check "rf-proxy (second run) exited 0 on SIGINT" stop_ok "$pid"
rf_check "--stats: required counters, mbufs_in_use == mbufs_idle" \
	"$RF_PY" "$RF_SRC/tests/integration/stats.py" check "$stats2"
rf_check "--stats: bytes_to_upstream >= 8 MiB" counted "$stats2" bytes_to_upstream $((8 << 20))
rf_check "--stats: resets >= 2 (one propagated each way)" counted "$stats2" resets 2

rf_finish
