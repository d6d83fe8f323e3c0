/*
 * iperf_test.c: a test's life in rf-iperf, shared by the server and the client (iperf.c's top comment describes rf-iperf).
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iperf.h"

/* ---- tests: shared by both roles ----------------------------------------------------- */

/* Whether this side sends on the k-th stream: iperf3 creates (and accepts) the client's
 * sending streams first. */
bool
we_send(const struct test *t, unsigned int k)
{
	const struct ipf_params *p = &t->params;
	bool client_sends = p->bidir ? k < p->parallel : !p->reverse;

	return t->client ? client_sends : !client_sends;
}

void
set_phase(struct test *t, enum phase p, uint64_t timeout_ns)
{
	t->phase = p;
	t->deadline_ns = timeout_ns ? rf_now_ns() + timeout_ns : 0;
}

void
test_adopt(struct test *t, struct ipf_conn *c, const struct ipf_conn_ops *ops)
{
	c->owner = t;
	c->ops = ops;
	t->refs++;
}

static void
test_free_if_unused(struct test *t)
{
	struct iperf *ipf = t->ipf;

	if (!t->finished || t->refs > 0)
		return;
	free(t);
	/* A client run is over once its test is gone. */
	if (ipf->client_host != NULL)
		rf_loop_stop(ipf->app->loop);
}

void
test_conn_freed(struct ipf_conn *c)
{
	struct test *t = c->owner;

	TAILQ_REMOVE(&t->ipf->conns, c, link);
	if (t->ctrl == c)
		t->ctrl = NULL;
	for (unsigned int k = 0; k < t->nstreams; k++) {
		if (t->streams[k] == c) {
			/* keep what it measured, unless the results are already taken */
			if (t->phase <= PH_RUNNING)
				t->mine.s[k].bytes = c->bytes - c->bytes_base;
			t->streams[k] = NULL;
		}
	}
	t->refs--;
	test_free_if_unused(t);
}

void
test_begin_measuring(struct test *t)
{
	struct rf_stats st;

	t->start_ns = rf_now_ns();
	ipf_cpu_now(&t->cpu0);
	rf_loop_stats(t->ipf->app->loop, &st);
	t->retx0 = st.tx_retransmits;
	t->omit_pending = t->params.omit > 0;
	t->omit_end_ns = t->start_ns + (uint64_t)t->params.omit * NS_PER_S;
}

/* --omit is over: what came before does not count. */
static void
test_omit_done(struct test *t)
{
	struct ipf_conn *c;

	for (unsigned int k = 0; k < t->nstreams; k++)
		if ((c = t->streams[k]) != NULL)
			c->bytes_base = c->bytes;
	test_begin_measuring(t);
	t->omit_pending = false;
}

/* TEST_END: freezes this side's results. */
void
test_stop_measuring(struct test *t)
{
	struct ipf_results *r = &t->mine;
	uint64_t sent = 0, retx, given = 0;
	double util[3];
	struct rf_stats st;
	struct ipf_conn *c;
	int first_sender = -1;

	t->end_ns = rf_now_ns();
	ipf_cpu_now(&t->cpu1);
	rf_loop_stats(t->ipf->app->loop, &st);
	t->retx1 = st.tx_retransmits;
	ipf_cpu_util(&t->cpu0, &t->cpu1, util);
	r->cpu_total = util[0];
	r->cpu_user = util[1];
	r->cpu_system = util[2];
	r->sender_has_retransmits = -1;
	r->n = t->nstreams;
	for (unsigned int k = 0; k < t->nstreams; k++) {
		struct ipf_stream_result *s = &r->s[k];

		if ((c = t->streams[k]) != NULL) {
			c->sending = false;
			s->bytes = c->bytes - c->bytes_base;
		}
		s->start_s = 0;
		s->end_s = (double)(t->end_ns - t->start_ns) / NS_PER_S;
		s->has_times = true;
		s->retransmits = -1;
		if (we_send(t, k)) {
			r->sender_has_retransmits = 1;
			sent += s->bytes;
			if (first_sender < 0)
				first_sender = (int)k;
		}
	}
	/* One loop-wide count: split over the sending streams by their bytes. */
	retx = t->retx1 - t->retx0;
	for (unsigned int k = 0; k < t->nstreams; k++) {
		if (!we_send(t, k))
			continue;
		r->s[k].retransmits = sent ? (int64_t)(retx * r->s[k].bytes / sent) : 0;
		given += (uint64_t)r->s[k].retransmits;
	}
	if (first_sender >= 0)
		r->s[first_sender].retransmits += (int64_t)(retx - given);
}

