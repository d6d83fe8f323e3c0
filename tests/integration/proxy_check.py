"""Checks a TCP relay (rf-proxy) with an upstream server of its own, over plain sockets.

    proxy_check.py PROXY_HOST PROXY_PORT UPSTREAM_HOST UPSTREAM_PORT [CHECK...]

starts the upstream server on UPSTREAM_HOST:UPSTREAM_PORT (the relay must have been started
with --to UPSTREAM_HOST:UPSTREAM_PORT), runs the named checks (default: all) through the
relay, prints one line per check, exits 0 when all passed, 1 otherwise.

The upstream reads a one-byte command on each connection:
  U  read until EOF, answer the SHA-256 of what was read (hex) and BLOB_SIZE pattern bytes,
     then close: data both ways and half-close both ways
  D  send DOWN_SIZE pattern bytes, then close (the client reads slowly: backpressure)
  R  reset the connection (SO_LINGER 0): the reset must reach the client
  W  answer "k", then wait until the client's side ends; records whether that was a reset
Every wait is bounded (TIMEOUT seconds per socket operation).
"""
import hashlib
import os
import socket
import struct
import sys
import threading
import time

TIMEOUT = 20
BLOB_SIZE = 3 << 20
DOWN_SIZE = 32 << 20
UP_SIZE = 8 << 20


def pattern(n, seed=0):
    return (bytes((i + seed) % 251 for i in range(251)) * (n // 251 + 1))[:n]


def read_all(s):
    data = bytearray()
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            return bytes(data)
        data += chunk


def reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


class Upstream:
    def __init__(self, host, port):
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((host, port))
        self.ls.listen(128)
        self.w_result = None
        self.w_done = threading.Event()
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            s, _ = self.ls.accept()
            s.settimeout(TIMEOUT)
            threading.Thread(target=self.serve, args=(s,), daemon=True).start()

    def serve(self, s):
        try:
            cmd = s.recv(1)
            if cmd == b"U":
                data = read_all(s)
                s.sendall(hashlib.sha256(data).hexdigest().encode() + pattern(BLOB_SIZE, 7))
                s.close()
            elif cmd == b"D":
                s.sendall(pattern(DOWN_SIZE, 3))
                s.close()
            elif cmd == b"R":
                reset(s)
            elif cmd == b"W":
                s.sendall(b"k")
                try:
                    rest = read_all(s)
                    self.w_result = "eof (%d bytes)" % len(rest)
                except ConnectionResetError:
                    self.w_result = "reset"
                except OSError as e:
                    self.w_result = "error %s" % e
                self.w_done.set()
                s.close()
            else:
                s.close()
        except OSError:
            s.close()


def connect(h, p):
    try:
        return socket.create_connection((h, p), timeout=TIMEOUT)
    except OSError as e:
        raise AssertionError("connect to the relay %s:%d: %s: %s" % (h, p, type(e).__name__, e))


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def check_upload_halfclose(h, p, up):
    """Upload, half-close, then the answer comes back and EOF: both directions half-close."""
    data = os.urandom(UP_SIZE)
    s = connect(h, p)
    s.sendall(b"U" + data)
    s.shutdown(socket.SHUT_WR)
    answer = read_all(s)
    s.close()
    expect(answer[:64] == hashlib.sha256(data).hexdigest().encode(),
           "upstream saw other bytes than sent (or none): %r" % answer[:64])
    expect(answer[64:] == pattern(BLOB_SIZE, 7),
           "answer after half-close: %d of %d bytes, or different" % (len(answer) - 64, BLOB_SIZE))


def check_slow_reader(h, p, up):
    """The client does not read for a while: nothing may be lost or reordered."""
    s = connect(h, p)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(b"D")
    time.sleep(1.5)
    data = read_all(s)
    s.close()
    expect(len(data) == DOWN_SIZE, "read %d of %d bytes" % (len(data), DOWN_SIZE))
    expect(hashlib.sha256(data).digest() == hashlib.sha256(pattern(DOWN_SIZE, 3)).digest(),
           "bytes differ")


def check_upstream_reset(h, p, up):
    """The upstream resets: the client must see a reset, not a clean EOF."""
    s = connect(h, p)
    s.sendall(b"R")
    t0 = time.time()
    try:
        data = read_all(s)
        raise AssertionError("clean EOF after %d bytes instead of a reset" % len(data))
    except ConnectionResetError:
        pass
    except socket.timeout:
        raise AssertionError("no reset (nor anything else) within %.1f s of sending"
                             % (time.time() - t0))
    finally:
        s.close()


def check_client_reset(h, p, up):
    """The client resets: the upstream must see a reset."""
    up.w_done.clear()
    up.w_result = None
    s = connect(h, p)
    s.sendall(b"W")
    expect(s.recv(1) == b"k", "no answer from the upstream")
    reset(s)
    expect(up.w_done.wait(TIMEOUT), "upstream connection did not end")
    expect(up.w_result == "reset", "upstream saw %s, not a reset" % up.w_result)


def check_parallel(h, p, up):
    """Twenty connections at once, each an upload and its answer."""
    errors = []

    def one(i):
        try:
            data = os.urandom(256 * 1024 + i)
            s = connect(h, p)
            s.sendall(b"U" + data)
            s.shutdown(socket.SHUT_WR)
            answer = read_all(s)
            s.close()
            if answer[:64] != hashlib.sha256(data).hexdigest().encode() or \
               len(answer) != 64 + BLOB_SIZE:
                errors.append("connection %d: wrong answer" % i)
        except OSError as e:
            errors.append("connection %d: %s" % (i, e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(3 * TIMEOUT)
    expect(not errors, "; ".join(errors[:3]))
    expect(not any(t.is_alive() for t in threads), "a connection hung")


CHECKS = [
    ("upload_halfclose", check_upload_halfclose),
    ("slow_reader", check_slow_reader),
    ("upstream_reset", check_upstream_reset),
    ("client_reset", check_client_reset),
    ("parallel", check_parallel),
]


def main(argv):
    if len(argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    h, p, uh, upp = argv[1], int(argv[2]), argv[3], int(argv[4])
    wanted = argv[5:] or [name for name, _ in CHECKS]
    up = Upstream(uh, upp)
    failed = 0
    for name, fn in CHECKS:
        if name not in wanted:
            continue
        try:
            fn(h, p, up)
            print("ok %s" % name)
        except (AssertionError, OSError) as e:
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
