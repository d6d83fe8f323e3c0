#!/usr/bin/python3
"""collect.py: turns what the benchmark programs print into results (tests/bench/run.sh).

  collect.py add RAW SCENARIO POINT SYSTEM RUN KIND FILES...
      Reads one run's output files, picks its figures and appends one line to RAW (JSON
      lines): {"scenario", "point", "system", "run", "ok", "metrics": {...}, "error"}.
      KIND says how to read FILES:
        load      FILE: rf-load --json or kload output (its last JSON line)
        rf_iperf  CLIENT_STATS SERVER_STATS: rf-iperf --client and server --stats files
        iperf3    IPERF3_JSON TSC_HZ: iperf3 -c -J output
        wrk_rf    WRK_OUT HTTPD_STATS: wrk --latency output and rf-httpd's --stats file
        wrk_linux WRK_OUT CPU_NS TSC_HZ: wrk output and the server's CPU time in ns
  collect.py skip RAW SCENARIO POINT REASON
      Appends a "not measured" line for a scenario point, with the reason.
  collect.py remark RAW SCENARIO POINT TEXT
      Attaches a remark to a measured point (shown next to its figures).
  collect.py results RAW OUT
      Groups the runs by scenario, point and metric and writes OUT, a JSON list of records
      {"scenario", "point", "metric", "unit", "better", "rawflow", "linux", "ratio",
       "spread": {"rawflow": [min, max], "linux": [min, max]},
       "runs": {"rawflow": [...], "linux": [...]}, "note"}:
      medians over the runs that worked (a failed run is null in "runs"), ratio =
      rawflow / linux. Exit status 1 when some point has no working run on a system
      (single failed runs are only recorded). The one-connection RTT is also recorded as its own scenario ("rtt"),
      from the RPC runs at one connection.
  collect.py contention [CPU CPU]
      Prints the other processes that kept a CPU busy (over 20%) for one second: what
      shared the benchmark's CPUs (this VM is shared), e.g. "rf-echo 96% on CPU 0". With
      two CPUs: "A B|text", A being the one other processes keep less busy (by a quarter
      of a CPU or more; otherwise the order given): the servers go there.
  collect.py check OUT
      Checks that OUT is well-formed: a list of records with every key, numbers or null
      where numbers belong, and all six scenarios of issue 7 present (measured or marked
      not measured). Exit status 1 with the problems on stderr otherwise.
  collect.py machine OUT KEY=VALUE...
      Writes the machine facts (CPU, cores, kernel, DPDK, compiler, build type, lwIP
      options, git revision) and the KEY=VALUE pairs given (mode, device arguments, ...).
"""
import json
import os
import platform
import re
import statistics
import subprocess
import sys

# Per scenario: the metrics recorded, their unit, and which way is better.
METRICS = {
    "rpc": [("rps", "requests/s", "higher"), ("p50_us", "us", "lower"),
            ("p99_us", "us", "lower"), ("p999_us", "us", "lower")],
    "rtt": [("p50_us", "us", "lower")],
    "latency_under_load": [("p99_us", "us", "lower"), ("p50_us", "us", "lower"),
                           ("rps", "requests/s", "higher")],
    "bulk": [("goodput_gbps", "Gbit/s", "higher"), ("cycles_per_byte", "cycles/byte", "lower")],
    "short_flows": [("rps", "connections/s", "higher"), ("p50_us", "us", "lower"),
                    ("p99_us", "us", "lower")],
    "idle_conns": [("rps", "requests/s", "higher")],
    "http": [("rps", "requests/s", "higher"), ("server_cycles_per_request", "cycles/request",
                                               "lower"), ("p99_us", "us", "lower")],
}
SYSTEMS = ("rawflow", "linux")


def last_json_line(path):
    lines = [l for l in open(path, errors="replace").read().splitlines() if l.startswith("{")]
    if not lines:
        raise ValueError("no JSON line in %s" % os.path.basename(path))
    return json.loads(lines[-1])


def read_load(path):
    r = last_json_line(path)
    m = {k: r[k] for k in ("rps", "p50_us", "p90_us", "p99_us", "p999_us", "requests",
                           "duration_s", "errors", "conns")}
    if r["requests"] <= 0:
        raise ValueError("no request answered")
    return m, (None if r["errors"] == 0 else "%d errors" % r["errors"])