void
test_close_streams(struct test *t, bool reset)
{
	for (unsigned int k = 0; k < t->nstreams; k++) {
		struct ipf_conn *c = t->streams[k];

		if (c == NULL)
			continue;
		if (reset)
			ipf_conn_abort(c);
		else
			ipf_conn_close(c, LINGER_NS);
		ipf_conn_maybe_free(c);
	}
}

double
gbps(uint64_t bytes, double s)
{
	return s > 0 ? (double)bytes * 8 / s / 1e9 : 0;
}

const struct ipf_stream_result *
find_result(const struct ipf_results *r, int id)
{
	for (unsigned int i = 0; i < r->n; i++)
		if (r->s[i].id == id)
			return &r->s[i];
	return NULL;
}

/* Our sends (we_send) or the peer's, matched with the other side's figures by stream id. */
struct dir_sum
test_direction(const struct test *t, bool ours)
{
	struct dir_sum d = {0};

	for (unsigned int k = 0; k < t->mine.n; k++) {
		const struct ipf_stream_result *m = &t->mine.s[k], *o;

		if (we_send(t, k) != ours)
			continue;
		o = t->have_theirs ? find_result(&t->theirs, m->id) : NULL;
		d.streams++;
		if (ours) {
			d.sent += m->bytes;
			d.sent_s = m->end_s - m->start_s;
			d.retransmits += m->retransmits > 0 ? m->retransmits : 0;
			if (o != NULL) {
				d.received += o->bytes;
				if (o->has_times)
					d.received_s = o->end_s - o->start_s;
			}
		} else {
			d.received += m->bytes;
			d.received_s = m->end_s - m->start_s;
			if (o != NULL) {
				d.sent += o->bytes;
				d.retransmits += o->retransmits > 0 ? o->retransmits : 0;
				if (o->has_times)
					d.sent_s = o->end_s - o->start_s;
			}
		}
	}
	return d;
}

static json_t *
dir_json(const struct dir_sum *d)
{
	return json_pack("{s:i, s:I, s:I, s:f, s:f, s:f, s:f, s:I}", "streams", (int)d->streams,
			 "sent_bytes", (json_int_t)d->sent, "received_bytes",
			 (json_int_t)d->received, "sent_seconds", d->sent_s, "received_seconds",
			 d->received_s, "sent_bits_per_second", gbps(d->sent, d->sent_s) * 1e9,
			 "received_bits_per_second", gbps(d->received, d->received_s) * 1e9,
			 "retransmits", (json_int_t)d->retransmits);
}

/* "normal", "reverse" or "bidir", from the client's point of view. */
static const char *
mode_name(const struct ipf_params *p)
{
	return p->bidir ? "bidir" : p->reverse ? "reverse" : "normal";
}

/*
 * The test is over (ok, or failed for t->why): report it, let go of its connections and make
 * room for the next one. On success the streams were closed at TEST_END and the control
 * connection closes after IPERF_DONE; on failure the streams are reset, and the control
 * connection is closed (so that an error message sent on it gets through) or reset.
 */
