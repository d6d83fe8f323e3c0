/*
 * load.c: rf-load, a load generator on rawflow for echo and request-response services.
 *
 * A request is --size bytes sent on a connection; its response is the next --size bytes that
 * come back (an echo server's reply). Responses are counted in bytes, not in reads: one may
 * arrive in several buffers, one buffer may end several. Received buffers are released at
 * once, so TCP's receive window never shuts. Requests go out of pre-built buffers: the message
 * is allocated once at start-up (several packet buffers when --size exceeds one), and every
 * request writes new references to them (rf_buf_ref), so sending copies nothing and takes no
 * packet memory of its own.
 *
 * Three ways to drive the load:
 *   closed loop (default): each of --conns connections keeps --depth requests in flight;
 *     every response sends the next request (pipelining when --depth > 1);
 *   --rate R, open loop: a schedule of R requests/s in all, round-robin over the connections,
 *     sends whether or not earlier responses came back. Latency runs from the *scheduled*
 *     send time, so that a stall (of the server, the network or rf-load itself) shows in the
 *     figures instead of pausing the clock: no coordinated omission. --depth is then the most
 *     requests in flight per connection (default 64); while every connection is at that cap
 *     the schedule falls behind, and later catches up, each request still timed from its slot;
 *   --short-flows: one request per connection: connect, send, receive the response, close.
 *     The next connection of a slot starts once the close completed (or on schedule with
 *     --rate). Latency runs from the connect (or its scheduled time) to the response's last
 *     byte, and requests/s is connections/s;
 *   --once: each connection sends one request and, once answered, stays open without
 *     traffic until the run ends: many idle connections held against a server (the scale
 *     suite). "held" counts them; when all --conns are held, one line on stderr says so.
 *     --idle K adds K such idle connections (slots opened before the --conns ones) to a
 *     closed-loop run, whose figures then cover only the time after all K were held: the
 *     request rate of a server that holds K idle connections (tests/scale/idle_rate.sh).
 *
 * Many connections: lwIP gives each connection a local port of 0xc000..0xfffe that no other
 * connection to the same server address and port uses (stack/patches/0010), 16,383 per
 * server port; --ports N spreads the slots over N consecutive server ports (slot i goes to
 * --to's port + i mod N). --max-flows is raised to --conns unless given.
 *
 * Slots: struct conn is one of --conns slots, each holding at most one flow at a time. A slot
 * counts the callbacks still due from its flow (connect, read, close; writes are issued with
 * no callback), and takes a new flow only when that count is zero after the flow ended
 * (closed, aborted or not connected): no callback of an old flow can reach a reused slot. A
 * flow that failed (refused, reset, closed early by the peer) is counted in the errors, its
 * requests in flight in "lost", and its slot connects again after LOAD_RETRY_NS.
 *
 * Start: the first slot connects alone, the others once its connect resolved (see
 * open_the_rest()), at most LOAD_CONNECTING_MAX connects in progress at a time. The clock starts with the first established connection, so what delays
 * it (ARP, a link coming up, a lost SYN) is neither in the rate nor in any latency.
 *
 * The end: --duration (common.c stops the loop) or --requests N (the N-th request answered or
 * lost stops it). Open flows are then closed, connecting ones aborted; responses still in
 * flight are read and dropped, not counted. The figures come from a histogram of every
 * latency (histogram.h): requests/s, p50, p90, p99, p99.9. The live status line shows the
 * requests/s and the p99 of the last second, from a second histogram reset every second.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"

/* ---- the loop's hooks ------------------------------------------------------------------- */

/* Slots whose retry time came: connect them again. One that fails again at once goes back
 * to waiting through conn_idle(), which keeps next_retry_ns the earliest time due. */
static void
load_retry(struct load *ld, uint64_t now)
{
	struct conn *c;
	uint64_t i;

	ld->next_retry_ns = UINT64_MAX;
	for (i = 0; i < ld->nslots; i++) {
		c = &ld->conn[i];
		if (c->state != CONN_IDLE || !c->failed)
			continue;
		if (c->retry_ns > now) {
			if (c->retry_ns < ld->next_retry_ns)
				ld->next_retry_ns = c->retry_ns;
			continue;
		}
		ld->retrying--;
		c->failed = false;
		conn_idle(c, now);
	}
}

/* The next slot, round-robin, that can take a scheduled request; NULL if none. */
static struct conn *
load_pick(struct load *ld)
{
	struct conn *c;
	uint64_t i;

	for (i = 0; i < ld->conns; i++) {
		c = &ld->conn[ld->rr];
		if (++ld->rr == ld->conns)
			ld->rr = 0;
		if (ld->short_flows ? c->state == CONN_IDLE && !c->failed
				    : c->state == CONN_OPEN && c->inflight < ld->depth)
			return c;
	}
	return NULL;
}

