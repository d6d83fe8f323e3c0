#!/usr/bin/env bash
# The benchmark's plumbing, not its figures (issue 7: benchmarks are not tests; no timing is
# asserted here). Runs `tests/bench/run.sh --smoke` (one short run per point, about 30 s on a
# quiet machine) into a temporary folder and checks what it wrote:
#   - run.sh exits 0, or 1 when some point had no working run (a 0.5 s rawflow run on a busy
#     machine can end before its memif link is up: such a point is null in the JSON, and
#     said here); any other status fails
#   - results.json: a non-empty list of records with the keys scenario, point, metric, unit,
#     rawflow, linux, ratio, runs (numbers or null), all six scenarios (collect.py check),
#     and each scenario measured on both systems at one point at least
#   - the six plots are PNG files, and the report opens with the table of ratios
# The folder is kept when a check failed (its path is printed).
# run.sh cleans up its own namespaces and processes (tests/integration/lib.sh traps).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
RF_PY=${RF_PY:-/usr/bin/python3}
out=$(mktemp -d /tmp/rf-bench-smoke.XXXXXX)
trap '[ "${fails:-1}" = 0 ] && rm -rf "$out"' EXIT
fails=0
ok() { echo "bench_smoke: ok: $*"; }
bad() { echo "bench_smoke: FAIL: $*"; fails=$((fails + 1)); }

st=0
RF_BENCH_DIR=$out bash "$here/run.sh" --smoke >"$out/run.log" 2>&1 || st=$?
if [ "$st" = 0 ]; then
	ok "run.sh --smoke exited 0 ($(grep -o 'took [0-9]*s' "$out/run.log"))"
elif [ "$st" = 1 ] && grep -q "^bench: FAIL: some point has no working run" "$out/run.log" &&
	[ "$(grep -c "^bench: FAIL" "$out/run.log")" = 1 ]; then
	echo "bench_smoke: note: some point had no working run (null in results.json):"
	grep "no run worked" "$out/run.log"
else
	bad "run.sh --smoke exited $st"
	grep -E "FAIL|no run worked|died|again|error" "$out/run.log" | tail -n 25
fi
if "$RF_PY" "$here/collect.py" check "$out/results.json"; then
	ok "results.json is well-formed, with all six scenarios"
else
	bad "results.json is well-formed, with all six scenarios"
fi
if "$RF_PY" - "$out/results.json" <<'PY'; then
import json, sys
records = json.load(open(sys.argv[1]))
missing = [(s, sys_) for s in sorted({r["scenario"] for r in records})
           for sys_ in ("rawflow", "linux")
           if all(r[sys_] is None for r in records if r["scenario"] == s)]
for s, sys_ in missing:
    print("  scenario %s: no point measured on %s" % (s, sys_))
sys.exit(1 if missing else 0)
PY
	ok "every scenario measured on both systems at one point at least"
else
	bad "every scenario measured on both systems at one point at least"
fi
for p in rpc_rps rpc_p99 bulk_goodput http_cycles idle_conns short_flows; do
	if [ "$(head -c 4 "$out/$p.png" 2>/dev/null | od -An -tx1 | tr -d ' ')" = 89504e47 ]; then
		ok "plot $p.png is a PNG file"
	else
		bad "plot $p.png is a PNG file"
	fi
done
if sed -n 3p "$out/benchmarks.md" 2>/dev/null | grep -q '^| target | goal | rawflow | Linux |'; then
	ok "benchmarks.md opens with the table of ratios"
else
	bad "benchmarks.md opens with the table of ratios"
fi
[ "$fails" = 0 ] || echo "bench_smoke: the run's folder is kept: $out"
echo "bench_smoke: $([ "$fails" = 0 ] && echo passed || echo "$fails failed")"
[ "$fails" = 0 ]
