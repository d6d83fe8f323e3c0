/*
 * iperf.c: rf-iperf, an iperf3 server (and client) on rawflow. The stock iperf3 client runs
 * its tests against it (-t, -P, -R, --bidir, -O, -J); with --client it runs a test against a
 * stock `iperf3 -s`. The protocol and its connections are in iperf_proto.c.
 *
 * One test at a time. A test is a control connection and its data streams (struct test); its
 * phases follow the control connection:
 *
 *   server: PARAMS (await the parameters) -> STREAMS (await the streams) -> RUNNING (until the
 *           client's TEST_END) -> RESULTS (await the client's results, answer with ours) ->
 *           DISPLAY (await IPERF_DONE) -> done
 *   client: PARAMS (await PARAM_EXCHANGE, send ours) -> STREAMS (connect them one by one, so the
 *           server numbers them as we do) -> RUNNING (--time, then TEST_END) -> ENDING (await
 *           EXCHANGE_RESULTS, send ours) -> RESULTS (await the server's) -> DISPLAY (await
 *           DISPLAY_RESULTS, print, IPERF_DONE) -> done
 *
 * Every phase but a running test has a deadline (a peer that vanishes silently cannot keep the
 * server busy), every close has a linger time, and whatever is left of a test when it ends is
 * closed or reset. A connection that arrives while a test runs and does not carry its cookie
 * gets ACCESS_DENIED, as from iperf3.
 *
 * Results: each side reports per stream what it measured between the start (TEST_START, or
 * the end of --omit) and TEST_END: bytes received, or bytes accepted into TCP's send queue.
 * rawflow counts retransmissions per loop, not per flow: a test's retransmissions are split
 * over its sending streams in proportion to their bytes (exact for one stream).
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "common.h"
#include "iperf_proto.h"

#define NS_PER_S 1000000000ull
/* Longest wait for the peer's next step of the setup or the end of a test. */
#define SETUP_TIMEOUT_NS (10 * NS_PER_S)
/* A server test that runs this long past its announced end is dropped (client gone). */
#define RUN_GRACE_NS (10 * NS_PER_S)
/* Closing connections are reset if the peer has not closed by then. */
#define LINGER_NS (5 * NS_PER_S)
/* How often lingering connections are checked. */
#define HOUSEKEEPING_NS (100ull * 1000 * 1000)
#define DEFAULT_TIME_S 10
#define DEFAULT_LEN (128u * 1024)

enum phase { PH_CONNECTING, PH_PARAMS, PH_STREAMS, PH_RUNNING, PH_ENDING, PH_RESULTS,
	     PH_DISPLAY, PH_DONE };

struct iperf;

struct test {
	struct iperf *ipf;
	bool client;        /* our role in it */
	unsigned int num;   /* 1, 2, ... for messages */
	char cookie[IPF_COOKIE_SIZE];
	char peer[64];      /* "198.18.0.1:40506" */
	struct ipf_params params;
	struct ipf_conn *ctrl;
	struct ipf_conn *streams[2 * IPF_MAX_STREAMS];
	unsigned int nstreams, want_streams;
	unsigned int refs;  /* connection records that point here */
	enum phase phase;
	uint64_t deadline_ns; /* of the phase; 0: none */
	uint64_t start_ns, omit_end_ns, stop_ns, end_ns;
	struct ipf_cpu cpu0, cpu1;
	uint64_t retx0, retx1;
	bool omit_pending;
	struct ipf_results mine, theirs;
	bool have_theirs;
	bool finished, ok;
	char why[160];
};

struct iperf {
	struct rf_app *app;
	struct ipf_totals totals;
	struct ipf_blocks blocks;
	TAILQ_HEAD(, ipf_conn) conns; /* every connection record */
	struct rf_listener *listener;
	struct test *test;            /* the test being run, NULL when idle */
	uint64_t next_housekeeping_ns;
	/* client mode (--client) */
	const char *client_host;
	struct rf_endpoint server;
	struct ipf_params want;
	bool want_set;                /* a client-only option was given */
	/* counters */
	uint64_t tests, tests_failed, denied;
	struct ipf_totals status_last;
	json_t *last_test;            /* the stats file's summary of the latest test */
};

