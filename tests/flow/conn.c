/*
 * Connections for the flow scenarios: one rf_flow with its bookkeeping (see struct ft_conn).
 *
 * The read, write and close callbacks here check what holds for every flow whatever the
 * scenario: one read at a time, RF_OK reads carry at least one byte and no data follows
 * RF_EOF, writes complete in the order issued and with the status expected of them, a close
 * completes once and only when no read is pending and every write has completed. Scenarios
 * add their own checks through the hooks.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "flowtest.h"

/* Write requests kept outstanding by the pump: enough to keep TCP's send queue full. */
#define FT_PUMP_INFLIGHT 32

/* One write request, for the order and status checks of its completion. */
struct ft_wreq {
	struct ft_conn *c;
	uint64_t seq;
	uint64_t bytes;
	int expect;
};

static uint64_t
splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

void
ft_pattern_fill(uint8_t *p, uint64_t off, uint32_t len)
{
	uint64_t w = splitmix64(off >> 3);

	for (uint32_t i = 0; i < len; i++, off++) {
		if ((off & 7) == 0)
			w = splitmix64(off >> 3);
		p[i] = (uint8_t)(w >> (8 * (off & 7)));
	}
}

uint64_t
ft_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

void
ft_conn_init(struct ft_conn *c, struct ft *t, struct rf_flow *f, const char *name)
{
	memset(c, 0, sizeof(*c));
	c->t = t;
	c->f = f;
	c->name = name;
	c->max_inflight = FT_PUMP_INFLIGHT;
	c->rng = 0x2545f4914f6cdd1dull;
	c->write_expect = RF_OK;
	ft_sha256_init(&c->rx_sha);
	ft_sha256_init(&c->tx_sha);
	API_VOID(rf_flow_set_data(f, c));
}

/* ---- reading ----------------------------------------------------------------------------- */

static void
on_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg)
{
	struct ft_conn *c = arg;
	struct ft *t = c->t;

	if (!ft_cb_enter("read callback")) {
		if (b != NULL)
			rf_buf_release(b);
		return;
	}
	if (c->closed)
		ft_check(t, false,
			 "%s: a read completed %s after the close callback, for a flow rawflow had "
			 "freed when that callback returned",
			 c->name, ft_status(status));
	else
		ft_check(t, f == c->f, "%s: read callback for flow %p, issued on %p", c->name,
			 (void *)f, (void *)c->f);
	ft_check(t, c->reading, "%s: read callback without a read pending", c->name);
	c->reading = false;
	c->reads_done++;
	if (status == RF_OK) {
		if (!ft_check(t, b != NULL && b->len >= 1, "%s: RF_OK read with %s", c->name,
			      b == NULL ? "no buffer" : "an empty buffer")) {
			if (b != NULL)
				API(rf_buf_release(b));
			return;
		}
		ft_check(t, !c->eof, "%s: %u bytes read after RF_EOF", c->name, b->len);
		c->rx_bytes += b->len;
		ft_sha256_update(&c->rx_sha, b->data, b->len);
		if (c->on_data != NULL) {
			c->on_data(c, b);
		} else {
			int rc = API(rf_buf_release(b));

			ft_check(t, rc == 0, "%s: rf_buf_release of a read buffer: %s", c->name,
				 ft_status(rc));
		}
		if (c->auto_read && !c->reading && !c->closed && !t->over)
			ft_conn_read(c);
		return;
	}
	ft_check(t, b == NULL, "%s: a %s read came with a buffer", c->name,
		 ft_status(status));
	if (status == RF_EOF) {
		c->eof = true;
		if (c->on_eof != NULL)
			c->on_eof(c);
		return;
	}
	if (c->read_err == 0)
		c->read_err = status;
	if (c->on_read_err != NULL)
		c->on_read_err(c);
	else
		ft_fatal(t, "%s: read failed after %" PRIu64 " bytes: %s", c->name, c->rx_bytes,
			 ft_status(status));
}

void
ft_conn_read(struct ft_conn *c)
{
	int rc;

	c->reading = true;
	rc = API(rf_flow_read(c->f, on_read, c));
	if (rc != 0) {
		c->reading = false;
		ft_fatal(c->t, "%s: rf_flow_read: %s", c->name, ft_status(rc));
	}
}

/* ---- writing ----------------------------------------------------------------------------- */

