/*
 * Segment tests: closing. Active close (FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT), passive close
 * (CLOSE-WAIT, LAST-ACK), simultaneous close (CLOSING), FIN retransmission, TIME-WAIT's
 * 2 MSL (TCP_MSL is 30 s in stack/include/lwipopts.h: 60 s, as on Linux), half-close.
 *
 * rawflow's close (rawflow.h): FIN after the queued writes; reads keep working; the close
 * completes once our FIN is queued and the peer's has arrived. lwIP finishes LAST-ACK and
 * TIME-WAIT on its own after the flow is gone (flows_open drops at once, the pcb stays).
 */
#include <inttypes.h>
#include <string.h>

#include "harness.h"
#include "unit.h"

#define PORT 80
#define PEER_PORT 40000
#define MSL2_MS 60000

static struct rf_stats
stats(void)
{
	struct rf_stats st;

	rf_loop_stats(h_loop(), &st);
	return st;
}

/* Active close from ESTABLISHED up to FIN-WAIT-1: the FIN is checked and returned. */
static struct h_seg
close_to_fin_wait_1(struct h_conn *c)
{
	struct h_seg s;

	h_close(c->app);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_FIN | H_ACK, c->rcv_nxt, c->snd_nxt);
	ck_assert_uint_eq(s.len, 0);
	h_none();
	h_assert_state(c->pport, "FIN_WAIT_1");
	return s;
}

START_TEST(test_active_close_goes_through_fin_wait_to_time_wait)
{
	struct h_conn c;
	struct h_seg s;
	struct rf_stats st;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	close_to_fin_wait_1(&c);
	/* the peer acknowledges our FIN: FIN-WAIT-2, the close waits for the peer's FIN */
	c.rcv_nxt++;
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	h_none();
	h_assert_state(c.pport, "FIN_WAIT_2");
	h_assert_log(c.app, "accept");
	/* its FIN: acknowledged at once, TIME-WAIT; the read sees EOF, then the close completes */
	h_conn_send(&c, H_FIN | H_ACK, NULL, 0);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, c.snd_nxt);
	h_none();
	h_assert_state(c.pport, "TIME_WAIT");
	h_assert_log(c.app, "accept, read EOF, close OK");
	st = stats();
	ck_assert_uint_eq(st.flows_open, 0);
	ck_assert_uint_eq(st.tcp_pcbs_time_wait, 1);
	h_finish();
}
END_TEST

START_TEST(test_close_sends_queued_data_before_fin)
{
	struct h_conn c;
	struct h_seg d, f;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	h_write(c.app, 300, 1);
	h_close(c.app);
	h_run();
	/* the data, then the FIN after its last byte (piggybacked or in its own segment) */
	d = h_recv();
	h_assert_seg(d, d.flags, c.rcv_nxt, c.snd_nxt);
	ck_assert_uint_eq(d.len, 300);
	ck_assert_uint_eq(d.data[0], 1);
	if (d.flags & H_FIN) {
		f = d;
	} else {
		f = h_recv();
		h_assert_seg(f, H_FIN | H_ACK, c.rcv_nxt + 300, c.snd_nxt);
	}
	h_none();
	c.rcv_nxt += 301;
	h_conn_send(&c, H_FIN | H_ACK, NULL, 0);
	h_run();
	f = h_recv();
	h_assert_seg(f, H_ACK, c.rcv_nxt, c.snd_nxt);
	h_assert_log(c.app, "accept, write OK, read EOF, close OK");
	h_assert_state(c.pport, "TIME_WAIT");
	h_finish();
}
END_TEST

START_TEST(test_fin_is_retransmitted_after_rto)
{
	struct h_conn c;
	struct h_seg f[3];

	h_start(0);
	h_listen(PORT);
	h_advance(1000); /* an RTT sample from the handshake: RTO 2.4 s (test_data.c) */
	h_accept(&c, PORT, PEER_PORT, NULL);
	f[0] = close_to_fin_wait_1(&c);
	/* the FIN is lost: sent again after the RTO, then after twice that */
	ck_assert(h_advance_until_seg(3000));
	f[1] = h_recv();
	ck_assert(h_advance_until_seg(6000));
	f[2] = h_recv();
	for (int i = 1; i < 3; i++) {
		h_assert_seg(f[i], H_FIN | H_ACK, c.rcv_nxt, c.snd_nxt);
		ck_assert_uint_eq(f[i].len, 0);
	}
	ck_assert_msg(f[1].t_ms - f[0].t_ms >= 2200 && f[1].t_ms - f[0].t_ms <= 2400,
		      "FIN retransmitted after %" PRIu64 " ms", f[1].t_ms - f[0].t_ms);
	ck_assert_uint_eq(f[2].t_ms - f[1].t_ms, 4800);
	h_assert_state(c.pport, "FIN_WAIT_1");
	/* this one arrives: no more retransmissions */
	c.rcv_nxt++;
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	ck_assert(!h_advance_until_seg(20000));
	h_assert_state(c.pport, "FIN_WAIT_2");
	h_conn_send(&c, H_FIN | H_ACK, NULL, 0);
	h_run();
	f[0] = h_recv();
	h_assert_seg(f[0], H_ACK, c.rcv_nxt, c.snd_nxt);
	h_assert_log(c.app, "accept, read EOF, close OK");
	h_finish();
}
END_TEST

