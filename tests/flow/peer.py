#!/usr/bin/python3
"""The kernel-socket peer of the flow suite's scenarios (tests/flow/run.sh starts it).

    peer.py SCENARIO --port N [--bytes N] [--host 198.18.0.2]

Each scenario of flowtest has a function here of the same name. The peer runs inside the
test's network namespace and talks to rawflow at 198.18.0.2 (or, for the client role,
listens for it). It prints what it did on stdout, each line prefixed "peer: "; digests as
"peer: sha256 rx|tx <hex> <bytes>" for run.sh to compare with flowtest's. Exit status 0
when everything the peer can see was right, 1 otherwise (the reason on a "peer: FAIL" line).

Every wait is bounded: connect retries for CONNECT_TIMEOUT, every socket operation times out
after IO_TIMEOUT (30 s, or PEER_IO_TIMEOUT seconds from the environment).
"""
import argparse
import hashlib
import os
import random
import socket
import struct
import sys
import threading
import time

CONNECT_TIMEOUT = 10.0
IO_TIMEOUT = float(os.environ.get("PEER_IO_TIMEOUT", "30"))
CHUNK = 64 * 1024


class PeerFail(Exception):
    pass


def say(msg):
    print(f"peer: {msg}", flush=True)


def digest_line(direction, h, n):
    say(f"sha256 {direction} {h.hexdigest()} {n}")


def connect(host, port, sndbuf=None):
    """Connects, retrying while rawflow comes up (refused, unreachable, no ARP reply yet)."""
    deadline = time.monotonic() + CONNECT_TIMEOUT
    last = None
    while time.monotonic() < deadline:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if sndbuf is not None:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        s.settimeout(1.0)
        try:
            s.connect((host, port))
            s.settimeout(IO_TIMEOUT)
            return s
        except OSError as e:
            last = e
            s.close()
            time.sleep(0.1)
    raise PeerFail(f"cannot connect to {host}:{port} within {CONNECT_TIMEOUT:.0f} s: {last}")


def random_chunks(total, seed, sizes=(CHUNK,)):
    """Pseudo-random payload in chunks (reproducible, cheaper than os.urandom)."""
    rng = random.Random(seed)
    left = total
    while left > 0:
        n = min(left, rng.choice(sizes))
        yield rng.randbytes(n)
        left -= n


def send_all(s, total, seed, h, sizes=(CHUNK,)):
    sent = 0
    for chunk in random_chunks(total, seed, sizes):
        s.sendall(chunk)
        h.update(chunk)
        sent += len(chunk)
    return sent


def recv_to_eof(s, h=None):
    """Receives until the peer's FIN; returns the byte count."""
    n = 0
    while True:
        data = s.recv(CHUNK)
        if not data:
            return n
        n += len(data)
        if h is not None:
            h.update(data)


def expect_eof_only(s, what):
    got = recv_to_eof(s)
    if got:
        raise PeerFail(f"{what}: received {got} bytes before EOF, expected none")


# ---- scenarios --------------------------------------------------------------------------


def test_read_returns_data_then_eof(a):
    s = connect(a.host, a.port)
    h = hashlib.sha256()
    n = send_all(s, a.bytes, 1, h)
    s.shutdown(socket.SHUT_WR)
    say(f"sent {n} bytes and FIN")
    digest_line("tx", h, n)
    expect_eof_only(s, "after our FIN")
    say("got rawflow's FIN")
    s.close()


def test_write_delivers_64mib_to_kernel(a):
    s = connect(a.host, a.port)
    h = hashlib.sha256()
    n = recv_to_eof(s, h)
    say(f"received {n} bytes, then FIN")
    digest_line("rx", h, n)
    s.close()
    if n != a.bytes:
        raise PeerFail(f"received {n} bytes, expected {a.bytes}")


def test_odd_length_writes_reach_kernel(a):
    test_write_delivers_64mib_to_kernel(a)


def test_client_role_echo_64mib(a):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", a.port))
    ls.listen(1)
    ls.settimeout(IO_TIMEOUT)
    say(f"LISTENING on port {a.port}")
    s, addr = ls.accept()
    ls.close()
    s.settimeout(IO_TIMEOUT)
    say(f"accepted {addr[0]}:{addr[1]}")
    h = hashlib.sha256()
    n = 0
    while True:
        data = s.recv(CHUNK)
        if not data:
            break
        h.update(data)
        s.sendall(data)
        n += len(data)
    say(f"echoed {n} bytes, then got FIN")
    digest_line("rx", h, n)
    digest_line("tx", h, n)
    s.close()
    if n != a.bytes:
        raise PeerFail(f"echoed {n} bytes, expected {a.bytes}")


def test_close_completes_after_peer_fin(a):
    s = connect(a.host, a.port)
    got = b""
    while True:
        data = s.recv(CHUNK)
        if not data:
            break
        got += data
    if got != b"hello":
        raise PeerFail(f"before rawflow's FIN received {got[:40]!r}, expected b'hello'")
    say("received b'hello' then FIN; waiting 1 s before sending and closing")
    time.sleep(1.0)
    h = hashlib.sha256()
    n = send_all(s, a.bytes, 2, h)
    digest_line("tx", h, n)
    s.close()
    say(f"sent {n} bytes after rawflow's FIN, then closed")


