"""Reads what the scale suite's programs print.

    scale.py json LOG COND...     the last JSON line of LOG (rf-load --json) meets every COND:
                                  KEY=V, KEY>=V, KEY<=V; prints the figures; exit 1 otherwise
    scale.py get LOG KEY          one value of that JSON line
    scale.py flows LOG [max]      flows open on the last status line of LOG ("| flows N |"),
                                  or the most on any of them
    scale.py rates LOG FROM       the median of the "N req/s" of rf-load's status lines in
                                  LOG after its first FROM lines, and how many there were
    scale.py lines LOG            how many lines LOG has now
    scale.py stats PREFIX         rawflow's /rawflow/stats of the process with that EAL
                                  --file-prefix, through DPDK's telemetry socket, as JSON
"""
import json
import os
import re
import socket
import statistics
import sys


def last_json(path):
    lines = [l for l in open(path, errors="replace").read().splitlines() if l.startswith("{")]
    if not lines:
        raise SystemExit("%s: no JSON line" % path)
    return json.loads(lines[-1])


def check(path, conds):
    r = last_json(path)
    print("  rf-load: requests %d, connections %d, held_max %d, errors %d (connect %d, "
          "resets %d), %.0f req/s, p99 %.0f us"
          % (r["requests"], r["connections"], r["held_max"], r["errors"],
             r["connect_errors"], r["resets"], r["rps"], r["p99_us"]))
    bad = 0
    for c in conds:
        m = re.fullmatch(r"(\w+)(=|>=|<=)(-?[0-9.]+)", c)
        key, op, want = m.group(1), m.group(2), float(m.group(3))
        got = r.get(key)
        ok = got is not None and {"=": got == want, ">=": got >= want, "<=": got <= want}[op]
        if not ok:
            print("  wanted %s, got %s=%r" % (c, key, got))
            bad = 1
    return bad


def flows(path, how):
    seen = [int(m.group(1)) for m in
            re.finditer(r"\| flows (\d+) \|", open(path, errors="replace").read())]
    if not seen:
        raise SystemExit("%s: no status line" % path)
    print(max(seen) if how == "max" else seen[-1])
    return 0


def rates(path, skip):
    lines = open(path, errors="replace").read().splitlines()[skip:]
    got = [float(m.group(1)) for l in lines if l.startswith("rf-load: ")
           for m in [re.search(r"\| (\d+) req/s", l)] if m]
    if not got:
        raise SystemExit("%s: no status line after line %d" % (path, skip))
    print("%.0f %d" % (statistics.median(got), len(got)))
    return 0


def telemetry_stats(prefix):
    """DPDK's telemetry protocol v2: a SOCK_SEQPACKET socket in the EAL's runtime folder that
    greets with a JSON object, then answers each command with {"<command>": value}."""
    path = os.path.join("/var/run/dpdk" if os.getuid() == 0 else
                        os.environ.get("XDG_RUNTIME_DIR", "/tmp") + "/dpdk",
                        prefix, "dpdk_telemetry.v2")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(5)
    s.connect(path)
    hello = json.loads(s.recv(1024).decode())
    s.send(b"/rawflow/stats")
    reply = json.loads(s.recv(hello["max_output_len"]).decode())
    s.close()
    print(json.dumps(reply["/rawflow/stats"]))
    return 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "json":
        return check(argv[2], argv[3:])
    if len(argv) == 4 and argv[1] == "get":
        print(last_json(argv[2])[argv[3]])
        return 0
    if len(argv) in (3, 4) and argv[1] == "flows":
        return flows(argv[2], argv[3] if len(argv) == 4 else "last")
    if len(argv) == 4 and argv[1] == "rates":
        return rates(argv[2], int(argv[3]))
    if len(argv) == 3 and argv[1] == "lines":
        print(len(open(argv[2], errors="replace").read().splitlines()))
        return 0
    if len(argv) == 3 and argv[1] == "stats":
        return telemetry_stats(argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
