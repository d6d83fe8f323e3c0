/*
 * httpd.c: rf-httpd, an HTTP/1.1 responder on rawflow for load tests and checks.
 *
 * What it answers (see docs/apps.md):
 *   GET|HEAD /N   200, N bytes of the body pattern (N <= --max-size): byte i is i mod 251
 *   GET|HEAD /    200, a small HTML page
 *   GET|HEAD ...  404 for any other target
 *   other method  405 (with Allow: GET, HEAD)
 *   malformed     400, then close;  head over 8 KiB: 431, then close
 * Every answer has Content-Length. Keep-alive is the default for HTTP/1.1 (HTTP/1.0: only with
 * Connection: keep-alive); Connection: close, and a request with Transfer-Encoding (whose body
 * this server does not decode), end the connection after the answer.
 *
 * Zero copy: everything a response sends lies in packet buffers built once at start-up, and a
 * response is a list of views of them handed to rf_flow_writev():
 *   - texts: one buffer with every fixed text (status line and fixed headers of each answer,
 *     the three header endings, the bodies of the fixed answers), one view kept per text; a
 *     response writes rf_buf_ref() of those views;
 *   - pattern: PATTERN_BUFS buffers of L bytes each, L the largest multiple of 251 that fits
 *     a buffer, all holding bytes 0, 1, ..., 250, 0, 1, ...; body byte o lies at offset o mod L
 *     of buffer (o / L) mod PATTERN_BUFS (spreading a body over several buffers keeps each
 *     packet buffer's reference count, which every segment in flight takes, low);
 *   - the only bytes written per response: the "Content-Length: N" lines of the 200 /N answers
 *     of a batch, into one small buffer allocated for the batch.
 *
 * Per connection the work is a loop (conn_run) over one held input buffer: parse the bytes
 * (http_parse.c, which needs no copy across segment boundaries), decide the answers of the
 * complete requests found, write them as one batch (pipelined requests: one writev for up to
 * BATCH_MAX answers), stream a large body in chunks of at most CHUNK_BYTES, each started from
 * the completion of an earlier write, and read again only when the input is used up. Answers
 * therefore leave in request order, and a connection never has more than --max-pending bytes
 * (or WRITES_MAX writes) waiting for their write completion: a client that stops reading stops
 * the server's reading of that connection too, and its window closes.
 *
 * When a buffer cannot be had (packet pool or view headers exhausted) the connection stalls:
 * its decided answers stay recorded and the poll hook retries it every loop pass. Nothing on
 * the data path exits; an unusable connection is reset.
 *
 * End of a connection: closing (rf_flow_close after the last answer is queued, receive side
 * shut so unread input is dropped) or reset (rf_flow_abort: on any error, on write failure,
 * and for every connection at stop). Connections idle for --idle-timeout are closed; closing
 * ones that do not finish within it are reset. A record (struct conn) is freed once its flow
 * ended and no request of it awaits a callback.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "common.h"
#include "http_parse.h"

#define HTTPD_PORT 80
/* Request heads larger than this are answered 431. */
#define HEAD_MAX 8192
/* The body pattern's period: a prime, so that a segment misplaced by any power-of-two
 * distance changes the bytes (and the client's SHA-256). */
#define PATTERN_PERIOD 251
/* Pattern buffers; see the top. */
#define PATTERN_BUFS 16
/* At most this many body bytes per write, so a large body goes out in pieces, each started
 * by an earlier write's completion. */
#define CHUNK_BYTES (64u * 1024)
/* Buffers per writev: bounds a batch (3 per answer plus body pieces). */
#define IOV_MAX_PIECES 64
/* Pipelined answers written in one batch. */
#define BATCH_MAX 16
/* Longest "Content-Length: N\r\n" line (N up to 20 digits). */
#define CL_LINE_MAX 40
/*
 * Every piece a response writes has an even length (texts and Content-Length lines padded
 * with optional whitespace, pattern buffers and body chunks even), except the last piece of a
 * body of odd length. Why: DPDK 22.11's net_tap computes an offloaded TCP checksum by summing
 * each segment of a multi-segment frame on its own, which is wrong after a segment of odd
 * length, so the stack copies a frame whose payload has an odd piece before its last one
 * (stack/netif.c, counted in tx_copied_bytes). Even pieces keep answers on the zero-copy
 * path; only a frame holding an odd body's end followed by the next pipelined answer is
 * copied.
 */
#define EVEN_PIECES 1
/* Writes waiting for completion per connection, besides the byte bound. */
#define WRITES_MAX 64
#define MAX_PENDING_DEFAULT (256u * 1024)
#define MAX_SIZE_DEFAULT (1ull << 30)
#define MAX_SIZE_LIMIT (1ull << 40)
#define IDLE_TIMEOUT_DEFAULT 60.0
#define NS_PER_S 1000000000ull
/* Idle connections are looked for this often. */
#define IDLE_SCAN_NS NS_PER_S

