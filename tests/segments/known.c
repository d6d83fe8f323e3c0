/*
 * Segment tests that FAIL today: each asserts what the RFCs ask for where lwIP 2.1.3 (as
 * rawflow configures it) does something else. They are built but not registered with meson
 * (CI stays green); meson.build lists them with the behaviour seen. Run them by hand:
 *
 *   build/tests/segments/test_seg_known          (as root; H_TRACE=1 prints the traces)
 *
 * A test that starts passing (lwIP fixed or patched in stack/patches) moves to its group's
 * file and is registered.
 */
#include <inttypes.h>
#include <string.h>

#include "harness.h"
#include "unit.h"

#define PORT 80
#define PEER_PORT 40000

/* Seen: lwIP ignores a SYN without ACK in SYN-SENT (tcp_process handles only SYN|ACK
 * there): no SYN-ACK, the connection stays in SYN-SENT and retransmits its SYN; only the
 * peer's SYN-ACK completes it. */
START_TEST(test_simultaneous_open)
{
	struct h_app *a;
	struct h_seg s, r;

	h_start(0);
	a = h_connect(PEER_PORT);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_SYN, s.seq, 0);
	/* the peer connects to us at the same moment: its SYN, without ACK, crosses ours.
	 * RFC 9293 3.10.7.3 (SYN-SENT, "fourth, check the SYN bit"): enter SYN-RECEIVED and
	 * send <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> */
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = s.sport, .seq = 9000, .flags = H_SYN,
			       .wnd = 65535, .mss = 1460});
	h_run();
	r = h_recv();
	h_assert_seg(r, H_SYN | H_ACK, s.seq, 9001);
	h_assert_state(PEER_PORT, "SYN_RCVD");
	/* the peer's SYN-ACK (to our SYN) completes the handshake */
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = s.sport, .seq = 9000, .ack = s.seq + 1,
			       .flags = H_SYN | H_ACK, .wnd = 65535, .mss = 1460});
	h_run();
	h_assert_state(PEER_PORT, "ESTABLISHED");
	h_assert_log(a, "connect OK");
	h_discard();
	h_finish();
}
END_TEST

/* Collects the SYNs of an unanswered connect until it fails or max_ms pass. */
static unsigned int
unanswered_connect(struct h_app **a, struct h_seg *s, unsigned int max, uint64_t max_ms)
{
	unsigned int n = 0;
	uint64_t t0;

	h_advance(1000);
	*a = h_connect(PEER_PORT);
	h_run();
	s[n++] = h_recv();
	t0 = h_now();
	while (n < max && (*a)->log[0] == '\0' && h_now() - t0 < max_ms) {
		h_advance(100);
		if (h_pending())
			s[n++] = h_recv();
	}
	return n;
}

/* Seen: 3 s between all seven SYNs (tcp_slowtmr: "Double retransmission time-out unless we
 * are trying to connect"). */
START_TEST(test_syn_retransmissions_back_off)
{
	struct h_app *a;
	struct h_seg s[8];
	unsigned int n;

	h_start(0);
	n = unanswered_connect(&a, s, 4, 60000);
	ck_assert_uint_ge(n, 4);
	/* RFC 6298 5.5: "The host MUST set RTO <- RTO * 2 ("back off the timer")" */
	for (unsigned int i = 2; i < 4; i++)
		ck_assert_msg(s[i].t_ms - s[i - 1].t_ms >= 2 * (s[i - 1].t_ms - s[i - 2].t_ms) - 200,
			      "SYN %u after %" PRIu64 " ms, the one before after %" PRIu64 " ms", i,
			      s[i].t_ms - s[i - 1].t_ms, s[i - 1].t_ms - s[i - 2].t_ms);
	h_finish();
}
END_TEST

/* Seen: connect fails with RF_ETIMEDOUT 18.1 s after the first SYN (six retransmissions 3 s
 * apart; lwIP gives up at the first slow tick after the sixth, 200 ms later). */
START_TEST(test_connect_keeps_trying_3_minutes)
{
	struct h_app *a;
	struct h_seg s[32];
	uint64_t t0;

	h_start(0);
	unanswered_connect(&a, s, 32, 180000);
	t0 = s[0].t_ms;
	/* RFC 1122 4.2.3.5: "R2 for a SYN segment MUST be set large enough to provide
	 * retransmission of the segment for at least 3 minutes." */
	ck_assert_msg(a->log[0] == '\0', "connect ended after %" PRIu64 " ms: %s",
		      h_now() - t0, a->log);
	h_finish();
}
END_TEST

/* Seen: the ACK of the segment that fills the hole comes from the delayed-ACK timer (the
 * next tcp_fasttmr, up to 100 ms later here; 250 ms with lwIP's default timer), because
 * tcp_receive() uses tcp_ack() once the out-of-order queue is empty. */
START_TEST(test_gap_filling_segment_is_acked_at_once)
{
	struct h_conn c;
	struct h_seg s;
	uint8_t d[100];
	uint32_t base;

	memset(d, 0, sizeof(d));
	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, &(struct h_hs_opts){.sack_perm = true});
	base = c.snd_nxt;
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = base + 100,
			       .ack = c.rcv_nxt, .flags = H_ACK, .wnd = 65535, .data = d,
			       .len = 100});
	h_run();
	s = h_recv(); /* the duplicate ACK with the SACK block, at once */
	h_assert_seg(s, H_ACK, c.rcv_nxt, base);
	/* RFC 5681 4.2: "a TCP receiver SHOULD send an immediate ACK when ... an incoming
	 * segment fills in all or part of a gap in the sequence space" */
	h_send(&(struct h_tcp){.sport = PEER_PORT, .dport = PORT, .seq = base, .ack = c.rcv_nxt,
			       .flags = H_ACK, .wnd = 65535, .data = d, .len = 100});
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK, c.rcv_nxt, base + 200);
	ck_assert_uint_eq(s.t_ms, h_now());
	h_finish();
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("known");
	TCase *tc = tcase_create("known");

	tcase_add_test(tc, test_simultaneous_open);
	tcase_add_test(tc, test_syn_retransmissions_back_off);
	tcase_add_test(tc, test_connect_keeps_trying_3_minutes);
	tcase_add_test(tc, test_gap_filling_segment_is_acked_at_once);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
