#!/usr/bin/python3
"""Writes the fuzz target's seed inputs into tests/fuzz/corpus (or DIR).

    make_corpus.py [DIR]

Seeds (seed-*) are valid conversations in the record format of tests/fuzz/input.c: a
handshake with the listener on port 7 and with each connecting flow (IPv4 and IPv6), data
both ways, FIN, RST, zero window and probes, retransmissions over time, ICMP and ICMPv6
echo, neighbour discovery, a router advertisement, an MLD query, IPv4 and IPv6 fragments.
Every case of the malformed-input corpus (tests/malformed/*.hex) becomes one input too
(malformed-*): listen cases as they are, conn cases after a handshake on the port the case
uses, their sequence and acknowledgment numbers made to fit (the checksum error kept).

Regression inputs for lwIP defects that need a whole conversation rather than one frame
(regress-lwip-tcp-ooseq-*: patch 0002's window overrun, IPv4 and IPv6; ooseq_window.c checks
what the stack did with them, the replay that nothing crashed).

Inputs libFuzzer found (merged by `./run fuzz`, named by their SHA-1) are not written here;
this script only adds or replaces its own seed-*, malformed-* and regress-lwip-tcp-ooseq-*
files (the other regress-* files are crashes the fuzzer found, kept as they were found).
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "malformed"))
import make_corpus as mc  # noqa: E402  (the malformed corpus's frame builders)

# enum fz_mode and enum fz_action (tests/fuzz/fuzz.h)
RAW, FIX, REL, REL_FIX = 0, 1, 2, 3
NONE, WRITE, CLOSE_ACCEPTED, CLOSE_CONNECTED, SHUTDOWN_WR, HOLD, RELEASE, ABORT = range(8)
SYN, FIN, RST, PSH, ACK = 0x02, 0x01, 0x04, 0x08, 0x10
LISTEN, CONNECT = 7, 80
ETH_IPV6 = mc.ETH_IPV6


def rec(frame=b"", mode=RAW, action=NONE, ms=0, s=0):
    """One record: time step (ms in 10 ms units, or s seconds), action, frame."""
    step = 0x80 | s if s else ms // 10
    assert step < 256 and len(frame) < 65536
    return bytes([step, mode | action << 2]) + struct.pack("!H", len(frame)) + frame


class Peer:
    """Frames from the peer, IPv4 or IPv6."""

    def __init__(self, v6):
        self.v6 = v6

    def seg(self, sport, dport, seq, ack, flags, payload=b"", options=b"", window=65535):
        if self.v6:
            t = mc.tcp6(sport, dport=dport, seq=seq, ack=ack, flags=flags, payload=payload,
                        options=options, window=window)
            return mc.eth(mc.ipv6(t), etype=ETH_IPV6)
        t = mc.tcp(sport, dport=dport, seq=seq, ack=ack, flags=flags, payload=payload,
                   options=options, window=window)
        return mc.eth(mc.ipv4(t))


SYN_OPTS = bytes([2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 1, 1])  # MSS 1460, WS 7, SACK-permitted


def passive(p, port=40000, isn=1000):
    """Handshake with the listener: SYN (checksums fixed), ACK relative to the stack's ISN."""
    return [rec(p.seg(port, LISTEN, isn, 0, SYN, options=SYN_OPTS), FIX),
            rec(p.seg(port, LISTEN, isn + 1, 1, ACK), REL_FIX)]


def active(p, isn=5000):
    """The SYN-ACK that completes the connecting flow's handshake (relative: the harness
    puts in the stack's port and ISN)."""
    return [rec(p.seg(CONNECT, 0, isn, 1, SYN | ACK, options=SYN_OPTS), REL_FIX)]