/* ---- tests: shared by both roles ----------------------------------------------------- */

/* Whether this side sends on the k-th stream: iperf3 creates (and accepts) the client's
 * sending streams first. */
static bool
we_send(const struct test *t, unsigned int k)
{
	const struct ipf_params *p = &t->params;
	bool client_sends = p->bidir ? k < p->parallel : !p->reverse;

	return t->client ? client_sends : !client_sends;
}

static void
set_phase(struct test *t, enum phase p, uint64_t timeout_ns)
{
	t->phase = p;
	t->deadline_ns = timeout_ns ? rf_now_ns() + timeout_ns : 0;
}

static void
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

static void
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

static void
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
static void
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

static void
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

static double
gbps(uint64_t bytes, double s)
{
	return s > 0 ? (double)bytes * 8 / s / 1e9 : 0;
}

/* Sums of one direction: bytes and seconds as the sender and the receiver measured them. */
struct dir_sum {
	uint64_t sent, received;
	double sent_s, received_s;
	int64_t retransmits;
	unsigned int streams;
};

static const struct ipf_stream_result *
find_result(const struct ipf_results *r, int id)
{
	for (unsigned int i = 0; i < r->n; i++)
		if (r->s[i].id == id)
			return &r->s[i];
	return NULL;
}

/* Our sends (we_send) or the peer's, matched with the other side's figures by stream id. */
static struct dir_sum
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
static void
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

static void __attribute__((format(printf, 3, 4)))
test_fail(struct test *t, bool reset_ctrl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->why, sizeof(t->why), fmt, ap);
	va_end(ap);
	test_finish(t, false, reset_ctrl);
}

static const char *
phase_name(enum phase p)
{
	static const char *const names[] = {"connecting", "parameter exchange", "stream set-up",
					    "running", "end", "results exchange", "display",
					    "done"};
	return names[p];
}

/* Once per loop pass: --omit, the client's --time, the phase's deadline. */
static void
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
static void
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
static void
stream_end(struct ipf_conn *c, int status)
{
	if (status == RF_EOF)
		ipf_conn_close(c, LINGER_NS);
	else
		ipf_conn_abort(c);
}

static const struct ipf_conn_ops stream_ops = {
	.end = stream_end,
	.freed = test_conn_freed,
};

/* ---- the server ---------------------------------------------------------------------- */

static void
srv_error(struct test *t, int code, const char *why)
{
	uint32_t nums[2] = {htonl((uint32_t)code), 0}; /* iperf3's error code, errno */
	uint8_t msg[1 + sizeof(nums)];

	msg[0] = (uint8_t)(int8_t)IPF_SERVER_ERROR;
	memcpy(msg + 1, nums, sizeof(nums));
	ipf_conn_send(t->ctrl, msg, sizeof(msg));
	test_fail(t, false, "%s", why);
}

static int
srv_params(struct test *t, json_t *j)
{
	struct ipf_params *p = &t->params;
	char err[128];

	if (ipf_params_from_json(j, p, err, sizeof(err)) < 0) {
		srv_error(t, IPF_IERECVPARAMS, err);
		return -1;
	}
	if (!p->tcp) {
		srv_error(t, IPF_IEUNIMP, "the client asked for UDP or SCTP; rf-iperf does TCP");
		return -1;
	}
	if (p->parallel < 1 || p->parallel > IPF_MAX_STREAMS) {
		snprintf(err, sizeof(err), "%u parallel streams (1..%u)", p->parallel,
			 IPF_MAX_STREAMS);
		srv_error(t, IPF_IENUMSTREAMS, err);
		return -1;
	}
	t->want_streams = p->parallel * (p->bidir ? 2 : 1);
	if (ipf_conn_send_state(t->ctrl, IPF_CREATE_STREAMS) < 0) {
		test_fail(t, true, "cannot send CREATE_STREAMS");
		return -1;
	}
	set_phase(t, PH_STREAMS, SETUP_TIMEOUT_NS);
	return 0;
}

