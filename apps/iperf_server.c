/*
 * iperf_server.c: rf-iperf's server role: a stock iperf3 client's test, step by step (iperf.c's top comment describes rf-iperf).
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iperf.h"

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

const struct ipf_conn_ops pending_ops = {
	.input = pending_input,
	.end = pending_end,
	.freed = pending_freed,
};

void
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
