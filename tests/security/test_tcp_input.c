/*
 * Suite "security", part tcp_input: crafted segments against lwIP's TCP input, as patched by
 * stack/patches/ and configured by stack/include/lwipopts.h (docs/security.md).
 *
 * Each test reads like a trace: segments in (th_send, from tcp_harness.h), segments out
 * (th.out), what the application saw (th.received, th.conn_err). The suite is compiled, with
 * its own copy of lwIP, under AddressSanitizer where the compiler has it, and every crafted
 * frame sits in a heap buffer of exactly its size, so a read past a frame fails the test;
 * a broken lwIP assertion aborts it. Each test runs in its own process (check's fork mode)
 * and ends by checking that lwIP holds nothing any more.
 *
 * Grouped as the defences are:
 *   isn        RFC 6528 sequence numbers (stack/isn.c)
 *   options    patch 0001, option kind in the last byte of the options area
 *   ooseq      patch 0002 and TCP_OOSEQ_MAX_PBUFS: the out-of-order queue stays in bounds;
 *              patch 0016: all queues together stay within the per-core bound
 *   options6, ooseq6   the tests of patches 0001 and 0002 with IPv6 frames
 *   rfc5961    RSTs, SYNs and ACKs a blind attacker can send (lwIP, patches 0003 and 0004)
 *   synflood   patch 0005, SYN cookies once a listener's backlog is full; patch 0017, once
 *              the listeners' half-open connections reach the per-core bound
 */
#include <string.h>

#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"

#include "rf_security.h"
#include "tcp_harness.h"
#include "unit.h"

#define PEER_PORT 40000

/* Handshake with window scaling declined: a receive window of exactly 65535 bytes. */
static void
connect_peer(void)
{
	ck_assert_msg(th_connect(PEER_PORT, -1), "handshake with the stack failed");
	ck_assert_uint_eq(th.conn->rcv_wnd, 0xffff);
	ck_assert_int_eq(IP_IS_V6_VAL(th.conn->remote_ip) ? 6 : 4, th_family);
}

static uint8_t payload[65536];

/* Sends [from, to) of the peer's stream as in-order segments of at most 1460 bytes. */
static void
send_range(uint32_t from, uint32_t to)
{
	while (from != to) {
		uint16_t n = to - from > 1460 ? 1460 : (uint16_t)(to - from);

		th_send(th.peer_ip, th.peer_port, from, th.rcv_nxt, TH_ACK, 0xffff, NULL, 0,
			payload, n);
		from += n;
	}
}

/* ---- isn -------------------------------------------------------------------------------- */

/* 10,000 connections from one peer (ports differ), ISNs as lwIP draws them (tcp_next_iss,
 * which calls the hook lwipopts.h configures): no two consecutive differences are equal, and
 * the top four bits spread evenly over 16 buckets (625 expected each; 500..750 is five
 * standard deviations). lwIP's own counter fails both at once. */
START_TEST(test_isn_unpredictable_across_ports)
{
	ip_addr_t local = IPADDR4_INIT_BYTES(198, 18, 0, 2), remote = IPADDR4_INIT_BYTES(198, 18, 0, 1);
	struct tcp_pcb *pcb = tcp_new();
	unsigned int buckets[16] = {0};
	uint32_t prev = 0, prev_diff = 0;

	ck_assert_ptr_nonnull(pcb);
	ip_addr_copy(pcb->local_ip, local);
	ip_addr_copy(pcb->remote_ip, remote);
	pcb->local_port = 7;
	for (int i = 0; i < 10000; i++) {
		uint32_t isn, diff;

		pcb->remote_port = (u16_t)(30000 + i);
		isn = tcp_next_iss(pcb);
		diff = isn - prev;

		if (i >= 2)
			ck_assert_msg(diff != prev_diff, "ISN %d: same step %u as before", i, diff);
		buckets[isn >> 28]++;
		prev_diff = diff;
		prev = isn;
	}
	for (int b = 0; b < 16; b++)
		ck_assert_msg(buckets[b] >= 500 && buckets[b] <= 750,
			      "ISNs %x0000000-%xfffffff: %u of 10000", b, b, buckets[b]);
	pcb->local_port = 0; /* never bound: nothing to unbind */
	tcp_close(pcb);
}
END_TEST

/* RFC 6528's clock: the same 4-tuple 4 microseconds later starts one higher; another key
 * gives an unrelated ISN. */
