/*
 * rawflow.h: the public API of rawflow, a userspace TCP/IP stack on DPDK.
 *
 * Every TCP connection is a *flow* with the semantics of MirageOS's FLOW interface:
 *   read   -> data | end of file | error
 *   write  -> queued (the buffer is handed over), or end of file / error
 *   close  -> flush, half-close; done when the peer has closed too
 *
 * Handles and requests (as in libuv): a loop (struct rf_loop), a listener and a flow are
 * long-lived handles; a read, a write, a close or a connect is a request whose completion
 * callback runs later, from the loop, never inside the call that started it. Completions run
 * in the order their operations resolved. When a function that takes a callback returns an
 * error, that callback is never called.
 *
 * Buffers are views into packet memory (struct rf_buf): what a read returns is the memory the
 * NIC wrote, and what a write takes is the memory the NIC will send. Nothing is copied on the
 * way unless the device lacks a capability, and then it is counted (struct rf_stats).
 *
 * Threading: a loop and all its handles belong to the one thread that runs it. rf_loop_stop()
 * is the only call that may come from elsewhere (a signal handler).
 *
 * This header includes neither lwIP nor DPDK. Errors are negative errno values (RF_E*).
 */
#ifndef RAWFLOW_H
#define RAWFLOW_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors -------------------------------------------------------------------------- */

/* One table makes both the codes and rf_error_message(). */
#define RF_ERRNO_MAP(XX) \
	XX(EINVAL, "invalid argument") \
	XX(ENOMEM, "out of memory") \
	XX(ENOBUFS, "no packet buffers available") \
	XX(EALREADY, "an operation of this kind is already pending on the flow") \
	XX(EPIPE, "the flow's sending side is closed") \
	XX(ENOTCONN, "the flow is not connected") \
	XX(ECONNRESET, "connection reset by peer") \
	XX(ECONNREFUSED, "connection refused") \
	XX(ECONNABORTED, "connection aborted") \
	XX(ETIMEDOUT, "connection timed out") \
	XX(ECANCELED, "operation canceled: the flow was aborted") \
	XX(EADDRINUSE, "address already in use") \
	XX(EHOSTUNREACH, "no route to host") \
	XX(EAFNOSUPPORT, "address family not supported") \
	XX(ENODEV, "no usable network device") \
	XX(E2BIG, "argument too large")

enum rf_error {
	RF_OK = 0,
	/* Not an error: a read reached the peer's FIN, or a write found the flow closed for
	 * sending by the peer's reset or our own shutdown. */
	RF_EOF = 1,
#define RF__ERR(name, msg) RF_##name = -name,
	RF_ERRNO_MAP(RF__ERR)
#undef RF__ERR
};

/* A static, human-readable message for RF_OK, RF_EOF or any negative code. */
const char *rf_error_message(int code);

/* ---- addresses ----------------------------------------------------------------------- */

enum rf_family { RF_AF_INET = 4, RF_AF_INET6 = 6 };

/* A tagged IP address; bytes are in network order (4 used for IPv4, 16 for IPv6). */
struct rf_addr {
	uint8_t family; /* enum rf_family */
	uint8_t bytes[16];
};

struct rf_endpoint {
	struct rf_addr addr;
	uint16_t port; /* host order */
};

/* Parses "198.18.0.1" or "2001:2::1"; 0 or RF_EINVAL. */
int rf_addr_parse(const char *s, struct rf_addr *out);
/* Writes the text form into buf (at least 46 bytes for any address); returns buf. */
char *rf_addr_format(const struct rf_addr *a, char *buf, size_t len);

/* ---- the loop ------------------------------------------------------------------------ */

struct rf_loop;

