/*
 * exhaust_connect: the application's view of running out (suite exhaust, issue 8), through
 * rawflow.h alone. On the embedded default (net_tap rf0) with a packet pool of 2048 elements
 * and --max-flows 2, against tests/exhaust/exhaust.py server on the kernel's side
 * (198.18.0.1:PORT: the first connection gets a stream of data, later ones are echoed):
 *
 *   1. connects and reads the stream, holding every buffer it reads: the pool runs low
 *      (rx_pool_low_dropped counts the stream's data dropped since);
 *   2. rf_connect() now fails with RF_ENOBUFS, sending nothing;
 *   3. releases what it held and keeps reading: within 10 s rf_connect() succeeds again, and
 *      the new connection echoes 1000 bytes;
 *   4. with two flows open, a third rf_connect() fails with RF_ENOMEM (--max-flows);
 *   5. aborts both; every packet buffer comes back and no flow is left.
 *
 * Prints "ok: ..." per step and "PASS" or "FAIL: ..." last; exit 0 only on PASS. Bounded: 40 s.
 *
 *   exhaust_connect PORT
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rawflow.h"

#define POOL 2048 /* 1,023 go to the RX ring; one 2 MiB window is more than the rest */
#define HOLD_MAX 8192 /* buffers held at most (the pool is smaller) */
#define ECHO_BYTES 1000
#define LIMIT_NS (40ull * 1000000000)
#define RECOVER_NS (10ull * 1000000000)

enum step { HOLDING, RECOVERING, ECHOING, FINISHING, DONE };

struct test {
	struct rf_loop *l;
	struct rf_addr peer;
	uint16_t port;
	enum step step;
	struct rf_flow *stream, *echo;
	struct rf_buf *held[HOLD_MAX];
	unsigned int nheld;
	bool holding;
	uint64_t start_ns, released_ns, done_ns;
	uint32_t echoed;
	const char *fail;
	char why[200];
};

static void
fail(struct test *t, const char *what, int rc)
{
	if (t->fail == NULL) {
		snprintf(t->why, sizeof(t->why), "%s (%s)", what, rf_error_message(rc));
		t->fail = t->why;
	}
	t->step = DONE;
	rf_loop_stop(t->l);
}

static void on_stream_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg);

static void
read_more(struct test *t, struct rf_flow *f, rf_read_cb *cb)
{
	int rc = rf_flow_read(f, cb, t);

	if (rc != 0)
		fail(t, "rf_flow_read", rc);
}

static void
on_stream_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg)
{
	struct test *t = arg;

	if (status != RF_OK) {
		if (t->step != DONE && t->step != FINISHING)
			fail(t, "the stream ended early", status);
		return;
	}
	if (t->holding && t->nheld < HOLD_MAX)
		t->held[t->nheld++] = b;
	else
		rf_buf_release(b);
	read_more(t, f, on_stream_read);
}

static void
on_stream_connected(struct rf_flow *f, int status, void *arg)
{
	struct test *t = arg;

	if (status != RF_OK) {
		fail(t, "the stream's connect", status);
		return;
	}
	read_more(t, f, on_stream_read);
}

static void
on_echo_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg)
{
	struct test *t = arg;

	if (status != RF_OK) {
		fail(t, "the echo ended early", status);
		return;
	}
	for (uint32_t i = 0; i < b->len; i++)
		if (b->data[i] != (uint8_t)(t->echoed + i)) {
			rf_buf_release(b);
			fail(t, "the echo came back different", 0);
			return;
		}
	t->echoed += b->len;
	rf_buf_release(b);
	if (t->echoed < ECHO_BYTES) {
		read_more(t, f, on_echo_read);
		return;
	}
	printf("ok: the new connection echoed %u bytes\n", t->echoed);
	t->step = FINISHING;
}

static void
on_echo_connected(struct rf_flow *f, int status, void *arg)
{
	struct test *t = arg;
	struct rf_buf *b;
	int rc;

	if (status != RF_OK) {
		fail(t, "the new connection's connect", status);
		return;
	}
	printf("ok: rf_connect succeeded %.2f s after the buffers were released\n",
	       (double)(rf_now_ns() - t->released_ns) / 1e9);
	b = rf_buf_alloc(t->l, ECHO_BYTES);
	if (b == NULL) {
		fail(t, "rf_buf_alloc after recovery", RF_ENOBUFS);
		return;
	}
	for (uint32_t i = 0; i < ECHO_BYTES; i++)
		b->data[i] = (uint8_t)i;
	rc = rf_flow_write(f, b, NULL, NULL);
	if (rc != 0) {
		fail(t, "rf_flow_write", rc);
		return;
	}
	read_more(t, f, on_echo_read);
}

