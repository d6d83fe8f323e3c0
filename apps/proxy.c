/*
 * proxy.c: rf-proxy, a TCP relay (layer 4) on rawflow: every connection accepted on --port is
 * paired with a new connection to --to ADDR:PORT, and bytes are relayed both ways until both
 * sides have closed.
 *
 * A pair has two flows, the client's (side 0) and the upstream's (side 1), and two directions:
 * direction d reads flow d and writes flow 1-d. Zero copy: the struct rf_buf a read delivers
 * on one flow is the buffer written to the other (the write consumes the read's reference),
 * so relayed bytes are the packet memory the NIC wrote, and the buffer is held until the far
 * peer acknowledged it; until then the near peer's receive window stays shut by as much.
 *
 * Per direction one read is outstanding at a time, and the next read is issued only while
 * the writes waiting for completion stay under --max-pending bytes and WRITES_MAX buffers;
 * past that, the write completion that brings the direction back under the limit issues it.
 * A slow reader on one side thus slows the sender on the other side down to its pace.
 *
 * The client's data is read only once the upstream connection is up; a failed connect
 * (refused, unreachable, timed out) resets the client's connection, so the client sees a
 * failure rather than an empty answer.
 *
 * Ends (FLOW semantics): EOF read on flow d → rf_flow_shutdown(RF_SHUT_WR) on flow 1-d, whose
 * FIN follows the writes already queued; the other direction goes on (half-close). Once both
 * directions saw EOF and their writes completed, both flows are closed. Any error (a read or
 * write failing, a reset) resets both flows: a reset propagates. A pair's record is freed
 * once both flows ended and no request of it awaits a callback.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "common.h"

#define PROXY_PORT 8000
#define MAX_PENDING_DEFAULT (256u * 1024)
/* Written buffers waiting for completion per direction: each holds a packet buffer, and a
 * peer sending tiny segments must not take the pool with them. */
#define WRITES_MAX 512

enum flow_state {
	FS_NONE,     /* not opened yet (the upstream before rf_connect) */
	FS_OPEN,
	FS_CLOSING,  /* rf_flow_close() called, its callback not yet run */
	FS_GONE,     /* closed, aborted or failed: the flow may no longer be used */
};

struct direction {
	uint64_t pending_bytes; /* written, completion not yet reported */
	unsigned int pending_writes;
	bool reading;
	bool eof; /* the read side reported the peer's FIN */
};

struct pair {
	LIST_ENTRY(pair) link;
	struct proxy *p;
	struct rf_flow *flow[2];   /* 0: the client's, 1: the upstream's */
	uint8_t state[2];          /* enum flow_state */
	struct direction dir[2];   /* dir[d] reads flow[d], writes flow[1 - d] */
	unsigned int requests;     /* connect, reads, writes and closes whose callback is due */
	bool connected;
	bool ended;                /* both flows closed or aborted (or being so) */
};

struct proxy {
	struct rf_loop *loop;
	struct rf_listener *listener;
	LIST_HEAD(, pair) pairs;
	struct rf_addr to;
	uint16_t to_port;
	const char *to_text;
	uint64_t max_pending;
	/* for the stats */
	uint64_t connections;        /* accepted */
	uint64_t connect_failures;   /* upstream connections that failed */
	uint64_t bytes_to_upstream;  /* relayed, write completed */
	uint64_t bytes_to_client;
	uint64_t resets;             /* pairs ended by an error (or the stop) */
	uint64_t closed;             /* pairs ended by both sides closing */
	uint64_t active;             /* pairs now */
	uint64_t last_up, last_down; /* for the status line's rates */
};

static void on_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg);

static unsigned int
side_of(const struct pair *pr, const struct rf_flow *f)
{
	return f == pr->flow[1];
}

static void
pair_maybe_free(struct pair *pr)
{
	if (!pr->ended || pr->requests > 0)
		return;
	pr->p->active--;
	LIST_REMOVE(pr, link);
	free(pr);
}

/* Resets both flows (whichever still exist), e.g. because one of them failed. */
static void
pair_abort(struct pair *pr)
{
	if (pr->ended && pr->state[0] != FS_CLOSING && pr->state[1] != FS_CLOSING)
		return;
	if (!pr->ended)
		pr->p->resets++;
	pr->ended = true;
	for (unsigned int i = 0; i < 2; i++) {
		if (pr->state[i] == FS_OPEN || pr->state[i] == FS_CLOSING) {
			pr->state[i] = FS_GONE;
			rf_flow_abort(pr->flow[i]);
		}
	}
}

static void
on_close(struct rf_flow *f, int status, void *arg)
{
	struct pair *pr = arg;

	(void)status; /* everything was relayed before the close; a late reset changes nothing */
	pr->state[side_of(pr, f)] = FS_GONE;
	pr->requests--;
	pair_maybe_free(pr);
}