/* The fixed texts, in the texts buffer. */
enum text {
	TX_HEAD_200,   /* status line and headers of 200 /N, without Content-Length */
	TX_HEAD_INDEX, /* ... of 200 / (with Content-Length) */
	TX_HEAD_404,
	TX_HEAD_405,
	TX_HEAD_400,
	TX_HEAD_431,
	TX_END,            /* "\r\n": end of the head, connection stays open */
	TX_END_CLOSE,      /* "Connection: close\r\n\r\n" */
	TX_END_KEEPALIVE,  /* "Connection: keep-alive\r\n\r\n" (to an HTTP/1.0 client asking) */
	TX_BODY_INDEX,
	TX_BODY_404,
	TX_BODY_405,
	TX_BODY_400,
	TX_BODY_431,
	NTEXTS,
};

/* The answers. */
enum answer {
	A_SIZE,  /* 200 /N */
	A_INDEX, /* 200 / */
	A_404,
	A_405,
	A_400,
	A_431,
	NANSWERS,
};

static const struct {
	uint8_t head, body;
	uint16_t status;
} answers[NANSWERS] = {
	[A_SIZE] = {TX_HEAD_200, NTEXTS, 200},
	[A_INDEX] = {TX_HEAD_INDEX, TX_BODY_INDEX, 200},
	[A_404] = {TX_HEAD_404, TX_BODY_404, 404},
	[A_405] = {TX_HEAD_405, TX_BODY_405, 405},
	[A_400] = {TX_HEAD_400, TX_BODY_400, 400},
	[A_431] = {TX_HEAD_431, TX_BODY_431, 431},
};

static const char index_html[] =
	"<!DOCTYPE html>\n"
	"<html><head><title>rf-httpd</title></head>\n"
	"<body><h1>rf-httpd</h1>\n"
	"<p>An HTTP/1.1 server on rawflow, a userspace TCP/IP stack.</p>\n"
	"<p><code>GET /N</code> answers N bytes: byte i is i mod 251.</p>\n"
	"</body></html>\n";

/* One decided answer, not yet written. */
struct answer_desc {
	uint8_t answer; /* enum answer */
	uint8_t end;    /* enum text: TX_END, TX_END_CLOSE or TX_END_KEEPALIVE */
	bool head_only; /* HEAD: no body */
	uint64_t size;  /* A_SIZE: body bytes */
};

struct conn {
	LIST_ENTRY(conn) link;
	TAILQ_ENTRY(conn) stall_link; /* on httpd.stalled while stalled */
	struct httpd *h;
	struct rf_flow *flow;
	struct http_req req;
	struct rf_buf *in;     /* received data not parsed yet (the read's reference) */
	uint32_t in_off;
	struct answer_desc batch[BATCH_MAX]; /* decided, not written */
	unsigned int nbatch;
	uint64_t body_off, body_left; /* the body being streamed */
	uint64_t pending_bytes;       /* written, completion not yet reported */
	unsigned int pending_writes;
	unsigned int requests;        /* reads, writes and close whose callback is still due */
	uint64_t last_ns;             /* last progress (read or write completion) */
	bool reading;
	bool peer_eof;    /* the read side reported the peer's FIN */
	bool close_after; /* close once the answers decided so far are queued */
	bool stalled;
	bool ended;       /* rf_flow_close() or rf_flow_abort() was called */
	bool closing;     /* rf_flow_close() called, its callback not yet run */
	bool aborted;
};

struct httpd {
	struct rf_loop *loop;
	struct rf_listener *listener;
	LIST_HEAD(, conn) conns;
	TAILQ_HEAD(, conn) stalled;
	unsigned int nstalled;
	/* pre-built buffers */
	struct rf_buf *texts_root;
	struct rf_buf *text[NTEXTS];
	struct rf_buf *pattern[PATTERN_BUFS];
	uint32_t pattern_len; /* L: bytes of each pattern buffer, a multiple of the period */
	/* options */
	uint64_t max_pending;
	uint64_t max_size;
	double idle_timeout_s;
	uint64_t idle_ns; /* 0: no timeout */
	uint64_t next_scan_ns;
	/* for the stats */
	uint64_t connections;   /* accepted */
	uint64_t requests;      /* well-formed request heads */
	uint64_t responses_2xx, responses_4xx;
	uint64_t bad_requests;  /* malformed (400) or too large (431) heads */
	uint64_t response_bytes; /* answer bytes whose write completed */
	uint64_t incomplete;    /* connections that ended in the middle of a request */
	uint64_t idle_closed;   /* closed or reset by --idle-timeout */
	uint64_t aborted;       /* connections reset (errors, failures, stop) */
	uint64_t stalls;        /* times a connection waited for buffers */
	uint64_t last_requests; /* for the requests/s of the status line */
};