static void
on_poll(struct rf_loop *l, void *arg)
{
	struct test *t = arg;
	uint64_t now = rf_loop_now_ns(l);
	struct rf_stats st;
	struct rf_flow *f;
	int rc;

	rf_loop_stats(l, &st);
	if (now - t->start_ns > LIMIT_NS) {
		snprintf(t->why, sizeof(t->why), "time limit reached in step %d (%u buffers held, %"
			 PRIu64 " in use, rx_pool_low_dropped %" PRIu64 ")", (int)t->step, t->nheld,
			 st.mbufs_in_use, st.rx_pool_low_dropped);
		t->fail = t->why;
		t->step = DONE;
		rf_loop_stop(l);
		return;
	}
	switch (t->step) {
	case HOLDING: /* until the stack drops the stream's data for want of buffers */
		if (st.rx_pool_low_dropped == 0)
			return;
		rc = rf_connect(l, &t->peer, t->port, on_echo_connected, t, &f);
		if (rc != RF_ENOBUFS) {
			fail(t, "rf_connect while the pool is low returned another status", rc);
			return;
		}
		printf("ok: pool low (%" PRIu64 " of %u in use, %u held by us, rx_pool_low_dropped "
		       "%" PRIu64 "): rf_connect returned RF_ENOBUFS\n",
		       st.mbufs_in_use, POOL, t->nheld, st.rx_pool_low_dropped);
		for (unsigned int i = 0; i < t->nheld; i++)
			rf_buf_release(t->held[i]);
		t->nheld = 0;
		t->holding = false;
		t->released_ns = now;
		t->step = RECOVERING;
		return;
	case RECOVERING: /* a connect a pass, until one is accepted */
		if (now - t->released_ns > RECOVER_NS) {
			fail(t, "rf_connect still failed 10 s after the buffers were released", 0);
			return;
		}
		rc = rf_connect(l, &t->peer, t->port, on_echo_connected, t, &t->echo);
		if (rc == RF_ENOBUFS)
			return;
		if (rc != 0) {
			fail(t, "rf_connect after the release", rc);
			return;
		}
		t->step = ECHOING;
		return;
	case ECHOING:
		return;
	case FINISHING: /* two flows open: the third is over --max-flows */
		if (t->done_ns == 0) {
			rc = rf_connect(l, &t->peer, t->port, on_echo_connected, t, &f);
			if (rc != RF_ENOMEM) {
				fail(t, "a third rf_connect with --max-flows 2 returned another status",
				     rc);
				return;
			}
			printf("ok: a third rf_connect with --max-flows 2 returned RF_ENOMEM\n");
			rf_flow_abort(t->stream);
			rf_flow_abort(t->echo);
			t->done_ns = now;
			return;
		}
		if (now - t->done_ns < 500000000ull) /* RSTs out, completions run */
			return;
		if (st.flows_open != 0 || st.mbufs_in_use > st.mbufs_idle) {
			snprintf(t->why, sizeof(t->why), "after the aborts: flows_open %" PRIu64
				 ", mbufs_in_use %" PRIu64 " > mbufs_idle %" PRIu64, st.flows_open,
				 st.mbufs_in_use, st.mbufs_idle);
			t->fail = t->why;
		} else {
			printf("ok: no flow open, every buffer back (%" PRIu64 " in use, idle %" PRIu64
			       "), alloc_failures %" PRIu64 "\n", st.mbufs_in_use, st.mbufs_idle,
			       st.alloc_failures);
		}
		t->step = DONE;
		rf_loop_stop(l);
		return;
	case DONE:
		return;
	}
}

int
main(int argc, char **argv)
{
	static struct test t;
	char *loop_argv[] = {argv[0], NULL};
	struct rf_config cfg = {.mbufs = POOL, .max_flows = 2};
	long port = argc == 2 ? strtol(argv[1], NULL, 10) : 0;
	int rc;

	if (argc != 2 || port < 1 || port > 65535) {
		fprintf(argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr,
			"usage: %s PORT\n(see tests/exhaust/connect.c)\n", argv[0]);
		return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
	}
	t.port = (uint16_t)port;
	if (rf_addr_parse("198.18.0.1", &t.peer) != 0)
		return 2;
	rc = rf_loop_create(&t.l, 1, loop_argv, &cfg);
	if (rc != 0) {
		printf("FAIL: rf_loop_create: %s\n", rf_error_message(rc));
		return 1;
	}
	t.start_ns = rf_now_ns();
	t.holding = true;
	rf_loop_set_poll(t.l, on_poll, &t);
	rc = rf_connect(t.l, &t.peer, t.port, on_stream_connected, &t, &t.stream);
	if (rc != 0)
		fail(&t, "the stream's rf_connect", rc);
	else
		rf_loop_run(t.l);
	for (unsigned int i = 0; i < t.nheld; i++)
		rf_buf_release(t.held[i]);
	rf_loop_destroy(t.l);
	if (t.fail != NULL) {
		printf("FAIL: %s\n", t.fail);
		return 1;
	}
	printf("PASS\n");
	return 0;
}
