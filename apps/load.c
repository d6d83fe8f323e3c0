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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "histogram.h"

#define LOAD_PORT 7 /* the echo service's, for --to without a port */
/* Local ports lwIP has per server address and port (0xc000..0xfffe; stack/patches/0010). */
#define LOAD_PORTS_PER_TARGET 16383u
/* --ports: server ports at most, and so connections at most */
#define LOAD_MAX_PORTS 64
#define LOAD_MAX_CONNS (LOAD_PORTS_PER_TARGET * LOAD_MAX_PORTS)
/* Connects in progress at most while the slots open: a burst of SYNs beyond a listen backlog
 * (rawflow's: 255) is answered with SYN cookies or dropped, and frames beyond the device's TX
 * queue are dropped and wait out a 3 s SYN retransmission. */
#define LOAD_CONNECTING_MAX 128
/* Each request in flight is 8 bytes of timestamp; conns x depth of them are allocated. */
#define LOAD_MAX_DEPTH 1024
/* The message is pre-built from packet buffers of rf_buf_max() bytes (a page less headroom):
 * 1 MiB takes a few hundred of the pool's buffers. */
#define LOAD_MAX_SIZE (1u << 20)
#define LOAD_MAX_RATE 100000000ull
/* Default --depth with --rate: room for bursts of a schedule that fell behind. */
#define LOAD_RATE_DEPTH 64
/* A slot whose flow failed waits this long before connecting again: a refusing server is not
 * hammered in a tight loop. */
#define LOAD_RETRY_NS (100ull * 1000 * 1000)
/* Scheduled sends per loop pass at most (--rate), so a schedule that fell far behind catches
 * up without starving the loop's other phases. */
#define LOAD_SENDS_PER_PASS 256
#define NS_PER_S 1000000000.0
#define EXIT_USAGE 2

enum conn_state {
	CONN_IDLE,       /* no flow */
	CONN_CONNECTING,
	CONN_OPEN,
	CONN_ENDING,     /* closed or aborted; waits for its callbacks */
};

struct conn {
	struct load *ld;
	struct rf_flow *flow;
	uint64_t *t0_ns;        /* ring of --depth: start of each request in flight, oldest first */
	unsigned int head;      /* the oldest request in t0_ns */
	unsigned int inflight;
	uint64_t rx_partial;    /* bytes of the oldest request's response received so far */
	unsigned int callbacks; /* connect, read and close callbacks still due */
	uint64_t retry_ns;      /* idle after a failure: connect again from then */
	enum conn_state state;
	bool failed;            /* the flow ended in an error: retry after LOAD_RETRY_NS */
	bool initial;           /* one of the first connects (--rate waits for them) */
	bool held;              /* --once: its request was answered; the flow stays open */
};

struct load {
	/* options */
	struct rf_addr to;
	const char *to_text;
	uint16_t to_port;       /* 0: --port */
	uint64_t conns, size, depth, requests_max, rate, nports;
	uint64_t idle;          /* --idle: idle slots, before the --conns ones */
	uint64_t nslots;        /* idle + conns */
	bool to_set, depth_set, short_flows, json, once;

	struct rf_app *app;
	struct conn *conn;
	uint64_t *rings;
	struct rf_buf **msg;    /* the pre-built message, nmsg buffers */
	struct rf_buf **refs;   /* scratch: new references to msg for one write */
	unsigned int nmsg;

	/* counts */
	uint64_t issued, completed, lost;
	uint64_t connections;   /* flows established */
	uint64_t connect_errors, resets, other_errors;
	uint64_t start_ns, end_ns; /* the measured span */
	uint64_t next_start;    /* the next slot to start at the beginning (the first one's connect
				   resolved: open_the_rest()) */
	unsigned int connecting; /* connects in progress */
	uint64_t held, held_max; /* --once: connections answered and open (now, at most) */
	bool first_up;          /* a connection was established */
	bool stopping;          /* no new work: the run is over */

	/* --rate */
	double interval_ns;
	uint64_t rate_start_ns, scheduled, next_send_ns;
	unsigned int rr;        /* next slot to try */
	unsigned int initial_pending; /* first connects not resolved yet */
	bool room;              /* some slot may take a request (false after a full search) */

