#!/usr/bin/python3
"""Writes the malformed-input corpus: one file per case, named for what it is.

    make_corpus.py [DIR]      (default: the folder of this script)

Each case is a frame (or a few) a peer on the wire could send to a rawflow stack at
198.18.0.2, most of them broken in one way: truncated, lengths that disagree, bad checksums,
TCP data offsets and options that run past what is there, fragments that never complete or
overlap. tests/integration/malformed.sh sends every case into a running rf-echo with
tests/malformed/inject.py and checks what the stack did (docs/testing.md, suite malformed).

File format (text, so that a diff shows what changed):

    # NAME
    # one line or more saying what the frame is
    # mode: listen | conn
    # expect: drop | reply | any
    # watch: tcp PORT | tcp6 PORT | arp A.B.C.D
    # counts: COUNTER+N [COUNTER+N ...]
    # counted: later
    frame [xN]
    HEX (32 bytes a line)
    frame ...

mode    listen: sent as it is, from 198.18.0.1 to rf-echo's listening port 7 (TCP cases are
        SYNs, so accepting one shows as a SYN-ACK). conn: sent into an established
        connection of the kernel's: the injector puts the connection's ports and its current
        sequence and acknowledgment numbers into the TCP header (the checksum is updated
        incrementally, so a deliberately wrong one stays exactly as wrong) and the frame
        carries junk payload that must never reach the application.
expect  drop: no answer of any kind (watched for a moment after sending); in conn mode also
        the connection's byte stream stays intact. reply: the stack must answer (a valid
        frame among the broken ones, pinning that e.g. Ethernet padding is ignored, not
        taken for data). any: the stack may answer or not (RFC 9293 lets a receiver stop
        parsing malformed options and go on), but must stay up and intact.
watch   which answer belongs to this case: TCP to (or ICMP about) that source port, or an ARP
        reply for that address; tcp6: TCP over IPv6 to that port or any ICMPv6 error (IPv6
        cases start with a neighbour solicitation that teaches the stack the peer's address,
        so that an answer would go out at once).
counted later: the drop happens only at lwIP's reassembly timeout (15 s), so the case's
        counts are checked in the sum at exit, not right after the case.
counts  what the case must raise: "dropped" (frames thrown away, wherever: the sum of
        rf_stats' rx_dropped, rx_link_dropped, rx_ip_dropped and rx_tcp_dropped) and "cksum"
        (checksums found wrong: the device's verdict rx_bad_cksum, or lwIP's in software,
        rx_cksum_errors; which one depends on the PMD's checksum offload). The test sums them
        over the corpus and wants at least that much at exit.
frame   xN: sent N times. The destination MAC is a placeholder (02:00:00:00:00:02) that the
        injector replaces with the stack's real one.
"""
import os
import struct
import sys

STACK_MAC = bytes.fromhex("020000000002")
PEER_MAC = bytes.fromhex("020000000001")
PEER_IP = bytes([198, 18, 0, 1])
STACK_IP = bytes([198, 18, 0, 2])
BCAST_IP = bytes([198, 18, 0, 255])
PEER_IP6 = bytes.fromhex("20010002000000000000000000000001")
STACK_IP6 = bytes.fromhex("20010002000000000000000000000002")
ETH_IPV4, ETH_ARP, ETH_IPV6 = 0x0800, 0x0806, 0x86DD
SYN, FIN, ACK, PSH = 0x02, 0x01, 0x10, 0x08
# conn mode placeholders, replaced by the injector
CONN_SPORT, CONN_SEQ, CONN_ACK = 40000, 0x01000000, 0x02000000
JUNK = b"MALFORMED-SEGMENT-PAYLOAD-MUST-NOT-BE-DELIVERED!!" * 2


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def eth(payload, etype=ETH_IPV4, dst=STACK_MAC, src=PEER_MAC):
    return dst + src + struct.pack("!H", etype) + payload