START_TEST(test_simultaneous_close)
{
	struct h_conn c;
	struct h_seg s;
	uint32_t our_fin;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	our_fin = close_to_fin_wait_1(&c).seq;
	/* the peer closed at the same time: its FIN crosses ours and acknowledges only what
	 * came before our FIN (RFC 9293 3.6, figure 13) */
	h_conn_send(&c, H_FIN | H_ACK, NULL, 0);
	h_run();
	s = h_recv();
	/* our ACK of its FIN; ours is still outstanding: CLOSING */
	h_assert_seg(s, H_ACK, our_fin + 1, c.snd_nxt);
	h_none();
	h_assert_state(c.pport, "CLOSING");
	/* the close has what it waits for: our FIN queued, the peer's FIN in */
	h_assert_log(c.app, "accept, read EOF, close OK");
	/* the peer's ACK of our FIN: TIME-WAIT, nothing sent */
	c.rcv_nxt = our_fin + 1;
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	h_none();
	h_assert_state(c.pport, "TIME_WAIT");
	h_advance(MSL2_MS + 400);
	h_assert_state(c.pport, "CLOSED");
	h_none();
	h_finish();
}
END_TEST

START_TEST(test_simultaneous_close_lost_fin_is_retransmitted_from_closing)
{
	struct h_conn c;
	struct h_seg s;
	uint32_t our_fin;

	h_start(0);
	h_listen(PORT);
	h_advance(1000);
	h_accept(&c, PORT, PEER_PORT, NULL);
	our_fin = close_to_fin_wait_1(&c).seq;
	h_conn_send(&c, H_FIN | H_ACK, NULL, 0);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK, our_fin + 1, c.snd_nxt);
	h_assert_state(c.pport, "CLOSING");
	/* our FIN never arrived: CLOSING retransmits it */
	ck_assert(h_advance_until_seg(3000));
	s = h_recv();
	h_assert_seg(s, H_FIN | H_ACK, our_fin, c.snd_nxt);
	c.rcv_nxt = our_fin + 1;
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	h_none();
	h_assert_state(c.pport, "TIME_WAIT");
	h_finish();
}
END_TEST

START_TEST(test_fin_ack_of_our_fin_goes_straight_to_time_wait)
{
	struct h_conn c;
	struct h_seg s;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	close_to_fin_wait_1(&c);
	/* one segment acknowledges our FIN and carries the peer's: FIN-WAIT-1 -> TIME-WAIT */
	c.rcv_nxt++;
	h_conn_send(&c, H_FIN | H_ACK, NULL, 0);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, c.snd_nxt);
	h_none();
	h_assert_state(c.pport, "TIME_WAIT");
	h_assert_log(c.app, "accept, read EOF, close OK");
	h_finish();
}
END_TEST

/* Active close completed up to TIME-WAIT; returns the time TIME-WAIT began. */
static uint64_t
to_time_wait(struct h_conn *c)
{
	struct h_seg s;

	close_to_fin_wait_1(c);
	c->rcv_nxt++;
	h_conn_send(c, H_FIN | H_ACK, NULL, 0);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK, c->rcv_nxt, c->snd_nxt);
	h_assert_state(c->pport, "TIME_WAIT");
	return h_now();
}

START_TEST(test_time_wait_lasts_2msl)
{
	struct h_conn c;
	uint64_t t;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	t = to_time_wait(&c);
	ck_assert_uint_eq(stats().tcp_pcbs_time_wait, 1);
	ck_assert_uint_eq(stats().flows_open, 0);
	/* 2 MSL = 60 s: lwIP frees it at the first slow tick more than 300 ticks later */
	h_advance(MSL2_MS - 200);
	h_assert_state(c.pport, "TIME_WAIT");
	while (strcmp(h_tcp_state(c.pport), "TIME_WAIT") == 0 && h_now() - t < MSL2_MS + 1000)
		h_advance(100);
	h_assert_state(c.pport, "CLOSED");
	ck_assert_msg(h_now() - t > MSL2_MS && h_now() - t <= MSL2_MS + 400,
		      "TIME-WAIT lasted %" PRIu64 " ms", h_now() - t);
	ck_assert_uint_eq(stats().tcp_pcbs_time_wait, 0);
	ck_assert_uint_eq(stats().tcp_pcbs_in_use, 0); /* (the listener is not counted) */
	h_none();
	h_finish();
}
END_TEST

