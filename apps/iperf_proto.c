/*
 * iperf_proto.c: the connections of the iperf3 protocol (see iperf_proto.h for the exchange
 * itself; its messages and helpers are in iperf_msg.c).
 *
 * A connection record (struct ipf_conn) follows the life of its flow the way rf-echo's does:
 * every request (connect, read, write with a callback, close) counts in `requests` until its
 * callback has run, the flow ends in exactly one rf_flow_close() or rf_flow_abort(), and the
 * record is freed once it has ended and nothing is pending (the owner hears of it through the
 * `freed` hook, to drop it from its lists). Hooks run from inside our callbacks with a request
 * still counted, so an owner that ends a connection from a hook never frees it under our feet.
 *
 * Data path, receive: one read outstanding; each buffer is counted and released at once, which
 * reopens TCP's window. Send: IPF_BATCH references to the shared blocks go out per
 * rf_flow_writev(), at most IPF_MAX_BATCHES of them in flight; each completion (all its bytes
 * are in TCP's send queue) counts the bytes and issues the next batch. Nothing is copied, and
 * the memory a stream keeps busy is bounded by the batches in flight plus TCP's send buffer,
 * all of it references to the same IPF_BLOCKS packet buffers.
 *
 * Control messages are tiny: they are copied into fresh buffers on the way out, and into the
 * record's input buffer on the way in, where the owner parses states and JSON messages as they
 * complete.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iperf_proto.h"

/* References per write: one completion per this many blocks. */
#define IPF_BATCH 8
/* Writes in flight per sending stream: enough to refill TCP's send buffer between two loop
 * passes, small next to the packet pool (they all reference the same IPF_BLOCKS blocks). */
#define IPF_MAX_BATCHES 16
/* Most a buffered connection may hold unparsed: one largest JSON message and its length. */
#define IPF_MAX_INPUT (IPF_MAX_JSON + 4)

/* ---- blocks -------------------------------------------------------------------------- */

int
ipf_blocks_init(struct ipf_blocks *bl, struct rf_loop *l)
{
	uint32_t x = 0x2545f491;

	memset(bl, 0, sizeof(*bl));
	bl->len = rf_buf_max();
	for (bl->n = 0; bl->n < IPF_BLOCKS; bl->n++) {
		struct rf_buf *b = rf_buf_alloc(l, bl->len);

		if (b == NULL) {
			ipf_blocks_release(bl);
			return RF_ENOBUFS;
		}
		/* Pseudo-random bytes, as iperf3 sends by default (no pattern a link could
		 * compress). */
		for (uint32_t i = 0; i < bl->len; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			b->data[i] = (uint8_t)x;
		}
		bl->b[bl->n] = b;
	}
	return 0;
}

void
ipf_blocks_release(struct ipf_blocks *bl)
{
	for (unsigned int i = 0; i < bl->n; i++)
		rf_buf_release(bl->b[i]);
	bl->n = 0;
}

/* ---- connection life cycle ----------------------------------------------------------- */

static void on_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg);

bool
ipf_conn_maybe_free(struct ipf_conn *c)
{
	if (!ipf_conn_ended(c) || c->requests > 0)
		return false;
	if (c->ops->freed != NULL)
		c->ops->freed(c);
	free(c->in);
	free(c);
	return true;
}

/* The connection failed or reached EOF: tell the owner, once. */
static void
conn_end(struct ipf_conn *c, int status)
{
	c->sending = false;
	if (c->read_done)
		return;
	c->read_done = true;
	if (!c->aborted && c->ops->end != NULL)
		c->ops->end(c, status);
}

static void
conn_read(struct ipf_conn *c)
{
	int rc;

	if (c->reading || c->read_done || c->aborted || c->flow == NULL)
		return;
	rc = rf_flow_read(c->flow, on_read, c);
	if (rc < 0) {
		conn_end(c, rc);
		return;
	}
	c->reading = true;
	c->requests++;
}

void
ipf_conn_abort(struct ipf_conn *c)
{
	if (c->aborted)
		return;
	c->aborted = true;
	c->sending = false;
	if (c->flow != NULL)
		rf_flow_abort(c->flow);
}

static void
on_closed(struct rf_flow *f, int status, void *arg)
{
	struct ipf_conn *c = arg;

	(void)f;
	(void)status; /* a reset while closing: the data was counted already */
	c->flow = NULL; /* freed when we return */
	c->requests--;
	ipf_conn_maybe_free(c);
}

void
ipf_conn_close(struct ipf_conn *c, uint64_t linger_ns)
{
	if (ipf_conn_ended(c))
		return;
	c->sending = false;
	if (c->flow == NULL || rf_flow_close(c->flow, on_closed, c) < 0) {
		ipf_conn_abort(c);
		return;
	}
	c->closed = true;
	c->deadline_ns = rf_now_ns() + linger_ns;
	c->requests++;
}