/* Stack options; any field left 0/NULL takes its default. */
struct rf_config {
	const char *ip;       /* "A.B.C.D/len"; default 198.18.0.2/24 */
	const char *gw;       /* default: none */
	const char *ip6;      /* "2001:2::2/64" (prefix must be 64: lwIP's on-link rule); default
				 2001:2::2/64 with the embedded default, none otherwise */
	const char *mac;      /* "aa:bb:cc:dd:ee:ff"; default: the device's */
	unsigned int mbufs;   /* packet buffers in the pool; default 65535, or max_flows +
				 32767 when that is more (docs/scaling.md) */
	bool force_copy;      /* send by copying even where zero-copy works (for comparisons) */
	const char *impair;   /* NULL, or a seeded bad wire on every port, for tests: drop, dup,
				 reorder, corrupt, delay, blackout, e.g. "drop=0.02,reorder=2%,
				 seed=7" (docs/apps.md, --impair); counted in struct rf_stats */
	const char *pcap;     /* NULL, or a file that receives every frame of every port, both
				 ways, as pcapng (tshark -r FILE); created or truncated at start */
	unsigned int pcap_snaplen; /* bytes kept of each captured frame; 0: whole frames */
	unsigned int max_flows; /* flows open at once at most, default RF_MAX_FLOWS_DEFAULT: a
				   connection accepted beyond it is reset (counted in
				   accept_refused), rf_connect() fails with RF_ENOMEM. It sizes
				   the stack's connection hash; the memory per flow is in
				   docs/scaling.md */
	unsigned int cores;   /* processes, one per core, each with its own stack and queue
				 pair of every port (docs/scaling.md); 0 or 1: this process
				 alone. With N > 1, rf_loop_create() starts the N processes and
				 returns in each (rf_loop_core() says which); the calling process
				 waits for them and exits. Needs root (hugepages); mbufs and
				 max_flows apply to each core */
	unsigned int mtu;     /* MTU of every port, RF_MTU_MIN..RF_MTU_MAX; 0: the device's (1500
				 for every virtual device). Set before the device starts; above
				 what the device takes, rf_loop_create() fails (RF_EINVAL) after a
				 line saying why (docs/devices.md lists each device's maximum).
				 TCP segments follow it up to 8960 bytes of payload (MTU 9000) */
};

/* --mtu bounds: IPv6's minimum link MTU; a frame's length (Ethernet header and VLAN tags
 * included) must fit lwIP's 16-bit packet length. */
#define RF_MTU_MIN 1280
#define RF_MTU_MAX 65000

/* Most cores (struct rf_config's cores). */
#define RF_MAX_CORES_CONFIG 16

#define RF_MAX_FLOWS_DEFAULT 16384

/* Checks an impairment spec (struct rf_config's impair) without starting anything: 0, or
 * RF_EINVAL with the reason, naming the bad token, in err. */
int rf_impair_check(const char *spec, char *err, size_t errlen);

/*
 * Index in argv of the program's first own argument: after "--" when present (everything
 * before it is for DPDK's EAL), else 1. Programs parse their options from there, before
 * creating the loop, so that --help and bad options never start DPDK.
 */
int rf_args_first(int argc, char **argv);

/*
 * Starts DPDK (the EAL part of argv, or the embedded default when argv has no "--": a net_tap
 * device rf0, no hugepages, no PCI) and the stack on every probed port. In embedded mode the
 * kernel side of rf0 gets the first other address of the stack's subnet (198.18.0.1) and is
 * brought up. Returns 0 and *out, or a negative code after printing one line naming the cause
 * (bad EAL argument, no usable port, malformed address).
 */
int rf_loop_create(struct rf_loop **out, int argc, char **argv, const struct rf_config *cfg);
/* Runs passes of the loop until rf_loop_stop(); returns 0. */
int rf_loop_run(struct rf_loop *l);
/* Runs one pass (rx, input, timers, completions, tx flush); returns the work done (frames
 * received plus completions run), 0 for an idle pass. */
unsigned int rf_loop_run_once(struct rf_loop *l);
/* Makes rf_loop_run() return after the current pass. Async-signal-safe. */
void rf_loop_stop(struct rf_loop *l);
/* This process's core, 0 to cores - 1 (struct rf_config's cores); 0 with one core. */
unsigned int rf_loop_core(const struct rf_loop *l);
/* Whether every port's link is up. A frame sent while a link is down is lost, and a lost
 * first SYN costs lwIP's 3 s initial retransmission timeout: a program that opens
 * connections right at start on a link that comes up later (a net_memif client, which is up
 * once it has reached its server) runs the loop until this is true, or a bound passes. */
