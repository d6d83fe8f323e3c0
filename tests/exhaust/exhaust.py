"""The kernel's side of suite exhaust (tests/exhaust/exhaust.sh): rf-echo running out of packet
buffers, of flows, and held out-of-order data. Runs in the test's namespace next to rf-echo
(198.18.0.2:7, the kernel at 198.18.0.1); reads rf-echo's counters through DPDK's telemetry
socket of file prefix PREFIX (tests/observability/observe.py's client).

    exhaust.py pool PREFIX HOGS     a 48 MiB echo stream (4 MiB/s); HOGS clients then send without
                                    reading until the pool is low; the stream must keep
                                    moving, finish intact once they reset, and a new
                                    connection must echo afterwards
    exhaust.py flows PREFIX MAX     a 24 MiB echo stream (4 MiB/s), then 3 x MAX more connections against
                                    rf-echo --max-flows MAX: the excess is reset and counted,
                                    the stream keeps moving, a new connection echoes afterwards
    exhaust.py ooseq PREFIX N       two crafted connections (scapy, as 198.18.0.3) each send N
                                    1-byte segments behind a one-byte hole: each holds at most
                                    1024 (TCP_OOSEQ_MAX_PBUFS), both together at most a
                                    quarter of the pool; a kernel connection echoes meanwhile;
                                    filling the hole delivers exactly what was held
    exhaust.py server PORT SECONDS  for exhaust_connect (tests/exhaust/connect.c): listens on
                                    PORT; the first connection gets random data until it goes,
                                    later ones are echoed; ends after SECONDS

Prints one JSON object with the figures ("error" names the failed check); exit 0 or 1. Every
wait is bounded; traffic stays inside the namespace, to 198.18.0.0/24.
"""
import hashlib
import json
import os
import socket
import sys
import threading
import time