static void
on_write(struct rf_flow *f, int status, void *arg)
{
	struct ft_wreq *w = arg;
	struct ft_conn *c = w->c;
	struct ft *t = c->t;

	if (!ft_cb_enter("write callback")) {
		free(w);
		return;
	}
	ft_check(t, f == c->f, "%s: write callback for flow %p, issued on %p", c->name, (void *)f,
		 (void *)c->f);
	ft_check(t, w->seq == c->writes_done,
		 "%s: write #%" PRIu64 " completed when #%" PRIu64 " was next (out of order)",
		 c->name, w->seq, c->writes_done);
	c->writes_done++;
	c->writes_inflight--;
	if (status == RF_OK)
		c->tx_done += w->bytes;
	if (!ft_check(t, status == w->expect, "%s: write #%" PRIu64 " completed %s, expected %s",
		      c->name, w->seq, ft_status(status), ft_status(w->expect)) &&
	    c->write_err == 0)
		c->write_err = status;
	free(w);
	if (c->tx_target == 0 || t->over)
		return;
	if (c->tx_done == c->tx_target) {
		if (c->on_written != NULL)
			c->on_written(c);
	} else {
		ft_conn_pump(c);
	}
}

/* Issues one request for bufs[0..n) of bytes in all; single buffers alternate between
 * rf_flow_write and rf_flow_writev. */
static int
issue(struct ft_conn *c, struct rf_buf **bufs, unsigned int n, uint64_t bytes, bool single)
{
	struct ft_wreq *w = malloc(sizeof(*w));
	int rc;

	if (w == NULL) {
		for (unsigned int i = 0; i < n; i++)
			API(rf_buf_release(bufs[i]));
		return RF_ENOMEM;
	}
	*w = (struct ft_wreq){.c = c, .seq = c->writes_issued, .bytes = bytes,
			      .expect = c->write_expect};
	if (single)
		rc = API(rf_flow_write(c->f, bufs[0], on_write, w));
	else
		rc = API(rf_flow_writev(c->f, bufs, n, on_write, w));
	if (rc != 0) {
		free(w); /* its callback never runs */
		return rc;
	}
	c->writes_issued++;
	c->writes_inflight++;
	c->tx_issued += bytes;
	return 0;
}

void
ft_conn_pump(struct ft_conn *c)
{
	struct ft *t = c->t;
	uint32_t max = API(rf_buf_max());

	while (c->tx_issued < c->tx_target && c->writes_inflight < c->max_inflight && !t->over) {
		uint64_t r = ft_rand(&c->rng);
		/* half single writes, half writev of 1 to 4 buffers */
		bool single = (r & 1) != 0;
		unsigned int want = single ? 1 : 1 + (unsigned int)((r >> 8) % 4);
		struct rf_buf *bufs[8];
		unsigned int n = 0;
		uint64_t bytes = 0;
		int rc;

		for (unsigned int i = 0; i < want && c->tx_issued + bytes < c->tx_target; i++) {
			uint64_t left = c->tx_target - c->tx_issued - bytes;
			/* three in four buffers full, the others of any size */
			uint32_t len = (ft_rand(&c->rng) & 3) != 0 ? max
								  : 1 + (uint32_t)(ft_rand(&c->rng) % max);
			struct rf_buf *b;

			if (c->odd_sizes)
				len = (uint32_t)(ft_rand(&c->rng) % max) | 1;
			if (len > left)
				len = (uint32_t)left;
			b = API(rf_buf_alloc(t->l, len));
			if (b == NULL) {
				for (unsigned int j = 0; j < n; j++)
					API(rf_buf_release(bufs[j]));
				ft_fatal(t, "%s: rf_buf_alloc(%u) failed after %" PRIu64 " bytes issued",
					 c->name, len, c->tx_issued);
				return;
			}
			ft_pattern_fill(b->data, c->tx_issued + bytes, len);
			ft_sha256_update(&c->tx_sha, b->data, len);
			bytes += len;
			if (!single && !c->odd_sizes && len >= 2 && (ft_rand(&c->rng) & 7) == 0) {
				/* now and then two sub-views of one buffer, written in order */
				uint32_t k = 1 + (uint32_t)(ft_rand(&c->rng) % (len - 1));
				struct rf_buf *a = API(rf_buf_sub(b, 0, k));
				struct rf_buf *z = API(rf_buf_sub(b, k, len - k));

				API(rf_buf_release(b));
				if (a == NULL || z == NULL) {
					ft_fatal(t, "%s: rf_buf_sub failed", c->name);
					return;
				}
				bufs[n++] = a;
				bufs[n++] = z;
			} else {
				bufs[n++] = b;
			}
		}
		rc = issue(c, bufs, n, bytes, single && n == 1);
		if (rc != 0) {
			ft_fatal(t, "%s: rf_flow_write%s after %" PRIu64 " bytes: %s", c->name,
				 single ? "" : "v", c->tx_issued, ft_status(rc));
			return;
		}
	}
	if (c->tx_issued == c->tx_target && c->close_when_written && !c->closing)
		ft_conn_close(c);
}

