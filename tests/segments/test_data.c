/*
 * Segment tests: ESTABLISHED. Out-of-order data and SACK, zero windows both ways and
 * window probes, retransmission (timeout with backoff, fast retransmit), keepalive.
 *
 * lwIP's timers here (stack/lwip/src/core/tcp.c): slow tick every 200 ms; RTO doubled per
 * timeout up to 2^7 times the base (tcp_backoff), TCP_MAXRTX (12) retransmissions; persist
 * probes after 3, 6, 12, 24, 48, 96, 120, 120, ... ticks (tcp_persist_backoff), each probe
 * one byte; keepalive (when SOF_KEEPALIVE is set) after 2 h idle, then every 75 s, 9 probes.
 */
#include <inttypes.h>
#include <string.h>

#include "lwip/ip.h"

#include "flow_internal.h" /* keepalive: the pcb behind a flow (rawflow.h has no option) */
#include "harness.h"
#include "unit.h"

#define PORT 80
#define PEER_PORT 40000

static void
check_pattern(const struct h_app *a, uint32_t off, uint32_t len, uint8_t seed)
{
	ck_assert_uint_ge(a->rx_len, off + len);
	for (uint32_t i = 0; i < len; i++)
		ck_assert_msg(a->rx[off + i] == (uint8_t)(seed + i),
			      "byte %u of the read data: %u, expected %u", off + i, a->rx[off + i],
			      (uint8_t)(seed + i));
}

/* A peer segment at an explicit sequence number (out of order), with the ACK current. */
static void
send_at(struct h_conn *c, uint32_t seq, uint16_t len, uint8_t seed)
{
	uint8_t buf[H_MAX_PAYLOAD];

	for (uint16_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i);
	h_send(&(struct h_tcp){.sport = c->pport, .dport = c->sport, .seq = seq, .ack = c->rcv_nxt,
			       .flags = H_ACK, .wnd = c->wnd, .data = buf, .len = len});
}

/* ---- out of order --------------------------------------------------------------------------- */

START_TEST(test_ooo_segment_filled_in_delivers_in_order)
{
	struct h_conn c;
	struct h_seg s;
	uint32_t base;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, &(struct h_hs_opts){.sack_perm = true});
	base = c.snd_nxt;
	/* bytes 100..199 before 0..99: a duplicate ACK at once, SACKing what arrived
	 * (RFC 5681 4.2: immediate ACK for out-of-order data; RFC 2018) */
	send_at(&c, base + 100, 100, 100);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, base);
	ck_assert_uint_eq(s.len, 0);
	ck_assert_uint_eq(s.nsack, 1);
	ck_assert_uint_eq(s.sack[0][0], base + 100);
	ck_assert_uint_eq(s.sack[0][1], base + 200);
	h_none();
	h_assert_log(c.app, "accept"); /* nothing for the application yet */

	/* the hole is filled: everything acknowledged, the application reads both pieces in
	 * order (one buffer per segment, no copy) */
	send_at(&c, base, 100, 0);
	h_run();
	h_assert_log(c.app, "accept, read 100, read 100");
	check_pattern(c.app, 0, 200, 0);
	/* lwIP delays this ACK like any in-order data (tcp_ack); RFC 5681 4.2 says SHOULD
	 * acknowledge at once a segment that fills a gap. It comes by the next fast timer. */
	ck_assert(h_advance_until_seg(100));
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, base + 200);
	ck_assert_uint_eq(s.nsack, 0);
	h_none();
	h_finish();
}
END_TEST