START_TEST(test_isn_same_tuple_follows_clock)
{
	uint8_t k1[RF_ISN_KEY_BYTES] = {1}, k2[RF_ISN_KEY_BYTES] = {2}, t[RF_ISN_TUPLE_MAX];
	size_t n = rf_isn_tuple_v4(t, 0x020012c6, 7, 0x010012c6, 40000);

	ck_assert_int_eq(rf_isn_init(), 0);
	ck_assert_uint_eq(rf_isn_compute(k1, t, n, 4000) - rf_isn_compute(k1, t, n, 0), 1);
	ck_assert_uint_eq(rf_isn_compute(k1, t, n, 4000000) - rf_isn_compute(k1, t, n, 0), 1000);
	ck_assert_uint_ne(rf_isn_compute(k1, t, n, 0), rf_isn_compute(k2, t, n, 0));
}
END_TEST

/* ---- options (patch 0001) --------------------------------------------------------------- */

/* option kinds whose length byte lwIP reads: MSS, window scale, SACK permitted, timestamp,
 * and one it does not know */
static const uint8_t last_kinds[] = {2, 3, 4, 8, 30};

/* A SYN whose options end in a bare kind (NOP NOP NOP kind): the frame ends there. */
START_TEST(test_syn_option_kind_in_last_byte)
{
	uint8_t kind = last_kinds[_i];
	uint8_t opts[4] = {1, 1, 1, kind};
	uint32_t from = th.nout;

	th_send(TH_PEER_IP, PEER_PORT, 5000, 0, TH_SYN, 0xffff, opts, 4, NULL, 0);
	/* still answered: the malformed option is ignored, not the SYN */
	ck_assert_uint_eq(th_count(from, TH_SYN | TH_ACK), 1);
}
END_TEST

/* The same bare kind on segments of an established connection (tcp_process parses the
 * options of every segment); the connection goes on and delivers data afterwards. */
START_TEST(test_established_option_kind_in_last_byte)
{
	uint8_t kind = last_kinds[_i];
	uint8_t opts[4] = {1, 1, 1, kind};

	connect_peer();
	th_send(th.peer_ip, th.peer_port, th.snd_nxt, th.rcv_nxt, TH_ACK, 0xffff, opts, 4, NULL,
		0);
	th_send_data("abc", 3);
	th.snd_nxt += 3;
	ck_assert_uint_eq(th.received, 3);
	ck_assert_ptr_nonnull(th.conn);
}
END_TEST

/* ---- ooseq (patch 0002, TCP_OOSEQ_MAX_PBUFS) --------------------------------------------- */

/* The defect of issue 9: the last queued segment was trimmed to the window edge; a longer
 * segment with the same sequence number replaces it and reaches past the window. Filling the
 * hole then moves more bytes in order than the window holds: lwIP asserts (aborts) unless the
 * replacement is trimmed too. Afterwards exactly one window was delivered. */
START_TEST(test_ooseq_replacing_trimmed_last_segment_stays_in_window)
{
	uint32_t n0, w, edge;

	connect_peer();
	n0 = th.snd_nxt;
	w = th.conn->rcv_wnd;
	edge = n0 + w;
	th_send(th.peer_ip, th.peer_port, n0 + 1460, th.rcv_nxt, TH_ACK, 0xffff, NULL, 0, payload,
		1460);
	th_send(th.peer_ip, th.peer_port, edge - 500, th.rcv_nxt, TH_ACK, 0xffff, NULL, 0, payload,
		1000); /* appended, trimmed to 500 */
	th_send(th.peer_ip, th.peer_port, edge - 500, th.rcv_nxt, TH_ACK, 0xffff, NULL, 0, payload,
		1400); /* replaces it: 900 bytes past the window */
	send_range(n0, edge - 500);
	ck_assert_ptr_nonnull(th.conn);
	ck_assert_uint_eq(th.received, w);
	ck_assert_uint_eq(th.conn->rcv_nxt, edge);
	ck_assert_uint_eq(th.conn->rcv_wnd, 0);
}
END_TEST

/* The other path: the first segment of an empty queue, reaching past the window. */
START_TEST(test_ooseq_first_segment_past_window_is_trimmed)
{
	uint32_t n0, w, edge;

	connect_peer();
	n0 = th.snd_nxt;
	w = th.conn->rcv_wnd;
	edge = n0 + w;
	th_send(th.peer_ip, th.peer_port, edge - 300, th.rcv_nxt, TH_ACK, 0xffff, NULL, 0, payload,
		1400);
	ck_assert_ptr_nonnull(th.conn->ooseq);
	ck_assert_uint_eq(th.conn->ooseq->len, 300);
	send_range(n0, edge - 300);
	ck_assert_uint_eq(th.received, w);
	ck_assert_uint_eq(th.conn->rcv_wnd, 0);
}
END_TEST

