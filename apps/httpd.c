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
 * The connection's work (parse, decide, write, close) is in httpd_conn.c; httpd.h holds
 * what both share.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "httpd.h"

static const char index_html[] =
	"<!DOCTYPE html>\n"
	"<html><head><title>rf-httpd</title></head>\n"
	"<body><h1>rf-httpd</h1>\n"
	"<p>An HTTP/1.1 server on rawflow, a userspace TCP/IP stack.</p>\n"
	"<p><code>GET /N</code> answers N bytes: byte i is i mod 251.</p>\n"
	"</body></html>\n";

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
	now = rf_loop_now_ns(l); /* the pass's clock: a TSC read costs ~19 ns on this VM */
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
