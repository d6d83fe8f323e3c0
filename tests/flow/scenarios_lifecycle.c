/*
 * Scenarios that pin the life cycle of a flow, one rule each:
 *
 *   test_close_completes_after_peer_fin      close waits for the peer's FIN; half-close works
 *   test_read_gets_econnreset_on_peer_reset  a reset fails the pending read; writes then EOF
 *   test_connect_refused                     no listener: the connect completes ECONNREFUSED
 *   test_connect_without_route_fails         no route (off-link, no gateway): EHOSTUNREACH at
 *                                            once, from the call or its completion
 *   test_final_callbacks_refuse_new_requests the close callback and a failed connect's
 *                                            callback end the flow: no request starts there
 */
#include <inttypes.h>
#include <string.h>

#include "flowtest.h"

#define NS_PER_S 1000000000ull

static struct rf_addr kernel_addr;

/* ---- test_close_completes_after_peer_fin -------------------------------------------------- */

/* The peer waits this long after our FIN before it sends more and closes. */
#define CLOSE_PEER_DELAY_NS (1 * NS_PER_S)
#define CLOSE_MIN_NS (CLOSE_PEER_DELAY_NS * 8 / 10)
#define CLOSE_GREETING "hello"

static struct {
	struct rf_listener *ls;
	struct ft_conn c;
	bool accepted;
	uint64_t eof_ns;
} cl;

static void
close_pending(struct ft *t, char *buf, size_t len)
{
	(void)t;
	if (!cl.accepted)
		snprintf(buf, len, "no connection accepted yet");
	else
		ft_conn_describe(&cl.c, buf, len);
}

static void
close_eof(struct ft_conn *c)
{
	cl.eof_ns = rf_now_ns();
	ft_note(c->t, "RF_EOF after %" PRIu64 " bytes, %.3f s after rf_flow_close", c->rx_bytes,
		(double)(cl.eof_ns - c->close_called_ns) / 1e9);
}

static void
close_closed(struct ft_conn *c)
{
	struct ft *t = c->t;
	uint64_t took = c->closed_ns - c->close_called_ns;

	ft_check(t, c->close_status == RF_OK, "close completed %s",
		 ft_status(c->close_status));
	ft_check(t, took >= CLOSE_MIN_NS,
		 "close completed %.3f s after rf_flow_close: before the peer's FIN (it waits %.1f s)",
		 (double)took / 1e9, (double)CLOSE_PEER_DELAY_NS / 1e9);
	ft_check(t, c->eof, "close completed before the read saw the peer's FIN");
	ft_check(t, c->rx_bytes == t->bytes,
		 "read %" PRIu64 " of the %" PRIu64 " bytes the peer sent after our FIN", c->rx_bytes,
		 t->bytes);
	ft_check(t, c->tx_done == strlen(CLOSE_GREETING), "the greeting's write completed %s",
		 ft_status(c->write_err));
	ft_conn_print_sha(c, true, false);
	snprintf(t->summary, sizeof(t->summary),
		 "close completed %s %.3f s after rf_flow_close (peer waited %.1f s); read %" PRIu64
		 " of the %" PRIu64 " bytes the peer sent after our FIN, RF_EOF %s",
		 ft_status(c->close_status), (double)took / 1e9,
		 (double)CLOSE_PEER_DELAY_NS / 1e9, c->rx_bytes, t->bytes,
		 c->eof ? "seen" : "not seen");
	ft_done(t);
}

static void
close_accept(struct rf_listener *ls, struct rf_flow *f, void *arg)
{
	struct ft *t = arg;
	struct ft_conn *c = &cl.c;
	int rc;

	if (!ft_cb_enter("accept callback"))
		return;
	if (cl.accepted) {
		ft_check(t, false, "a second connection was accepted");
		API_VOID(rf_flow_abort(f));
		return;
	}
	cl.accepted = true;
	API_VOID(rf_listener_close(ls));
	ft_conn_init(c, t, f, "flow");
	c->auto_read = true;
	c->on_eof = close_eof;
	c->on_closed = close_closed;
	/* the greeting goes before our FIN: the peer must see it, then EOF */
	rc = ft_conn_write_bytes(c, CLOSE_GREETING, strlen(CLOSE_GREETING));
	if (rc != 0) {
		ft_fatal(t, "rf_flow_write: %s", ft_status(rc));
		return;
	}
	ft_conn_read(c);
	ft_conn_close(c);
}

static int
close_start(struct ft *t)
{
	memset(&cl, 0, sizeof(cl));
	return ft_listen(t, t->port, close_accept, t, &cl.ls);
}