START_TEST(test_ooo_segments_with_two_holes_sack_both_blocks)
{
	struct h_conn c;
	struct h_seg s;
	uint32_t base;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, &(struct h_hs_opts){.sack_perm = true});
	base = c.snd_nxt;
	send_at(&c, base + 400, 100, 400 & 0xff); /* [400, 500) */
	h_run();
	s = h_recv();
	ck_assert_uint_eq(s.nsack, 1);
	send_at(&c, base + 200, 100, 200); /* [200, 300) */
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, base);
	/* RFC 2018 4: the first block is the one the latest segment went into */
	ck_assert_uint_eq(s.nsack, 2);
	ck_assert_uint_eq(s.sack[0][0], base + 200);
	ck_assert_uint_eq(s.sack[0][1], base + 300);
	ck_assert_uint_eq(s.sack[1][0], base + 400);
	ck_assert_uint_eq(s.sack[1][1], base + 500);
	/* [0, 200): the first hole; [400, 500) still SACKed */
	send_at(&c, base, 200, 0);
	h_run();
	ck_assert(h_advance_until_seg(100));
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, base + 300);
	ck_assert_uint_eq(s.nsack, 1);
	ck_assert_uint_eq(s.sack[0][0], base + 400);
	h_assert_log(c.app, "accept, read 200, read 100");
	/* [300, 400): all of it */
	send_at(&c, base + 300, 100, 300 & 0xff);
	h_run();
	ck_assert(h_advance_until_seg(100));
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, base + 500);
	ck_assert_uint_eq(s.nsack, 0);
	h_assert_log(c.app, "accept, read 200, read 100, read 100, read 100");
	check_pattern(c.app, 0, 500, 0);
	h_finish();
}
END_TEST

START_TEST(test_ooo_fin_is_delivered_after_the_data_before_it)
{
	struct h_conn c;
	struct h_seg s;
	uint32_t base;
	uint8_t d[100];

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, &(struct h_hs_opts){.sack_perm = true});
	base = c.snd_nxt;
	/* the last 100 bytes and the FIN arrive before the first 100 */
	for (int i = 0; i < 100; i++)
		d[i] = (uint8_t)(100 + i);
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = base + 100,
			       .ack = c.rcv_nxt, .flags = H_FIN | H_ACK, .wnd = 65535, .data = d,
			       .len = 100});
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, base);
	ck_assert_uint_eq(s.nsack, 1);
	ck_assert_uint_eq(s.sack[0][1], base + 200); /* the FIN is not in a SACK block */
	h_assert_log(c.app, "accept");
	h_assert_state(PEER_PORT, "ESTABLISHED");
	/* the hole filled: data in order, then EOF; the FIN acknowledged at once */
	send_at(&c, base, 100, 0);
	h_run();
	h_assert_log(c.app, "accept, read 100, read 100, read EOF");
	check_pattern(c.app, 0, 200, 0);
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, base + 201);
	h_none();
	h_assert_state(PEER_PORT, "CLOSE_WAIT");
	h_finish();
}
END_TEST

START_TEST(test_overlapping_retransmission_is_delivered_once)
{
	struct h_conn c;
	struct h_seg s;
	uint32_t base;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	base = c.snd_nxt;
	send_at(&c, base, 100, 0);
	h_run();
	h_assert_log(c.app, "accept, read 100");
	/* the peer missed our ACK and resends from byte 50, with 100 new bytes after */
	send_at(&c, base + 50, 150, 50);
	h_run();
	/* only the new part reaches the application, as a view into the same frame */
	h_assert_log(c.app, "accept, read 100, read 100");
	check_pattern(c.app, 0, 200, 0);
	/* and an exact duplicate: acknowledged at once, nothing delivered */
	send_at(&c, base, 100, 0);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, base + 200);
	h_assert_log(c.app, "accept, read 100, read 100");
	h_finish();
}
END_TEST

