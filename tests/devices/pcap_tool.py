"""Pcap helpers for the net_pcap row of the device suite (tests/devices/pcap.sh).

    pcap_tool.py split REC STACK_IP RX_OUT
        Splits a recording made on the kernel's side of the stack's link: the frames the
        stack did not send (the kernel's: ARP, IPv4, IPv6) go to RX_OUT, the input of a
        replay. Prints one JSON object: the stack's MAC (the source of the frames from
        STACK_IP), frame counts, TCP payload bytes each way, and the stack's recorded ISN
        (the sequence number of its SYN-ACK).

    pcap_tool.py answers PCAP STACK_MAC [REC_ISN]
        Prints the stack's answer frames in PCAP, normalised, one line each (see below).

    pcap_tool.py compare A B STACK_MAC [REC_ISN]
        Exit 0 when the answer frames of A and B are the same after normalising; prints a
        summary, or the first difference.

    pcap_tool.py summary PCAP STACK_MAC
        One line: what the stack answered (ARP, SYN-ACK, RST, data bytes, FIN).

Normalising: every header field is compared (Ethernet, IPv4 with its ID and TTL, TCP ports,
acknowledgment number, flags, window, options, payload by SHA-256), except
  - the checksums, which follow from the rest,
  - sequence numbers in the stack's own sequence space, which are written relative to the
    ISN the stack chose in that run (the sequence number of its SYN-ACK): "isn+N". rawflow
    draws ISNs per RFC 6528 (a per-process secret), so they differ from run to run. A
    sequence number the stack takes from its input (an RST answering an unacceptable ACK
    carries SEG.ACK) is written relative to the recorded ISN: "rec+N". Anything else stays
    absolute.
  - IPv6 frames: the stack's own start-up chatter (MLD reports, duplicate address
    detection) leaves after random delays by design (RFC 3810, RFC 4862) and answers
    nothing in the capture; they are counted, not compared.
Only the Python standard library is used (classic pcap files, as tcpdump -w and DPDK's
net_pcap write them).
"""
import hashlib
import json
import struct
import sys

ETH_IPV4, ETH_ARP, ETH_IPV6 = 0x0800, 0x0806, 0x86DD
WINDOW = 1 << 24  # a sequence number within this distance of an ISN is written relative to it


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise ValueError("%s: not a pcap file (%d bytes)" % (path, len(data)))
    magic = data[:4]
    endian = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",
              b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}.get(magic)
    if endian is None:
        raise ValueError("%s: not a classic pcap file (magic %s)" % (path, magic.hex()))
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    if linktype != 1:
        raise ValueError("%s: link type %d, not Ethernet" % (path, linktype))
    frames, off = [], 24
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack(endian + "IIII", data[off:off + 16])
        frames.append((data[:24], data[off:off + 16], data[off + 16:off + 16 + incl]))
        off += 16 + incl
    return frames


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(frames[0][0] if frames else struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0,
                                                        65535, 1))
        for _, rec, frame in frames:
            f.write(rec)
            f.write(frame)


def mac(b):
    return ":".join("%02x" % x for x in b)


def parse(frame):
    """A dict of the fields this tool looks at; 'kind' is arp, ipv4, tcp, ipv6 or other."""
    p = {"dst": mac(frame[0:6]), "src": mac(frame[6:12]),
         "type": struct.unpack("!H", frame[12:14])[0], "kind": "other"}
    body = frame[14:]
    if p["type"] == ETH_ARP and len(body) >= 28:
        p.update(kind="arp", arp=body[:28].hex(), arp_op=struct.unpack("!H", body[6:8])[0],
                 arp_sender_ip=".".join(str(x) for x in body[14:18]))
    elif p["type"] == ETH_IPV6:
        p["kind"] = "ipv6"
    elif p["type"] == ETH_IPV4 and len(body) >= 20:
        ihl = (body[0] & 15) * 4
        ip = body[:ihl]
        p.update(kind="ipv4", ip_src=".".join(str(x) for x in ip[12:16]),
                 ip_dst=".".join(str(x) for x in ip[16:20]), proto=ip[9],
                 ip_fields="ver_ihl=%02x tos=%02x len=%d id=%d frag=%04x ttl=%d proto=%d" % (
                     ip[0], ip[1], struct.unpack("!H", ip[2:4])[0],
                     struct.unpack("!H", ip[4:6])[0], struct.unpack("!H", ip[6:8])[0],
                     ip[8], ip[9]))
        total = struct.unpack("!H", ip[2:4])[0]
        seg = body[ihl:total]
        if p["proto"] == 6 and len(seg) >= 20:
            off = (seg[12] >> 4) * 4
            p.update(kind="tcp", sport=struct.unpack("!H", seg[0:2])[0],
                     dport=struct.unpack("!H", seg[2:4])[0],
                     seq=struct.unpack("!I", seg[4:8])[0], ack=struct.unpack("!I", seg[8:12])[0],
                     flags=seg[13], win=struct.unpack("!H", seg[14:16])[0],
                     urg=struct.unpack("!H", seg[18:20])[0], opts=seg[20:off].hex(),
                     payload=seg[off:])
    return p


def flag_text(f):
    return "".join(c for c, bit in zip("FSRPAUEC", range(8)) if f & (1 << bit)) or "-"


def stack_mac_of(frames, stack_ip):
    for _, _, fr in frames:
        p = parse(fr)
        if p.get("ip_src") == stack_ip or (p["kind"] == "arp" and p["arp_sender_ip"] == stack_ip
                                           and p["arp_op"] == 2):
            return p["src"]
    return None


def isn_of(parsed):
    """The stack's ISN: the sequence number of its first SYN-ACK, or None."""
    for p in parsed:
        if p["kind"] == "tcp" and p["flags"] & 0x12 == 0x12:
            return p["seq"]
    return None