/* ---- test_read_gets_econnreset_on_peer_reset ---------------------------------------------- */

static struct {
	struct ft_conn c;
	bool accepted, signalled;
	int late_write_rc;
} rst;

static void
reset_pending(struct ft *t, char *buf, size_t len)
{
	int n = 0;

	(void)t;
	if (!rst.accepted) {
		snprintf(buf, len, "no connection accepted yet");
		return;
	}
	if (!rst.signalled)
		n = snprintf(buf, len, "waiting for the peer's bytes before signalling it; ");
	else if (rst.c.read_err == 0)
		n = snprintf(buf, len, "waiting for the peer's RST (read pending); ");
	if (n >= 0 && (size_t)n < len)
		ft_conn_describe(&rst.c, buf + n, len - (size_t)n);
}

/* Once the peer's bytes are in: a read pending, then tell the peer to reset. */
static void
reset_data(struct ft_conn *c, struct rf_buf *b)
{
	API(rf_buf_release(b));
	if (c->rx_bytes < c->t->bytes || rst.signalled)
		return;
	rst.signalled = true;
	ft_conn_read(c);
	if (ft_conn_write_bytes(c, "R", 1) != 0)
		ft_fatal(c->t, "writing the signal byte failed");
}

static void
reset_closed(struct ft_conn *c)
{
	struct ft *t = c->t;

	ft_check(t, c->close_status == RF_ECONNRESET, "close after the reset completed %s, expected %s",
		 ft_status(c->close_status), ft_status(RF_ECONNRESET));
	snprintf(t->summary, sizeof(t->summary),
		 "pending read got %s; a later write returned %d and completed RF_EOF; close %s",
		 ft_status(c->read_err), rst.late_write_rc, ft_status(c->close_status));
	ft_done(t);
}

static void
reset_read_err(struct ft_conn *c)
{
	struct ft *t = c->t;

	ft_check(t, c->read_err == RF_ECONNRESET, "the pending read completed %s, expected %s",
		 ft_status(c->read_err), ft_status(RF_ECONNRESET));
	ft_check(t, rst.signalled, "the read failed before the peer was told to reset");
	/* the connection is gone: a write is accepted and completes RF_EOF */
	c->write_expect = RF_EOF;
	rst.late_write_rc = ft_conn_write_bytes(c, "too late", 8);
	ft_check(t, rst.late_write_rc == 0, "rf_flow_write after the reset returned %s, expected 0",
		 ft_status(rst.late_write_rc));
	ft_conn_close(c);
}

static void
reset_accept(struct rf_listener *ls, struct rf_flow *f, void *arg)
{
	struct ft *t = arg;
	struct ft_conn *c = &rst.c;

	if (!ft_cb_enter("accept callback"))
		return;
	if (rst.accepted) {
		ft_check(t, false, "a second connection was accepted");
		API_VOID(rf_flow_abort(f));
		return;
	}
	rst.accepted = true;
	API_VOID(rf_listener_close(ls));
	ft_conn_init(c, t, f, "flow");
	c->auto_read = true;
	c->on_data = reset_data;
	c->on_read_err = reset_read_err;
	c->on_closed = reset_closed;
	ft_conn_read(c);
}

static int
reset_start(struct ft *t)
{
	struct rf_listener *ls;

	memset(&rst, 0, sizeof(rst));
	return ft_listen(t, t->port, reset_accept, t, &ls);
}

/* ---- test_connect_refused ----------------------------------------------------------------- */

static struct {
	int calls;
	int status;
	struct rf_flow *f;
} ref;

static void
refused_pending(struct ft *t, char *buf, size_t len)
{
	snprintf(buf, len, "the connect to %s:%u has not completed", FT_KERNEL_IP, t->port);
}

static void
refused_connected(struct rf_flow *f, int status, void *arg)
{
	struct ft *t = arg;

	if (!ft_cb_enter("connect callback"))
		return;
	ref.calls++;
	ref.status = status;
	ft_check(t, f == ref.f, "connect callback for another flow");
	ft_check(t, status == RF_ECONNREFUSED, "connect to %s:%u (no listener) completed %s",
		 FT_KERNEL_IP, t->port, ft_status(status));
	snprintf(t->summary, sizeof(t->summary), "connect to %s:%u completed %s; flow freed",
		 FT_KERNEL_IP, t->port, ft_status(status));
	ft_done(t);
}

static void
refused_final(struct ft *t)
{
	ft_check(t, ref.calls == 1, "the connect callback ran %d times", ref.calls);
}

