"""The kernel's side of the observability suite: TCP traffic through rf-echo while reading
rawflow's telemetry through DPDK's telemetry socket.

    observe.py query PREFIX COMMAND       one telemetry command, its reply as JSON
    observe.py echo PREFIX HOST PORT      paced and bulk echo; checks /rawflow/* on the way
    observe.py flood PREFIX HOST PORT     fills the stack's packet pool; checks that
                                          /rawflow/stats still answers

The telemetry client speaks DPDK's v2 protocol itself (what dpdk-telemetry.py does): a
SOCK_SEQPACKET unix socket at <runtime dir>/dpdk/<file prefix>/dpdk_telemetry.v2; the server
greets with a JSON object (its pid, max_output_len), then answers each command string with
{"<command>": value}; value is null when the command failed (an unknown flow id).

echo and flood print one JSON object with the figures they saw and exit 0, or exit 1 with
"error" saying which check failed. Every wait is bounded.
"""
import json
import os
import socket
import sys
import threading
import time

SOCKET_NAME = "dpdk_telemetry.v2"
ESTABLISHED = 4  # lwIP's enum tcp_state


def runtime_dir(prefix):
    """Where the EAL puts its runtime files (the same rule as EAL and dpdk-telemetry.py)."""
    base = os.environ.get("RUNTIME_DIRECTORY")
    if not base:
        base = "/var/run" if os.getuid() == 0 else os.environ.get("XDG_RUNTIME_DIR", "/tmp")
    return os.path.join(base, "dpdk", prefix)


class Telemetry:
    """One connection to a DPDK process's telemetry socket."""

    def __init__(self, prefix, within=10.0):
        path = os.path.join(runtime_dir(prefix), SOCKET_NAME)
        until = time.monotonic() + within
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            self.sock.settimeout(5)
            try:
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() >= until:
                    raise
                time.sleep(0.2)
        hello = json.loads(self.sock.recv(1024).decode())
        self.max_len = hello["max_output_len"]
        self.pid = hello["pid"]

    def __call__(self, command):
        self.sock.send(command.encode())
        reply = json.loads(self.sock.recv(self.max_len).decode())
        return reply[command.split(",", 1)[0]]

    def close(self):
        self.sock.close()


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


def recv_exactly(sock, n):
    got = bytearray()
    while len(got) < n:
        chunk = sock.recv(n - len(got))
        if not chunk:
            raise Failed("the echo server closed after %d of %d bytes" % (len(got), n))
        got += chunk
    return bytes(got)


def scenario_echo(tel, host, port, out):
    sock = socket.create_connection((host, port), timeout=10)
    local_port = sock.getsockname()[1]

    # Paced small exchanges: each echo is one segment that the kernel acknowledges with a
    # delayed ACK (quickack off, the next request 60 ms later), so lwIP's RTT samples last
    # 40 ms or more and reach across its 200 ms ticks now and then: srtt becomes non-zero.
    # A LAN round trip alone would measure 0 ticks (see flow/telemetry.c).
    flow_id, flow, rounds = None, None, 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        msg = os.urandom(100)
        # Linux acknowledges at once in quickack mode; off, the echo's ACK waits for the
        # delayed-ACK timer (40 ms or more)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)
        sock.sendall(msg)
        check(recv_exactly(sock, len(msg)) == msg, "paced echo came back different")
        rounds += 1
        time.sleep(0.06)
        if rounds % 10 == 0:
            ids = tel("/rawflow/flows")
            check(isinstance(ids, list) and len(ids) == 1,
                  "/rawflow/flows lists one flow while one client is connected: %r" % (ids,))
            flow_id = ids[0]
            flow = tel("/rawflow/flow,%d" % flow_id)
            check(isinstance(flow, dict), "/rawflow/flow,%d answers" % flow_id)
            if rounds >= 30 and flow["srtt_us"] > 0:
                break
    out["paced_rounds"] = rounds
    out["flow_paced"] = flow
    check(flow["state"] == ESTABLISHED,
          "flow %d is ESTABLISHED (4): state %r" % (flow_id, flow["state"]))
    check(flow["local"] == "%s:%d" % (host, port),
          "flow's local endpoint is %s:%d: %r" % (host, port, flow["local"]))
    check(flow["remote"].endswith(":%d" % local_port),
          "flow's remote port is the client's %d: %r" % (local_port, flow["remote"]))
    check(flow["srtt_us"] > 0, "srtt_us > 0 after %d paced round trips" % rounds)
    check(flow["rto_us"] > 0 and flow["cwnd"] > 0 and flow["snd_wnd"] > 0
          and flow["rcv_wnd"] > 0 and flow["mss"] > 0,
          "rto, cwnd, snd_wnd, rcv_wnd and mss are positive")

    # Bulk: bytes moving between two reads of /rawflow/stats and of the flow.
    stats1 = tel("/rawflow/stats")
    bulk = os.urandom(4 << 20)
    writer = threading.Thread(target=sock.sendall, args=(bulk,))
    writer.start()
    mid = None
    got = bytearray()
    while len(got) < len(bulk):
        chunk = sock.recv(1 << 16)
        check(chunk, "the echo server closed during the bulk transfer")
        got += chunk
        if mid is None and len(got) >= len(bulk) // 2:
            mid = tel("/rawflow/flow,%d" % flow_id)  # while data flows
    writer.join(10)
    check(bytes(got) == bulk, "4 MiB bulk echo came back intact")
    # the snapshot is at most 100 ms old: wait for one taken after the transfer
    time.sleep(0.25)
    flow2 = tel("/rawflow/flow,%d" % flow_id)
    stats2 = tel("/rawflow/stats")
    out["flow_mid_bulk"] = mid
    out["flow_after_bulk"] = flow2
    moved_rx = stats2["rx_payload_bytes"] - stats1["rx_payload_bytes"]
    moved_tx = stats2["tx_payload_bytes"] - stats1["tx_payload_bytes"]
    out["stats_moved"] = {"rx_payload_bytes": moved_rx, "tx_payload_bytes": moved_tx,
                          "rx_pkts": stats2["rx_pkts"] - stats1["rx_pkts"],
                          "tx_pkts": stats2["tx_pkts"] - stats1["tx_pkts"]}
    check(moved_rx >= len(bulk) and moved_tx >= len(bulk),
          "/rawflow/stats: payload bytes moved by at least 4 MiB each way: %d / %d"
          % (moved_rx, moved_tx))
    check(stats2["flows_established"] == 1 and stats2["flows_open"] == 1,
          "/rawflow/stats: one flow open, ESTABLISHED")
    check(flow2["rx_bytes"] - flow["rx_bytes"] >= len(bulk)
          and flow2["tx_bytes"] - flow["tx_bytes"] >= len(bulk),
          "the flow's rx_bytes and tx_bytes grew by at least 4 MiB")
    check(flow2["bytes_queued"] == 0 and flow2["bytes_acked"] == flow2["tx_bytes"],
          "once the echo is back, nothing is queued and every byte sent is acknowledged: "
          "queued %d, acked %d of %d" % (flow2["bytes_queued"], flow2["bytes_acked"],
                                          flow2["tx_bytes"]))
    check(mid is not None and mid["rx_bytes"] < flow2["rx_bytes"],
          "a read in the middle of the transfer saw fewer bytes than the end")
    out["stats_after_bulk"] = {k: stats2[k] for k in (
        "rx_payload_bytes", "tx_payload_bytes", "rx_copied_bytes", "tx_copied_bytes",
        "rx_pkts", "tx_pkts", "mbufs_in_use", "flows_open", "flows_established",
        "snapshot_age_us", "pcap_frames", "pcap_dropped") if k in stats2}

    # Close: FIN both ways; the flow leaves /rawflow/flows.
    sock.shutdown(socket.SHUT_WR)
    check(sock.recv(1) == b"", "the echo server closed after our FIN")
    sock.close()
    gone = False
    until = time.monotonic() + 5
    while time.monotonic() < until and not gone:
        time.sleep(0.15)
        gone = flow_id not in tel("/rawflow/flows")
    check(gone, "flow %d left /rawflow/flows after the close" % flow_id)
    check(tel("/rawflow/flow,%d" % flow_id) is None,
          "/rawflow/flow,%d answers null once the flow is gone" % flow_id)
    out["flow_id"] = flow_id
    out["client_port"] = local_port


