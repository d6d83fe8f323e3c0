"""Checks an HTTP/1.1 server that follows rf-httpd's contract, over plain sockets.

    http_check.py HOST PORT [CHECK...]   runs the named checks (default: all), prints one line
                                         per check, exits 0 when all passed, 1 otherwise

rf-httpd's contract (docs/apps.md): GET /N answers N bytes, byte i being i mod 251; GET / a
small HTML page; 404 other targets; 405 other methods; 400 malformed (then close); 431 for a
head over 8 KiB (then close); Content-Length on every answer; keep-alive, pipelining,
Connection: close. Every check bounds its waits (TIMEOUT seconds per socket operation).
"""
import hashlib
import socket
import struct
import sys
import time

TIMEOUT = 10
PERIOD = 251


def pattern(n):
    """The first n bytes of rf-httpd's body pattern."""
    return (bytes(range(PERIOD)) * (n // PERIOD + 1))[:n]


class Conn:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, port), timeout=TIMEOUT)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def _fill(self):
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise EOFError("connection closed by the server")
        self.buf += chunk

    def response(self, head_only=False):
        """Reads one response: (status, headers dict lower-case, body)."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or parts[0] != "HTTP/1.1":
            raise ValueError("bad status line %r" % lines[0])
        status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" not in headers:
            raise ValueError("no Content-Length in %r" % lines[0])
        n = 0 if head_only else int(headers["content-length"])
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def closed_cleanly(self):
        """True when the server closes with FIN (EOF) and sends nothing more."""
        try:
            while True:
                chunk = self.s.recv(65536)
                if not chunk:
                    return self.buf == b""
                self.buf += chunk
        except ConnectionResetError:
            return False

    def close(self):
        self.s.close()


def get(path, extra=""):
    return ("GET %s HTTP/1.1\r\nHost: rf\r\n%s\r\n" % (path, extra)).encode()


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


# ---- checks: each takes (host, port) and raises on failure ------------------------------

def check_sizes(h, p):
    """GET /N for several N on one keep-alive connection: exact bytes, SHA-256."""
    c = Conn(h, p)
    for n in (0, 1, 2, 1459, 1460, 1461, 65536, 100003, 1 << 20):
        c.send(get("/%d" % n))
        st, hd, body = c.response()
        expect(st == 200, "GET /%d: status %d" % (n, st))
        expect(int(hd["content-length"]) == n, "GET /%d: Content-Length %s" % (n, hd["content-length"]))
        expect(hashlib.sha256(body).digest() == hashlib.sha256(pattern(n)).digest(),
               "GET /%d: body differs from the pattern" % n)
    c.close()


def check_index_404_head(h, p):
    c = Conn(h, p)
    c.send(get("/"))
    st, hd, body = c.response()
    expect(st == 200 and body.startswith(b"<!DOCTYPE html>"), "GET /: %d" % st)
    c.send(get("/nothing-here"))
    st, hd, body = c.response()
    expect(st == 404, "GET /nothing-here: %d, wanted 404" % st)
    c.send(("HEAD /1000 HTTP/1.1\r\nHost: rf\r\n\r\n").encode())
    st, hd, body = c.response(head_only=True)
    expect(st == 200 and hd["content-length"] == "1000", "HEAD /1000: %d %s" % (st, hd))
    # the connection is still usable, and HEAD sent no body
    c.send(get("/3"))
    st, hd, body = c.response()
    expect(st == 200 and body == pattern(3), "GET /3 after HEAD: %d %r" % (st, body))
    c.close()


def check_405_keeps_connection(h, p):
    """A POST with a body: 405 with Allow, the body skipped, the next request answered."""
    c = Conn(h, p)
    c.send(b"POST /5 HTTP/1.1\r\nHost: rf\r\nContent-Length: 11\r\n\r\nhello world" + get("/7"))
    st, hd, body = c.response()
    expect(st == 405 and "GET" in hd.get("allow", ""), "POST: %d %s" % (st, hd))
    st, hd, body = c.response()
    expect(st == 200 and body == pattern(7), "GET /7 after POST: %d" % st)
    c.close()


def check_pipelining(h, p):
    """Many requests in one send, odd and even sizes mixed: answers in order, exact."""
    c = Conn(h, p)
    sizes = [1, 2, 3, 0, 1461, 5, 64, 251, 1, 7] * 5
    c.send(b"".join(get("/%d" % n) for n in sizes))
    for n in sizes:
        st, hd, body = c.response()
        expect(st == 200 and body == pattern(n), "pipelined GET /%d: %d, %d bytes" % (n, st, len(body)))
    c.close()


def check_split_request(h, p):
    """A request sent one byte per segment, then one split inside its CRLFs."""
    c = Conn(h, p)
    for b in get("/10"):
        c.send(bytes([b]))
        time.sleep(0.002)
    st, hd, body = c.response()
    expect(st == 200 and body == pattern(10), "byte-by-byte GET /10: %d" % st)
    req = get("/11")
    for piece in (req[:17], req[17:18], req[18:30], req[30:-1], req[-1:]):
        c.send(piece)
        time.sleep(0.01)
    st, hd, body = c.response()
    expect(st == 200 and body == pattern(11), "split GET /11: %d" % st)
    c.close()


def check_connection_close(h, p):
    c = Conn(h, p)
    c.send(get("/5", "Connection: close\r\n"))
    st, hd, body = c.response()
    expect(st == 200 and body == pattern(5), "GET with close: %d" % st)
    expect(hd.get("connection", "").lower() == "close", "no Connection: close in %s" % hd)
    expect(c.closed_cleanly(), "server did not close after Connection: close")
    c.close()


def check_http10(h, p):
    c = Conn(h, p)
    c.send(b"GET /4 HTTP/1.0\r\n\r\n")
    st, hd, body = c.response()
    expect(st == 200 and body == pattern(4), "HTTP/1.0 GET: %d" % st)
    expect(c.closed_cleanly(), "HTTP/1.0 without keep-alive not closed")
    c.close()
    c = Conn(h, p)
    c.send(b"GET /4 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    st, hd, body = c.response()
    expect(hd.get("connection", "").lower() == "keep-alive", "HTTP/1.0 keep-alive: %s" % hd)
    c.send(b"GET /6 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    st, hd, body = c.response()
    expect(st == 200 and body == pattern(6), "second HTTP/1.0 keep-alive request: %d" % st)
    c.close()


def bad_request(h, p, data, code, what):
    c = Conn(h, p)
    c.send(data)
    st, hd, body = c.response()
    expect(st == code, "%s: %d, wanted %d" % (what, st, code))
    expect(hd.get("connection", "").lower() == "close", "%s: no Connection: close" % what)
    expect(c.closed_cleanly(), "%s: not closed cleanly after %d" % (what, code))
    c.close()


def check_garbage(h, p):
    bad_request(h, p, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)), 400,
                "TLS hello")
    bad_request(h, p, b"GET /1 HTTP/1.1\r\n\r\n", 400, "HTTP/1.1 without Host")
    bad_request(h, p, b"GET /1 HTTP/1.1\r\nHost : rf\r\n\r\n", 400, "space before colon")
    bad_request(h, p, b"GET /1 HTTP/1.1\r\nHost: rf\r\nContent-Length: x\r\n\r\n", 400,
                "bad Content-Length")
    bad_request(h, p, b"GET /1 FTP/1.0\r\n\r\n", 400, "bad version")


def check_too_large(h, p):
    big = b"GET /1 HTTP/1.1\r\nHost: rf\r\n" + b"X-Filler: " + b"a" * 9000 + b"\r\n\r\n"
    bad_request(h, p, big, 431, "9 KiB header")
    many = b"GET /1 HTTP/1.1\r\nHost: rf\r\n" + b"X-A: b\r\n" * 2000 + b"\r\n"
    bad_request(h, p, many, 431, "2000 header lines")


def check_half_request_then_close(h, p):
    """Half a request, then FIN: the server closes without an answer (or answers 400)."""
    c = Conn(h, p)
    c.send(b"GET /100 HTTP/1.1\r\nHo")
    c.s.shutdown(socket.SHUT_WR)
    data = b""
    try:
        while True:
            chunk = c.s.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        raise AssertionError("reset instead of a clean close")
    expect(data == b"" or data.startswith(b"HTTP/1.1 400"), "answer to half a request: %r" % data[:40])
    c.close()


def check_reset_mid_request(h, p):
    """Half a request, then RST (SO_LINGER 0): the server must go on serving others."""
    c = Conn(h, p)
    c.send(b"GET /100 HTTP/1.1\r\nHost: r")
    c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    # reset while a large answer is being sent
    c = Conn(h, p)
    c.send(get("/%d" % (64 << 20)))
    c.s.recv(1000)
    c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    time.sleep(0.2)
    c = Conn(h, p)
    c.send(get("/9"))
    st, hd, body = c.response()
    expect(st == 200 and body == pattern(9), "GET after resets: %d" % st)
    c.close()


CHECKS = [
    ("sizes", check_sizes),
    ("index_404_head", check_index_404_head),
    ("405_keeps_connection", check_405_keeps_connection),
    ("pipelining", check_pipelining),
    ("split_request", check_split_request),
    ("connection_close", check_connection_close),
    ("http10", check_http10),
    ("garbage", check_garbage),
    ("too_large", check_too_large),
    ("half_request_then_close", check_half_request_then_close),
    ("reset_mid_request", check_reset_mid_request),
]


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    host, port = argv[1], int(argv[2])
    wanted = argv[3:] or [name for name, _ in CHECKS]
    failed = 0
    for name, fn in CHECKS:
        if name not in wanted:
            continue
        try:
            fn(host, port)
            print("ok %s" % name)
        except (AssertionError, ValueError, EOFError, OSError) as e:
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
