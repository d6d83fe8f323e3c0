/*
 * flow/'s internal structures: the loop, flows, listeners, the completion queue.
 * Nothing here is API; everything exported is prefixed rf__.
 */
#ifndef RF_FLOW_INTERNAL_H
#define RF_FLOW_INTERNAL_H

#include <signal.h>

#include "lwip/ip_addr.h"
#include "lwip/tcp.h"

#include "launch.h"
#include "rawflow.h"
#include "rf_stack.h"

/* At most this many completions run per loop pass, so one busy flow cannot starve the
 * others (the rest run next pass, after another RX burst). */
#define RF_COMPLETIONS_PER_PASS 4096
/* The loop's tel_flows[] slot of flows without a pcb (after 1 + every enum tcp_state). */
#define RF__TEL_DETACHED (2 + TIME_WAIT)

enum rf__comp_kind {
	RF__C_ACCEPT,
	RF__C_CONNECT,
	RF__C_READ,
	RF__C_WRITE,
	RF__C_CLOSE,
	RF__C_FREE, /* after an abort: the flow is released once earlier completions ran */
};

struct rf__comp {
	uint8_t kind;
	int status;
	struct rf_flow *flow;
	struct rf_listener *ls;
	void (*cb)(void);
	void *arg;
	struct rf_buf *buf;
};

/* A FIFO of completions that grows by doubling; entries are plain values. */
struct rf__ring {
	struct rf__comp *v;
	uint32_t head, tail, mask;
};

/* One rf_flow_write[v] request, until all its bytes are in TCP's send queue. Requests with
 * up to RF_WREQ_SMALL buffers are recycled through the loop's free list. */
#define RF_WREQ_SMALL 8
struct rf__wreq {
	struct rf__wreq *next;
	rf_write_cb *cb;
	void *arg;
	uint32_t n, idx, off; /* buffers, next buffer to hand to TCP, bytes of it handed */
	struct rf_buf *bufs[];
};

/* A buffer fully handed to TCP, held until the byte before end_seq is acknowledged. */
struct rf__sent {
	struct rf_buf *buf;
	uint32_t end_seq;
};

struct rf_flow {
	struct rf_loop *loop;
	struct tcp_pcb *pcb; /* NULL once detached from lwIP (closed, reset, aborted) */
	uint32_t gen;        /* bumped at every reuse: received buffers compare it */
	uint64_t id;         /* 1, 2, ... in the order flows were opened; never reused */
	void *data;

	/* receive side */
	struct rf_buf *rxq_head, *rxq_tail;
	rf_read_cb *read_cb;
	void *read_arg;
	uint32_t reads_queued; /* read completions queued, not yet dispatched */
	int conn_err; /* why the connection ended, once it has (negative), else 0 */
	bool rx_eof;  /* the peer's FIN arrived */
	bool rd_shut;

	/* send side */
	struct rf__wreq *wq_head, *wq_tail;
	struct rf__sent *sent;
	uint32_t sent_head, sent_tail, sent_mask;
	bool wr_shut;  /* the application asked for FIN (close or shutdown) */
	bool fin_sent; /* lwIP took the FIN */

	/* life cycle */
	rf_connect_cb *connect_cb;
	void *connect_arg;
	rf_close_cb *close_cb;
	void *close_arg;
	bool connecting;
	bool closing;      /* rf_flow_close() was called */
	bool close_queued; /* its completion is queued: nothing may follow it */
	bool aborted;
	bool app_done; /* the application can no longer use the flow */

	struct rf_flow_counters ctr;
	uint32_t snd_max; /* highest snd_nxt seen: sequence space sent for the first time */
	struct rf_flow *prev, *next; /* live flows (for destroy) or the free list */
	struct rf_flow *unsent_prev, *unsent_next; /* the loop's unsent list, when on_unsent */
	bool on_unsent;
	uint8_t tel_state; /* what the loop's tel_flows[] counts it as (rf__tel_flow_state) */
};

struct rf_listener {
	struct rf_loop *loop;
	struct tcp_pcb *pcb;
	rf_accept_cb *cb;
	void *arg;
	uint32_t pending; /* accept completions queued */
	bool closed;
	struct rf_listener *prev, *next; /* open listeners (for destroy) */
};