static void
srv_start(struct test *t)
{
	static const int8_t go[2] = {IPF_TEST_START, IPF_TEST_RUNNING};
	struct iperf *ipf = t->ipf;

	test_begin_measuring(t);
	if (ipf_conn_send(t->ctrl, go, sizeof(go)) < 0) {
		test_fail(t, true, "cannot send TEST_START");
		return;
	}
	set_phase(t, PH_RUNNING,
		  t->params.time ? (uint64_t)(t->params.time + t->params.omit) * NS_PER_S +
					   RUN_GRACE_NS
				 : 0);
	for (unsigned int k = 0; k < t->nstreams; k++)
		if (t->streams[k] != NULL && t->streams[k]->sender)
			ipf_conn_send_data(t->streams[k], &ipf->blocks);
}

static void
srv_add_stream(struct test *t, struct ipf_conn *c)
{
	unsigned int k = t->nstreams++;

	test_adopt(t, c, &stream_ops);
	t->streams[k] = c;
	c->id = ipf_stream_id(k);
	c->sender = we_send(t, k);
	t->mine.s[k].id = c->id;
	t->mine.n = t->nstreams;
	ipf_conn_count(c);
	if (t->nstreams == t->want_streams)
		srv_start(t);
}

/* TEST_END from the client. */
static void
srv_end(struct test *t)
{
	test_stop_measuring(t);
	/* As iperf3: no more data; what is queued is flushed, then FIN. */
	test_close_streams(t, false);
	if (ipf_conn_send_state(t->ctrl, IPF_EXCHANGE_RESULTS) < 0) {
		test_fail(t, true, "cannot send EXCHANGE_RESULTS");
		return;
	}
	set_phase(t, PH_RESULTS, SETUP_TIMEOUT_NS);
}

static void
srv_results(struct test *t, json_t *j)
{
	char err[128];
	json_t *ours;

	if (ipf_results_from_json(j, &t->theirs, err, sizeof(err)) < 0) {
		test_fail(t, true, "client's results: %s", err);
		return;
	}
	t->have_theirs = true;
	ours = ipf_results_to_json(&t->mine);
	if (ours == NULL || ipf_conn_send_json(t->ctrl, ours, IPF_DISPLAY_RESULTS) < 0) {
		json_decref(ours);
		test_fail(t, true, "cannot send the results");
		return;
	}
	json_decref(ours);
	set_phase(t, PH_DISPLAY, SETUP_TIMEOUT_NS);
}

/* A state byte from the client. */
static void
srv_state(struct test *t, int8_t s)
{
	char buf[32];

	if (s == IPF_TEST_END && t->phase == PH_RUNNING)
		srv_end(t);
	else if (s == IPF_IPERF_DONE && t->phase == PH_DISPLAY)
		test_finish(t, true, false);
	else if (s == IPF_CLIENT_TERMINATE)
		test_fail(t, true, "the client terminated the test");
	else
		test_fail(t, true, "unexpected %s in the %s phase",
			  ipf_state_name(s, buf, sizeof(buf)), phase_name(t->phase));
}

static void
srv_ctrl_input(struct ipf_conn *c)
{
	struct test *t = c->owner;
	char err[128];
	json_t *j;
	int8_t s;
	int r;

	while (!t->finished) {
		if (t->phase == PH_PARAMS || t->phase == PH_RESULTS) {
			r = ipf_conn_take_json(c, &j, err, sizeof(err));
			if (r < 0)
				test_fail(t, true, "%s", err);
			if (r <= 0)
				return;
			if (t->phase == PH_PARAMS)
				srv_params(t, j);
			else
				srv_results(t, j);
			json_decref(j);
		} else {
			if (ipf_conn_take(c, &s, 1) <= 0)
				return;
			srv_state(t, s);
		}
	}
}

static const struct ipf_conn_ops srv_ctrl_ops = {
	.input = srv_ctrl_input,
	.end = ctrl_end,
	.freed = test_conn_freed,
};

