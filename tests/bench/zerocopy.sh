#!/usr/bin/env bash
# Benchmark: the zero-copy path against the forced-copy path, same transfer, same run.
#
# A kernel client in a private namespace pushes RF_BENCH_BYTES (default 128 MiB) through
# rf-echo over net_tap and reads it back. rf-echo runs alternately with and without --copy
# (RF_BENCH_RUNS rounds, default 3, interleaved so that the VM's slow and fast phases hit both
# alike). Reported per mode: goodput (payload bytes echoed per second of the client's transfer,
# one direction) and the stack's busy cycles per payload byte (TSC cycles spent in loop passes
# that did work, divided by payload bytes received plus sent) — median and spread.
#
# net_tap costs a system call per frame, so goodput here is bounded by the kernel; the cycle
# figure is the one that shows what copying costs the stack itself.
#
# Output: a table on stdout and $RF_BENCH_OUT (default build/bench/zerocopy.json).
set -uo pipefail
. "$(dirname "$0")/../integration/lib.sh"
rf_init bench-zerocopy

bytes=${RF_BENCH_BYTES:-$((128 * 1024 * 1024))}
runs=${RF_BENCH_RUNS:-3}
out=${RF_BENCH_OUT:-$RF_BUILD/bench/zerocopy.json}
rf_app echo rf-echo
rf_ns_new ns
mkdir -p "$(dirname "$out")"
results=$RF_TMP/results.jsonl

one_run() { # MODE [OPTIONS...]
	local mode=$1 pid rc
	shift
	rf_start pid "$ns" "$mode.log" "$echo" --quiet --stats "$RF_TMP/$mode.json" "$@"
	rf_wait_ready "$ns" "$pid" "$mode.log" || { rf_fail "$mode: rf-echo did not start"; return 1; }
	rf_timeout 300 ip netns exec "$ns" "$RF_PY" "$RF_SRC/tests/integration/echo_client.py" \
		"$RF_STACK_IP" 7 "$bytes" 240 >"$RF_TMP/$mode.client"
	sleep 0.3
	rf_stop "$pid" rc
	"$RF_PY" - "$mode" "$RF_TMP/$mode.client" "$RF_TMP/$mode.json" >>"$results" <<'PY'
import json, sys
mode, client, stats = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
payload = stats["rx_payload_bytes"] + stats["tx_payload_bytes"]
print(json.dumps({"mode": mode, "ok": bool(client.get("match")),
                  "goodput_gbps": client["received"] * 8 / client["seconds"] / 1e9,
                  "cycles_per_byte": stats["busy_cycles"] / payload if payload else None,
                  "tx_copied_bytes": stats["tx_copied_bytes"], "rx_copied_bytes": stats["rx_copied_bytes"]}))
PY
}

for i in $(seq "$runs"); do
	rf_say "round $i/$runs"
	one_run zero-copy
	one_run copy --copy
done

"$RF_PY" - "$results" "$out" "$bytes" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
report = {"benchmark": "zerocopy", "bytes_per_run": int(sys.argv[3]), "modes": {}}
print("%-10s %22s %26s %s" % ("mode", "goodput Gbit/s", "busy cycles / byte", "runs ok"))
for mode in ("zero-copy", "copy"):
    r = [x for x in rows if x["mode"] == mode]
    g = [x["goodput_gbps"] for x in r]
    c = [x["cycles_per_byte"] for x in r if x["cycles_per_byte"] is not None]
    m = {"runs": len(r), "ok": all(x["ok"] for x in r),
         "goodput_gbps_median": statistics.median(g), "goodput_gbps_min": min(g), "goodput_gbps_max": max(g),
         "cycles_per_byte_median": statistics.median(c), "cycles_per_byte_min": min(c), "cycles_per_byte_max": max(c),
         "tx_copied_bytes": [x["tx_copied_bytes"] for x in r]}
    report["modes"][mode] = m
    print("%-10s %8.3f (%.3f-%.3f) %10.2f (%.2f-%.2f) %s" % (mode, m["goodput_gbps_median"], m["goodput_gbps_min"],
          m["goodput_gbps_max"], m["cycles_per_byte_median"], m["cycles_per_byte_min"], m["cycles_per_byte_max"], m["ok"]))
zc, cp = report["modes"]["zero-copy"], report["modes"]["copy"]
report["ratio_cycles_per_byte_copy_over_zero_copy"] = cp["cycles_per_byte_median"] / zc["cycles_per_byte_median"]
report["ratio_goodput_zero_copy_over_copy"] = zc["goodput_gbps_median"] / cp["goodput_gbps_median"]
print("copy costs %.2fx the cycles per byte of zero-copy; zero-copy goodput is %.2fx copy's" %
      (report["ratio_cycles_per_byte_copy_over_zero_copy"], report["ratio_goodput_zero_copy_over_copy"]))
json.dump(report, open(sys.argv[2], "w"), indent=1)
sys.exit(0 if zc["ok"] and cp["ok"] else 1)
PY
rc=$?
if [ "$rc" = 0 ]; then rf_pass "both modes echoed every byte intact; results in $out"; else rf_fail "a run lost or corrupted data"; fi
rf_finish
