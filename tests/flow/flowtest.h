/*
 * The flow suite's harness: one rawflow program, one scenario per sub-command, each run
 * against a kernel-socket peer (tests/flow/peer.py) in a private network namespace by
 * tests/flow/run.sh.
 *
 * A scenario starts its flows from start(), drives them from completion callbacks (and from
 * poll() for timed steps), and calls ft_done() once every flow it opened is closed. The
 * harness then runs the loop a few more passes and checks that nothing leaked: packet
 * buffers back to the RX-ring baseline (mbufs_in_use <= mbufs_idle), no open flow, no lwIP
 * connection block outside TIME-WAIT. It prints one line, "PASS <name>: ..." or "FAIL <name>: ...", with the figures,
 * and the program exits 0 only on PASS.
 *
 * Every scenario has a deadline, checked once per loop pass; on expiry it fails with what
 * was still pending (the scenario's pending() text).
 *
 * Re-entrancy: every call into rawflow goes through API() or API_VOID(), which count the
 * calls in progress; every callback starts with ft_cb_enter(), which fails the test when it
 * runs inside one of those calls. rawflow promises that completions run only from the loop.
 *
 * Built on rawflow.h alone.
 */
#ifndef FT_FLOWTEST_H
#define FT_FLOWTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "rawflow.h"
#include "sha256.h"

#define FT_KERNEL_IP "198.18.0.1" /* the kernel side of rf0 */
#define FT_MIB (1024u * 1024u)
/* The stack's receive window per flow (TCP_WND in stack/include/lwipopts.h). */
#define FT_RCV_WND (2u * FT_MIB)
/* Payload of one full segment on the tap link (MTU 1500, no TCP options on data). */
#define FT_MSS 1460u

struct ft;

struct ft_scenario {
	const char *name; /* the sub-command and the meson test name */
	const char *rule; /* one line: what the scenario pins */
	double timeout_s;
	uint64_t default_bytes; /* --bytes default (0: unused) */
	int (*start)(struct ft *t);
	void (*poll)(struct ft *t); /* optional: each loop pass until ft_done() */
	/* what the scenario still waits for, for the deadline message */
	void (*pending)(struct ft *t, char *buf, size_t len);
	void (*final)(struct ft *t); /* optional: last checks once the loop is quiet */
};

struct ft {
	struct rf_loop *l;
	const struct ft_scenario *sc;
	uint16_t port;  /* --port: the listening port, or the peer's port for client roles */
	uint64_t bytes; /* --bytes: how much the scenario transfers */
	uint64_t start_ns, deadline_ns;
	int failures;
	bool done;      /* the scenario's flows are closed: checking for leaks */
	bool over;      /* the verdict is printed; the loop stops */
	uint64_t done_ns;
	unsigned int quiet_passes;
	char summary[256]; /* the scenario's figures for the verdict line */
	void *state;       /* the scenario's own */
};

/* ---- re-entrancy guard ----------------------------------------------------------------- */

extern int ft_in_api;
#define API(call) \
	__extension__({ \
		ft_in_api++; \
		__auto_type ft__r = (call); \
		ft_in_api--; \
		ft__r; \
	})
#define API_VOID(call) \
	do { \
		ft_in_api++; \
		call; \
		ft_in_api--; \
	} while (0)
/* First statement of every callback; what names the callback in a failure message. Returns
 * false once the verdict is out: the callback then only gives back what it was handed. */
bool ft_cb_enter(const char *what);

/* ---- checks and verdict ---------------------------------------------------------------- */

