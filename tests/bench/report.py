#!/usr/bin/python3
"""report.py: the benchmark report, made from tests/bench/run.sh's results.

  report.py DIR [--docs DOCS]

Reads DIR/results.json (the records), DIR/machine.json (machine facts), and when present
DIR/perf-*.txt (perf profiles) and DIR/zerocopy.json (tests/bench/zerocopy.sh), draws
the plots (DIR/*.png, matplotlib from Debian's python3-matplotlib) and writes
DIR/benchmarks.md. With --docs it writes DOCS/benchmarks.md instead, with the plots copied to
DOCS/benchmarks/ (each must stay under 100 KB). tests/bench/notes.md, written by hand, is
included as the "where the time goes" section.

The report starts with the table of ratios against issue 7's targets, then the machine, then
one table (median, min-max spread over the runs, ratio) and plot per scenario.
"""
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_PNG = 100 * 1024

# Issue 7's targets: (scenario, point or None for the first point, metric, op, bound, text).
TARGETS = [
    ("rpc", "64", "rps", ">=", 10, "RPC echo req/s, 64 connections, one server core", "≥ 10x Linux"),
    ("latency_under_load", None, "p99_us", "<=", 0.1, "RPC echo p99 at 50% load", "≤ 0.1x Linux"),
    ("rtt", "1", "p50_us", "<=", 0.05, "one-connection RTT p50", "≤ 0.05x Linux"),
    ("bulk", "1 flow, MTU 1500", "goodput_gbps", ">=", 1, "bulk goodput, one flow, MTU 1500",
     "≥ 1x Linux veth"),
    ("short_flows", None, "rps", ">=", 5, "short flows per second", "≥ 5x Linux"),
    ("idle_conns", "10000 idle", "rps", ">=", 0.9, "10 k idle connections",
     "≥ 0.9x of the 0-idle rate"),
    ("idle_conns", "100000 idle", "rps", ">=", 0.9, "100 k idle connections",
     "≥ 0.9x of the 0-idle rate"),
    ("http", None, "server_cycles_per_request", "<=", 0.33,
     "wrk → rf-httpd, server cycles per request", "≤ 0.33x nginx"),
]

TITLES = {
    "rpc": "RPC echo, 64 B, closed loop (rf-load → rf-echo over memif; kload → kecho over veth)",
    "rtt": "One-connection round trip (the RPC scenario's 1-connection point)",
    "latency_under_load": "Latency under load: open loop at 50% of Linux's 64-connection maximum",
    "bulk": "Bulk, one flow (rf-iperf --client → rf-iperf over memif; iperf3 over veth)",
    "short_flows": "Short flows: connect, 64 B request, 64 B answer, close",
    "idle_conns": "Concurrency cost: 16 connections of 64 B echo next to idle connections "
                  "(rf-load --idle → rf-echo over memif; kload → kecho over veth)",
    "http": "Real clients: wrk -t1 GET /64 (rf-httpd over net_af_packet on a veth; nginx over veth)",
}


def fmt(v, unit=""):
    if v is None:
        return "–"
    if unit in ("requests/s", "connections/s") or abs(v) >= 1000:
        return "{:,.0f}".format(v)
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2f" % v if abs(v) >= 0.1 else "%.3f" % v


def spread(rec, s, unit):
    sp = rec.get("spread", {}).get(s)
    if not sp:
        return fmt(rec.get(s), unit)
    return "%s (%s–%s)" % (fmt(rec[s], unit), fmt(sp[0], unit), fmt(sp[1], unit))


def ratio_range(rec):
    """The ratio's extremes over the runs: worst and best pairing of the two spreads."""
    r, l = rec.get("spread", {}).get("rawflow"), rec.get("spread", {}).get("linux")
    if not r or not l or not l[0] or not l[1]:
        return None
    return r[0] / l[1], r[1] / l[0]


def fmt_ratio(rec):
    if rec.get("ratio") is None:
        return "–"
    rr = ratio_range(rec)
    x = "%.2fx" % rec["ratio"] if rec["ratio"] >= 0.1 else "%.3fx" % rec["ratio"]
    if rr:
        x += " (%.2f–%.2f)" % rr if rr[0] >= 0.1 else " (%.3f–%.3f)" % rr
    return x


def find(records, scenario, point, metric):
    for r in records:
        if r["scenario"] == scenario and r["metric"] == metric and (point is None or
                                                                     r["point"] == point):
            return r
    return None


