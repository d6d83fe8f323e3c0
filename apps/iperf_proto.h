/*
 * iperf_proto.h: the iperf3 protocol on rawflow, shared by rf-iperf's server and client.
 *
 * An iperf3 test is one control connection and N data streams, all TCP to the same port:
 *
 *   client                                   server
 *   connect, cookie (36 chars + NUL)   ->
 *                                      <-    PARAM_EXCHANGE
 *   parameters (framed JSON)           ->
 *                                      <-    CREATE_STREAMS
 *   N connections, each: cookie        ->    (the k-th accepted stream gets id 1, 3, 4, 5...)
 *                                      <-    TEST_START, TEST_RUNNING
 *   ... data on the streams, one way or both (--reverse, --bidir) ...
 *   TEST_END                           ->    (the server stops and closes its streams)
 *                                      <-    EXCHANGE_RESULTS
 *   its results (framed JSON)          ->
 *                                      <-    the server's results (framed JSON)
 *                                      <-    DISPLAY_RESULTS
 *   IPERF_DONE                         ->
 *
 * A state is one signed byte; a JSON message is a 4-byte big-endian length and that many bytes
 * of JSON text. A server busy with another test answers a new control connection's cookie with
 * ACCESS_DENIED; SERVER_ERROR is followed by two 4-byte big-endian numbers (iperf3's error code
 * and an errno).
 *
 * This module has three parts:
 *   - struct ipf_conn: one connection of a test. The control connection and a stream's cookie
 *     are read into a small byte buffer that the owner parses (ipf_conn_take*); a data stream
 *     is counted and each buffer released at once; a sending stream writes references to a few
 *     pre-built blocks (struct ipf_blocks), a bounded number of batches in flight, refilled
 *     from the write completions.
 *   - the JSON messages: parameters and results, as C structs.
 *   - small helpers: cookies, CPU time, byte counts for people.
 */
#ifndef RF_APPS_IPERF_PROTO_H
#define RF_APPS_IPERF_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <jansson.h>

#include "rawflow.h"

#define IPF_PORT 5201
/* 36 characters and the terminating NUL, sent as they are. */
#define IPF_COOKIE_SIZE 37
/* iperf3's own limit on -P. */
#define IPF_MAX_STREAMS 128
/* Largest JSON message accepted; iperf3's results for 128 streams are far below this. */
#define IPF_MAX_JSON (1u << 20)

/* The control connection's states (iperf_api.h); one signed byte on the wire. */
enum ipf_state {
	IPF_TEST_START = 1,
	IPF_TEST_RUNNING = 2,
	IPF_TEST_END = 4,
	IPF_PARAM_EXCHANGE = 9,
	IPF_CREATE_STREAMS = 10,
	IPF_SERVER_TERMINATE = 11,
	IPF_CLIENT_TERMINATE = 12,
	IPF_EXCHANGE_RESULTS = 13,
	IPF_DISPLAY_RESULTS = 14,
	IPF_IPERF_DONE = 16,
	IPF_ACCESS_DENIED = -1,
	IPF_SERVER_ERROR = -2,
};

/* iperf3's error codes (i_errno) that rf-iperf's server sends after SERVER_ERROR, and that
 * its client names when a server sends them. */
enum ipf_errcode {
	IPF_IENUMSTREAMS = 6,  /* "number of parallel streams too large" */
	IPF_IEUNIMP = 13,      /* "not implemented" (UDP, SCTP, options we do not do) */
	IPF_IERECVPARAMS = 114, /* "unable to receive parameters from client" */
};

/* "TEST_RUNNING", or "state 42". */
const char *ipf_state_name(int state, char *buf, size_t len);

/* ---- connections --------------------------------------------------------------------- */

/* Payload blocks that sending streams write references of: allocated and filled once. */
#define IPF_BLOCKS 16
struct ipf_blocks {
	struct rf_buf *b[IPF_BLOCKS];
	unsigned int n;
	uint32_t len; /* bytes in each */
};
/* Allocates and fills the blocks; 0 or RF_ENOBUFS. */
int ipf_blocks_init(struct ipf_blocks *bl, struct rf_loop *l);
void ipf_blocks_release(struct ipf_blocks *bl);