START_TEST(test_fin_in_time_wait_is_acked_and_restarts_2msl)
{
	struct h_conn c;
	struct h_seg s;
	uint64_t t;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	to_time_wait(&c);
	/* our ACK of its FIN was lost: the peer sends the FIN again, 30 s later */
	h_advance(30000);
	c.snd_nxt--;
	h_conn_send(&c, H_FIN | H_ACK, NULL, 0);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, c.snd_nxt);
	h_none();
	t = h_now();
	/* RFC 9293 3.10.7.4: the 2 MSL timeout restarts */
	h_advance(MSL2_MS - 200);
	h_assert_state(c.pport, "TIME_WAIT");
	h_advance(600);
	h_assert_state(c.pport, "CLOSED");
	ck_assert_uint_le(h_now() - t, MSL2_MS + 400);
	h_finish();
}
END_TEST

START_TEST(test_syn_in_time_wait_is_not_a_new_connection_until_2msl)
{
	struct h_conn c;
	struct h_seg s;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	to_time_wait(&c);
	/* the same 4-tuple again, with a sequence number inside the old window: lwIP's
	 * tcp_timewait_input answers it with a reset; no new connection */
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = c.snd_nxt + 10,
			       .flags = H_SYN, .wnd = 65535, .mss = 1460});
	h_run();
	s = h_recv();
	ck_assert_msg(s.flags & H_RST, "expected a reset to a SYN in TIME-WAIT's window");
	h_none();
	ck_assert_uint_eq(h_naccepted(), 1);
	h_assert_state(c.pport, "TIME_WAIT");
	/* after 2 MSL the port pair is free */
	h_advance(MSL2_MS + 400);
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = 7000, .flags = H_SYN,
			       .wnd = 65535, .mss = 1460});
	h_run();
	s = h_recv();
	h_assert_seg(s, H_SYN | H_ACK, s.seq, 7001);
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = 7001, .ack = s.seq + 1,
			       .flags = H_ACK, .wnd = 65535});
	h_run();
	ck_assert_uint_eq(h_naccepted(), 2);
	h_finish();
}
END_TEST

/* ---- passive close ------------------------------------------------------------------------- */

/* The peer closes first: its FIN is acknowledged at once, the read sees EOF: CLOSE-WAIT. */
static void
peer_fin_to_close_wait(struct h_conn *c)
{
	struct h_seg s;

	h_conn_send(c, H_FIN | H_ACK, NULL, 0);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK, c->rcv_nxt, c->snd_nxt);
	h_none();
	h_assert_state(c->pport, "CLOSE_WAIT");
	h_assert_log(c->app, "accept, read EOF");
}

START_TEST(test_passive_close_goes_through_last_ack)
{
	struct h_conn c;
	struct h_seg s;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	peer_fin_to_close_wait(&c);
	/* the application can still send in CLOSE-WAIT */
	h_write(c.app, 10, 0);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK | H_PSH, c.rcv_nxt, c.snd_nxt);
	c.rcv_nxt += 10;
	/* its close: FIN, LAST-ACK; the close completes at once (the peer's FIN is in) */
	h_close(c.app);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_FIN | H_ACK, c.rcv_nxt, c.snd_nxt);
	h_none();
	h_assert_state(c.pport, "LAST_ACK");
	h_assert_log(c.app, "accept, read EOF, write OK, close OK");
	/* the flow outlives its close while the peer has not acknowledged the 10 bytes (lwIP
	 * would retransmit them from the application's buffer) */
	ck_assert_uint_eq(stats().flows_open, 1);
	/* the peer's ACK of the data and our FIN ends it, without TIME-WAIT */
	c.rcv_nxt++;
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	h_none();
	h_assert_state(c.pport, "CLOSED");
	ck_assert_uint_eq(stats().flows_open, 0);
	ck_assert_uint_eq(stats().tcp_pcbs_time_wait, 0);
	h_finish();
}
END_TEST

START_TEST(test_fin_in_last_ack_is_retransmitted)
{
	struct h_conn c;
	struct h_seg f, r;

	h_start(0);
	h_listen(PORT);
	h_advance(1000);
	h_accept(&c, PORT, PEER_PORT, NULL);
	peer_fin_to_close_wait(&c);
	h_close(c.app);
	h_run();
	f = h_recv();
	h_assert_seg(f, H_FIN | H_ACK, c.rcv_nxt, c.snd_nxt);
	/* lost: LAST-ACK sends it again after the RTO */
	ck_assert(h_advance_until_seg(3000));
	r = h_recv();
	h_assert_seg(r, H_FIN | H_ACK, c.rcv_nxt, c.snd_nxt);
	ck_assert_uint_ge(r.t_ms - f.t_ms, 2200);
	c.rcv_nxt++;
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	h_assert_state(c.pport, "CLOSED");
	h_none();
	h_finish();
}
END_TEST

