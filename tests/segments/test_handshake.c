/*
 * Segment tests: opening connections (LISTEN, SYN-RCVD, SYN-SENT) and what is negotiated
 * on the way: MSS, window scaling (RFC 7323), SACK-permitted (RFC 2018).
 *
 * lwIP's timing, from stack/lwip/src/core/tcp.c: the slow timer ticks every 200 ms
 * (tcp_tmr every 100 ms, every other call); the initial RTO is 3 s (15 ticks). A SYN-ACK is
 * retransmitted with the RTO doubled each time (3 s, then 6 s, ...) and a half-open
 * connection is dropped after TCP_SYN_RCVD_TIMEOUT (20 s). A SYN is retransmitted
 * TCP_SYNMAXRTX (6) times, then the connection attempt fails (lwIP does not back off in
 * SYN-SENT: known.c).
 */
#include <inttypes.h>
#include <string.h>

#include "harness.h"
#include "unit.h"

#define PORT 80
#define PEER_PORT 40000

/* ---- passive open ------------------------------------------------------------------------ */

START_TEST(test_syn_gets_synack_with_mss_and_wscale)
{
	struct h_seg s;

	h_start(0);
	h_listen(PORT);
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = 1000, .flags = H_SYN,
			       .wnd = 65535, .mss = 1460, .has_ws = true, .ws = 2,
			       .sack_perm = true});
	h_run();
	s = h_recv();
	h_assert_seg(s, H_SYN | H_ACK, s.seq, 1001);
	ck_assert_uint_eq(s.sport, PORT);
	ck_assert_uint_eq(s.dport, PEER_PORT);
	ck_assert_uint_eq(s.mss, H_STACK_MSS);
	ck_assert(s.has_ws);
	ck_assert_uint_eq(s.ws, H_STACK_WS);
	ck_assert(s.sack_perm);
	/* RFC 7323 2.2: the window of a SYN is never scaled; 2 MiB shows as 65535 */
	ck_assert_uint_eq(s.wnd, 65535);
	ck_assert_uint_eq(s.len, 0);
	h_none();
	ck_assert_uint_eq(h_naccepted(), 0); /* not before the handshake completes */

	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = 1001, .ack = s.seq + 1,
			       .flags = H_ACK, .wnd = 65535});
	h_run();
	h_none();
	ck_assert_uint_eq(h_naccepted(), 1);
	h_assert_log(h_accepted(0), "accept");

	/* after the handshake the window is scaled by 7. The application read and released
	 * the 5 bytes at once, but the right edge does not move for less than an MSS (RFC
	 * 1122 4.2.3.3, receiver SWS avoidance): (2 MiB - 5) >> 7 */
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = 1001, .ack = s.seq + 1,
			       .flags = H_ACK | H_PSH, .wnd = 65535, .data = "hello", .len = 5});
	h_advance(200); /* delayed ACK: at the latest at the next fast timer */
	s = h_recv();
	h_assert_seg(s, H_ACK, s.seq, 1006);
	ck_assert_uint_eq(s.wnd, (H_STACK_WND - 5) >> H_STACK_WS);
	h_assert_log(h_accepted(0), "accept, read 5");
	h_finish();
}
END_TEST

START_TEST(test_syn_without_wscale_gets_unscaled_windows)
{
	struct h_conn c;
	struct h_seg s;

	h_start(0);
	h_listen(PORT);
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = 1000, .flags = H_SYN,
			       .wnd = 65535, .mss = 1460});
	h_run();
	s = h_recv();
	h_assert_seg(s, H_SYN | H_ACK, s.seq, 1001);
	ck_assert_msg(!s.has_ws, "window scale offered to a peer that did not offer it");
	ck_assert(!s.sack_perm);
	memset(&c, 0, sizeof(c));
	c.pport = PEER_PORT;
	c.sport = PORT;
	c.snd_nxt = 1001;
	c.rcv_nxt = s.seq + 1;
	c.wnd = 65535;
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	h_conn_send(&c, H_ACK | H_PSH, "hello", 5);
	h_advance(200);
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, c.snd_nxt);
	/* no scaling: lwIP cuts the 2 MiB window to the largest unscaled value, 65535, and
	 * the right edge stays put for 5 bytes (RFC 1122 4.2.3.3) */
	ck_assert_uint_eq(s.wnd, 65535 - 5);
	h_assert_log(h_accepted(0), "accept, read 5");
	h_finish();
}
END_TEST

