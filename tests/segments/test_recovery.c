/*
 * Segment tests: loss recovery as a sender (stack/patches/0020, 0021).
 *
 * The stack sends full segments to a peer that offered SACK; the peer "loses" some and
 * answers as Linux does: an ACK at the first hole with SACK blocks for what came after,
 * riding on its own data when it has some to send (an echo, a proxy). What is pinned:
 *   - holes are resent from SACK blocks on data-carrying ACKs (lwIP alone counts only empty
 *     ACKs as duplicates and waited for the retransmission timeout);
 *   - every hole of a window is resent within the same round trip, each once, as soon as
 *     three SACKed segments lie above it (not one hole per round trip);
 *   - a resend that was lost too is resent again once data sent after it was SACKed three
 *     segments deep, without a timeout;
 *   - in recovery, data-carrying ACKs that SACK more data let new data out (as empty
 *     duplicate ACKs do), so the ACK clock keeps going;
 *   - fewer than three SACKed segments above a hole (reordering) resend nothing;
 *   - with round trips well inside a slow tick the RTO settles at 2 ticks (patch 0022);
 *   - rf_stats counts timeouts (rto_timeouts) apart from fast resends (tx_retransmits).
 * The SACK tests happen at one fake instant: no timer runs, so nothing there comes from a
 * timeout.
 */
#include <string.h>

#include "harness.h"
#include "unit.h"

#define PORT 80
#define PEER_PORT 40000
#define MSS 1460u

/* The peer's view of what the stack sent: segment i covers [una0 + i*MSS, +MSS). */
struct sender {
	struct h_conn c;
	uint32_t una0;     /* first byte of segment 0 */
	uint32_t nxt;      /* next new byte the stack will send */
	unsigned int sent[64]; /* times each segment went out */
};

static uint32_t
seq_of(const struct sender *s, unsigned int i)
{
	return s->una0 + i * MSS;
}

/* Takes every pending segment: counts each data segment by its index; returns how many
 * went out (pure ACKs for the peer's data are skipped). */
static unsigned int
take(struct sender *s)
{
	unsigned int n = 0;

	while (h_pending()) {
		struct h_seg g = h_recv();
		unsigned int i;

		if (g.len == 0)
			continue;
		ck_assert_msg(g.len == MSS && (g.seq - s->una0) % MSS == 0,
			      "segment seq %u len %u is not a whole segment", g.seq, g.len);
		i = (g.seq - s->una0) / MSS;
		ck_assert_uint_lt(i, 64);
		s->sent[i]++;
		if (h_seq_lt(s->nxt, g.seq + g.len))
			s->nxt = g.seq + g.len;
		n++;
	}
	return n;
}

/* Accepts a connection that offered SACK, has 60 segments written, and acknowledges one
 * segment at a time (slow start) until at least `want` segments are in flight; the count
 * starts again at the first unacknowledged one (segment 0 = una0). Returns how many are in
 * flight. */
static unsigned int
grow(struct sender *s, unsigned int want)
{
	memset(s, 0, sizeof(*s));
	h_start(0);
	h_listen(PORT);
	h_accept(&s->c, PORT, PEER_PORT, &(struct h_hs_opts){.sack_perm = true});
	for (int i = 0; i < 60; i++)
		h_write(s->c.app, MSS, (uint8_t)i);
	s->una0 = s->nxt = s->c.rcv_nxt;
	h_run();
	take(s);
	while ((s->nxt - s->c.rcv_nxt) / MSS < want) {
		s->c.rcv_nxt += MSS;
		h_conn_send(&s->c, H_ACK, NULL, 0);
		h_run();
		take(s);
	}
	s->una0 = s->c.rcv_nxt;
	memset(s->sent, 0, sizeof(s->sent));
	return (s->nxt - s->una0) / MSS;
}

/* The peer's ACK at segment `hole` with SACK blocks [from_i, to_i) in segments (up to 3
 * pairs; a 0,0 pair ends them), carrying `len` bytes of its own data (0: a pure ACK). */