def tcp(sport, dport=7, seq=1000, ack=0, flags=SYN, doff=None, options=b"", payload=b"",
        window=65535, src=PEER_IP, dst=STACK_IP, cksum=None, cksum_len=None):
    """A TCP segment; cksum None: correct over the segment (or its first cksum_len bytes, as
    the IP header will claim), else that value."""
    if doff is None:
        doff = 5 + (len(options) + 3) // 4
    options = options + b"\0" * ((-len(options)) % 4)
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, doff << 4, flags, window, 0, 0)
    seg = hdr + options + payload
    if cksum is None:
        covered = seg if cksum_len is None else seg[:cksum_len]
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(covered))
        cksum = csum(pseudo + covered)
    return seg[:16] + struct.pack("!H", cksum) + seg[18:]


def ipv4(payload, proto=6, src=PEER_IP, dst=STACK_IP, ihl=5, total=None, ident=1, flags=0x2,
         frag=0, ttl=64, options=b"", version=4, cksum=None):
    if total is None:
        total = ihl * 4 + len(payload)
    hdr = struct.pack("!BBHHHBBH4s4s", (version << 4) | ihl, 0, total, ident,
                      (flags << 13) | frag, ttl, proto, 0, src, dst) + options
    if cksum is None:
        cksum = csum(hdr[:ihl * 4])
    return hdr[:10] + struct.pack("!H", cksum) + hdr[12:] + payload


def ipv6(payload, nh=6, src=PEER_IP6, dst=STACK_IP6, plen=None, hlim=64):
    if plen is None:
        plen = len(payload)
    return struct.pack("!IHBB", 6 << 28, plen, nh, hlim) + src + dst + payload


def tcp6(sport, **kw):
    """A TCP segment for IPv6 (the pseudo-header sums the same as IPv4's, with 16-byte
    addresses)."""
    kw.setdefault("src", PEER_IP6)
    kw.setdefault("dst", STACK_IP6)
    return tcp(sport, **kw)


def icmp6(typ, code, body, src=PEER_IP6, dst=STACK_IP6, cksum=None):
    msg = bytes([typ, code, 0, 0]) + body
    if cksum is None:
        cksum = csum(src + dst + struct.pack("!IxxxB", len(msg), 58) + msg)
    return msg[:2] + struct.pack("!H", cksum) + msg[4:]