bool rf_loop_links_up(const struct rf_loop *l);
/* Aborts every remaining flow and listener, stops the ports, releases everything. Returns
 * the packet buffers that were not back in the pool once every port had closed (and so no
 * device ring held any): 0 unless the application still holds buffers or one leaked; a
 * non-zero count is also logged. This is the leak check that holds on every device: a PMD
 * without tx_done_cleanup (net_virtio_user) keeps sent buffers in its ring while it runs,
 * so struct rf_stats' mbufs_in_use can stay above mbufs_idle there without any leak. */
unsigned int rf_loop_destroy(struct rf_loop *l);

/* Called once per loop pass, after the completions; for timers and pacing in programs. */
typedef void(rf_poll_cb)(struct rf_loop *l, void *arg);
void rf_loop_set_poll(struct rf_loop *l, rf_poll_cb *cb, void *arg);
/* Monotonic time from the CPU's time-stamp counter. */
uint64_t rf_now_ns(void);
/* The same clock, read once at the start of the loop's current pass: free to call from
 * callbacks and poll hooks, which run within a pass (a pass takes microseconds). */
uint64_t rf_loop_now_ns(const struct rf_loop *l);

/* Counters of the loop (one core). "Payload" is TCP payload; "copied" is payload the stack
 * copied, zero on the zero-copy paths. */
struct rf_stats {
	uint64_t rx_payload_bytes, tx_payload_bytes;
	uint64_t rx_copied_bytes, tx_copied_bytes;
	uint64_t rx_segments, tx_segments;
	uint64_t tx_retransmits; /* segments lwIP counts as retransmitted (fast retransmits,
				    partial-ACK and SACK-recovery resends; RTO resends are in
				    the next figure) */
	uint64_t tx_retransmit_bytes; /* payload sent again, every cause: TCP payload handed to
					 the device minus new sequence space sent (FINs make it
					 low by at most one byte per flow) */
	uint64_t rto_timeouts; /* retransmission timeouts that resent data (each resends
				  everything unacknowledged of its flow) */
	uint64_t mbufs_in_use;   /* packet buffers taken from the pool now */
	uint64_t mbufs_idle;     /* ... right after start-up (filled RX rings); the leak baseline:
				    with every flow closed, mbufs_in_use <= mbufs_idle (a PMD may
				    hold one buffer less in its ring later than at start-up) */
	uint64_t alloc_failures; /* buffers or headers the stack could not get */
	uint64_t rx_pkts, rx_bytes, tx_pkts, tx_bytes; /* all ports, frames */
	uint64_t tx_drops, rx_missed, rx_nombuf, rx_dropped, rx_bad_cksum;
	uint64_t flows_open, flows_opened, listeners;
	uint64_t tcp_pcbs_in_use; /* lwIP connection blocks, TIME-WAIT included */
	uint64_t tcp_pcbs_time_wait; /* ... of which in TIME-WAIT (lwIP frees them after 2 MSL) */
	uint64_t accept_refused;  /* accepted connections reset: beyond max_flows, or no memory */
	uint64_t busy_cycles; /* TSC cycles in loop passes that did work (the loop polls, so
				 CPU time says nothing: this is the cost figure) */
	uint64_t tsc_hz;      /* TSC cycles per second */
	/* Frames the impairment layer (struct rf_config's impair) did something to, per
	 * direction; all 0 without it. */
	uint64_t impair_rx_dropped, impair_rx_duplicated, impair_rx_reordered;
	uint64_t impair_rx_corrupted, impair_rx_delayed, impair_rx_blackout_dropped;
	uint64_t impair_tx_dropped, impair_tx_duplicated, impair_tx_reordered;
	uint64_t impair_tx_corrupted, impair_tx_delayed, impair_tx_blackout_dropped;
	uint64_t impair_held; /* frames it holds back now: they count in mbufs_in_use */
	/* Received frames the stack itself threw away, by layer (malformed, not for it, or
	 * beyond its means); lwIP's counters. */
	uint64_t rx_link_dropped; /* Ethernet/ARP: too short, unknown type, bad ARP */
	uint64_t rx_ip_dropped;   /* IPv4/IPv6: bad header, length or checksum, not ours,
				     fragments dropped or given up reassembling; ICMP, ICMPv6
				     and neighbour discovery messages too short or bad */
	uint64_t rx_tcp_dropped;  /* TCP: bad header or checksum, no connection for it */
	uint64_t rx_cksum_errors; /* of those, IP, ICMP and TCP checksums found wrong in
				     software (the device's verdicts are rx_bad_cksum) */
	/* Several cores (struct rf_config's cores): frames another core received for this one,
	 * frames this core passed to their owner, and those lost because the owner's ring was
	 * full (docs/scaling.md); all 0 with one core. */
	uint64_t handoff_rx, handoff_tx, handoff_dropped;
	uint64_t tx_link_down; /* frames dropped from the send queue because the link was down
				  (a memif or vhost peer gone); the others are in tx_drops */
	/* Defences against floods (docs/security.md): SYN-ACKs sent with a SYN cookie (a
	 * listener's backlog or the core's half-open bound was full), ACKs that brought a valid
	 * cookie back (a connection made from it), out-of-order pbufs queued by all flows now,
	 * and those dropped because all flows together reached the core's bound. */
	uint64_t syn_cookies_sent, syn_cookies_valid, ooseq_pbufs, ooseq_dropped;
	/* ... of syn_cookies_sent, those for the core's half-open bound (a quarter of
	 * --max-flows, at least 1024) with the listener's backlog not full; and ACKs not sent for
	 * a rate limit: challenge ACKs (RFC 5961) and ACKs to out-of-window segments. */
	uint64_t half_open_cookies, acks_rate_limited;
	/* Running out (docs/scaling.md): segments dropped while the packet pool was low: data
	 * for flows holding over 256 KiB unreleased, and new connections (rf_connect() fails with
	 * RF_ENOBUFS then). */
	uint64_t rx_pool_low_dropped;
	/* Frames not handed to a port because its send queue was full (the device's ring and
	 * 1,024 frames behind it): TCP keeps those segments and ACKs and sends them again once
	 * the queue drained; ARP, ICMP and RST frames are dropped. */
	uint64_t tx_queue_full;
};
void rf_loop_stats(struct rf_loop *l, struct rf_stats *out);