/* 1-byte segments with holes between them: each would pin a buffer (an mbuf in rawflow).
 * The queue keeps at most TCP_OOSEQ_MAX_PBUFS of them. */
START_TEST(test_ooseq_pbufs_bounded)
{
	uint32_t n0, queued = 0;

	connect_peer();
	n0 = th.snd_nxt;
	for (uint32_t i = 1; i <= 3000; i++)
		th_send(th.peer_ip, th.peer_port, n0 + 2 * i, th.rcv_nxt, TH_ACK, 0xffff, NULL, 0,
			payload, 1);
	for (struct tcp_seg *s = th.conn->ooseq; s != NULL; s = s->next)
		queued += pbuf_clen(s->p);
	ck_assert_uint_le(queued, TCP_OOSEQ_MAX_PBUFS);
	ck_assert_uint_ge(queued, TCP_OOSEQ_MAX_PBUFS - 1);
	ck_assert_int_le(th_frames_live, TCP_OOSEQ_MAX_PBUFS);
}
END_TEST

/* Per-core bound (patch 0016, stack/bounds.c): three connections send 1,500 1-byte segments
 * with holes each, under a per-core bound of 2,048 pbufs. The first two keep their per-flow
 * 1,024, the third nothing (counted as dropped), and the total never passes the bound. When
 * the first connection goes, its share is free again for the third. */
static uint32_t
ooseq_flood(uint16_t port, uint32_t n)
{
	struct tcp_pcb *pcb = NULL;
	uint32_t queued = 0;

	ck_assert_msg(th_connect(port, -1), "handshake from port %u failed", port);
	for (struct tcp_pcb *p = tcp_active_pcbs; p != NULL; p = p->next)
		if (p->remote_port == port)
			pcb = p;
	ck_assert_ptr_nonnull(pcb);
	for (uint32_t i = 1; i <= n; i++) {
		th_send(th.peer_ip, port, th.snd_nxt + 2 * i, th.rcv_nxt, TH_ACK, 0xffff, NULL, 0,
			payload, 1);
		ck_assert_uint_le(tcp_ooseq_pbufs_total, rf_core_bounds.ooseq_max_pbufs);
	}
	for (struct tcp_seg *s = pcb->ooseq; s != NULL; s = s->next)
		queued += pbuf_clen(s->p);
	ck_assert_uint_eq(queued, pcb->ooseq_pbufs);
	return queued;
}

START_TEST(test_ooseq_pbufs_bounded_per_core)
{
	struct tcp_pcb *first;

	rf_core_bounds.ooseq_max_pbufs = 2 * TCP_OOSEQ_MAX_PBUFS;
	ck_assert_uint_eq(ooseq_flood(40001, 1500), TCP_OOSEQ_MAX_PBUFS);
	first = th.conn;
	ck_assert_uint_eq(ooseq_flood(40002, 1500), TCP_OOSEQ_MAX_PBUFS);
	ck_assert_uint_eq(rf_core_bounds.ooseq_dropped, 0);
	ck_assert_uint_eq(ooseq_flood(40003, 1500), 0);
	ck_assert_uint_eq(rf_core_bounds.ooseq_dropped, 1500);
	ck_assert_uint_eq(tcp_ooseq_pbufs_total, 2 * TCP_OOSEQ_MAX_PBUFS);
	ck_assert_int_le(th_frames_live, 2 * TCP_OOSEQ_MAX_PBUFS);
	tcp_abort(first);
	ck_assert_uint_eq(tcp_ooseq_pbufs_total, TCP_OOSEQ_MAX_PBUFS);
	ck_assert_uint_eq(ooseq_flood(40004, 1500), TCP_OOSEQ_MAX_PBUFS);
}
END_TEST

/* The count follows the queue through the in-order path: filling the holes of a queue
 * moves its segments to the application and the count back to 0. */
START_TEST(test_ooseq_count_follows_in_order_data)
{
	uint32_t n0;

	connect_peer();
	n0 = th.snd_nxt;
	for (uint32_t i = 0; i < 10; i++)
		th_send(th.peer_ip, th.peer_port, n0 + 2 * i + 1, th.rcv_nxt, TH_ACK, 0xffff, NULL, 0,
			payload, 1);
	ck_assert_uint_eq(tcp_ooseq_pbufs_total, 10);
	for (uint32_t i = 0; i < 10; i++)
		th_send(th.peer_ip, th.peer_port, n0 + 2 * i, th.rcv_nxt, TH_ACK, 0xffff, NULL, 0,
			payload, 1);
	ck_assert_uint_eq(th.received, 20);
	ck_assert_ptr_null(th.conn->ooseq);
	ck_assert_uint_eq(tcp_ooseq_pbufs_total, 0);
}
END_TEST