static void
ack_sack(struct sender *s, unsigned int hole, const unsigned int blocks[][2], unsigned int n,
	 uint16_t len)
{
	uint8_t data[64] = {0};
	struct h_tcp t = {.sport = s->c.pport, .dport = s->c.sport, .seq = s->c.snd_nxt,
			  .ack = seq_of(s, hole), .flags = H_ACK, .wnd = s->c.wnd,
			  .data = len ? data : NULL, .len = len};

	ck_assert_uint_le(len, sizeof(data));
	for (unsigned int i = 0; i < n; i++) {
		t.sack[i][0] = seq_of(s, blocks[i][0]);
		t.sack[i][1] = seq_of(s, blocks[i][1]);
	}
	t.nsack = (uint8_t)n;
	h_send(&t);
	s->c.snd_nxt += len;
	h_run();
}

/* Segment 0 missing: two of the peer's data segments acknowledge up to it, SACKing 1, then
 * 1-2. */
static void
sack_two_by_data(struct sender *s)
{
	ack_sack(s, 0, (const unsigned int[][2]){{1, 2}}, 1, 20);
	ack_sack(s, 0, (const unsigned int[][2]){{1, 3}}, 1, 20);
}

START_TEST(test_sack_on_data_segments_resends_the_hole)
{
	struct sender s;
	unsigned int inflight = grow(&s, 6);
	struct rf_stats st;

	ck_assert_uint_ge(inflight, 6);
	/* segment 0 lost; the peer's data segments acknowledge up to it and SACK 1, 1-2, 1-3 */
	sack_two_by_data(&s);
	take(&s);
	ck_assert_uint_eq(s.sent[0], 0); /* two SACKed above: could be reordering */
	ack_sack(&s, 0, (const unsigned int[][2]){{1, 4}}, 1, 20);
	take(&s);
	ck_assert_msg(s.sent[0] == 1, "the hole was sent %u times, expected once at once",
		      s.sent[0]);
	/* further ACKs of the same hole do not resend it again */
	ack_sack(&s, 0, (const unsigned int[][2]){{1, 5}}, 1, 20);
	take(&s);
	ck_assert_uint_eq(s.sent[0], 1);
	rf_loop_stats(h_loop(), &st);
	ck_assert_uint_eq(st.tx_retransmits, 1);
	ck_assert_uint_eq(st.rto_timeouts, 0);
	h_finish();
}
END_TEST

START_TEST(test_data_acks_in_recovery_let_new_data_out)
{
	struct sender s;
	unsigned int inflight = grow(&s, 6), fresh = 0;

	ck_assert_uint_ge(inflight, 6);
	sack_two_by_data(&s);
	ack_sack(&s, 0, (const unsigned int[][2]){{1, 4}}, 1, 20);
	take(&s);
	ck_assert_uint_eq(s.sent[0], 1); /* recovery began */
	/* the rest of the window is SACKed by data segments, the hole still open */
	for (unsigned int r = 5; r <= inflight; r++) {
		ack_sack(&s, 0, (const unsigned int[][2]){{1, r}}, 1, 20);
		take(&s);
	}
	for (unsigned int i = inflight; i < 64; i++)
		fresh += s.sent[i];
	ck_assert_msg(fresh >= 2, "%u new segments went out during recovery", fresh);
	h_finish();
}
END_TEST