def read_rf_iperf(client_path, server_path):
    c, s = json.load(open(client_path)), json.load(open(server_path))
    t = c["last_test"]
    if not t.get("ok"):
        raise ValueError("rf-iperf test failed")
    sent = t["we_sent"]
    moved = s["rx_payload_bytes"]
    return {"goodput_gbps": sent["received_bits_per_second"] / 1e9,
            "cycles_per_byte": (c["busy_cycles"] + s["busy_cycles"]) / moved if moved else None,
            "sender_cycles_per_byte": c["busy_cycles"] / max(c["tx_payload_bytes"], 1),
            "receiver_cycles_per_byte": s["busy_cycles"] / moved if moved else None,
            "retransmits": sent["retransmits"], "tsc_hz": c["tsc_hz"]}, None


def read_iperf3(path, tsc_hz):
    j = json.load(open(path))
    if "error" in j:
        raise ValueError("iperf3: %s" % j["error"])
    end = j["end"]
    rcv = end["sum_received"]
    cpu = end["cpu_utilization_percent"]
    cycles = (cpu["host_total"] + cpu["remote_total"]) / 100 * rcv["seconds"] * float(tsc_hz)
    return {"goodput_gbps": rcv["bits_per_second"] / 1e9,
            "cycles_per_byte": cycles / rcv["bytes"] if rcv["bytes"] else None,
            "sender_cpu_percent": cpu["host_total"], "receiver_cpu_percent": cpu["remote_total"],
            "retransmits": end["sum_sent"].get("retransmits")}, None


UNITS_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def read_wrk(path):
    text = open(path, errors="replace").read()
    m = re.search(r"(\d+) requests in ([0-9.]+)(us|ms|s|m)", text)
    rps = re.search(r"Requests/sec:\s*([0-9.]+)", text)
    if not m or not rps:
        raise ValueError("no wrk summary")
    out = {"requests": int(m.group(1)), "rps": float(rps.group(1))}
    p99 = re.search(r"^\s*99%\s+([0-9.]+)(us|ms|s)\s*$", text, re.M)
    if p99:
        out["p99_us"] = float(p99.group(1)) * UNITS_S[p99.group(2)] / 1e-6
    errs = 0
    se = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if se:
        errs += sum(int(x) for x in se.groups())
        out["error_kinds"] = "connect %s, read %s, write %s, timeout %s" % se.groups()
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if bad:
        errs += int(bad.group(1))
    out["errors"] = errs
    if out["requests"] <= 0:
        raise ValueError("wrk: no request answered")
    return out


def read_wrk_rf(wrk_path, stats_path):
    m = read_wrk(wrk_path)
    s = json.load(open(stats_path))
    m["server_cycles_per_request"] = s["busy_cycles"] / s["requests"] if s["requests"] else None
    m["server_requests"] = s["requests"]
    return m, wrk_error(m)


def wrk_error(m):
    if m["errors"] == 0:
        return None
    return "%d wrk errors (%s)" % (m["errors"], m.get("error_kinds", "non-2xx answers"))


def read_wrk_linux(wrk_path, cpu_ns, tsc_hz):
    m = read_wrk(wrk_path)
    m["server_cycles_per_request"] = float(cpu_ns) * 1e-9 * float(tsc_hz) / m["requests"]
    m["server_cpu_s"] = float(cpu_ns) * 1e-9
    return m, wrk_error(m)


def read_window(path):
    """A window of a client that keeps running (run.sh idle_window): requests answered in it,
    from the client's counters; no latencies."""
    r = json.load(open(path))
    m = {k: r[k] for k in ("rps", "requests", "duration_s")}
    if r["requests"] <= 0:
        raise ValueError("no request answered")
    return m, None


READERS = {"load": read_load, "window": read_window, "rf_iperf": read_rf_iperf,
           "iperf3": read_iperf3, "wrk_rf": read_wrk_rf, "wrk_linux": read_wrk_linux}


def cmd_add(raw, scenario, point, system, run, kind, *files):
    rec = {"scenario": scenario, "point": point, "system": system, "run": int(run)}
    try:
        metrics, warning = READERS[kind](*files)
        rec.update(ok=warning is None, metrics=metrics, error=warning)
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError) as e:
        rec.update(ok=False, metrics={}, error="%s: %s" % (type(e).__name__, e))
    with open(raw, "a") as f:
        f.write(json.dumps(rec) + "\n")
    m = rec["metrics"]
    shown = ", ".join("%s %.4g" % (k, m[k]) for k in ("rps", "p50_us", "p99_us", "goodput_gbps",
                                                         "cycles_per_byte",
                                                         "server_cycles_per_request")
                      if isinstance(m.get(k), (int, float)))
    print("  %-8s %-18s %-20s run %s: %s%s" % (system, scenario, point, run, shown or "-",
                                               "" if rec["ok"] else "  [%s]" % rec["error"]))