int
ft_conn_write_bytes(struct ft_conn *c, const void *p, uint32_t len)
{
	uint32_t max = API(rf_buf_max());
	struct rf_buf *bufs[8];
	unsigned int n = 0;
	const uint8_t *q = p;

	for (uint32_t off = 0; off < len; off += max) {
		uint32_t piece = len - off < max ? len - off : max;
		struct rf_buf *b;

		if (n == sizeof(bufs) / sizeof(bufs[0]) ||
		    (b = API(rf_buf_alloc(c->t->l, piece))) == NULL) {
			for (unsigned int j = 0; j < n; j++)
				API(rf_buf_release(bufs[j]));
			return RF_ENOBUFS;
		}
		memcpy(b->data, q + off, piece);
		ft_sha256_update(&c->tx_sha, b->data, piece);
		bufs[n++] = b;
	}
	return issue(c, bufs, n, len, n == 1);
}

int
ft_conn_write_buf(struct ft_conn *c, struct rf_buf *b)
{
	ft_sha256_update(&c->tx_sha, b->data, b->len);
	return issue(c, &b, 1, b->len, true);
}

/* ---- closing ----------------------------------------------------------------------------- */

static void
on_close(struct rf_flow *f, int status, void *arg)
{
	struct ft_conn *c = arg;
	struct ft *t = c->t;

	if (!ft_cb_enter("close callback"))
		return;
	ft_check(t, f == c->f, "%s: close callback for flow %p, issued on %p", c->name, (void *)f,
		 (void *)c->f);
	ft_check(t, !c->closed, "%s: a second close callback", c->name);
	c->closed = true;
	c->closed_ns = rf_now_ns();
	c->close_status = status;
	/* a read issued before the close completion is completed first */
	ft_check(t, !c->reading, "%s: close completed while a read was still pending", c->name);
	/* FIN goes after every queued write, so every write resolved before the close did */
	ft_check(t, c->writes_done == c->writes_issued,
		 "%s: close completed with %" PRIu64 " of %" PRIu64 " writes not completed", c->name,
		 c->writes_issued - c->writes_done, c->writes_issued);
	if (c->on_closed != NULL)
		c->on_closed(c);
	else
		ft_check(t, status == RF_OK, "%s: close completed %s", c->name,
			 ft_status(status));
	c->f = NULL; /* freed when this callback returns */
}

void
ft_conn_close(struct ft_conn *c)
{
	int rc;

	c->closing = true;
	c->close_called_ns = rf_now_ns();
	rc = API(rf_flow_close(c->f, on_close, c));
	if (rc != 0)
		ft_fatal(c->t, "%s: rf_flow_close: %s", c->name, ft_status(rc));
}

/* ---- reporting ----------------------------------------------------------------------------- */

void
ft_conn_digests(struct ft_conn *c)
{
	if (c->rx_hex[0] != '\0')
		return;
	ft_sha256_hex(&c->rx_sha, c->rx_hex);
	ft_sha256_hex(&c->tx_sha, c->tx_hex);
}

void
ft_conn_print_sha(struct ft_conn *c, bool rx, bool tx)
{
	ft_conn_digests(c);
	/* format read by run.sh: "sha256 <dir> <hex> <bytes>" at the start of a line */
	if (rx)
		printf("sha256 rx %s %" PRIu64 "\n", c->rx_hex, c->rx_bytes);
	if (tx)
		printf("sha256 tx %s %" PRIu64 "\n", c->tx_hex, c->tx_issued);
	fflush(stdout);
}

int
ft_conn_describe(const struct ft_conn *c, char *buf, size_t len)
{
	return snprintf(buf, len,
			"%s: read %" PRIu64 " B in %" PRIu64 " reads (read %s%s%s), wrote %" PRIu64
			" of %" PRIu64 " B issued (%" PRIu64 " of %" PRIu64
			" writes completed), close %s",
			c->name, c->rx_bytes, c->reads_done, c->reading ? "pending" : "idle",
			c->eof ? ", RF_EOF seen" : "", c->read_err != 0 ? ", read error" : "",
			c->tx_done, c->tx_issued, c->writes_done, c->writes_issued,
			c->closed ? "completed" : c->closing ? "pending" : "not called");
}

int
ft_kernel_addr(struct rf_addr *out)
{
	return API(rf_addr_parse(FT_KERNEL_IP, out));
}

int
ft_listen(struct ft *t, uint16_t port, rf_accept_cb *cb, void *arg, struct rf_listener **out)
{
	int rc = API(rf_listen(t->l, NULL, port, cb, arg, out));

	if (rc == 0)
		ft_note(t, "READY listening on port %u", port);
	return rc;
}