START_TEST(test_every_hole_of_a_window_resent_in_one_round_trip)
{
	struct sender s;
	unsigned int inflight = grow(&s, 8);

	ck_assert_uint_ge(inflight, 8);
	/* segments 0, 2 and 4 lost; pure duplicate ACKs report what arrived after them */
	ack_sack(&s, 0, (const unsigned int[][2]){{1, 2}}, 1, 0);
	ack_sack(&s, 0, (const unsigned int[][2]){{3, 4}, {1, 2}}, 2, 0);
	ack_sack(&s, 0, (const unsigned int[][2]){{5, 6}, {3, 4}, {1, 2}}, 3, 0);
	take(&s);
	ck_assert_uint_eq(s.sent[0], 1); /* 1, 3, 5 SACKed above it */
	ck_assert_uint_eq(s.sent[2], 0); /* only 3 and 5 above it */
	ack_sack(&s, 0, (const unsigned int[][2]){{5, 7}, {3, 4}, {1, 2}}, 3, 0);
	take(&s);
	ck_assert_msg(s.sent[2] == 1, "second hole sent %u times before the first was "
		      "acknowledged, expected once", s.sent[2]);
	ck_assert_uint_eq(s.sent[4], 0); /* 5, 6 above it */
	ack_sack(&s, 0, (const unsigned int[][2]){{5, 8}, {3, 4}, {1, 2}}, 3, 0);
	take(&s);
	ck_assert_uint_eq(s.sent[4], 1);
	ck_assert_uint_eq(s.sent[0], 1);
	ck_assert_uint_eq(s.sent[2], 1);
	for (unsigned int i = 0; i < 8; i++)
		if (i != 0 && i != 2 && i != 4)
			ck_assert_msg(s.sent[i] == 0, "SACKed segment %u resent", i);
	/* the resends arrive: everything up to 8 acknowledged, nothing resent since */
	s.c.rcv_nxt = seq_of(&s, 8);
	h_conn_send(&s.c, H_ACK, NULL, 0);
	h_run();
	take(&s);
	ck_assert_uint_eq(s.sent[0] + s.sent[2] + s.sent[4], 3);
	h_finish();
}
END_TEST

START_TEST(test_lost_resend_is_resent_again_without_timeout)
{
	struct sender s;
	unsigned int inflight = grow(&s, 6), top;

	ck_assert_uint_ge(inflight, 6);
	/* segment 0 lost, and its resend too: the peer keeps SACKing everything else,
	 * including what the stack sends after the resend (duplicate ACKs let new data out) */
	for (unsigned int r = 2; r < 40 && s.sent[0] < 2; r++) {
		take(&s);
		top = (s.nxt - s.una0) / MSS;
		ack_sack(&s, 0, (const unsigned int[][2]){{1, r < top ? r : top}}, 1, 0);
	}
	take(&s);
	ck_assert_msg(s.sent[0] == 2, "the lost resend went again %u times", s.sent[0]);
	/* its second resend arrives: the whole window is acknowledged */
	s.c.rcv_nxt = s.nxt;
	h_conn_send(&s.c, H_ACK, NULL, 0);
	h_run();
	take(&s);
	ck_assert_uint_eq(s.sent[0], 2);
	h_finish();
}
END_TEST

START_TEST(test_reordering_two_deep_resends_nothing)
{
	struct sender s;
	unsigned int inflight = grow(&s, 6);
	struct rf_stats st;

	ck_assert_uint_ge(inflight, 6);
	/* segment 0 arrives late, after 1 and 2: two SACKed segments, then the ACK for all */
	sack_two_by_data(&s);
	s.c.rcv_nxt = seq_of(&s, 3);
	h_conn_send(&s.c, H_ACK, NULL, 0);
	h_run();
	take(&s);
	for (unsigned int i = 0; i < 3; i++)
		ck_assert_msg(s.sent[i] == 0, "segment %u resent", i);
	rf_loop_stats(h_loop(), &st);
	ck_assert_uint_eq(st.tx_retransmits, 0);
	h_finish();
}
END_TEST

START_TEST(test_rto_settles_at_two_ticks)
{
	struct h_conn c;
	struct h_seg g, r1, r2;

	h_start(0);
	h_listen(PORT);
	h_advance(1000);
	h_accept(&c, PORT, PEER_PORT, NULL);
	/* ten round trips well inside a tick (answered at the same fake instant): each is an
	 * RTT sample of 0 ticks; rttvar decays from the handshake's 2.4 s */
	for (int i = 0; i < 10; i++) {
		h_write(c.app, 100, 0);
		h_run();
		g = h_recv();
		ck_assert_uint_eq(g.len, 100);
		c.rcv_nxt += 100;
		h_conn_send(&c, H_ACK, NULL, 0);
		h_run();
		h_advance(100);
	}
	/* lost: resent after 2 slow ticks (200-400 ms), then after 4 (the RTO doubles) */
	h_write(c.app, 100, 0);
	h_run();
	g = h_recv();
	ck_assert(h_advance_until_seg(3000));
	r1 = h_recv();
	ck_assert(h_advance_until_seg(3000));
	r2 = h_recv();
	h_assert_seg(r1, H_ACK | H_PSH, g.seq, c.snd_nxt);
	h_assert_seg(r2, H_ACK | H_PSH, g.seq, c.snd_nxt);
	ck_assert_msg(r1.t_ms - g.t_ms >= 200 && r1.t_ms - g.t_ms <= 400,
		      "first resend after %u ms, expected 200-400", (unsigned int)(r1.t_ms - g.t_ms));
	ck_assert_uint_eq(r2.t_ms - r1.t_ms, 800);
	h_finish();
}
END_TEST