/* Byte counters of the whole program (for the stats file and the status line). */
struct ipf_totals {
	uint64_t rx_bytes; /* data stream payload received */
	uint64_t tx_bytes; /* data stream payload accepted into TCP's send queue */
};

struct ipf_conn;

/* What a connection tells its owner. Every hook may end the connection. */
struct ipf_conn_ops {
	/* rf_connect() finished (only for ipf_conn_connect); status RF_OK or the error. After
	 * an error the connection has ended. */
	void (*connected)(struct ipf_conn *c, int status);
	/* Buffered mode: bytes were appended to the input buffer. */
	void (*input)(struct ipf_conn *c);
	/* The connection can carry no more data: RF_EOF (the peer's FIN, after all its data)
	 * or an error of either direction. Called at most once, never after ipf_conn_abort().
	 * The owner closes or aborts the connection if it has not yet. */
	void (*end)(struct ipf_conn *c, int status);
	/* The record is about to be freed: no request of it is pending any more. */
	void (*freed)(struct ipf_conn *c);
};

enum ipf_conn_mode {
	IPF_BUFFERED, /* input goes to in[] for the owner to parse */
	IPF_COUNTED,  /* input is counted in bytes and released at once */
};

struct ipf_conn {
	TAILQ_ENTRY(ipf_conn) link; /* the owner's list */
	const struct ipf_conn_ops *ops;
	void *owner;           /* for the hooks */
	struct ipf_totals *totals;
	struct rf_loop *loop;
	struct rf_flow *flow;  /* NULL once rawflow freed it (close done, connect failed) */
	enum ipf_conn_mode mode;

	/* input (buffered mode) */
	uint8_t *in;
	size_t in_len, in_cap;

	/* data stream */
	int id;           /* iperf3 stream id, 0 for the control connection */
	bool sender;      /* this side writes on it */
	bool sending;     /* writes are being issued (cleared to stop) */
	const struct ipf_blocks *blocks;
	unsigned int next_block;
	unsigned int batches; /* writes in flight */
	uint64_t bytes;   /* received (counted mode) or accepted for sending */
	uint64_t bytes_base; /* bytes at the start of the measured period (after --omit) */
	uint64_t deadline_ns; /* closing: reset if the peer has not closed by then; before
				 that the owner may use it (rf-iperf: the cookie's) */

	/* life cycle */
	unsigned int requests; /* connect, read, write and close callbacks still due */
	bool connecting, reading, read_done, closed, aborted;
};

/* A connection record for an accepted flow, in buffered mode, reading. NULL without memory
 * (the flow is aborted then). */
struct ipf_conn *ipf_conn_accept(struct rf_loop *l, struct rf_flow *f,
				 const struct ipf_conn_ops *ops, void *owner, struct ipf_totals *totals);
/* Connects to addr:port; ops->connected reports the outcome; reading starts once connected.
 * 0, or a negative code (no record then). */
int ipf_conn_connect(struct rf_loop *l, const struct rf_endpoint *to,
		     const struct ipf_conn_ops *ops, void *owner, struct ipf_totals *totals,
		     struct ipf_conn **out);
/* From buffered to counted mode: what is left in the input buffer counts as received data. */
void ipf_conn_count(struct ipf_conn *c);
/* Starts writing the blocks, until c->sending is cleared or the flow fails. */
void ipf_conn_send_data(struct ipf_conn *c, const struct ipf_blocks *bl);
/* Flushes and sends FIN (reads go on until the peer's FIN); aborted if the peer has not closed
 * within linger_ns (see ipf_conn_linger_check). */
void ipf_conn_close(struct ipf_conn *c, uint64_t linger_ns);
/* Resets the connection. */
void ipf_conn_abort(struct ipf_conn *c);
/* Aborts c if it is closing and its linger time is over. */
void ipf_conn_linger_check(struct ipf_conn *c, uint64_t now);
/* True once closed or aborted: no more sends. */
static inline bool
ipf_conn_ended(const struct ipf_conn *c)
{
	return c->closed || c->aborted;
}
/* Frees c if it has ended and nothing of it is pending; call after ending it from outside its
 * own hooks. Returns true if it was freed. */