/* ---- buffers ------------------------------------------------------------------------- */

/*
 * A refcounted view (data, len) into packet memory. Every holder owns one reference and gives
 * it up exactly once, by rf_buf_release() or by handing the buffer to rf_flow_write[v]().
 * data and len may be read; a holder of the only reference to a buffer it allocated may fill
 * data[0..len) and lower len before writing it. The rest is private.
 */
struct rf_buf {
	uint8_t *data;
	uint32_t len;
	/* private */
	uint32_t rf_refcnt;
	struct rf_buf *rf_root; /* the buffer owning the memory (itself for a root) */
	void *rf_mbuf;          /* the packet buffer holding data */
	struct rf_buf *rf_next; /* flow's receive queue */
	struct rf_flow *rf_flow; /* the flow whose window reopens when this is released */
	uint32_t rf_flow_gen;
	uint32_t rf_credit;
};

/* Largest len rf_buf_alloc() accepts. */
uint32_t rf_buf_max(void);
/* A new buffer of len bytes (1 <= len <= rf_buf_max()), contents undefined; NULL when the pool
 * is empty (counted in alloc_failures) or len is out of range. */
struct rf_buf *rf_buf_alloc(struct rf_loop *l, uint32_t len);
/* A new reference to the view b (the caller keeps its own). Returns b. */
struct rf_buf *rf_buf_ref(struct rf_buf *b);
/* A new view of b's bytes [off, off+len), sharing memory, like Cstruct.sub; the caller keeps
 * its reference to b. NULL if the range is outside b or no memory. */
struct rf_buf *rf_buf_sub(struct rf_buf *b, uint32_t off, uint32_t len);
/* Gives up one reference. The memory returns to the pool, and for received data the flow's
 * receive window reopens, when its last view is released. Returns 0, or RF_EINVAL for NULL
 * or a buffer with no reference left (a double release). */
int rf_buf_release(struct rf_buf *b);

/* ---- listeners and flows ------------------------------------------------------------- */

struct rf_flow;
struct rf_listener;

/* A new connection: the application owns f from here until it closes or aborts it. */
typedef void(rf_accept_cb)(struct rf_listener *ls, struct rf_flow *f, void *arg);
/* status RF_OK: f is connected. Otherwise (RF_ECONNREFUSED, RF_ETIMEDOUT, ...) f is freed when
 * the callback returns. */
