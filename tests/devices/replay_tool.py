"""Replay helpers for tests/devices/replay.sh (rawflow's own capture replayed into the stack).

    replay_tool.py split CAP.pcapng RX_OUT TX_OUT PACE
        Reads a capture written by a rawflow program (--pcap: pcapng, one Enhanced Packet
        Block per frame with its direction in the flags option) and writes two classic pcap
        files for net_pcap: RX_OUT, the frames the stack received (the replay's input), each
        followed by PACE filler frames, and TX_OUT, the frames it sent (what it answered).
        Prints one JSON object: frame counts and the stack's MAC (source of its frames).

        Filler frames pace the replay. net_pcap hands the file to the stack as fast as the
        loop polls, a burst at a time: without fillers, a whole short session arrives in one
        pass, before the application has read (and answered) its first bytes, and the
        stack's answers cannot follow the recording. A filler is an Ethernet frame to another
        host's MAC with a local experimental EtherType (0x88b5), which the stack drops on
        arrival (counted in rx_link_dropped) and never answers. With PACE at least the
        frames a pass reads (rawflow: 4 bursts of 32), each recorded frame arrives in a pass
        of its own, and the application and the TX flush run between two of them, as they
        did while recording.

    replay_tool.py frames PCAP
        One line per frame: a short description and the SHA-256 of its bytes.

    replay_tool.py same A B
        Exit 0 when the two files hold the same frames, byte for byte, in the same order
        (timestamps aside, IPv6 frames counted, not compared: read_frames says why); prints
        the count, or the first difference.

    replay_tool.py match REC_TX REPLAY
        The recorded answers against a replay's, frame by frame: each pair is "identical",
        or differs; prints them. Exit 0 when the replay sent the recorded answers other than
        pure ACKs, in order, with the same ports, flags, sequence and acknowledgement numbers
        and payload (significant() says why pure ACKs and IP identifications may differ
        between a recording, which ran with real timing, and a replay).

Only the Python standard library is used.
"""
import hashlib
import json
import struct
import sys

from pcap_tool import flag_text, parse, read_pcap, write_pcap

FILLER = (bytes.fromhex("0200000000fe" "0200000000fd") + struct.pack("!H", 0x88B5)
          + b"rawflow replay pacing filler".ljust(46, b"\0"))
PCAP_HDR = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
EPB, IDB, SHB = 6, 1, 0x0A0D0D0A
OPT_EPB_FLAGS = 2