/* ---- options6, ooseq6: the same frames over IPv6 ------------------------------------------ */

/* The tests of patches 0001 and 0002 again with IPv6 frames (2001:2::/96 + the IPv4
 * addresses, tcp_harness.h): the defects are in lwIP's TCP, reached here through ip6_input,
 * with the TCP header at another offset of the frame. */
static void
setup6(void)
{
	th_fixture_setup();
	th_family = 6;
}

/* patch 0001's checks, patch 0002's: in the IPv4 cases and again in the IPv6 ones */
static void
add_option_tests(TCase *tc)
{
	tcase_add_loop_test(tc, test_syn_option_kind_in_last_byte, 0, sizeof(last_kinds));
	tcase_add_loop_test(tc, test_established_option_kind_in_last_byte, 0, sizeof(last_kinds));
}

static void
add_window_tests(TCase *tc)
{
	tcase_add_test(tc, test_ooseq_replacing_trimmed_last_segment_stays_in_window);
	tcase_add_test(tc, test_ooseq_first_segment_past_window_is_trimmed);
}

/* ---- rfc5961 ----------------------------------------------------------------------------- */

/* RFC 5961 3.2: an RST inside the window but not at RCV.NXT gets an ACK that tells the real
 * peer where we are; the connection survives and still delivers. */
START_TEST(test_rst_in_window_challenge_ack_and_survives)
{
	uint32_t from;
	const struct th_seg *s;

	connect_peer();
	from = th.nout;
	th_send(th.peer_ip, th.peer_port, th.snd_nxt + 1000, 0, TH_RST, 0, NULL, 0, NULL, 0);
	ck_assert_uint_eq(th.nout - from, 1);
	s = th_last();
	ck_assert_uint_eq(s->flags & (TH_ACK | TH_RST | TH_SYN), TH_ACK);
	ck_assert_uint_eq(s->ack, th.snd_nxt);
	ck_assert_uint_eq(s->seq, th.rcv_nxt);
	ck_assert_ptr_nonnull(th.conn);
	th_send_data("live", 4);
	ck_assert_uint_eq(th.received, 4);
}
END_TEST

/* An RST exactly at RCV.NXT resets the connection, silently. */
START_TEST(test_rst_exact_resets)
{
	uint32_t from;

	connect_peer();
	from = th.nout;
	th_send(th.peer_ip, th.peer_port, th.snd_nxt, 0, TH_RST, 0, NULL, 0, NULL, 0);
	ck_assert_ptr_null(th.conn);
	ck_assert_int_eq(th.conn_err, ERR_RST);
	ck_assert_uint_eq(th.nout, from);
}
END_TEST

/* An RST outside the window is dropped without an answer. */
START_TEST(test_rst_outside_window_ignored)
{
	uint32_t from;

	connect_peer();
	from = th.nout;
	th_send(th.peer_ip, th.peer_port, th.snd_nxt + 0x10000 + 10, 0, TH_RST, 0, NULL, 0, NULL,
		0);
	th_send(th.peer_ip, th.peer_port, th.snd_nxt - 10, 0, TH_RST, 0, NULL, 0, NULL, 0);
	ck_assert_uint_eq(th.nout, from);
	ck_assert_ptr_nonnull(th.conn);
}
END_TEST

/* RFC 5961 4.2: a SYN on an established connection, whatever its sequence number, gets a
 * challenge ACK and changes nothing. */
START_TEST(test_syn_on_established_challenge_ack)
{
	uint32_t from;

	connect_peer();
	from = th.nout;
	th_send(th.peer_ip, th.peer_port, th.snd_nxt + 12345, 0, TH_SYN, 0xffff, NULL, 0, NULL, 0);
	ck_assert_uint_eq(th.nout - from, 1);
	ck_assert_uint_eq(th_last()->flags & (TH_ACK | TH_RST | TH_SYN), TH_ACK);
	ck_assert_uint_eq(th_last()->ack, th.snd_nxt);
	ck_assert_ptr_nonnull(th.conn);
	ck_assert_uint_eq(th.accepted, 1);
}
END_TEST

/* RFC 5961 5.2 / patch 0004: data whose ACK acknowledges bytes never sent (above SND.NXT) is
 * not delivered; an ACK answers it. The same data with a good ACK then is. */