/* Records a failure (with a message) unless cond holds; returns cond. */
bool ft_check(struct ft *t, bool cond, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Records a failure that leaves the scenario nowhere to go: the verdict follows at once. */
void ft_fatal(struct ft *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Progress line on stdout (prefixed with the scenario name and elapsed time). */
void ft_note(struct ft *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The scenario's flows are all closed: check for leaks, then print the verdict. */
void ft_done(struct ft *t);
double ft_elapsed_s(const struct ft *t);
/* "RF_OK", "RF_EOF", "RF_ECONNRESET", ...: a status by its name in rawflow.h. */
const char *ft_status(int status);
/* The one loop's context, for callbacks that get no argument of ours. */
struct ft *ft_cur(void);

/* ---- data ------------------------------------------------------------------------------ */

/* The deterministic byte stream written by the writer scenarios: byte at offset off. */
void ft_pattern_fill(uint8_t *p, uint64_t off, uint32_t len);
/* xorshift64*: reproducible sizes and choices. */
uint64_t ft_rand(uint64_t *state);

/* ---- connections ----------------------------------------------------------------------- */

struct ft_conn;
typedef void(ft_conn_event)(struct ft_conn *c);
/* Called for each received buffer; takes over the reference (release or write it). */
typedef void(ft_conn_data)(struct ft_conn *c, struct rf_buf *b);

/*
 * One flow with its bookkeeping: hashes of what was read and written, counts, and the
 * outcome of each request. The helpers below check what every scenario expects (reads come
 * one at a time, writes complete RF_OK and in order); the hooks let a scenario add its own.
 */
struct ft_conn {
	struct ft *t;
	struct rf_flow *f;
	const char *name;

	/* receive side */
	struct ft_sha256 rx_sha;
	uint64_t rx_bytes, reads_done;
	bool reading;      /* a read is pending */
	bool auto_read;    /* issue the next read from each data completion */
	bool eof;          /* a read completed RF_EOF */
	int read_err;      /* the first read error, else 0 */
	ft_conn_data *on_data; /* default: hash and release */
	ft_conn_event *on_eof, *on_read_err;

	/* send side */
	struct ft_sha256 tx_sha;
	uint64_t tx_target;  /* pump: total bytes to write */
	uint64_t tx_issued;  /* bytes handed to write[v] */
	uint64_t tx_done;    /* bytes whose write completed RF_OK */
	uint64_t writes_issued, writes_done;
	unsigned int writes_inflight, max_inflight;
	uint64_t rng;
	int write_expect;      /* status the writes issued from now on must complete with */
	int write_err;         /* the first unexpected write status, else 0 */
	bool close_when_written; /* pump: close right after the last write is issued */
	bool odd_sizes;          /* pump: every buffer of odd length, no sub-views */
	ft_conn_event *on_written; /* pump: every byte's write completed */

	/* close */
	bool closing, closed;
	int close_status;
	uint64_t close_called_ns, closed_ns;
	ft_conn_event *on_closed; /* default: the close must complete RF_OK */

	char rx_hex[65], tx_hex[65]; /* digests, once ft_conn_digests() ran */
};

void ft_conn_init(struct ft_conn *c, struct ft *t, struct rf_flow *f, const char *name);
/* Issues a read (the flow must have none pending). */
void ft_conn_read(struct ft_conn *c);
/* Writes the next pattern bytes until tx_target is issued, keeping at most max_inflight
 * requests outstanding; mixes rf_flow_write, rf_flow_writev and sub-views. */
void ft_conn_pump(struct ft_conn *c);
/* Writes len bytes copied from p (one buffer per rf_buf_max() bytes); returns the status. */
int ft_conn_write_bytes(struct ft_conn *c, const void *p, uint32_t len);
/* Writes b (taking the reference) as one request; returns rf_flow_write's status. */
int ft_conn_write_buf(struct ft_conn *c, struct rf_buf *b);
void ft_conn_close(struct ft_conn *c);
/* Finishes both digests (once) into rx_hex and tx_hex. */
void ft_conn_digests(struct ft_conn *c);
/* Prints "sha256 rx|tx <hex> <bytes>" lines for the runner to compare with the peer's. */
void ft_conn_print_sha(struct ft_conn *c, bool rx, bool tx);
/* Listens on every address at port and prints READY for the runner. */
int ft_listen(struct ft *t, uint16_t port, rf_accept_cb *cb, void *arg, struct rf_listener **out);
/* A short text of the connection's state for pending(). */
int ft_conn_describe(const struct ft_conn *c, char *buf, size_t len);

/* FT_KERNEL_IP as an address. */
int ft_kernel_addr(struct rf_addr *out);

/* Scenario tables (scenarios_data.c, scenarios_lifecycle.c, scenarios_calls.c). */
extern const struct ft_scenario ft_data_scenarios[];
extern const struct ft_scenario ft_lifecycle_scenarios[];
extern const struct ft_scenario ft_call_scenarios[];

#endif /* FT_FLOWTEST_H */
