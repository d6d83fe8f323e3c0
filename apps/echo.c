/*
 * echo.c: rf-echo, the echo service (RFC 862) on rawflow: every byte received on a
 * connection is sent back on it, until the peer closes.
 *
 * Zero copy: the struct rf_buf a read delivers is the very buffer written back (the write
 * consumes the read's reference), so the echoed bytes are the packet memory the NIC wrote.
 *
 * Per flow, one read is outstanding at a time. Each buffer read is written back at once and
 * the next read is issued right away while the flow's writes waiting for completion stay
 * under --max-pending bytes and ECHO_MAX_WRITES buffers; past that, the write completion that
 * brings the flow back under the limit issues the read. A peer that sends without reading
 * thus fills TCP's send queue, then our limit, then (its data unread) its own window: memory
 * per flow stays bounded.
 *
 * End of a flow: the read that reports RF_EOF (the peer's FIN, after all its data) leads to
 * rf_flow_close(), which sends our FIN after everything queued, so a client that half-closes
 * still gets every byte back and then EOF. Any error leads to rf_flow_abort(). Each flow ends
 * in exactly one of the two; its record (struct echo_conn) is freed once it has ended and no
 * request of it is pending any more (every read, write and close gets exactly one callback,
 * RF_ECANCELED after an abort).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/queue.h>

#include "common.h"

#define ECHO_PORT 7
/* Default of --max-pending: enough to keep a fast link busy, small next to a pool. */
#define ECHO_MAX_PENDING_DEFAULT (256u * 1024)
/* Written buffers waiting for completion per flow: each holds a packet buffer, and a peer
 * sending tiny segments must not take the pool with them. */
#define ECHO_MAX_WRITES 512
/* --ports: listeners at most. A client stack (lwIP) has 16,383 local ports per destination,
 * so holding many connections from one client address takes several server ports. */
#define ECHO_MAX_PORTS 64

struct echo_conn {
	LIST_ENTRY(echo_conn) link;
	struct echo *echo;
	struct rf_flow *flow;
	uint64_t pending_bytes;      /* written, completion not yet reported */
	unsigned int pending_writes;
	unsigned int requests;       /* reads, writes and close whose callback is still due */
	bool reading;
	bool ended;                  /* rf_flow_close() or rf_flow_abort() was called */
};

struct echo {
	struct rf_listener *listeners[ECHO_MAX_PORTS];
	uint64_t nports; /* --ports: listening on --port .. --port + nports - 1 */
	LIST_HEAD(, echo_conn) conns;
	uint64_t max_pending;
	/* for the stats */
	uint64_t connections;  /* accepted */
	uint64_t echoed_bytes; /* written back and accepted into TCP's send queue */
	uint64_t aborted;      /* flows ended by an error (or by the stop) */
};

static void on_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg);

static void
conn_maybe_free(struct echo_conn *c)
{
	if (!c->ended || c->requests > 0)
		return;
	LIST_REMOVE(c, link);
	free(c);
}

static void
conn_abort(struct echo_conn *c)
{
	if (c->ended)
		return;
	c->ended = true;
	c->echo->aborted++;
	rf_flow_abort(c->flow);
}

static void
on_close(struct rf_flow *f, int status, void *arg)
{
	struct echo_conn *c = arg;

	(void)f;
	(void)status; /* an error (a reset while closing) changes nothing for an echo */
	c->requests--;
	conn_maybe_free(c);
}

static void
conn_close(struct echo_conn *c)
{
	if (c->ended)
		return;
	c->ended = true;
	if (rf_flow_close(c->flow, on_close, c) < 0) {
		/* Not closed: the flow must still end, and abort cannot fail. */
		c->echo->aborted++;
		rf_flow_abort(c->flow);
		return;
	}
	c->requests++;
}

static bool
conn_can_read(const struct echo_conn *c)
{
	return !c->ended && !c->reading && c->pending_bytes < c->echo->max_pending &&
	       c->pending_writes < ECHO_MAX_WRITES;
}

static void
conn_read(struct echo_conn *c)
{
	if (rf_flow_read(c->flow, on_read, c) < 0) {
		conn_abort(c);
		return;
	}
	c->reading = true;
	c->requests++;
}

/* The length of the write travels in arg; the flow's record is its data. */
static void
on_write(struct rf_flow *f, int status, void *arg)
{
	struct echo_conn *c = rf_flow_data(f);
	uint32_t len = (uint32_t)(uintptr_t)arg;

	c->pending_bytes -= len;
	c->pending_writes--;
	if (status == RF_OK) {
		c->echo->echoed_bytes += len;
		if (conn_can_read(c))
			conn_read(c);
	} else if (status != RF_ECANCELED) {
		/* RF_EOF (the flow can no longer send) or a failed connection. */
		conn_abort(c);
	}
	c->requests--;
	conn_maybe_free(c);
}