void
ipf_conn_linger_check(struct ipf_conn *c, uint64_t now)
{
	if (c->closed && !c->aborted && c->flow != NULL && now >= c->deadline_ns)
		ipf_conn_abort(c);
}

/* ---- input --------------------------------------------------------------------------- */

static int
append(struct ipf_conn *c, const uint8_t *data, uint32_t len)
{
	size_t cap;
	uint8_t *p;

	if (c->in_len + len > IPF_MAX_INPUT)
		return RF_E2BIG;
	if (c->in_len + len > c->in_cap) {
		cap = c->in_cap ? c->in_cap : 256;
		while (cap < c->in_len + len)
			cap *= 2;
		p = realloc(c->in, cap);
		if (p == NULL)
			return RF_ENOMEM;
		c->in = p;
		c->in_cap = cap;
	}
	memcpy(c->in + c->in_len, data, len);
	c->in_len += len;
	return 0;
}

static void
on_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg)
{
	struct ipf_conn *c = arg;
	uint32_t len;
	int rc;

	(void)f;
	c->reading = false;
	if (status == RF_OK) {
		len = b->len;
		if (c->aborted) {
			rf_buf_release(b);
		} else if (c->mode == IPF_COUNTED) {
			rf_buf_release(b);
			c->bytes += len;
			c->totals->rx_bytes += len;
		} else if (c->closed) {
			rf_buf_release(b); /* nothing more to parse: drained until the peer's FIN */
		} else {
			rc = append(c, b->data, len);
			rf_buf_release(b);
			if (rc < 0)
				conn_end(c, rc);
			else if (c->ops->input != NULL)
				c->ops->input(c);
		}
		conn_read(c);
	} else if (status != RF_ECANCELED) {
		conn_end(c, status);
	} else {
		c->read_done = true;
	}
	c->requests--;
	ipf_conn_maybe_free(c);
}

void
ipf_conn_count(struct ipf_conn *c)
{
	c->mode = IPF_COUNTED;
	c->bytes += c->in_len;
	c->totals->rx_bytes += c->in_len;
	c->in_len = 0;
	free(c->in);
	c->in = NULL;
	c->in_cap = 0;
}

int
ipf_conn_take(struct ipf_conn *c, void *out, size_t len)
{
	if (c->in_len < len)
		return 0;
	memcpy(out, c->in, len);
	memmove(c->in, c->in + len, c->in_len - len);
	c->in_len -= len;
	return 1;
}

int
ipf_conn_take_json(struct ipf_conn *c, json_t **out, char *err, size_t errlen)
{
	json_error_t jerr;
	uint32_t n_be, n;
	json_t *j;

	if (c->in_len < 4)
		return 0;
	memcpy(&n_be, c->in, 4);
	n = ntohl(n_be);
	if (n == 0 || n > IPF_MAX_JSON) {
		snprintf(err, errlen, "JSON message of %" PRIu32 " bytes (expected 1..%u)", n,
			 IPF_MAX_JSON);
		return -1;
	}
	if (c->in_len < 4 + (size_t)n)
		return 0;
	/* As reals: iperf3 writes some counters as unsigned 64-bit numbers (-1 as 2^64 - 1),
	 * beyond what a JSON integer of jansson holds. */
	j = json_loadb((const char *)c->in + 4, n, JSON_DECODE_INT_AS_REAL, &jerr);
	if (j == NULL) {
		snprintf(err, errlen, "malformed JSON message: %s", jerr.text);
		return -1;
	}
	memmove(c->in, c->in + 4 + n, c->in_len - 4 - n);
	c->in_len -= 4 + n;
	*out = j;
	return 1;
}

/* ---- output -------------------------------------------------------------------------- */

int
ipf_conn_send(struct ipf_conn *c, const void *data, size_t len)
{
	/* Even-sized pieces: see "Sending" in iperf_proto.h. */
	uint32_t max = rf_buf_max() & ~1u;
	struct rf_buf *small[8], **bufs = small;
	unsigned int n, i;
	const uint8_t *p = data;
	size_t off = 0;
	int rc;

	if (ipf_conn_ended(c) || c->flow == NULL || c->connecting)
		return RF_ENOTCONN;
	if (len == 0 || max == 0)
		return RF_EINVAL;
	n = (unsigned int)((len + max - 1) / max);
	if (n > sizeof(small) / sizeof(small[0]) && (bufs = calloc(n, sizeof(*bufs))) == NULL)
		return RF_ENOMEM;
	for (i = 0; i < n; i++) {
		uint32_t piece = len - off < max ? (uint32_t)(len - off) : max;

		bufs[i] = rf_buf_alloc(c->loop, piece);
		if (bufs[i] == NULL) {
			while (i-- > 0)
				rf_buf_release(bufs[i]);
			rc = RF_ENOBUFS;
			goto out;
		}
		memcpy(bufs[i]->data, p + off, piece);
		off += piece;
	}
	rc = rf_flow_writev(c->flow, bufs, n, NULL, NULL);
out:
	if (bufs != small)
		free(bufs);
	return rc;
}