START_TEST(test_data_with_ack_above_snd_nxt_not_delivered)
{
	uint32_t from;

	connect_peer();
	from = th.nout;
	th_send(th.peer_ip, th.peer_port, th.snd_nxt, th.rcv_nxt + 100000, TH_ACK | TH_PSH, 0xffff,
		NULL, 0, "evil", 4);
	ck_assert_uint_eq(th.received, 0);
	ck_assert_uint_eq(th.conn->rcv_nxt, th.snd_nxt);
	ck_assert_uint_eq(th_count(from, TH_ACK), 1);
	th_send_data("good", 4);
	ck_assert_uint_eq(th.received, 4);
}
END_TEST

/* ... nor data whose ACK is older than SND.UNA - MAX.SND.WND (here 65535 before the ISN). */
START_TEST(test_data_with_ack_too_old_not_delivered)
{
	connect_peer();
	th_send(th.peer_ip, th.peer_port, th.snd_nxt, th.rcv_nxt - 70000, TH_ACK | TH_PSH, 0xffff,
		NULL, 0, "evil", 4);
	ck_assert_uint_eq(th.received, 0);
	/* an old ACK that is still within MAX.SND.WND is acceptable (RFC 5961 5.2) */
	th_send(th.peer_ip, th.peer_port, th.snd_nxt, th.rcv_nxt - 1000, TH_ACK | TH_PSH, 0xffff,
		NULL, 0, "good", 4);
	ck_assert_uint_eq(th.received, 4);
}
END_TEST

/* ... nor data without the ACK bit (RFC 9293 3.10.7.4). */
START_TEST(test_data_without_ack_flag_not_delivered)
{
	connect_peer();
	th_send(th.peer_ip, th.peer_port, th.snd_nxt, 0, TH_PSH, 0xffff, NULL, 0, "evil", 4);
	ck_assert_uint_eq(th.received, 0);
	ck_assert_ptr_nonnull(th.conn);
}
END_TEST

/* Patch 0015 (RFC 9293 3.10.7.4): a segment outside the receive window is answered with an
 * ACK and dropped before its ACK field or window is used. The stack has 1000 bytes in flight;
 * a blind segment acknowledging all of them with window 0, its sequence number 128 KiB past
 * the window (or 128 KiB before RCV.NXT), changes neither SND.UNA, nor the send window, nor
 * what is still to be retransmitted. The real peer's ACK afterwards still counts. */
START_TEST(test_out_of_window_segment_ack_and_window_unused)
{
	static const int32_t offsets[] = {0x20000, -0x20000};
	uint32_t una, wnd, nxt, from;

	connect_peer();
	ck_assert_int_eq(tcp_write(th.conn, payload, 1000, 0), ERR_OK);
	ck_assert_int_eq(tcp_output(th.conn), ERR_OK);
	una = th.conn->lastack;
	wnd = th.conn->snd_wnd;
	nxt = th.conn->snd_nxt;
	ck_assert_uint_eq(nxt - una, 1000);
	for (unsigned int i = 0; i < 2; i++) {
		from = th.nout;
		th_send(th.peer_ip, th.peer_port, th.snd_nxt + (uint32_t)offsets[i], nxt, TH_ACK, 0,
			NULL, 0, NULL, 0);
		ck_assert_msg(th.conn->lastack == una, "offset %d: SND.UNA moved by %u", offsets[i],
			      th.conn->lastack - una);
		ck_assert_msg(th.conn->snd_wnd == wnd, "offset %d: send window %u -> %u", offsets[i],
			      wnd, th.conn->snd_wnd);
		ck_assert_ptr_nonnull(th.conn->unacked);
		ck_assert_uint_eq(th_count(from, TH_ACK), 1); /* the RFC's answer: an ACK */
		ck_assert_uint_eq(th_last()->ack, th.snd_nxt);
		th_now_ms += RF_OOW_ACK_INTERVAL_MS; /* one such ACK per interval (patch 0027) */
	}
	th_send(th.peer_ip, th.peer_port, th.snd_nxt, nxt, TH_ACK, 0xffff, NULL, 0, NULL, 0);
	ck_assert_uint_eq(th.conn->lastack, nxt);
	ck_assert_ptr_null(th.conn->unacked);
}
END_TEST

/* ... nor does it move a closing connection on: FIN_WAIT_1 stays until the real ACK of our
 * FIN, which then moves it to FIN_WAIT_2. */
START_TEST(test_out_of_window_ack_of_fin_ignored)
{
	uint32_t fin_ack;

	connect_peer();
	ck_assert_int_eq(tcp_shutdown(th.conn, 0, 1), ERR_OK);
	ck_assert_int_eq(th.conn->state, FIN_WAIT_1);
	fin_ack = th.conn->snd_nxt;
	th_send(th.peer_ip, th.peer_port, th.snd_nxt + 0x20000, fin_ack, TH_ACK, 0xffff, NULL, 0,
		NULL, 0);
	ck_assert_int_eq(th.conn->state, FIN_WAIT_1);
	th_send(th.peer_ip, th.peer_port, th.snd_nxt, fin_ack, TH_ACK, 0xffff, NULL, 0, NULL, 0);
	ck_assert_int_eq(th.conn->state, FIN_WAIT_2);
}
END_TEST