/* --rate: every request whose scheduled time has come goes out, timed from that time. */
static void
load_schedule(struct load *ld, uint64_t now)
{
	struct conn *c;
	unsigned int n;

	for (n = 0; n < LOAD_SENDS_PER_PASS && now >= ld->next_send_ns; n++) {
		if (!may_issue(ld) || !ld->room)
			return;
		c = load_pick(ld);
		if (c == NULL) {
			ld->room = false; /* until a response or a connection makes room */
			return;
		}
		if (ld->short_flows)
			conn_start(c, ld->next_send_ns);
		else
			conn_request(c, ld->next_send_ns);
		ld->scheduled++;
		ld->next_send_ns =
			ld->rate_start_ns + (uint64_t)((double)ld->scheduled * ld->interval_ns);
	}
}

static void
load_poll(struct rf_loop *l, void *arg)
{
	struct load *ld = arg;
	uint64_t now;

	(void)l;
	if ((ld->retrying == 0 && ld->rate == 0) || ld->stopping)
		return;
	now = rf_now_ns();
	if (ld->retrying > 0 && now >= ld->next_retry_ns)
		load_retry(ld, now);
	if (ld->rate != 0 && ld->rate_start_ns != 0)
		load_schedule(ld, now);
}

/* After the loop stopped: open flows are closed (their answers drained uncounted),
 * connecting ones aborted, and the message buffers given back. */
static void
load_stop(void *arg)
{
	struct load *ld = arg;
	uint64_t i;

	if (ld->end_ns == 0)
		ld->end_ns = rf_now_ns();
	ld->stopping = true;
	for (i = 0; i < ld->nslots; i++) {
		if (ld->conn[i].state == CONN_OPEN)
			conn_close(&ld->conn[i]);
		else
			conn_abort(&ld->conn[i]);
	}
	for (i = 0; i < ld->nmsg; i++)
		rf_buf_release(ld->msg[i]);
	ld->nmsg = 0;
}

static void
load_status(char *buf, size_t len, double interval_s, void *arg)
{
	struct load *ld = arg;
	uint64_t errors = ld->connect_errors + ld->resets + ld->other_errors;
	int n;

	n = snprintf(buf, len, "%.0f req/s | p99 %.1f us",
		     interval_s > 0 ? (double)ld->last.total / interval_s : 0.0,
		     (double)rf_hist_quantile(&ld->last, 0.99) / 1e3);
	if ((ld->once || ld->idle > 0) && n > 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, " | held %" PRIu64, ld->held);
	if (errors > 0 && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, " | errors %" PRIu64, errors);
	rf_hist_reset(&ld->last);
}

/* v >= 0 rounded to a multiple of 1/per (without libm's round()). */
static double
rounded(double v, double per)
{
	return (double)(uint64_t)(v * per + 0.5) / per;
}

/* The results, as the stats file and --json both give them. */
static void
load_result(json_t *o, void *arg)
{
	const struct load *ld = arg;
	uint64_t end = ld->end_ns != 0 ? ld->end_ns : rf_now_ns();
	double dur = ld->start_ns != 0 && end > ld->start_ns
			     ? (double)(end - ld->start_ns) / NS_PER_S
			     : 0.0;
	const struct rf_hist *h = &ld->all;

/* Reals rounded: us to 3 decimals (1 ns), s to 6, rates to 3: the figures then read
 * the same in every output, whatever precision it prints. */
#define SET_INT(k, v) json_object_set_new(o, k, json_integer((json_int_t)(v)))
#define SET_REAL(k, v, d) json_object_set_new(o, k, json_real(rounded(v, d)))
#define SET_US(k, q) SET_REAL(k, (double)rf_hist_quantile(h, q) / 1e3, 1e3)
	SET_INT("requests", ld->completed);
	SET_REAL("duration_s", dur, 1e6);
	SET_REAL("rps", dur > 0 ? (double)ld->completed / dur : 0.0, 1e3);
	SET_US("p50_us", 0.50);
	SET_US("p90_us", 0.90);
	SET_US("p99_us", 0.99);
	SET_US("p999_us", 0.999);
	SET_INT("errors", ld->connect_errors + ld->resets + ld->other_errors);
	SET_INT("conns", ld->conns);
	SET_INT("size", ld->size);
	SET_INT("depth", ld->depth);
	/* details */
	SET_REAL("mean_us", rf_hist_mean(h) / 1e3, 1e3);
	SET_REAL("max_us", h->total > 0 ? (double)h->max / 1e3 : 0.0, 1e3);
	SET_INT("connect_errors", ld->connect_errors);
	SET_INT("resets", ld->resets);
	SET_INT("other_errors", ld->other_errors);
	SET_INT("lost", ld->lost);
	SET_INT("connections", ld->connections);
	SET_INT("rate", ld->rate);
	json_object_set_new(o, "short_flows", json_boolean(ld->short_flows));
	SET_INT("ports", ld->nports);
	SET_INT("idle", ld->idle);
	json_object_set_new(o, "once", json_boolean(ld->once));
	SET_INT("held_max", ld->held_max);
#undef SET_US
#undef SET_REAL
#undef SET_INT
}

