/*
 * api_example: a complete echo server on rawflow (docs/api.md shows this file verbatim).
 *
 *   api_example [EAL options --] [--port N]
 *
 * Without EAL options it runs on the embedded default: net_tap rf0, 198.18.0.2/24, the
 * kernel side at 198.18.0.1. Each connection gets back what it sent, without a copy: the
 * buffer a read returns is the buffer written back. The next read starts only when the
 * write has completed, so a client that does not read stops being read (backpressure).
 * After the client's FIN the server closes too. Ctrl-C stops the loop.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rawflow.h"

static struct rf_loop *loop;

static void on_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg);

static void
on_closed(struct rf_flow *f, int status, void *arg)
{
	(void)f, (void)arg;
	if (status != RF_OK)
		fprintf(stderr, "echo: connection ended: %s\n", rf_error_message(status));
	/* f is freed when this returns */
}

static void
on_written(struct rf_flow *f, int status, void *arg)
{
	(void)arg;
	if (status != RF_OK) { /* RF_EOF: the peer reset; an error: the connection failed */
		rf_flow_abort(f);
		return;
	}
	/* the buffer is in TCP's send queue: read the next one */
	if (rf_flow_read(f, on_read, NULL) != 0)
		rf_flow_abort(f);
}

static void
on_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg)
{
	(void)arg;
	if (status == RF_OK) {
		/* b is ours; writing it hands it to the stack (no copy, and no release here) */
		if (rf_flow_write(f, b, on_written, NULL) != 0)
			rf_flow_abort(f);
	} else if (status == RF_EOF) {
		/* the client is done sending: send our FIN; on_closed runs after both FINs */
		if (rf_flow_close(f, on_closed, NULL) != 0)
			rf_flow_abort(f);
	} else {
		fprintf(stderr, "echo: read: %s\n", rf_error_message(status));
		rf_flow_abort(f);
	}
}

static void
on_accept(struct rf_listener *ls, struct rf_flow *f, void *arg)
{
	(void)ls, (void)arg;
	if (rf_flow_read(f, on_read, NULL) != 0)
		rf_flow_abort(f);
}

static void
on_signal(int sig)
{
	(void)sig;
	rf_loop_stop(loop); /* the one call that is async-signal-safe */
}

int
main(int argc, char **argv)
{
	struct rf_listener *ls;
	struct rf_stats st;
	long port = 7;
	int rc;

	/* options first, so that --help and mistakes never start DPDK */
	for (int i = rf_args_first(argc, argv); i < argc; i++) {
		if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
			port = strtol(argv[++i], NULL, 10);
		} else {
			fprintf(stderr, "usage: %s [EAL options --] [--port N]\n", argv[0]);
			return strcmp(argv[i], "--help") == 0 ? 0 : 2;
		}
	}
	if (port < 1 || port > 65535) {
		fprintf(stderr, "%s: --port wants 1..65535\n", argv[0]);
		return 2;
	}

	rc = rf_loop_create(&loop, argc, argv, NULL);
	if (rc != 0)
		return 1; /* rf_loop_create printed the cause */
	rc = rf_listen(loop, NULL, (uint16_t)port, on_accept, NULL, &ls);
	if (rc != 0) {
		fprintf(stderr, "%s: listen on port %ld: %s\n", argv[0], port, rf_error_message(rc));
		rf_loop_destroy(loop);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("echo server on port %ld; Ctrl-C stops it\n", port);
	rf_loop_run(loop);

	rf_loop_stats(loop, &st);
	printf("%llu flows, %llu bytes echoed, %llu copied\n", (unsigned long long)st.flows_opened,
	       (unsigned long long)st.tx_payload_bytes, (unsigned long long)st.tx_copied_bytes);
	rf_listener_close(ls);
	rf_loop_destroy(loop); /* aborts the connections still open */
	return 0;
}