/* Acceptable at the edges (as Linux): data overlapping RCV.NXT is delivered from RCV.NXT on,
 * and with a zero receive window an ACK at RCV.NXT still acknowledges. */
START_TEST(test_edge_segments_still_acceptable)
{
	uint32_t nxt;

	connect_peer();
	th_send(th.peer_ip, th.peer_port, th.snd_nxt - 2, th.rcv_nxt, TH_ACK, 0xffff, NULL, 0,
		"xxabc", 5);
	th.snd_nxt += 3;
	ck_assert_uint_eq(th.received, 3);
	send_range(th.snd_nxt, th.snd_nxt + th.conn->rcv_wnd);
	ck_assert_uint_eq(th.conn->rcv_wnd, 0);
	ck_assert_int_eq(tcp_write(th.conn, payload, 100, 0), ERR_OK);
	ck_assert_int_eq(tcp_output(th.conn), ERR_OK);
	nxt = th.conn->snd_nxt;
	th_send(th.peer_ip, th.peer_port, th.conn->rcv_nxt, nxt, TH_ACK, 0xffff, NULL, 0, NULL, 0);
	ck_assert_uint_eq(th.conn->lastack, nxt);
}
END_TEST

/* RFC 5961 7 / patch 0003: 3000 in-window RSTs within one millisecond get at most one
 * second's budget of challenge ACKs (drawn from [500, 1500)); a second later the budget is
 * back. The connection survives all of it. */
START_TEST(test_challenge_acks_rate_limited)
{
	uint32_t from = 0, acks;

	connect_peer();
	th_now_ms = 5000;
	from = th.nout;
	for (int i = 0; i < 3000; i++)
		th_send(th.peer_ip, th.peer_port, th.snd_nxt + 1 + (uint32_t)i, 0, TH_RST, 0, NULL,
			0, NULL, 0);
	acks = th_count(from, TH_ACK);
	ck_assert_msg(acks >= RF_CHALLENGE_ACK_LIMIT / 2 && acks < RF_CHALLENGE_ACK_LIMIT * 3 / 2,
		      "%u challenge ACKs for 3000 RSTs in one second", acks);
	th_now_ms += 1000;
	from = th.nout;
	for (int i = 0; i < 10; i++)
		th_send(th.peer_ip, th.peer_port, th.snd_nxt + 1, 0, TH_RST, 0, NULL, 0, NULL, 0);
	ck_assert_uint_eq(th_count(from, TH_ACK), 10);
	ck_assert_ptr_nonnull(th.conn);
}
END_TEST

/* The budget itself: refilled each second, never more than drawn. */
static uint32_t
rnd_max(uint32_t upper)
{
	return upper - 1;
}

START_TEST(test_challenge_budget_per_second)
{
	struct rf_challenge_budget b = {0};
	int n = 0;

	while (rf_challenge_ack_take(&b, 2500, 10, rnd_max))
		n++;
	ck_assert_int_eq(n, 14); /* 10 / 2 + 9 */
	ck_assert(!rf_challenge_ack_take(&b, 2999, 10, rnd_max));
	ck_assert(rf_challenge_ack_take(&b, 3000, 10, rnd_max));
}
END_TEST

/* ---- synflood (patch 0005, stack/syncookie.c) ------------------------------------------ */

/* A SYN with the MSS option only, from ip:port; returns the SYN-ACK or NULL. */
static const struct th_seg *
syn(uint32_t ip, uint16_t port, uint32_t isn, uint16_t mss)
{
	uint8_t opts[4] = {2, 4, (uint8_t)(mss >> 8), (uint8_t)mss};
	uint32_t from = th.nout;

	th_send(ip, port, isn, 0, TH_SYN, 0xffff, opts, 4, NULL, 0);
	if (th.nout != from + 1 || (th.out[from].flags & (TH_SYN | TH_ACK)) != (TH_SYN | TH_ACK))
		return NULL;
	return &th.out[from];
}

static uint32_t
half_open(void)
{
	uint32_t n = 0;

	for (struct tcp_pcb *p = tcp_active_pcbs; p != NULL; p = p->next)
		n += p->state == SYN_RCVD;
	return n;
}

/* Backlog 8 (setup): 20 SYNs from spoofed addresses all get a SYN-ACK, but only 8 half-open
 * connections exist; the other 12 got cookies. A real client then connects through a cookie
 * (its window-scaling offer is not taken up: a cookie cannot remember it) and data flows. */