START_TEST(test_syn_to_closed_port_gets_rst)
{
	struct h_seg s;

	h_start(0);
	h_listen(PORT);
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT + 1, .seq = 1000,
			       .flags = H_SYN, .wnd = 65535, .mss = 1460});
	h_run();
	s = h_recv();
	/* RFC 793 "reset generation": no ACK on the SYN, so <SEQ=0><ACK=SEG.SEQ+SEG.LEN> */
	h_assert_seg(s, H_RST | H_ACK, 0, 1001);
	h_none();
	ck_assert_uint_eq(h_naccepted(), 0);
	h_finish();
}
END_TEST

START_TEST(test_ack_to_listener_without_connection_gets_rst)
{
	struct h_seg s;

	h_start(0);
	h_listen(PORT);
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = 1000, .ack = 777,
			       .flags = H_ACK, .wnd = 65535});
	h_run();
	s = h_recv();
	/* RFC 793: a segment with ACK gets <SEQ=SEG.ACK><CTL=RST> */
	ck_assert_msg(s.flags & H_RST, "expected RST");
	ck_assert_uint_eq(s.seq, 777);
	h_none();
	ck_assert_uint_eq(h_naccepted(), 0);
	h_finish();
}
END_TEST

START_TEST(test_lost_synack_is_retransmitted_after_rto)
{
	struct h_seg s, r;

	h_start(0);
	h_listen(PORT);
	h_advance(1000); /* away from start-up */
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = 1000, .flags = H_SYN,
			       .wnd = 65535, .mss = 1460, .has_ws = true, .ws = 0});
	h_run();
	s = h_recv();
	h_assert_seg(s, H_SYN | H_ACK, s.seq, 1001);
	/* the peer never sees it: nothing more until the RTO (3 s, 15 ticks of 200 ms) */
	h_advance(2600);
	h_none();
	ck_assert(h_advance_until_seg(600));
	r = h_recv();
	h_assert_seg(r, H_SYN | H_ACK, s.seq, 1001);
	ck_assert_uint_eq(r.mss, H_STACK_MSS);
	ck_assert(r.has_ws);
	/* 15 ticks, the first of them counted in the pass that sent the SYN-ACK */
	ck_assert_msg(r.t_ms - s.t_ms >= 2800 && r.t_ms - s.t_ms <= 3000,
		      "SYN-ACK retransmitted after %" PRIu64 " ms, expected 3 s (15 ticks)",
		      r.t_ms - s.t_ms);
	h_none();
	/* this one arrives: the handshake completes */
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = 1001, .ack = s.seq + 1,
			       .flags = H_ACK, .wnd = 65535});
	h_run();
	h_none();
	ck_assert_uint_eq(h_naccepted(), 1);
	h_assert_log(h_accepted(0), "accept");
	h_finish();
}
END_TEST

START_TEST(test_unanswered_synack_backs_off_then_connection_is_dropped)
{
	struct h_seg s[3];
	struct h_seg late;

	h_start(0);
	h_listen(PORT);
	h_advance(1000);
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = 1000, .flags = H_SYN,
			       .wnd = 65535, .mss = 1460});
	h_run();
	s[0] = h_recv();
	h_assert_seg(s[0], H_SYN | H_ACK, s[0].seq, 1001);
	ck_assert(h_advance_until_seg(4000));
	s[1] = h_recv();
	ck_assert(h_advance_until_seg(8000));
	s[2] = h_recv();
	for (int i = 1; i < 3; i++)
		h_assert_seg(s[i], H_SYN | H_ACK, s[0].seq, 1001);
	/* 15 ticks (3 s), the first counted in the pass that sent the SYN-ACK, so 2.8 to
	 * 3 s after it; then doubled, 6 s (tcp_backoff[0] = 1: rto << 1) */
	ck_assert_msg(s[1].t_ms - s[0].t_ms >= 2800 && s[1].t_ms - s[0].t_ms <= 3000,
		      "first SYN-ACK retransmission after %" PRIu64 " ms", s[1].t_ms - s[0].t_ms);
	ck_assert_uint_eq(s[2].t_ms - s[1].t_ms, 6000);
	/* the next would come 12 s later, but lwIP drops a connection that stays in SYN-RCVD
	 * longer than TCP_SYN_RCVD_TIMEOUT (20 s), silently */
	ck_assert(!h_advance_until_seg(13000));
	ck_assert_uint_eq(h_naccepted(), 0);
	/* the connection is gone: the peer's late ACK is answered with a reset */
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = 1001,
			       .ack = s[0].seq + 1, .flags = H_ACK, .wnd = 65535});
	h_run();
	late = h_recv();
	h_assert_seg(late, H_RST | H_ACK, s[0].seq + 1, 1001);
	h_none();
	ck_assert_uint_eq(h_naccepted(), 0);
	h_finish();
}
END_TEST