	/* slots waiting to reconnect */
	unsigned int retrying;
	uint64_t next_retry_ns;

	struct rf_hist all;     /* every latency of the run */
	struct rf_hist last;    /* since the last status line */
};

static void on_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg);
static void conn_start(struct conn *c, uint64_t t0);

static bool
may_issue(const struct load *ld)
{
	return !ld->stopping && (ld->requests_max == 0 || ld->issued < ld->requests_max);
}

/* The run is over (--requests reached): stop the loop; load_stop() ends the flows. */
static void
load_finish(struct load *ld, uint64_t now)
{
	if (ld->stopping)
		return;
	ld->stopping = true;
	ld->end_ns = now;
	rf_loop_stop(ld->app->loop);
}

static void
check_done(struct load *ld, uint64_t now)
{
	if (ld->requests_max != 0 && ld->completed + ld->lost >= ld->requests_max)
		load_finish(ld, now);
}

/* Counts an error; the first of each kind is also described (with status's message if it is
 * an error code), the rest only counted: the data path prints at most a line per kind. */
static void
count_error(struct load *ld, uint64_t *counter, const char *what, int status)
{
	if ((*counter)++ == 0)
		fprintf(stderr, "%s: %s: %s%s%s (further ones only counted)\n",
			ld->app->spec->name, ld->to_text, what, status < 0 ? ": " : "",
			status < 0 ? rf_error_message(status) : "");
}

/* ---- slots ------------------------------------------------------------------------------ */

/* A slot without flow: connect again now, later, or when the schedule says. */
static void
conn_idle(struct conn *c, uint64_t now)
{
	struct load *ld = c->ld;

	if (ld->stopping)
		return;
	if (c->failed) {
		c->retry_ns = now + LOAD_RETRY_NS;
		if (ld->retrying++ == 0 || c->retry_ns < ld->next_retry_ns)
			ld->next_retry_ns = c->retry_ns;
		return;
	}
	if (ld->short_flows && ld->rate != 0)
		ld->room = true; /* load_schedule() starts its next flow */
	else if (!ld->short_flows || may_issue(ld))
		conn_start(c, now);
}

/* Once the flow has ended and its last callback ran, the slot is free. */
static void
conn_settle(struct conn *c)
{
	struct load *ld = c->ld;

	if (c->state != CONN_ENDING || c->callbacks > 0)
		return;
	if (!ld->stopping)
		ld->lost += c->inflight;
	if (c->held) {
		c->held = false;
		ld->held--;
	}
	c->flow = NULL;
	c->state = CONN_IDLE;
	c->head = 0;
	c->inflight = 0;
	c->rx_partial = 0;
	if (ld->stopping)
		return;
	check_done(ld, rf_now_ns());
	conn_idle(c, rf_now_ns());
}

static void
conn_abort(struct conn *c)
{
	if (c->state != CONN_OPEN && c->state != CONN_CONNECTING)
		return;
	c->state = CONN_ENDING;
	rf_flow_abort(c->flow); /* the read or connect still due completes with RF_ECANCELED */
	conn_settle(c);
}

/* The flow broke (or misbehaved): counted, reset, and the slot retries later. */
static void
conn_fail(struct conn *c, int status, const char *what)
{
	struct load *ld = c->ld;

	if (c->state != CONN_OPEN && c->state != CONN_CONNECTING)
		return;
	if (!ld->stopping)
		count_error(ld, status == RF_ECONNRESET ? &ld->resets : &ld->other_errors, what,
			    status);
	c->failed = true;
	conn_abort(c);
}

static void
on_close(struct rf_flow *f, int status, void *arg)
{
	struct conn *c = arg;
	struct load *ld = c->ld;

	(void)f;
	c->callbacks--;
	if (status != RF_OK && status != RF_ECANCELED && !ld->stopping) {
		count_error(ld, status == RF_ECONNRESET ? &ld->resets : &ld->other_errors,
			    "closing", status);
		c->failed = true;
	}
	conn_settle(c);
}

/* Flushes the requests, sends FIN; the slot is free when the peer has closed too. */
static void
conn_close(struct conn *c)
{
	if (c->state != CONN_OPEN)
		return;
	c->state = CONN_ENDING;
	if (rf_flow_close(c->flow, on_close, c) < 0) {
		rf_flow_abort(c->flow);
		conn_settle(c);
		return;
	}
	c->callbacks++;
}