static void conn_run(struct conn *c);
static void on_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg);

/* ---- connection life ----------------------------------------------------------------- */

static void
conn_drop_input(struct conn *c)
{
	if (c->in != NULL)
		rf_buf_release(c->in);
	c->in = NULL;
}

static void
conn_unstall(struct conn *c)
{
	if (!c->stalled)
		return;
	c->stalled = false;
	TAILQ_REMOVE(&c->h->stalled, c, stall_link);
	c->h->nstalled--;
}

static void
conn_maybe_free(struct conn *c)
{
	if (!c->ended || c->requests > 0)
		return;
	conn_unstall(c);
	conn_drop_input(c);
	LIST_REMOVE(c, link);
	free(c);
}

/* Resets the connection; also one that is closing (its close then completes canceled). */
static void
conn_abort(struct conn *c)
{
	if (c->aborted || (c->ended && !c->closing))
		return;
	c->ended = true;
	c->aborted = true;
	c->h->aborted++;
	conn_drop_input(c);
	conn_unstall(c);
	rf_flow_abort(c->flow);
}

static void
on_close(struct rf_flow *f, int status, void *arg)
{
	struct conn *c = arg;

	(void)f;
	(void)status; /* a reset while closing changes nothing: the answers were queued */
	c->closing = false;
	c->requests--;
	conn_maybe_free(c);
}

/* Graceful end: FIN after everything queued. Input still arriving is dropped (the receive
 * side is shut, which keeps the window open) so the peer can finish sending and see our
 * answer and FIN, rather than a reset for unread data. */
static void
conn_finish(struct conn *c)
{
	if (c->ended)
		return;
	c->ended = true;
	conn_drop_input(c);
	conn_unstall(c);
	rf_flow_shutdown(c->flow, RF_SHUT_RD);
	if (rf_flow_close(c->flow, on_close, c) < 0) {
		c->aborted = true;
		c->h->aborted++;
		rf_flow_abort(c->flow);
		return;
	}
	c->closing = true;
	c->requests++;
}

static void
conn_stall(struct conn *c)
{
	if (c->stalled)
		return;
	c->stalled = true;
	c->h->stalls++;
	c->h->nstalled++;
	TAILQ_INSERT_TAIL(&c->h->stalled, c, stall_link);
}

static bool
conn_can_write(const struct conn *c)
{
	return c->pending_bytes < c->h->max_pending && c->pending_writes < WRITES_MAX;
}

static void
conn_read(struct conn *c)
{
	if (rf_flow_read(c->flow, on_read, c) < 0) {
		conn_abort(c);
		return;
	}
	c->reading = true;
	c->requests++;
}

/* ---- writing answers ------------------------------------------------------------------- */

static void
release_pieces(struct rf_buf **v, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		rf_buf_release(v[i]);
}

/*
 * Views of body bytes [off, off + len) into v[0..max); stops early at max pieces. Returns the
 * number of pieces and the bytes they hold in *taken, or -1 (nothing held) when a view header
 * could not be had.
 */
static int
body_pieces(struct httpd *h, uint64_t off, uint64_t len, struct rf_buf **v, unsigned int max,
	    uint64_t *taken)
{
	const uint32_t L = h->pattern_len;
	unsigned int n = 0;
	uint64_t got = 0;

	while (got < len && n < max) {
		uint64_t o = off + got;
		struct rf_buf *b = h->pattern[(o / L) % PATTERN_BUFS];
		uint32_t boff = (uint32_t)(o % L);
		uint32_t k = (uint32_t)(len - got < L - boff ? len - got : L - boff);

		v[n] = boff == 0 && k == L ? rf_buf_ref(b) : rf_buf_sub(b, boff, k);
		if (v[n] == NULL) {
			release_pieces(v, n);
			return -1;
		}
		n++;
		got += k;
	}
	*taken = got;
	return (int)n;
}

/* Pieces a body of len bytes from offset 0 takes (pattern buffers start at offset 0). */
static uint64_t
body_cost(const struct httpd *h, uint64_t len)
{
	return (len + h->pattern_len - 1) / h->pattern_len;
}

