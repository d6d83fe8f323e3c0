/*
 * The segment harness: TCP tests that read like packet traces, without a NIC.
 *
 * The stack runs for real (rf_loop_create, the whole pass: rx, lwIP, timers, completions,
 * tx flush) on a net_ring port, and this file is the wire and the peer. A test says: this
 * segment comes in, these segments go out, then this is what the application saw; time is a
 * parameter (stack/clock.c's rf_clock_fake), never the wall clock.
 *
 *   h_start()            EAL + loop on --vdev=net_ring0, fake clock at H_T0, peer's MAC
 *                        taught to the stack with one ARP request
 *   h_send(&tcp)         builds Ethernet/IPv4/TCP (options, checksums) in a packet-pool mbuf
 *                        and puts it on the port's RX ring
 *   h_run()              loop passes at the current time until nothing more happens
 *   h_advance(ms)        moves the fake clock in steps of at most 100 ms (one tcp_tmr each),
 *                        a pass per step
 *   h_recv()/h_none()    the next TCP segment the stack sent (parsed, checksums verified), or
 *                        the assertion that it sent none
 *   struct h_app         the application side of a flow: the harness keeps a read pending
 *                        and writes its events as text ("accept, read 5, read EOF, close OK")
 *   h_finish()           abort what is left, check nothing leaked, destroy the loop
 *
 * The wire, with Debian's DPDK 22.11. rte_eth_from_rings() would give a port with separate
 * RX and TX rings, but it needs the EAL started and the port must exist before the stack sets
 * up its ports, and rf_loop_create() does both (rte_eal_init, then every probed port) with no
 * hook in between. So the port comes from the EAL arguments, --vdev=net_ring0; without
 * arguments net_ring creates its rings itself, "ETH_RXTX<i>_net_ring0" for i < 16, and uses
 * ring i as BOTH queue i's RX and its TX (rte_eth_ring.c, eth_dev_ring_create: one array
 * for rx and tx; nodeaction=...:CREATE|ATTACH does the same). The stack uses queue 0, so
 * what it sends lands where it reads. The harness keeps the directions apart:
 *   - it takes the stack's frames off the ring before every pass, after every pass and
 *     before it enqueues a frame (a pass reads first and sends last; API calls between
 *     passes may flush frames onto the ring too), putting its own not-yet-read frames back;
 *   - it puts fewer than 32 frames (one RX burst) on the ring per pass, so the pass reads
 *     them in one burst and never reaches frames it sends during that pass.
 * So the stack never reads its own frames. Frames for the stack are built in mbufs of the
 * stack's own packet pool ("rf_pkt"): stack/netif.c wraps each received mbuf as a pbuf in
 * the pool's private area. net_ring offers no checksum offload, so lwIP checks and computes
 * every checksum in software, and the harness computes and verifies them too. ARP requests
 * for the peer are answered at once (at the same fake time), so tests see only TCP; other
 * frames (IPv6 ND/MLD from the link-local address) are counted and dropped.
 *
 * H_TRACE=1 in the environment prints every segment both ways and every application event.
 *
 * One loop per process (lwIP's globals): check forks each test (CK_FORK, the default) and
 * each test starts its own EAL and loop in its child.
 *
 * Files: wire.c (the wire, passes, time, start and finish), app.c (the application side and
 * whole handshakes), peek.c (TCP states from inside lwIP).
 */
#ifndef RF_SEG_HARNESS_H
#define RF_SEG_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include <check.h>

#include "rawflow.h"

/* Fake time at start-up, in ms (non-zero: 0 switches rf_clock_fake back to the TSC). */
#define H_T0 1000000u

#define H_STACK_IP "198.18.0.2"
#define H_PEER_IP "198.18.0.1"
#define H_PEER_MAC {0x02, 0x00, 0x5e, 0x00, 0x00, 0x01}

#define H_FIN 0x01
#define H_SYN 0x02
#define H_RST 0x04
#define H_PSH 0x08
#define H_ACK 0x10
#define H_URG 0x20

/* What lwIP is configured with (stack/include/lwipopts.h), as the wire shows it. */
#define H_STACK_MSS 1460
#define H_STACK_WS 7
#define H_STACK_WND (2u * 1024 * 1024)