START_TEST(test_timeout_counted_apart_from_fast_resends)
{
	struct h_conn c;
	struct h_seg g;
	struct rf_stats st;

	h_start(0);
	h_listen(PORT);
	h_advance(1000);
	h_accept(&c, PORT, PEER_PORT, &(struct h_hs_opts){.sack_perm = true});
	h_write(c.app, 100, 0);
	h_run();
	g = h_recv();
	ck_assert(h_advance_until_seg(3000)); /* lost: resent by the timeout */
	g = h_recv();
	h_assert_seg(g, H_ACK | H_PSH, c.rcv_nxt, c.snd_nxt);
	rf_loop_stats(h_loop(), &st);
	ck_assert_uint_eq(st.rto_timeouts, 1);
	ck_assert_uint_eq(st.tx_retransmits, 0);
	c.rcv_nxt += 100;
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	h_none();
	rf_loop_stats(h_loop(), &st);
	ck_assert_uint_eq(st.rto_timeouts, 1);
	h_finish();
}
END_TEST

/* ---- the peer's window after a resend ------------------------------------------------------ */

/* The peer's segment at `seq` (its own data, len bytes) acknowledging segment `acked` of the
 * stack's, with the window that puts its right edge at segment `edge`. */
static void
peer_data(struct sender *s, uint32_t seq, uint16_t len, unsigned int acked, unsigned int edge)
{
	uint8_t data[100] = {0};

	ck_assert_uint_le(len, sizeof(data));
	h_send(&(struct h_tcp){.sport = s->c.pport, .dport = s->c.sport, .seq = seq,
			       .ack = seq_of(s, acked), .flags = H_ACK,
			       .wnd = (uint16_t)((edge - acked) * MSS), .data = data, .len = len});
	h_run();
}

/* The peer's data segment P2 arrives (its P1 was lost); then the peer resends P1, lower in
 * sequence, acknowledging more of the stack's data with a window that keeps the right edge
 * where it was. lwIP's update rule (SND.WL1 < SEG.SEQ, ...) skipped that segment's window
 * but took its ACK, and tcp_output() counts the window from SND.UNA: the right edge moved up
 * by what the resend acknowledged and the stack sent past the peer's window. Through the
 * faults suite's memif leg that data was refused, the receiver's window then shut, and the
 * sender's next ACKs (sequence numbers past a zero window) were never taken: the echo stalled
 * for good (docs/testing.md). SACK recovery (patch 0021) resends in place like this all
 * the time. Patch 0033 takes the window of every segment that acknowledges new data. */
START_TEST(test_window_of_a_resend_that_acknowledges_more_is_taken)
{
	struct sender s;
	unsigned int k = grow(&s, 10);
	uint32_t p1 = s.c.snd_nxt, edge;

	ck_assert_uint_ge(k, 10);
	edge = seq_of(&s, k + 2);
	/* P2 (P1 lost): segments 0-1 acknowledged, the right edge two segments past the flight */
	peer_data(&s, p1 + 50, 50, 2, k + 2);
	take(&s);
	ck_assert_msg(!h_seq_lt(edge, s.nxt), "sent to %u, past the right edge %u after P2",
		      s.nxt, edge);
	/* P1 resent: segments 0-3 acknowledged, the same right edge */
	peer_data(&s, p1, 50, 4, k + 2);
	take(&s);
	ck_assert_msg(!h_seq_lt(edge, s.nxt),
		      "sent to %u, %u bytes past the peer's right edge %u", s.nxt, s.nxt - edge,
		      edge);
	ck_assert_msg(s.nxt == edge, "sent to %u, the right edge %u is not reached", s.nxt, edge);
	h_finish();
}
END_TEST