/* Both directions are through: both peers sent FIN, everything relayed was queued. */
static void
pair_maybe_close(struct pair *pr)
{
	if (pr->ended || !pr->dir[0].eof || !pr->dir[1].eof || pr->dir[0].pending_writes > 0 ||
	    pr->dir[1].pending_writes > 0)
		return;
	pr->ended = true;
	pr->p->closed++;
	for (unsigned int i = 0; i < 2; i++) {
		if (rf_flow_close(pr->flow[i], on_close, pr) < 0) {
			pr->state[i] = FS_GONE;
			rf_flow_abort(pr->flow[i]);
			continue;
		}
		pr->state[i] = FS_CLOSING;
		pr->requests++;
	}
}

static bool
dir_can_read(const struct pair *pr, unsigned int d)
{
	const struct direction *dr = &pr->dir[d];

	return !pr->ended && !dr->reading && !dr->eof && dr->pending_bytes < pr->p->max_pending &&
	       dr->pending_writes < WRITES_MAX;
}

static void
dir_read(struct pair *pr, unsigned int d)
{
	if (rf_flow_read(pr->flow[d], on_read, pr) < 0) {
		pair_abort(pr);
		return;
	}
	pr->dir[d].reading = true;
	pr->requests++;
}

/* The length of the write travels in arg; f is the flow written to, so the direction is the
 * one reading the other flow. */
static void
on_write(struct rf_flow *f, int status, void *arg)
{
	struct pair *pr = rf_flow_data(f);
	unsigned int d = 1 - side_of(pr, f);
	uint32_t len = (uint32_t)(uintptr_t)arg;

	pr->dir[d].pending_bytes -= len;
	pr->dir[d].pending_writes--;
	pr->requests--;
	if (status == RF_OK) {
		if (d == 0)
			pr->p->bytes_to_upstream += len;
		else
			pr->p->bytes_to_client += len;
		if (dir_can_read(pr, d))
			dir_read(pr, d);
		pair_maybe_close(pr);
	} else if (status != RF_ECANCELED) {
		/* RF_EOF (the flow can no longer send: its peer reset it) or a failure */
		pair_abort(pr);
	}
	pair_maybe_free(pr);
}

static void
on_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg)
{
	struct pair *pr = arg;
	unsigned int d = side_of(pr, f);
	struct direction *dr = &pr->dir[d];
	uint32_t len;

	dr->reading = false;
	pr->requests--;
	if (status == RF_OK && pr->ended) {
		rf_buf_release(b);
	} else if (status == RF_OK) {
		len = b->len;
		/* b goes to the other flow as it is; the write takes our reference. */
		if (rf_flow_write(pr->flow[1 - d], b, on_write, (void *)(uintptr_t)len) < 0) {
			pair_abort(pr);
		} else {
			dr->pending_bytes += len;
			dr->pending_writes++;
			pr->requests++;
			if (dir_can_read(pr, d))
				dir_read(pr, d);
		}
	} else if (status == RF_EOF) {
		/* Half-close: FIN on the other flow after what is queued there. */
		dr->eof = true;
		if (!pr->ended && rf_flow_shutdown(pr->flow[1 - d], RF_SHUT_WR) < 0)
			pair_abort(pr);
		else
			pair_maybe_close(pr);
	} else if (status != RF_ECANCELED) {
		pair_abort(pr); /* reset or failure: propagate it */
	}
	pair_maybe_free(pr);
}

static void
on_connect(struct rf_flow *f, int status, void *arg)
{
	struct pair *pr = arg;

	(void)f;
	pr->requests--;
	if (status == RF_OK) {
		if (!pr->ended) {
			pr->connected = true;
			dir_read(pr, 0);
			if (!pr->ended)
				dir_read(pr, 1);
		}
	} else {
		/* The upstream flow is freed when this returns (RF_ECANCELED: we aborted it). */
		pr->state[1] = FS_GONE;
		if (status != RF_ECANCELED) {
			pr->p->connect_failures++;
			pair_abort(pr);
		}
	}
	pair_maybe_free(pr);
}

static void
on_accept(struct rf_listener *ls, struct rf_flow *f, void *arg)
{
	struct proxy *p = arg;
	struct pair *pr;
	int rc;

	(void)ls;
	pr = rf_app_accept(f, sizeof(*pr), &p->connections, &p->resets);
	if (pr == NULL)
		return;
	pr->p = p;
	pr->flow[0] = f;
	pr->state[0] = FS_OPEN;
	LIST_INSERT_HEAD(&p->pairs, pr, link);
	p->active++;
	rc = rf_connect(p->loop, &p->to, p->to_port, on_connect, pr, &pr->flow[1]);
	if (rc < 0) {
		p->connect_failures++;
		pair_abort(pr);
	} else {
		pr->state[1] = FS_OPEN;
		pr->requests++;
		rf_flow_set_data(pr->flow[1], pr);
	}
	pair_maybe_free(pr);
}