START_TEST(test_shutdown_read_drops_data_and_keeps_window_open)
{
	struct h_conn c;
	struct h_seg s;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	/* rawflow.h: RF_SHUT_RD completes the pending read with EOF; later data is dropped
	 * but acknowledged, and the window stays open (the peer is not held back) */
	h_shutdown(c.app, RF_SHUT_RD);
	h_run();
	h_assert_log(c.app, "accept, read EOF");
	for (int i = 0; i < 4; i++)
		h_conn_send_pattern(&c, H_ACK, 1460, 0);
	h_run();
	ck_assert(h_advance_until_seg(100));
	while (h_pending())
		s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, c.snd_nxt);
	/* all of it credited back: the right edge moved by the 5840 bytes */
	ck_assert_uint_eq(s.wnd, H_STACK_WND >> H_STACK_WS);
	h_assert_log(c.app, "accept, read EOF");
	ck_assert_uint_eq(c.app->rx_len, 0);
	h_finish();
}
END_TEST

/* ---- zero windows ------------------------------------------------------------------------------ */

START_TEST(test_zero_window_then_probe)
{
	struct h_conn c;
	struct h_seg p[16], s;
	unsigned int n = 0;
	uint32_t base;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	h_shut_peer_window(&c, 10);
	base = c.rcv_nxt;
	h_write(c.app, 100, 7);
	h_run();
	h_none(); /* nothing fits */
	h_assert_log(c.app, "accept, write OK, write OK"); /* queued: the write is complete */
	/* persist probes, one byte each, backing off: 3, 6, 12, 24 ticks of 200 ms */
	while (n < 5 && h_advance_until_seg(30000)) {
		p[n] = h_recv();
		h_assert_seg(p[n], H_ACK, base, c.snd_nxt);
		ck_assert_uint_eq(p[n].len, 1);
		ck_assert_uint_eq(p[n].data[0], 7);
		/* the peer still has no room: it acknowledges nothing new, window 0 */
		h_conn_send(&c, H_ACK, NULL, 0);
		h_run();
		h_none();
		n++;
	}
	ck_assert_uint_eq(n, 5);
	for (unsigned int i = 2; i < n; i++)
		ck_assert_msg(p[i].t_ms - p[i - 1].t_ms == 2 * (p[i - 1].t_ms - p[i - 2].t_ms),
			      "probe %u after %" PRIu64 " ms, the one before after %" PRIu64 " ms",
			      i, p[i].t_ms - p[i - 1].t_ms, p[i - 1].t_ms - p[i - 2].t_ms);
	ck_assert_uint_eq(p[2].t_ms - p[1].t_ms, 2400);
	/* the window opens: all 100 bytes */
	ck_assert_uint_eq(c.rcv_nxt, base);
	s = h_open_peer_window(&c, 100);
	ck_assert_uint_eq(s.data[0], 7);
	h_finish();
}
END_TEST

START_TEST(test_zero_window_answered_probes_keep_connection_open)
{
	struct h_conn c;
	struct h_seg s;
	uint32_t base;
	unsigned int probes = 0;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	h_shut_peer_window(&c, 10);
	base = c.rcv_nxt;
	h_write(c.app, 10, 0);
	h_run();
	/* RFC 1122 4.2.2.17: the connection stays open as long as the receiver answers the
	 * probes. lwIP gives up after TCP_MAXRTX (12) probes only when they go unanswered
	 * (an answer resets pcb->persist_probe). 20 answered probes, about 6 minutes: */
	while (probes < 20 && h_advance_until_seg(30000)) {
		s = h_recv();
		h_assert_seg(s, H_ACK, base, c.snd_nxt);
		ck_assert_uint_eq(s.len, 1);
		h_conn_send(&c, H_ACK, NULL, 0);
		h_run();
		probes++;
	}
	ck_assert_uint_eq(probes, 20);
	/* the backoff stops growing at 120 ticks (24 s) */
	h_advance(23900);
	h_none();
	ck_assert(h_advance_until_seg(200));
	h_discard();
	h_assert_log(c.app, "accept, write OK, write OK");
	ck_assert_uint_eq(c.rcv_nxt, base);
	h_open_peer_window(&c, 10);
	h_finish();
}
END_TEST