SRC = os.environ.get("RF_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "observability"))
sys.path.insert(0, os.path.join(SRC, "tests", "security"))
from observe import Telemetry  # noqa: E402  (DPDK telemetry client)

HOST, PORT = "198.18.0.2", 7
MIB = 1 << 20
OOSEQ_MAX_PBUFS = 1024  # stack/include/lwipopts.h TCP_OOSEQ_MAX_PBUFS
OOSEQ_POOL_SHARE = 4    # stack/rf_security.h RF_OOSEQ_POOL_SHARE


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


class Stream:
    """total random bytes through rf-echo: a writer thread, a reader thread, SHA-256 of both."""

    def __init__(self, total, seconds, rate=None):
        self.total, self.rx, self.error, self.rate = total, 0, None, rate
        self.sock = socket.create_connection((HOST, PORT), timeout=seconds)
        self.tx_sha, self.rx_sha = hashlib.sha256(), hashlib.sha256()
        self.done = threading.Event()
        threading.Thread(target=self._write, daemon=True).start()
        threading.Thread(target=self._read, daemon=True).start()

    def _write(self):
        try:
            left, start = self.total, time.monotonic()
            while left > 0:
                if self.rate:  # paced: rate bytes a second
                    time.sleep(max(0, start + (self.total - left) / self.rate - time.monotonic()))
                block = os.urandom(min(MIB // 16 if self.rate else MIB, left))
                self.tx_sha.update(block)
                self.sock.sendall(block)
                left -= len(block)
            self.sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.error = "write: %s" % e

    def _read(self):
        try:
            while True:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    break
                self.rx_sha.update(chunk)
                self.rx += len(chunk)
        except OSError as e:
            self.error = "read: %s" % e
        self.done.set()

    def finish(self, seconds):
        """True when every byte came back intact within seconds."""
        self.done.wait(seconds)
        return (self.done.is_set() and self.error is None and self.rx == self.total and
                self.rx_sha.digest() == self.tx_sha.digest())


def echo_once(nbytes, seconds=10):
    """A new connection echoes nbytes intact: True, or the reason it did not."""
    s = Stream(nbytes, seconds)
    return True if s.finish(seconds) else "rx %d of %d, error %s" % (s.rx, nbytes, s.error)


def watch(tel, seconds, stream, out, every=1.0):
    """Samples the counters and the stream's progress; returns the samples."""
    samples, until = [], time.monotonic() + seconds
    while time.monotonic() < until:
        time.sleep(every)
        st = tel("/rawflow/stats")
        samples.append({"rx": stream.rx if stream else 0, **{k: st[k] for k in (
            "mbufs_in_use", "mbufs_idle", "rx_nombuf", "alloc_failures",
            "rx_pool_low_dropped", "flows_open", "accept_refused", "ooseq_pbufs",
            "ooseq_dropped")}})
    out["samples"] = samples
    return samples


def scenario_pool(tel, hogs, out):
    stream = Stream(48 * MIB, 60, rate=4 * MIB)  # 12 s: outlasts the 6 s watched below
    time.sleep(0.5)
    socks = []
    for _ in range(hogs):
        h = socket.create_connection((HOST, PORT), timeout=5)
        h.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        h.setblocking(False)
        socks.append(h)
    block = os.urandom(1 << 16)
    low_at, start = None, time.monotonic()
    while time.monotonic() - start < 15 and low_at is None:  # send until the pool is low
        for h in socks:
            try:
                h.send(block)
            except BlockingIOError:
                pass
        st = tel("/rawflow/stats")
        if st["rx_pool_low_dropped"] > 0 and st["mbufs_in_use"] > st["mbufs_idle"]:
            low_at = time.monotonic() - start
    check(low_at is not None, "the pool ran low within 15 s of %d clients sending without "
          "reading (rx_pool_low_dropped > 0)" % hogs)
    out["low_after_s"] = round(low_at, 2)
    before = stream.rx
    samples = watch(tel, 6, stream, out)
    rx = [before] + [s["rx"] for s in samples]
    out["stream_bytes_while_low"] = rx[-1] - before
    out["dropped_while_watched"] = (samples[-1]["rx_pool_low_dropped"] -
                                    samples[0]["rx_pool_low_dropped"])
    check(out["dropped_while_watched"] > 0, "the pool stayed low for the 6 s watched (the "
          "clients' retransmitted data kept being dropped: rx_pool_low_dropped grew)")
    stalls = sum(1 for a, b in zip(rx[::2], rx[2::2]) if b == a)
    check(stream.rx < stream.total, "the stream was still running while the pool was low "
          "(lengthen it if the machine got faster)")
    check(stalls == 0, "the stream kept moving while the pool was low: bytes arrived in every "
          "2 s of 6 (progress %s)" % rx)
    check(all(s["rx_nombuf"] == 0 for s in samples),
          "the pool never ran dry (rx_nombuf stayed 0): %s" % samples[-1])
    for h in socks:  # load drops: the clients reset
        h.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        h.close()
    t = time.monotonic()
    check(stream.finish(40), "the stream finished intact (SHA-256 equal) after the clients "
          "reset: rx %d of %d, error %s" % (stream.rx, stream.total, stream.error))
    out["stream_finish_after_reset_s"] = round(time.monotonic() - t, 2)
    again = echo_once(MIB)
    check(again is True, "a new connection echoes 1 MiB after the clients left: %s" % again)
    st = tel("/rawflow/stats")
    out["final"] = {k: st[k] for k in ("rx_pool_low_dropped", "rx_nombuf", "alloc_failures",
                                       "mbufs_in_use", "mbufs_idle")}


def scenario_flows(tel, max_flows, out):
    stream = Stream(24 * MIB, 60, rate=4 * MIB)  # 6 s: longer than the burst
    time.sleep(0.3)
    before = tel("/rawflow/stats")["accept_refused"]
    held, refused = [], 0
    for _ in range(3 * max_flows):
        s, got = None, b""
        try:  # the handshake completes, then a refused connection is reset
            s = socket.create_connection((HOST, PORT), timeout=5)
            s.settimeout(3)
            s.sendall(b"x" * 100)
            got = s.recv(100)
        except ConnectionResetError:
            pass
        if got:
            held.append(s)
        else:
            refused += 1
            if s is not None:
                s.close()
    out["held"], out["refused"] = len(held), refused
    check(len(held) == max_flows - 1, "rf-echo held exactly --max-flows %d (the stream and %d "
          "more), held %d" % (max_flows, max_flows - 1, len(held)))
    mid = stream.rx
    st = watch(tel, 2, stream, out)[-1]
    out["accept_refused"] = st["accept_refused"] - before
    check(out["accept_refused"] == refused, "every refused connection was counted in "
          "accept_refused (%d refused, %d counted)" % (refused, out["accept_refused"]))
    check(not stream.done.is_set(), "the stream outlasted the burst")
    check(st["flows_open"] == max_flows, "flows_open %d == --max-flows" % st["flows_open"])
    check(stream.rx > mid, "the stream kept moving after the burst")
    for s in held:
        s.close()
    check(stream.finish(40), "the stream finished intact (SHA-256 equal): rx %d of %d, %s" %
          (stream.rx, stream.total, stream.error))
    again = echo_once(MIB)
    check(again is True, "a new connection echoes 1 MiB after the burst: %s" % again)


def scenario_ooseq(tel, n, pool, out):
    from peer import Crafted, Wire, seq_add  # tests/security/peer.py (scapy)
    wire = Wire()
    wire.announce("198.18.0.3")
    core_max = pool // OOSEQ_POOL_SHARE
    base = tel("/rawflow/stats")
    flows = [Crafted(wire, 42001), Crafted(wire, 42002)]
    for c in flows:  # a hole at offset 0, then n one-byte segments after it
        frames = [wire.tcp("198.18.0.3", c.sport, seq_add(c.snd_nxt, 1 + i), c.rcv_nxt, "A",
                           b"%c" % (65 + i % 26)) for i in range(n)]
        sent = wire.send_all(frames, 20, rate=10000)
        check(sent == n, "sent %d of %d out-of-order segments" % (sent, n))
    time.sleep(0.5)
    st = tel("/rawflow/stats")
    out["ooseq_pbufs"] = st["ooseq_pbufs"]
    out["ooseq_dropped"] = st["ooseq_dropped"] - base["ooseq_dropped"]
    out["pinned"] = st["mbufs_in_use"] - base["mbufs_in_use"]
    want = min(2 * OOSEQ_MAX_PBUFS, core_max)
    check(st["ooseq_pbufs"] == want, "the two flows hold %d out-of-order segments (1024 each, "
          "at most a quarter of the %d-element pool), hold %d" % (want, pool,
                                                                   st["ooseq_pbufs"]))
    check(out["ooseq_dropped"] > 0 or core_max >= 2 * OOSEQ_MAX_PBUFS,
          "the per-core bound's drops are counted (ooseq_dropped)")
    check(out["pinned"] <= want + 64, "the pool holds no more than that (+64): %d more "
          "elements in use" % out["pinned"])
    again = echo_once(MIB)
    check(again is True, "a kernel connection echoes 1 MiB meanwhile: %s" % again)
    first = flows[0]  # fill its hole: what was held is delivered, up to the bound
    first.send(b"@", "A")
    ack = first.latest_ack(1.5)
    got = None if ack is None else (ack.ack - first.snd_nxt) & 0xFFFFFFFF
    out["acked_after_fill"] = got
    check(got == 1 + OOSEQ_MAX_PBUFS, "filling the hole delivered the 1 + 1024 bytes held "
          "(acknowledged %s)" % got)
    for c in flows:
        c.reset()
    time.sleep(0.5)
    st = tel("/rawflow/stats")
    check(st["ooseq_pbufs"] == 0, "nothing held once the flows reset (ooseq_pbufs %d)" %
          st["ooseq_pbufs"])


def serve(port, seconds):
    """The kernel's side of exhaust_connect; prints what it did."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(8)
    ls.settimeout(seconds)
    until, n = time.monotonic() + seconds, 0

    def stream(s):
        block, sent = os.urandom(1 << 16), 0
        s.settimeout(1)
        while time.monotonic() < until:
            try:
                sent += s.send(block)
            except socket.timeout:
                continue
            except OSError:
                break
        print("server: streamed %d bytes" % sent, flush=True)

    def echo(s):
        s.settimeout(max(until - time.monotonic(), 0.1))
        got = 0
        try:
            while True:
                chunk = s.recv(1 << 16)
                if not chunk:
                    break
                s.sendall(chunk)
                got += len(chunk)
        except OSError:
            pass
        print("server: echoed %d bytes" % got, flush=True)

    print("server: listening on %d" % port, flush=True)
    while time.monotonic() < until:
        try:
            s, _ = ls.accept()
        except (socket.timeout, OSError):
            break
        threading.Thread(target=stream if n == 0 else echo, args=(s,), daemon=True).start()
        n += 1
    return 0


def main(argv):
    if len(argv) == 4 and argv[1] == "server":
        return serve(int(argv[2]), float(argv[3]))
    if len(argv) not in (4, 5) or argv[1] not in ("pool", "flows", "ooseq"):
        print(__doc__, file=sys.stderr)
        return 2
    out = {"scenario": argv[1]}
    try:
        tel = Telemetry(argv[2])
        if argv[1] == "pool":
            scenario_pool(tel, int(argv[3]), out)
        elif argv[1] == "flows":
            scenario_flows(tel, int(argv[3]), out)
        else:
            scenario_ooseq(tel, int(argv[3]), int(argv[4]), out)
    except (Failed, OSError) as e:
        out["error"] = str(e)
    print(json.dumps(out, indent=1))
    return 1 if "error" in out else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
