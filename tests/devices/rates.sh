#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# rates.sh: the request rate rf-load reaches over each device (not a test: the figures of
# docs/devices.md, measured again). As root:
#
#   RF_BUILD=$PWD/build bash tests/devices/rates.sh [SECONDS]
#
# 64-byte requests, 4 connections, 4 requests in flight each (rf-load --conns 4 --depth 4
# --size 64), for SECONDS (default 4) per device:
#   net_tap, net_af_packet, net_af_xdp  rf-load against the kernel: a Python asyncio echo
#                                       server (tests/integration/load.sh's) in the namespace
#                                       of rf0 or at the veth's other end
#   net_memif, net_vhost/virtio_user    rf-load against rf-echo, two rawflow processes on
#                                       two CPUs
# One line per device: requests/s and latency percentiles, or why there is no figure. The
# Python server costs more per request than the stack: on the kernel rows it bounds the rate.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
rf_init dev-rates

secs=${1:-4}
load_bin='' echo_bin='' ns='' kns='' rf_if='' k_if='' spid='' kpid='' epid='' rc='' cpu0='' cpu1=''
rf_app load_bin rf-load
rf_app echo_bin rf-echo
dev_cpus
LOAD=(--conns 4 --depth 4 --size 64 --duration "$secs" --json --quiet)

cat >"$RF_TMP/echo_server.py" <<'EOF'
import asyncio
class Echo(asyncio.Protocol):
    def connection_made(self, t): self.t = t
    def data_received(self, d): self.t.write(d)
async def main():
    s = await asyncio.get_running_loop().create_server(Echo, "0.0.0.0", 7007, backlog=64,
                                                      reuse_address=True)
    print("listening", flush=True)
    await s.serve_forever()
asyncio.run(main())
EOF

# row DEVICE NS ARGS...: one rf-load run in NS, its figures in one line.
row() {
	local dev=$1 ns=$2 out=$RF_TMP/load.json
	shift 2
	rf_timeout $((secs + 30)) ip netns exec "$ns" "$load_bin" "$@" "${LOAD[@]}" >"$out" \
		2>"$RF_TMP/load.err"
	"$RF_PY" - "$dev" "$out" <<'EOF'
import json, sys
dev = sys.argv[1]
try:
    r = json.loads([l for l in open(sys.argv[2]) if l.startswith("{")][-1])
except (OSError, ValueError, IndexError):
    print("%-24s no result" % dev)
    sys.exit(0)
if not r["requests"]:
    print("%-24s no request answered (errors %d)" % (dev, r["errors"]))
else:
    print("%-24s %8.0f requests/s  p50 %7.1f us  p99 %8.1f us  errors %d"
          % (dev, r["rps"], r["p50_us"], r["p99_us"], r["errors"]))
EOF
}

rf_ns_new ns
rf_ns_new kns kernel
rf_start spid "$ns" server.log "$RF_PY" "$RF_TMP/echo_server.py"
rf_start kpid "$kns" kserver.log "$RF_PY" "$RF_TMP/echo_server.py"
if ! rf_wait_line 15 "$spid" server.log listening ||
	! rf_wait_line 15 "$kpid" kserver.log listening; then
	rf_fail "echo servers started"
	rf_finish
fi
if ! dev_veth "$ns" "$kns" rf_if k_if 198.18.3.1/24; then
	rf_fail "veth pair"
	rf_finish
fi
rf_say "veth: $rf_if in $ns, $k_if 198.18.3.1/24 in $kns"
rf_say "rf-load --conns 4 --depth 4 --size 64, ${secs} s per device; $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

row net_tap "$ns" --to "$RF_KERNEL_IP:7007"
row net_af_packet "$ns" "${DEV_EAL[@]}" -l "$cpu0" --file-prefix "rf-dev-rates-p-$$" \
	--vdev="net_af_packet0,iface=$rf_if,qpairs=1" -- --ip 198.18.3.2/24 --to 198.18.3.1:7007
row net_af_xdp "$ns" "${DEV_EAL[@]}" -l "$cpu0" --file-prefix "rf-dev-rates-x-$$" \
	--vdev="net_af_xdp0,iface=$rf_if,start_queue=0,queue_count=1" -- --ip 198.18.3.2/24 \
	--to 198.18.3.1:7007

# two rawflow processes: rf-echo on one CPU, rf-load on the other
two() {
	local dev=$1 server_vdev=$2 client_vdev=$3 net=$4
	rf_start epid "$ns" "echo-$dev.log" "$echo_bin" "${DEV_EAL[@]}" -l "$cpu0" \
		--file-prefix "rf-dev-rates-e-$$" --vdev="$server_vdev" -- --ip "$net.1/24"
	if rf_wait_line 30 "$epid" "echo-$dev.log" '^rf-echo: .* \| flows'; then
		row "$dev" "$ns" "${DEV_EAL[@]}" -l "$cpu1" --file-prefix "rf-dev-rates-l-$$" \
			--vdev="$client_vdev" -- --ip "$net.2/24" --to "$net.1:7"
	else
		printf '%-24s rf-echo did not come up\n' "$dev"
	fi
	rf_stop "$epid" rc || true
}
two net_memif "net_memif0,role=server,socket=$RF_TMP/memif.sock" \
	"net_memif0,role=client,socket=$RF_TMP/memif.sock" 198.18.5
two net_vhost+virtio_user "net_vhost0,iface=$RF_TMP/vhost.sock,queues=1" \
	"net_virtio_user0,path=$RF_TMP/vhost.sock" 198.18.6
rf_pass "measured"
rf_finish