static void
conn_read(struct conn *c)
{
	int rc = rf_flow_read(c->flow, on_read, c);

	if (rc < 0) {
		conn_fail(c, rc, "reading");
		return;
	}
	c->callbacks++;
}

/* One request: new references to the message, one write (no callback: the response is
 * what matters, and a broken flow shows in its read). */
static int
conn_write(struct conn *c)
{
	struct load *ld = c->ld;
	unsigned int i;
	int rc;

	for (i = 0; i < ld->nmsg; i++)
		ld->refs[i] = rf_buf_ref(ld->msg[i]);
	rc = rf_flow_writev(c->flow, ld->refs, ld->nmsg, NULL, NULL);
	if (rc < 0)
		conn_fail(c, rc, "writing");
	return rc;
}

static void
conn_push(struct conn *c, uint64_t t0)
{
	struct load *ld = c->ld;
	unsigned int slot = c->head + c->inflight;

	if (slot >= ld->depth)
		slot -= (unsigned int)ld->depth;
	c->t0_ns[slot] = t0;
	c->inflight++;
	ld->issued++;
}

/* A request on an open flow, timed from t0. */
static int
conn_request(struct conn *c, uint64_t t0)
{
	int rc = conn_write(c);

	if (rc == 0)
		conn_push(c, t0);
	return rc;
}

/* In the closed loop: requests until --depth are in flight. */
static void
conn_fill(struct conn *c, uint64_t now)
{
	while (c->state == CONN_OPEN && c->inflight < c->ld->depth && may_issue(c->ld)) {
		if (conn_request(c, now) < 0)
			return;
	}
}

static void
record(struct load *ld, uint64_t ns)
{
	unsigned int idx = rf_hist_index(ns);

	rf_hist_add(&ld->all, idx, ns);
	rf_hist_add(&ld->last, idx, ns);
}

/* An idle slot (--once, --idle) sends one request per flow and then holds the flow open. */
static bool
conn_is_idle(const struct conn *c)
{
	return c->ld->once || (uint64_t)(c - c->ld->conn) < c->ld->idle;
}

/* An idle slot's request was answered; the flow stays open, without traffic, until the end.
 * Once all of --idle's are held, the figures start again from zero: they measure the run
 * with every idle connection in place. */
static void
conn_hold(struct conn *c, uint64_t now)
{
	struct load *ld = c->ld;
	uint64_t all = ld->once ? ld->conns : ld->idle;

	c->held = true;
	if (++ld->held > ld->held_max) {
		ld->held_max = ld->held;
		if (ld->held_max == all) {
			fprintf(stderr, "%s: all %" PRIu64 " %sconnections answered, holding them "
					"open\n", ld->app->spec->name, all, ld->once ? "" : "idle ");
			if (!ld->once) {
				ld->start_ns = now;
				ld->completed = 0;
				rf_hist_reset(&ld->all);
			}
		}
	}
}

/* len more bytes came back: they end the oldest requests in flight, --size bytes each. */
static void
conn_received(struct conn *c, uint32_t len)
{
	struct load *ld = c->ld;
	uint64_t now = rf_now_ns(), t0;

	c->rx_partial += len;
	while (c->rx_partial >= ld->size && c->inflight > 0) {
		c->rx_partial -= ld->size;
		t0 = c->t0_ns[c->head];
		if (++c->head == ld->depth)
			c->head = 0;
		c->inflight--;
		/* t0 is never later than the send; the guard is for a clock that went backwards */
		record(ld, now > t0 ? now - t0 : 0);
		ld->completed++;
		check_done(ld, now);
	}
	if (c->rx_partial > 0 && c->inflight == 0) {
		conn_fail(c, 0, "more bytes came back than were sent");
		return;
	}
	if (ld->short_flows) {
		if (c->inflight == 0)
			conn_close(c);
		return;
	}
	if (conn_is_idle(c)) {
		if (c->inflight == 0 && !c->held)
			conn_hold(c, now);
		return;
	}
	if (ld->rate == 0)
		conn_fill(c, now);
	else if (c->inflight < ld->depth)
		ld->room = true;
}

