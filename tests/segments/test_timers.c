/*
 * Segment tests, timers that visit only what is due (lwIP patch 0012): the slow timer keeps
 * a connection on its list while one of its clocks can run and drops it once idle; the fast
 * timer visits a connection when it has a delayed ACK. What is pinned: an idle connection
 * leaves the slow timer's list, and whatever happens to it next (a write, the peer's data)
 * puts it back in time: the lost segment is retransmitted after the RTO, the delayed ACK goes
 * within the fast timer's 100 ms, as on a connection that never went idle.
 *
 * A look inside lwIP, like test_data.c's keepalive (the suite's meson.build): the pcb's
 * timer links (struct tcp_pcb, patch 0012).
 */
#include "flow_internal.h" /* the pcb behind a flow */
#include "harness.h"
#include "unit.h"

#define PORT 80
#define PEER_PORT 40000

static bool
on_timer_list(const struct h_app *a, int timer)
{
	ck_assert_ptr_nonnull(a->flow);
	ck_assert_ptr_nonnull(a->flow->pcb);
	return a->flow->pcb->timer_link[timer].pprev != NULL;
}

START_TEST(test_idle_connection_leaves_slow_timer_and_comes_back)
{
	struct h_conn c;
	struct h_seg s;

	h_start(0);
	h_listen(PORT);
	h_advance(1000); /* lwIP times the handshake only once its tick counter runs */
	h_accept(&c, PORT, PEER_PORT, NULL);
	ck_assert(on_timer_list(c.app, TCP_TIMER_SLOW)); /* input for it: its clocks may run */
	h_advance(400);					 /* two slow ticks: nothing due */
	h_none();
	ck_assert(!on_timer_list(c.app, TCP_TIMER_SLOW));
	ck_assert(!on_timer_list(c.app, TCP_TIMER_FAST));

	/* written and lost: back on the list, retransmitted after the RTO (2.2 to 2.4 s, see
	 * test_data.c's test_rto_backoff_doubles) */
	h_write(c.app, 100, 0);
	h_run();
	ck_assert(on_timer_list(c.app, TCP_TIMER_SLOW));
	s = h_recv();
	h_assert_seg(s, H_ACK | H_PSH, c.rcv_nxt, c.snd_nxt);
	ck_assert(h_advance_until_seg(3000));
	s = h_recv();
	h_assert_seg(s, H_ACK | H_PSH, c.rcv_nxt, c.snd_nxt);
	ck_assert_uint_eq(s.len, 100);

	/* acknowledged: idle again after the next slow tick */
	c.rcv_nxt += 100;
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	h_advance(400);
	h_none();
	ck_assert(!on_timer_list(c.app, TCP_TIMER_SLOW));

	/* the peer's data: its delayed ACK comes from the fast timer, within 100 ms */
	h_conn_send(&c, H_ACK | H_PSH, "abc", 3);
	h_run();
	ck_assert(on_timer_list(c.app, TCP_TIMER_FAST));
	ck_assert(h_advance_until_seg(100));
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, c.snd_nxt);
	ck_assert_uint_eq(s.len, 0);
	ck_assert(!on_timer_list(c.app, TCP_TIMER_FAST));
	h_none();
	h_assert_log(c.app, "accept, write OK, read 3");
	h_finish();
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("timers");
	TCase *t = tcase_create("due");

	tcase_add_test(t, test_idle_connection_leaves_slow_timer_and_comes_back);
	suite_add_tcase(s, t);
	return unit_run(s);
}