START_TEST(test_duplicate_syn_gets_synack_again)
{
	struct h_seg s, r;

	h_start(0);
	h_listen(PORT);
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = 1000, .flags = H_SYN,
			       .wnd = 65535, .mss = 1460});
	h_run();
	s = h_recv();
	h_assert_seg(s, H_SYN | H_ACK, s.seq, 1001);
	/* the SYN-ACK was lost and the peer retransmits its SYN: the same SYN-ACK again, at
	 * once (not a second connection) */
	h_advance(1000);
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = 1000, .flags = H_SYN,
			       .wnd = 65535, .mss = 1460});
	h_run();
	r = h_recv();
	h_assert_seg(r, H_SYN | H_ACK, s.seq, 1001);
	ck_assert_uint_eq(r.t_ms, h_now());
	h_none();
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = 1001, .ack = s.seq + 1,
			       .flags = H_ACK, .wnd = 65535});
	h_run();
	h_none();
	ck_assert_uint_eq(h_naccepted(), 1);
	h_finish();
}
END_TEST

START_TEST(test_lost_handshake_ack_is_completed_by_data)
{
	struct h_seg s, a;

	h_start(0);
	h_listen(PORT);
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = 1000, .flags = H_SYN,
			       .wnd = 65535, .mss = 1460});
	h_run();
	s = h_recv();
	/* the third segment of the handshake is lost; the peer's first data carries the ACK */
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = 1001, .ack = s.seq + 1,
			       .flags = H_ACK | H_PSH, .wnd = 65535, .data = "abc", .len = 3});
	h_advance(200);
	a = h_recv();
	h_assert_seg(a, H_ACK, s.seq + 1, 1004);
	h_none();
	ck_assert_uint_eq(h_naccepted(), 1);
	h_assert_log(h_accepted(0), "accept, read 3");
	ck_assert_mem_eq(h_accepted(0)->rx, "abc", 3);
	h_finish();
}
END_TEST

/* ---- what the peer's options do to the sending side ---------------------------------------- */

/* Writes len bytes from the accepted flow and returns the segments sent at once. */
static unsigned int
write_and_collect(struct h_conn *c, uint32_t len, struct h_seg *out, unsigned int max)
{
	unsigned int n = 0;

	h_write(c->app, len, 0);
	h_run();
	while (h_pending() && n < max)
		out[n++] = h_recv();
	return n;
}

START_TEST(test_peer_mss_limits_segment_size)
{
	struct h_conn c;
	struct h_seg s[8];
	unsigned int n;
	uint32_t seq;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, &(struct h_hs_opts){.mss = 536});
	/* initial cwnd (RFC 5681 / lwIP's LWIP_TCP_CALC_INITIAL_CWND): min(4 MSS, max(2 MSS,
	 * 4380)) = 2144 bytes: 2000 bytes go at once, in segments of at most 536 */
	n = write_and_collect(&c, 2000, s, 8);
	ck_assert_uint_eq(n, 4);
	seq = c.rcv_nxt;
	for (unsigned int i = 0; i < n; i++) {
		h_assert_seg(s[i], H_ACK | (i == n - 1 ? H_PSH : 0), seq, c.snd_nxt);
		ck_assert_uint_eq(s[i].len, i < 3 ? 536 : 2000 - 3 * 536);
		seq += s[i].len;
	}
	c.rcv_nxt = seq;
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	h_none();
	h_assert_log(c.app, "accept, write OK");
	h_finish();
}
END_TEST

