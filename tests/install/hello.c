/*
 * hello.c: a program built outside rawflow's tree against the installed library, the way a
 * user builds one:
 *
 *   cc hello.c $(pkg-config --cflags --libs rawflow)
 *
 * Without arguments it calls what needs no DPDK (error messages, addresses, the buffer size
 * before a loop exists). With --loop it also starts a loop on the embedded default (a net_tap
 * rf0 in the current network namespace: run it in a namespace of its own, as root), runs a
 * few passes, prints a few counters and destroys it.
 */
#include <stdio.h>
#include <string.h>

#include <rawflow.h>

int
main(int argc, char **argv)
{
	struct rf_addr a;
	char text[64];

	printf("rf_error_message(RF_ECONNRESET): %s\n", rf_error_message(RF_ECONNRESET));
	printf("rf_buf_max() before a loop: %u\n", rf_buf_max());
	if (rf_addr_parse("198.18.0.2", &a) != 0) {
		fprintf(stderr, "hello: rf_addr_parse failed\n");
		return 1;
	}
	printf("rf_addr_format(rf_addr_parse(\"198.18.0.2\")): %s\n",
	       rf_addr_format(&a, text, sizeof(text)));

	if (argc > 1 && strcmp(argv[1], "--loop") == 0) {
		char *args[] = {argv[0], NULL};
		struct rf_loop *loop;
		struct rf_stats st;
		int rc = rf_loop_create(&loop, 1, args, NULL);

		if (rc != 0) {
			fprintf(stderr, "hello: rf_loop_create: %s\n", rf_error_message(rc));
			return 1;
		}
		printf("rf_buf_max() with a loop: %u\n", rf_buf_max());
		for (int i = 0; i < 1000; i++)
			rf_loop_run_once(loop);
		rf_loop_stats(loop, &st);
		printf("after 1000 passes: mbufs_in_use %llu (idle baseline %llu), tx_pkts %llu\n",
		       (unsigned long long)st.mbufs_in_use, (unsigned long long)st.mbufs_idle,
		       (unsigned long long)st.tx_pkts);
		rf_loop_destroy(loop);
		printf("loop destroyed\n");
	}
	return 0;
}
