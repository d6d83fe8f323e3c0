/*
 * httpd_conn.c: one connection of rf-httpd (httpd.c has the service and start-up).
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"

const struct answer_spec answers[NANSWERS] = {
	[A_SIZE] = {TX_HEAD_200, NTEXTS, 200},
	[A_INDEX] = {TX_HEAD_INDEX, TX_BODY_INDEX, 200},
	[A_404] = {TX_HEAD_404, TX_BODY_404, 404},
	[A_405] = {TX_HEAD_405, TX_BODY_405, 405},
	[A_400] = {TX_HEAD_400, TX_BODY_400, 400},
	[A_431] = {TX_HEAD_431, TX_BODY_431, 431},
};

static void on_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg);

/* ---- connection life ----------------------------------------------------------------- */

static void
conn_drop_input(struct conn *c)
{
	if (c->in != NULL)
		rf_buf_release(c->in);
	c->in = NULL;
}

void
conn_unstall(struct conn *c)
{
	if (!c->stalled)
		return;
	c->stalled = false;
	TAILQ_REMOVE(&c->h->stalled, c, stall_link);
	c->h->nstalled--;
}

void
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
void
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
void
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
		c->last_ns = rf_loop_now_ns(c->h->loop);
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
void
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
		c->last_ns = rf_loop_now_ns(c->h->loop);
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

void
on_accept(struct rf_listener *ls, struct rf_flow *f, void *arg)
{
	struct httpd *h = arg;
	struct conn *c;

	(void)ls;
	c = rf_app_accept(f, sizeof(*c), &h->connections, &h->aborted);
	if (c == NULL)
		return;
	c->h = h;
	c->flow = f;
	c->last_ns = rf_loop_now_ns(c->h->loop);
	http_req_init(&c->req, HEAD_MAX);
	LIST_INSERT_HEAD(&h->conns, c, link);
	conn_run(c);
	conn_maybe_free(c);
}