START_TEST(test_peer_mss_above_ours_is_clamped_to_ours)
{
	struct h_conn c;
	struct h_seg s[8];
	unsigned int n;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, &(struct h_hs_opts){.mss = 9000, .wnd = 65535});
	n = write_and_collect(&c, 3000, s, 8);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(s[0].len, 1460);
	ck_assert_uint_eq(s[1].len, 1460);
	ck_assert_uint_eq(s[2].len, 80);
	c.rcv_nxt += 3000;
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	h_finish();
}
END_TEST

START_TEST(test_peer_without_mss_option_gets_536_byte_segments)
{
	struct h_seg s;
	struct h_conn c = {.pport = PEER_PORT, .sport = PORT, .snd_nxt = 1000, .wnd = 65535};
	struct h_seg out[8];
	unsigned int n = 0;

	h_start(0);
	h_listen(PORT);
	/* RFC 9293 3.7.1: without the option the sender assumes 536 */
	h_conn_send(&c, H_SYN, NULL, 0);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_SYN | H_ACK, s.seq, 1001);
	c.rcv_nxt = s.seq + 1;
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	c.app = h_accepted(0);
	ck_assert_ptr_nonnull(c.app);
	h_write(c.app, 1000, 0);
	h_run();
	while (h_pending() && n < 8)
		out[n++] = h_recv();
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(out[0].len, 536);
	ck_assert_uint_eq(out[1].len, 464);
	c.rcv_nxt += 1000;
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	h_finish();
}
END_TEST

START_TEST(test_peer_wscale_scales_its_window)
{
	struct h_conn c;
	struct h_seg s[8];
	unsigned int n;

	h_start(0);
	h_listen(PORT);
	/* The peer scales by 4: a window field of 100 (in the ACK; a SYN's window is never
	 * scaled) means 1600 bytes. lwIP also cuts segments to half the largest window the
	 * peer ever offered (tcp_write: min(mss, snd_wnd_max / 2), sender-side SWS
	 * avoidance): 1600 bytes go as 2 x 800. */
	h_accept(&c, PORT, PEER_PORT, &(struct h_hs_opts){.ws = 4, .wnd = 100});
	n = write_and_collect(&c, 4000, s, 8);
	ck_assert_uint_eq(n, 2);
	h_assert_seg(s[0], H_ACK, c.rcv_nxt, c.snd_nxt);
	ck_assert_uint_eq(s[0].len, 800);
	ck_assert_uint_eq(s[1].len, 800);
	h_none();
	/* the peer takes it and opens 1600 more: the next 1600 bytes */
	c.rcv_nxt += 1600;
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	n = 0;
	while (h_pending() && n < 8)
		s[n++] = h_recv();
	ck_assert_uint_eq(n, 2);
	h_assert_seg(s[0], H_ACK, c.rcv_nxt, c.snd_nxt);
	ck_assert_uint_eq(s[0].len + s[1].len, 1600);
	c.rcv_nxt += 1600;
	c.wnd = 1000; /* 16000 bytes: the rest, 800, goes */
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	s[0] = h_recv();
	h_assert_seg(s[0], H_ACK | H_PSH, c.rcv_nxt, c.snd_nxt);
	ck_assert_uint_eq(s[0].len, 800);
	h_none();
	c.rcv_nxt += 800;
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	h_finish();
}
END_TEST

/* ---- active open --------------------------------------------------------------------------- */

START_TEST(test_connect_sends_syn_with_mss_wscale_and_sackperm)
{
	struct h_app *a;
	struct h_seg s, r;

	h_start(0);
	a = h_connect(PEER_PORT);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_SYN, s.seq, 0);
	ck_assert_uint_eq(s.dport, PEER_PORT);
	ck_assert_uint_eq(s.mss, H_STACK_MSS);
	ck_assert(s.has_ws);
	ck_assert_uint_eq(s.ws, H_STACK_WS);
	ck_assert(s.sack_perm);
	ck_assert_uint_eq(s.wnd, 65535);
	h_none();
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = s.sport, .seq = 9000, .ack = s.seq + 1,
			       .flags = H_SYN | H_ACK, .wnd = 65535, .mss = 1460, .has_ws = true,
			       .ws = 3});
	h_run();
	r = h_recv();
	h_assert_seg(r, H_ACK, s.seq + 1, 9001);
	/* both sides scale: ours by 7 */
	ck_assert_uint_eq(r.wnd, H_STACK_WND >> H_STACK_WS);
	h_none();
	h_assert_log(a, "connect OK");
	h_finish();
}
END_TEST

