#!/usr/bin/python3
"""Sends the malformed-input corpus into a running rawflow stack and checks what it did.

    inject.py IFACE STACK_IP CORPUS_DIR RESULT_JSON [TELEMETRY_PREFIX]

Runs on the kernel's side of the stack's tap interface (in its namespace, as root). The stack
must run an echo service on port 7 (rf-echo). Frames go out through a raw AF_PACKET socket on
IFACE, which also watches every frame that comes back. Per case (the format is described in
make_corpus.py):

  listen  the frames are sent as they are (the destination MAC replaced by the stack's);
          `expect: drop` wants no answer belonging to the case within DROP_WATCH_S,
          `expect: reply` wants one within REPLY_WATCH_S, `expect: any` only records it.
  conn    the frames are sent into an established kernel connection to the echo service:
          ports, sequence and acknowledgment numbers are put in (checksum updated
          incrementally). Besides the expectation on answers (drop: no segment from the stack
          on the connection), the connection's byte stream must stay intact: junk the frame
          carries must never come back in the echo.

With TELEMETRY_PREFIX (the stack's EAL --file-prefix), the stack's counters are read through
DPDK's telemetry socket (/rawflow/stats) before and after each case, and a case must raise
them by its "counts" itself: every dropped frame counted, case by case. (Fragments that lwIP
only gives up at its reassembly timeout are counted later; for those cases, marked
"counted: later", only the caller's sum at exit holds them.)

After every case the kernel connection echoes ECHO_BYTES random bytes: the stack is alive and
the stream intact. Cases that involve IPv4 fragments go first, so that the reassembly
timeout (15 s in lwIP) has passed by the time the caller stops the stack and counts buffers.

Writes RESULT_JSON: {"cases": [{name, expect, ok, detail, ...}], "counts": {counter: sum of
what the cases must raise}, "stack_mac": ...}; prints one line per case; exit 0 when every
case is ok, 1 when one is not, 2 when the run itself failed (no connection, no MAC).
"""
import json
import os
import socket
import struct
import sys
import threading
import time

ETH_P_ALL = 0x0003
PACKET_HOST, PACKET_OUTGOING = 0, 4
PLACEHOLDER_MAC = bytes.fromhex("020000000002")
PEER_IP = bytes([198, 18, 0, 1])
PEER_IP6 = bytes.fromhex("20010002000000000000000000000001")
CONN_PORT = 7
DROP_WATCH_S = 0.3
REPLY_WATCH_S = 1.0
ECHO_BYTES = 512
ECHO_TIMEOUT_S = 5.0


# What a case's "counts" name, as sums of struct rf_stats fields (where a frame is thrown away
# depends on the layer, and who finds a bad checksum on the PMD's offloads).
COUNTERS = {"dropped": ("rx_dropped", "rx_link_dropped", "rx_ip_dropped", "rx_tcp_dropped"),
            "cksum": ("rx_bad_cksum", "rx_cksum_errors")}
TELEMETRY_PERIOD_S = 0.1  # the stack publishes a snapshot this often (flow/telemetry.c)


class Telemetry:
    """DPDK's telemetry socket of one process (v2 protocol, as dpdk-telemetry.py)."""

    def __init__(self, prefix, within=10.0):
        path = os.path.join("/var/run/dpdk", prefix, "dpdk_telemetry.v2")
        until = time.monotonic() + within
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            self.sock.settimeout(5)
            try:
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() >= until:
                    raise
                time.sleep(0.2)
        self.max_len = json.loads(self.sock.recv(1024).decode())["max_output_len"]

    def snapshot(self):
        """(counters, when the stack took them, on time.monotonic()'s clock)."""
        self.sock.send(b"/rawflow/stats")
        st = json.loads(self.sock.recv(self.max_len).decode())["/rawflow/stats"]
        taken = time.monotonic() - st["snapshot_age_us"] / 1e6
        return {k: sum(st[f] for f in fields) for k, fields in COUNTERS.items()}, taken

    def counters(self, within=10.0):
        """{"dropped": N, "cksum": N} once they have settled: two snapshots taken after this
        call, at least two publishing periods apart, that agree. (On a busy machine the stack's
        core may be descheduled for a while: a snapshot older than the frames just sent, or
        taken half-way through a burst of them, would blame the next case.)"""
        start = time.monotonic()
        prev = None
        while True:
            time.sleep(TELEMETRY_PERIOD_S)
            c, taken = self.snapshot()
            if taken < start:
                continue
            if prev is not None and taken - prev[1] >= 2 * TELEMETRY_PERIOD_S:
                if c == prev[0] or time.monotonic() - start > within:
                    return c
                prev = (c, taken)
            elif prev is None:
                prev = (c, taken)