typedef void(rf_connect_cb)(struct rf_flow *f, int status, void *arg);
/* status RF_OK with b (>= 1 byte; the callee owns that reference), RF_EOF, or an error; b is
 * NULL unless status is RF_OK. */
typedef void(rf_read_cb)(struct rf_flow *f, int status, struct rf_buf *b, void *arg);
/* status RF_OK once all bytes are in TCP's send queue; RF_EOF if the flow could no longer
 * send; RF_ECANCELED on abort; another error if the connection failed. */
typedef void(rf_write_cb)(struct rf_flow *f, int status, void *arg);
/* status RF_OK once our FIN is queued and the peer's FIN has arrived; or an error. The flow is
 * freed when the callback returns. */
typedef void(rf_close_cb)(struct rf_flow *f, int status, void *arg);

/* Listens on addr (NULL: every address, both families) and port. */
int rf_listen(struct rf_loop *l, const struct rf_addr *addr, uint16_t port, rf_accept_cb *cb,
	      void *arg, struct rf_listener **out);
/* Stops accepting; connections already accepted are not affected. No callback after this. */
void rf_listener_close(struct rf_listener *ls);

/* Opens a connection to addr:port; *out is valid at once (for rf_flow_set_data), usable for
 * I/O once cb reports RF_OK. Fails with RF_ENOMEM at max_flows (or out of memory or local
 * ports) and RF_ENOBUFS while the packet pool is low (rx_pool_low_dropped counts). */
int rf_connect(struct rf_loop *l, const struct rf_addr *addr, uint16_t port, rf_connect_cb *cb,
	       void *arg, struct rf_flow **out);

/* One read at a time per flow (RF_EALREADY otherwise). Data comes in the order sent. Holding
 * received buffers keeps TCP's receive window shut: release them to let the peer send more. */
int rf_flow_read(struct rf_flow *f, rf_read_cb *cb, void *arg);
/* Queues b; the caller's reference is consumed in every case, also on an error return. Writes
 * complete in order. cb may be NULL. */
int rf_flow_write(struct rf_flow *f, struct rf_buf *b, rf_write_cb *cb, void *arg);
/* Queues n buffers in order, all or nothing: one completion for the lot. References consumed
 * as for rf_flow_write. */
int rf_flow_writev(struct rf_flow *f, struct rf_buf **bufs, unsigned int n, rf_write_cb *cb,
		   void *arg);
/* Flushes queued writes, then sends FIN; reads keep working. cb (may be NULL) runs when the
 * peer has closed too, or on error; then the flow is freed. Every flow must end in
 * rf_flow_close() or rf_flow_abort(). */
int rf_flow_close(struct rf_flow *f, rf_close_cb *cb, void *arg);

enum rf_shutdown { RF_SHUT_RD = 1, RF_SHUT_WR = 2, RF_SHUT_RDWR = 3 };
/* RF_SHUT_WR: FIN after queued writes, later writes fail with RF_EPIPE. RF_SHUT_RD: a pending
 * read completes with RF_EOF, received data is dropped from now on (the window stays open).
 * The flow still needs rf_flow_close() or rf_flow_abort(). */
int rf_flow_shutdown(struct rf_flow *f, int how);
/* Resets the connection (RST). Pending requests complete with RF_ECANCELED, then the flow is
 * freed (within the same completion phase). */
void rf_flow_abort(struct rf_flow *f);

void rf_flow_set_data(struct rf_flow *f, void *data);
void *rf_flow_data(const struct rf_flow *f);
int rf_flow_local(const struct rf_flow *f, struct rf_endpoint *out);
int rf_flow_remote(const struct rf_flow *f, struct rf_endpoint *out);

struct rf_flow_counters {
	uint64_t rx_bytes;  /* delivered to reads */
	uint64_t tx_bytes;  /* accepted by writes into the send queue */
	uint64_t reads, writes;
};
void rf_flow_counters(const struct rf_flow *f, struct rf_flow_counters *out);
/* The flow's id: 1, 2, ... in the order the loop opened flows, never reused. It names the
 * flow in DPDK's telemetry (/rawflow/flows, /rawflow/flow,<id>). */
uint64_t rf_flow_id(const struct rf_flow *f);

#ifdef __cplusplus
}
#endif

#endif /* RAWFLOW_H */