START_TEST(test_full_backlog_answers_with_syn_cookies)
{
	const struct th_seg *sa;

	for (uint32_t i = 0; i < 20; i++)
		ck_assert_ptr_nonnull(syn(TH_PEER_IP + 100 + i, 1024, 7777 + i, 1460));
	ck_assert_uint_eq(half_open(), 8);
	ck_assert_uint_eq(th.listener->accepts_pending, 8);
	ck_assert_msg(th_connect(PEER_PORT, 7), "a real client could not connect after the flood");
	ck_assert_uint_eq(half_open(), 8);
	ck_assert_uint_eq(th.accepted, 1);
	ck_assert_uint_eq(th.conn->snd_scale, 0);
	ck_assert_uint_eq(th.conn->rcv_wnd, 0xffff);
	th_send_data("through a cookie", 16);
	ck_assert_uint_eq(th.received, 16);
	(void)sa;
}
END_TEST

/* Per-core bound on half-open connections (patch 0017, stack/bounds.c): two listeners of
 * backlog 8 under a per-core bound of 10. Twenty spoofed SYNs to each leave 10 half-open pcbs
 * in all (8 + 2), every other SYN gets a cookie, and a client still connects to both
 * listeners through cookies. */
static unsigned int accepted_on_8;

static err_t
accept_on_8(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)arg;
	(void)pcb;
	(void)err;
	accepted_on_8++;
	return ERR_OK;
}

START_TEST(test_half_open_bounded_per_core)
{
	struct tcp_pcb *pcb = tcp_new(), *second;

	ck_assert_ptr_nonnull(pcb);
	ck_assert_int_eq(tcp_bind(pcb, IP4_ADDR_ANY, 8), ERR_OK);
	second = tcp_listen_with_backlog(pcb, 8);
	ck_assert_ptr_nonnull(second);
	tcp_accept(second, accept_on_8);
	rf_core_bounds.half_open_max = 10;
	for (uint32_t i = 0; i < 20; i++)
		ck_assert_ptr_nonnull(syn(TH_PEER_IP + 100 + i, 1024, 7777 + i, 1460));
	th_dst_port = 8;
	for (uint32_t i = 0; i < 20; i++)
		ck_assert_ptr_nonnull(syn(TH_PEER_IP + 100 + i, 1024, 7777 + i, 1460));
	ck_assert_uint_eq(half_open(), 10);
	ck_assert_uint_eq(((struct tcp_pcb_listen *)second)->accepts_pending, 2);
	ck_assert_uint_eq(rf_core_bounds.half_open_cookies, 18);
	th_dst_port = TH_PORT;
	ck_assert_msg(th_connect(PEER_PORT, -1), "no connection to port 7 past the bound");
	th_dst_port = 8;
	ck_assert_uint_eq(th_count(0, TH_RST), 0);
	th_connect(PEER_PORT + 1, -1);
	ck_assert_msg(accepted_on_8 == 1, "no connection to port 8 past the bound");
	ck_assert_uint_eq(half_open(), 10);
	th_dst_port = TH_PORT;
	tcp_close(second);
}
END_TEST

/* The MSS travels in the cookie: a client announcing 1300 gets 1220 (the largest table value
 * not above it) in the SYN-ACK's connection. */
START_TEST(test_syn_cookie_keeps_mss)
{
	const struct th_seg *sa;

	for (uint32_t i = 0; i < 8; i++)
		syn(TH_PEER_IP + 100 + i, 1024, 1, 1460);
	sa = syn(TH_PEER_IP, PEER_PORT, 5000, 1300);
	ck_assert_ptr_nonnull(sa);
	th_send(TH_PEER_IP, PEER_PORT, 5001, sa->seq + 1, TH_ACK, 0xffff, NULL, 0, NULL, 0);
	ck_assert_ptr_nonnull(th.conn);
	ck_assert_uint_eq(th.conn->mss, 1220);
}
END_TEST

/* An ACK whose cookie is wrong by one bit, or that comes back after its time slots, gets a
 * RST and creates nothing. */
