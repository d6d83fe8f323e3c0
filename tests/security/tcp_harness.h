/*
 * A peer made of crafted segments, for lwIP's TCP input (tests/security/test_tcp_input.c).
 *
 * lwIP runs here without DPDK: one netif at 198.18.0.2/24 and 2001:2::c612:2 whose output
 * functions record every segment the stack sends, and whose input is fed frames built by
 * th_send(): IPv4 + TCP, or IPv6 + TCP while th_family is 6 (addresses 2001:2::/96 + the
 * IPv4 address, so tests name hosts the same way in both families; recorded segments carry
 * the addresses' last 32 bits), each in its own malloc'd buffer of exactly the frame's length,
 * wrapped as a custom pbuf as stack/netif.c wraps mbufs. So a read one byte past a frame is a
 * heap overflow that AddressSanitizer reports (the suite is built with -fsanitize=address).
 * Checksums are neither checked nor generated on this netif. Time is th_now_ms (lwIP's
 * sys_now), advanced by the tests; lwIP's timers are never run.
 *
 * The stack side is an lwIP listener on port 7 whose accepted connection counts the bytes it
 * receives and never calls tcp_recved(), so its receive window only shrinks (tests open it
 * with th_recved()).
 */
#ifndef RF_TCP_HARNESS_H
#define RF_TCP_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include <check.h>

#include "lwip/tcp.h"

#define TH_STACK_IP 0xc6120002u /* 198.18.0.2, host order */
#define TH_PEER_IP 0xc6120001u  /* 198.18.0.1 */
#define TH_PORT 7

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

/* A segment the stack sent. */
struct th_seg {
	uint32_t src, dst; /* host order */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t wnd;
	uint16_t len; /* payload bytes */
};

#define TH_MAX_OUT 8192

struct th {
	struct tcp_pcb_listen *listener;
	struct tcp_pcb *conn;       /* the accepted connection, NULL once gone */
	err_t conn_err;             /* what its error callback said (ERR_OK: none) */
	uint64_t received;          /* payload bytes delivered to the receive callback */
	bool got_fin;
	uint32_t accepted;
	struct th_seg out[TH_MAX_OUT];
	uint32_t nout;              /* segments sent by the stack, including dropped records */
	/* the peer's side of the connection made by th_connect() */
	uint32_t peer_ip;
	uint16_t peer_port;
	uint32_t snd_nxt; /* the peer's next sequence number */
	uint32_t rcv_nxt; /* the peer's view of the stack's next sequence number */
};

extern struct th th;
extern uint32_t th_now_ms;
extern uint16_t th_dst_port; /* where th_send() sends to: TH_PORT unless a test changes it */
extern long th_frames_live; /* crafted frames not yet freed by lwIP */
extern int th_family;       /* 4 or 6: what th_send() builds (th_setup() sets 4) */

/* lwIP started, netif up, listener on TH_PORT with this backlog. */
void th_setup(uint8_t backlog);
/* Aborts every pcb, closes the listener; then pools must be back to zero (th_leak_check). */
void th_teardown(void);
/* Describes what is still allocated, or NULL when nothing is. */
const char *th_leaks(void);

/* check's fixture of the suites on this harness: th_setup(8) before each test; after it
 * th_teardown() and a failed test when lwIP still holds anything (th_leaks). */
void th_fixture_setup(void);
void th_fixture_teardown(void);
/* A test case named name in s, with setup and th_fixture_teardown as its checked fixture
 * (setup NULL: no fixture). */
TCase *th_tcase(Suite *s, const char *name, void (*setup)(void));

/* Sends one segment to the stack from ip:port to TH_PORT. opts: raw TCP option bytes. */
void th_send(uint32_t ip, uint16_t port, uint32_t seq, uint32_t ack, uint8_t flags,
	     uint16_t wnd, const uint8_t *opts, uint8_t optlen, const void *data, uint16_t len);
/* The same, from the connection's peer with its current sequence and acknowledgement. */
void th_send_data(const void *data, uint16_t len);

/* Three-way handshake from TH_PEER_IP:port; window scaling offered when wscale >= 0.
 * Returns true when the stack accepted the connection. */
bool th_connect(uint16_t port, int wscale);

/* Segments the stack sent since index `from` that carry the flags in `all`. */
uint32_t th_count(uint32_t from, uint8_t all);
/* The last segment the stack sent, or NULL. */
const struct th_seg *th_last(void);

/* Opens the stack's receive window by n bytes (the application consumed them). */
void th_recved(uint32_t n);

#endif /* RF_TCP_HARNESS_H */