static void
on_write(struct rf_flow *f, int status, void *arg)
{
	struct conn *c = rf_flow_data(f);
	uint32_t len = (uint32_t)(uintptr_t)arg;

	c->pending_bytes -= len;
	c->pending_writes--;
	c->requests--;
	if (status == RF_OK) {
		c->h->response_bytes += len;
		c->last_ns = rf_now_ns();
		if (!c->ended)
			conn_run(c);
	} else if (status != RF_ECANCELED) {
		/* RF_EOF (the flow can no longer send: the peer reset it) or a failure */
		conn_abort(c);
	}
	conn_maybe_free(c);
}

/* Hands v[0..n) (bytes in all) to the flow; false when the connection is gone (aborted). */
static bool
conn_write(struct conn *c, struct rf_buf **v, unsigned int n, uint32_t bytes)
{
	if (rf_flow_writev(c->flow, v, n, on_write, (void *)(uintptr_t)bytes) < 0) {
		conn_abort(c);
		return false;
	}
	c->pending_bytes += bytes;
	c->pending_writes++;
	c->requests++;
	return true;
}

/* The next chunk of the body being streamed. */
static void
body_write(struct conn *c)
{
	struct rf_buf *v[IOV_MAX_PIECES];
	uint64_t want = c->body_left < CHUNK_BYTES ? c->body_left : CHUNK_BYTES, got;
	int n;

	n = body_pieces(c->h, c->body_off, want, v, IOV_MAX_PIECES, &got);
	if (n < 0) {
		conn_stall(c);
		return;
	}
	if (!conn_write(c, v, (unsigned int)n, (uint32_t)got))
		return;
	c->body_off += got;
	c->body_left -= got;
}

static void
count_answer(struct httpd *h, const struct answer_desc *d)
{
	uint16_t status = answers[d->answer].status;

	if (status < 300)
		h->responses_2xx++;
	else
		h->responses_4xx++;
}

/*
 * Writes the decided answers c->batch[0..nbatch) with one writev: their fixed texts, one
 * buffer holding the batch's Content-Length lines, and body bytes. collect() chose the batch
 * so that every answer but the last fits whole; the last one's body goes in as far as the
 * bounds allow and the rest is streamed by body_write(). On a buffer shortage nothing is
 * written and the connection stalls with its batch intact.
 */
static void
batch_write(struct conn *c)
{
	struct httpd *h = c->h;
	struct rf_buf *v[IOV_MAX_PIECES], *lines = NULL;
	char text[BATCH_MAX][CL_LINE_MAX];
	uint32_t tlen[BATCH_MAX], lines_len = 0, off = 0;
	uint64_t bytes = 0, got = 0, last_got = 0;
	unsigned int n = 0, i;
	int k;

	for (i = 0; i < c->nbatch; i++) {
		tlen[i] = 0;
		if (c->batch[i].answer == A_SIZE) {
			/* "Content-Length: N\r\n", with a space of padding where odd (see
			 * EVEN_PIECES). */
			int digits = snprintf(text[i], CL_LINE_MAX, "%" PRIu64, c->batch[i].size);

			tlen[i] = (uint32_t)snprintf(text[i], CL_LINE_MAX, "Content-Length: %" PRIu64
						     "%s\r\n", c->batch[i].size,
						     EVEN_PIECES && digits % 2 == 1 ? " " : "");
			lines_len += tlen[i];
		}
	}
	if (lines_len > 0) {
		/* We hold the only reference: fill it whole before any view of it exists. */
		lines = rf_buf_alloc(h->loop, lines_len);
		if (lines == NULL)
			goto stall;
		for (i = 0; i < c->nbatch; i++) {
			memcpy(lines->data + off, text[i], tlen[i]);
			off += tlen[i];
		}
		off = 0;
	}
	for (i = 0; i < c->nbatch; i++) {
		const struct answer_desc *d = &c->batch[i];
		const uint8_t body = answers[d->answer].body;

		v[n++] = rf_buf_ref(h->text[answers[d->answer].head]);
		bytes += h->text[answers[d->answer].head]->len;
		if (d->answer == A_SIZE) {
			v[n] = rf_buf_sub(lines, off, tlen[i]);
			if (v[n] == NULL)
				goto stall_release;
			n++;
			off += tlen[i];
			bytes += tlen[i];
		}
		v[n++] = rf_buf_ref(h->text[d->end]);
		bytes += h->text[d->end]->len;
		if (d->head_only)
			continue;
		if (body != NTEXTS) {
			v[n++] = rf_buf_ref(h->text[body]);
			bytes += h->text[body]->len;
		} else if (d->size > 0) {
			/* Whole for all but the last answer (collect() checked); the last takes
			 * what the chunk and piece bounds leave. */
			uint64_t room = bytes < CHUNK_BYTES ? CHUNK_BYTES - bytes : 0;
			uint64_t want = i + 1 < c->nbatch ? d->size
					: d->size < room ? d->size : room;

			k = body_pieces(h, 0, want, v + n, IOV_MAX_PIECES - n, &got);
			if (k < 0)
				goto stall_release;
			n += (unsigned int)k;
			bytes += got;
			last_got = got;
		}
	}
	if (lines != NULL)
		rf_buf_release(lines); /* the views keep it */

	/* Bookkeeping before the write: the batch is decided whatever the write does. */
	for (i = 0; i < c->nbatch; i++)
		count_answer(h, &c->batch[i]);
	{
		const struct answer_desc *d = &c->batch[c->nbatch - 1];

		if (d->answer == A_SIZE && !d->head_only && d->size > last_got) {
			c->body_off = last_got;
			c->body_left = d->size - last_got;
		}
	}
	c->nbatch = 0;
	conn_unstall(c);
	conn_write(c, v, n, (uint32_t)bytes);
	return;

stall_release:
	release_pieces(v, n);
	rf_buf_release(lines);
stall:
	conn_stall(c);
}