void
test_finish(struct test *t, bool ok, bool reset_ctrl)
{
	struct iperf *ipf = t->ipf;
	struct dir_sum up, down;
	char b1[32] = "", b2[32] = "";

	if (t->finished)
		return;
	t->finished = true;
	t->ok = ok;
	t->refs++; /* closing its connections below must not free it yet */
	if (ipf->test == t)
		ipf->test = NULL;
	if (!ok)
		ipf->tests_failed++;

	up = test_direction(t, true);
	down = test_direction(t, false);
	json_decref(ipf->last_test);
	ipf->last_test = json_pack("{s:b, s:s, s:i, s:i, s:o, s:o}", "ok", ok, "mode",
				   mode_name(&t->params), "parallel", (int)t->params.parallel,
				   "time", (int)t->params.time, "we_sent", dir_json(&up),
				   "we_received", dir_json(&down));
	if (ok) {
		/* what this side measured, in the directions the test used */
		if (up.streams > 0)
			snprintf(b1, sizeof(b1), "%.3f", gbps(up.sent, up.sent_s));
		if (down.streams > 0)
			snprintf(b2, sizeof(b2), "%.3f", gbps(down.received, down.received_s));
		fprintf(stderr, "%s: test %u %s %s: %u stream%s, %s, %.2f s:%s%s%s%s%s%s\n",
			ipf->app->spec->name, t->num, t->client ? "to" : "from", t->peer,
			t->params.parallel, t->params.parallel == 1 ? "" : "s",
			mode_name(&t->params), (double)(t->end_ns - t->start_ns) / NS_PER_S,
			up.streams ? " sent " : "", up.streams ? b1 : "",
			up.streams ? " Gbit/s" : "", down.streams ? " received " : "",
			down.streams ? b2 : "", down.streams ? " Gbit/s" : "");
	} else {
		fprintf(stderr, "%s: test %u %s %s failed: %s\n", ipf->app->spec->name, t->num,
			t->client ? "to" : "from", t->peer[0] ? t->peer : "?", t->why);
	}

	test_close_streams(t, !ok);
	if (t->ctrl != NULL) {
		if (reset_ctrl)
			ipf_conn_abort(t->ctrl);
		else
			ipf_conn_close(t->ctrl, LINGER_NS);
		ipf_conn_maybe_free(t->ctrl);
	}
	set_phase(t, PH_DONE, 0);
	t->refs--;
	test_free_if_unused(t);
}

void __attribute__((format(printf, 3, 4)))
test_fail(struct test *t, bool reset_ctrl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->why, sizeof(t->why), fmt, ap);
	va_end(ap);
	test_finish(t, false, reset_ctrl);
}

const char *
phase_name(enum phase p)
{
	static const char *const names[] = {"connecting", "parameter exchange", "stream set-up",
					    "running", "end", "results exchange", "display",
					    "done"};
	return names[p];
}

/* Once per loop pass: --omit, the client's --time, the phase's deadline. */
void
test_poll(struct test *t, uint64_t now)
{
	if (t->phase == PH_RUNNING && t->omit_pending && now >= t->omit_end_ns)
		test_omit_done(t);
	if (t->client && t->phase == PH_RUNNING && now >= t->stop_ns) {
		test_stop_measuring(t);
		if (ipf_conn_send_state(t->ctrl, IPF_TEST_END) < 0) {
			test_fail(t, true, "cannot send TEST_END");
			return;
		}
		set_phase(t, PH_ENDING, SETUP_TIMEOUT_NS);
	}
	if (t->deadline_ns != 0 && now >= t->deadline_ns)
		test_fail(t, true, "no progress from the peer in the %s phase",
			  phase_name(t->phase));
}

/* The control connection ended: before the end of the test, that ends the test. */
void
ctrl_end(struct ipf_conn *c, int status)
{
	struct test *t = c->owner;

	if (!t->finished)
		test_fail(t, true, "control connection: %s%s",
			  status == RF_EOF ? "closed by the " : rf_error_message(status),
			  status != RF_EOF ? "" : t->client ? "server" : "client");
	else if (status == RF_EOF)
		ipf_conn_close(c, LINGER_NS);
	else
		ipf_conn_abort(c);
}

/* A stream's data ended: EOF from the peer (it closed: so do we), or an error. */
void
stream_end(struct ipf_conn *c, int status)
{
	if (status == RF_EOF)
		ipf_conn_close(c, LINGER_NS);
	else
		ipf_conn_abort(c);
}

const struct ipf_conn_ops stream_ops = {
	.end = stream_end,
	.freed = test_conn_freed,
};