static void
on_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg)
{
	struct conn *c = arg;
	struct load *ld = c->ld;
	uint32_t len = 0;

	c->callbacks--;
	if (status == RF_OK) {
		len = b->len;
		rf_buf_release(b); /* at once: the window reopens */
	}
	if (c->state != CONN_OPEN || ld->stopping) {
		/* The run or the flow is ending: what still comes back is dropped uncounted, and
		 * read until EOF so the peer can finish (after an abort this read is refused). */
		if (status == RF_OK && rf_flow_read(f, on_read, c) == 0)
			c->callbacks++;
		conn_settle(c);
		return;
	}
	if (status == RF_OK) {
		conn_received(c, len);
		if (c->state == CONN_OPEN && !(ld->short_flows && c->inflight == 0))
			conn_read(c);
	} else if (status == RF_EOF) {
		conn_fail(c, status, "the server closed the connection with requests unanswered");
	} else {
		conn_fail(c, status, "reading");
	}
	conn_settle(c);
}

static void
rate_begin(struct load *ld, uint64_t now)
{
	ld->rate_start_ns = now;
	ld->next_send_ns = now;
	ld->start_ns = now;
	ld->room = true;
}

/* A slot's first connect resolved (either way): with --rate over long flows, the schedule
 * starts when the last one did. */
static void
initial_done(struct conn *c, uint64_t now)
{
	struct load *ld = c->ld;

	if (!c->initial)
		return;
	c->initial = false;
	if (--ld->initial_pending == 0 && !ld->stopping)
		rate_begin(ld, now);
}

/* Every slot but the first connects once the first one's connect resolved: by then the
 * server's address is resolved (lwIP holds only 3 packets per address waiting for ARP and
 * drops the rest, so a burst of SYNs at start-up would mostly wait out lwIP's 3 s SYN
 * retransmission timeout). Called again as each connect resolves, it keeps at most
 * LOAD_CONNECTING_MAX of them in progress until every slot has started. */
static void
open_the_rest(struct load *ld, uint64_t now)
{
	if (ld->stopping)
		return;
	while (ld->next_start < ld->nslots && ld->connecting < LOAD_CONNECTING_MAX &&
	       (!ld->short_flows || may_issue(ld)))
		conn_start(&ld->conn[ld->next_start++], now);
}

static void
on_connect(struct rf_flow *f, int status, void *arg)
{
	struct conn *c = arg;
	struct load *ld = c->ld;
	uint64_t now = rf_now_ns();

	c->callbacks--;
	ld->connecting--;
	initial_done(c, now);
	open_the_rest(ld, now); /* the next slots, as connects resolve */
	if (status != RF_OK) {
		/* f is freed when this returns */
		if (status != RF_ECANCELED && !ld->stopping && c->state == CONN_CONNECTING)
			count_error(ld, &ld->connect_errors, "connect", status);
		if (c->state == CONN_CONNECTING)
			c->failed = true;
		c->state = CONN_ENDING;
		conn_settle(c);
		return;
	}
	if (c->state != CONN_CONNECTING || ld->stopping) {
		/* ended meanwhile (by the stop) */
		if (c->state == CONN_CONNECTING) {
			c->state = CONN_OPEN;
			conn_close(c);
		}
		conn_settle(c);
		return;
	}
	(void)f;
	c->state = CONN_OPEN;
	ld->connections++;
	if (!ld->first_up) {
		/* The clock starts with the first connection (with --rate, rate_begin() set it):
		 * waiting for it (ARP, a link coming up, a lost SYN) is not measured. */
		ld->first_up = true;
		if (ld->rate == 0)
			ld->start_ns = now;
		if (ld->short_flows)
			c->t0_ns[c->head] = now;
	}
	conn_read(c);
	if (c->state != CONN_OPEN) /* the read was refused: the flow is gone */
		return;
	if (ld->short_flows)
		conn_write(c); /* its request was counted (and timed) at the connect */
	else if (conn_is_idle(c))
		conn_request(c, now); /* its one request */
	else if (ld->rate == 0)
		conn_fill(c, now);
	else
		ld->room = true;
}