def ext6(nh, body=b""):
    """A hop-by-hop, destination options or routing header: next header, length in 8-byte
    units past the first 8, body (padded with Pad1 options, zero bytes)."""
    body = body + b"\0" * ((-(2 + len(body))) % 8)
    return bytes([nh, (2 + len(body)) // 8 - 1]) + body


def frag6(nh, offset, more, ident):
    """An IPv6 fragment header; offset in 8-byte units."""
    return struct.pack("!BBHI", nh, 0, (offset << 3) | more, ident)


def nd_prime(src=PEER_IP6):
    """A neighbour solicitation from src for the stack's address, with src's link-layer
    address (the placeholder peer MAC): the stack learns where src is, so that its answers
    to the frames after it go out at once, without neighbour discovery of its own."""
    body = b"\0" * 4 + STACK_IP6 + bytes([1, 1]) + PEER_MAC
    return eth(ipv6(icmp6(135, 0, body, src=src), nh=58, src=src, hlim=255), etype=ETH_IPV6)


def flip16(data, off):
    """data with the 16-bit field at off off by one (a checksum made wrong)."""
    return data[:off] + struct.pack("!H", struct.unpack("!H", data[off:off + 2])[0] ^ 1) + \
        data[off + 2:]


def flip_cksum(seg):
    """The TCP segment with its checksum off by one."""
    return seg[:16] + struct.pack("!H", struct.unpack("!H", seg[16:18])[0] ^ 1) + seg[18:]


def syn(sport, **kw):
    return tcp(sport, flags=SYN, seq=0x10000000 + sport, **kw)


def conn_seg(payload=JUNK, flags=ACK | PSH, **kw):
    return tcp(CONN_SPORT, seq=CONN_SEQ, ack=CONN_ACK, flags=flags, payload=payload, **kw)


CASES = []


def case(name, what, frames, mode="listen", expect="drop", watch=None, counts=(), later=False):
    CASES.append(dict(name=name, what=what, frames=frames, mode=mode, expect=expect,
                      watch=watch, counts=counts, later=later))


def build():
    port = iter(range(41001, 42000))

    # ---- Ethernet and ARP ----------------------------------------------------------------
    p = next(port)
    case("eth-header-only", "an Ethernet header (type IPv4) and nothing after it",
         [eth(b"")], watch="tcp %d" % p, counts=["dropped+1"])
    p = next(port)
    case("eth-unknown-ethertype", "ethertype 0x88b5 (local experimental) with 46 bytes",
         [eth(b"\x55" * 46, etype=0x88B5)], watch="tcp %d" % p,
         counts=["dropped+1"])
    # ARP header of 8 bytes only (hardware/protocol types and lengths, opcode request). The
    # priming frames before it (unknown ethertype, so dropped) leave a complete ARP request
    # "who has 198.18.0.2, tell 198.18.0.77" at the ARP offsets of recently used buffers: a
    # stack that reads a truncated ARP header past the frame finds that there and answers.
    arp_tail = (bytes.fromhex("020000000077") + bytes([198, 18, 0, 77]) + b"\0" * 6 +
                STACK_IP)
    prime = eth(bytes.fromhex("0001080006040001") + arp_tail + b"\0" * 18, etype=0x88B5)
    case("arp-truncated-header", "an ARP request cut after its first 8 bytes (no addresses), "
         "sent after 256 frames that leave a complete request for 198.18.0.2 from "
         "198.18.0.77 in the buffers' memory", [(256, prime),
                                                 eth(bytes.fromhex("0001080006040001"),
                                                     etype=ETH_ARP)],
         watch="arp 198.18.0.77", counts=["dropped+257"])

    # ---- IPv4 header ---------------------------------------------------------------------
    p = next(port)
    case("ip-truncated-header", "12 bytes of an IPv4 header (total length says 40)",
         [eth(ipv4(syn(p))[:12])], watch="tcp %d" % p, counts=["dropped+1"])
    p = next(port)
    case("ip-version-6-in-ipv4-frame", "an IPv4 SYN whose version field says 6",
         [eth(ipv4(syn(p), version=6))], watch="tcp %d" % p, counts=["dropped+1"])
    p = next(port)
    case("ip-header-length-below-5", "IPv4 header length 4 (16 bytes)",
         [eth(ipv4(syn(p), ihl=4, total=40))], watch="tcp %d" % p,
         counts=["dropped+1"])
    p = next(port)
    case("ip-header-length-past-frame", "IPv4 header length 15 (60 bytes) in a 40-byte packet",
         [eth(ipv4(syn(p), ihl=15, total=40))], watch="tcp %d" % p,
         counts=["dropped+1"])
    p = next(port)
    case("ip-total-length-larger-than-frame", "IPv4 total length 1000; the frame carries 40",
         [eth(ipv4(syn(p), total=1000))], watch="tcp %d" % p, counts=["dropped+1"])
    p = next(port)
    case("ip-total-length-smaller-than-header", "IPv4 total length 16, below its own header",
         [eth(ipv4(syn(p), total=16))], watch="tcp %d" % p, counts=["dropped+1"])
    p = next(port)
    case("ip-total-length-zero", "IPv4 total length 0", [eth(ipv4(syn(p), total=0))],
         watch="tcp %d" % p, counts=["dropped+1"])
    p = next(port)
    case("ip-total-length-smaller-than-frame", "a valid SYN followed by 30 bytes of junk "
         "beyond the IPv4 total length (Ethernet padding): must be answered",
         [eth(ipv4(syn(p)) + b"\xee" * 30)], expect="reply", watch="tcp %d" % p)
    p = next(port)
    case("ip-bad-header-checksum", "an IPv4 SYN whose header checksum is off by one",
         [eth(ipv4(syn(p), cksum=csum(ipv4(syn(p))[:20]) ^ 0x0001))], watch="tcp %d" % p,
         counts=["dropped+1", "cksum+1"])
    p = next(port)
    case("ip-option-length-past-header", "IPv4 header length 6 whose option (timestamp) "
         "claims 40 bytes", [eth(ipv4(syn(p), ihl=6, options=bytes([0x44, 40, 5, 0])))],
         expect="any", watch="tcp %d" % p)

    # ---- IPv4 fragments ------------------------------------------------------------------
    p = next(port)
    s = syn(p, options=struct.pack("!BBH", 2, 4, 1460))  # 24 bytes of TCP
    case("ip-fragment-first-only", "the first 16 bytes of a SYN as a first fragment (more "
         "fragments set), the rest never sent: held for reassembly, then given up",
         [eth(ipv4(s[:16], flags=0x1, ident=0x1001, total=36))], watch="tcp %d" % p,
         counts=["dropped+1"], later=True)
    p = next(port)
    s = syn(p, options=struct.pack("!BBH", 2, 4, 1460))
    case("ip-fragment-last-only", "the last 8 bytes of a SYN as the last fragment (offset 16)",
         [eth(ipv4(s[16:], flags=0x0, frag=2, ident=0x1002))], watch="tcp %d" % p,
         counts=["dropped+1"], later=True)
    p = next(port)
    s = syn(p, options=struct.pack("!BBH", 2, 4, 1460))
    case("ip-fragments-overlapping", "a SYN in two fragments that overlap by 8 bytes "
         "([0, 16) and [8, 24)): never a datagram", [
             eth(ipv4(s[:16], flags=0x1, ident=0x1003)),
             eth(ipv4(s[8:], flags=0x0, frag=1, ident=0x1003))], watch="tcp %d" % p,
         counts=["dropped+1"])
    p = next(port)
    case("ip-fragment-past-64k", "a last fragment at offset 65512 with 40 bytes: the datagram "
         "would end past 65535", [eth(ipv4(syn(p) + b"\0" * 20, flags=0x0, frag=8189,
                                           ident=0x1004))], watch="tcp %d" % p,
         counts=["dropped+1"])
    p = next(port)
    s = syn(p, options=struct.pack("!BBH", 2, 4, 1460))
    case("ip-fragments-tiny-first", "a valid SYN in two fragments whose first carries only 16 "
         "bytes of the TCP header ([0, 16) and [16, 24); RFC 1858 lets a receiver refuse it)",
         [eth(ipv4(s[:16], flags=0x1, ident=0x1005)),
          eth(ipv4(s[16:], flags=0x0, frag=2, ident=0x1005))], expect="any",
         watch="tcp %d" % p)
    p = next(port)
    s = syn(p, options=struct.pack("!BBHBBBBBBBBBBBBBBBB", 2, 4, 1460, 1, 3, 3, 7, 4, 2,
                                   1, 1, 1, 1, 1, 1, 1, 1, 1, 0))  # 40 bytes of TCP
    case("ip-fragments-valid-syn", "a valid SYN with 20 bytes of options in two fragments "
         "([0, 24) and [24, 40), the options split between them): reassembled and answered",
         [eth(ipv4(s[:24], flags=0x1, ident=0x1006)),
          eth(ipv4(s[24:], flags=0x0, frag=3, ident=0x1006))], expect="reply",
         watch="tcp %d" % p)

    # ---- TCP header ----------------------------------------------------------------------
    p = next(port)
    case("tcp-header-truncated", "an IPv4 packet with 12 bytes of TCP header",
         [eth(ipv4(syn(p)[:12]))], watch="tcp %d" % p, counts=["dropped+1"])
    p = next(port)
    case("tcp-data-offset-below-5", "TCP data offset 4 (16 bytes), checksum correct",
         [eth(ipv4(syn(p, doff=4)))], watch="tcp %d" % p, counts=["dropped+1"])
    p = next(port)
    case("tcp-data-offset-zero", "TCP data offset 0, checksum correct",
         [eth(ipv4(syn(p, doff=0)))], watch="tcp %d" % p, counts=["dropped+1"])
    p = next(port)
    case("tcp-data-offset-past-segment", "TCP data offset 15 (60 bytes) in a 20-byte segment",
         [eth(ipv4(syn(p, doff=15)))], watch="tcp %d" % p, counts=["dropped+1"])
    p = next(port)
    case("tcp-option-length-past-header", "a SYN whose MSS option claims 10 bytes in a 4-byte "
         "options area", [eth(ipv4(syn(p, options=bytes([2, 10, 5, 180]))))], expect="any",
         watch="tcp %d" % p)
    p = next(port)
    case("tcp-option-zero-length", "a SYN with an option of kind 8 and length 0",
         [eth(ipv4(syn(p, options=bytes([8, 0, 0, 0]))))], expect="any", watch="tcp %d" % p)
    p = next(port)
    case("tcp-option-length-one", "a SYN with an option of kind 3 and length 1",
         [eth(ipv4(syn(p, options=bytes([3, 1, 0, 0]))))], expect="any", watch="tcp %d" % p)
    p = next(port)
    case("tcp-option-kind-in-last-byte", "a SYN whose options end with an MSS kind byte and "
         "no length (NOP NOP NOP MSS), the frame ending there",
         [eth(ipv4(syn(p, options=bytes([1, 1, 1, 2]))))], expect="any", watch="tcp %d" % p)
    p = next(port)
    case("tcp-option-mss-zero", "a SYN announcing MSS 0",
         [eth(ipv4(syn(p, options=bytes([2, 4, 0, 0]))))], expect="any", watch="tcp %d" % p)
    p = next(port)
    case("tcp-option-wscale-200", "a SYN announcing window scale 200 (RFC 7323: use 14)",
         [eth(ipv4(syn(p, options=bytes([1, 3, 3, 200]))))], expect="any", watch="tcp %d" % p)
    p = next(port)
    case("tcp-bad-checksum", "a SYN whose TCP checksum is off by one",
         [eth(ipv4(flip_cksum(syn(p))))], watch="tcp %d" % p,
         counts=["dropped+1", "cksum+1"])
    p = next(port)
    case("tcp-checksum-zero", "a SYN with TCP checksum 0 (not valid: TCP has no 'no checksum')",
         [eth(ipv4(syn(p, cksum=0)))], watch="tcp %d" % p,
         counts=["dropped+1", "cksum+1"])
    p = next(port)
    case("tcp-to-broadcast-address", "a SYN to the subnet's broadcast address 198.18.0.255",
         [eth(ipv4(syn(p, dst=BCAST_IP), dst=BCAST_IP), dst=b"\xff" * 6)], watch="tcp %d" % p,
         counts=["dropped+1"])
    p = next(port)
    case("tcp-syn-fin", "SYN and FIN together", [eth(ipv4(tcp(p, flags=SYN | FIN)))],
         expect="any", watch="tcp %d" % p)

    # ---- IPv6 (issue 12) -------------------------------------------------------------------
    # Each case starts with nd_prime(): the stack learns the peer's link-layer address from
    # it, so that an answer (SYN-ACK, ICMPv6 error) would go out at once, and "no answer"
    # means the stack chose not to answer. The watch "tcp6 PORT" matches a TCP segment to that
    # port or any ICMPv6 error from the stack.
    def v6(name, what, frames, **kw):
        case(name, what, [nd_prime()] + frames, **kw)

    def eth6(payload):
        return eth(payload, etype=ETH_IPV6)

    p = next(port)
    v6("ipv6-truncated-header", "30 bytes of an IPv6 header", [eth6(ipv6(tcp6(p, flags=SYN,
       seq=1))[:30])], watch="tcp6 %d" % p, counts=["dropped+1"])
    p = next(port)
    v6("ipv6-payload-length-larger-than-frame", "an IPv6 SYN whose payload length says 1000; "
       "the frame carries 20", [eth6(ipv6(tcp6(p, flags=SYN, seq=1), plen=1000))],
       watch="tcp6 %d" % p, counts=["dropped+1"])
    p = next(port)
    v6("ipv6-payload-length-smaller-than-frame", "a valid IPv6 SYN followed by 30 bytes of "
       "junk beyond the payload length (padding): must be answered",
       [eth6(ipv6(tcp6(p, flags=SYN, seq=1)) + b"\xee" * 30)], expect="reply",
       watch="tcp6 %d" % p)
    p = next(port)
    v6("ipv6-payload-length-cuts-tcp-header", "an IPv6 SYN whose payload length (12) ends "
       "inside the TCP header; the frame carries all 20", [eth6(ipv6(tcp6(p, flags=SYN, seq=1),
                                                                   plen=12))],
       watch="tcp6 %d" % p, counts=["dropped+1"])
    p = next(port)
    v6("ipv6-payload-length-zero", "an IPv6 SYN with payload length 0",
       [eth6(ipv6(tcp6(p, flags=SYN, seq=1), plen=0))], watch="tcp6 %d" % p,
       counts=["dropped+1"])
    p = next(port)
    s = tcp6(p, flags=SYN, seq=1)
    chain = (ext6(60, bytes([1, 0])) +            # hop-by-hop: PadN
             ext6(43, bytes([1, 0])) +            # destination options: PadN
             ext6(44, bytes([0, 0])) +            # routing: type 0, segments left 0 (ignored)
             frag6(6, 0, 0, 0x51))                # fragment header of an atomic fragment
    v6("ipv6-extension-chain-valid-syn", "a valid SYN after hop-by-hop, destination options, "
       "routing (segments left 0) and fragment (atomic) headers: must be answered",
       [eth6(ipv6(chain + s, nh=0))], expect="reply", watch="tcp6 %d" % p)
    p = next(port)
    s = tcp6(p, flags=SYN, seq=1)
    chain = b"".join(ext6(60) for _ in range(39)) + ext6(6)
    v6("ipv6-extension-chain-long", "a SYN after 40 destination options headers (320 bytes): "
       "RFC 8200 sets no limit, a stack may refuse a chain this long",
       [eth6(ipv6(chain + s, nh=60))], expect="any", watch="tcp6 %d" % p)
    p = next(port)
    s = tcp6(p, flags=SYN, seq=1)
    v6("ipv6-extension-header-past-frame", "a hop-by-hop header, then a destination options "
       "header claiming 2048 bytes in a 48-byte payload",
       [eth6(ipv6(ext6(60, bytes([1, 0])) + bytes([6, 255, 1, 4, 0, 0, 0, 0]) + s, nh=0))],
       watch="tcp6 %d" % p, counts=["dropped+1"])
    p = next(port)
    s = tcp6(p, flags=SYN, seq=1)
    v6("ipv6-extension-chain-past-payload-length", "a destination options header that the "
       "payload length (4) cuts; the frame carries it and a SYN",
       [eth6(ipv6(ext6(6, bytes([1, 0])) + s, nh=60, plen=4))], watch="tcp6 %d" % p,
       counts=["dropped+1"])
    p = next(port)
    v6("ipv6-unknown-next-header", "next header 253 (experimental) with 20 bytes: dropped "
       "(RFC 8200 has the stack send a parameter problem)",
       [eth6(ipv6(b"\x55" * 20, nh=253))], expect="any", watch="tcp6 %d" % p,
       counts=["dropped+1"])
    p = next(port)
    s = tcp6(p, flags=SYN, seq=1)
    v6("ipv6-hop-by-hop-not-first", "a hop-by-hop header after a destination options header "
       "(RFC 8200: only first)", [eth6(ipv6(ext6(0) + ext6(6) + s, nh=60))], expect="any",
       watch="tcp6 %d" % p, counts=["dropped+1"])
    p = next(port)
    s = tcp6(p, flags=SYN, seq=1)
    v6("ipv6-routing-type-0-segments-left", "a routing header of the deprecated type 0 with "
       "segments left 1 (RFC 5095: discard)",
       [eth6(ipv6(ext6(6, bytes([0, 1, 0, 0, 0, 0]) + PEER_IP6) + s, nh=43))],
       expect="any", watch="tcp6 %d" % p, counts=["dropped+1"])
    p = next(port)
    s = tcp6(p, flags=SYN, seq=1)
    v6("ipv6-fragment-length-not-multiple-of-8", "a first fragment (more fragments set) "
       "whose payload length is not a multiple of 8", [eth6(ipv6(frag6(6, 0, 1, 0x52) +
                                                                 s[:13], nh=44))],
       expect="any", watch="tcp6 %d" % p, counts=["dropped+1"])
    p = next(port)
    s = tcp6(p, flags=SYN, seq=1, options=struct.pack("!BBH", 2, 4, 1440))  # 24 bytes
    v6("ipv6-fragments-tiny-first", "a valid SYN in two IPv6 fragments whose first carries "
       "only 16 bytes of the TCP header ([0, 16) and [16, 24); lwIP wants the TCP header in "
       "one piece, RFC 1858 lets a receiver refuse it)",
       [eth6(ipv6(frag6(6, 0, 1, 0x53) + s[:16], nh=44)),
        eth6(ipv6(frag6(6, 2, 0, 0x53) + s[16:], nh=44))], expect="any", watch="tcp6 %d" % p)
    p = next(port)
    s = tcp6(p, flags=SYN, seq=1, options=struct.pack("!BBHBBBBBBBBBBBBBBBB", 2, 4, 1440, 1, 3,
                                                      3, 7, 4, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                                      0))  # 40 bytes of TCP
    v6("ipv6-fragments-valid-syn", "a valid SYN with 20 bytes of options in two IPv6 "
       "fragments ([0, 24) and [24, 40), the options split between them): reassembled and "
       "answered", [eth6(ipv6(frag6(6, 0, 1, 0x54) + s[:24], nh=44)),
                    eth6(ipv6(frag6(6, 3, 0, 0x54) + s[24:], nh=44))],
       expect="reply", watch="tcp6 %d" % p)
    echo = struct.pack("!HH", 0x4242, 1) + b"ping" * 4
    p = next(port)
    v6("icmpv6-truncated-header", "ICMPv6 with 2 bytes (type and code, no checksum)",
       [eth6(ipv6(bytes([128, 0]), nh=58))], watch="tcp6 %d" % p, counts=["dropped+1"])
    p = next(port)
    v6("icmpv6-echo-bad-checksum", "an ICMPv6 echo request whose checksum is off by one",
       [eth6(ipv6(flip16(icmp6(128, 0, echo), 2), nh=58))], watch="tcp6 %d" % p,
       counts=["dropped+1", "cksum+1"])
    p = next(port)
    v6("icmpv6-echo-truncated", "an ICMPv6 echo request of 6 bytes (no sequence number)",
       [eth6(ipv6(icmp6(128, 0, echo[:2]), nh=58))], expect="any", watch="tcp6 %d" % p)
    p = next(port)
    v6("icmpv6-neighbour-solicitation-truncated", "a neighbour solicitation of 12 bytes (no "
       "whole target address)", [eth6(ipv6(icmp6(135, 0, b"\0" * 4 + STACK_IP6[:4]), nh=58,
                                           hlim=255))],
       watch="tcp6 %d" % p, counts=["dropped+1"])
    p = next(port)
    other = bytes.fromhex("20010002000000000000000000000099")
    v6("icmpv6-neighbour-solicitation-option-length-zero", "a neighbour solicitation from an "
       "address the stack has no entry for, whose source link-layer address option has "
       "length 0 and ends the frame (RFC 4861: discard; lwIP 2.1.3 took the 6 bytes past the "
       "frame for the address, stack/patches/0028)",
       [eth6(ipv6(icmp6(135, 0, b"\0" * 4 + STACK_IP6 + bytes([1, 0]), src=other), nh=58,
                  src=other, hlim=255))], watch="tcp6 %d" % p, counts=["dropped+1"])
    p = next(port)
    v6("icmpv6-neighbour-advertisement-truncated", "a neighbour advertisement of 12 bytes",
       [eth6(ipv6(icmp6(136, 0, bytes([0x60, 0, 0, 0]) + PEER_IP6[:4]), nh=58, hlim=255))],
       watch="tcp6 %d" % p, counts=["dropped+1"])
    p = next(port)
    v6("tcp6-bad-checksum", "an IPv6 SYN whose TCP checksum is off by one",
       [eth6(ipv6(flip_cksum(tcp6(p, flags=SYN, seq=1))))], watch="tcp6 %d" % p,
       counts=["dropped+1", "cksum+1"])
    p = next(port)
    v6("tcp6-data-offset-past-segment", "an IPv6 SYN with TCP data offset 15 in a 20-byte "
       "segment", [eth6(ipv6(tcp6(p, flags=SYN, seq=1, doff=15)))], watch="tcp6 %d" % p,
       counts=["dropped+1"])
    p = next(port)
    v6("tcp6-header-truncated", "an IPv6 packet with 12 bytes of TCP header",
       [eth6(ipv6(tcp6(p, flags=SYN, seq=1)[:12]))], watch="tcp6 %d" % p,
       counts=["dropped+1"])

    # ---- inside an established connection ------------------------------------------------
    good = conn_seg()
    case("conn-tcp-bad-checksum-with-data", "in-window data whose TCP checksum is off by one",
         [eth(ipv4(flip_cksum(good)))], mode="conn",
         counts=["dropped+1", "cksum+1"])
    case("conn-ip-bad-checksum-with-data", "in-window data whose IPv4 header checksum is off",
         [eth(ipv4(good, cksum=csum(ipv4(good)[:20]) ^ 0x0100))], mode="conn",
         counts=["dropped+1", "cksum+1"])
    case("conn-ip-total-length-larger-than-frame", "in-window data, IPv4 total length 40 more "
         "than the frame carries", [eth(ipv4(good, total=20 + len(good) + 40))], mode="conn",
         counts=["dropped+1"])
    hdr_only = conn_seg(payload=JUNK, cksum_len=20)
    case("conn-ip-total-length-excludes-payload", "an ACK whose IPv4 total length covers the "
         "TCP header only, the frame carrying 98 more bytes of junk (padding, not data)",
         [eth(ipv4(hdr_only, total=40))], mode="conn", expect="any")
    case("conn-tcp-data-offset-past-segment", "in-window data, TCP data offset 15 in a "
         "segment of 20 + 8 bytes", [eth(ipv4(conn_seg(payload=JUNK[:8], doff=15)))],
         mode="conn", counts=["dropped+1"])
    case("conn-tcp-data-offset-below-5", "in-window data, TCP data offset 3",
         [eth(ipv4(conn_seg(doff=3)))], mode="conn", counts=["dropped+1"])
    case("conn-tcp-header-truncated", "an IPv4 packet of the connection with 16 bytes of "
         "TCP header (the frame carries the rest: not counted by IPv4's length)",
         [eth(ipv4(good, total=20 + 16))], mode="conn", counts=["dropped+1"])
    frag = ipv4(good[:24], flags=0x1, ident=0x2001)
    case("conn-ip-fragment-with-data", "the first 24 bytes of an in-window data segment as a "
         "fragment, never completed", [eth(frag)], mode="conn", counts=["dropped+1"],
         later=True)
    case("conn-tcp-option-zero-length", "an ACK without data carrying an option of length 0",
         [eth(ipv4(conn_seg(payload=b"", options=bytes([8, 0, 0, 0]))))], mode="conn",
         expect="any")
    case("conn-tcp-option-kind-in-last-byte", "an ACK without data whose options end with a "
         "window-scale kind byte", [eth(ipv4(conn_seg(payload=b"", options=bytes([1, 1, 1, 3]))))],
         mode="conn", expect="any")


def write(folder):
    names = set()
    for c in CASES:
        assert c["name"] not in names, c["name"]
        names.add(c["name"])
        lines = ["# " + c["name"], "# " + c["what"], "# mode: " + c["mode"],
                 "# expect: " + c["expect"]]
        if c["watch"]:
            lines.append("# watch: " + c["watch"])
        if c["counts"]:
            lines.append("# counts: " + " ".join(c["counts"]))
        if c["later"]:
            lines.append("# counted: later")
        for f in c["frames"]:
            n, f = f if isinstance(f, tuple) else (1, f)
            lines.append("frame" + (" x%d" % n if n > 1 else ""))
            h = f.hex()
            lines += [h[i:i + 64] for i in range(0, len(h), 64)]
        with open(os.path.join(folder, c["name"] + ".hex"), "w") as out:
            out.write("\n".join(lines) + "\n")
    # files of cases that no longer exist
    for f in os.listdir(folder):
        if f.endswith(".hex") and f[:-4] not in names:
            os.remove(os.path.join(folder, f))
    print("%d cases written to %s" % (len(CASES), folder))


if __name__ == "__main__":
    build()
    write(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
