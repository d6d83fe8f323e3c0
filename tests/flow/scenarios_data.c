/*
 * Scenarios that move bulk data and compare digests with the kernel peer:
 *
 *   test_read_returns_data_then_eof      server; the peer sends, half-closes; we read to EOF
 *   test_write_delivers_64mib_to_kernel  server; we write a pattern, the peer hashes it
 *   test_client_role_echo_64mib          client; the peer echoes what we send
 *   test_slow_reader_holds_peer_back     server; we read nothing for 2 s, then everything
 *   test_odd_length_writes_reach_kernel  server; like the 64 MiB write, 1 MiB of buffers of odd
 *                                        lengths only (several share each TCP segment)
 *
 * Each prints "sha256 rx|tx <hex> <bytes>" lines; run.sh compares them with the peer's.
 */
#include <inttypes.h>
#include <string.h>

#include "flowtest.h"

#define NS_PER_S 1000000000ull

/* The server scenarios here take one connection. */
struct one_conn {
	struct rf_listener *ls;
	struct ft_conn c;
	bool accepted;
	/* slow reader */
	uint64_t accept_ns;
	bool stall_over;
	uint64_t max_held, stall_rx_payload;
};

static struct one_conn one;

static void
pending_one(struct ft *t, char *buf, size_t len)
{
	(void)t;
	if (!one.accepted)
		snprintf(buf, len, "no connection accepted yet");
	else
		ft_conn_describe(&one.c, buf, len);
}

/* Accepts the first connection and closes the listener; a second one is a test error. */
static struct ft_conn *
accept_one(struct ft *t, struct rf_listener *ls, struct rf_flow *f)
{
	if (one.accepted) {
		ft_check(t, false, "a second connection was accepted");
		API_VOID(rf_flow_abort(f));
		return NULL;
	}
	one.accepted = true;
	API_VOID(rf_listener_close(ls));
	one.ls = NULL;
	ft_conn_init(&one.c, t, f, "flow");
	return &one.c;
}

static int
listen_one(struct ft *t, rf_accept_cb *cb)
{
	memset(&one, 0, sizeof(one));
	return ft_listen(t, t->port, cb, t, &one.ls);
}

static void
close_on_eof(struct ft_conn *c)
{
	ft_conn_close(c);
}

static void
unexpected_data(struct ft_conn *c, struct rf_buf *b)
{
	ft_check(c->t, false, "%s: the peer sent %u bytes; it should send nothing", c->name,
		 b->len);
	API(rf_buf_release(b));
}

/* ---- test_read_returns_data_then_eof ------------------------------------------------------ */

static void
read_eof_closed(struct ft_conn *c)
{
	struct ft *t = c->t;

	ft_check(t, c->close_status == RF_OK, "close completed %s",
		 ft_status(c->close_status));
	ft_check(t, c->eof, "close completed before the read saw RF_EOF");
	ft_check(t, c->rx_bytes == t->bytes, "read %" PRIu64 " bytes, the peer sent %" PRIu64,
		 c->rx_bytes, t->bytes);
	ft_conn_print_sha(c, true, false);
	snprintf(t->summary, sizeof(t->summary),
		 "read %" PRIu64 " bytes in %" PRIu64 " reads, then RF_EOF; close completed %s",
		 c->rx_bytes, c->reads_done, ft_status(c->close_status));
	ft_done(t);
}

static void
read_eof_accept(struct rf_listener *ls, struct rf_flow *f, void *arg)
{
	struct ft_conn *c;

	if (!ft_cb_enter("accept callback"))
		return;
	c = accept_one(arg, ls, f);
	if (c == NULL)
		return;
	c->auto_read = true;
	c->on_eof = close_on_eof;
	c->on_closed = read_eof_closed;
	ft_conn_read(c);
}

static int
read_eof_start(struct ft *t)
{
	return listen_one(t, read_eof_accept);
}

/* ---- test_write_delivers_64mib_to_kernel -------------------------------------------------- */

static void
write_closed(struct ft_conn *c)
{
	struct ft *t = c->t;

	ft_check(t, c->close_status == RF_OK, "close completed %s",
		 ft_status(c->close_status));
	ft_check(t, c->tx_done == t->bytes,
		 "writes completed RF_OK for %" PRIu64 " of %" PRIu64 " bytes", c->tx_done, t->bytes);
	ft_check(t, c->eof, "close completed before the read saw the peer's RF_EOF");
	ft_conn_print_sha(c, false, true);
	snprintf(t->summary, sizeof(t->summary),
		 "%" PRIu64 " bytes in %" PRIu64 " writes, all RF_OK in order; close %s",
		 c->tx_done, c->writes_done, ft_status(c->close_status));
	ft_done(t);
}

