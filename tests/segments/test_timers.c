/*
 * Segment tests, timers that visit only what is due (lwIP patch 0012): the slow timer keeps
 * a connection on its list while one of its clocks can run and drops it once idle; the fast
 * timer visits a connection when it has a delayed ACK. What is pinned: an idle connection
 * leaves the slow timer's list, and whatever happens to it next (a write, the peer's data)
 * puts it back in time: the lost segment is retransmitted after the RTO, the delayed ACK goes
 * within the fast timer's 100 ms, as on a connection that never went idle.
 *
 * And output the device had no room for (lwIP patch 0013): when the netif refuses a frame
 * with ERR_WOULDBLOCK (stack/netif.c does when the port's send queue is full), a delayed ACK
 * and a written segment are sent by the next fast timer run, not lost or left to the RTO; a
 * run that stopped at a refusal keeps the delayed ACKs it did not reach. Without patch 0013
 * the two ACK tests fail (the ACKs are never sent); the segment test passes either way (the
 * slow timer's poll step calls tcp_output() too) and pins the bound.
 *
 * A look inside lwIP, like test_data.c's keepalive (the suite's meson.build): the pcb's
 * timer links (struct tcp_pcb, patch 0012), and the netif's linkoutput, wrapped to refuse.
 */
#include "lwip/netif.h"

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

/* The device's queue full, as the netif reports it: stack/netif.c's linkoutput wrapped. */
static netif_linkoutput_fn real_linkoutput;
static bool refusing;
static unsigned int refused;

/* Refuses every frame while refusing; counts the TCP ones (IPv4: the link also sends
 * neighbour discovery and MLD frames on its own timers). */
static err_t
refusing_linkoutput(struct netif *nif, struct pbuf *p)
{
	const uint8_t *f = p->payload;

	if (!refusing)
		return real_linkoutput(nif, p);
	if (p->len >= 34 && f[12] == 0x08 && f[13] == 0x00 && f[23] == 6)
		refused++;
	return ERR_WOULDBLOCK;
}

static void
refuse(bool on)
{
	struct netif *nif = netif_list; /* the one port (net_ring0) */

	ck_assert_ptr_nonnull(nif);
	if (real_linkoutput == NULL) {
		real_linkoutput = nif->linkoutput;
		nif->linkoutput = refusing_linkoutput;
	}
	refusing = on;
}

/* A stack listening on PORT, its clock running, and one connection from PEER_PORT accepted. */
static void
start_accepted(struct h_conn *c)
{
	h_start(0);
	h_listen(PORT);
	h_advance(1000); /* lwIP times the handshake only once its tick counter runs */
	h_accept(c, PORT, PEER_PORT, NULL);
}

START_TEST(test_refused_delayed_ack_is_sent_by_next_fast_timer)
{
	struct h_conn c;
	struct h_seg s;

	start_accepted(&c);
	h_conn_send(&c, H_ACK | H_PSH, "abc", 3);
	h_run();
	h_none(); /* its ACK is delayed */
	refuse(true);
	h_advance(100); /* the fast timer's run (and maybe the slow one's): refused */
	ck_assert_uint_ge(refused, 1);
	h_none();
	ck_assert(on_timer_list(c.app, TCP_TIMER_FAST)); /* still owed */
	refuse(false);
	ck_assert(h_advance_until_seg(100)); /* the next run sends it */
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, c.snd_nxt);
	ck_assert_uint_eq(s.len, 0);
	h_none();
	h_assert_log(c.app, "accept, read 3");
	h_finish();
}
END_TEST

START_TEST(test_refused_segment_is_sent_by_next_fast_timer)
{
	struct h_conn c;
	struct h_seg s;

	start_accepted(&c);
	refuse(true);
	h_write(c.app, 100, 0);
	h_run(); /* tcp_output() refused: the segment stays unsent */
	ck_assert_uint_ge(refused, 1);
	h_none();
	refuse(false);
	/* within the next fast timer run, not at the RTO (about 1 s: test_data.c) */
	ck_assert(h_advance_until_seg(100));
	s = h_recv();
	h_assert_seg(s, H_ACK | H_PSH, c.rcv_nxt, c.snd_nxt);
	ck_assert_uint_eq(s.len, 100);
	c.rcv_nxt += 100;
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	h_none();
	h_finish();
}
END_TEST

START_TEST(test_refused_run_keeps_every_delayed_ack)
{
	struct h_conn a, b;
	struct h_seg s;

	start_accepted(&a);
	h_accept(&b, PORT, PEER_PORT + 1, NULL);
	h_conn_send(&a, H_ACK | H_PSH, "abc", 3);
	h_conn_send(&b, H_ACK | H_PSH, "defg", 4);
	h_run();
	h_none(); /* two delayed ACKs */
	refuse(true);
	h_advance(100); /* the run stops at its first refusal; neither ACK is lost */
	ck_assert_uint_ge(refused, 1);
	h_none();
	refuse(false);
	ck_assert(h_advance_until_seg(100));
	ck_assert_uint_eq(h_pending(), 2); /* both in the next run */
	for (int i = 0; i < 2; i++) {
		s = h_recv();
		struct h_conn *c = s.dport == a.pport ? &a : &b;

		h_assert_seg(s, H_ACK, c->rcv_nxt, c->snd_nxt);
	}
	h_none();
	h_finish();
}
END_TEST

START_TEST(test_idle_connection_leaves_slow_timer_and_comes_back)
{
	struct h_conn c;
	struct h_seg s;

	start_accepted(&c);
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
	t = tcase_create("refused");
	tcase_add_test(t, test_refused_delayed_ack_is_sent_by_next_fast_timer);
	tcase_add_test(t, test_refused_segment_is_sent_by_next_fast_timer);
	tcase_add_test(t, test_refused_run_keeps_every_delayed_ack);
	suite_add_tcase(s, t);
	return unit_run(s);
}