START_TEST(test_zero_window_unanswered_probes_drop_connection)
{
	struct h_conn c;
	unsigned int probes = 0;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	h_shut_peer_window(&c, 10);
	h_write(c.app, 10, 0);
	h_run();
	/* the peer is gone: TCP_MAXRTX (12) probes, then lwIP drops the connection */
	while (h_advance_until_seg(30000)) {
		struct h_seg s = h_recv();

		ck_assert_uint_eq(s.len, 1);
		probes++;
		ck_assert_uint_le(probes, 12);
	}
	ck_assert_uint_eq(probes, 12);
	h_assert_log(c.app, "accept, write OK, write OK, read ETIMEDOUT");
	h_abort(c.app);
	h_finish();
}
END_TEST

START_TEST(test_receive_window_shuts_while_app_holds_data_and_reopens)
{
	struct h_conn c;
	struct h_seg s, last;
	uint32_t sent = 0, base;
	unsigned int acks = 0;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	c.app->hold = true; /* the application keeps every buffer it reads */
	base = c.snd_nxt;
	/* the peer fills the whole 2 MiB window */
	while (sent < H_STACK_WND) {
		for (int i = 0; i < 30 && sent < H_STACK_WND; i++) {
			uint16_t len = H_STACK_WND - sent < 1460 ? (uint16_t)(H_STACK_WND - sent)
								 : 1460;

			h_conn_send_pattern(&c, H_ACK, len, (uint8_t)sent);
			sent += len;
		}
		h_run();
	}
	h_advance(200); /* the last delayed ACK */
	while (h_pending()) {
		last = h_recv();
		acks++;
	}
	ck_assert_uint_gt(acks, 0);
	h_assert_seg(last, H_ACK, c.rcv_nxt, base + H_STACK_WND);
	ck_assert_uint_eq(last.wnd, 0);
	ck_assert_uint_eq(c.app->rx_len, H_STACK_WND);

	/* a probe into the shut window: dropped, answered with the same ACK, window 0 */
	h_conn_send(&c, H_ACK, "z", 1);
	c.snd_nxt--; /* not taken */
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, base + H_STACK_WND);
	ck_assert_uint_eq(s.wnd, 0);
	h_none();
	ck_assert_uint_eq(c.app->rx_len, H_STACK_WND);

	/* The application lets go of every buffer: window updates at once. Released bytes
	 * go to tcp_recved() summed per flow and pass (rf__flow_credit), in steps of at most
	 * 65,535 (its u16 argument): the first update opens 65,535 bytes and 2 MiB take at
	 * most 33 updates (one per buffer sent one per 5840 bytes: about 360). */
	ck_assert_uint_eq(h_release(c.app), H_STACK_WND);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, base + H_STACK_WND);
	ck_assert_uint_eq(s.wnd, 0xffffu >> H_STACK_WS);
	acks = 1;
	while (h_pending()) {
		last = h_recv();
		h_assert_seg(last, H_ACK, c.rcv_nxt, base + H_STACK_WND);
		ck_assert_uint_ge(last.wnd, s.wnd);
		s = last;
		acks++;
	}
	ck_assert_uint_le(acks, H_STACK_WND / 0xffffu + 1);
	/* the last: within one threshold of the whole window */
	ck_assert_uint_gt(s.wnd, (H_STACK_WND - 4 * 1460) >> H_STACK_WS);
	c.app->hold = false;
	/* and data flows again */
	h_conn_send_pattern(&c, H_ACK | H_PSH, 10, 0);
	h_advance(100);
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, base + H_STACK_WND + 10);
	ck_assert_uint_eq(c.app->rx_len, H_STACK_WND + 10);
	h_finish();
}
END_TEST