/* Accepts, then writes t->bytes of the pattern and closes; odd: buffers of odd lengths. */
static void
accept_and_write(struct rf_listener *ls, struct rf_flow *f, void *arg, bool odd)
{
	struct ft_conn *c;

	if (!ft_cb_enter("accept callback"))
		return;
	c = accept_one(arg, ls, f);
	if (c == NULL)
		return;
	c->auto_read = true;
	c->on_data = unexpected_data;
	c->on_closed = write_closed;
	c->tx_target = c->t->bytes;
	c->close_when_written = true;
	c->odd_sizes = odd;
	ft_conn_read(c); /* sees the peer's FIN */
	ft_conn_pump(c);
}

static void
write_accept(struct rf_listener *ls, struct rf_flow *f, void *arg)
{
	accept_and_write(ls, f, arg, false);
}

static int
write_start(struct ft *t)
{
	return listen_one(t, write_accept);
}

static void
odd_accept(struct rf_listener *ls, struct rf_flow *f, void *arg)
{
	accept_and_write(ls, f, arg, true);
}

static int
odd_start(struct ft *t)
{
	return listen_one(t, odd_accept);
}

/* Received data is never copied (each segment's mbuf is the buffer a read returns). Sent
 * data may be, where the device lacks a capability (net_tap: chains with an odd-length piece
 * are copied, its checksum offload sums them wrong): counted, reported, not a failure. */
static void
copies(struct ft *t)
{
	struct rf_stats st;
	size_t n = strlen(t->summary);

	rf_loop_stats(t->l, &st);
	ft_check(t, st.rx_copied_bytes == 0, "received payload copied: rx_copied_bytes %" PRIu64,
		 st.rx_copied_bytes);
	ft_check(t, st.tx_copied_bytes <= st.tx_payload_bytes,
		 "tx_copied_bytes %" PRIu64 " > tx_payload_bytes %" PRIu64, st.tx_copied_bytes,
		 st.tx_payload_bytes);
	snprintf(t->summary + n, sizeof(t->summary) - n,
		 "; copied rx %" PRIu64 " B, tx %" PRIu64 " of %" PRIu64 " B", st.rx_copied_bytes,
		 st.tx_copied_bytes, st.tx_payload_bytes);
}

/* ---- test_client_role_echo_64mib ---------------------------------------------------------- */

static void
echo_closed(struct ft_conn *c)
{
	struct ft *t = c->t;

	ft_check(t, c->close_status == RF_OK, "close completed %s",
		 ft_status(c->close_status));
	ft_check(t, c->eof, "close completed before the read saw RF_EOF");
	ft_check(t, c->tx_done == t->bytes, "writes completed RF_OK for %" PRIu64 " of %" PRIu64,
		 c->tx_done, t->bytes);
	ft_check(t, c->rx_bytes == t->bytes, "read back %" PRIu64 " of %" PRIu64 " bytes",
		 c->rx_bytes, t->bytes);
	ft_conn_digests(c);
	ft_check(t, strcmp(c->rx_hex, c->tx_hex) == 0,
		 "what came back (sha256 %.16s...) differs from what was sent (%.16s...)", c->rx_hex,
		 c->tx_hex);
	ft_conn_print_sha(c, true, true);
	snprintf(t->summary, sizeof(t->summary),
		 "sent %" PRIu64 " bytes in %" PRIu64 " writes and read %" PRIu64
		 " bytes back in %" PRIu64 " reads; close %s",
		 c->tx_done, c->writes_done, c->rx_bytes, c->reads_done,
		 ft_status(c->close_status));
	ft_done(t);
}

static void
echo_connected(struct rf_flow *f, int status, void *arg)
{
	struct ft_conn *c = arg;

	if (!ft_cb_enter("connect callback"))
		return;
	ft_check(c->t, f == c->f, "connect callback for another flow");
	if (status != RF_OK) {
		ft_fatal(c->t, "connect to %s:%u: %s", FT_KERNEL_IP, c->t->port,
			 ft_status(status));
		return;
	}
	ft_note(c->t, "connected to %s:%u", FT_KERNEL_IP, c->t->port);
	c->auto_read = true;
	c->on_closed = echo_closed;
	c->tx_target = c->t->bytes;
	c->close_when_written = true;
	ft_conn_read(c);
	ft_conn_pump(c);
}

static int
echo_start(struct ft *t)
{
	struct rf_addr a;
	struct rf_flow *f;
	int rc;

	memset(&one, 0, sizeof(one));
	rc = API(rf_addr_parse(FT_KERNEL_IP, &a));
	if (rc != 0)
		return rc;
	rc = API(rf_connect(t->l, &a, t->port, echo_connected, &one.c, &f));
	if (rc != 0)
		return rc;
	one.accepted = true;
	ft_conn_init(&one.c, t, f, "flow");
	return 0;
}

/* ---- test_slow_reader_holds_peer_back ----------------------------------------------------- */