static void
srv_new_test(struct iperf *ipf, struct ipf_conn *c, const char *cookie)
{
	struct test *t = calloc(1, sizeof(*t));
	struct rf_endpoint ep;
	char a[48];

	if (t == NULL) {
		ipf_conn_abort(c);
		return;
	}
	t->ipf = ipf;
	t->num = (unsigned int)++ipf->tests;
	memcpy(t->cookie, cookie, IPF_COOKIE_SIZE);
	if (rf_flow_remote(c->flow, &ep) == 0)
		snprintf(t->peer, sizeof(t->peer), "%s:%u",
			 rf_addr_format(&ep.addr, a, sizeof(a)), ep.port);
	t->ctrl = c;
	test_adopt(t, c, &srv_ctrl_ops);
	ipf->test = t;
	set_phase(t, PH_PARAMS, SETUP_TIMEOUT_NS);
	if (ipf_conn_send_state(c, IPF_PARAM_EXCHANGE) < 0) {
		test_fail(t, true, "cannot send PARAM_EXCHANGE");
		return;
	}
	srv_ctrl_input(c); /* in case the parameters came along */
}

/* A new connection's cookie decides what it is: a stream of the running test, the control
 * connection of a new test, or one too many. */
static void
pending_input(struct ipf_conn *c)
{
	struct iperf *ipf = c->owner;
	struct test *t = ipf->test;
	char cookie[IPF_COOKIE_SIZE];

	if (ipf_conn_take(c, cookie, sizeof(cookie)) <= 0)
		return;
	if (t == NULL) {
		srv_new_test(ipf, c, cookie);
	} else if (t->phase == PH_STREAMS && t->nstreams < t->want_streams &&
		   memcmp(cookie, t->cookie, IPF_COOKIE_SIZE) == 0) {
		srv_add_stream(t, c);
	} else {
		ipf->denied++;
		ipf_conn_send_state(c, IPF_ACCESS_DENIED);
		ipf_conn_close(c, LINGER_NS);
	}
}

static void
pending_end(struct ipf_conn *c, int status)
{
	if (status == RF_EOF)
		ipf_conn_close(c, LINGER_NS);
	else
		ipf_conn_abort(c);
}

static void
pending_freed(struct ipf_conn *c)
{
	struct iperf *ipf = c->owner;

	TAILQ_REMOVE(&ipf->conns, c, link);
}

static const struct ipf_conn_ops pending_ops = {
	.input = pending_input,
	.end = pending_end,
	.freed = pending_freed,
};

static void
on_accept(struct rf_listener *ls, struct rf_flow *f, void *arg)
{
	struct iperf *ipf = arg;
	struct ipf_conn *c;

	(void)ls;
	c = ipf_conn_accept(ipf->app->loop, f, &pending_ops, ipf, &ipf->totals);
	if (c == NULL)
		return;
	/* the cookie is due by then (iperf_poll) */
	c->deadline_ns = rf_now_ns() + SETUP_TIMEOUT_NS;
	TAILQ_INSERT_TAIL(&ipf->conns, c, link);
	ipf_conn_maybe_free(c);
}

/* ---- the client ---------------------------------------------------------------------- */

static void cli_connect_stream(struct test *t);

static void
cli_stream_connected(struct ipf_conn *c, int status)
{
	struct test *t = c->owner;

	if (t->finished) {
		ipf_conn_abort(c);
		return;
	}
	if (status != RF_OK) {
		test_fail(t, true, "stream %u: cannot connect: %s", t->nstreams + 1,
			  rf_error_message(status));
		return;
	}
	if (ipf_conn_send(c, t->cookie, IPF_COOKIE_SIZE) < 0) {
		test_fail(t, true, "stream %u: cannot send the cookie", t->nstreams + 1);
		return;
	}
	ipf_conn_count(c);
	t->mine.n = ++t->nstreams;
	/* One at a time: the server numbers and assigns streams in the order it accepts them. */
	if (t->nstreams < t->want_streams)
		cli_connect_stream(t);
}

static const struct ipf_conn_ops cli_stream_ops = {
	.connected = cli_stream_connected,
	.end = stream_end,
	.freed = test_conn_freed,
};