def seeds():
    out = {}
    data = b"fuzz-payload-" * 20
    for v6 in (False, True):
        p, fam = Peer(v6), "v6" if v6 else "v4"
        # passive open, data both ways, FIN from the peer, our close, TIME-WAIT gone
        out["listen-%s-data-fin" % fam] = passive(p) + [
            rec(p.seg(40000, LISTEN, 1001, 1, PSH | ACK, data), REL_FIX, ms=50),
            rec(action=WRITE, ms=10),
            rec(p.seg(40000, LISTEN, 1001 + len(data), 3001, ACK), REL_FIX, ms=20),
            rec(p.seg(40000, LISTEN, 1001 + len(data), 3001, FIN | ACK), REL_FIX),
            rec(p.seg(40000, LISTEN, 1002 + len(data), 3002, ACK), REL_FIX, ms=100),
            rec(s=70)]
        # our close first: FIN-WAIT, peer's FIN, TIME-WAIT
        out["listen-%s-close-first" % fam] = passive(p, 40001) + [
            rec(action=CLOSE_ACCEPTED, ms=10),
            rec(p.seg(40001, LISTEN, 1001, 2, ACK), REL_FIX),
            rec(p.seg(40001, LISTEN, 1001, 2, FIN | ACK), REL_FIX, ms=10),
            rec(s=30), rec(s=40)]
        # RST in SYN-RECEIVED and in ESTABLISHED
        out["listen-%s-rst" % fam] = [
            rec(p.seg(40002, LISTEN, 7000, 0, SYN, options=SYN_OPTS), FIX),
            rec(p.seg(40002, LISTEN, 7001, 0, RST), FIX, ms=10)] + passive(p, 40003) + [
            rec(p.seg(40003, LISTEN, 1001, 0, RST), FIX, ms=10)]
        # the application holds what it reads (the window shrinks), then releases it
        out["listen-%s-hold-release" % fam] = passive(p, 40004) + [
            rec(action=HOLD)] + [
            rec(p.seg(40004, LISTEN, 1001 + i * 1400, 1, ACK, b"z" * 1400), REL_FIX)
            for i in range(10)] + [
            rec(s=2), rec(action=RELEASE, s=1), rec(s=1)]
        # the connecting flow: SYN-ACK, data, FIN both ways
        out["connect-%s-data-fin" % fam] = active(p) + [
            rec(action=WRITE, ms=10),
            rec(p.seg(CONNECT, 0, 5001, 3001, PSH | ACK, data), REL_FIX, ms=20),
            rec(p.seg(CONNECT, 0, 5001 + len(data), 3001, FIN | ACK), REL_FIX),
            rec(action=CLOSE_CONNECTED, ms=10),
            rec(p.seg(CONNECT, 0, 5002 + len(data), 3002, ACK), REL_FIX, s=1),
            rec(s=70)]
        # the connecting flow's data never acknowledged: retransmissions back off; then RST
        out["connect-%s-retransmit-rst" % fam] = active(p) + [
            rec(action=WRITE, ms=10)] + [rec(s=3) for _ in range(6)] + [
            rec(p.seg(CONNECT, 0, 5001, 1, RST | ACK), REL_FIX)]
        # the connecting flow refused (RST-ACK to the SYN), then SYNs retransmitted to nobody
        out["connect-%s-refused" % fam] = [
            rec(p.seg(CONNECT, 0, 0, 1, RST | ACK), REL_FIX, ms=10), rec(s=20)]
        # shut down writing, then abort everything
        out["connect-%s-shutdown-abort" % fam] = active(p) + [
            rec(action=WRITE), rec(action=SHUTDOWN_WR, ms=10),
            rec(p.seg(CONNECT, 0, 5001, 3002, ACK), REL_FIX, ms=10),
            rec(action=ABORT, ms=10)]
    # ICMP and ICMPv6 echo, neighbour solicitation, router advertisement, MLD query
    echo = struct.pack("!HH", 0x1234, 1) + b"ping" * 8
    icmp = bytes([8, 0, 0, 0]) + echo
    icmp = icmp[:2] + struct.pack("!H", mc.csum(icmp)) + icmp[4:]
    out["icmp-v4-echo"] = [rec(mc.eth(mc.ipv4(icmp, proto=1)), FIX)]
    out["icmp-v6-echo"] = [rec(mc.eth(mc.ipv6(mc.icmp6(128, 0, echo), nh=58), etype=ETH_IPV6))]
    out["icmp-v6-neighbour-solicitation"] = [rec(mc.nd_prime())]
    ll_router = bytes.fromhex("fe800000000000000000000000000001")
    all_nodes = bytes.fromhex("ff020000000000000000000000000001")
    ra = (struct.pack("!BBHII", 64, 0, 1800, 30000, 1000) +
          bytes([1, 1]) + mc.PEER_MAC +                          # source link-layer address
          bytes([5, 1, 0, 0]) + struct.pack("!I", 1400) +         # MTU 1400
          bytes([3, 4, 64, 0xc0]) + struct.pack("!III", 3600, 1800, 0) +
          bytes.fromhex("20010002000000010000000000000000"))    # prefix 2001:2:0:1::/64
    out["icmp-v6-router-advertisement"] = [rec(mc.eth(mc.ipv6(
        mc.icmp6(134, 0, ra, src=ll_router, dst=all_nodes), nh=58, src=ll_router,
        dst=all_nodes, hlim=255), dst=b"\x33\x33\x00\x00\x00\x01", etype=ETH_IPV6)),
        rec(s=5)]
    mld_query = struct.pack("!HH", 1000, 0) + b"\0" * 16
    hbh = bytes([58, 0, 5, 2, 0, 0, 1, 0])  # hop-by-hop: router alert (MLD), PadN
    out["icmp-v6-mld-query"] = [rec(mc.eth(mc.ipv6(
        hbh + mc.icmp6(130, 0, mld_query, src=ll_router, dst=all_nodes), nh=0,
        src=ll_router, dst=all_nodes, hlim=1), dst=b"\x33\x33\x00\x00\x00\x01",
        etype=ETH_IPV6)), rec(s=2)]
    # fragments: a SYN in two IPv4 fragments, and in two IPv6 fragments; one never completed
    s4 = mc.tcp(40010, seq=1000, flags=SYN, options=SYN_OPTS)
    out["fragments-v4-syn"] = [
        rec(mc.eth(mc.ipv4(s4[:16], flags=1, ident=77)), RAW),
        rec(mc.eth(mc.ipv4(s4[16:], flags=0, frag=2, ident=77)), RAW)]
    s6 = mc.tcp6(40011, seq=1000, flags=SYN, options=SYN_OPTS)  # 32 bytes
    out["fragments-v6-syn"] = [
        rec(mc.eth(mc.ipv6(mc.frag6(6, 0, 1, 99) + s6[:24], nh=44), etype=ETH_IPV6)),
        rec(mc.eth(mc.ipv6(mc.frag6(6, 3, 0, 99) + s6[24:], nh=44), etype=ETH_IPV6))]
    out["fragments-v6-incomplete"] = [
        rec(mc.eth(mc.ipv6(mc.frag6(6, 0, 1, 100) + s6[:16], nh=44), etype=ETH_IPV6)),
        rec(s=70)]
    return out


