"""Pushes bytes through a TCP echo server and checks that the same bytes come back.

    echo_client.py HOST PORT BYTES [TIMEOUT_S]

Sends BYTES random bytes (one thread writes while the main thread reads, so neither side's
window can deadlock the other), half-closes, reads until the server's FIN, and compares
SHA-256 of what was sent and what came back. Prints one JSON object:
  {"sent": N, "received": N, "match": true, "seconds": S, "sha256": "..."}
Exit 0 when everything came back intact within TIMEOUT_S (default 60), else 1 with the
object's "error" saying what went wrong.
"""
import hashlib
import json
import os
import socket
import sys
import threading
import time

CHUNK = 64 * 1024


def connect(host, port, within):
    """Connects, retrying a refused connection (a listener still starting) for `within` s."""
    until = time.monotonic() + within
    while True:
        try:
            return socket.create_connection((host, port), timeout=within)
        except ConnectionRefusedError:
            if time.monotonic() >= until:
                raise
            time.sleep(0.2)


def main(argv):
    if len(argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 2
    host, port, total = argv[1], int(argv[2]), int(argv[3])
    timeout = float(argv[4]) if len(argv) == 5 else 60.0
    deadline = time.monotonic() + timeout
    result = {"sent": 0, "received": 0, "match": False}
    sent_hash, recv_hash = hashlib.sha256(), hashlib.sha256()
    send_error = []

    def remaining():
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no progress within %.0f s" % timeout)
        return left

    def sender(s):
        try:
            left = total
            while left > 0:
                block = os.urandom(min(CHUNK, left))
                sent_hash.update(block)
                s.settimeout(remaining())
                s.sendall(block)
                result["sent"] += len(block)
                left -= len(block)
            s.shutdown(socket.SHUT_WR)
        except Exception as e:  # reported by the main thread
            send_error.append("send: %s" % e)

    start = time.monotonic()
    try:
        s = connect(host, port, min(timeout, 10))
        t = threading.Thread(target=sender, args=(s,), daemon=True)
        t.start()
        while True:
            s.settimeout(remaining())
            data = s.recv(CHUNK)
            if not data:
                break
            recv_hash.update(data)
            result["received"] += len(data)
        t.join(remaining())
        s.close()
        if send_error:
            raise RuntimeError(send_error[0])
    except Exception as e:
        result["error"] = str(e) or type(e).__name__
    result["seconds"] = round(time.monotonic() - start, 6)
    result["match"] = (result["sent"] == total and result["received"] == total
                       and sent_hash.digest() == recv_hash.digest())
    if "error" not in result and not result["match"]:
        result["error"] = "sent %d bytes, got %d back, contents %s" % (
            result["sent"], result["received"],
            "equal" if sent_hash.digest() == recv_hash.digest() else "differ")
    result["sha256"] = sent_hash.hexdigest()
    print(json.dumps(result))
    return 0 if result["match"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
