/*
 * iperf.h: what the files of rf-iperf share: iperf.c (the program: options, loop hooks,
 * main), iperf_test.c (a test's life, shared by both roles), iperf_server.c and
 * iperf_client.c (each role's steps); iperf_proto.c has the protocol and connections.
 * iperf.c's top comment describes the design.
 */
#ifndef RF_APPS_IPERF_H
#define RF_APPS_IPERF_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "common.h"
#include "iperf_proto.h"

#define NS_PER_S 1000000000ull
/* Longest wait for the peer's next step of the setup or the end of a test. */
#define SETUP_TIMEOUT_NS (10 * NS_PER_S)
/* A server test that runs this long past its announced end is dropped (client gone). */
#define RUN_GRACE_NS (10 * NS_PER_S)
/* Closing connections are reset if the peer has not closed by then. */
#define LINGER_NS (5 * NS_PER_S)
/* How often lingering connections are checked. */
#define HOUSEKEEPING_NS (100ull * 1000 * 1000)
#define DEFAULT_TIME_S 10
#define DEFAULT_LEN (128u * 1024)

enum phase { PH_CONNECTING, PH_PARAMS, PH_STREAMS, PH_RUNNING, PH_ENDING, PH_RESULTS,
	     PH_DISPLAY, PH_DONE };

struct iperf;

struct test {
	struct iperf *ipf;
	bool client;        /* our role in it */
	unsigned int num;   /* 1, 2, ... for messages */
	char cookie[IPF_COOKIE_SIZE];
	char peer[64];      /* "198.18.0.1:40506" */
	struct ipf_params params;
	struct ipf_conn *ctrl;
	struct ipf_conn *streams[2 * IPF_MAX_STREAMS];
	unsigned int nstreams, want_streams;
	unsigned int refs;  /* connection records that point here */
	enum phase phase;
	uint64_t deadline_ns; /* of the phase; 0: none */
	uint64_t start_ns, omit_end_ns, stop_ns, end_ns;
	struct ipf_cpu cpu0, cpu1;
	uint64_t retx0, retx1;
	bool omit_pending;
	struct ipf_results mine, theirs;
	bool have_theirs;
	bool finished, ok;
	char why[160];
};

struct iperf {
	struct rf_app *app;
	struct ipf_totals totals;
	struct ipf_blocks blocks;
	TAILQ_HEAD(, ipf_conn) conns; /* every connection record */
	struct rf_listener *listener;
	struct test *test;            /* the test being run, NULL when idle */
	uint64_t next_housekeeping_ns;
	/* client mode (--client) */
	const char *client_host;
	struct rf_endpoint server;
	struct ipf_params want;
	bool want_set;                /* a client-only option was given */
	/* counters */
	uint64_t tests, tests_failed, denied;
	struct ipf_totals status_last;
	json_t *last_test;            /* the stats file's summary of the latest test */
};


/* Sums of one direction: bytes and seconds as the sender and the receiver measured them. */
struct dir_sum {
	uint64_t sent, received;
	double sent_s, received_s;
	int64_t retransmits;
	unsigned int streams;
};

/* iperf_test.c */
bool we_send(const struct test *t, unsigned int k);
void set_phase(struct test *t, enum phase p, uint64_t timeout_ns);
void test_adopt(struct test *t, struct ipf_conn *c, const struct ipf_conn_ops *ops);
void test_conn_freed(struct ipf_conn *c);
void test_begin_measuring(struct test *t);
void test_stop_measuring(struct test *t);
void test_close_streams(struct test *t, bool reset);
double gbps(uint64_t bytes, double s);
const struct ipf_stream_result *find_result(const struct ipf_results *r, int id);
struct dir_sum test_direction(const struct test *t, bool ours);
void test_finish(struct test *t, bool ok, bool reset_ctrl);
void __attribute__((format(printf, 3, 4)))
test_fail(struct test *t, bool reset_ctrl, const char *fmt, ...);
const char *phase_name(enum phase p);
void test_poll(struct test *t, uint64_t now);
void ctrl_end(struct ipf_conn *c, int status);
void stream_end(struct ipf_conn *c, int status);
/* a data stream's callbacks, either role */
extern const struct ipf_conn_ops stream_ops;

/* iperf_server.c */
void on_accept(struct rf_listener *ls, struct rf_flow *f, void *arg);
/* a connection accepted but not yet known as a test's control or stream connection */
extern const struct ipf_conn_ops pending_ops;

/* iperf_client.c */
void cli_begin(struct iperf *ipf);

#endif /* RF_APPS_IPERF_H */