/* Opens the slot's flow; with --short-flows that is the start of a request, timed from t0. */
static void
conn_start(struct conn *c, uint64_t t0)
{
	struct load *ld = c->ld;
	struct rf_flow *f;
	int rc;

	rc = rf_connect(ld->app->loop, &ld->to,
			(uint16_t)(ld->to_port + (uint64_t)(c - ld->conn) % ld->nports), on_connect, c,
			&f);
	if (rc < 0) {
		/* No flow at all: out of memory or, with many short flows, of local ports, which
		 * closed connections hold for 2 MSL in TIME-WAIT. The slot retries later. */
		count_error(ld, &ld->connect_errors,
			    rc == RF_ENOMEM ? "cannot open a connection (out of local ports if"
					      " many are in TIME-WAIT)"
					    : "cannot open a connection",
			    rc);
		initial_done(c, rf_now_ns());
		c->failed = true;
		conn_idle(c, rf_now_ns());
		return;
	}
	c->flow = f;
	c->state = CONN_CONNECTING;
	c->failed = false;
	c->callbacks++;
	ld->connecting++;
	if (ld->short_flows)
		conn_push(c, t0);
}

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

/* ---- options ---------------------------------------------------------------------------- */

/* "A.B.C.D:PORT", "[IPv6]:PORT", or an address alone (the port is then --port's). */
static int
opt_to(struct rf_app *app, const char *v, void *arg)
{
	struct load *ld = arg;
	const char *host = v, *port = NULL, *end;
	char text[64];
	uint64_t p;
	size_t n;

	if (v[0] == '[') {
		host = v + 1;
		end = strchr(v, ']');
		if (end == NULL || (end[1] != '\0' && end[1] != ':'))
			goto malformed;
		n = (size_t)(end - host);
		if (end[1] == ':')
			port = end + 2;
	} else if ((end = strchr(v, ':')) != NULL && strchr(end + 1, ':') == NULL) {
		n = (size_t)(end - v); /* one colon: host:port (several: a bare IPv6 address) */
		port = end + 1;
	} else {
		n = strlen(v);
	}
	if (n == 0 || n >= sizeof(text))
		goto malformed;
	memcpy(text, host, n);
	text[n] = '\0';
	if (rf_addr_parse(text, &ld->to) != 0)
		return rf_app_opt_error(app, "\"%s\" is not an IP address", text);
	if (port != NULL) {
		if (rf_app_parse_u64(app, port, 1, 65535, &p) < 0)
			return rf_app_opt_error(app, "port \"%s\" is not a number in 1..65535",
						port);
		ld->to_port = (uint16_t)p;
	}
	ld->to_text = v;
	ld->to_set = true;
	return 0;
malformed:
	return rf_app_opt_error(app, "malformed \"%s\" (expected A.B.C.D:PORT or [IPv6]:PORT)",
				v);
}

static int
opt_conns(struct rf_app *app, const char *v, void *arg)
{
	return rf_app_parse_u64(app, v, 1, LOAD_MAX_CONNS, &((struct load *)arg)->conns);
}

static int
opt_size(struct rf_app *app, const char *v, void *arg)
{
	return rf_app_parse_bytes(app, v, 1, LOAD_MAX_SIZE, &((struct load *)arg)->size);
}

static int
opt_depth(struct rf_app *app, const char *v, void *arg)
{
	struct load *ld = arg;

	ld->depth_set = true;
	return rf_app_parse_u64(app, v, 1, LOAD_MAX_DEPTH, &ld->depth);
}

static int
opt_requests(struct rf_app *app, const char *v, void *arg)
{
	return rf_app_parse_u64(app, v, 1, UINT64_MAX / 2, &((struct load *)arg)->requests_max);
}

static int
opt_rate(struct rf_app *app, const char *v, void *arg)
{
	return rf_app_parse_u64(app, v, 1, LOAD_MAX_RATE, &((struct load *)arg)->rate);
}

static int
opt_short_flows(struct rf_app *app, const char *v, void *arg)
{
	(void)app;
	(void)v;
	((struct load *)arg)->short_flows = true;
	return 0;
}

static int
opt_once(struct rf_app *app, const char *v, void *arg)
{
	(void)app;
	(void)v;
	((struct load *)arg)->once = true;
	return 0;
}

