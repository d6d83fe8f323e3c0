/*
 * Suite "security", part limits: what a blind attacker can make the stack send, and the
 * per-core half-open bound's size (docs/security.md). Same harness and sanitized lwIP as
 * test_tcp_input.c (tcp_harness.h): crafted segments in, the stack's segments recorded.
 *
 *   oow      stack/patches/0027 + stack/challenge_ack.c: the ACK that answers a segment
 *            outside the receive window, at most one per RF_OOW_ACK_INTERVAL_MS per
 *            connection and within the challenge-ACK budget; duplicate ACKs for out-of-order
 *            data inside the window are not limited
 *   ooseq    stack/patches/0029: in-order segments keep the per-core out-of-order count
 *            (patch 0016) without walking the queue
 *   halfopen the per-core half-open bound follows --max-flows (stack/bounds.c)
 */
#include <stdio.h>
#include <time.h>

#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"

#include "rf_security.h"
#include "tcp_harness.h"
#include "unit.h"

#define PEER_PORT 40000
#define OOW_OFFSET 0x20000 /* 128 KiB: past a 64 KiB window, or before RCV.NXT */

static uint8_t payload[1460];

static void
connect_peer(uint16_t port)
{
	ck_assert_msg(th_connect(port, -1), "handshake from port %u failed", port);
}

/* One blind segment outside the window of the connection th_connect() made last: kind 0 an
 * ACK past the window, 1 data past it, 2 an ACK before RCV.NXT, 3 data before RCV.NXT (what a
 * real peer retransmits when our ACK was lost: limited by the budget only). Returns the
 * segments the stack sent in answer (the recorded ones and any past TH_MAX_OUT). */
static uint32_t
send_oow(unsigned int kind)
{
	uint32_t from = th.nout;
	uint32_t seq = kind >= 2 ? th.snd_nxt - OOW_OFFSET : th.snd_nxt + OOW_OFFSET;

	th_send(th.peer_ip, th.peer_port, seq, th.rcv_nxt, TH_ACK, 0xffff, NULL, 0, payload,
		kind % 2 == 0 ? 0 : 100);
	return th.nout - from;
}

/* ---- oow --------------------------------------------------------------------------------- */

/* 10,000 blind out-of-window segments (ACKs and data past the window, ACKs before it), one a
 * millisecond for 10 s: one ACK per 500 ms, 20 in all (21 at most), every other one counted
 * in rf_acks_rate_limited. Nothing is delivered, and the real peer's data afterwards is. */
START_TEST(test_oow_flood_bounded)
{
	uint32_t acks = 0;

	connect_peer(PEER_PORT);
	th_now_ms = 10000;
	for (uint32_t i = 0; i < 10000; i++, th_now_ms++)
		acks += send_oow(i % 3);
	ck_assert_msg(acks >= 20 && acks <= 21, "%u ACKs for 10,000 out-of-window segments in 10 s",
		      acks);
	ck_assert_uint_eq(rf_acks_rate_limited, 10000 - acks);
	ck_assert_uint_eq(th.received, 0);
	ck_assert_ptr_nonnull(th.conn);
	ck_assert_int_eq(th.conn->state, ESTABLISHED);
	th_send_data("still here", 10);
	ck_assert_uint_eq(th.received, 10);
}
END_TEST

/* Right after an out-of-window ACK (the flow's interval running), 50 in-window out-of-order
 * segments still get one duplicate ACK each, all acknowledging RCV.NXT: fast retransmit at
 * the sender needs them. Another out-of-window segment in the same millisecond gets none. */
START_TEST(test_dupacks_for_in_window_ooseq_not_limited)
{
	uint32_t from, n0;

	connect_peer(PEER_PORT);
	ck_assert_uint_eq(send_oow(0), 1);
	n0 = th.snd_nxt;
	from = th.nout;
	for (uint32_t i = 1; i <= 50; i++)
		th_send(th.peer_ip, th.peer_port, n0 + 2 * i, th.rcv_nxt, TH_ACK, 0xffff, NULL, 0,
			payload, 1);
	ck_assert_uint_eq(th.nout - from, 50);
	for (uint32_t i = from; i < th.nout; i++)
		ck_assert_uint_eq(th.out[i].ack, n0);
	ck_assert_uint_eq(send_oow(1), 0);
	ck_assert_uint_eq(rf_acks_rate_limited, 1);
	/* the first hole filled: its two bytes and the queued byte after them delivered */
	th_send_data(payload, 2);
	ck_assert_uint_eq(th.received, 3);
}
END_TEST

/* Data wholly before RCV.NXT is what a real peer retransmits when our ACK was lost (after an
 * RTO, possibly several segments, or duplicated on the way): a 500 ms silence would cost it
 * another RTO, so it is answered even within the interval, but only within the per-process
 * budget: 3,000 such segments in one millisecond get one second's budget, 500 to 1,499. */
