/*
 * Segment tests: RST in every state.
 *
 * Acceptance (RFC 9293 3.10.7, RFC 5961 3.2, lwIP's tcp_process): in SYN-SENT a reset
 * counts if it acknowledges our SYN; in the other states if its sequence number is exactly
 * RCV.NXT; one elsewhere inside the window gets a challenge ACK (rate-limited, stack/
 * challenge_ack.c) and changes nothing; one outside the window is dropped. A listener ignores
 * resets; TIME-WAIT ignores them too (RFC 1337). An accepted reset frees the connection at
 * once, sends nothing, and the application sees RF_ECONNREFUSED (connecting) or
 * RF_ECONNRESET.
 */
#include <string.h>

#include "harness.h"
#include "unit.h"

#define PORT 80
#define PEER_PORT 40000

static struct rf_stats
stats(void)
{
	struct rf_stats st;

	rf_loop_stats(h_loop(), &st);
	return st;
}

/* A reset from the peer at its current sequence number (exactly RCV.NXT). */
static void
peer_rst(struct h_conn *c)
{
	h_send(&(struct h_tcp){.sport = c->pport, .dport = c->sport, .seq = c->snd_nxt,
			       .flags = H_RST, .wnd = 0});
	h_run();
}

/* ---- opening -------------------------------------------------------------------------------- */

START_TEST(test_rst_to_listener_is_ignored)
{
	struct h_conn c;

	h_start(0);
	h_listen(PORT);
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = 1000, .flags = H_RST});
	h_send(&(struct h_tcp){.sport = PEER_PORT + 1, .dport = PORT, .seq = 1000, .ack = 5,
			       .flags = H_RST | H_ACK});
	h_run();
	h_none(); /* never answer a reset (RFC 9293 3.10.7.2) */
	/* still listening */
	h_accept(&c, PORT, PEER_PORT, NULL);
	h_finish();
}
END_TEST

START_TEST(test_rst_in_syn_sent_refuses_connect)
{
	struct h_app *a;
	struct h_seg s;

	h_start(0);
	a = h_connect(PEER_PORT);
	h_run();
	s = h_recv();
	h_assert_state(PEER_PORT, "SYN_SENT");
	/* the answer of a closed port: RST|ACK acknowledging the SYN */
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = s.sport, .seq = 0, .ack = s.seq + 1,
			       .flags = H_RST | H_ACK});
	h_run();
	h_none();
	h_assert_state(PEER_PORT, "CLOSED");
	h_assert_log(a, "connect ECONNREFUSED");
	ck_assert_uint_eq(stats().flows_open, 0);
	ck_assert(!h_advance_until_seg(10000)); /* no SYN retransmission */
	h_finish();
}
END_TEST

START_TEST(test_rst_in_syn_sent_with_wrong_ack_is_ignored)
{
	struct h_app *a;
	struct h_seg s, r;

	h_start(0);
	a = h_connect(PEER_PORT);
	h_run();
	s = h_recv();
	/* RFC 9293 3.10.7.3: a reset whose ACK does not acknowledge our SYN is dropped */
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = s.sport, .seq = 0, .ack = s.seq + 100,
			       .flags = H_RST | H_ACK});
	h_run();
	h_assert_state(PEER_PORT, "SYN_SENT");
	h_assert_log(a, "");
	/* the attempt goes on: the SYN again after the RTO, and a real answer completes it */
	ck_assert(h_advance_until_seg(3200));
	r = h_recv();
	h_assert_seg(r, H_SYN, s.seq, 0);
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = s.sport, .seq = 9000, .ack = s.seq + 1,
			       .flags = H_SYN | H_ACK, .wnd = 65535, .mss = 1460});
	h_run();
	r = h_recv();
	h_assert_seg(r, H_ACK, s.seq + 1, 9001);
	h_assert_log(a, "connect OK");
	h_finish();
}
END_TEST

START_TEST(test_rst_in_syn_received_drops_connection)
{
	struct h_seg s;

	h_start(0);
	h_listen(PORT);
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = 1000, .flags = H_SYN,
			       .wnd = 65535, .mss = 1460});
	h_run();
	s = h_recv();
	h_assert_seg(s, H_SYN | H_ACK, s.seq, 1001);
	h_assert_state(PEER_PORT, "SYN_RCVD");
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = 1001, .flags = H_RST});
	h_run();
	h_none();
	h_assert_state(PEER_PORT, "CLOSED");
	ck_assert_uint_eq(h_naccepted(), 0); /* the application never heard of it */
	ck_assert_uint_eq(stats().tcp_pcbs_in_use, 0);
	ck_assert(!h_advance_until_seg(10000)); /* no SYN-ACK retransmission */
	/* the listener still works */
	{
		struct h_conn c;

		h_accept(&c, PORT, PEER_PORT + 1, NULL);
	}
	h_finish();
}
END_TEST

