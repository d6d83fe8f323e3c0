"""Reads the JSON a rawflow program writes with --stats FILE (at exit).

    stats.py check FILE   exit 0 when the file is a JSON object with the counters every program
                          must report (top-level keys) and shows no leak (mbufs_in_use <=
                          mbufs_idle); else one line per problem and exit 1
    stats.py get FILE KEY prints one counter
"""
import json
import sys

REQUIRED = ("rx_payload_bytes", "tx_payload_bytes", "rx_copied_bytes", "tx_copied_bytes",
            "mbufs_in_use", "mbufs_idle", "alloc_failures")


def load(path):
    with open(path) as f:
        return json.load(f)


def check(path):
    try:
        stats = load(path)
    except (OSError, ValueError) as e:
        print("stats: cannot read %s: %s" % (path, e))
        return 1
    if not isinstance(stats, dict):
        print("stats: %s is not a JSON object" % path)
        return 1
    problems = []
    values = {}
    for key in REQUIRED:
        try:
            values[key] = stats[key]
        except KeyError:
            problems.append("missing key %s" % key)
            continue
        if not isinstance(values[key], int) or values[key] < 0:
            problems.append("%s is %r, not a count" % (key, values[key]))
    # <=: the idle baseline is taken at start-up, when a PMD may hold one more buffer in its
    # RX ring than later (net_tap does, depending on timing); a leak only ever adds.
    if not problems and values["mbufs_in_use"] > values["mbufs_idle"]:
        problems.append("leak: mbufs_in_use %d > mbufs_idle %d after a clean shutdown"
                        % (values["mbufs_in_use"], values["mbufs_idle"]))
    for p in problems:
        print("stats: " + p)
    return 1 if problems else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "check":
        return check(argv[2])
    if len(argv) == 4 and argv[1] == "get":
        print(load(argv[2])[argv[3]])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
