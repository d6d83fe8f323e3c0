/*
 * load.h: what the files of rf-load share: load.c (the loop's hooks, start-up, main),
 * load_conn.c (a slot's connections and requests) and load_options.c (its options). load.c's
 * top comment describes the design.
 */
#ifndef RF_APPS_LOAD_H
#define RF_APPS_LOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"
#include "histogram.h"

#define LOAD_PORT 7 /* the echo service's, for --to without a port */
/* Local ports lwIP has per server address and port (0xc000..0xfffe; stack/patches/0010). */
#define LOAD_PORTS_PER_TARGET 16383u
/* --ports: server ports at most, and so connections at most */
#define LOAD_MAX_PORTS 64
#define LOAD_MAX_CONNS (LOAD_PORTS_PER_TARGET * LOAD_MAX_PORTS)
/* Connects in progress at most while the slots open: a burst of SYNs beyond a listen backlog
 * (rawflow's: 255) is answered with SYN cookies or dropped, and frames beyond the device's TX
 * queue are dropped and wait out a 3 s SYN retransmission. */
#define LOAD_CONNECTING_MAX 128
/* Each request in flight is 8 bytes of timestamp; conns x depth of them are allocated. */
#define LOAD_MAX_DEPTH 1024
/* The message is pre-built from packet buffers of rf_buf_max() bytes (a page less headroom):
 * 1 MiB takes a few hundred of the pool's buffers. */
#define LOAD_MAX_SIZE (1u << 20)
#define LOAD_MAX_RATE 100000000ull
/* Default --depth with --rate: room for bursts of a schedule that fell behind. */
#define LOAD_RATE_DEPTH 64
/* A slot whose flow failed waits this long before connecting again: a refusing server is not
 * hammered in a tight loop. */
#define LOAD_RETRY_NS (100ull * 1000 * 1000)
/* Scheduled sends per loop pass at most (--rate), so a schedule that fell far behind catches
 * up without starving the loop's other phases. */
#define LOAD_SENDS_PER_PASS 256
#define NS_PER_S 1000000000.0

enum conn_state {
	CONN_IDLE,       /* no flow */
	CONN_CONNECTING,
	CONN_OPEN,
	CONN_ENDING,     /* closed or aborted; waits for its callbacks */
};

struct conn {
	struct load *ld;
	struct rf_flow *flow;
	uint64_t *t0_ns;        /* ring of --depth: start of each request in flight, oldest first */
	unsigned int head;      /* the oldest request in t0_ns */
	unsigned int inflight;
	uint64_t rx_partial;    /* bytes of the oldest request's response received so far */
	unsigned int callbacks; /* connect, read and close callbacks still due */
	uint64_t retry_ns;      /* idle after a failure: connect again from then */
	enum conn_state state;
	bool failed;            /* the flow ended in an error: retry after LOAD_RETRY_NS */
	bool initial;           /* one of the first connects (--rate waits for them) */
	bool held;              /* --once: its request was answered; the flow stays open */
};

struct load {
	/* options */
	struct rf_addr to;
	const char *to_text;
	uint16_t to_port;       /* 0: --port */
	uint64_t conns, size, depth, requests_max, rate, nports;
	uint64_t idle;          /* --idle: idle slots, before the --conns ones */
	uint64_t nslots;        /* idle + conns */
	bool to_set, depth_set, short_flows, json, once;

	struct rf_app *app;
	struct conn *conn;
	uint64_t *rings;
	struct rf_buf **msg;    /* the pre-built message, nmsg buffers */
	struct rf_buf **refs;   /* scratch: new references to msg for one write */
	unsigned int nmsg;

	/* counts */
	uint64_t issued, completed, lost;
	uint64_t connections;   /* flows established */
	uint64_t connect_errors, resets, other_errors;
	uint64_t start_ns, end_ns; /* the measured span */
	uint64_t next_start;    /* the next slot to start at the beginning (the first one's connect
				   resolved: open_the_rest()) */
	unsigned int connecting; /* connects in progress */
	uint64_t held, held_max; /* --once: connections answered and open (now, at most) */
	bool first_up;          /* a connection was established */
	bool stopping;          /* no new work: the run is over */

	/* --rate */
	double interval_ns;
	uint64_t rate_start_ns, scheduled, next_send_ns;
	unsigned int rr;        /* next slot to try */
	unsigned int initial_pending; /* first connects not resolved yet */
	bool room;              /* some slot may take a request (false after a full search) */

	/* slots waiting to reconnect */
	unsigned int retrying;
	uint64_t next_retry_ns;

	struct rf_hist all;     /* every latency of the run */
	struct rf_hist last;    /* since the last status line */
};


/* load_conn.c */
bool may_issue(const struct load *ld);
void conn_idle(struct conn *c, uint64_t now);
void conn_abort(struct conn *c);
void conn_close(struct conn *c);
int conn_request(struct conn *c, uint64_t t0);
void open_the_rest(struct load *ld, uint64_t now);
void conn_start(struct conn *c, uint64_t t0);

/* load_options.c */
void check_options(struct load *ld, struct rf_app *app);
extern const struct rf_app_option load_options[];

#endif /* RF_APPS_LOAD_H */