def scenario_flood(tel, host, port, out):
    """Sends without reading: rf-echo echoes into a peer whose window is shut, its packet pool
    runs low (the stack drops this flow's data: stack/pressure.c), and telemetry must still
    answer."""
    sock = socket.create_connection((host, port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    sock.setblocking(False)
    block = os.urandom(1 << 16)
    sent, stats = 0, None
    until = time.monotonic() + 15
    while time.monotonic() < until:
        try:
            sent += sock.send(block)
        except BlockingIOError:
            time.sleep(0.05)
        st = tel("/rawflow/stats")
        if st is not None and st["mbufs_in_use"] >= st["mbufs_idle"] and (
                st["rx_nombuf"] > 0 or st["alloc_failures"] > 0 or
                st.get("rx_pool_low_dropped", 0) > 0):
            stats = st
            break
    out["sent_before_dry"] = sent
    check(stats is not None, "the packet pool ran low within 15 s (rx_nombuf, "
          "alloc_failures or rx_pool_low_dropped > 0)")
    # dry now: a few more answers in a row
    answers = [tel("/rawflow/stats") for _ in range(5)]
    check(all(isinstance(a, dict) for a in answers),
          "/rawflow/stats answers while the packet pool is empty")
    flows = tel("/rawflow/flows")
    check(isinstance(flows, list) and len(flows) == 1, "/rawflow/flows answers too")
    check(isinstance(tel("/rawflow/flow,%d" % flows[0]), dict), "/rawflow/flow answers too")
    out["stats_dry"] = {k: answers[-1][k] for k in (
        "mbufs_in_use", "mbufs_idle", "rx_nombuf", "alloc_failures", "rx_missed",
        "rx_pool_low_dropped",
        "tx_payload_bytes", "snapshot_age_us")}
    # reset, so that the stack gets its buffers back at once
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


def main(argv):
    if len(argv) >= 4 and argv[1] == "query":
        tel = Telemetry(argv[2])
        print(json.dumps(tel(argv[3])))
        return 0
    if len(argv) != 5 or argv[1] not in ("echo", "flood"):
        print(__doc__, file=sys.stderr)
        return 2
    out = {}
    try:
        tel = Telemetry(argv[2])
        out["telemetry_pid"] = tel.pid
        scenario = scenario_echo if argv[1] == "echo" else scenario_flood
        scenario(tel, argv[3], int(argv[4]), out)
    except (Failed, OSError, ValueError, KeyError, TypeError) as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
    print(json.dumps(out, indent=1))
    return 1 if "error" in out else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