static int
refused_start(struct ft *t)
{
	int rc = ft_kernel_addr(&kernel_addr);

	memset(&ref, 0, sizeof(ref));
	if (rc == 0)
		rc = API(rf_connect(t->l, &kernel_addr, t->port, refused_connected, t, &ref.f));
	return rc;
}
/* ---- test_connect_without_route_fails ---------------------------------------------------- */

/*
 * The stack is 198.18.0.2/24 without a gateway: 198.19.0.1 (inside the test range, outside the
 * subnet) has no route. The connect must fail at once, RF_EHOSTUNREACH, either from rf_connect
 * or from its completion, not after lwIP's SYN retries (nothing can be sent: no ARP target).
 */
#define NOROUTE_IP "198.19.0.1"
#define NOROUTE_PORT 80
#define NOROUTE_WITHIN_NS (1 * NS_PER_S)

static struct {
	struct rf_flow *f;
	int rc, calls, status;
	uint64_t start_ns, done_ns;
} nr;

static void
noroute_pending(struct ft *t, char *buf, size_t len)
{
	(void)t;
	snprintf(buf, len,
		 "rf_connect to %s:%u (no route: off-link, no gateway) returned %s and its "
		 "completion has not run",
		 NOROUTE_IP, NOROUTE_PORT, ft_status(nr.rc));
}

static void
noroute_finish(struct ft *t, const char *how, int status)
{
	uint64_t took = nr.done_ns - nr.start_ns;

	ft_check(t, status == RF_EHOSTUNREACH, "connect to %s (no route) %s %s, expected %s",
		 NOROUTE_IP, how, ft_status(status), ft_status(RF_EHOSTUNREACH));
	ft_check(t, took <= NOROUTE_WITHIN_NS,
		 "connect to %s (no route) took %.3f s to fail (limit %.1f s)", NOROUTE_IP,
		 (double)took / 1e9, (double)NOROUTE_WITHIN_NS / 1e9);
	snprintf(t->summary, sizeof(t->summary), "connect to %s (no route) %s %s after %.3f s",
		 NOROUTE_IP, how, ft_status(status), (double)took / 1e9);
	ft_done(t);
}

static void
noroute_connected(struct rf_flow *f, int status, void *arg)
{
	struct ft *t = arg;

	if (!ft_cb_enter("connect callback"))
		return;
	ft_check(t, f == nr.f, "connect callback for another flow");
	nr.calls++;
	nr.status = status;
	nr.done_ns = rf_now_ns();
	noroute_finish(t, "completed", status);
}

static void
noroute_final(struct ft *t)
{
	ft_check(t, nr.calls == (nr.rc == 0 ? 1 : 0), "rf_connect returned %s and its callback ran %d times",
		 ft_status(nr.rc), nr.calls);
}

static int
noroute_start(struct ft *t)
{
	struct rf_addr a;
	int rc;

	memset(&nr, 0, sizeof(nr));
	rc = API(rf_addr_parse(NOROUTE_IP, &a));
	if (rc != 0)
		return rc;
	nr.start_ns = rf_now_ns();
	nr.rc = API(rf_connect(t->l, &a, NOROUTE_PORT, noroute_connected, t, &nr.f));
	if (nr.rc != 0) {
		nr.done_ns = rf_now_ns();
		noroute_finish(t, "returned", nr.rc);
	}
	return 0;
}

/* ---- test_final_callbacks_refuse_new_requests --------------------------------------------- */

/*
 * "The flow is freed when the callback returns" (rf_close_cb, and rf_connect_cb with an
 * error): a read started inside such a callback cannot complete on a live flow, so it must
 * be refused with an error, and then its callback never runs.
 */
static struct {
	struct ft_conn c;
	bool accepted, close_seen, connect_seen;
	int close_read_rc, connect_read_rc;
	int late_calls;
	struct rf_flow *cf;
} fin;

static void
late_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg)
{
	(void)b; /* not touched: it would belong to a freed flow */
	ft_cb_enter("late read callback");
	fin.late_calls++;
	ft_check(ft_cur(), false,
		 "the read started inside the %s callback completed %s after that callback "
		 "returned, on flow %p, which rawflow had freed by then",
		 (const char *)arg, ft_status(status), (void *)f);
}

static void
final_maybe_done(struct ft *t)
{
	if (fin.close_seen && fin.connect_seen) {
		snprintf(t->summary, sizeof(t->summary),
			 "rf_flow_read inside the close callback returned %s, inside the failed "
			 "connect's callback %s",
			 ft_status(fin.close_read_rc), ft_status(fin.connect_read_rc));
		ft_done(t);
	}
}

