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

#include "iperf.h"

/* ---- the program --------------------------------------------------------------------- */

static void
iperf_poll(struct rf_loop *l, void *arg)
{
	struct iperf *ipf = arg;
	uint64_t now = rf_loop_now_ns(l); /* the pass's clock: a TSC read costs ~19 ns here */
	struct ipf_conn *c, *next;

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
	if (app.cfg.cores > 1) { /* an iperf3 test's state lives in one process */
		fprintf(stderr, "%s: --cores: one core only: an iperf3 test's control and data "
				"connections must meet in one process, and several cores would spread "
				"them (docs/scaling.md)\n",
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
		rf_app_wait_links(&app);
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