/* ---- established ----------------------------------------------------------------------------- */

START_TEST(test_rst_in_established_resets_flow)
{
	struct h_conn c;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	h_assert_state(PEER_PORT, "ESTABLISHED");
	peer_rst(&c);
	h_none();
	h_assert_state(PEER_PORT, "CLOSED");
	h_assert_log(c.app, "accept, read ECONNRESET");
	ck_assert_uint_eq(stats().tcp_pcbs_in_use, 0);
	/* the application still owns the flow; closing it reports the reset */
	h_close(c.app);
	h_run();
	h_none();
	h_assert_log(c.app, "accept, read ECONNRESET, close ECONNRESET");
	h_finish();
}
END_TEST

START_TEST(test_rst_in_established_fails_pending_write)
{
	struct h_conn c;
	struct h_seg s;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	/* sent and unacknowledged (the written buffer is held for retransmission) */
	h_write(c.app, 100, 0);
	h_run();
	s = h_recv();
	ck_assert_uint_eq(s.len, 100);
	peer_rst(&c);
	h_none();
	h_assert_log(c.app, "accept, write OK, read ECONNRESET");
	/* a write after the reset is taken and completes with RF_EOF (rawflow.h: "the flow
	 * closed for sending by the peer's reset"); nothing goes out */
	h_write(c.app, 10, 0);
	h_run();
	h_none();
	h_assert_log(c.app, "accept, write OK, read ECONNRESET, write EOF");
	h_abort(c.app);
	h_run();
	h_none(); /* lwIP has forgotten the connection: the abort sends nothing */
	h_finish();
}
END_TEST

START_TEST(test_rst_in_window_but_not_exact_gets_challenge_ack)
{
	struct h_conn c;
	struct h_seg s;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	/* RFC 5961 3.2: a reset inside the window but not at RCV.NXT may be blind; the stack
	 * answers with an ACK carrying RCV.NXT and keeps the connection */
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = c.snd_nxt + 1000,
			       .flags = H_RST});
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, c.snd_nxt);
	h_none();
	h_assert_state(PEER_PORT, "ESTABLISHED");
	h_assert_log(c.app, "accept");
	/* the real peer's exact reset still works */
	peer_rst(&c);
	h_assert_state(PEER_PORT, "CLOSED");
	h_assert_log(c.app, "accept, read ECONNRESET");
	h_finish();
}
END_TEST

START_TEST(test_rst_outside_window_is_ignored)
{
	struct h_conn c;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	/* before RCV.NXT, and past the 2 MiB window */
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = c.snd_nxt - 1,
			       .flags = H_RST});
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT,
			       .seq = c.snd_nxt + H_STACK_WND + 10, .flags = H_RST});
	h_run();
	h_none();
	h_assert_state(PEER_PORT, "ESTABLISHED");
	h_assert_log(c.app, "accept");
	h_conn_send(&c, H_ACK | H_PSH, "ok", 2);
	h_run();
	h_assert_log(c.app, "accept, read 2");
	h_finish();
}
END_TEST

/* ---- closing --------------------------------------------------------------------------------- */

static void
close_to_fin_wait_1(struct h_conn *c)
{
	struct h_seg s;

	h_close(c->app);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_FIN | H_ACK, c->rcv_nxt, c->snd_nxt);
	h_assert_state(c->pport, "FIN_WAIT_1");
}

START_TEST(test_rst_in_fin_wait_1_fails_close)
{
	struct h_conn c;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	close_to_fin_wait_1(&c);
	peer_rst(&c);
	h_none();
	h_assert_state(PEER_PORT, "CLOSED");
	h_assert_log(c.app, "accept, read ECONNRESET, close ECONNRESET");
	h_finish();
}
END_TEST

START_TEST(test_rst_in_fin_wait_2_fails_close)
{
	struct h_conn c;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	close_to_fin_wait_1(&c);
	c.rcv_nxt++;
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	h_assert_state(PEER_PORT, "FIN_WAIT_2");
	peer_rst(&c);
	h_none();
	h_assert_state(PEER_PORT, "CLOSED");
	h_assert_log(c.app, "accept, read ECONNRESET, close ECONNRESET");
	h_finish();
}
END_TEST

/* The peer's FIN: acknowledged, the read sees EOF. */
static void
peer_fin(struct h_conn *c)
{
	struct h_seg s;

	h_conn_send(c, H_FIN | H_ACK, NULL, 0);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK, c->rcv_nxt, c->snd_nxt);
}