/* ---- persist: the probe byte the peer did not take ----------------------------------------- */

/* The stack probes the peer's zero window with one new byte; the peer, still without room,
 * drops it and answers: window 0, the byte not acknowledged. lwIP had left SND.NXT one past
 * that byte, so every empty ACK it sent afterwards carried a sequence number one past the
 * peer's (zero) window: not acceptable (RFC 9293 3.10.7.4), dropped, with its ACK field,
 * by Linux and by rawflow's own lwIP (patch 0015). Through the faults suite's memif leg the
 * echo stalled for good that way (docs/testing.md): rf-echo's window shut while echo_check
 * probed it, and echo_check's ACKs for rf-echo's resends never counted. An empty ACK must
 * not lie past the peer's right edge: SND.UNA here (patch 0034; BSD pulls SND.NXT back in
 * persist for the same reason). */
START_TEST(test_ack_after_unaccepted_probe_is_inside_peer_window)
{
	struct h_conn c;
	struct h_seg p, a;
	uint32_t base;

	h_start(0);
	h_listen(PORT);
	h_accept(&c, PORT, PEER_PORT, NULL);
	h_shut_peer_window(&c, 10);
	base = c.rcv_nxt;
	h_write(c.app, 100, 7);
	h_run();
	h_none();
	/* the persist timer's probe: one new byte */
	ck_assert(h_advance_until_seg(30000));
	p = h_recv();
	h_assert_seg(p, H_ACK, base, c.snd_nxt);
	ck_assert_uint_eq(p.len, 1);
	/* the peer has no room: the byte is not taken, the window stays shut */
	h_conn_send(&c, H_ACK, NULL, 0);
	h_run();
	h_none();
	/* the peer's own data (it receives nothing, but it sends: an echo's other way); the
	 * stack's ACK for it must lie inside the peer's zero window: at SND.UNA */
	h_conn_send_pattern(&c, H_ACK | H_PSH, 20, 3);
	h_advance(200);
	a = h_recv();
	ck_assert_uint_eq(a.len, 0);
	h_assert_seg(a, H_ACK, base, c.snd_nxt);
	/* probes go on from there, the same byte */
	ck_assert(h_advance_until_seg(30000));
	p = h_recv();
	h_assert_seg(p, H_ACK, base, c.snd_nxt);
	ck_assert_uint_eq(p.len, 1);
	/* the window opens: all 100 bytes, from base */
	ck_assert_uint_eq(c.rcv_nxt, base);
	h_open_peer_window(&c, 100);
	h_finish();
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("recovery");
	TCase *sack = tcase_create("sack");
	TCase *cnt = tcase_create("timeout");
	TCase *per = tcase_create("persist");
	TCase *wnd = tcase_create("window");

	tcase_add_test(sack, test_sack_on_data_segments_resends_the_hole);
	tcase_add_test(sack, test_data_acks_in_recovery_let_new_data_out);
	tcase_add_test(sack, test_every_hole_of_a_window_resent_in_one_round_trip);
	tcase_add_test(sack, test_lost_resend_is_resent_again_without_timeout);
	tcase_add_test(sack, test_reordering_two_deep_resends_nothing);
	suite_add_tcase(s, sack);
	tcase_add_test(cnt, test_rto_settles_at_two_ticks);
	tcase_add_test(cnt, test_timeout_counted_apart_from_fast_resends);
	suite_add_tcase(s, cnt);
	tcase_add_test(wnd, test_window_of_a_resend_that_acknowledges_more_is_taken);
	suite_add_tcase(s, wnd);
	tcase_add_test(per, test_ack_after_unaccepted_probe_is_inside_peer_window);
	suite_add_tcase(s, per);
	return unit_run(s);
}