OOSEQ_PORT, OOSEQ_ISN = 40100, 1000
OOSEQ_WINDOW = 65535  # no window scaling offered: lwIP's window is 64 KiB - 1


def ooseq_byte(off, junk):
    """Byte `off` of the peer's stream; the bytes a stack must not take (past its window)
    differ from the stream's (ooseq_window.c compares every byte read with off & 0xff)."""
    return (off + 128 if junk and off >= OOSEQ_WINDOW else off) & 0xFF


def ooseq_overrun(v6):
    """Patch 0002's defect (stack/patches/0002, docs/security.md): an out-of-order queue whose
    last segment was trimmed to the window edge, then a longer segment with the same sequence
    number replacing it (900 bytes past the edge), then the hole filled while the application
    holds what it read (the window only shrinks). Unpatched lwIP queues the replacement as it
    came and asserts "ooseq tcplen > rcv_wnd" when the hole is filled (with assertions off it
    would take the 900 bytes and wrap rcv_wnd). Then the application releases what it held,
    the peer sends 2 segments more from the edge on, and FIN: all must be acknowledged and
    read, in order, with none of the bytes past the old edge."""
    p, port, w = Peer(v6), OOSEQ_PORT, OOSEQ_WINDOW
    mss = 1440 if v6 else 1460  # 1,514-byte frames either way
    n0 = OOSEQ_ISN + 1

    def seg(off, length, junk=True, flags=ACK, **kw):
        data = bytes(ooseq_byte(o, junk) for o in range(off, off + length))
        return rec(p.seg(port, LISTEN, n0 + off, 1, flags, data), REL_FIX, **kw)

    recs = [rec(p.seg(port, LISTEN, OOSEQ_ISN, 0, SYN, options=bytes([2, 4, 0x05, 0xb4])),
                FIX),
            rec(p.seg(port, LISTEN, n0, 1, ACK), REL_FIX),
            rec(action=HOLD),
            seg(mss, mss),             # out of order: the queue starts
            seg(w - 500, 1000),        # appended, trimmed to the last 500 bytes of the window
            seg(w - 500, 1400)]        # replaces it: 900 bytes past the window
    off = 0
    while off < w - 500:               # the hole filled, in order
        recs.append(seg(off, min(mss, w - 500 - off)))
        off += min(mss, w - 500 - off)
    recs += [rec(ms=500),                # the delayed ACK: the edge, window 0
             rec(action=RELEASE),
             seg(w, mss, junk=False, ms=10),
             seg(w + mss, mss, junk=False),
             seg(w + 2 * mss, 0, junk=False, flags=FIN | ACK, ms=10),
             rec(ms=500)]
    return recs