START_TEST(test_rst_in_close_wait_fails_later_close)
{
	struct h_conn c;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	peer_fin(&c);
	h_assert_state(PEER_PORT, "CLOSE_WAIT");
	h_assert_log(c.app, "accept, read EOF");
	peer_rst(&c);
	h_none();
	h_assert_state(PEER_PORT, "CLOSED");
	h_assert_log(c.app, "accept, read EOF"); /* nothing pending: nothing to report yet */
	h_close(c.app);
	h_run();
	h_none(); /* no FIN: there is no connection any more */
	h_assert_log(c.app, "accept, read EOF, close ECONNRESET");
	h_finish();
}
END_TEST

START_TEST(test_rst_in_last_ack_frees_connection_at_once)
{
	struct h_conn c;
	struct h_seg s;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	peer_fin(&c);
	h_close(c.app);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_FIN | H_ACK, c.rcv_nxt, c.snd_nxt);
	h_assert_state(PEER_PORT, "LAST_ACK");
	h_assert_log(c.app, "accept, read EOF, close OK"); /* done before the reset */
	ck_assert_uint_eq(stats().tcp_pcbs_in_use, 1);
	peer_rst(&c);
	h_none();
	/* gone now, not after LAST-ACK's timeout */
	h_assert_state(PEER_PORT, "CLOSED");
	ck_assert_uint_eq(stats().tcp_pcbs_in_use, 0);
	ck_assert(!h_advance_until_seg(10000)); /* no FIN retransmission */
	h_finish();
}
END_TEST

START_TEST(test_rst_in_closing_frees_connection_at_once)
{
	struct h_conn c;
	struct h_seg s;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	close_to_fin_wait_1(&c);
	/* simultaneous close: the peer's FIN does not acknowledge ours */
	h_conn_send(&c, H_FIN | H_ACK, NULL, 0);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt + 1, c.snd_nxt);
	h_assert_state(PEER_PORT, "CLOSING");
	h_assert_log(c.app, "accept, read EOF, close OK");
	peer_rst(&c);
	h_none();
	h_assert_state(PEER_PORT, "CLOSED");
	ck_assert_uint_eq(stats().tcp_pcbs_in_use, 0);
	ck_assert(!h_advance_until_seg(10000)); /* no FIN retransmission */
	h_finish();
}
END_TEST

START_TEST(test_rst_in_time_wait_is_ignored)
{
	struct h_conn c;
	struct h_seg s;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	close_to_fin_wait_1(&c);
	c.rcv_nxt++;
	h_conn_send(&c, H_FIN | H_ACK, NULL, 0);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, c.snd_nxt);
	h_assert_state(PEER_PORT, "TIME_WAIT");
	/* RFC 1337 (TIME-WAIT assassination): the reset does not end TIME-WAIT early */
	peer_rst(&c);
	h_none();
	h_assert_state(PEER_PORT, "TIME_WAIT");
	ck_assert_uint_eq(stats().tcp_pcbs_time_wait, 1);
	h_advance(30000);
	h_assert_state(PEER_PORT, "TIME_WAIT");
	h_advance(30600);
	h_assert_state(PEER_PORT, "CLOSED");
	h_finish();
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("rst");
	TCase *opening = tcase_create("opening");
	TCase *est = tcase_create("established");
	TCase *closing = tcase_create("closing");

	tcase_add_test(opening, test_rst_to_listener_is_ignored);
	tcase_add_test(opening, test_rst_in_syn_sent_refuses_connect);
	tcase_add_test(opening, test_rst_in_syn_sent_with_wrong_ack_is_ignored);
	tcase_add_test(opening, test_rst_in_syn_received_drops_connection);
	suite_add_tcase(s, opening);

	tcase_add_test(est, test_rst_in_established_resets_flow);
	tcase_add_test(est, test_rst_in_established_fails_pending_write);
	tcase_add_test(est, test_rst_in_window_but_not_exact_gets_challenge_ack);
	tcase_add_test(est, test_rst_outside_window_is_ignored);
	suite_add_tcase(s, est);

	tcase_add_test(closing, test_rst_in_fin_wait_1_fails_close);
	tcase_add_test(closing, test_rst_in_fin_wait_2_fails_close);
	tcase_add_test(closing, test_rst_in_close_wait_fails_later_close);
	tcase_add_test(closing, test_rst_in_last_ack_frees_connection_at_once);
	tcase_add_test(closing, test_rst_in_closing_frees_connection_at_once);
	tcase_add_test(closing, test_rst_in_time_wait_is_ignored);
	suite_add_tcase(s, closing);
	return unit_run(s);
}