static void
cli_connect_stream(struct test *t)
{
	struct iperf *ipf = t->ipf;
	unsigned int k = t->nstreams;
	struct ipf_conn *c;
	int rc;

	rc = ipf_conn_connect(ipf->app->loop, &ipf->server, &cli_stream_ops, t, &ipf->totals, &c);
	if (rc < 0) {
		test_fail(t, true, "stream %u: cannot connect: %s", k + 1, rf_error_message(rc));
		return;
	}
	TAILQ_INSERT_TAIL(&ipf->conns, c, link);
	t->refs++;
	t->streams[k] = c;
	c->id = ipf_stream_id(k);
	c->sender = we_send(t, k);
	t->mine.s[k].id = c->id;
}

static void
cli_display(struct test *t)
{
	char b[32];

	printf("[ ID] Role      Interval           Transfer     Bitrate          Retr\n");
	for (unsigned int k = 0; k < t->mine.n; k++) {
		const struct ipf_stream_result *m = &t->mine.s[k];
		const struct ipf_stream_result *o = find_result(&t->theirs, m->id);
		bool ours = we_send(t, k);
		const struct ipf_stream_result *snd = ours ? m : o, *rcv = ours ? o : m;

		if (snd != NULL)
			printf("[%3d] sender    0.00-%-6.2f sec  %-11s  %7.3f Gbit/s  %4" PRId64
			       "%s\n",
			       m->id, snd->end_s - snd->start_s,
			       ipf_bytes_text(snd->bytes, b, sizeof(b)),
			       gbps(snd->bytes, snd->end_s - snd->start_s),
			       snd->retransmits > 0 ? snd->retransmits : 0,
			       ours ? "  (rf-iperf)" : "  (server)");
		if (rcv != NULL)
			printf("[%3d] receiver  0.00-%-6.2f sec  %-11s  %7.3f Gbit/s      %s\n",
			       m->id, rcv->end_s - rcv->start_s,
			       ipf_bytes_text(rcv->bytes, b, sizeof(b)),
			       gbps(rcv->bytes, rcv->end_s - rcv->start_s),
			       ours ? "  (server)" : "  (rf-iperf)");
	}
	for (int dir = 1; dir >= 0; dir--) {
		struct dir_sum d = test_direction(t, dir);

		if (d.streams == 0)
			continue;
		printf("[SUM] %s sent      %-11s  %7.3f Gbit/s  %4" PRId64 "\n",
		       dir ? "rf-iperf" : "server  ", ipf_bytes_text(d.sent, b, sizeof(b)),
		       gbps(d.sent, d.sent_s), d.retransmits);
		printf("[SUM] %s received  %-11s  %7.3f Gbit/s\n", dir ? "server  " : "rf-iperf",
		       ipf_bytes_text(d.received, b, sizeof(b)), gbps(d.received, d.received_s));
	}
	fflush(stdout);
}

/* A state byte from the server; SERVER_ERROR comes with two numbers, taken here too.
 * Returns 0, or -1 when more input is needed. */