START_TEST(test_old_data_answered_within_budget)
{
	uint32_t acks = 0;

	connect_peer(PEER_PORT);
	ck_assert_uint_eq(send_oow(0), 1);
	ck_assert_uint_eq(send_oow(3), 1); /* within the interval: still answered */
	for (int i = 0; i < 3000; i++)
		acks += send_oow(3);
	ck_assert_msg(acks >= RF_CHALLENGE_ACK_LIMIT / 2 - 1 && acks < RF_CHALLENGE_ACK_LIMIT * 3 / 2,
		      "%u ACKs for 3,000 old data segments in one millisecond", acks);
	ck_assert_uint_eq(th.received, 0);
}
END_TEST

/* The interval is per connection: a second connection answers its first out-of-window
 * segment in the same millisecond as the first connection. */
START_TEST(test_oow_interval_per_connection)
{
	connect_peer(PEER_PORT);
	ck_assert_uint_eq(send_oow(0), 1);
	ck_assert_uint_eq(send_oow(0), 0);
	connect_peer(PEER_PORT + 1);
	ck_assert_uint_eq(send_oow(0), 1);
	ck_assert_uint_eq(send_oow(0), 0);
	th_now_ms += RF_OOW_ACK_INTERVAL_MS;
	ck_assert_uint_eq(send_oow(0), 1);
}
END_TEST

/* ... and each ACK also takes from the per-process challenge-ACK budget (RFC 5961 7): once
 * 3,000 in-window RSTs spent this second's budget, a fresh connection's out-of-window segment
 * gets no ACK; a second later it does. */
START_TEST(test_oow_within_challenge_budget)
{
	connect_peer(PEER_PORT);
	th_now_ms = 5000;
	for (int i = 0; i < 3000; i++)
		th_send(th.peer_ip, th.peer_port, th.snd_nxt + 1 + (uint32_t)i, 0, TH_RST, 0, NULL,
			0, NULL, 0);
	ck_assert_uint_ge(rf_acks_rate_limited, 3000 - RF_CHALLENGE_ACK_LIMIT * 3 / 2);
	ck_assert_uint_eq(send_oow(0), 0);
	th_now_ms += 1000;
	ck_assert_uint_eq(send_oow(0), 1);
	ck_assert_ptr_nonnull(th.conn);
}
END_TEST

START_TEST(test_oow_interval)
{
	uint32_t last = 0;

	ck_assert(rf_oow_ack_take(&last, 7000, 500));
	ck_assert_uint_eq(last, 7000);
	ck_assert(!rf_oow_ack_take(&last, 7499, 500));
	ck_assert(rf_oow_ack_take(&last, 7500, 500));
	last = 0xffffff00u; /* the millisecond clock wraps after 49 days */
	ck_assert(!rf_oow_ack_take(&last, 0xffffff00u + 499, 500));
	ck_assert(rf_oow_ack_take(&last, 0x100, 500));
	last = 0;
	ck_assert(rf_oow_ack_take(&last, 0, 500));
	ck_assert_uint_eq(last, 1); /* 0 would mean never */
	ck_assert(!rf_oow_ack_take(&last, 400, 500));
}
END_TEST

/* ---- ooseq ------------------------------------------------------------------------------- */

static uint32_t
walk(const struct tcp_pcb *pcb)
{
	uint32_t n = 0;

	for (const struct tcp_seg *s = pcb->ooseq; s != NULL; s = s->next)
		n += pbuf_clen(s->p);
	return n;
}

/* 100 2-byte segments queued behind 1-byte holes, then in-order segments of 1 to 7 bytes
 * (some end inside a queued segment, some cover several, each fill dequeues what follows):
 * after every segment pcb->ooseq_pbufs and the per-core total equal a walk of the queue.
 * Then 20 more queued and an in-order FIN bins them: 0. */
START_TEST(test_ooseq_count_kept_by_in_order_data)
{
	uint32_t n0, nxt, steps = 0;

	connect_peer(PEER_PORT);
	n0 = th.snd_nxt;
	for (uint32_t i = 0; i < 100; i++)
		th_send(th.peer_ip, th.peer_port, n0 + 10 + 3 * i, th.rcv_nxt, TH_ACK, 0xffff, NULL, 0,
			payload, 2);
	ck_assert_uint_eq(th.conn->ooseq_pbufs, 100);
	while (th.conn->ooseq != NULL) {
		nxt = th.conn->rcv_nxt;
		th_send(th.peer_ip, th.peer_port, nxt, th.rcv_nxt, TH_ACK, 0xffff, NULL, 0, payload,
			(uint16_t)(1 + steps % 7));
		steps++;
		ck_assert_uint_eq(th.conn->ooseq_pbufs, walk(th.conn));
		ck_assert_uint_eq(tcp_ooseq_pbufs_total, th.conn->ooseq_pbufs);
		ck_assert_uint_lt(steps, 400);
	}
	ck_assert_uint_eq(th.conn->ooseq_pbufs, 0);
	nxt = th.conn->rcv_nxt;
	for (uint32_t i = 0; i < 20; i++)
		th_send(th.peer_ip, th.peer_port, nxt + 10 + 3 * i, th.rcv_nxt, TH_ACK, 0xffff, NULL, 0,
			payload, 2);
	ck_assert_uint_eq(th.conn->ooseq_pbufs, 20);
	th_send(th.peer_ip, th.peer_port, nxt, th.rcv_nxt, TH_ACK | TH_FIN, 0xffff, NULL, 0,
		payload, 1);
	ck_assert_ptr_null(th.conn->ooseq);
	ck_assert_uint_eq(th.conn->ooseq_pbufs, 0);
	ck_assert_uint_eq(tcp_ooseq_pbufs_total, 0);
}
END_TEST