def regressions():
    return {"lwip-tcp-ooseq-replace-trimmed-last-%s" % ("v6" if v6 else "v4"): ooseq_overrun(v6)
            for v6 in (False, True)}


def fix_ack(frame, ack):
    """The TCP ack field of an IPv4 or IPv6 frame set to ack, its checksum moved by the same
    amount (RFC 1624), so that a wrong one stays wrong."""
    f = bytearray(frame)
    if f[12:14] == b"\x86\xdd":
        l4 = 14 + 40
    else:
        l4 = 14 + (f[14] & 0x0F) * 4
    if len(f) < l4 + 18:
        return frame
    old, new = bytes(f[l4 + 8:l4 + 12]), struct.pack("!I", ack)
    f[l4 + 8:l4 + 12] = new
    s = (~struct.unpack("!H", f[l4 + 16:l4 + 18])[0]) & 0xFFFF
    for i in (0, 2):
        s += (~struct.unpack("!H", old[i:i + 2])[0]) & 0xFFFF
        s += struct.unpack("!H", new[i:i + 2])[0]
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    f[l4 + 16:l4 + 18] = struct.pack("!H", (~s) & 0xFFFF)
    return bytes(f)


def malformed():
    """Every case of tests/malformed as one input."""
    folder = os.path.join(HERE, "..", "malformed")
    out = {}
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".hex"):
            continue
        mode, frames, cur = "listen", [], None
        for line in open(os.path.join(folder, name)):
            line = line.strip()
            if line.startswith("# mode: "):
                mode = line[8:]
            elif line.startswith("frame"):
                cur = [int(line.split("x")[1]) if " x" in line else 1, bytearray()]
                frames.append(cur)
            elif line and not line.startswith("#"):
                cur[1] += bytes.fromhex(line)
        recs = []
        if mode == "conn":
            # the case's port and sequence numbers, and a connection that has them
            v6 = frames[0][1][12:14] == b"\x86\xdd"
            p = Peer(v6)
            recs += passive(p, mc.CONN_SPORT, mc.CONN_SEQ - 1)
            frames = [(n, fix_ack(bytes(f), 1)) for n, f in frames]
        for n, f in frames:
            recs += [rec(bytes(f), REL if mode == "conn" else RAW)] * n
        recs.append(rec(s=20))  # timers: reassembly given up, retransmissions
        out[name[:-4]] = recs
    return out


def main(argv):
    folder = argv[1] if len(argv) > 1 else os.path.join(HERE, "corpus")
    os.makedirs(folder, exist_ok=True)
    n = 0
    for prefix, inputs in (("seed-", seeds()), ("malformed-", malformed()),
                           ("regress-", regressions())):
        for name, recs in inputs.items():
            with open(os.path.join(folder, prefix + name), "wb") as f:
                f.write(b"".join(recs))
            n += 1
    print("%d inputs written to %s" % (n, folder))


if __name__ == "__main__":
    main(sys.argv)
