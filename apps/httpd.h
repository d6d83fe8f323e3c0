/*
 * httpd.h: what the two files of rf-httpd share: httpd.c (the service: its texts and body
 * pattern, the loop hooks, options and main) and httpd_conn.c (one connection's work:
 * reading, parsing, deciding and writing answers, closing). The design is described at the
 * top of each file.
 */
#ifndef RF_APPS_HTTPD_H
#define RF_APPS_HTTPD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "common.h"
#include "http_parse.h"


#define HTTPD_PORT 80
/* Request heads larger than this are answered 431. */
#define HEAD_MAX 8192
/* The body pattern's period: a prime, so that a segment misplaced by any power-of-two
 * distance changes the bytes (and the client's SHA-256). */
#define PATTERN_PERIOD 251
/* Pattern buffers; see the top. */
#define PATTERN_BUFS 16
/* At most this many body bytes per write, so a large body goes out in pieces, each started
 * by an earlier write's completion. */
#define CHUNK_BYTES (64u * 1024)
/* Buffers per writev: bounds a batch (3 per answer plus body pieces). */
#define IOV_MAX_PIECES 64
/* Pipelined answers written in one batch. */
#define BATCH_MAX 16
/* Longest "Content-Length: N\r\n" line (N up to 20 digits). */
#define CL_LINE_MAX 40
/*
 * Every piece a response writes has an even length (texts and Content-Length lines padded
 * with optional whitespace, pattern buffers and body chunks even), except the last piece of a
 * body of odd length. Why: DPDK 22.11's net_tap computes an offloaded TCP checksum by summing
 * each segment of a multi-segment frame on its own, which is wrong after a segment of odd
 * length, so the stack copies a frame whose payload has an odd piece before its last one
 * (stack/netif.c, counted in tx_copied_bytes). Even pieces keep answers on the zero-copy
 * path; only a frame holding an odd body's end followed by the next pipelined answer is
 * copied.
 */
#define EVEN_PIECES 1
/* Writes waiting for completion per connection, besides the byte bound. */
#define WRITES_MAX 64
#define MAX_PENDING_DEFAULT (256u * 1024)
#define MAX_SIZE_DEFAULT (1ull << 30)
#define MAX_SIZE_LIMIT (1ull << 40)
#define IDLE_TIMEOUT_DEFAULT 60.0
#define NS_PER_S 1000000000ull
/* Idle connections are looked for this often. */
#define IDLE_SCAN_NS NS_PER_S

/* The fixed texts, in the texts buffer. */
enum text {
	TX_HEAD_200,   /* status line and headers of 200 /N, without Content-Length */
	TX_HEAD_INDEX, /* ... of 200 / (with Content-Length) */
	TX_HEAD_404,
	TX_HEAD_405,
	TX_HEAD_400,
	TX_HEAD_431,
	TX_END,            /* "\r\n": end of the head, connection stays open */
	TX_END_CLOSE,      /* "Connection: close\r\n\r\n" */
	TX_END_KEEPALIVE,  /* "Connection: keep-alive\r\n\r\n" (to an HTTP/1.0 client asking) */
	TX_BODY_INDEX,
	TX_BODY_404,
	TX_BODY_405,
	TX_BODY_400,
	TX_BODY_431,
	NTEXTS,
};

/* The answers. */
enum answer {
	A_SIZE,  /* 200 /N */
	A_INDEX, /* 200 / */
	A_404,
	A_405,
	A_400,
	A_431,
	NANSWERS,
};

/* Each answer's texts and status (httpd_conn.c). */
struct answer_spec {
	uint8_t head, body; /* enum text; body NTEXTS: the pattern */
	uint16_t status;
};

extern const struct answer_spec answers[NANSWERS];

/* One decided answer, not yet written. */
struct answer_desc {
	uint8_t answer; /* enum answer */
	uint8_t end;    /* enum text: TX_END, TX_END_CLOSE or TX_END_KEEPALIVE */
	bool head_only; /* HEAD: no body */
	uint64_t size;  /* A_SIZE: body bytes */
};

struct conn {
	LIST_ENTRY(conn) link;
	TAILQ_ENTRY(conn) stall_link; /* on httpd.stalled while stalled */
	struct httpd *h;
	struct rf_flow *flow;
	struct http_req req;
	struct rf_buf *in;     /* received data not parsed yet (the read's reference) */
	uint32_t in_off;
	struct answer_desc batch[BATCH_MAX]; /* decided, not written */
	unsigned int nbatch;
	uint64_t body_off, body_left; /* the body being streamed */
	uint64_t pending_bytes;       /* written, completion not yet reported */
	unsigned int pending_writes;
	unsigned int requests;        /* reads, writes and close whose callback is still due */
	uint64_t last_ns;             /* last progress (read or write completion) */
	bool reading;
	bool peer_eof;    /* the read side reported the peer's FIN */
	bool close_after; /* close once the answers decided so far are queued */
	bool stalled;
	bool ended;       /* rf_flow_close() or rf_flow_abort() was called */
	bool closing;     /* rf_flow_close() called, its callback not yet run */
	bool aborted;
};

struct httpd {
	struct rf_loop *loop;
	struct rf_listener *listener;
	LIST_HEAD(, conn) conns;
	TAILQ_HEAD(, conn) stalled;
	unsigned int nstalled;
	/* pre-built buffers */
	struct rf_buf *texts_root;
	struct rf_buf *text[NTEXTS];
	struct rf_buf *pattern[PATTERN_BUFS];
	uint32_t pattern_len; /* L: bytes of each pattern buffer, a multiple of the period */
	/* options */
	uint64_t max_pending;
	uint64_t max_size;
	double idle_timeout_s;
	uint64_t idle_ns; /* 0: no timeout */
	uint64_t next_scan_ns;
	/* for the stats */
	uint64_t connections;   /* accepted */
	uint64_t requests;      /* well-formed request heads */
	uint64_t responses_2xx, responses_4xx;
	uint64_t bad_requests;  /* malformed (400) or too large (431) heads */
	uint64_t response_bytes; /* answer bytes whose write completed */
	uint64_t incomplete;    /* connections that ended in the middle of a request */
	uint64_t idle_closed;   /* closed or reset by --idle-timeout */
	uint64_t aborted;       /* connections reset (errors, failures, stop) */
	uint64_t stalls;        /* times a connection waited for buffers */
	uint64_t last_requests; /* for the requests/s of the status line */
};

/* httpd_conn.c */
void on_accept(struct rf_listener *ls, struct rf_flow *f, void *arg);
void conn_run(struct conn *c);
void conn_unstall(struct conn *c);
void conn_finish(struct conn *c);
void conn_abort(struct conn *c);
void conn_maybe_free(struct conn *c);

#endif /* RF_APPS_HTTPD_H */
