/*
 * Scenarios that pin how calls and callbacks relate:
 *
 *   test_completions_never_reentrant  no completion runs inside the call that caused it
 *   test_misuse_returns_errors        misuse is an error return, never a callback
 */
#include <inttypes.h>
#include <string.h>

#include "flowtest.h"

static struct rf_addr kernel_addr;

/* ---- test_completions_never_reentrant ----------------------------------------------------- */

/*
 * Three flows, every step started from inside a callback:
 *   A (port):   echo; each read callback writes the buffer back and reads again; at RF_EOF
 *               it reads once more (RF_EOF again), and that callback closes
 *   B (port+1): the first read callback writes, reads again and aborts the flow: the write
 *               completes, the read completes RF_ECANCELED, both later
 *   C:          connected from A's accept callback to a port nobody listens on
 * The harness fails any callback that runs inside a call into rawflow.
 */
static struct {
	struct ft_conn a, b;
	bool a_accepted, b_accepted, b_aborted;
	int a_eofs, b_cancelled, c_calls;
	struct rf_flow *cf;
} re;

static void
reent_pending(struct ft *t, char *buf, size_t len)
{
	int n;

	(void)t;
	n = snprintf(buf, len, "A %s; B %s; C connect %s; ",
		     re.a_accepted ? "accepted" : "not accepted",
		     re.b_accepted ? (re.b_cancelled ? "cancelled read seen" : "accepted")
				   : "not accepted",
		     re.c_calls ? "completed" : "pending");
	if (re.a_accepted && n >= 0 && (size_t)n < len)
		ft_conn_describe(&re.a, buf + n, len - (size_t)n);
}

static void
reent_maybe_done(struct ft *t)
{
	if (re.a.closed && re.b_cancelled == 1 && re.c_calls == 1) {
		snprintf(t->summary, sizeof(t->summary),
			 "A echoed %" PRIu64 " bytes in %" PRIu64 " writes (completed in order), "
			 "RF_EOF twice, closed; B aborted from its read callback; C refused; no "
			 "callback ran inside a call",
			 re.a.rx_bytes, re.a.writes_done);
		ft_done(t);
	}
}

static void
reent_echo(struct ft_conn *c, struct rf_buf *b)
{
	int rc = ft_conn_write_buf(c, b);

	if (rc != 0)
		ft_fatal(c->t, "A: echo write: %s", ft_status(rc));
}

static void
reent_a_eof(struct ft_conn *c)
{
	if (++re.a_eofs == 1)
		ft_conn_read(c); /* a read after RF_EOF: RF_EOF again */
	else
		ft_conn_close(c);
}

static void
reent_a_closed(struct ft_conn *c)
{
	struct ft *t = c->t;

	ft_check(t, c->close_status == RF_OK, "A: close completed %s",
		 ft_status(c->close_status));
	ft_check(t, c->rx_bytes == t->bytes, "A: read %" PRIu64 " bytes, the peer sent %" PRIu64,
		 c->rx_bytes, t->bytes);
	ft_check(t, c->tx_done == c->rx_bytes, "A: echoed %" PRIu64 " of %" PRIu64 " bytes",
		 c->tx_done, c->rx_bytes);
	ft_conn_print_sha(c, true, true);
	reent_maybe_done(t);
}

static void
reent_c_connected(struct rf_flow *f, int status, void *arg)
{
	struct ft *t = arg;

	if (!ft_cb_enter("connect callback (C)"))
		return;
	re.c_calls++;
	ft_check(t, f == re.cf, "C: connect callback for another flow");
	ft_check(t, status == RF_ECONNREFUSED, "C: connect to a closed port completed %s",
		 ft_status(status));
	reent_maybe_done(t);
}

static void
reent_a_accept(struct rf_listener *ls, struct rf_flow *f, void *arg)
{
	struct ft *t = arg;
	struct ft_conn *c = &re.a;
	int rc;

	if (!ft_cb_enter("accept callback (A)"))
		return;
	if (re.a_accepted) {
		ft_check(t, false, "A: a second connection was accepted");
		API_VOID(rf_flow_abort(f));
		return;
	}
	re.a_accepted = true;
	API_VOID(rf_listener_close(ls));
	ft_conn_init(c, t, f, "A");
	c->auto_read = true;
	c->on_data = reent_echo;
	c->on_eof = reent_a_eof;
	c->on_closed = reent_a_closed;
	ft_conn_read(c);
	rc = API(rf_connect(t->l, &kernel_addr, (uint16_t)(t->port + 2), reent_c_connected, t,
			    &re.cf));
	if (rc != 0)
		ft_fatal(t, "C: rf_connect: %s", ft_status(rc));
}