START_TEST(test_fin_into_shut_window_is_taken_once_window_reopens)
{
	struct h_conn c;
	struct h_seg s;
	uint32_t sent = 0;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	c.app->hold = true;
	while (sent < H_STACK_WND) {
		for (int i = 0; i < 30 && sent < H_STACK_WND; i++) {
			uint16_t len = H_STACK_WND - sent < 1460 ? (uint16_t)(H_STACK_WND - sent)
								 : 1460;

			h_conn_send_pattern(&c, H_ACK, len, (uint8_t)sent);
			sent += len;
		}
		h_run();
	}
	h_advance(200);
	h_discard();
	/* the peer closes while the window is shut: a FIN takes sequence space, so it is not
	 * acceptable in a zero window (RFC 9293 3.10.7.4); dropped, the ACK says so */
	h_conn_send(&c, H_FIN | H_ACK, NULL, 0);
	c.snd_nxt--;
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, c.snd_nxt);
	ck_assert_uint_eq(s.wnd, 0);
	h_assert_state(PEER_PORT, "ESTABLISHED");
	ck_assert_msg(strstr(c.app->log, "EOF") == NULL, "EOF before the FIN was taken");
	/* the application lets go, the window opens; the peer retransmits its FIN */
	h_release(c.app);
	h_run();
	h_discard();
	h_conn_send(&c, H_FIN | H_ACK, NULL, 0);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, c.snd_nxt);
	h_assert_state(PEER_PORT, "CLOSE_WAIT");
	ck_assert_uint_eq(c.app->rx_len, H_STACK_WND);
	ck_assert_ptr_nonnull(strstr(c.app->log, "read EOF"));
	h_finish();
}
END_TEST

/* ---- retransmission ---------------------------------------------------------------------------- */

START_TEST(test_rto_backoff_doubles)
{
	struct h_conn c;
	struct h_seg s[16];
	unsigned int n = 0;
	uint64_t base_ms;

	h_start(0);
	h_listen(PORT);
	h_advance(1000); /* lwIP times the handshake only once its tick counter runs */
	h_accept(&c, PORT, PEER_PORT, NULL);
	h_write(c.app, 100, 0);
	h_run();
	s[n++] = h_recv();
	h_assert_seg(s[0], H_ACK | H_PSH, c.rcv_nxt, c.snd_nxt);
	/* the peer never acknowledges */
	while (n < 16 && c.app->end == 0) {
		h_advance(100);
		if (h_pending())
			s[n++] = h_recv();
	}
	/* TCP_MAXRTX = 12 retransmissions, then the connection is dropped without a reset,
	 * at the next slow tick (200 ms after the last one) */
	ck_assert_uint_eq(n, 13);
	h_assert_log(c.app, "accept, write OK, read ETIMEDOUT");
	ck_assert_uint_eq(h_now() - s[12].t_ms, 200);
	for (unsigned int i = 1; i < n; i++) {
		h_assert_seg(s[i], H_ACK | H_PSH, c.rcv_nxt, c.snd_nxt);
		ck_assert_uint_eq(s[i].len, 100);
	}
	/* The handshake's RTT sample (0 ticks: the ACK came in the SYN-ACK's tick) gives
	 * srtt 0, rttvar 3 ticks, RTO = 12 ticks (2.4 s; lwIP keeps sa = 8 srtt and sv =
	 * 4 rttvar and computes rto = sa/8 + sv). The first timeout is counted from a tick
	 * that may come right after the send, so it takes 2.2 to 2.4 s. */
	base_ms = s[1].t_ms - s[0].t_ms;
	ck_assert_msg(base_ms >= 2200 && base_ms <= 2400, "first retransmission after %" PRIu64,
		      base_ms);
	/* then base << 1, << 2, ... << 7 (tcp_backoff caps the shift at 7) */
	for (unsigned int i = 2; i < n; i++) {
		uint64_t want = 2400ull << (i - 1 < 7 ? i - 1 : 7);

		ck_assert_msg(s[i].t_ms - s[i - 1].t_ms == want,
			      "retransmission %u after %" PRIu64 " ms, expected %" PRIu64, i,
			      s[i].t_ms - s[i - 1].t_ms, want);
	}
	h_abort(c.app);
	h_run();
	h_none(); /* lwIP has already forgotten it: no RST */
	h_finish();
}
END_TEST