START_TEST(test_synack_without_wscale_turns_scaling_off)
{
	struct h_app *a;
	struct h_seg s, r;
	struct h_seg d[4];
	unsigned int n = 0;

	h_start(0);
	a = h_connect(PEER_PORT);
	h_run();
	s = h_recv();
	ck_assert(s.has_ws);
	/* RFC 7323 2.2: scaling is used only if both sides sent the option */
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = s.sport, .seq = 9000, .ack = s.seq + 1,
			       .flags = H_SYN | H_ACK, .wnd = 1000, .mss = 1460});
	h_run();
	r = h_recv();
	h_assert_seg(r, H_ACK, s.seq + 1, 9001);
	ck_assert_uint_eq(r.wnd, 65535);
	h_assert_log(a, "connect OK");
	/* the peer's window (1000) is not scaled either: 1000 bytes go, in segments of half
	 * the window (lwIP's tcp_write: min(mss, snd_wnd_max / 2)) */
	h_write(a, 3000, 0);
	h_run();
	while (h_pending() && n < 4)
		d[n++] = h_recv();
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(d[0].len, 500);
	ck_assert_uint_eq(d[1].len, 500);
	h_finish();
}
END_TEST

START_TEST(test_lost_syn_is_retransmitted_then_connect_times_out)
{
	struct h_app *a;
	struct h_seg s[8];
	unsigned int n = 0;

	h_start(0);
	h_advance(1000);
	a = h_connect(PEER_PORT);
	h_run();
	s[n++] = h_recv();
	h_assert_seg(s[0], H_SYN, s[0].seq, 0);
	while (n < 8 && a->log[0] == '\0') {
		h_advance(100);
		if (h_pending())
			s[n++] = h_recv();
	}
	/* TCP_SYNMAXRTX = 6 retransmissions of the same SYN, then the attempt fails */
	ck_assert_uint_eq(n, 7);
	h_assert_log(a, "connect ETIMEDOUT");
	/* the first after the initial RTO, 3 s (15 ticks; one of them counted in the pass
	 * that sent the SYN) */
	ck_assert_msg(s[1].t_ms - s[0].t_ms >= 2800 && s[1].t_ms - s[0].t_ms <= 3000,
		      "first SYN retransmission after %" PRIu64 " ms", s[1].t_ms - s[0].t_ms);
	for (unsigned int i = 1; i < n; i++) {
		h_assert_seg(s[i], H_SYN, s[0].seq, 0);
		ck_assert_uint_eq(s[i].mss, H_STACK_MSS);
		ck_assert(s[i].has_ws && s[i].sack_perm);
		ck_assert_msg(s[i].t_ms - s[i - 1].t_ms >= 2800,
			      "SYN %u after %" PRIu64 " ms", i, s[i].t_ms - s[i - 1].t_ms);
	}
	/* How long the intervals are and how soon lwIP gives up is not pinned here: lwIP
	 * keeps them at 3 s without backoff and gives up 200 ms after the sixth, 18.1 s in
	 * all, where RFC 6298 5.5 and RFC 1122 4.2.3.5 want backoff and at least 3 minutes
	 * (known.c: test_syn_retransmissions_back_off, test_connect_keeps_trying_3_minutes). */
	h_advance(10000);
	h_none();
	h_finish();
}
END_TEST