static void
reent_b_data(struct ft_conn *c, struct rf_buf *b)
{
	API(rf_buf_release(b));
	if (re.b_aborted)
		return;
	if (ft_conn_write_bytes(c, "written before the abort", 24) != 0) {
		ft_fatal(c->t, "B: write: failed");
		return;
	}
	ft_conn_read(c);
	re.b_aborted = true;
	API_VOID(rf_flow_abort(c->f));
}

static void
reent_b_read_err(struct ft_conn *c)
{
	struct ft *t = c->t;

	re.b_cancelled++;
	ft_check(t, re.b_aborted, "B: a read failed (%s) before the abort",
		 ft_status(c->read_err));
	ft_check(t, c->read_err == RF_ECANCELED, "B: the read pending at the abort completed %s",
		 ft_status(c->read_err));
	ft_check(t, c->writes_done == 1, "B: the write issued before the abort completed %" PRIu64
		 " times before the read's cancellation", c->writes_done);
	reent_maybe_done(t);
}

static void
reent_b_accept(struct rf_listener *ls, struct rf_flow *f, void *arg)
{
	struct ft *t = arg;
	struct ft_conn *c = &re.b;

	if (!ft_cb_enter("accept callback (B)"))
		return;
	if (re.b_accepted) {
		ft_check(t, false, "B: a second connection was accepted");
		API_VOID(rf_flow_abort(f));
		return;
	}
	re.b_accepted = true;
	API_VOID(rf_listener_close(ls));
	ft_conn_init(c, t, f, "B");
	c->on_data = reent_b_data;
	c->on_read_err = reent_b_read_err;
	ft_conn_read(c);
}

static void
reent_final(struct ft *t)
{
	ft_check(t, re.a_eofs == 2, "A: RF_EOF seen %d times, expected 2", re.a_eofs);
	ft_check(t, re.b_cancelled == 1 && re.b.writes_done == 1,
		 "B: %d cancelled reads and %" PRIu64 " write completions, expected 1 and 1",
		 re.b_cancelled, re.b.writes_done);
	ft_check(t, re.c_calls == 1, "C: the connect callback ran %d times", re.c_calls);
}

static int
reent_start(struct ft *t)
{
	struct rf_listener *la, *lb;
	int rc;

	memset(&re, 0, sizeof(re));
	rc = ft_kernel_addr(&kernel_addr);
	if (rc == 0)
		rc = API(rf_listen(t->l, NULL, (uint16_t)(t->port + 1), reent_b_accept, t, &lb));
	if (rc == 0)
		rc = ft_listen(t, t->port, reent_a_accept, t, &la);
	return rc;
}
/* ---- test_misuse_returns_errors ----------------------------------------------------------- */

static struct {
	struct rf_listener *ls;
	struct ft_conn c;
	bool accepted;
	int never_calls;
} mis;

static void
never_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg)
{
	(void)f, (void)arg;
	ft_cb_enter("read callback of a refused read");
	if (b != NULL)
		rf_buf_release(b);
	mis.never_calls++;
	ft_check(ft_cur(), false, "the callback of a read that returned an error ran (%s)",
		 ft_status(status));
}

static void
never_write(struct rf_flow *f, int status, void *arg)
{
	(void)f;
	ft_cb_enter("write callback of a refused write");
	mis.never_calls++;
	ft_check(ft_cur(), false, "the callback of a write that returned an error ran (%s; %s)",
		 ft_status(status), (const char *)arg);
}

static void
never_close(struct rf_flow *f, int status, void *arg)
{
	(void)f, (void)arg;
	ft_cb_enter("close callback of a refused close");
	mis.never_calls++;
	ft_check(ft_cur(), false, "the callback of a close that returned an error ran (%s)",
		 ft_status(status));
}

static void
never_accept(struct rf_listener *ls, struct rf_flow *f, void *arg)
{
	(void)ls, (void)arg;
	ft_cb_enter("accept callback of a refused listen");
	mis.never_calls++;
	ft_check(ft_cur(), false, "the accept callback of a listen that returned an error ran");
	API_VOID(rf_flow_abort(f));
}

static void
never_connect(struct rf_flow *f, int status, void *arg)
{
	(void)f, (void)arg;
	ft_cb_enter("connect callback of a refused connect");
	mis.never_calls++;
	ft_check(ft_cur(), false, "the callback of a connect that returned an error ran (%s)",
		 ft_status(status));
}

/* "rc == want" with a message naming the call. */
static void
expect_rc(struct ft *t, const char *call, int rc, int want)
{
	ft_check(t, rc == want, "%s returned %d (%s), expected %s", call, rc, ft_status(rc),
		 ft_status(want));
}

/* A reference handed to a call that failed must be gone: releasing it is a double release.
 * (Deterministic here: nothing allocates from the pool between the call and this check.) */