/* ---- deciding answers ------------------------------------------------------------------ */

/* The answer to the complete head in c->req. */
static struct answer_desc
decide(struct conn *c)
{
	const struct http_req *r = &c->req;
	struct answer_desc d = {.end = TX_END, .head_only = r->method == HTTP_M_HEAD};

	if (r->method == HTTP_M_OTHER) {
		d.answer = A_405;
		d.head_only = false;
	} else if (r->target == HTTP_T_ROOT) {
		d.answer = A_INDEX;
	} else if (r->target == HTTP_T_SIZE && r->size <= c->h->max_size) {
		d.answer = A_SIZE;
		d.size = r->size;
	} else {
		d.answer = A_404;
	}
	/* RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive".
	 * A Transfer-Encoding body is not decoded here, so the next request cannot be found. */
	if (r->conn_close || r->has_te || (r->minor == 0 && !r->conn_keepalive))
		d.end = TX_END_CLOSE;
	else if (r->minor == 0)
		d.end = TX_END_KEEPALIVE;
	return d;
}

/* Pieces and bytes an answer takes whole. */
static void
answer_cost(const struct httpd *h, const struct answer_desc *d, uint64_t *pieces,
	    uint64_t *bytes)
{
	const uint8_t body = answers[d->answer].body;

	*pieces = 2 + (d->answer == A_SIZE);
	*bytes = h->text[answers[d->answer].head]->len + h->text[d->end]->len + CL_LINE_MAX;
	if (d->head_only)
		return;
	if (body != NTEXTS) {
		*pieces += 1;
		*bytes += h->text[body]->len;
	} else {
		*pieces += body_cost(h, d->size);
		*bytes += d->size;
	}
}

static void
parse_input(struct conn *c)
{
	size_t n = http_parse(&c->req, c->in->data + c->in_off, c->in->len - c->in_off);

	c->in_off += (uint32_t)n;
	if (c->in_off == c->in->len)
		conn_drop_input(c);
}

/*
 * Decides the answers of the complete heads available now, parsing further input between
 * them, into c->batch: stops at BATCH_MAX answers, at an answer that ends the connection, and
 * at the first answer that does not fit the chunk and piece bounds whole (it is the last of
 * the batch). Called with c->req in HTTP_S_HEAD or HTTP_S_ERROR, so it decides at least one.
 */
static void
collect(struct conn *c)
{
	struct httpd *h = c->h;
	uint64_t pieces = 0, bytes = 0, p, b;

	while (c->nbatch < BATCH_MAX) {
		struct answer_desc d;

		if (c->req.state == HTTP_S_MORE) {
			if (c->in == NULL)
				break;
			parse_input(c);
			continue;
		}
		/* At least 4 pieces are left for any answer (3 of texts, 1 of body). */
		if (c->nbatch > 0 && pieces + 4 > IOV_MAX_PIECES)
			break;
		if (c->req.state == HTTP_S_ERROR) {
			d = (struct answer_desc){.answer = c->req.error == 431 ? A_431 : A_400,
						 .end = TX_END_CLOSE};
			h->bad_requests++;
		} else {
			d = decide(c);
			h->requests++;
			http_req_next(&c->req);
		}
		c->batch[c->nbatch++] = d;
		if (d.end == TX_END_CLOSE) {
			c->close_after = true;
			break;
		}
		answer_cost(h, &d, &p, &b);
		pieces += p;
		bytes += b;
		if (pieces > IOV_MAX_PIECES || bytes > CHUNK_BYTES)
			break;
	}
}

/*
 * The connection's state machine: write what is decided, stream the body, end the connection
 * when asked, decide the next answers, parse, read. Returns when it waits for a completion
 * (write room, input) or a buffer.
 */