START_TEST(test_close_into_zero_window_sends_data_and_fin_when_it_opens)
{
	struct h_conn c;
	struct h_seg s, p;
	uint32_t base;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	/* the peer takes 10 bytes and shuts its window */
	h_write(c.app, 10, 0);
	h_run();
	s = h_recv();
	c.rcv_nxt += 10;
	c.wnd = 0;
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	base = c.rcv_nxt;
	/* 100 more bytes and the close: nothing fits, the FIN waits behind the data */
	h_write(c.app, 100, 50);
	h_close(c.app);
	h_run();
	h_none();
	h_assert_state(c.pport, "FIN_WAIT_1");
	/* a window probe: one byte of the data, not the FIN */
	ck_assert(h_advance_until_seg(1000));
	p = h_recv();
	h_assert_seg(p, H_ACK, base, c.snd_nxt);
	ck_assert_uint_eq(p.len, 1);
	ck_assert_uint_eq(p.data[0], 50);
	/* the window opens: the 100 bytes, then the FIN after them */
	c.wnd = 65535;
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	s = h_recv();
	h_assert_seg(s, s.flags, base, c.snd_nxt);
	ck_assert_uint_eq(s.len, 100);
	ck_assert_uint_eq(s.data[0], 50);
	if (!(s.flags & H_FIN)) {
		s = h_recv();
		h_assert_seg(s, H_FIN | H_ACK, base + 100, c.snd_nxt);
	}
	h_none();
	c.rcv_nxt = base + 101;
	h_conn_send(&c, H_FIN | H_ACK, NULL, 0);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, c.snd_nxt);
	h_assert_state(c.pport, "TIME_WAIT");
	h_assert_log(c.app, "accept, write OK, write OK, read EOF, close OK");
	h_finish();
}
END_TEST

/* ---- half-close ---------------------------------------------------------------------------- */

START_TEST(test_half_close_keeps_receiving_after_our_fin)
{
	struct h_conn c;
	struct h_seg s;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	h_shutdown(c.app, RF_SHUT_WR);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_FIN | H_ACK, c.rcv_nxt, c.snd_nxt);
	c.rcv_nxt++;
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	h_assert_state(c.pport, "FIN_WAIT_2");
	/* the peer goes on sending: delivered and acknowledged */
	h_conn_send_pattern(&c, H_ACK | H_PSH, 1000, 3);
	h_advance(200);
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, c.snd_nxt);
	h_assert_log(c.app, "accept, read 1000");
	ck_assert_uint_eq(c.app->rx[0], 3);
	h_conn_send(&c, H_FIN | H_ACK, NULL, 0);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, c.snd_nxt);
	h_assert_log(c.app, "accept, read 1000, read EOF");
	h_assert_state(c.pport, "TIME_WAIT");
	h_close(c.app);
	h_run();
	h_none();
	h_assert_log(c.app, "accept, read 1000, read EOF, close OK");
	h_finish();
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("close");
	TCase *active = tcase_create("active");
	TCase *tw = tcase_create("time_wait");
	TCase *passive = tcase_create("passive");

	tcase_add_test(active, test_active_close_goes_through_fin_wait_to_time_wait);
	tcase_add_test(active, test_close_sends_queued_data_before_fin);
	tcase_add_test(active, test_fin_is_retransmitted_after_rto);
	tcase_add_test(active, test_simultaneous_close);
	tcase_add_test(active, test_simultaneous_close_lost_fin_is_retransmitted_from_closing);
	tcase_add_test(active, test_fin_ack_of_our_fin_goes_straight_to_time_wait);
	tcase_add_test(active, test_half_close_keeps_receiving_after_our_fin);
	tcase_add_test(active, test_close_into_zero_window_sends_data_and_fin_when_it_opens);
	suite_add_tcase(s, active);

	tcase_add_test(tw, test_time_wait_lasts_2msl);
	tcase_add_test(tw, test_fin_in_time_wait_is_acked_and_restarts_2msl);
	tcase_add_test(tw, test_syn_in_time_wait_is_not_a_new_connection_until_2msl);
	suite_add_tcase(s, tw);

	tcase_add_test(passive, test_passive_close_goes_through_last_ack);
	tcase_add_test(passive, test_fin_in_last_ack_is_retransmitted);
	suite_add_tcase(s, passive);
	return unit_run(s);
}