static int
opt_idle(struct rf_app *app, const char *v, void *arg)
{
	return rf_app_parse_u64(app, v, 1, LOAD_MAX_CONNS, &((struct load *)arg)->idle);
}

static int
opt_ports(struct rf_app *app, const char *v, void *arg)
{
	return rf_app_parse_u64(app, v, 1, LOAD_MAX_PORTS, &((struct load *)arg)->nports);
}

static int
opt_json(struct rf_app *app, const char *v, void *arg)
{
	(void)app;
	(void)v;
	((struct load *)arg)->json = true;
	return 0;
}

static const struct rf_app_option load_options[] = {
	{"to", "ADDR:PORT", "the server (required); ADDR alone: port from --port", opt_to},
	{"conns", "N", "connections (default 1)", opt_conns},
	{"size", "BYTES", "bytes of each request, and of its response (default 64)", opt_size},
	{"depth", "D",
	 "requests in flight per connection (default 1; with --rate: at most, default 64)",
	 opt_depth},
	{"requests", "N", "stop after N requests (default: by --duration or a signal)",
	 opt_requests},
	{"rate", "R", "open loop: R requests/s in all, on schedule, latency from the schedule",
	 opt_rate},
	{"short-flows", NULL, "one request per connection: connect, request, close (conn/s)",
	 opt_short_flows},
	{"once", NULL,
	 "one request per connection, which then stays open and idle until the end (holds "
	 "--conns idle connections)",
	 opt_once},
	{"idle", "K",
	 "also hold K idle connections (opened first, one request each); the figures start "
	 "once all are held",
	 opt_idle},
	{"ports", "N",
	 "spread the connections over N server ports from --to's (default 1; 16383 "
	 "connections per port at most)",
	 opt_ports},
	{"json", NULL, "print the results as one JSON object on stdout at the end", opt_json},
	{NULL, NULL, NULL, NULL},
};

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

/* A bad combination of options: one line, exit code 2, before DPDK starts. */
static void __attribute__((format(printf, 2, 3), noreturn))
usage_error(const struct rf_app *app, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", app->spec->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try --help)\n");
	exit(EXIT_USAGE);
}

static void
check_options(struct load *ld, struct rf_app *app)
{
	if (!ld->to_set)
		usage_error(app, "--to ADDR:PORT is required");
	if (ld->short_flows && ld->depth_set && ld->depth != 1)
		usage_error(app, "--depth: --short-flows sends one request per connection");
	if (!ld->depth_set)
		ld->depth = ld->rate != 0 && !ld->short_flows ? LOAD_RATE_DEPTH : 1;
	if (ld->short_flows)
		ld->depth = 1;
	if (ld->once && (ld->short_flows || ld->rate != 0 || ld->requests_max != 0 ||
			 ld->depth != 1 || ld->idle != 0))
		usage_error(app, "--once: one request per connection, without --short-flows, "
				 "--rate, --requests, --depth or --idle");
	if (ld->idle != 0 && (ld->short_flows || ld->rate != 0 || ld->requests_max != 0))
		usage_error(app, "--idle: with the closed loop only (no --short-flows, --rate or "
				 "--requests)");
	ld->nslots = ld->conns + ld->idle;
	if (ld->to_port == 0)
		ld->to_port = app->port;
	if (ld->to_port + ld->nports - 1 > 65535)
		usage_error(app, "--ports: %" PRIu64 " ports from %u go past 65535", ld->nports,
			    ld->to_port);
	if (ld->nslots > LOAD_PORTS_PER_TARGET * ld->nports)
		usage_error(app, "%" PRIu64 " connections: %u local ports per server port, so --ports %"
				 PRIu64 " or more", ld->nslots, LOAD_PORTS_PER_TARGET,
			    (ld->nslots + LOAD_PORTS_PER_TARGET - 1) / LOAD_PORTS_PER_TARGET);
	if (app->cfg.max_flows == 0 && ld->nslots > RF_MAX_FLOWS_DEFAULT)
		app->cfg.max_flows = (unsigned int)ld->nslots;
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
	} else if (ld->rate != 0) {
		/* over long flows: the schedule starts once every first connect resolved */
		ld->interval_ns = NS_PER_S / (double)ld->rate;
		for (i = 0; i < ld->conns; i++)
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