static void
expect_consumed(struct ft *t, const char *call, struct rf_buf *b)
{
	int rc = API(rf_buf_release(b));

	ft_check(t, rc == RF_EINVAL,
		 "%s failed but kept the caller's buffer reference (releasing it returned %s); "
		 "references are consumed on error too",
		 call, ft_status(rc));
}

/* Misuse of buffers and requests on an open flow (before close). */
static void
misuse_open(struct ft *t, struct rf_flow *f)
{
	struct rf_buf *b, *b2, *bufs[3];
	struct rf_listener *ls2 = NULL;
	struct rf_flow *f2 = NULL;
	struct rf_addr bad;
	int rc;

	expect_rc(t, "rf_flow_read (a second one)", API(rf_flow_read(f, never_read, NULL)),
		  RF_EALREADY);
	expect_rc(t, "rf_flow_read (NULL callback)", API(rf_flow_read(f, NULL, NULL)), RF_EINVAL);
	expect_rc(t, "rf_flow_write (NULL buffer)",
		  API(rf_flow_write(f, NULL, never_write, "NULL buffer")), RF_EINVAL);
	bufs[0] = NULL;
	expect_rc(t, "rf_flow_writev (n = 0)", API(rf_flow_writev(f, bufs, 0, never_write, "n=0")),
		  RF_EINVAL);
	expect_rc(t, "rf_flow_writev (NULL array)",
		  API(rf_flow_writev(f, NULL, 1, never_write, "NULL array")), RF_EINVAL);

	/* a NULL among buffers: an error, and the other references are consumed anyway (a
	 * consumed reference cannot be released again) */
	bufs[0] = API(rf_buf_alloc(t->l, 100));
	bufs[1] = NULL;
	bufs[2] = API(rf_buf_alloc(t->l, 100));
	if (!ft_check(t, bufs[0] != NULL && bufs[2] != NULL, "rf_buf_alloc(100) failed"))
		return;
	expect_rc(t, "rf_flow_writev (NULL among buffers)",
		  API(rf_flow_writev(f, bufs, 3, never_write, "NULL among buffers")), RF_EINVAL);
	expect_consumed(t, "rf_flow_writev (NULL among buffers)", bufs[0]);
	expect_consumed(t, "rf_flow_writev (NULL among buffers)", bufs[2]);

	/* double release */
	b = API(rf_buf_alloc(t->l, 64));
	if (!ft_check(t, b != NULL, "rf_buf_alloc(64) failed"))
		return;
	expect_rc(t, "rf_buf_release (first)", API(rf_buf_release(b)), 0);
	expect_rc(t, "rf_buf_release (second, same buffer)", API(rf_buf_release(b)), RF_EINVAL);
	expect_rc(t, "rf_buf_release (NULL)", API(rf_buf_release(NULL)), RF_EINVAL);
	/* a sub-view released twice; its root stays valid for its own holder */
	b = API(rf_buf_alloc(t->l, 64));
	b2 = b != NULL ? API(rf_buf_sub(b, 8, 16)) : NULL;
	if (ft_check(t, b2 != NULL, "rf_buf_sub(b, 8, 16) failed")) {
		expect_rc(t, "rf_buf_release (view, first)", API(rf_buf_release(b2)), 0);
		expect_rc(t, "rf_buf_release (view, second)", API(rf_buf_release(b2)), RF_EINVAL);
	}
	ft_check(t, b == NULL || API(rf_buf_sub(b, 60, 5)) == NULL,
		 "rf_buf_sub past the end of the buffer succeeded");
	if (b != NULL)
		expect_rc(t, "rf_buf_release (root after its view)", API(rf_buf_release(b)), 0);
	ft_check(t, API(rf_buf_alloc(t->l, 0)) == NULL, "rf_buf_alloc(0) returned a buffer");
	ft_check(t, API(rf_buf_alloc(t->l, API(rf_buf_max()) + 1)) == NULL,
		 "rf_buf_alloc(rf_buf_max() + 1) returned a buffer");

	expect_rc(t, "rf_flow_shutdown (how = 0)", API(rf_flow_shutdown(f, 0)), RF_EINVAL);
	expect_rc(t, "rf_flow_shutdown (how = 4)", API(rf_flow_shutdown(f, 4)), RF_EINVAL);
	expect_rc(t, "rf_listen (port 0)", API(rf_listen(t->l, NULL, 0, never_accept, NULL, &ls2)),
		  RF_EINVAL);
	rc = API(rf_listen(t->l, NULL, t->port, never_accept, NULL, &ls2));
	expect_rc(t, "rf_listen (port already listened on)", rc, RF_EADDRINUSE);
	if (rc == 0)
		API_VOID(rf_listener_close(ls2));
	expect_rc(t, "rf_connect (NULL address)",
		  API(rf_connect(t->l, NULL, 80, never_connect, NULL, &f2)), RF_EINVAL);
	expect_rc(t, "rf_connect (port 0)",
		  API(rf_connect(t->l, &kernel_addr, 0, never_connect, NULL, &f2)), RF_EINVAL);
	bad.family = 9;
	expect_rc(t, "rf_connect (address family 9)",
		  API(rf_connect(t->l, &bad, 80, never_connect, NULL, &f2)), RF_EAFNOSUPPORT);
	expect_rc(t, "rf_addr_parse (\"198.18.0.256\")", API(rf_addr_parse("198.18.0.256", &bad)),
		  RF_EINVAL);
}