/* After the loop stopped: no new connections, every pair reset. */
static void
proxy_stop(void *arg)
{
	struct proxy *p = arg;
	struct pair *pr, *next;

	if (p->listener != NULL)
		rf_listener_close(p->listener);
	p->listener = NULL;
	for (pr = LIST_FIRST(&p->pairs); pr != NULL; pr = next) {
		next = LIST_NEXT(pr, link);
		pair_abort(pr);
		pair_maybe_free(pr);
	}
}

static void
proxy_status(char *buf, size_t len, double interval_s, void *arg)
{
	struct proxy *p = arg;
	double up = 0, down = 0;

	if (interval_s > 0) {
		up = (double)(p->bytes_to_upstream - p->last_up) * 8 / interval_s / 1e9;
		down = (double)(p->bytes_to_client - p->last_down) * 8 / interval_s / 1e9;
	}
	p->last_up = p->bytes_to_upstream;
	p->last_down = p->bytes_to_client;
	snprintf(buf, len, "pairs %" PRIu64 ", to upstream %.3f Gbit/s, to clients %.3f Gbit/s",
		 p->active, up, down);
}

static void
proxy_stats(json_t *obj, void *arg)
{
	const struct proxy *p = arg;

#define SET(name) json_object_set_new(obj, #name, json_integer((json_int_t)p->name))
	SET(connections);
	SET(connect_failures);
	SET(bytes_to_upstream);
	SET(bytes_to_client);
	SET(resets);
	SET(closed);
#undef SET
	json_object_set_new(obj, "upstream", json_string(p->to_text ? p->to_text : ""));
}

/* "A.B.C.D:PORT" or "[v6]:PORT". */
static int
opt_to(struct rf_app *app, const char *v, void *arg)
{
	struct proxy *p = arg;
	const char *colon, *host = v;
	char addr[64];
	size_t n;
	uint64_t port;

	if (v[0] == '[') {
		const char *close = strchr(v, ']');

		if (close == NULL || close[1] != ':')
			goto malformed;
		host = v + 1;
		n = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(v, ':');
		if (colon == NULL)
			goto malformed;
		n = (size_t)(colon - v);
	}
	if (n == 0 || n >= sizeof(addr))
		goto malformed;
	memcpy(addr, host, n);
	addr[n] = '\0';
	if (rf_addr_parse(addr, &p->to) < 0)
		return rf_app_opt_error(app, "\"%s\" is not an IP address", addr);
	if (rf_app_parse_u64(app, colon + 1, 1, 65535, &port) < 0)
		return -1;
	p->to_port = (uint16_t)port;
	p->to_text = v;
	return 0;
malformed:
	return rf_app_opt_error(app, "malformed \"%s\" (expected ADDR:PORT or [ADDR]:PORT)", v);
}

static int
opt_max_pending(struct rf_app *app, const char *v, void *arg)
{
	struct proxy *p = arg;

	return rf_app_parse_bytes(app, v, 1, 1u << 30, &p->max_pending);
}

static const struct rf_app_option proxy_options[] = {
	{"to", "ADDR:PORT", "the upstream server every connection is relayed to (required)",
	 opt_to},
	{"max-pending", "BYTES",
	 "per direction, stop reading while this much relayed data awaits its write completion"
	 " (default 256k)",
	 opt_max_pending},
	{NULL, NULL, NULL, NULL},
};

static const struct rf_app_spec proxy_spec = {
	.name = "rf-proxy",
	.summary = "TCP relay to --to ADDR:PORT, zero-copy, with half-close and resets passed on.",
	.default_port = PROXY_PORT,
	.options = proxy_options,
	.status = proxy_status,
	.stats = proxy_stats,
	.stop = proxy_stop,
};

int
main(int argc, char **argv)
{
	struct proxy p = {.max_pending = MAX_PENDING_DEFAULT};
	struct rf_app app;
	int rc;

	LIST_INIT(&p.pairs);
	rf_app_init(&app, &proxy_spec, &p);
	rf_app_parse(&app, argc, argv);
	if (p.to_text == NULL) {
		/* common.h has no notion of a required option: checked here, same wording and
		 * exit code as a bad command line. */
		fprintf(stderr, "%s: --to ADDR:PORT is required (try --help)\n", proxy_spec.name);
		return 2;
	}
	rf_app_start(&app);
	p.loop = app.loop;
	rc = rf_listen(app.loop, NULL, app.port, on_accept, &p, &p.listener);
	if (rc < 0)
		rf_app_fatal(&app, "cannot listen on port %u: %s", app.port, rf_error_message(rc));
	return rf_app_run(&app);
}