int
ipf_conn_send_state(struct ipf_conn *c, int state)
{
	int8_t s = (int8_t)state;

	return ipf_conn_send(c, &s, 1);
}

int
ipf_conn_send_json(struct ipf_conn *c, json_t *msg, int then_state)
{
	char *text = json_dumps(msg, JSON_COMPACT);
	uint32_t n_be;
	size_t len;
	char *frame;
	int rc;

	if (text == NULL)
		return RF_ENOMEM;
	len = strlen(text);
	frame = malloc(4 + len + 1);
	if (frame == NULL) {
		free(text);
		return RF_ENOMEM;
	}
	n_be = htonl((uint32_t)len);
	memcpy(frame, &n_be, 4);
	memcpy(frame + 4, text, len);
	frame[4 + len] = (char)(int8_t)then_state;
	rc = ipf_conn_send(c, frame, 4 + len + (then_state != 0));
	free(frame);
	free(text);
	return rc;
}

/* ---- data streams: sending ----------------------------------------------------------- */

static void conn_fill(struct ipf_conn *c);

static void
on_data_written(struct rf_flow *f, int status, void *arg)
{
	struct ipf_conn *c = arg;
	uint64_t n = (uint64_t)IPF_BATCH * c->blocks->len;

	(void)f;
	c->batches--;
	if (status == RF_OK) {
		c->bytes += n;
		c->totals->tx_bytes += n;
		conn_fill(c);
	} else if (status != RF_ECANCELED) {
		conn_end(c, status == RF_EOF ? RF_EPIPE : status);
	}
	c->requests--;
	ipf_conn_maybe_free(c);
}

static void
conn_fill(struct ipf_conn *c)
{
	const struct ipf_blocks *bl = c->blocks;
	struct rf_buf *v[IPF_BATCH];
	int rc;

	while (c->sending && !ipf_conn_ended(c) && c->batches < IPF_MAX_BATCHES) {
		for (unsigned int i = 0; i < IPF_BATCH; i++) {
			v[i] = rf_buf_ref(bl->b[c->next_block]);
			c->next_block = (c->next_block + 1) % bl->n;
		}
		rc = rf_flow_writev(c->flow, v, IPF_BATCH, on_data_written, c);
		if (rc < 0) {
			conn_end(c, rc);
			return;
		}
		c->batches++;
		c->requests++;
	}
}

void
ipf_conn_send_data(struct ipf_conn *c, const struct ipf_blocks *bl)
{
	c->blocks = bl;
	c->sending = true;
	conn_fill(c);
}

/* ---- accept and connect -------------------------------------------------------------- */

struct ipf_conn *
ipf_conn_accept(struct rf_loop *l, struct rf_flow *f, const struct ipf_conn_ops *ops,
		void *owner, struct ipf_totals *totals)
{
	struct ipf_conn *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		rf_flow_abort(f);
		return NULL;
	}
	c->ops = ops;
	c->owner = owner;
	c->totals = totals;
	c->loop = l;
	c->flow = f;
	c->mode = IPF_BUFFERED;
	rf_flow_set_data(f, c);
	conn_read(c);
	return c;
}

static void
on_connected(struct rf_flow *f, int status, void *arg)
{
	struct ipf_conn *c = arg;

	(void)f;
	c->connecting = false;
	if (status == RF_OK && !c->aborted) {
		conn_read(c);
	} else if (status != RF_OK) {
		c->flow = NULL; /* rawflow frees it */
		c->read_done = true;
		c->aborted = true;
	}
	if (status != RF_ECANCELED && c->ops->connected != NULL)
		c->ops->connected(c, status);
	c->requests--;
	ipf_conn_maybe_free(c);
}

int
ipf_conn_connect(struct rf_loop *l, const struct rf_endpoint *to,
		 const struct ipf_conn_ops *ops, void *owner, struct ipf_totals *totals,
		 struct ipf_conn **out)
{
	struct ipf_conn *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL)
		return RF_ENOMEM;
	c->ops = ops;
	c->owner = owner;
	c->totals = totals;
	c->loop = l;
	c->mode = IPF_BUFFERED;
	c->connecting = true;
	rc = rf_connect(l, &to->addr, to->port, on_connected, c, &c->flow);
	if (rc < 0) {
		free(c);
		return rc;
	}
	rf_flow_set_data(c->flow, c);
	c->requests++;
	*out = c;
	return 0;
}