def test_read_gets_econnreset_on_peer_reset(a):
    s = connect(a.host, a.port)
    h = hashlib.sha256()
    send_all(s, a.bytes, 3, h)
    sig = s.recv(1)
    if sig != b"R":
        raise PeerFail(f"expected the signal byte b'R', got {sig!r}")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    say(f"sent {a.bytes} bytes, got b'R', closed with SO_LINGER {{1, 0}} (RST)")


def test_connect_refused(a):
    raise PeerFail("this scenario has no peer")


def test_connect_without_route_fails(a):
    raise PeerFail("this scenario has no peer")


def test_completions_never_reentrant(a):
    sa = connect(a.host, a.port)
    sb = connect(a.host, a.port + 1)
    tx = hashlib.sha256()
    failure = []

    def send_a():
        try:
            # odd sizes, so that rawflow's reads and writes come in all shapes
            send_all(sa, a.bytes, 4, tx, sizes=(1, 7, 100, 1460, 4000, 30000))
            sa.shutdown(socket.SHUT_WR)
        except OSError as e:
            failure.append(f"A: sending: {e}")

    sender = threading.Thread(target=send_a, daemon=True)
    sender.start()
    # B: a few bytes, then rawflow aborts: RST
    sb.sendall(b"B" * 100)
    try:
        nb = recv_to_eof(sb)
        failure.append(f"B: got FIN after {nb} bytes, expected a reset (rawflow aborts B)")
    except ConnectionResetError:
        say("B: reset by rawflow, as expected")
    sb.close()
    rx = hashlib.sha256()
    n = recv_to_eof(sa, rx)
    sender.join(IO_TIMEOUT)
    if sender.is_alive():
        failure.append("A: sender still blocked")
    say(f"A: {n} bytes echoed, then FIN")
    digest_line("tx", tx, a.bytes)
    digest_line("rx", rx, n)
    sa.close()
    if n != a.bytes:
        failure.append(f"A: {n} bytes echoed, sent {a.bytes}")
    elif rx.digest() != tx.digest():
        failure.append("A: the echo differs from what was sent")
    if failure:
        raise PeerFail("; ".join(failure))


def test_slow_reader_holds_peer_back(a):
    # a small send buffer, so that what sendall pushed is mostly rawflow's window
    s = connect(a.host, a.port, sndbuf=256 * 1024)
    t0 = time.monotonic()
    sndbuf = s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    h = hashlib.sha256()
    pushed = [0]
    failure = []

    def sender():
        try:
            for chunk in random_chunks(a.bytes, 5):
                s.sendall(chunk)
                h.update(chunk)
                pushed[0] += len(chunk)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            failure.append(f"sending: {e}")

    th = threading.Thread(target=sender, daemon=True)
    th.start()
    time.sleep(max(0.0, t0 + 1.0 - time.monotonic()))
    at1 = pushed[0]
    time.sleep(max(0.0, t0 + 1.5 - time.monotonic()))
    at15 = pushed[0]
    say(f"sendall pushed {at1} bytes by 1.0 s, {at15} by 1.5 s (SO_SNDBUF {sndbuf})")
    limit = 4 * 1024 * 1024
    if at15 > limit:
        failure.append(f"pushed {at15} bytes while rawflow read nothing (limit {limit})")
    if at15 - at1 > 64 * 1024:
        failure.append(f"still pushing between 1.0 and 1.5 s ({at15 - at1} bytes): not held back")
    if at15 >= a.bytes:
        failure.append("everything was pushed while rawflow read nothing")
    th.join(60)
    if th.is_alive():
        failure.append("sender still blocked 60 s later")
    else:
        say(f"sent {pushed[0]} bytes and FIN after {time.monotonic() - t0:.2f} s")
        digest_line("tx", h, pushed[0])
        try:
            expect_eof_only(s, "after our FIN")
        except OSError as e:
            failure.append(f"waiting for rawflow's FIN: {e}")
    s.close()
    if failure:
        raise PeerFail("; ".join(failure))


def test_misuse_returns_errors(a):
    s = connect(a.host, a.port)
    s.sendall(b"m" * a.bytes)
    expect_eof_only(s, "after sending")
    say(f"sent {a.bytes} bytes, got rawflow's FIN, closing")
    s.close()


def test_final_callbacks_refuse_new_requests(a):
    s = connect(a.host, a.port)
    expect_eof_only(s, "before rawflow's FIN")
    say("got rawflow's FIN, closing")
    s.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("scenario")
    p.add_argument("--host", default="198.18.0.2")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--bytes", type=int, default=0)
    a = p.parse_args()
    fn = globals().get(a.scenario)
    if not a.scenario.startswith("test_") or not callable(fn):
        print(f"peer: FAIL no scenario {a.scenario!r}", flush=True)
        return 2
    try:
        fn(a)
    except PeerFail as e:
        say(f"FAIL {e}")
        return 1
    except OSError as e:
        say(f"FAIL {type(e).__name__}: {e}")
        return 1
    say("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
