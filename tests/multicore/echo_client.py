#!/usr/bin/env python3
"""Kernel TCP client for the multicore suite: CONNS connections at once to HOST:PORT, each
sending BYTES of seeded random data and reading the echo back; every connection's echo must
be byte-identical (SHA-256 compared). Prints one line per failure and a summary:

    conns N ok K failed F bytes B seconds S

Exit 0 when every connection completed with its data intact, 1 otherwise. Bounded in time:
each connection gives up after TIMEOUT seconds."""
import hashlib
import os
import socket
import sys
import threading
import time


def one(host, port, idx, nbytes, timeout, results):
    data = hashlib.shake_256(b'rawflow-multicore-%d' % idx).digest(nbytes)
    got = bytearray()
    try:
        s = socket.create_connection((host, port), timeout=timeout)
        s.settimeout(timeout)

        def send():
            try:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass

        t = threading.Thread(target=send)
        t.start()
        while len(got) < nbytes:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        t.join(timeout)
        s.close()
    except OSError as e:
        results[idx] = 'conn %d: %s' % (idx, e)
        return
    if hashlib.sha256(got).digest() != hashlib.sha256(data).digest():
        results[idx] = 'conn %d: echo differs (%d of %d bytes back)' % (idx, len(got), nbytes)
    else:
        results[idx] = None


def main():
    host, port, conns, nbytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    timeout = float(os.environ.get('TIMEOUT', '30'))
    results = {}
    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=(host, port, i, nbytes, timeout, results))
               for i in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout * 2)
    failed = [r for i, r in sorted(results.items()) if r is not None]
    failed += ['conn %d: no result' % i for i in range(conns) if i not in results]
    for f in failed:
        print(f)
    ok = conns - len(failed)
    print('conns %d ok %d failed %d bytes %d seconds %.2f' %
          (conns, ok, len(failed), nbytes, time.monotonic() - t0))
    sys.exit(0 if not failed else 1)


main()