static void
conn_run(struct conn *c)
{
	while (!c->ended && !c->stalled) {
		if (c->nbatch > 0) {
			if (!conn_can_write(c))
				return;
			batch_write(c);
		} else if (c->body_left > 0) {
			if (!conn_can_write(c))
				return;
			body_write(c);
		} else if (c->close_after) {
			conn_finish(c);
		} else if (c->req.state != HTTP_S_MORE) {
			if (!conn_can_write(c))
				return;
			collect(c);
		} else if (c->in != NULL) {
			parse_input(c);
		} else if (c->peer_eof) {
			/* The client half-closed: every answer is queued; a request cut short
			 * gets no answer. */
			if (http_req_partial(&c->req))
				c->h->incomplete++;
			conn_finish(c);
		} else {
			if (!c->reading)
				conn_read(c);
			return;
		}
	}
}

static void
on_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg)
{
	struct conn *c = arg;

	(void)f;
	c->reading = false;
	c->requests--;
	if (status == RF_OK && c->ended) {
		rf_buf_release(b);
	} else if (status == RF_OK) {
		c->in = b;
		c->in_off = 0;
		c->last_ns = rf_now_ns();
		conn_run(c);
	} else if (status == RF_EOF) {
		if (!c->ended) {
			c->peer_eof = true;
			conn_run(c);
		}
	} else if (status != RF_ECANCELED) {
		/* reset or failed: a request cut short is counted, nothing more can be said */
		if (!c->ended && http_req_partial(&c->req))
			c->h->incomplete++;
		conn_abort(c);
	}
	conn_maybe_free(c);
}

static void
on_accept(struct rf_listener *ls, struct rf_flow *f, void *arg)
{
	struct httpd *h = arg;
	struct conn *c;

	(void)ls;
	h->connections++;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		h->aborted++;
		rf_flow_abort(f);
		return;
	}
	c->h = h;
	c->flow = f;
	c->last_ns = rf_now_ns();
	http_req_init(&c->req, HEAD_MAX);
	rf_flow_set_data(f, c);
	LIST_INSERT_HEAD(&h->conns, c, link);
	conn_run(c);
	conn_maybe_free(c);
}

/* ---- the loop hooks -------------------------------------------------------------------- */

/* Connections without progress for --idle-timeout: an idle keep-alive (or a head that
 * trickles in too slowly) is closed; one whose writes or close do not progress is reset. */
static void
idle_scan(struct httpd *h, uint64_t now)
{
	struct conn *c, *next;

	for (c = LIST_FIRST(&h->conns); c != NULL; c = next) {
		next = LIST_NEXT(c, link);
		if (now - c->last_ns < h->idle_ns || c->aborted)
			continue;
		if (c->ended && !c->closing)
			continue;
		h->idle_closed++;
		if (!c->ended && c->pending_writes == 0 && c->nbatch == 0 && c->body_left == 0) {
			if (http_req_partial(&c->req))
				h->incomplete++;
			conn_finish(c);
		} else {
			conn_abort(c);
		}
		conn_maybe_free(c);
	}
}

static void
httpd_poll(struct rf_loop *l, void *arg)
{
	struct httpd *h = arg;
	struct conn *c;
	uint64_t now;

	(void)l;
	/* Stalled connections retry every pass, each once: one that stalls again goes to the
	 * tail and waits for the next pass. */
	for (unsigned int n = h->nstalled; n > 0; n--) {
		c = TAILQ_FIRST(&h->stalled);
		conn_unstall(c);
		conn_run(c);
		conn_maybe_free(c);
	}
	if (h->idle_ns == 0)
		return;
	now = rf_now_ns();
	if (now < h->next_scan_ns)
		return;
	h->next_scan_ns = now + IDLE_SCAN_NS;
	idle_scan(h, now);
}

/* After the loop stopped: no new connections, every open one reset, the pre-built buffers
 * given back (so the pool is at its baseline for the stats). */
static void
httpd_stop(void *arg)
{
	struct httpd *h = arg;
	struct conn *c, *next;
	unsigned int i;

	if (h->listener != NULL)
		rf_listener_close(h->listener);
	h->listener = NULL;
	for (c = LIST_FIRST(&h->conns); c != NULL; c = next) {
		next = LIST_NEXT(c, link);
		conn_abort(c);
		conn_maybe_free(c);
	}
	for (i = 0; i < NTEXTS; i++) {
		if (h->text[i] != NULL)
			rf_buf_release(h->text[i]);
		h->text[i] = NULL;
	}
	if (h->texts_root != NULL)
		rf_buf_release(h->texts_root);
	h->texts_root = NULL;
	for (i = 0; i < PATTERN_BUFS; i++) {
		if (h->pattern[i] != NULL)
			rf_buf_release(h->pattern[i]);
		h->pattern[i] = NULL;
	}
}