def load_case(path):
    c = {"name": os.path.basename(path)[:-4], "frames": [], "counts": [], "watch": None,
         "mode": "listen", "expect": "drop", "counted": "now"}
    cur = None
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            key, _, val = line[1:].strip().partition(": ")
            if key in ("mode", "expect", "watch", "counted"):
                c[key] = val
            elif key == "counts":
                c["counts"] = val.split()
            continue
        if line.startswith("frame"):
            n = int(line.split("x")[1]) if " x" in line else 1
            cur = [n, bytearray()]
            c["frames"].append(cur)
            continue
        cur[1] += bytes.fromhex(line)
    return c


class Sniffer(threading.Thread):
    """Keeps every frame seen on the interface: (time, pkttype, bytes)."""

    def __init__(self, iface):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind((iface, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.frames = []
        self.lock = threading.Lock()

    def run(self):
        while True:
            data, addr = self.sock.recvfrom(65535)
            with self.lock:
                self.frames.append((time.monotonic(), addr[2], bytes(data)))

    def since(self, t0):
        with self.lock:
            return [f for f in self.frames if f[0] >= t0]


def ipv4_tcp(frame):
    """(ip header offset, tcp offset, ihl, proto) of an IPv4 frame, or None."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return None
    ihl = (frame[14] & 0x0F) * 4
    return 14, 14 + ihl, frame[23]


def answer_port(frame):
    """The peer-side port an answer from the stack is about: a TCP segment's destination
    port, or the source port quoted in an ICMP error. None otherwise."""
    h = ipv4_tcp(frame)
    if h is None or frame[30:34] != PEER_IP:
        return None
    _, l4, proto = h
    if proto == 6 and len(frame) >= l4 + 4:
        return struct.unpack("!H", frame[l4 + 2:l4 + 4])[0]
    if proto == 1 and len(frame) >= l4 + 8 + 20 + 2:
        inner = l4 + 8
        inner_l4 = inner + (frame[inner] & 0x0F) * 4
        if len(frame) >= inner_l4 + 2:
            return struct.unpack("!H", frame[inner_l4:inner_l4 + 2])[0]
    return None


def ipv6_answer(frame, port):
    """True when an IPv6 frame to the peer is a TCP segment to port or an ICMPv6 error
    (type below 128: unreachable, too big, time exceeded, parameter problem)."""
    if len(frame) < 58 or frame[12:14] != b"\x86\xdd" or frame[38:54] != PEER_IP6:
        return False
    nh, l4 = frame[20], 54
    if nh == 6:
        return struct.unpack("!H", frame[l4 + 2:l4 + 4])[0] == port
    return nh == 58 and frame[l4] < 128


def matches(case, frame, stack_mac, conn_kport):
    """True when frame (from the stack) answers this case."""
    if frame[6:12] != stack_mac:
        return False
    h = ipv4_tcp(frame)
    if h is not None and h[2] == 1 and len(frame) > h[1] + 1 and frame[h[1]] == 11 \
            and frame[h[1] + 1] == 1:
        # ICMP "fragment reassembly time exceeded" (RFC 792): the stack's due answer, 15 s
        # later, to an earlier case's incomplete fragments whose first fragment arrived;
        # it lands in whatever case is watching then, so it answers none of them
        return False
    watch = case["watch"]
    if case["mode"] == "conn":
        return answer_port(frame) == conn_kport
    if watch is None:
        return False
    kind, _, what = watch.partition(" ")
    if kind == "tcp":
        return answer_port(frame) == int(what)
    if kind == "tcp6":
        return ipv6_answer(frame, int(what))
    if kind == "arp" and frame[12:14] == b"\x08\x06" and len(frame) >= 42:
        tpa = socket.inet_ntoa(frame[38:42])
        spa = socket.inet_ntoa(frame[28:32])
        return what in (tpa, spa)
    return False


def fold(s):
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def patch_conn(frame, kport, seq, ack):
    """Ports, seq and ack of the connection into the TCP header; the checksum moves by the
    same amount (RFC 1624: HC' = ~(~HC + ~m + m')), so a wrong one stays as wrong."""
    f = bytearray(frame)
    l4 = 14 + (f[14] & 0x0F) * 4
    old = bytes(f[l4:l4 + 12])
    new = struct.pack("!HHII", kport, CONN_PORT, seq, ack)
    f[l4:l4 + 12] = new
    if len(f) >= l4 + 18:
        hc = struct.unpack("!H", f[l4 + 16:l4 + 18])[0]
        s = (~hc) & 0xFFFF
        for i in range(0, 12, 2):
            s += ((~struct.unpack("!H", old[i:i + 2])[0]) & 0xFFFF)
            s += struct.unpack("!H", new[i:i + 2])[0]
        f[l4 + 16:l4 + 18] = struct.pack("!H", (~fold(s)) & 0xFFFF)
    return bytes(f)


def seq_after(a, b):
    return ((a - b) & 0xFFFFFFFF) < 0x80000000 and a != b


class Conn:
    """The kernel's connection to the echo service, and what the wire says about it."""

    def __init__(self, stack_ip, sniffer, kernel_mac):
        self.sniffer = sniffer
        self.kernel_mac = kernel_mac
        self.sock = socket.create_connection((stack_ip, CONN_PORT), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.kport = self.sock.getsockname()[1]
        self.t0 = time.monotonic()

    def echo(self, n=ECHO_BYTES):
        """n random bytes there and back; '' when they came back intact, else why not."""
        data = os.urandom(n)
        try:
            self.sock.settimeout(ECHO_TIMEOUT_S)
            self.sock.sendall(data)
            got = b""
            while len(got) < n:
                chunk = self.sock.recv(n - len(got))
                if not chunk:
                    return "the stack closed the connection"
                got += chunk
        except OSError as e:
            return "echo failed: %s" % e
        if got != data:
            junk = b"MALFORMED" in got
            return "echo came back different%s" % (" (carrying injected junk)" if junk else "")
        return ""

    def next_seqs(self):
        """(kernel's next sequence number, stack's next sequence number) from the frames
        the connection exchanged so far (frames sent by the injector do not count)."""
        knxt = snxt = None
        for _, ptype, f in self.sniffer.since(self.t0):
            h = ipv4_tcp(f)
            # whole TCP segments only (not fragments, not the injector's broken ones)
            if h is None or h[2] != 6 or len(f) < h[1] + 20 or \
                    struct.unpack("!H", f[20:22])[0] & 0x3FFF:
                continue
            l4 = h[1]
            sport, dport, seq = struct.unpack("!HHI", f[l4:l4 + 8])
            flags = f[l4 + 13]
            iplen = struct.unpack("!H", f[16:18])[0]
            plen = iplen - (l4 - 14) - (f[l4 + 12] >> 4) * 4
            end = (seq + plen + (1 if flags & 0x03 else 0)) & 0xFFFFFFFF
            if ptype == PACKET_OUTGOING and f[6:12] == self.kernel_mac and \
                    (sport, dport) == (self.kport, CONN_PORT):
                if knxt is None or seq_after(end, knxt):
                    knxt = end
            elif ptype == PACKET_HOST and (sport, dport) == (CONN_PORT, self.kport):
                if snxt is None or seq_after(end, snxt):
                    snxt = end
        return knxt, snxt


def stack_mac_of(iface, stack_ip):
    for line in open("/proc/net/arp").read().splitlines()[1:]:
        parts = line.split()
        if parts[0] == stack_ip and parts[5] == iface and parts[3] != "00:00:00:00:00:00":
            return bytes.fromhex(parts[3].replace(":", ""))
    return None


def main(argv):
    if len(argv) not in (5, 6):
        print(__doc__, file=sys.stderr)
        return 2
    iface, stack_ip, corpus, result_path = argv[1:5]
    tel = None
    if len(argv) == 6:
        try:
            tel = Telemetry(argv[5])
        except OSError as e:
            print("inject: no telemetry socket for prefix %s: %s" % (argv[5], e))
            return 2
    cases = [load_case(os.path.join(corpus, f)) for f in sorted(os.listdir(corpus))
             if f.endswith(".hex")]
    # fragments first (see above), the rest in name order
    cases.sort(key=lambda c: (0 if "fragment" in c["name"] else 1, c["name"]))
    kernel_mac = bytes.fromhex(open("/sys/class/net/%s/address" % iface).read().strip()
                               .replace(":", ""))
    sniffer = Sniffer(iface)
    sniffer.start()
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    tx.bind((iface, 0))

    try:
        conn = Conn(stack_ip, sniffer, kernel_mac)
    except OSError as e:
        print("inject: cannot connect to %s:%d: %s" % (stack_ip, CONN_PORT, e))
        return 2
    stack_mac = stack_mac_of(iface, stack_ip)
    if stack_mac is None:
        print("inject: no ARP entry for %s on %s" % (stack_ip, iface))
        return 2
    first = conn.echo()
    if first:
        print("inject: the connection does not echo before any case: %s" % first)
        return 2

    results, counts, failed = [], {}, 0
    for c in cases:
        r = {"name": c["name"], "mode": c["mode"], "expect": c["expect"], "ok": True,
             "detail": ""}
        problems = []
        time.sleep(0.3)  # the last echo's delayed ACKs are out before anything is watched
        knxt, snxt = conn.next_seqs()
        before = tel.counters() if tel else None
        t0 = time.monotonic()
        for n, frame in c["frames"]:
            frame = bytes(frame)
            if frame[:6] == PLACEHOLDER_MAC:
                frame = stack_mac + frame[6:]
            if c["mode"] == "conn":
                frame = patch_conn(frame, conn.kport, knxt, snxt)
            for _ in range(n):
                tx.send(frame)
        time.sleep(REPLY_WATCH_S if c["expect"] == "reply" else DROP_WATCH_S)
        # anything the stack sent, also to other hosts' MACs (PACKET_OTHERHOST)
        answers = [f for _, ptype, f in sniffer.since(t0)
                   if ptype != PACKET_OUTGOING and matches(c, f, stack_mac, conn.kport)]
        r["answered"] = len(answers)
        if c["expect"] == "drop" and answers:
            problems.append("the stack answered (%d frames, first: %s)" %
                            (len(answers), answers[0][:64].hex()))
        if c["expect"] == "reply" and not answers:
            problems.append("the stack did not answer")
        want = {}
        for k in c["counts"]:
            name, _, v = k.partition("+")
            want[name] = want.get(name, 0) + int(v)
        if tel:
            after = tel.counters()
            r["counted"] = {k: after[k] - before[k] for k in after}
            if c["counted"] == "now":
                for k, n in want.items():
                    if after[k] - before[k] < n:
                        problems.append("%s went up by %d, not by %d" %
                                        (k, after[k] - before[k], n))
        why = conn.echo()
        if why:
            problems.append(why)
            # carry on with a fresh connection, so one broken case does not fail the rest
            try:
                conn.sock.close()
                conn = Conn(stack_ip, sniffer, kernel_mac)
                if conn.echo():
                    problems.append("a new connection does not echo either")
            except OSError as e:
                problems.append("cannot connect again: %s" % e)
                r["ok"] = False
                r["detail"] = "; ".join(problems)
                results.append(r)
                failed += 1
                print("inject: FAIL %s: %s (giving up)" % (c["name"], r["detail"]))
                break
        for k, n in want.items():
            counts[k] = counts.get(k, 0) + n
        if problems:
            r["ok"] = False
            r["detail"] = "; ".join(problems)
            failed += 1
        results.append(r)
        print("inject: %s %s (%s, expect %s, answered %d%s)%s" % (
            "ok  " if r["ok"] else "FAIL", c["name"], c["mode"], c["expect"], r["answered"],
            "".join(", %s +%d" % kv for kv in sorted(r.get("counted", {}).items()) if kv[1]),
            ": " + r["detail"] if problems else ""))
    conn.sock.close()
    with open(result_path, "w") as out:
        json.dump({"cases": results, "counts": counts, "stack_mac": stack_mac.hex(":"),
                   "ran": len(results), "corpus": len(cases)}, out, indent=1)
    return 1 if failed or len(results) != len(cases) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