def normalise(frames, stack_mac, rec_isn):
    parsed = [parse(fr) for _, _, fr in frames]
    answers = [p for p in parsed if p["src"] == stack_mac]
    isn = isn_of(answers)
    lines, ipv6 = [], 0
    for p in answers:
        if p["kind"] == "ipv6":
            ipv6 += 1
            continue
        head = "%s>%s" % (p["src"], p["dst"])
        if p["kind"] == "arp":
            lines.append("%s ARP %s" % (head, p["arp"]))
        elif p["kind"] == "tcp":
            seq = p["seq"]
            if isn is not None and (seq - isn) % (1 << 32) < WINDOW:
                s = "isn+%d" % ((seq - isn) % (1 << 32))
            elif rec_isn is not None and (seq - rec_isn) % (1 << 32) < WINDOW:
                s = "rec+%d" % ((seq - rec_isn) % (1 << 32))
            else:
                s = "abs:%d" % seq
            lines.append("%s %s %s>%s TCP %d>%d %s seq=%s ack=%d win=%d urg=%d opts=%s len=%d "
                         "sha256=%s" % (head, p["ip_fields"], p["ip_src"], p["ip_dst"],
                                        p["sport"], p["dport"], flag_text(p["flags"]), s,
                                        p["ack"], p["win"], p["urg"], p["opts"],
                                        len(p["payload"]),
                                        hashlib.sha256(p["payload"]).hexdigest()[:16]))
        elif p["kind"] == "ipv4":
            lines.append("%s %s %s>%s" % (head, p["ip_fields"], p["ip_src"], p["ip_dst"]))
        else:
            lines.append("%s type=%04x" % (head, p["type"]))
    return lines, ipv6, isn


def summary_of(frames, stack_mac):
    n = {"arp": 0, "synack": 0, "rst": 0, "fin": 0, "data_bytes": 0, "tcp": 0, "ipv6": 0}
    for _, _, fr in frames:
        p = parse(fr)
        if p["src"] != stack_mac:
            continue
        if p["kind"] in ("arp", "ipv6"):
            n[p["kind"]] += 1
        elif p["kind"] == "tcp":
            n["tcp"] += 1
            n["synack"] += p["flags"] & 0x12 == 0x12
            n["rst"] += bool(p["flags"] & 0x04)
            n["fin"] += bool(p["flags"] & 0x01)
            n["data_bytes"] += len(p["payload"])
    return n


def cmd_split(rec, stack_ip, rx_out):
    frames = read_pcap(rec)
    smac = stack_mac_of(frames, stack_ip)
    if smac is None:
        print(json.dumps({"error": "no frame from %s in %s" % (stack_ip, rec)}))
        return 1
    rx = [f for f in frames if parse(f[2])["src"] != smac]
    write_pcap(rx_out, rx)
    info = {"stack_mac": smac, "frames": len(frames), "rx_frames": len(rx),
            "stack_frames": len(frames) - len(rx), "kernel_syn": 0, "kernel_fin": 0,
            "kernel_payload": 0, "stack_payload": 0, "kernel_arp": 0,
            "stack_isn": isn_of([parse(f[2]) for f in frames if parse(f[2])["src"] == smac])}
    for _, _, fr in frames:
        p = parse(fr)
        if p["kind"] == "arp" and p["src"] != smac:
            info["kernel_arp"] += 1
        if p["kind"] != "tcp":
            continue
        if p["src"] == smac:
            info["stack_payload"] += len(p["payload"])
        else:
            info["kernel_payload"] += len(p["payload"])
            info["kernel_syn"] += p["flags"] & 0x12 == 0x02
            info["kernel_fin"] += bool(p["flags"] & 0x01)
    print(json.dumps(info))
    return 0


def rec_isn_arg(argv, i):
    return int(argv[i]) if len(argv) > i and argv[i] not in ("", "None", "null") else None


def main(argv):
    try:
        if len(argv) == 5 and argv[1] == "split":
            return cmd_split(argv[2], argv[3], argv[4])
        if len(argv) in (4, 5) and argv[1] == "answers":
            lines, ipv6, isn = normalise(read_pcap(argv[2]), argv[3], rec_isn_arg(argv, 4))
            print("\n".join(lines))
            print("(%d answer frames compared, %d IPv6 frames not compared, ISN %s)"
                  % (len(lines), ipv6, isn))
            return 0
        if len(argv) in (5, 6) and argv[1] == "compare":
            rec_isn = rec_isn_arg(argv, 5)
            a, a6, a_isn = normalise(read_pcap(argv[2]), argv[4], rec_isn)
            b, b6, b_isn = normalise(read_pcap(argv[3]), argv[4], rec_isn)
            if a == b:
                print("%d answer frames identical after normalising (ISNs %s and %s; IPv6 "
                      "frames not compared: %d and %d)" % (len(a), a_isn, b_isn, a6, b6))
                return 0 if a else 1
            for i in range(max(len(a), len(b))):
                x = a[i] if i < len(a) else "(none)"
                y = b[i] if i < len(b) else "(none)"
                if x != y:
                    print("answer frame %d differs (of %d and %d):\n  A: %s\n  B: %s"
                          % (i, len(a), len(b), x, y))
                    break
            return 1
        if len(argv) == 4 and argv[1] == "summary":
            n = summary_of(read_pcap(argv[2]), argv[3])
            print("%(tcp)d TCP frames (%(synack)d SYN-ACK, %(rst)d RST, %(fin)d FIN, "
                  "%(data_bytes)d payload bytes), %(arp)d ARP, %(ipv6)d IPv6" % n)
            return 0
    except (OSError, ValueError) as e:
        print("pcap_tool: %s" % e)
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