/* A segment the peer sends. Zero means "absent" for every option. */
struct h_tcp {
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t wnd; /* the raw header field */
	uint16_t mss;
	bool has_ws;
	uint8_t ws;
	bool sack_perm;
	uint8_t nsack; /* SACK blocks [left, right) */
	uint32_t sack[3][2];
	const void *data;
	uint16_t len;
};

#define H_MAX_PAYLOAD 1500

/* A segment the stack sent, parsed; checksums were verified when it was taken off the ring. */
struct h_seg {
	uint64_t t_ms; /* fake time of the pass that sent it */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t wnd; /* raw field */
	uint16_t mss; /* 0: no MSS option */
	bool has_ws;
	uint8_t ws;
	bool sack_perm;
	bool has_ts;
	uint8_t nsack;
	uint32_t sack[4][2];
	uint16_t len;
	uint8_t data[H_MAX_PAYLOAD];
};

/* ---- the loop and the wire ---------------------------------------------------------- */

/* mbufs: the packet pool (0: 8191). Fails the test if the stack does not start. */
void h_start(unsigned int mbufs);
struct rf_loop *h_loop(void);
/* Current fake time (ms; H_T0 at h_start). */
uint64_t h_now(void);

void h_send(const struct h_tcp *t);
/* Passes at the current time until one does nothing and no frame waits (at most 64). */
void h_run(void);
/* Moves time forward by ms, one pass (and h_run) per step of at most 100 ms. */
void h_advance(uint64_t ms);
/* Returns at once if a TCP segment is waiting; else advances in 100 ms steps until the
 * stack sent one or max_ms passed; returns whether one is waiting. */
bool h_advance_until_seg(uint64_t max_ms);

/* Number of TCP segments sent and not yet taken. */
unsigned int h_pending(void);
/* Takes the next one (fails the test if there is none). */
struct h_seg h_recv(void);
/* Fails the test if a TCP segment is waiting. */
void h_none(void);
/* Drops what is waiting; returns how many. */
unsigned int h_discard(void);

/* Text for flags into buf (40 bytes): "SYN|ACK"; returns buf. */
const char *h_flags_str(uint8_t flags, char *buf);
/* One line for a segment (for failure messages and H_TRACE=1). */
const char *h_seg_str(const struct h_seg *s, char *buf, unsigned int len);

/* The segment's flags are exactly `flags`, its seq and ack as given (failure shows it). */
#define h_assert_seg(s, fl, sq, ak)                                                          \
	do {                                                                                 \
		char h__b[256];                                                              \
		ck_assert_msg((s).flags == (fl) && (s).seq == (uint32_t)(sq) &&              \
				      (!((fl)&H_ACK) || (s).ack == (uint32_t)(ak)),           \
			      "expected %s seq=%u ack=%u, got %s",                           \
			      h_flags_str((fl), (char[40]){0}), (uint32_t)(sq), (uint32_t)(ak), \
			      h_seg_str(&(s), h__b, sizeof(h__b)));                          \
	} while (0)

/* ---- the application side ------------------------------------------------------------ */

#define H_RX_CAP (4u << 20)
#define H_MAX_HELD 4096

struct h_app {
	struct rf_flow *flow; /* NULL once the flow was freed (close or abort completed) */
	char *log; /* events, ", "-separated: accept, connect OK, read 5, read EOF, write OK,
		      close OK, ... (grows as needed) */
	size_t log_len, log_cap;
	bool reading;         /* a read is pending */
	bool hold;            /* keep received buffers (the window stays shut) */
	struct rf_buf *held[H_MAX_HELD];
	unsigned int nheld;
	uint8_t *rx; /* bytes read, in order (H_RX_CAP at most) */
	uint32_t rx_len;
	int end; /* 0 while reads deliver data, then RF_EOF or the error */
	bool connected, done;
	int close_status; /* valid once done by close */
};

/* Listens on port; accepted flows become apps (h_accepted), reading at once. */
void h_listen(uint16_t port);
void h_listen_close(void);
/* The i-th accepted flow's app (NULL if there are fewer). */
struct h_app *h_accepted(unsigned int i);
unsigned int h_naccepted(void);