static void
httpd_status(char *buf, size_t len, double interval_s, void *arg)
{
	struct httpd *h = arg;
	double rate = interval_s > 0 ? (double)(h->requests - h->last_requests) / interval_s : 0;

	h->last_requests = h->requests;
	snprintf(buf, len, "%.0f requests/s", rate);
}

static void
httpd_stats(json_t *obj, void *arg)
{
	const struct httpd *h = arg;

#define SET(name) json_object_set_new(obj, #name, json_integer((json_int_t)h->name))
	SET(connections);
	SET(requests);
	SET(responses_2xx);
	SET(responses_4xx);
	SET(bad_requests);
	SET(response_bytes);
	SET(incomplete);
	SET(idle_closed);
	SET(aborted);
	SET(stalls);
#undef SET
}

/* ---- start-up -------------------------------------------------------------------------- */

/*
 * Appends text i to the staging area (printf-style); false when it does not fit. With
 * EVEN_PIECES an odd-length text gets one byte of padding: a head, a space of optional
 * whitespace at the end of its last header line; a body (no CRLF at its end), a newline.
 */
static bool __attribute__((format(printf, 6, 7)))
stage(char *area, size_t size, uint32_t *off, uint32_t len[], enum text i, const char *fmt, ...)
{
	char *t = area + *off;
	size_t room = size - *off, at;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(t, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n + 1 >= room)
		return false;
	if (EVEN_PIECES && n % 2 == 1) {
		if (n >= 4 && memcmp(t + n - 4, "\r\n\r\n", 4) == 0)
			at = (size_t)n - 4;
		else if (n >= 2 && memcmp(t + n - 2, "\r\n", 2) == 0)
			at = (size_t)n - 2;
		else
			at = (size_t)n;
		memmove(t + at + 1, t + at, (size_t)n - at);
		t[at] = at == (size_t)n ? '\n' : ' ';
		n++;
	}
	len[i] = (uint32_t)n;
	*off += (uint32_t)n;
	return true;
}

/* Fills the texts buffer and makes one view per text; exits on failure (start-up only). */
static void
build_texts(struct httpd *h, struct rf_app *app)
{
	static const char body_404[] = "not found\n";
	static const char body_405[] = "method not allowed: use GET or HEAD\n";
	static const char body_400[] = "bad request\n";
	static const char body_431[] = "request header fields too large\n";
	/* Status line, Server, Content-Type, [extra], [Content-Length of a fixed body]. */
#define HEAD "HTTP/1.1 %s\r\nServer: rf-httpd\r\nContent-Type: %s\r\n%s"
#define CL "Content-Length: %zu\r\n"
	/* A body's length once padded (see stage()). */
#define PADDED(body) (sizeof(body) - 1 + (EVEN_PIECES && (sizeof(body) - 1) % 2 == 1))
	char area[4096];
	uint32_t len[NTEXTS], off = 0, max = rf_buf_max();
	bool ok = true;
	unsigned int i;

	/* In enum order: each text follows the previous one. */
	ok &= stage(area, sizeof(area), &off, len, TX_HEAD_200, HEAD, "200 OK",
		    "application/octet-stream", "");
	ok &= stage(area, sizeof(area), &off, len, TX_HEAD_INDEX, HEAD CL, "200 OK",
		    "text/html; charset=utf-8", "", PADDED(index_html));
	ok &= stage(area, sizeof(area), &off, len, TX_HEAD_404, HEAD CL, "404 Not Found",
		    "text/plain", "", PADDED(body_404));
	ok &= stage(area, sizeof(area), &off, len, TX_HEAD_405, HEAD CL,
		    "405 Method Not Allowed", "text/plain", "Allow: GET, HEAD\r\n",
		    PADDED(body_405));
	ok &= stage(area, sizeof(area), &off, len, TX_HEAD_400, HEAD CL, "400 Bad Request",
		    "text/plain", "", PADDED(body_400));
	ok &= stage(area, sizeof(area), &off, len, TX_HEAD_431, HEAD CL,
		    "431 Request Header Fields Too Large", "text/plain", "",
		    PADDED(body_431));
#undef HEAD
#undef CL
#undef PADDED
	ok &= stage(area, sizeof(area), &off, len, TX_END, "\r\n");
	ok &= stage(area, sizeof(area), &off, len, TX_END_CLOSE, "Connection: close\r\n\r\n");
	ok &= stage(area, sizeof(area), &off, len, TX_END_KEEPALIVE,
		    "Connection: keep-alive\r\n\r\n");
	ok &= stage(area, sizeof(area), &off, len, TX_BODY_INDEX, "%s", index_html);
	ok &= stage(area, sizeof(area), &off, len, TX_BODY_404, "%s", body_404);
	ok &= stage(area, sizeof(area), &off, len, TX_BODY_405, "%s", body_405);
	ok &= stage(area, sizeof(area), &off, len, TX_BODY_400, "%s", body_400);
	ok &= stage(area, sizeof(area), &off, len, TX_BODY_431, "%s", body_431);
	if (!ok || off > max)
		rf_app_fatal(app, "the fixed texts do not fit a packet buffer (%u bytes)", max);

	h->texts_root = rf_buf_alloc(h->loop, off);
	if (h->texts_root == NULL)
		rf_app_fatal(app, "no packet buffer for the fixed texts");
	memcpy(h->texts_root->data, area, off);
	/* Views only once the buffer is filled (a buffer is filled while its only holder). */
	off = 0;
	for (i = 0; i < NTEXTS; i++) {
		h->text[i] = rf_buf_sub(h->texts_root, off, len[i]);
		if (h->text[i] == NULL)
			rf_app_fatal(app, "out of memory for the fixed texts");
		off += len[i];
	}
}