START_TEST(test_lost_synack_to_connect_is_recovered_by_syn_retransmission)
{
	struct h_app *a;
	struct h_seg s, r, k;

	h_start(0);
	a = h_connect(PEER_PORT);
	h_run();
	s = h_recv();
	/* the peer's SYN-ACK is lost on the way: the stack sends its SYN again */
	ck_assert(h_advance_until_seg(3200));
	r = h_recv();
	h_assert_seg(r, H_SYN, s.seq, 0);
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = s.sport, .seq = 9000, .ack = s.seq + 1,
			       .flags = H_SYN | H_ACK, .wnd = 65535, .mss = 1460, .has_ws = true});
	h_run();
	k = h_recv();
	h_assert_seg(k, H_ACK, s.seq + 1, 9001);
	h_none();
	h_assert_log(a, "connect OK");
	h_finish();
}
END_TEST

START_TEST(test_duplicate_synack_is_acked_again)
{
	struct h_conn c;
	struct h_seg s;

	h_start(0);
	h_open(&c, PEER_PORT, NULL);
	/* our ACK of the SYN-ACK was lost: the peer retransmits its SYN-ACK, and gets the ACK
	 * again (RFC 9293 3.10.7.4: an old duplicate; the connection stays) */
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = c.sport, .seq = c.iss, .ack = c.rcv_nxt,
			       .flags = H_SYN | H_ACK, .wnd = 65535, .mss = 1460, .has_ws = true});
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, c.snd_nxt);
	h_none();
	h_assert_log(c.app, "connect OK");
	/* still usable */
	h_conn_send(&c, H_ACK | H_PSH, "x", 1);
	h_advance(200);
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, c.snd_nxt);
	h_assert_log(c.app, "connect OK, read 1");
	h_finish();
}
END_TEST

START_TEST(test_listener_closed_during_handshake_resets_connection)
{
	struct h_seg s, r;

	h_start(0);
	h_listen(PORT);
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = 1000, .flags = H_SYN,
			       .wnd = 65535, .mss = 1460});
	h_run();
	s = h_recv();
	h_assert_state(PEER_PORT, "SYN_RCVD");
	/* the application stops listening while the handshake is half done */
	h_listen_close();
	h_run();
	/* the handshake completes, but nobody would accept it: reset (lwIP's tcp_process
	 * finds the pcb's listener gone and aborts) */
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = 1001, .ack = s.seq + 1,
			       .flags = H_ACK, .wnd = 65535});
	h_run();
	r = h_recv();
	ck_assert_msg(r.flags & H_RST, "expected a reset");
	ck_assert_uint_eq(r.seq, s.seq + 1);
	h_none();
	h_assert_state(PEER_PORT, "CLOSED");
	ck_assert_uint_eq(h_naccepted(), 0);
	h_finish();
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("handshake");
	TCase *passive = tcase_create("passive");
	TCase *options = tcase_create("options");
	TCase *active = tcase_create("active");

	tcase_add_test(passive, test_syn_gets_synack_with_mss_and_wscale);
	tcase_add_test(passive, test_syn_without_wscale_gets_unscaled_windows);
	tcase_add_test(passive, test_syn_to_closed_port_gets_rst);
	tcase_add_test(passive, test_ack_to_listener_without_connection_gets_rst);
	tcase_add_test(passive, test_lost_synack_is_retransmitted_after_rto);
	tcase_add_test(passive, test_unanswered_synack_backs_off_then_connection_is_dropped);
	tcase_add_test(passive, test_duplicate_syn_gets_synack_again);
	tcase_add_test(passive, test_lost_handshake_ack_is_completed_by_data);
	tcase_add_test(passive, test_listener_closed_during_handshake_resets_connection);
	suite_add_tcase(s, passive);

	tcase_add_test(options, test_peer_mss_limits_segment_size);
	tcase_add_test(options, test_peer_mss_above_ours_is_clamped_to_ours);
	tcase_add_test(options, test_peer_without_mss_option_gets_536_byte_segments);
	tcase_add_test(options, test_peer_wscale_scales_its_window);
	suite_add_tcase(s, options);

	tcase_add_test(active, test_connect_sends_syn_with_mss_wscale_and_sackperm);
	tcase_add_test(active, test_synack_without_wscale_turns_scaling_off);
	tcase_add_test(active, test_lost_syn_is_retransmitted_then_connect_times_out);
	tcase_add_test(active, test_lost_synack_to_connect_is_recovered_by_syn_retransmission);
	tcase_add_test(active, test_duplicate_synack_is_acked_again);
	suite_add_tcase(s, active);
	return unit_run(s);
}