def cmd_skip(raw, scenario, point, reason):
    with open(raw, "a") as f:
        f.write(json.dumps({"scenario": scenario, "point": point, "not_measured": reason}) + "\n")


def cmd_remark(raw, scenario, point, text):
    with open(raw, "a") as f:
        f.write(json.dumps({"scenario": scenario, "point": point, "remark": text}) + "\n")


def cmd_results(raw, out):
    rows = [json.loads(l) for l in open(raw) if l.strip()]
    runs_only = [r for r in rows if "not_measured" not in r and "remark" not in r]
    order, groups, notes, remarks = [], {}, {}, {}
    for r in rows:
        key = (r["scenario"], r["point"])
        if key not in groups:
            order.append(key)
            groups[key] = {s: [] for s in SYSTEMS}
        if "not_measured" in r:
            notes[key] = "not measured: " + r["not_measured"]
        elif "remark" in r:
            remarks.setdefault(key, []).append(r["remark"])
        else:
            groups[key][r["system"]].append(r)
    # The one-connection RTT is the RPC scenario's one-connection point.
    if ("rpc", "1") in groups:
        order.insert(order.index(("rpc", "1")) + 1, ("rtt", "1"))
        groups[("rtt", "1")] = groups[("rpc", "1")]
    records = []
    for key in order:
        scenario, point = key
        for metric, unit, better in METRICS[scenario]:
            rec = {"scenario": scenario, "point": point, "metric": metric, "unit": unit,
                   "better": better, "rawflow": None, "linux": None, "ratio": None,
                   "spread": {}, "runs": {}}
            for s in SYSTEMS:
                runs = sorted(groups[key][s], key=lambda r: r["run"])
                vals = [r["metrics"].get(metric) if r["ok"] else None for r in runs]
                rec["runs"][s] = vals
                good = [v for v in vals if isinstance(v, (int, float))]
                if good:
                    rec[s] = statistics.median(good)
                    rec["spread"][s] = [min(good), max(good)]
                failed = [r["error"] for r in runs if not r["ok"]]
                if failed:
                    rec.setdefault("failed_runs", {})[s] = failed
            if rec["rawflow"] is not None and rec["linux"]:
                rec["ratio"] = rec["rawflow"] / rec["linux"]
            if key in notes:
                rec["note"] = notes[key]
            if key in remarks:
                rec["remark"] = "; ".join(remarks[key])
            records.append(rec)
    with open(out, "w") as f:
        json.dump(records, f, indent=1)
        f.write("\n")
    failed = sum(1 for r in runs_only if not r["ok"])
    empty = ["%s %s %s" % (k[0], k[1], s) for k, g in groups.items() if k[0] != "rtt"
             for s in SYSTEMS if g[s] and not any(r["ok"] for r in g[s])]
    print("results: %d records, %d runs, %d failed runs -> %s" %
          (len(records), len(runs_only), failed, out))
    for e in empty:
        print("results: no run worked for %s" % e)
    # A failed run among good ones is a finding, recorded in the report; a point where no
    # run of a system worked means the harness or a program is broken.
    return 1 if empty else 0


SCENARIOS = ("rpc", "latency_under_load", "bulk", "short_flows", "idle_conns", "http")


def cmd_check(out):
    problems = []
    try:
        records = json.load(open(out))
    except (OSError, ValueError) as e:
        sys.stderr.write("check: %s: %s\n" % (out, e))
        return 1
    if not isinstance(records, list) or not records:
        problems.append("not a non-empty list")
        records = []
    num = (int, float, type(None))
    for i, r in enumerate(records):
        for k in ("scenario", "point", "metric", "unit", "rawflow", "linux", "ratio", "runs"):
            if k not in r:
                problems.append("record %d: no %r" % (i, k))
        if not all(isinstance(r.get(k), num) for k in ("rawflow", "linux", "ratio")):
            problems.append("record %d: rawflow/linux/ratio not numbers or null" % i)
        runs = r.get("runs", {})
        if not isinstance(runs, dict) or not all(
                isinstance(runs.get(s, []), list) and all(isinstance(v, num) for v in runs.get(s, []))
                for s in SYSTEMS):
            problems.append("record %d: runs is not {system: [numbers or null]}" % i)
    for s in SCENARIOS:
        if not any(r.get("scenario") == s for r in records):
            problems.append("scenario %s missing" % s)
    for p in problems:
        sys.stderr.write("check: %s\n" % p)
    if not problems:
        print("check: %s is well-formed: %d records, all %d scenarios" % (
            out, len(records), len(SCENARIOS)))
    return 1 if problems else 0


