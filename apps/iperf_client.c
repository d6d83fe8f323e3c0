/*
 * iperf_client.c: rf-iperf's client role (--client): a test against a stock iperf3 -s (iperf.c's top comment describes rf-iperf).
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iperf.h"

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

void
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