/* Misuse after rf_flow_close: sending is over, a second close is refused. */
static void
misuse_closed(struct ft *t, struct rf_flow *f)
{
	struct rf_buf *b, *bufs[2];

	expect_rc(t, "rf_flow_close (a second one)", API(rf_flow_close(f, never_close, NULL)),
		  RF_EALREADY);
	b = API(rf_buf_alloc(t->l, 10));
	if (!ft_check(t, b != NULL, "rf_buf_alloc(10) failed"))
		return;
	expect_rc(t, "rf_flow_write after rf_flow_close",
		  API(rf_flow_write(f, b, never_write, "write after close")), RF_EPIPE);
	expect_consumed(t, "rf_flow_write after rf_flow_close", b);
	bufs[0] = API(rf_buf_alloc(t->l, 10));
	bufs[1] = API(rf_buf_alloc(t->l, 20));
	if (!ft_check(t, bufs[0] != NULL && bufs[1] != NULL, "rf_buf_alloc failed"))
		return;
	expect_rc(t, "rf_flow_writev after rf_flow_close",
		  API(rf_flow_writev(f, bufs, 2, never_write, "writev after close")), RF_EPIPE);
	expect_consumed(t, "rf_flow_writev after rf_flow_close", bufs[0]);
	expect_consumed(t, "rf_flow_writev after rf_flow_close", bufs[1]);
}

static void
misuse_closed_cb(struct ft_conn *c)
{
	struct ft *t = c->t;

	ft_check(t, c->close_status == RF_OK, "close completed %s",
		 ft_status(c->close_status));
	ft_check(t, c->eof, "close completed before the read saw RF_EOF");
	ft_check(t, c->rx_bytes == t->bytes, "after rf_flow_close, read %" PRIu64 " of the %" PRIu64
		 " bytes the peer sent (reads keep working)", c->rx_bytes, t->bytes);
	snprintf(t->summary, sizeof(t->summary),
		 "every misuse returned its error and no refused request's callback ran; reads "
		 "kept working after close (%" PRIu64 " bytes, RF_EOF)", c->rx_bytes);
	ft_done(t);
}

static void
misuse_accept(struct rf_listener *ls, struct rf_flow *f, void *arg)
{
	struct ft *t = arg;
	struct ft_conn *c = &mis.c;

	if (!ft_cb_enter("accept callback"))
		return;
	if (mis.accepted) {
		ft_check(t, false, "a second connection was accepted");
		API_VOID(rf_flow_abort(f));
		return;
	}
	mis.accepted = true;
	ft_conn_init(c, t, f, "flow");
	c->auto_read = true;
	c->on_closed = misuse_closed_cb;
	ft_conn_read(c);
	misuse_open(t, f); /* with the listener still open, for the EADDRINUSE case */
	API_VOID(rf_listener_close(ls));
	ft_conn_close(c);
	misuse_closed(t, f);
}

static void
misuse_pending(struct ft *t, char *buf, size_t len)
{
	(void)t;
	if (!mis.accepted)
		snprintf(buf, len, "no connection accepted yet");
	else
		ft_conn_describe(&mis.c, buf, len);
}

static void
misuse_final(struct ft *t)
{
	ft_check(t, mis.never_calls == 0, "%d callbacks of refused requests ran", mis.never_calls);
}

static int
misuse_start(struct ft *t)
{
	int rc = ft_kernel_addr(&kernel_addr);

	memset(&mis, 0, sizeof(mis));
	return rc != 0 ? rc : ft_listen(t, t->port, misuse_accept, t, &mis.ls);
}
const struct ft_scenario ft_call_scenarios[] = {
	{
		.name = "test_completions_never_reentrant",
		.rule = "no completion runs inside the call that started it, even from callbacks",
		.timeout_s = 40,
		.default_bytes = 1 * FT_MIB,
		.start = reent_start,
		.pending = reent_pending,
		.final = reent_final,
	},
	{
		.name = "test_misuse_returns_errors",
		.rule = "misuse returns an error at once and never runs the callback",
		.timeout_s = 30,
		.default_bytes = 100,
		.start = misuse_start,
		.pending = misuse_pending,
		.final = misuse_final,
	},
	{0},
};