#define SLOW_STALL_NS (2 * NS_PER_S)
/* Held segments: the receive window's worth, plus slack for rounding and the RX path. */
#define SLOW_MAX_HELD (FT_RCV_WND / FT_MSS + 64)

static void
slow_closed(struct ft_conn *c)
{
	struct ft *t = c->t;

	ft_check(t, c->close_status == RF_OK, "close completed %s",
		 ft_status(c->close_status));
	ft_check(t, c->rx_bytes == t->bytes, "read %" PRIu64 " bytes, the peer sent %" PRIu64,
		 c->rx_bytes, t->bytes);
	ft_conn_print_sha(c, true, false);
	snprintf(t->summary, sizeof(t->summary),
		 "during the 2 s stall at most %" PRIu64 " segments held (limit %u) and %" PRIu64
		 " bytes received (window %u); then read all %" PRIu64 " bytes",
		 one.max_held, SLOW_MAX_HELD, one.stall_rx_payload, FT_RCV_WND, c->rx_bytes);
	ft_done(t);
}

static void
slow_accept(struct rf_listener *ls, struct rf_flow *f, void *arg)
{
	struct ft_conn *c;

	if (!ft_cb_enter("accept callback"))
		return;
	c = accept_one(arg, ls, f);
	if (c == NULL)
		return;
	one.accept_ns = rf_now_ns();
	c->auto_read = true;
	c->on_eof = close_on_eof;
	c->on_closed = slow_closed;
	ft_note(c->t, "accepted; reading nothing for %.1f s", (double)SLOW_STALL_NS / NS_PER_S);
}

/* During the stall: how many packet buffers the unread data holds. After it: read. */
static void
slow_poll(struct ft *t)
{
	struct rf_stats st;

	if (!one.accepted || one.stall_over)
		return;
	rf_loop_stats(t->l, &st);
	if (st.mbufs_in_use > st.mbufs_idle && st.mbufs_in_use - st.mbufs_idle > one.max_held)
		one.max_held = st.mbufs_in_use - st.mbufs_idle;
	if (rf_now_ns() - one.accept_ns < SLOW_STALL_NS)
		return;
	one.stall_over = true;
	one.stall_rx_payload = st.rx_payload_bytes;
	ft_note(t, "stall over: %" PRIu64 " bytes arrived, at most %" PRIu64 " segments held",
		st.rx_payload_bytes, one.max_held);
	ft_check(t, one.max_held <= SLOW_MAX_HELD,
		 "unread data held %" PRIu64 " packet buffers (limit %u: a %u-byte window)",
		 one.max_held, SLOW_MAX_HELD, FT_RCV_WND);
	ft_check(t, st.rx_payload_bytes <= FT_RCV_WND + 16 * FT_MSS,
		 "%" PRIu64 " bytes arrived while nothing was read: more than the %u-byte window",
		 st.rx_payload_bytes, FT_RCV_WND);
	/* otherwise the peer was too slow for the test to show anything */
	ft_check(t, st.rx_payload_bytes >= FT_RCV_WND / 2,
		 "only %" PRIu64 " bytes arrived in 2 s: the window was never filled",
		 st.rx_payload_bytes);
	ft_conn_read(&one.c);
}

static int
slow_start(struct ft *t)
{
	return listen_one(t, slow_accept);
}

const struct ft_scenario ft_data_scenarios[] = {
	{
		.name = "test_read_returns_data_then_eof",
		.rule = "reads return the peer's bytes in order, then RF_EOF; then close completes",
		.timeout_s = 80,
		.default_bytes = 64ull * FT_MIB,
		.start = read_eof_start,
		.pending = pending_one,
		.final = copies,
	},
	{
		.name = "test_write_delivers_64mib_to_kernel",
		.rule = "writes and writevs deliver every byte in order, completing RF_OK in order",
		.timeout_s = 80,
		.default_bytes = 64ull * FT_MIB,
		.start = write_start,
		.pending = pending_one,
		.final = copies,
	},
	{
		.name = "test_client_role_echo_64mib",
		.rule = "a connected flow sends and receives 64 MiB through a kernel echo server",
		.timeout_s = 80,
		.default_bytes = 64ull * FT_MIB,
		.start = echo_start,
		.pending = pending_one,
		.final = copies,
	},
	{
		.name = "test_slow_reader_holds_peer_back",
		.rule = "unread data keeps the receive window shut; reading reopens it",
		.timeout_s = 80,
		.default_bytes = 64ull * FT_MIB,
		.start = slow_start,
		.poll = slow_poll,
		.pending = pending_one,
		.final = copies,
	},
	{
		.name = "test_odd_length_writes_reach_kernel",
		.rule = "buffers of odd lengths, several per TCP segment, reach the peer intact",
		.timeout_s = 20,
		.default_bytes = 1 * FT_MIB,
		.start = odd_start,
		.pending = pending_one,
		.final = copies,
	},
	{0},
};