START_TEST(test_syn_cookie_forged_or_expired_refused)
{
	const struct th_seg *sa;
	uint32_t from, cookie;

	for (uint32_t i = 0; i < 8; i++)
		syn(TH_PEER_IP + 100 + i, 1024, 1, 1460);
	sa = syn(TH_PEER_IP, PEER_PORT, 5000, 1460);
	ck_assert_ptr_nonnull(sa);
	cookie = sa->seq;
	from = th.nout;
	th_send(TH_PEER_IP, PEER_PORT, 5001, (cookie ^ 0x100) + 1, TH_ACK, 0xffff, NULL, 0, NULL, 0);
	ck_assert_ptr_null(th.conn);
	ck_assert_uint_eq(th_count(from, TH_RST), 1);
	th_now_ms += 2 * RF_SYNCOOKIE_SLOT_MS;
	th_send(TH_PEER_IP, PEER_PORT, 5001, cookie + 1, TH_ACK, 0xffff, NULL, 0, NULL, 0);
	ck_assert_ptr_null(th.conn);
	ck_assert_uint_eq(th_count(from, TH_RST), 2);
	ck_assert_uint_eq(half_open(), 8);
}
END_TEST

/* The cookie itself: valid in its slot and the next, not after; another 4-tuple or client
 * ISN does not validate it. */
START_TEST(test_syn_cookie_slots)
{
	uint8_t k[RF_ISN_KEY_BYTES] = {7}, t[RF_ISN_TUPLE_MAX], t2[RF_ISN_TUPLE_MAX];
	size_t n = rf_isn_tuple_v4(t, 0x020012c6, 7, 0x010012c6, 40000);
	size_t n2 = rf_isn_tuple_v4(t2, 0x020012c6, 7, 0x010012c6, 40001);
	uint16_t mss = 1460;
	uint32_t c = rf_syncookie_make(k, t, n, 1234, 100000, &mss);

	ck_assert_uint_eq(mss, 1460);
	ck_assert_uint_eq(rf_syncookie_check(k, t, n, 1234, c, 100000), 1460);
	ck_assert_uint_eq(rf_syncookie_check(k, t, n, 1234, c, 100000 + RF_SYNCOOKIE_SLOT_MS), 1460);
	ck_assert_uint_eq(rf_syncookie_check(k, t, n, 1234, c, 100000 + 2 * RF_SYNCOOKIE_SLOT_MS), 0);
	ck_assert_uint_eq(rf_syncookie_check(k, t2, n2, 1234, c, 100000), 0);
	ck_assert_uint_eq(rf_syncookie_check(k, t, n, 1235, c, 100000), 0);
	mss = 600;
	c = rf_syncookie_make(k, t, n, 1234, 100000, &mss);
	ck_assert_uint_eq(mss, 536);
	ck_assert_uint_eq(rf_syncookie_check(k, t, n, 1234, c, 100000), 536);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("tcp_input");
	TCase *tc;

	tc = th_tcase(s, "isn", th_fixture_setup);
	tcase_add_test(tc, test_isn_unpredictable_across_ports);
	tcase_add_test(tc, test_isn_same_tuple_follows_clock);

	add_option_tests(th_tcase(s, "options", th_fixture_setup));

	tc = th_tcase(s, "ooseq", th_fixture_setup);
	add_window_tests(tc);
	tcase_add_test(tc, test_ooseq_pbufs_bounded);
	tcase_add_test(tc, test_ooseq_pbufs_bounded_per_core);
	tcase_add_test(tc, test_ooseq_count_follows_in_order_data);

	add_option_tests(th_tcase(s, "options6", setup6));
	add_window_tests(th_tcase(s, "ooseq6", setup6));

	tc = th_tcase(s, "rfc5961", th_fixture_setup);
	tcase_add_test(tc, test_rst_in_window_challenge_ack_and_survives);
	tcase_add_test(tc, test_rst_exact_resets);
	tcase_add_test(tc, test_rst_outside_window_ignored);
	tcase_add_test(tc, test_syn_on_established_challenge_ack);
	tcase_add_test(tc, test_data_with_ack_above_snd_nxt_not_delivered);
	tcase_add_test(tc, test_data_with_ack_too_old_not_delivered);
	tcase_add_test(tc, test_data_without_ack_flag_not_delivered);
	tcase_add_test(tc, test_out_of_window_segment_ack_and_window_unused);
	tcase_add_test(tc, test_out_of_window_ack_of_fin_ignored);
	tcase_add_test(tc, test_edge_segments_still_acceptable);
	tcase_add_test(tc, test_challenge_acks_rate_limited);
	tcase_add_test(tc, test_challenge_budget_per_second);

	tc = th_tcase(s, "synflood", th_fixture_setup);
	tcase_add_test(tc, test_full_backlog_answers_with_syn_cookies);
	tcase_add_test(tc, test_half_open_bounded_per_core);
	tcase_add_test(tc, test_syn_cookie_keeps_mss);
	tcase_add_test(tc, test_syn_cookie_forged_or_expired_refused);
	tcase_add_test(tc, test_syn_cookie_slots);

	return unit_run(s);
}