def read_pcapng(path):
    """[(direction, ts, frame)]: direction 1 inbound, 2 outbound, 0 unknown."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 12 or struct.unpack("<I", data[:4])[0] != SHB:
        raise ValueError("%s: not a pcapng file" % path)
    if data[8:12] != b"\x4d\x3c\x2b\x1a":
        raise ValueError("%s: big-endian pcapng is not handled" % path)
    out, off = [], 0
    while off + 12 <= len(data):
        btype, blen = struct.unpack("<II", data[off:off + 8])
        if blen < 12 or off + blen > len(data):
            raise ValueError("%s: truncated block at %d" % (path, off))
        if btype == EPB:
            _, ts_hi, ts_lo, cap, _ = struct.unpack("<IIIII", data[off + 8:off + 28])
            frame = data[off + 28:off + 28 + cap]
            opt = off + 28 + ((cap + 3) & ~3)
            direction = 0
            while opt + 4 <= off + blen - 4:
                code, olen = struct.unpack("<HH", data[opt:opt + 4])
                if code == 0:
                    break
                if code == OPT_EPB_FLAGS and olen == 4:
                    direction = struct.unpack("<I", data[opt + 4:opt + 8])[0] & 3
                opt += 4 + ((olen + 3) & ~3)
            out.append((direction, (ts_hi << 32) | ts_lo, frame))
        off += blen
    return out


def record(frame, i):
    """A classic pcap record for frame, time-stamped i microseconds in (order only)."""
    return (PCAP_HDR, struct.pack("<IIII", i // 1000000, i % 1000000, len(frame), len(frame)),
            frame)


def read_frames(path):
    """The frames of a classic pcap, less IPv6 ones, and how many IPv6 frames there were.

    IPv6 frames are the stack's own start-up chatter here (duplicate address detection and
    MLD reports for its link-local address), sent after random delays by design (RFC 4862,
    RFC 3810) and answering nothing in the capture: counted, not compared."""
    frames = [fr for _, _, fr in read_pcap(path)]
    v4 = [fr for fr in frames if parse(fr)["kind"] != "ipv6"]
    return v4, len(frames) - len(v4)


def describe(frame):
    p = parse(frame)
    if p["kind"] == "tcp":
        return "%s:%d > %s:%d %s seq=%d ack=%d win=%d len=%d" % (
            p["ip_src"], p["sport"], p["ip_dst"], p["dport"], flag_text(p["flags"]), p["seq"],
            p["ack"], p["win"], len(p["payload"]))
    if p["kind"] in ("ipv4", "arp"):
        return "%s %s" % (p["kind"], p.get("ip_fields") or ("op %d" % p["arp_op"]))
    return "%s type %04x" % (p["kind"], p["type"])


def cmd_split(cap, rx_out, tx_out, pace):
    frames = read_pcapng(cap)
    rx = [fr for d, _, fr in frames if d == 1]
    tx = [fr for d, _, fr in frames if d == 2]
    unknown = sum(1 for d, _, _ in frames if d not in (1, 2))
    if unknown:
        raise ValueError("%s: %d frames without a direction" % (cap, unknown))
    paced, i = [], 0
    for fr in rx:
        paced.append(record(fr, i))
        for _ in range(pace):
            i += 1
            paced.append(record(FILLER, i))
        i += 1
    write_pcap(rx_out, paced)
    write_pcap(tx_out, [record(fr, i) for i, fr in enumerate(tx)])
    stack_mac = ":".join("%02x" % x for x in tx[0][6:12]) if tx else None
    print(json.dumps({"rx_frames": len(rx), "tx_frames": len(tx), "fillers": pace * len(rx),
                      "replay_frames": len(paced), "stack_mac": stack_mac,
                      "tcp_rx": sum(1 for fr in rx if parse(fr)["kind"] == "tcp"),
                      "tcp_tx": sum(1 for fr in tx if parse(fr)["kind"] == "tcp")}))
    return 0


def cmd_same(a, b):
    (fa, a6), (fb, b6) = read_frames(a), read_frames(b)
    for i in range(max(len(fa), len(fb))):
        x = fa[i] if i < len(fa) else None
        y = fb[i] if i < len(fb) else None
        if x != y:
            print("frame %d differs (of %d and %d):\n  A: %s\n  B: %s" % (
                i, len(fa), len(fb), describe(x) if x else "(none)",
                describe(y) if y else "(none)"))
            return 1
    print("%d answer frames, identical byte for byte (%d TCP; IPv6 frames not compared: %d "
          "and %d)" % (len(fa), sum(1 for fr in fa if parse(fr)["kind"] == "tcp"), a6, b6))
    return 0 if fa else 1


def significant(frames):
    """What a replay must reproduce whatever the timing: every frame but pure TCP ACKs, each
    reduced to what TCP said (ports, flags, seq, ack, payload). A pure ACK (no data, no SYN,
    FIN or RST) can come and go with timing while recording: the kernel's segments arriving
    in one poll pass or two decides whether the stack acknowledges them alone or with its
    echo, and its IP identification numbers follow from that, so they are left out too."""
    out = []
    for fr in frames:
        p = parse(fr)
        if p["kind"] != "tcp":
            out.append(("frame", fr))
        elif p["payload"] or p["flags"] & 0x07:  # FIN, SYN, RST
            out.append((p["sport"], p["dport"], p["flags"], p["seq"], p["ack"], p["payload"]))
    return out


def cmd_match(rec, rep):
    (fa, a6), (fb, b6) = read_frames(rec), read_frames(rep)
    same = 0
    for i in range(max(len(fa), len(fb))):
        x = fa[i] if i < len(fa) else None
        y = fb[i] if i < len(fb) else None
        if x == y:
            same += 1
            print("  %2d identical  %s" % (i, describe(x)))
        else:
            print("  %2d recorded   %s\n     replayed   %s" % (
                i, describe(x) if x else "(none)", describe(y) if y else "(none)"))
    sa, sb = significant(fa), significant(fb)
    agree = sum(1 for x, y in zip(sa, sb) if x == y)
    print("%d of %d recorded answers sent again identically, %d answers in the replay (IPv6 "
          "frames not compared: %d and %d); answers other than pure ACKs (ports, flags, seq, "
          "ack, payload): %d of %d recorded, %d replayed, %s" % (
              same, len(fa), len(fb), a6, b6, agree, len(sa), len(sb),
              "the same" if sa == sb else "different"))
    return 0 if sa and sa == sb else 1


def main(argv):
    try:
        if len(argv) == 6 and argv[1] == "split":
            return cmd_split(argv[2], argv[3], argv[4], int(argv[5]))
        if len(argv) == 3 and argv[1] == "frames":
            for _, _, fr in read_pcap(argv[2]):
                print("%s sha256=%s" % (describe(fr), hashlib.sha256(fr).hexdigest()[:16]))
            return 0
        if len(argv) == 4 and argv[1] == "same":
            return cmd_same(argv[2], argv[3])
        if len(argv) == 4 and argv[1] == "match":
            return cmd_match(argv[2], argv[3])
    except (OSError, ValueError) as e:
        print("replay_tool: %s" % e)
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