START_TEST(test_ack_after_rto_retransmission_resumes_sending)
{
	struct h_conn c;
	struct h_seg s;
	uint32_t base;

	h_start(0);
	h_listen(PORT);
	h_advance(1000);
	h_accept(&c, PORT, PEER_PORT, NULL);
	base = c.rcv_nxt;
	h_write(c.app, 100, 0);
	h_run();
	s = h_recv();
	ck_assert(h_advance_until_seg(3000)); /* lost: retransmitted */
	s = h_recv();
	h_assert_seg(s, H_ACK | H_PSH, base, c.snd_nxt);
	/* acknowledged; new data goes at once, nothing more is retransmitted */
	c.rcv_nxt = base + 100;
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	h_none();
	h_write(c.app, 50, 100);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK | H_PSH, base + 100, c.snd_nxt);
	ck_assert_uint_eq(s.len, 50);
	c.rcv_nxt += 50;
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	ck_assert(!h_advance_until_seg(10000));
	h_assert_log(c.app, "accept, write OK, write OK");
	h_finish();
}
END_TEST

START_TEST(test_three_dupacks_trigger_fast_retransmit)
{
	struct h_conn c;
	struct h_seg s[8], r;
	unsigned int n = 0;
	uint32_t base;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	base = c.rcv_nxt;
	/* initial window min(4 MSS, max(2 MSS, 4380)) = 4380: three full segments */
	for (int i = 0; i < 3; i++)
		h_write(c.app, 1460, 0);
	h_run();
	while (h_pending() && n < 8)
		s[n++] = h_recv();
	ck_assert_uint_eq(n, 3);
	for (unsigned int i = 0; i < n; i++) {
		ck_assert_uint_eq(s[i].seq, base + i * 1460);
		ck_assert_uint_eq(s[i].len, 1460);
	}
	/* the second is lost: the peer acknowledges the first, then three duplicates (the
	 * third segment and two more the peer makes up by re-sending its ACK) */
	c.rcv_nxt = base + 1460;
	for (int i = 0; i < 4; i++)
		h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	/* RFC 5681 3.2: the third duplicate ACK retransmits the missing segment at once */
	r = h_recv();
	h_assert_seg(r, H_ACK | H_PSH, base + 1460, c.snd_nxt);
	ck_assert_uint_eq(r.len, 1460);
	ck_assert_uint_eq(r.t_ms, h_now());
	c.rcv_nxt = base + 3 * 1460;
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	h_discard(); /* congestion window growth may let nothing or more go; not pinned */
	ck_assert(!h_advance_until_seg(10000));
	h_finish();
}
END_TEST

/* ---- keepalive -------------------------------------------------------------------------------- */

/* rawflow.h has no keepalive option; the test sets lwIP's SOF_KEEPALIVE on the flow's pcb
 * (see the suite's meson.build: a hook the API lacks). */
static void
keepalive_on(struct h_app *a)
{
	ck_assert_ptr_nonnull(a->flow);
	ck_assert_ptr_nonnull(a->flow->pcb);
	ip_set_option(a->flow->pcb, SOF_KEEPALIVE);
}