static void
on_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg)
{
	struct echo_conn *c = arg;
	uint32_t len;

	c->reading = false;
	if (status == RF_OK && c->ended) {
		rf_buf_release(b);
	} else if (status == RF_OK) {
		len = b->len;
		/* b goes back as it is; the write takes our reference, also on failure. */
		if (rf_flow_write(f, b, on_write, (void *)(uintptr_t)len) < 0) {
			conn_abort(c);
		} else {
			c->pending_bytes += len;
			c->pending_writes++;
			c->requests++;
			if (conn_can_read(c))
				conn_read(c);
		}
	} else if (status == RF_EOF) {
		conn_close(c);
	} else if (status != RF_ECANCELED) {
		conn_abort(c);
	}
	c->requests--;
	conn_maybe_free(c);
}

static void
on_accept(struct rf_listener *ls, struct rf_flow *f, void *arg)
{
	struct echo *e = arg;
	struct echo_conn *c;

	(void)ls;
	c = rf_app_accept(f, sizeof(*c), &e->connections, &e->aborted);
	if (c == NULL)
		return;
	c->echo = e;
	c->flow = f;
	LIST_INSERT_HEAD(&e->conns, c, link);
	conn_read(c);
	conn_maybe_free(c);
}

static int
echo_listen(struct echo *e, struct rf_loop *l, uint16_t port, uint64_t i)
{
	return rf_listen(l, NULL, port, on_accept, e, &e->listeners[i]);
}

/* After the loop stopped: no new connections, and the open ones are reset. Flows already
 * closing are left to finish (or to rf_loop_destroy()). */
static void
echo_stop(void *arg)
{
	struct echo *e = arg;
	struct echo_conn *c, *next;

	for (uint64_t i = 0; i < e->nports; i++) {
		if (e->listeners[i] != NULL)
			rf_listener_close(e->listeners[i]);
		e->listeners[i] = NULL;
	}
	for (c = LIST_FIRST(&e->conns); c != NULL; c = next) {
		next = LIST_NEXT(c, link);
		conn_abort(c);
		conn_maybe_free(c);
	}
}

static void
echo_status(char *buf, size_t len, double interval_s, void *arg)
{
	const struct echo *e = arg;

	(void)interval_s;
	snprintf(buf, len, "accepted %" PRIu64, e->connections);
}

static void
echo_stats(json_t *obj, void *arg)
{
	const struct echo *e = arg;

	json_object_set_new(obj, "connections", json_integer((json_int_t)e->connections));
	json_object_set_new(obj, "echoed_bytes", json_integer((json_int_t)e->echoed_bytes));
	json_object_set_new(obj, "aborted", json_integer((json_int_t)e->aborted));
}

static int
opt_max_pending(struct rf_app *app, const char *v, void *arg)
{
	struct echo *e = arg;

	return rf_app_parse_bytes(app, v, 1, 1u << 30, &e->max_pending);
}

static int
opt_ports(struct rf_app *app, const char *v, void *arg)
{
	struct echo *e = arg;

	return rf_app_parse_u64(app, v, 1, ECHO_MAX_PORTS, &e->nports);
}

static const struct rf_app_option echo_options[] = {
	{"max-pending", "BYTES",
	 "pause reading a flow at this many echoed bytes not yet in TCP's send queue (default 256k)",
	 opt_max_pending},
	{"ports", "N", "listen on N consecutive ports from --port (default 1)", opt_ports},
	{NULL, NULL, NULL, NULL},
};

static const struct rf_app_spec echo_spec = {
	.name = "rf-echo",
	.summary = "Echo server (RFC 862): sends every byte received back, zero-copy.",
	.default_port = ECHO_PORT,
	.options = echo_options,
	.status = echo_status,
	.stats = echo_stats,
	.stop = echo_stop,
};

int
main(int argc, char **argv)
{
	struct echo e = {.max_pending = ECHO_MAX_PENDING_DEFAULT, .nports = 1};
	struct rf_app app;
	int rc;

	LIST_INIT(&e.conns);
	rf_app_init(&app, &echo_spec, &e);
	rf_app_parse(&app, argc, argv);
	if (app.port + e.nports - 1 > 65535) {
		fprintf(stderr, "%s: --ports: %" PRIu64 " ports from %u go past 65535\n",
			echo_spec.name, e.nports, app.port);
		return 2;
	}
	rf_app_start(&app);
	for (uint64_t i = 0; i < e.nports; i++) {
		uint16_t port = (uint16_t)(app.port + i);

		rc = echo_listen(&e, app.loop, port, i);
		if (rc < 0)
			rf_app_fatal(&app, "cannot listen on port %u: %s", port,
				     rf_error_message(rc));
	}
	return rf_app_run(&app);
}