/* rf_connect to the peer; the app reads as soon as it is connected. */
struct h_app *h_connect(uint16_t port);
/* len bytes, byte i = (seed + i) & 0xff, in buffers of at most rf_buf_max(); logs "write S". */
void h_write(struct h_app *a, uint32_t len, uint8_t seed);
void h_close(struct h_app *a);
void h_abort(struct h_app *a);
void h_shutdown(struct h_app *a, int how);
/* Releases held buffers (the window reopens); returns the bytes released. */
uint32_t h_release(struct h_app *a);

/* Asserts the app's log equals `expect` (the whole text). */
#define h_assert_log(a, expect) \
	ck_assert_msg(strcmp((a)->log, (expect)) == 0, "app log: expected \"%s\", got \"%s\"", \
		      (expect), (a)->log)

/* ---- connections made by the harness --------------------------------------------------- */

/* The peer's view of one connection. */
struct h_conn {
	uint16_t pport, sport; /* peer's port, stack's port */
	uint32_t snd_nxt;      /* the peer's next sequence number */
	uint32_t rcv_nxt;      /* the stack's next sequence number, as the peer acknowledges it */
	uint32_t iss, riss;    /* the peer's ISS, the stack's ISS */
	uint16_t wnd;          /* the window field the peer sends */
	struct h_app *app;
};

/* A segment from the peer with the connection's current seq/ack; SYN and FIN and the
 * payload advance snd_nxt. */
void h_conn_send(struct h_conn *c, uint8_t flags, const void *data, uint16_t len);
/* Payload of len bytes, byte i = (seed + i) & 0xff. */
void h_conn_send_pattern(struct h_conn *c, uint8_t flags, uint16_t len, uint8_t seed);

/* The peer's window shuts the way it does in practice: the stack sends len bytes (written
 * by c->app) and the peer acknowledges them with a window of 0 (c->wnd becomes 0). */
void h_shut_peer_window(struct h_conn *c, uint32_t len);
/* ... and opens it again (65535): the stack sends the len bytes it held back, from
 * c->rcv_nxt, in one segment, and nothing else; the peer acknowledges them. Returns it. */
struct h_seg h_open_peer_window(struct h_conn *c, uint32_t len);

/* Options for a handshake. */
struct h_hs_opts {
	uint16_t mss;   /* 0: H_STACK_MSS */
	bool no_ws;     /* offer no window scaling */
	uint8_t ws;     /* the peer's shift (when offered) */
	bool sack_perm; /* offer SACK */
	uint16_t wnd;   /* 0: 65535 */
};

/* Passive open on a listener (h_listen first): SYN from pport, SYN-ACK checked (MSS 1460,
 * WS 7 when offered), ACK; returns with c->app the accepted flow. */
void h_accept(struct h_conn *c, uint16_t listen_port, uint16_t pport,
	      const struct h_hs_opts *o);
/* Active open: rf_connect, SYN checked, SYN-ACK, ACK checked, app connected. */
void h_open(struct h_conn *c, uint16_t pport, const struct h_hs_opts *o);

/* ---- the end ------------------------------------------------------------------------- */

/* Closes the listener, aborts flows still open, runs the loop, then asserts: no flow open,
 * no listener, packet buffers back to the level after start-up (and <= mbufs_idle), no lwIP
 * connection block left except in TIME-WAIT; destroys the loop. */
void h_finish(void);

/* lwIP's state of the connection with the peer's port pport: "SYN_RCVD", "ESTABLISHED",
 * "FIN_WAIT_1", ..., "TIME_WAIT", or "CLOSED" when lwIP holds no such connection. A look
 * inside lwIP (its pcb lists), for tests only: it says which state a trace has reached. */
const char *h_tcp_state(uint16_t pport);
#define h_assert_state(pport, name)                                                    \
	ck_assert_msg(strcmp(h_tcp_state(pport), (name)) == 0, "TCP state %s, expected %s", \
		      h_tcp_state(pport), (name))

/* Between the harness's files (wire.c, app.c). */
bool h__trace(void);
void h__apps_end(void);  /* closes the listener, aborts flows still open */
void h__apps_free(void); /* frees the apps (after the loop ran their completions) */

/* Sequence comparison (RFC 793 arithmetic). */
static inline bool
h_seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

#endif /* RF_SEG_HARNESS_H */