static int
cli_state(struct test *t)
{
	struct ipf_conn *c = t->ctrl;
	struct ipf_params *p = &t->params;
	uint32_t nums[2];
	char buf[32];
	json_t *j;
	int8_t s;

	if (c->in_len < 1 || ((int8_t)c->in[0] == IPF_SERVER_ERROR && c->in_len < 9))
		return -1;
	ipf_conn_take(c, &s, 1);
	switch (s) {
	case IPF_PARAM_EXCHANGE:
		j = ipf_params_to_json(p);
		if (j == NULL || ipf_conn_send_json(c, j, 0) < 0)
			test_fail(t, true, "cannot send the parameters");
		json_decref(j);
		set_phase(t, PH_STREAMS, SETUP_TIMEOUT_NS);
		break;
	case IPF_CREATE_STREAMS:
		t->want_streams = p->parallel * (p->bidir ? 2 : 1);
		cli_connect_stream(t);
		break;
	case IPF_TEST_START:
		test_begin_measuring(t);
		t->stop_ns = t->start_ns + (uint64_t)(p->time + p->omit) * NS_PER_S;
		break;
	case IPF_TEST_RUNNING:
		if (t->nstreams != t->want_streams) {
			test_fail(t, true, "TEST_RUNNING with %u of %u streams", t->nstreams,
				  t->want_streams);
			break;
		}
		set_phase(t, PH_RUNNING, 0);
		for (unsigned int k = 0; k < t->nstreams; k++)
			if (t->streams[k] != NULL && t->streams[k]->sender)
				ipf_conn_send_data(t->streams[k], &t->ipf->blocks);
		break;
	case IPF_EXCHANGE_RESULTS:
		if (t->phase == PH_RUNNING)
			test_stop_measuring(t); /* the server ended the test (-n, -k) */
		j = ipf_results_to_json(&t->mine);
		if (j == NULL || ipf_conn_send_json(c, j, 0) < 0)
			test_fail(t, true, "cannot send the results");
		json_decref(j);
		set_phase(t, PH_RESULTS, SETUP_TIMEOUT_NS);
		break;
	case IPF_DISPLAY_RESULTS:
		cli_display(t);
		if (ipf_conn_send_state(c, IPF_IPERF_DONE) < 0)
			test_fail(t, true, "cannot send IPERF_DONE");
		else
			test_finish(t, true, false);
		break;
	case IPF_ACCESS_DENIED:
		test_fail(t, true, "the server is busy running a test (ACCESS_DENIED)");
		break;
	case IPF_SERVER_ERROR:
		ipf_conn_take(c, nums, sizeof(nums));
		test_fail(t, true, "the server reported iperf3 error %" PRId32 " (errno %" PRId32
			  ")", (int32_t)ntohl(nums[0]), (int32_t)ntohl(nums[1]));
		break;
	case IPF_SERVER_TERMINATE:
		test_fail(t, true, "the server terminated the test");
		break;
	default:
		test_fail(t, true, "unexpected %s from the server",
			  ipf_state_name(s, buf, sizeof(buf)));
	}
	return 0;
}

static void
cli_ctrl_input(struct ipf_conn *c)
{
	struct test *t = c->owner;
	char err[128];
	json_t *j;
	int r;

	while (!t->finished) {
		if (t->phase == PH_RESULTS) {
			r = ipf_conn_take_json(c, &j, err, sizeof(err));
			if (r < 0)
				test_fail(t, true, "server's results: %s", err);
			if (r <= 0)
				return;
			r = ipf_results_from_json(j, &t->theirs, err, sizeof(err));
			json_decref(j);
			if (r < 0) {
				test_fail(t, true, "server's results: %s", err);
				return;
			}
			t->have_theirs = true;
			set_phase(t, PH_DISPLAY, SETUP_TIMEOUT_NS);
		} else if (cli_state(t) < 0) {
			return;
		}
	}
}

static void
cli_ctrl_connected(struct ipf_conn *c, int status)
{
	struct test *t = c->owner;

	if (status != RF_OK) {
		test_fail(t, true, "cannot connect: %s", rf_error_message(status));
		return;
	}
	if (ipf_conn_send(c, t->cookie, IPF_COOKIE_SIZE) < 0) {
		test_fail(t, true, "cannot send the cookie");
		return;
	}
	set_phase(t, PH_PARAMS, SETUP_TIMEOUT_NS);
}

static const struct ipf_conn_ops cli_ctrl_ops = {
	.connected = cli_ctrl_connected,
	.input = cli_ctrl_input,
	.end = ctrl_end,
	.freed = test_conn_freed,
};