bool ipf_conn_maybe_free(struct ipf_conn *c);

/*
 * Sending control messages: the bytes are copied into fresh buffers (one, or several of an
 * even size), written in one rf_flow_writev(). 0 or a negative code.
 *
 * Messages that follow each other go out in one call (a JSON message and the state after it,
 * TEST_START and TEST_RUNNING): with net_tap, a TCP segment made of several buffers where a
 * buffer's part has an odd length leaves with a wrong checksum (DPDK 22.11's tap sums each
 * segment of a multi-segment frame as if it started at an even offset), and the peer drops
 * it for good. One buffer per message, or even-sized pieces that segments cut at even
 * offsets, keep control messages clear of that.
 */
int ipf_conn_send(struct ipf_conn *c, const void *data, size_t len);
int ipf_conn_send_state(struct ipf_conn *c, int state);
/* The framed message, then the state then_state unless it is 0. */
int ipf_conn_send_json(struct ipf_conn *c, json_t *msg, int then_state);

/* Parsing the input buffer. Each returns 1 and consumes the item, 0 if more bytes are needed,
 * or -1 (with a reason in err) if the input is malformed. */
int ipf_conn_take(struct ipf_conn *c, void *out, size_t len);
int ipf_conn_take_json(struct ipf_conn *c, json_t **out, char *err, size_t errlen);

/* ---- messages ------------------------------------------------------------------------ */

/* The client's parameters (what rf-iperf reads or sends of them). */
struct ipf_params {
	bool tcp;             /* false: UDP or SCTP was asked for */
	unsigned int time;    /* seconds; 0 with num or blockcount */
	unsigned int omit;    /* seconds at the start left out of the results */
	unsigned int parallel;
	bool reverse, bidir;
	uint64_t len;         /* the client's block size */
	uint64_t num;         /* -n bytes, 0: none */
	uint64_t blockcount;  /* -k blocks, 0: none */
	char client_version[32];
};
json_t *ipf_params_to_json(const struct ipf_params *p);
/* 0, or -1 with the reason in err (a missing or mistyped field). */
int ipf_params_from_json(const json_t *j, struct ipf_params *p, char *err, size_t errlen);

/* One side's results: per stream what this side measured. */
struct ipf_stream_result {
	int id;
	uint64_t bytes;       /* sent (sender) or received */
	int64_t retransmits;  /* -1: not known (a receiver) */
	double start_s, end_s;
	bool has_times;
};
struct ipf_results {
	double cpu_total, cpu_user, cpu_system; /* percent of one CPU */
	int sender_has_retransmits;             /* -1: this side sent nothing */
	unsigned int n;
	struct ipf_stream_result s[IPF_MAX_STREAMS * 2];
};
json_t *ipf_results_to_json(const struct ipf_results *r);
int ipf_results_from_json(const json_t *j, struct ipf_results *r, char *err, size_t errlen);

/* ---- helpers ------------------------------------------------------------------------- */

/* 36 random characters of iperf3's alphabet and a NUL. */
void ipf_make_cookie(char cookie[IPF_COOKIE_SIZE]);

/* The process's CPU time, for the cpu_util fields. */
struct ipf_cpu {
	uint64_t wall_ns, user_us, system_us;
};
void ipf_cpu_now(struct ipf_cpu *c);
/* Percent of one CPU used between a and b: total, user, system. */
void ipf_cpu_util(const struct ipf_cpu *a, const struct ipf_cpu *b, double out[3]);

/* "1.23 GBytes" (binary units, like iperf3). */
const char *ipf_bytes_text(uint64_t bytes, char *buf, size_t len);

/* The stream id iperf3 gives the k-th stream of a test (k from 0): 1, 3, 4, 5, ... */
static inline int
ipf_stream_id(unsigned int k)
{
	return k == 0 ? 1 : (int)k + 2;
}

#endif /* RF_APPS_IPERF_PROTO_H */