def targets_table(records):
    out = ["| target | goal | rawflow | Linux | ratio (range over runs) | verdict |",
           "|---|---|---|---|---|---|"]
    verdicts = {}
    for scen, point, metric, op, bound, text, goal in TARGETS:
        rec = find(records, scen, point, metric)
        if scen == "idle_conns":
            # Each system against itself: the target's point against 0 idle; the target is
            # rawflow's. The 10 k row falls back to the most idle connections measured
            # (--smoke stops at 100); 100 k is measured by the full run only.
            levels = [r for r in records if r["scenario"] == scen and r["metric"] == metric]
            rec = find(records, scen, point, metric)
            if rec is None and point == "10000 idle" and levels:
                rec = levels[-1]
            if rec is None and point == "100000 idle":
                out.append("| %s | %s | – | – | – | not measured (the full run only) |" % (
                    text, goal))
                verdicts[text] = "not measured"
                continue
            base = find(records, scen, "0 idle", metric)
            val = lval = None
            if rec and base and rec["rawflow"] and base["rawflow"]:
                val = rec["rawflow"] / base["rawflow"]
            if rec and base and rec["linux"] and base["linux"]:
                lval = rec["linux"] / base["linux"]
            if val is None:
                note = (rec or {}).get("note", "not measured")
                out.append("| %s | %s | – | – | – | not measured (%s) |" % (
                    text, goal, note.replace("not measured: ", "")))
                verdicts[text] = "not measured"
                continue
            ok = val >= bound
            out.append("| %s | %s | %s → %s req/s | %s → %s req/s | rawflow %.3fx, Linux %s "
                       "(%s / 0 idle) | %s |" % (
                           text, goal, fmt(base["rawflow"], "requests/s"),
                           fmt(rec["rawflow"], "requests/s"), fmt(base["linux"], "requests/s"),
                           fmt(rec["linux"], "requests/s"), val,
                           "%.3fx" % lval if lval else "–", rec["point"],
                           "**met**" if ok else "**missed**"))
            verdicts[text] = "met" if ok else "missed"
            continue
        if rec is None or rec.get("ratio") is None:
            why = (rec or {}).get("note", "no data").replace("not measured: ", "")
            out.append("| %s | %s | %s | %s | – | not measured (%s) |" % (
                text, goal, fmt((rec or {}).get("rawflow")), fmt((rec or {}).get("linux")), why))
            verdicts[text] = "not measured"
            continue
        ok = rec["ratio"] >= bound if op == ">=" else rec["ratio"] <= bound
        unit = rec["unit"]
        verdict = "**met**" if ok else "**missed**"
        out.append("| %s | %s | %s %s | %s %s | %s | %s |" % (
            text, goal, fmt(rec["rawflow"], unit), unit, fmt(rec["linux"], unit), unit,
            fmt_ratio(rec), verdict))
        verdicts[text] = "met" if ok else "missed"
    return out, verdicts


def machine_section(m):
    lw = m.get("lwip_options", {})
    lines = [
        "| | |", "|---|---|",
        "| CPU | %s, %s CPUs (a shared VM: other work ran at the same time) |" % (
            m.get("cpu_model", "?"), m.get("cpus", "?")),
        "| TSC | %.3f GHz (cycles below are TSC cycles) |" % (float(m.get("tsc_hz", 0)) / 1e9),
        "| OS, kernel | %s, Linux %s |" % (m.get("os", "?"), m.get("kernel", "?")),
        "| DPDK | %s (Debian) |" % m.get("dpdk", "?"),
        "| compiler, build | %s, meson buildtype %s |" % (m.get("compiler", "?"),
                                                        m.get("buildtype", "?")),
        "| rawflow revision | %s |" % m.get("git", "?"),
        "| pinning | servers on CPU %s, clients on CPU %s (EAL -l, taskset) |" % (
            m.get("server_cpu", "?"), m.get("client_cpu", "?")),
        "| memif device | `%s` |" % m.get("memif_devargs", "?"),
        "| af_packet device (HTTP) | `%s` |" % m.get("httpd_devargs", "?"),
        "| Linux side | veth pair between two namespaces, default sysctls (TSO/GRO on), client "
        "namespace: ip_local_port_range 1024-65535, tcp_tw_reuse 1 |",
        "| peers | %s; %s; %s |" % (m.get("wrk", "?"), m.get("iperf3", "?"),
                                    m.get("nginx", "?")),
        "| lwIP options | %s |" % ", ".join("`%s %s`" % kv for kv in sorted(lw.items())),
        "| run | mode %s, %s runs per point and system, %s s each, %s s in all, %s |" % (
            m.get("mode", "?"), m.get("runs", "?"), m.get("run_seconds", "?"),
            m.get("wall_seconds", "?"), m.get("date", "?")),
        "| load average | %s at the start, %s at the end (1, 5, 15 min; the benchmark itself "
        "keeps about 2 busy) |" % (m.get("loadavg_start", "?"), m.get("loadavg_end", "?")),
        "| other busy processes | at the start: %s; at the end: %s |" % (
            m.get("contention_start", "?"), m.get("contention_end", "?")),
        "| rf-echo (memif) crashes | %s |" % (
            "none" if m.get("rf_echo_deaths", "0").startswith("0") else
            m["rf_echo_deaths"].replace(";", "; ") + " — each time started again; runs that lost their server "
            "are failed runs"),
        "| rawflow runs made again | %s |" % (
            "none" if m.get("rf_load_retries", "0").startswith("0") else
            m["rf_load_retries"].replace(";", "; ") + " — the first attempt answered nothing (a SYN sent before "
            "the memif link was up waits for lwIP's 3 s retransmission, past a short run's "
            "end, or rf-echo had died); the second attempt's figures are recorded"),
    ]
    return lines