START_TEST(test_keepalive_probe_after_idle)
{
	struct h_conn c;
	struct h_seg s, s2;
	uint64_t idle_from;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	keepalive_on(c.app);
	idle_from = h_now();
	/* TCP_KEEPIDLE_DEFAULT: 2 hours of silence (RFC 1122 4.2.3.6: no less than 2 h) */
	h_advance(7200000 - 400);
	h_none();
	ck_assert(h_advance_until_seg(1000));
	s = h_recv();
	ck_assert_msg(s.t_ms - idle_from > 7200000 && s.t_ms - idle_from <= 7200400,
		      "keepalive after %" PRIu64 " ms", s.t_ms - idle_from);
	/* the probe: SEG.SEQ = SND.NXT - 1, no data, so the peer must answer */
	h_assert_seg(s, H_ACK, c.rcv_nxt - 1, c.snd_nxt);
	ck_assert_uint_eq(s.len, 0);
	h_none();
	/* the peer answers: the next probe only after another 2 h */
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	h_none();
	idle_from = h_now();
	h_advance(7200000 - 400);
	h_none();
	ck_assert(h_advance_until_seg(1000));
	s2 = h_recv();
	h_assert_seg(s2, H_ACK, c.rcv_nxt - 1, c.snd_nxt);
	ck_assert_uint_ge(s2.t_ms - idle_from, 7200000);
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	h_assert_log(c.app, "accept");
	h_finish();
}
END_TEST

START_TEST(test_keepalive_unanswered_resets_connection)
{
	struct h_conn c;
	struct h_seg s[12];
	unsigned int n = 0;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	keepalive_on(c.app);
	h_advance(7200000 - 400);
	/* no answers: a probe every 75 s (TCP_KEEPINTVL_DEFAULT), 9 of them
	 * (TCP_KEEPCNT_DEFAULT), then a reset and the connection is gone */
	while (n < 12 && h_advance_until_seg(80000)) {
		s[n++] = h_recv();
		if (s[n - 1].flags & H_RST)
			break;
	}
	ck_assert_uint_eq(n, 10);
	for (unsigned int i = 0; i < 9; i++) {
		h_assert_seg(s[i], H_ACK, c.rcv_nxt - 1, c.snd_nxt);
		if (i > 0)
			ck_assert_uint_eq(s[i].t_ms - s[i - 1].t_ms, 75000);
	}
	h_assert_seg(s[9], H_RST | H_ACK, c.rcv_nxt, c.snd_nxt);
	ck_assert_uint_eq(s[9].t_ms - s[8].t_ms, 75000);
	h_assert_log(c.app, "accept, read ETIMEDOUT");
	h_abort(c.app);
	h_run();
	h_none();
	h_finish();
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("data");
	TCase *ooo = tcase_create("receive");
	TCase *wnd = tcase_create("zero_window");
	TCase *rtx = tcase_create("retransmission");
	TCase *ka = tcase_create("keepalive");

	tcase_add_test(ooo, test_ooo_segment_filled_in_delivers_in_order);
	tcase_add_test(ooo, test_ooo_segments_with_two_holes_sack_both_blocks);
	tcase_add_test(ooo, test_ooo_fin_is_delivered_after_the_data_before_it);
	tcase_add_test(ooo, test_overlapping_retransmission_is_delivered_once);
	tcase_add_test(ooo, test_shutdown_read_drops_data_and_keeps_window_open);
	suite_add_tcase(s, ooo);

	tcase_add_test(wnd, test_zero_window_then_probe);
	tcase_add_test(wnd, test_zero_window_answered_probes_keep_connection_open);
	tcase_add_test(wnd, test_zero_window_unanswered_probes_drop_connection);
	tcase_add_test(wnd, test_receive_window_shuts_while_app_holds_data_and_reopens);
	tcase_add_test(wnd, test_fin_into_shut_window_is_taken_once_window_reopens);
	suite_add_tcase(s, wnd);

	tcase_add_test(rtx, test_rto_backoff_doubles);
	tcase_add_test(rtx, test_ack_after_rto_retransmission_resumes_sending);
	tcase_add_test(rtx, test_three_dupacks_trigger_fast_retransmit);
	suite_add_tcase(s, rtx);

	tcase_add_test(ka, test_keepalive_probe_after_idle);
	tcase_add_test(ka, test_keepalive_unanswered_resets_connection);
	suite_add_tcase(s, ka);
	return unit_run(s);
}