def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


LWIP_KEYS = ("TCP_MSS", "TCP_WND", "TCP_SND_BUF", "TCP_SND_QUEUELEN", "TCP_RCV_SCALE",
             "MEM_LIBC_MALLOC", "MEMP_MEM_MALLOC", "TCP_OVERSIZE", "LWIP_TCP_SACK_OUT",
             "LWIP_TCP_TIMESTAMPS", "TCP_MSL", "TCP_TMR_INTERVAL", "LWIP_STATS",
             "LWIP_CHECKSUM_CTRL_PER_NETIF", "LWIP_NETIF_TX_SINGLE_PBUF")


def cmd_machine(out, *pairs):
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    cpu = ""
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    lwip = {}
    try:
        for line in open(os.path.join(src, "stack", "include", "lwipopts.h")):
            m = re.match(r"#define\s+(\w+)\s+(.*?)\s*(/\*.*)?$", line)
            if m and m.group(1) in LWIP_KEYS:
                lwip[m.group(1)] = m.group(2)
    except OSError:
        pass
    facts = {"cpu_model": cpu, "cpus": os.cpu_count(), "kernel": platform.release(),
             "os": sh("sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"),
             "dpdk": sh("pkg-config", "--modversion", "libdpdk"),
             "compiler": sh("cc", "--version").splitlines()[0] if sh("cc", "--version") else "",
             # RF_BENCH_REV names the revision when the tree is not a git checkout
             "git": os.environ.get("RF_BENCH_REV") or sh("git", "-C", src, "describe",
                                                         "--always", "--dirty"),
             "date": sh("date", "-u", "+%Y-%m-%d %H:%M UTC"),
             "wrk": sh("sh", "-c", "wrk -v 2>&1 | head -n1"),
             "iperf3": sh("sh", "-c", "iperf3 -v 2>&1 | head -n1"),
             "nginx": sh("sh", "-c", "nginx -v 2>&1"),
             "lwip_options": lwip}
    for p in pairs:
        k, _, v = p.partition("=")
        facts[k] = v
    with open(out, "w") as f:
        json.dump(facts, f, indent=1)
        f.write("\n")


def proc_times():
    t = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = open("/proc/%s/stat" % pid).read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        f = stat[stat.rindex(")") + 2:].split()
        # fields after the name: state is f[0]; utime f[11], stime f[12], processor f[36]
        t[pid] = (comm, int(f[11]) + int(f[12]), f[36])
    return t


def cmd_contention(*cpus):
    import time
    hz = os.sysconf("SC_CLK_TCK")
    a = proc_times()
    time.sleep(1)
    b = proc_times()
    busy, per_cpu = [], {c: 0.0 for c in cpus}
    for pid, (comm, ticks, cpu) in b.items():
        if pid in a and pid != str(os.getpid()):
            pct = 100.0 * (ticks - a[pid][1]) / hz
            if cpu in per_cpu:
                per_cpu[cpu] += pct
            if pct > 20:
                busy.append("%s %.0f%% on CPU %s" % (comm, pct, cpu))
    text = ", ".join(busy) if busy else "none"
    if cpus:  # the CPUs given, least busy first (stable), then the text
        # differences under 25% of a CPU are noise: the given order stays
        order = sorted(cpus, key=lambda c: round(per_cpu[c] / 25))
        print(" ".join(order) + "|" + text)
    else:
        print(text)


def main(argv):
    cmds = {"add": cmd_add, "skip": cmd_skip, "remark": cmd_remark, "results": cmd_results,
            "check": cmd_check, "machine": cmd_machine,
            "contention": cmd_contention}
    if len(argv) < 2 or argv[1] not in cmds:
        sys.stderr.write(__doc__)
        return 2
    return cmds[argv[1]](*argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