/* ---- start-up --------------------------------------------------------------------------- */

/* Slots, their rings, and the message: everything the data path uses, allocated once. */
static void
load_prepare(struct load *ld, struct rf_app *app)
{
	uint32_t max = rf_buf_max(), len;
	uint64_t left, i;
	unsigned int j;

	ld->conn = calloc(ld->nslots, sizeof(*ld->conn));
	ld->rings = calloc(ld->nslots * ld->depth, sizeof(*ld->rings));
	if (ld->conn == NULL || ld->rings == NULL)
		rf_app_fatal(app, "out of memory for %" PRIu64 " connections of depth %" PRIu64,
			     ld->nslots, ld->depth);
	for (i = 0; i < ld->nslots; i++) {
		ld->conn[i].ld = ld;
		ld->conn[i].t0_ns = ld->rings + i * ld->depth;
	}
	if (max == 0)
		rf_app_fatal(app, "the stack reports no usable buffer size");
	ld->nmsg = (unsigned int)((ld->size + max - 1) / max);
	ld->msg = calloc(ld->nmsg, sizeof(*ld->msg));
	ld->refs = calloc(ld->nmsg, sizeof(*ld->refs));
	if (ld->msg == NULL || ld->refs == NULL)
		rf_app_fatal(app, "out of memory for the message");
	for (j = 0, left = ld->size; j < ld->nmsg; j++, left -= len) {
		len = left < max ? (uint32_t)left : max;
		ld->msg[j] = rf_buf_alloc(app->loop, len);
		if (ld->msg[j] == NULL)
			rf_app_fatal(app, "no packet buffer for the message (%u of %u)", j + 1,
				     ld->nmsg);
		/* Printable, so a capture of the traffic is readable. */
		for (uint32_t k = 0; k < len; k++)
			ld->msg[j]->data[k] = (uint8_t)('a' + (k % 26));
	}
}

static void
load_begin(struct load *ld)
{
	uint64_t now = rf_now_ns(), i;

	if (ld->rate != 0 && ld->short_flows) {
		/* Each scheduled request is a connection of its own, started by load_schedule()
		 * on a free slot. The schedule starts once a first connection (itself a request)
		 * is through its handshake, for the reason open_the_rest() gives. */
		ld->interval_ns = NS_PER_S / (double)ld->rate;
		ld->next_start = ld->nslots; /* nothing to open: the schedule does */
		ld->conn[0].initial = true;
		ld->initial_pending = 1;
	} else if (!ld->short_flows && !ld->once) {
		/* Long flows, the --rate schedule and the closed loop alike: requests start once
		 * every first connect resolved, so that all connections share a --requests
		 * budget (the first ones up had spent it before the last one was: issue 10's
		 * multicore check once saw 4 of 8). --idle's slots (never with --rate) come first
		 * and send their one request as they come up. */
		if (ld->rate != 0)
			ld->interval_ns = NS_PER_S / (double)ld->rate;
		for (i = ld->idle; i < ld->nslots; i++)
			ld->conn[i].initial = true;
		ld->initial_pending = (unsigned int)ld->conns;
	}
	conn_start(&ld->conn[0], now);
	if (ld->conn[0].state != CONN_CONNECTING) /* failed at once: no point waiting */
		open_the_rest(ld, now);
}

static void
print_json(struct load *ld)
{
	json_t *o = json_object();

	if (o == NULL)
		return;
	load_result(o, ld);
	json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(15));
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(o);
}

static const struct rf_app_spec load_spec = {
	.name = "rf-load",
	.summary = "Load generator for echo / request-response servers: requests/s and latency "
		   "percentiles, closed or open loop.",
	.default_port = LOAD_PORT,
	.options = load_options,
	.poll = load_poll,
	.status = load_status,
	.stats = load_result,
	.stop = load_stop,
};

int
main(int argc, char **argv)
{
	struct load *ld = calloc(1, sizeof(*ld)); /* two 28 KiB histograms: not on the stack */
	struct rf_app app;
	int rc;

	if (ld == NULL) {
		fprintf(stderr, "%s: out of memory\n", load_spec.name);
		return 1;
	}
	ld->conns = 1;
	ld->size = 64;
	ld->nports = 1;
	ld->next_start = 1;
	rf_hist_reset(&ld->all);
	rf_hist_reset(&ld->last);
	rf_app_init(&app, &load_spec, ld);
	ld->app = &app;
	rf_app_parse(&app, argc, argv);
	check_options(ld, &app);
	rf_app_start(&app);
	load_prepare(ld, &app);
	rf_app_wait_links(&app);
	load_begin(ld);
	rc = rf_app_run(&app);
	if (ld->json)
		print_json(ld);
	if (rc == 0 && ld->completed == 0) {
		fprintf(stderr, "%s: no request was answered\n", load_spec.name);
		rc = 1;
	}
	free(ld->refs);
	free(ld->msg);
	free(ld->rings);
	free(ld->conn);
	free(ld);
	return rc;
}