static void
cli_begin(struct iperf *ipf)
{
	struct test *t = calloc(1, sizeof(*t));
	char a[48];
	int rc;

	if (t == NULL)
		rf_app_fatal(ipf->app, "out of memory");
	t->ipf = ipf;
	t->client = true;
	t->num = (unsigned int)++ipf->tests;
	t->params = ipf->want;
	ipf_make_cookie(t->cookie);
	snprintf(t->peer, sizeof(t->peer), "%s:%u",
		 rf_addr_format(&ipf->server.addr, a, sizeof(a)), ipf->server.port);
	rc = ipf_conn_connect(ipf->app->loop, &ipf->server, &cli_ctrl_ops, t, &ipf->totals,
			      &t->ctrl);
	if (rc < 0)
		rf_app_fatal(ipf->app, "cannot connect to %s: %s", t->peer, rf_error_message(rc));
	TAILQ_INSERT_TAIL(&ipf->conns, t->ctrl, link);
	t->refs++;
	ipf->test = t;
	set_phase(t, PH_CONNECTING, SETUP_TIMEOUT_NS);
}

/* ---- the program --------------------------------------------------------------------- */

static void
iperf_poll(struct rf_loop *l, void *arg)
{
	struct iperf *ipf = arg;
	uint64_t now = rf_now_ns();
	struct ipf_conn *c, *next;

	(void)l;
	if (ipf->test != NULL)
		test_poll(ipf->test, now);
	if (now < ipf->next_housekeeping_ns)
		return;
	ipf->next_housekeeping_ns = now + HOUSEKEEPING_NS;
	for (c = TAILQ_FIRST(&ipf->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->ops == &pending_ops && !ipf_conn_ended(c) && now >= c->deadline_ns)
			ipf_conn_abort(c); /* no cookie in time */
		else
			ipf_conn_linger_check(c, now);
	}
}