static void
final_closed(struct ft_conn *c)
{
	struct ft *t = c->t;

	ft_check(t, c->close_status == RF_OK, "close completed %s",
		 ft_status(c->close_status));
	fin.close_seen = true;
	fin.close_read_rc = API(rf_flow_read(c->f, late_read, "close"));
	ft_check(t, fin.close_read_rc < 0,
		 "rf_flow_read inside the close callback returned %d (%s): the flow is freed when "
		 "the callback returns, so the read must be refused",
		 fin.close_read_rc, ft_status(fin.close_read_rc));
	final_maybe_done(t);
}

static void
final_connected(struct rf_flow *f, int status, void *arg)
{
	struct ft *t = arg;

	if (!ft_cb_enter("connect callback"))
		return;
	ft_check(t, status == RF_ECONNREFUSED, "connect to a closed port completed %s",
		 ft_status(status));
	fin.connect_seen = true;
	if (status == RF_OK) {
		API_VOID(rf_flow_abort(f));
	} else {
		fin.connect_read_rc = API(rf_flow_read(f, late_read, "failed connect's"));
		ft_check(t, fin.connect_read_rc < 0,
			 "rf_flow_read inside the callback of a failed connect returned %d (%s): the "
			 "flow is freed when the callback returns, so the read must be refused",
			 fin.connect_read_rc, ft_status(fin.connect_read_rc));
	}
	final_maybe_done(t);
}

static void
final_accept(struct rf_listener *ls, struct rf_flow *f, void *arg)
{
	struct ft *t = arg;
	struct ft_conn *c = &fin.c;

	if (!ft_cb_enter("accept callback"))
		return;
	if (fin.accepted) {
		ft_check(t, false, "a second connection was accepted");
		API_VOID(rf_flow_abort(f));
		return;
	}
	fin.accepted = true;
	API_VOID(rf_listener_close(ls));
	ft_conn_init(c, t, f, "flow");
	c->auto_read = true;
	c->on_closed = final_closed;
	ft_conn_read(c);
	ft_conn_close(c);
}

static void
final_pending(struct ft *t, char *buf, size_t len)
{
	int n;

	(void)t;
	n = snprintf(buf, len, "connect callback %s; ", fin.connect_seen ? "seen" : "pending");
	if (!fin.accepted)
		snprintf(buf + n, len - (size_t)n, "no connection accepted yet");
	else
		ft_conn_describe(&fin.c, buf + n, len - (size_t)n);
}

static void
final_final(struct ft *t)
{
	ft_check(t, fin.late_calls == 0, "%d read callbacks ran for freed flows", fin.late_calls);
}

static int
final_start(struct ft *t)
{
	struct rf_listener *ls;
	int rc;

	memset(&fin, 0, sizeof(fin));
	rc = ft_kernel_addr(&kernel_addr);
	if (rc == 0)
		rc = API(rf_connect(t->l, &kernel_addr, (uint16_t)(t->port + 1), final_connected, t,
				    &fin.cf));
	if (rc == 0)
		rc = ft_listen(t, t->port, final_accept, t, &ls);
	return rc;
}
const struct ft_scenario ft_lifecycle_scenarios[] = {
	{
		.name = "test_close_completes_after_peer_fin",
		.rule = "close completes only after the peer's FIN; reads work after our FIN",
		.timeout_s = 30,
		.default_bytes = 256 * 1024,
		.start = close_start,
		.pending = close_pending,
	},
	{
		.name = "test_read_gets_econnreset_on_peer_reset",
		.rule = "a peer's RST fails the pending read with RF_ECONNRESET; writes then RF_EOF",
		.timeout_s = 30,
		.default_bytes = 1000,
		.start = reset_start,
		.pending = reset_pending,
	},
	{
		.name = "test_connect_refused",
		.rule = "a connect to a port without listener completes RF_ECONNREFUSED",
		.timeout_s = 30,
		.start = refused_start,
		.pending = refused_pending,
		.final = refused_final,
	},
	{
		.name = "test_connect_without_route_fails",
		.rule = "a connect to an address without a route fails at once with RF_EHOSTUNREACH",
		.timeout_s = 10,
		.start = noroute_start,
		.pending = noroute_pending,
		.final = noroute_final,
	},
	{
		.name = "test_final_callbacks_refuse_new_requests",
		.rule = "no request can start inside a callback after which the flow is freed",
		.timeout_s = 30,
		.start = final_start,
		.pending = final_pending,
		.final = final_final,
	},
	{0},
};