def scenario_tables(records):
    out = []
    order = []
    for r in records:
        if r["scenario"] not in order:
            order.append(r["scenario"])
    for scen in order:
        recs = [r for r in records if r["scenario"] == scen]
        out += ["", "### " + TITLES.get(scen, scen), ""]
        notes = sorted({r["note"] for r in recs if r.get("note")})
        measured = [r for r in recs if not r.get("note")]
        if measured:
            out += ["| point | metric | rawflow median (min–max) | Linux median (min–max) | "
                    "rawflow / Linux |", "|---|---|---|---|---|"]
            for r in measured:
                out.append("| %s | %s (%s) | %s | %s | %s |" % (
                    r["point"], r["metric"], r["unit"], spread(r, "rawflow", r["unit"]),
                    spread(r, "linux", r["unit"]), fmt_ratio(r)))
            for r in measured:
                if r.get("remark") and r["metric"] == measured[0]["metric"]:
                    out.append("")
                    out.append("At %s: %s." % (r["point"], r["remark"]))
            first = measured[0]["metric"]
            for r in measured:
                for s, errs in sorted(r.get("failed_runs", {}).items()):
                    if r["metric"] == first:
                        out.append("")
                        out.append("Failed runs at %s, %s: %d of %d (%s)." % (
                            r["point"], s, len(errs), len(r["runs"][s]),
                            "; ".join(sorted(set(errs)))[:300]))
        for n in notes:
            pts = ", ".join(r["point"] for r in recs if r.get("note") == n and
                            r["metric"] == recs[0]["metric"])
            out.append("")
            out.append("*%s*: %s." % (pts, n))
        out.append("{{plots:%s}}" % scen)
    return out


