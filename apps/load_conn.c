/*
 * load_conn.c: rf-load's slots: connecting, sending requests, timing responses, closing, retrying (load.c's top comment describes rf-load).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"

static void on_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg);

bool
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
void
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

void
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
void
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
int
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

/* The closed loop over long flows begins: the clock starts, and every open connection fills
 * its --depth (one that opens later fills it as it opens). */
static void
closed_begin(struct load *ld, uint64_t now)
{
	ld->start_ns = now;
	for (uint64_t i = 0; i < ld->nslots; i++)
		if (!conn_is_idle(&ld->conn[i]))
			conn_fill(&ld->conn[i], now);
}

/* A slot's first connect resolved (either way): over long flows, the schedule (--rate) or
 * the closed loop starts when the last one did. */
static void
initial_done(struct conn *c, uint64_t now)
{
	struct load *ld = c->ld;

	if (!c->initial)
		return;
	c->initial = false;
	if (--ld->initial_pending == 0 && !ld->stopping) {
		if (ld->rate != 0)
			rate_begin(ld, now);
		else
			closed_begin(ld, now);
	}
}

/* Every slot but the first connects once the first one's connect resolved: by then the
 * server's address is resolved (lwIP holds only 3 packets per address waiting for ARP and
 * drops the rest, so a burst of SYNs at start-up would mostly wait out lwIP's 3 s SYN
 * retransmission timeout). Called again as each connect resolves, it keeps at most
 * LOAD_CONNECTING_MAX of them in progress until every slot has started. */
void
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
	else if (ld->rate == 0 && ld->initial_pending == 0)
		conn_fill(c, now);
	else if (ld->rate != 0)
		ld->room = true;
}

/* Opens the slot's flow; with --short-flows that is the start of a request, timed from t0. */
void
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