static double
now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* Nanoseconds per in-order 1-byte segment (the best of three runs of 2,000) on a connection
 * from port whose out-of-order queue holds `queued` segments beyond a hole. */
static double
in_order_cost(uint16_t port, uint32_t queued)
{
	double best = 1e18;
	uint32_t n0;

	connect_peer(port);
	n0 = th.snd_nxt;
	for (uint32_t i = 0; i < queued; i++)
		th_send(th.peer_ip, port, n0 + 20000 + 2 * i, th.rcv_nxt, TH_ACK, 0xffff, NULL, 0,
			payload, 1);
	ck_assert_uint_eq(th.conn->ooseq_pbufs, queued);
	for (uint32_t run = 0; run < 3; run++) {
		double t0 = now_ns(), t;

		for (uint32_t i = 0; i < 2000; i++)
			th_send(th.peer_ip, port, n0 + run * 2000 + i, th.rcv_nxt, TH_ACK, 0xffff, NULL,
				0, payload, 1);
		t = (now_ns() - t0) / 2000;
		best = t < best ? t : best;
		th_recved(2000);
		th.nout = 0; /* the ACKs are not looked at */
	}
	ck_assert_uint_eq(th.conn->ooseq_pbufs, queued);
	tcp_abort(th.conn);
	return best;
}

/* Before patch 0029 every in-order segment walked the whole queue: 16 us per segment behind
 * 1,000 queued segments against 2 us behind none (8 times; this harness, ASan). Now the
 * queue's length does not matter; the bound of 4 times leaves room for a busy machine. */
START_TEST(test_in_order_cost_independent_of_queue)
{
	double none = in_order_cost(PEER_PORT, 0);
	double long_queue = in_order_cost(PEER_PORT + 1, 1000);

	printf("in-order segment: %.0f ns behind no queue, %.0f ns behind 1,000 queued\n", none,
	       long_queue);
	ck_assert_msg(long_queue < 4 * none, "%.0f ns per in-order segment behind 1,000 queued, "
		      "%.0f behind none", long_queue, none);
}
END_TEST

/* ---- halfopen ---------------------------------------------------------------------------- */

/* A quarter of --max-flows, never below 1,024 (four full backlogs of 255): the default
 * 16,384 flows give 4,096; rf_core_bounds_init() applies it. */
START_TEST(test_half_open_bound_follows_max_flows)
{
	ck_assert_uint_eq(rf_half_open_max(2), RF_HALF_OPEN_MIN);
	ck_assert_uint_eq(rf_half_open_max(4096), 1024);
	ck_assert_uint_eq(rf_half_open_max(16384), 4096);
	ck_assert_uint_eq(rf_half_open_max(1000000), 250000);
	rf_core_bounds_init(65535, 100000);
	ck_assert_uint_eq(rf_core_bounds.half_open_max, 25000);
	ck_assert_uint_eq(rf_core_bounds.ooseq_max_pbufs, 65535 / RF_OOSEQ_POOL_SHARE);
	rf_core_bounds_init(65535, 10);
	ck_assert_uint_eq(rf_core_bounds.half_open_max, 1024);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("limits");
	TCase *tc;

	tc = th_tcase(s, "oow", th_fixture_setup);
	tcase_add_test(tc, test_oow_flood_bounded);
	tcase_add_test(tc, test_dupacks_for_in_window_ooseq_not_limited);
	tcase_add_test(tc, test_oow_interval_per_connection);
	tcase_add_test(tc, test_old_data_answered_within_budget);
	tcase_add_test(tc, test_oow_within_challenge_budget);
	tcase_add_test(tc, test_oow_interval);

	tc = th_tcase(s, "ooseq", th_fixture_setup);
	tcase_add_test(tc, test_ooseq_count_kept_by_in_order_data);
	tcase_add_test(tc, test_in_order_cost_independent_of_queue);

	tc = th_tcase(s, "halfopen", NULL);
	tcase_add_test(tc, test_half_open_bound_follows_max_flows);
	return unit_run(s);
}