def plots(records, d):
    """Draws the plots into d; returns {scenario: [file names]}."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.stderr.write("report.py: no matplotlib (apt-get install python3-matplotlib): "
                         "no plots\n")
        return {}
    made = {}
    colors = {"rawflow": "#1f77b4", "linux": "#d62728"}

    def save(fig, name, scen):
        path = os.path.join(d, name)
        fig.tight_layout()
        fig.savefig(path, dpi=80)
        plt.close(fig)
        made.setdefault(scen, []).append(name)

    def errbars(recs, s):
        med = [r[s] for r in recs]
        lo = [r[s] - r["spread"][s][0] if r[s] is not None else 0 for r in recs]
        hi = [r["spread"][s][1] - r[s] if r[s] is not None else 0 for r in recs]
        return med, [lo, hi]

    for metric, name, ylabel, logy in (("rps", "rpc_rps.png", "requests/s", False),
                                       ("p99_us", "rpc_p99.png", "p99 latency (µs)", True)):
        # (a scenario not measured, --only, has one record whose point is "-")
        recs = [r for r in records if r["scenario"] == "rpc" and r["metric"] == metric
                and str(r["point"]).isdigit()]
        if not recs:
            continue
        x = [int(r["point"]) for r in recs]
        fig, ax = plt.subplots(figsize=(6, 3.4))
        for s in ("rawflow", "linux"):
            pts = [(xi, r) for xi, r in zip(x, recs) if r[s] is not None]
            if not pts:
                continue
            med, err = errbars([r for _, r in pts], s)
            ax.errorbar([p[0] for p in pts], med, yerr=err, marker="o", capsize=3,
                        color=colors[s], label=s + (" (memif)" if s == "rawflow" else " (veth)"))
        ax.set_xscale("log", base=2)
        ax.set_xticks(x)
        ax.set_xticklabels([str(v) for v in x])
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel("connections (64 B echo, closed loop)")
        ax.set_ylabel(ylabel)
        ax.set_title("RPC echo: %s (median, min-max)" % ylabel, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        save(fig, name, "rpc")

    def bars(recs, name, ylabel, title, scen):
        recs = [r for r in recs if r["rawflow"] is not None or r["linux"] is not None]
        if not recs:
            return
        fig, ax = plt.subplots(figsize=(6, 3.0))
        w = 0.38
        for k, s in enumerate(("rawflow", "linux")):
            xs = [i + (k - 0.5) * w for i in range(len(recs))]
            med = [r[s] or 0 for r in recs]
            lo = [(r[s] - r["spread"][s][0]) if r[s] is not None else 0 for r in recs]
            hi = [(r["spread"][s][1] - r[s]) if r[s] is not None else 0 for r in recs]
            ax.bar(xs, med, w, yerr=[lo, hi], capsize=3, color=colors[s], label=s)
        ax.set_xticks(range(len(recs)))
        ax.set_xticklabels([r["point"] for r in recs], fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=8)
        save(fig, name, scen)

    bars([r for r in records if r["scenario"] == "bulk" and r["metric"] == "goodput_gbps"],
         "bulk_goodput.png", "Gbit/s", "Bulk goodput, one flow (median, min-max)", "bulk")
    bars([r for r in records if r["scenario"] == "http" and
          r["metric"] == "server_cycles_per_request"],
         "http_cycles.png", "server cycles / request",
         "wrk GET /64: server cost per request (median, min-max)", "http")
    bars([r for r in records if r["scenario"] == "idle_conns" and r["metric"] == "rps"],
         "idle_conns.png", "requests/s", "16 connections of echo next to idle ones "
         "(median, min-max)", "idle_conns")
    bars([r for r in records if r["scenario"] == "short_flows" and r["metric"] == "rps"],
         "short_flows.png", "connections/s", "Short flows per second (median, min-max)",
         "short_flows")
    return made


def zerocopy_section(d):
    path = os.path.join(d, "zerocopy.json")
    if not os.path.exists(path):
        return ["", "Not part of this run (the full mode runs tests/bench/zerocopy.sh)."]
    z = json.load(open(path))
    out = ["", "rf-echo over net_tap, %d MiB per run through the echo, zero-copy and forced "
           "copy (`--copy`) interleaved:" % (z["bytes_per_run"] >> 20), "",
           "| mode | goodput Gbit/s median (min–max) | busy cycles / byte median (min–max) |",
           "|---|---|---|"]
    for mode, m in z["modes"].items():
        out.append("| %s | %.3f (%.3f–%.3f) | %.2f (%.2f–%.2f) |" % (
            mode, m["goodput_gbps_median"], m["goodput_gbps_min"], m["goodput_gbps_max"],
            m["cycles_per_byte_median"], m["cycles_per_byte_min"], m["cycles_per_byte_max"]))
    out += ["", "Copying costs %.2fx the cycles per byte of zero-copy." %
            z["ratio_cycles_per_byte_copy_over_zero_copy"]]
    return out


def main(argv):
    if len(argv) < 2 or argv[1].startswith("-"):
        sys.stderr.write(__doc__)
        return 2
    d = argv[1]
    docs = argv[3] if len(argv) >= 4 and argv[2] == "--docs" else None
    records = json.load(open(os.path.join(d, "results.json")))
    try:
        machine = json.load(open(os.path.join(d, "machine.json")))
    except OSError:
        machine = {}
    made = plots(records, d)
    if docs:
        img_dir = os.path.join(docs, "benchmarks")
        os.makedirs(img_dir, exist_ok=True)
        for names in made.values():
            for n in list(names):
                src = os.path.join(d, n)
                if os.path.getsize(src) > MAX_PNG:
                    sys.stderr.write("report.py: %s is over 100 KB: left out of docs\n" % n)
                    names.remove(n)
                    continue
                shutil.copy(src, os.path.join(img_dir, n))
        img_prefix, md_path = "benchmarks/", os.path.join(docs, "benchmarks.md")
    else:
        img_prefix, md_path = "", os.path.join(d, "benchmarks.md")

    table, verdicts = targets_table(records)
    met = sum(1 for v in verdicts.values() if v == "met")
    missed = sum(1 for v in verdicts.values() if v == "missed")
    lines = ["# Benchmarks: rawflow against the Linux kernel", ""]
    lines += table
    lines += ["",
              "Targets from issues 7 and 10: %d met, %d missed, %d not measured. Ratios are rawflow / "
              "Linux of the medians; the range pairs the two spreads' extremes. Generated by "
              "`tests/bench/report.py` from `build/bench/results.json` of `./run bench%s` "
              "(%s); do not edit by hand." % (
                  met, missed, len(verdicts) - met - missed,
                  "" if machine.get("mode") == "full" else " --" + machine.get("mode", "?"),
                  machine.get("date", "?")),
              "", "## Machine", ""]
    lines += machine_section(machine)
    lines += ["", "## How it is measured", "",
              "`./run bench` builds and runs the full set (5 runs per point, 0 to 100 k idle "
              "connections; 10.5 minutes here on 2026-11-25, and at most 15), `./run bench --quick` a shorter one (3 runs, 2-4 minutes depending on "
              "how busy the machine is), `--smoke` one short run of each (about 30 s, checks "
              "the plumbing and the JSON); `--only=idle_conns,bulk` runs only the named "
              "scenarios; `--docs` regenerates this page. Everything lands in "
              "`build/bench/`: `results.json` (one record per scenario, point and metric, with "
              "every run), `machine.json`, `raw.jsonl`, the profiles and the plots. The "
              "harness is `tests/bench/run.sh`.", "",
              "Each scenario runs on both systems back to back on the same two CPUs (server on "
              "one, client on the other), run by run, with the order flipped every round; the "
              "figure is the median of the runs and the spread is their min–max. This VM "
              "switches between a fast and a slow mode (about 2x apart), and other work shared "
              "its 2 CPUs, so only interleaved medians with their spread mean anything.",
              "",
              "- **rawflow** runs rawflow on both ends: two processes joined by a DPDK "
              "`net_memif` link (shared memory, no system call on the data path), one core "
              "each. rf-echo is stopped (SIGSTOP) while Linux runs, since its poll loop would "
              "take the server CPU.",
              "- **Linux** runs the kernel's TCP on both ends: two network namespaces joined by "
              "a veth pair. Client and server are C programs (`tests/bench/kload.c`, "
              "`kecho.c`: one thread, epoll, TCP_NODELAY, rf-load's latency histogram "
              "compiled in), or the stock iperf3, nginx and wrk.",
              "- Latency is measured by the client, from the send (or the open loop's "
              "scheduled send) to the last byte of the answer.",
              "- Busy cycles are TSC cycles of rawflow loop passes that did work (the loop "
              "polls; CPU time says nothing). For Linux, CPU time (iperf3's own report, "
              "nginx's schedstat) at the TSC rate; softirq work charged elsewhere is missed, "
              "which flatters Linux.",
              "", "## Results per scenario"]
    body = scenario_tables(records)
    for i, l in enumerate(body):
        if l.startswith("{{plots:"):
            scen = l[len("{{plots:"):-2]
            body[i] = "\n".join("\n![%s](%s%s)" % (n[:-4], img_prefix, n)
                                for n in made.get(scen, []))
    lines += body
    lines += ["", "### Zero-copy against forced copy"] + zerocopy_section(d)
    missing = []
    for r in records:
        if r.get("note") and (r["scenario"], r["point"], r["note"]) not in missing:
            missing.append((r["scenario"], r["point"], r["note"]))
    lines += ["", "### Not measured", ""]
    lines += ["- %s, %s: %s." % (sc, pt, n.replace("not measured: ", "")) for sc, pt, n in missing]
    lines += ["- Latency and rates on dedicated cores: this VM's two CPUs were shared with other "
              "work (see the machine table); the figures are what this machine gave.",
              "- wrk against rf-httpd on a device without any system call on the data path "
              "(net_af_xdp, or memif with a rawflow client): rf-httpd is measured on "
              "net_af_packet, whose TX costs one sendto() per burst."]
    lines += ["", "## Where the time goes", ""]
    notes = os.path.join(HERE, "notes.md")
    if os.path.exists(notes):
        lines += [open(notes).read().rstrip(), ""]
    for name in ("rf-echo", "rf-iperf-client", "rf-iperf", "rf-echo-short", "rf-load",
                 "rf-echo-idle", "rf-httpd"):
        perf = os.path.join(d, "perf-%s.txt" % name)
        if os.path.exists(perf):
            text = open(perf).read().splitlines()
            title = text[0].lstrip("# ") if text else name
            lines += ["", "Profile of %s in this run:" % title, "", "```"]
            lines += [l.rstrip() for l in text[1:]]
            lines += ["```"]
    text = "\n".join(lines).replace("\n\n\n", "\n\n") + "\n"
    with open(md_path, "w") as f:
        f.write(text)
    print("report: %s (%d met, %d missed, %d not measured)" % (
        md_path, met, missed, len(verdicts) - met - missed))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