/* After the loop stopped: the test in progress fails, every connection is reset. */
static void
iperf_stop(void *arg)
{
	struct iperf *ipf = arg;
	struct ipf_conn *c, *next;

	if (ipf->listener != NULL)
		rf_listener_close(ipf->listener);
	ipf->listener = NULL;
	if (ipf->test != NULL)
		test_fail(ipf->test, true, "stopped");
	for (c = TAILQ_FIRST(&ipf->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		ipf_conn_abort(c);
		ipf_conn_maybe_free(c);
	}
	ipf_blocks_release(&ipf->blocks);
}

static void
iperf_status(char *buf, size_t len, double interval_s, void *arg)
{
	struct iperf *ipf = arg;
	uint64_t rx = ipf->totals.rx_bytes - ipf->status_last.rx_bytes;
	uint64_t tx = ipf->totals.tx_bytes - ipf->status_last.tx_bytes;

	ipf->status_last = ipf->totals;
	if (ipf->test != NULL)
		snprintf(buf, len, "test %u %s | data rx %.3f Gbit/s tx %.3f Gbit/s",
			 ipf->test->num, phase_name(ipf->test->phase), gbps(rx, interval_s),
			 gbps(tx, interval_s));
	else
		snprintf(buf, len, "idle | tests %" PRIu64, ipf->tests);
}

static void
iperf_stats(json_t *obj, void *arg)
{
	struct iperf *ipf = arg;

	json_object_set_new(obj, "tests", json_integer((json_int_t)ipf->tests));
	json_object_set_new(obj, "tests_failed", json_integer((json_int_t)ipf->tests_failed));
	json_object_set_new(obj, "tests_denied", json_integer((json_int_t)ipf->denied));
	json_object_set_new(obj, "bytes_received", json_integer((json_int_t)ipf->totals.rx_bytes));
	json_object_set_new(obj, "bytes_sent", json_integer((json_int_t)ipf->totals.tx_bytes));
	if (ipf->last_test != NULL)
		json_object_set(obj, "last_test", ipf->last_test);
}

static int
opt_client(struct rf_app *app, const char *v, void *arg)
{
	struct iperf *ipf = arg;

	if (rf_addr_parse(v, &ipf->server.addr) < 0)
		return rf_app_opt_error(app, "malformed address \"%s\"", v);
	ipf->client_host = v;
	return 0;
}

static int
opt_time(struct rf_app *app, const char *v, void *arg)
{
	struct iperf *ipf = arg;
	uint64_t n;

	ipf->want_set = true;
	if (rf_app_parse_u64(app, v, 1, 86400, &n) < 0)
		return -1;
	ipf->want.time = (unsigned int)n;
	return 0;
}

static int
opt_omit(struct rf_app *app, const char *v, void *arg)
{
	struct iperf *ipf = arg;
	uint64_t n;

	ipf->want_set = true;
	if (rf_app_parse_u64(app, v, 0, 600, &n) < 0)
		return -1;
	ipf->want.omit = (unsigned int)n;
	return 0;
}

static int
opt_parallel(struct rf_app *app, const char *v, void *arg)
{
	struct iperf *ipf = arg;
	uint64_t n;

	ipf->want_set = true;
	if (rf_app_parse_u64(app, v, 1, IPF_MAX_STREAMS, &n) < 0)
		return -1;
	ipf->want.parallel = (unsigned int)n;
	return 0;
}

static int
opt_reverse(struct rf_app *app, const char *v, void *arg)
{
	struct iperf *ipf = arg;

	(void)v;
	ipf->want_set = true;
	if (ipf->want.bidir)
		return rf_app_opt_error(app, "cannot be combined with --bidir");
	ipf->want.reverse = true;
	return 0;
}

static int
opt_bidir(struct rf_app *app, const char *v, void *arg)
{
	struct iperf *ipf = arg;

	(void)v;
	ipf->want_set = true;
	if (ipf->want.reverse)
		return rf_app_opt_error(app, "cannot be combined with --reverse");
	ipf->want.bidir = true;
	return 0;
}

static const struct rf_app_option iperf_options[] = {
	{"client", "A.B.C.D",
	 "run one test as a client against an iperf3 server at this address, then exit",
	 opt_client},
	{"time", "SECONDS", "client: seconds to transmit (default 10)", opt_time},
	{"omit", "SECONDS", "client: leave the first seconds out of the results (default 0)",
	 opt_omit},
	{"parallel", "N", "client: parallel streams, 1..128 (default 1)", opt_parallel},
	{"reverse", NULL, "client: the server sends, rf-iperf receives", opt_reverse},
	{"bidir", NULL, "client: both send at once, N streams each way", opt_bidir},
	{NULL, NULL, NULL, NULL},
};

static const struct rf_app_spec iperf_spec = {
	.name = "rf-iperf",
	.summary = "iperf3 server (TCP) for the stock iperf3 client: -t, -P, -R, --bidir, -O, -J;"
		   " sends zero-copy. With --client, one test against an iperf3 server.",
	.default_port = IPF_PORT,
	.options = iperf_options,
	.poll = iperf_poll,
	.status = iperf_status,
	.stats = iperf_stats,
	.stop = iperf_stop,
};

int
main(int argc, char **argv)
{
	struct iperf ipf = {0};
	struct rf_app app;
	int rc;

	TAILQ_INIT(&ipf.conns);
	ipf.app = &app;
	ipf.want = (struct ipf_params){.tcp = true, .time = DEFAULT_TIME_S, .parallel = 1,
				       .len = DEFAULT_LEN};
	rf_app_init(&app, &iperf_spec, &ipf);
	rf_app_parse(&app, argc, argv);
	if (ipf.want_set && ipf.client_host == NULL) {
		fprintf(stderr, "%s: --time, --omit, --parallel, --reverse and --bidir need "
				"--client (try --help)\n",
			iperf_spec.name);
		return 2;
	}
	ipf.server.port = app.port;
	rf_app_start(&app);
	rc = ipf_blocks_init(&ipf.blocks, app.loop);
	if (rc < 0)
		rf_app_fatal(&app, "cannot allocate %u send blocks: %s", IPF_BLOCKS,
			     rf_error_message(rc));
	if (ipf.client_host != NULL) {
		cli_begin(&ipf);
	} else {
		rc = rf_listen(app.loop, NULL, app.port, on_accept, &ipf, &ipf.listener);
		if (rc < 0)
			rf_app_fatal(&app, "cannot listen on port %u: %s", app.port,
				     rf_error_message(rc));
	}
	rc = rf_app_run(&app);
	if (ipf.client_host != NULL && rc == 0 && (ipf.tests_failed > 0 || ipf.tests == 0))
		rc = 1;
	json_decref(ipf.last_test);
	return rc;
}