static void
build_pattern(struct httpd *h, struct rf_app *app)
{
	uint32_t max = rf_buf_max();
	unsigned int i;

	/* Even (see EVEN_PIECES) and a whole number of periods. */
	h->pattern_len = max / (2 * PATTERN_PERIOD) * (2 * PATTERN_PERIOD);
	if (h->pattern_len == 0)
		rf_app_fatal(app, "packet buffers of %u bytes are too small for the pattern", max);
	for (i = 0; i < PATTERN_BUFS; i++) {
		struct rf_buf *b = rf_buf_alloc(h->loop, h->pattern_len);

		if (b == NULL)
			rf_app_fatal(app, "no packet buffer for the body pattern");
		for (uint32_t j = 0; j < h->pattern_len; j++)
			b->data[j] = (uint8_t)(j % PATTERN_PERIOD);
		h->pattern[i] = b;
	}
}

static int
opt_max_pending(struct rf_app *app, const char *v, void *arg)
{
	struct httpd *h = arg;

	return rf_app_parse_bytes(app, v, 1, 1u << 30, &h->max_pending);
}

static int
opt_max_size(struct rf_app *app, const char *v, void *arg)
{
	struct httpd *h = arg;

	return rf_app_parse_bytes(app, v, 0, MAX_SIZE_LIMIT, &h->max_size);
}

static int
opt_idle_timeout(struct rf_app *app, const char *v, void *arg)
{
	struct httpd *h = arg;

	return rf_app_parse_seconds(app, v, 24 * 3600, &h->idle_timeout_s);
}

static const struct rf_app_option httpd_options[] = {
	{"max-size", "BYTES", "largest N served for GET /N; larger ones get 404 (default 1g)",
	 opt_max_size},
	{"max-pending", "BYTES",
	 "per connection, stop answering while this much written data awaits its write"
	 " completion (default 256k)",
	 opt_max_pending},
	{"idle-timeout", "SECONDS",
	 "close connections without progress for this long, 0: never (default 60)",
	 opt_idle_timeout},
	{NULL, NULL, NULL, NULL},
};

static const struct rf_app_spec httpd_spec = {
	.name = "rf-httpd",
	.summary = "HTTP/1.1 server for tests: GET /N answers N pattern bytes, zero-copy.",
	.default_port = HTTPD_PORT,
	.options = httpd_options,
	.poll = httpd_poll,
	.status = httpd_status,
	.stats = httpd_stats,
	.stop = httpd_stop,
};

int
main(int argc, char **argv)
{
	struct httpd h = {
		.max_pending = MAX_PENDING_DEFAULT,
		.max_size = MAX_SIZE_DEFAULT,
		.idle_timeout_s = IDLE_TIMEOUT_DEFAULT,
	};
	struct rf_app app;
	int rc;

	LIST_INIT(&h.conns);
	TAILQ_INIT(&h.stalled);
	rf_app_init(&app, &httpd_spec, &h);
	rf_app_parse(&app, argc, argv);
	h.idle_ns = (uint64_t)(h.idle_timeout_s * (double)NS_PER_S);
	rf_app_start(&app);
	h.loop = app.loop;
	build_texts(&h, &app);
	build_pattern(&h, &app);
	rc = rf_listen(app.loop, NULL, app.port, on_accept, &h, &h.listener);
	if (rc < 0)
		rf_app_fatal(&app, "cannot listen on port %u: %s", app.port, rf_error_message(rc));
	return rf_app_run(&app);
}