struct rf_loop {
	struct rf_stack stack;
	struct rf__ring comps;
	volatile sig_atomic_t stop;
	rf_poll_cb *poll_cb;
	void *poll_arg;
	struct rf_flow *live;       /* doubly linked */
	struct rf_flow *unsent;     /* flows with bytes lwIP has not sent yet (flow.c) */
	struct rf_listener *listening;
	struct rf_flow *free_flows; /* singly linked through next */
	struct rf_buf *free_views;  /* sub-view headers, linked through rf_next */
	struct rf__wreq *free_wreqs; /* small write requests, linked through next */
	uint64_t flows_open, flows_opened, listeners, accept_refused;
	uint64_t max_flows; /* flows_open never exceeds it (struct rf_config) */
	uint64_t rx_copied_bytes, rx_payload_bytes;
	uint64_t busy_cycles;
	uint64_t now_tsc;   /* TSC at the start of the current (or last) pass */
	bool last_busy;     /* the last pass did work */
	uint64_t tx_new_bytes; /* sequence space sent for the first time, all flows */
	uint64_t tel_next_tsc; /* when the loop publishes its next telemetry snapshot */
	struct rf_launch mc;   /* --cores: this process's core (launch.c); cores 0 when alone */
	/* Open flows by what they are now: [1 + lwIP's enum tcp_state], [RF__TEL_DETACHED]
	 * (no pcb); [0] unused. Kept as flows change (rf__tel_flow_state), so that telemetry
	 * does not count all flows every 100 ms. */
	uint64_t tel_flows[RF__TEL_DETACHED + 1];
	/* released bytes not yet given back to lwIP's window (rf__flow_credit) */
	struct rf_flow *credit_flow;
	uint32_t credit_gen;
	uint64_t credit_bytes;
};

/* Keeps the loop's tel_flows[] right: called wherever a flow's pcb may have changed state (lwIP's
 * callbacks, and after the flow's own calls into lwIP), got or lost its pcb, or is released
 * (gone: counted nowhere). Every lwIP state change of a pcb with a flow happens in or right
 * before one of those. */
static inline void
rf__tel_flow_state(struct rf_flow *f, bool gone)
{
	uint8_t s = gone ? 0 : f->pcb == NULL ? RF__TEL_DETACHED : (uint8_t)(1 + f->pcb->state);

	if (s == f->tel_state)
		return;
	if (f->tel_state != 0)
		f->loop->tel_flows[f->tel_state]--;
	if (s != 0)
		f->loop->tel_flows[s]++;
	f->tel_state = s;
}

/* The process's one loop (lwIP keeps its state in globals: one stack per process). */
extern struct rf_loop *rf__loop;

/* loop.c */
void rf__complete(struct rf_loop *l, const struct rf__comp *c);

/* telemetry.c: /rawflow/... commands of DPDK's telemetry socket, answered from a snapshot the
 * loop publishes every RF_TEL_PERIOD_MS (the socket's thread never touches the loop). */
void rf__telemetry_start(struct rf_loop *l);
void rf__telemetry_publish(struct rf_loop *l, uint64_t now_tsc);
void rf__telemetry_stop(struct rf_loop *l);

/* flow.c: flow objects, the send and receive sides, lwIP's receive/sent/error callbacks */
struct rf_flow *rf__flow_new(struct rf_loop *l);
void rf__flow_attach(struct rf_flow *f, struct tcp_pcb *pcb);
void rf__flow_detach(struct rf_flow *f);
void rf__flow_maybe_free(struct rf_flow *f);
void rf__flow_queue(struct rf_flow *f, uint8_t kind, int status, void (*cb)(void), void *arg,
		    struct rf_buf *b);
void rf__flow_push(struct rf_flow *f);
void rf__flow_deliver(struct rf_flow *f);
void rf__flow_check_close(struct rf_flow *f);
void rf__flow_complete_writes(struct rf_flow *f, int status);
void rf__flow_rxq_drop(struct rf_flow *f);
void rf__flow_sent_release_all(struct rf_flow *f);
struct rf__wreq *rf__wreq_new(struct rf_loop *l, unsigned int n);
void rf__wreqs_free(struct rf_loop *l);
void rf__flows_track_sent(struct rf_loop *l);

/* calls.c: the application's calls on a flow, and the completion phase */
void rf__dispatch(struct rf_loop *l, struct rf__comp *c);
void rf__flow_credit(struct rf_flow *f, uint32_t gen, uint32_t bytes);
void rf__flows_credit(struct rf_loop *l);
void rf__flows_abort_all(struct rf_loop *l);

/* buf.c */
struct rf_buf *rf__buf_root(struct rte_mbuf *m, uint8_t *data, uint32_t len);
void rf__views_free(struct rf_loop *l);

/* addr.c */
int rf__addr_to_lwip(const struct rf_addr *a, ip_addr_t *out);
void rf__addr_from_lwip(const ip_addr_t *ip, struct rf_addr *out);

#endif /* RF_FLOW_INTERNAL_H */
