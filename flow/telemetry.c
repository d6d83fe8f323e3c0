/*
 * Telemetry: the loop's counters and its flows, readable while the program runs through
 * DPDK's own telemetry socket (dpdk-telemetry.py, or anything speaking its v2 protocol):
 *
 *   /rawflow/stats        every field of struct rf_stats, flows by TCP state, capture counters
 *   /rawflow/flows        the ids of the open flows (rf_flow_id())
 *   /rawflow/flow,<id>    one flow, TCP_INFO-like: state, endpoints, windows, cwnd, ssthresh,
 *                         srtt/rttvar/rto, retransmissions, bytes queued and acknowledged,
 *                         the flow's counters
 *
 * Threads: rte_telemetry runs the callbacks on its own thread, while lwIP and the flows belong
 * to the loop's thread and must not be walked from anywhere else. So the loop publishes a
 * snapshot every RF_TEL_PERIOD_MS (rf__telemetry_publish, from rf_loop_run_once) and the
 * callbacks only copy out of the latest one. Two snapshot buffers, each under a seqlock: the
 * loop fills the one readers are not directed to, then switches them over, so a reader never
 * waits for the loop and the loop never waits for a reader (a reader that was too slow for a
 * whole period sees the sequence change and copies again). Nothing here allocates from the
 * packet pools, so telemetry keeps answering when the mbuf pool is empty; the callbacks'
 * own memory (rte_tel_data, a few KiB) comes from malloc on the telemetry thread.
 *
 * rte_telemetry (22.11) gives callbacks no argument, so the snapshot is this file's one
 * static object. That matches the rest of the design: one loop per process (lwIP's globals).
 *
 * RTT figures: lwIP measures round trips in ticks of its slow timer (TCP_SLOW_INTERVAL, twice
 * TCP_TMR_INTERVAL: 200 ms here) and keeps sa = 8 x srtt and sv = 4 x rttvar, in ticks.
 * They are reported in microseconds as srtt_us = sa * tick_us / 8, rttvar_us = sv * tick_us
 * / 4, rto_us = rto * tick_us, with the tick itself as rtt_tick_us. A round trip that ends
 * within the tick it started in measures 0, so on a LAN srtt stays 0 until a sample spans a
 * tick boundary (a peer's delayed ACK does that); the figure has 25 ms steps.
 */
#define ALLOW_EXPERIMENTAL_API /* rte_seqlock is experimental in DPDK 22.11 */

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_seqlock.h>
#include <rte_telemetry.h>

#include "lwip/priv/tcp_priv.h"

#include "flow_internal.h"

#define RF_TEL_PERIOD_MS 100
/* Flows in one snapshot (the most recently opened ones): what one telemetry array holds. */
#define RF_TEL_FLOWS RTE_TEL_MAX_ARRAY_ENTRIES
/* A reader that keeps losing the race against the loop gives up after this many copies. */
#define RF_TEL_READ_TRIES 64

/* struct rf_stats, field by field; the assertion catches a field added without its name. */
#define RF_TEL_STATS(X)                                                                     \
	X(rx_payload_bytes) X(tx_payload_bytes) X(rx_copied_bytes) X(tx_copied_bytes)       \
	X(rx_segments) X(tx_segments) X(tx_retransmits) X(tx_retransmit_bytes) X(rto_timeouts) \
	X(mbufs_in_use) X(mbufs_idle) X(alloc_failures) X(rx_pkts) X(rx_bytes) X(tx_pkts)   \
	X(tx_bytes) X(tx_drops) X(rx_missed) X(rx_nombuf) X(rx_dropped) X(rx_bad_cksum)     \
	X(flows_open) X(flows_opened) X(listeners) X(tcp_pcbs_in_use) X(tcp_pcbs_time_wait) \
	X(accept_refused) X(busy_cycles) X(tsc_hz) X(impair_rx_dropped)                     \
	X(impair_rx_duplicated) X(impair_rx_reordered) X(impair_rx_corrupted)               \
	X(impair_rx_delayed) X(impair_rx_blackout_dropped) X(impair_tx_dropped)             \
	X(impair_tx_duplicated) X(impair_tx_reordered) X(impair_tx_corrupted)               \
	X(impair_tx_delayed) X(impair_tx_blackout_dropped) X(impair_held) X(rx_link_dropped)   \
	X(rx_ip_dropped) X(rx_tcp_dropped) X(rx_cksum_errors) X(handoff_rx) X(handoff_tx)     \
	X(handoff_dropped) X(tx_link_down) X(syn_cookies_sent) X(syn_cookies_valid)           \
	X(ooseq_pbufs) X(ooseq_dropped) X(half_open_cookies) X(acks_rate_limited)          \
	X(rx_pool_low_dropped) X(tx_queue_full)

#define RF_TEL_COUNT(name) +1
_Static_assert(sizeof(struct rf_stats) == (0 RF_TEL_STATS(RF_TEL_COUNT)) * sizeof(uint64_t),
	       "struct rf_stats changed: update RF_TEL_STATS in flow/telemetry.c");
#undef RF_TEL_COUNT

/* lwIP's enum tcp_state, in order; the names telemetry gives them ("flows_<name>"). */
static const char *const state_names[] = {
	"closed",   "listen",  "syn_sent", "syn_rcvd", "established", "fin_wait_1",
	"fin_wait_2", "close_wait", "closing", "last_ack", "time_wait",
};
#define RF_TEL_STATES RTE_DIM(state_names)
_Static_assert(RF_TEL_STATES + 1 == RF__TEL_DETACHED, "tel_flows[] has a slot per state");

struct rf__tel_flow {
	uint64_t id;
	struct rf_endpoint local, remote;
	bool attached; /* still has a pcb (else: closed, reset or aborted, not yet freed) */
	uint8_t state; /* enum tcp_state */
	uint8_t nrtx;  /* retransmissions of the segment being timed out now */
	int16_t sa, sv, rto; /* lwIP's, in slow-timer ticks (see the top) */
	uint16_t mss;
	uint32_t snd_wnd, rcv_wnd, rcv_ann_wnd, cwnd, ssthresh, snd_buf;
	uint32_t queued;  /* bytes written and not yet acknowledged: unsent + unacked */
	uint16_t queued_segs;
	struct rf_flow_counters ctr;
};

/* Everything but the flows: what /rawflow/stats copies. */
struct rf__tel_head {
	uint64_t taken_tsc;
	struct rf_stats stats;
	uint64_t by_state[RF_TEL_STATES];
	uint64_t detached; /* flows without a pcb, waiting for the application */
	bool capture;      /* --pcap is on: the three figures below mean something */
	struct rf_capture_stats cap;
	unsigned int lcore;
	uint32_t nflows; /* entries in the snapshot's flows[] */
};

struct rf__tel_snap {
	rte_seqlock_t lock;
	struct rf__tel_head h;
	struct rf__tel_flow flows[RF_TEL_FLOWS];
};

static struct {
	struct rf__tel_snap snap[2];
	_Atomic int current; /* the buffer readers copy from; -1: no loop */
	bool registered;     /* commands registered (once per process) */
	uint64_t period_tsc;
} tel = {.current = -1};

static void
snap_flow(const struct rf_flow *f, struct rf__tel_flow *o)
{
	const struct tcp_pcb *pcb = f->pcb;

	memset(o, 0, sizeof(*o));
	o->id = f->id;
	o->ctr = f->ctr;
	if (pcb == NULL)
		return;
	o->attached = true;
	rf_flow_local(f, &o->local);
	rf_flow_remote(f, &o->remote);
	o->state = (uint8_t)pcb->state;
	o->nrtx = pcb->nrtx;
	o->sa = pcb->sa;
	o->sv = pcb->sv;
	o->rto = pcb->rto;
	o->mss = pcb->mss;
	o->snd_wnd = pcb->snd_wnd;
	o->rcv_wnd = pcb->rcv_wnd;
	o->rcv_ann_wnd = pcb->rcv_ann_wnd;
	o->cwnd = pcb->cwnd;
	o->ssthresh = pcb->ssthresh;
	o->snd_buf = pcb->snd_buf;
	/* snd_lbb: the next byte to be queued; lastack: the highest acknowledged (a queued FIN
	 * counts one) */
	o->queued = pcb->snd_lbb - pcb->lastack;
	o->queued_segs = pcb->snd_queuelen;
}

void
rf__telemetry_publish(struct rf_loop *l, uint64_t now_tsc)
{
	int cur = atomic_load_explicit(&tel.current, memory_order_relaxed);
	struct rf__tel_snap *s = &tel.snap[cur == 0 ? 1 : 0];
	struct rf__tel_head *h = &s->h;
	uint32_t n = 0;

	l->tel_next_tsc = now_tsc + tel.period_tsc;
	rte_seqlock_write_lock(&s->lock);
	h->taken_tsc = now_tsc;
	rf_loop_stats(l, &h->stats);
	/* Counted as flows change (rf__tel_flow_state): a walk of all flows here cost a cache
	 * miss per flow every 100 ms (a third of a core's idle time at 100,000 flows). */
	memcpy(h->by_state, &l->tel_flows[1], sizeof(h->by_state));
	h->detached = l->tel_flows[RF__TEL_DETACHED];
	for (const struct rf_flow *f = l->live; f != NULL && n < RF_TEL_FLOWS; f = f->next)
		snap_flow(f, &s->flows[n++]);
	h->nflows = n;
	h->capture = l->stack.cap != NULL;
	if (h->capture)
		rf_capture_stats(l->stack.cap, &h->cap);
	h->lcore = rte_lcore_id();
	rte_seqlock_write_unlock(&s->lock);
	atomic_store_explicit(&tel.current, s == &tel.snap[0] ? 0 : 1, memory_order_release);
}

/*
 * Copies, consistently, the current snapshot's head into *head, or with id != 0 the flow entry
 * with that id into *flow. 0, or -1 (no loop, no such flow, or no consistent copy).
 */
static int
read_snap(struct rf__tel_head *head, struct rf__tel_flow *flow, uint64_t id)
{
	for (int tries = 0; tries < RF_TEL_READ_TRIES; tries++) {
		int cur = atomic_load_explicit(&tel.current, memory_order_acquire);
		const struct rf__tel_snap *s;
		uint32_t sn;
		bool found = false;

		if (cur < 0)
			return -1;
		s = &tel.snap[cur];
		sn = rte_seqlock_read_begin(&s->lock);
		if (id == 0) {
			*head = s->h;
		} else {
			uint32_t n = RTE_MIN(s->h.nflows, (uint32_t)RF_TEL_FLOWS);

			for (uint32_t i = 0; i < n && !found; i++)
				if (s->flows[i].id == id) {
					*flow = s->flows[i];
					found = true;
				}
		}
		if (!rte_seqlock_read_retry(&s->lock, sn))
			return id == 0 || found ? 0 : -1;
	}
	return -1;
}

static int
cmd_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct rf__tel_head h, *s = &h;
	uint64_t now = rte_get_tsc_cycles();
	char name[32];

	(void)cmd;
	(void)params;
	if (read_snap(&h, NULL, 0) != 0)
		return -1;
	rte_tel_data_start_dict(d);
#define RF_TEL_ADD(name) rte_tel_data_add_dict_u64(d, #name, s->stats.name);
	RF_TEL_STATS(RF_TEL_ADD)
#undef RF_TEL_ADD
	for (unsigned int i = 0; i < RF_TEL_STATES; i++) {
		snprintf(name, sizeof(name), "flows_%s", state_names[i]);
		rte_tel_data_add_dict_u64(d, name, s->by_state[i]);
	}
	rte_tel_data_add_dict_u64(d, "flows_detached", s->detached);
	rte_tel_data_add_dict_u64(d, "flows_in_snapshot", s->nflows);
	if (s->capture) {
		rte_tel_data_add_dict_u64(d, "pcap_frames", s->cap.frames);
		rte_tel_data_add_dict_u64(d, "pcap_bytes", s->cap.bytes);
		rte_tel_data_add_dict_u64(d, "pcap_dropped", s->cap.dropped);
	}
	rte_tel_data_add_dict_u64(d, "lcore", s->lcore);
	rte_tel_data_add_dict_u64(d, "snapshot_age_us",
				  now > s->taken_tsc ? (now - s->taken_tsc) * 1000000 /
							       rte_get_tsc_hz()
						     : 0);
	return 0;
}

static int
cmd_flows(const char *cmd, const char *params, struct rte_tel_data *d)
{
	uint64_t ids[RF_TEL_FLOWS];
	uint32_t n;

	(void)cmd;
	(void)params;
	for (int tries = 0;; tries++) {
		int cur = atomic_load_explicit(&tel.current, memory_order_acquire);
		const struct rf__tel_snap *s;
		uint32_t sn;

		if (cur < 0 || tries == RF_TEL_READ_TRIES)
			return -1;
		s = &tel.snap[cur];
		sn = rte_seqlock_read_begin(&s->lock);
		n = RTE_MIN(s->h.nflows, (uint32_t)RF_TEL_FLOWS);
		for (uint32_t i = 0; i < n; i++)
			ids[i] = s->flows[i].id;
		if (!rte_seqlock_read_retry(&s->lock, sn))
			break;
	}
	rte_tel_data_start_array(d, RTE_TEL_U64_VAL);
	/* the loop lists the newest first; oldest first reads better */
	for (uint32_t i = n; i > 0; i--)
		rte_tel_data_add_array_u64(d, ids[i - 1]);
	return 0;
}

static void
add_endpoint(struct rte_tel_data *d, const char *name, const struct rf_endpoint *ep)
{
	char addr[64], text[80];

	rf_addr_format(&ep->addr, addr, sizeof(addr));
	snprintf(text, sizeof(text), ep->addr.family == RF_AF_INET6 ? "[%s]:%u" : "%s:%u", addr,
		 ep->port);
	rte_tel_data_add_dict_string(d, name, text);
}

static int
cmd_flow(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const uint64_t tick_us = TCP_SLOW_INTERVAL * 1000ull;
	struct rf__tel_flow f;
	char *end;
	uint64_t id;

	(void)cmd;
	if (params == NULL || params[0] < '0' || params[0] > '9')
		return -1;
	id = strtoull(params, &end, 10);
	if (*end != '\0' || id == 0 || read_snap(NULL, &f, id) != 0)
		return -1;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "id", f.id);
	if (f.attached) {
		rte_tel_data_add_dict_int(d, "state", f.state);
		rte_tel_data_add_dict_string(d, "state_name", state_names[f.state < RF_TEL_STATES
										     ? f.state
										     : 0]);
		add_endpoint(d, "local", &f.local);
		add_endpoint(d, "remote", &f.remote);
	} else {
		/* closed, reset or aborted: lwIP no longer has the connection */
		rte_tel_data_add_dict_int(d, "state", 0);
		rte_tel_data_add_dict_string(d, "state_name", "detached");
	}
	rte_tel_data_add_dict_u64(d, "snd_wnd", f.snd_wnd);
	rte_tel_data_add_dict_u64(d, "rcv_wnd", f.rcv_wnd);
	rte_tel_data_add_dict_u64(d, "rcv_ann_wnd", f.rcv_ann_wnd);
	rte_tel_data_add_dict_u64(d, "cwnd", f.cwnd);
	rte_tel_data_add_dict_u64(d, "ssthresh", f.ssthresh);
	rte_tel_data_add_dict_u64(d, "mss", f.mss);
	rte_tel_data_add_dict_u64(d, "srtt_us", (uint64_t)RTE_MAX(f.sa, 0) * tick_us / 8);
	rte_tel_data_add_dict_u64(d, "rttvar_us", (uint64_t)RTE_MAX(f.sv, 0) * tick_us / 4);
	rte_tel_data_add_dict_u64(d, "rto_us", (uint64_t)RTE_MAX(f.rto, 0) * tick_us);
	rte_tel_data_add_dict_u64(d, "rtt_tick_us", tick_us);
	rte_tel_data_add_dict_u64(d, "nrtx", f.nrtx);
	rte_tel_data_add_dict_u64(d, "bytes_queued", f.queued);
	rte_tel_data_add_dict_u64(d, "segments_queued", f.queued_segs);
	rte_tel_data_add_dict_u64(d, "snd_buf", f.snd_buf);
	/* bytes handed to TCP and acknowledged (the FIN, once queued, makes it one low) */
	rte_tel_data_add_dict_u64(d, "bytes_acked",
				  f.ctr.tx_bytes > f.queued ? f.ctr.tx_bytes - f.queued : 0);
	rte_tel_data_add_dict_u64(d, "rx_bytes", f.ctr.rx_bytes);
	rte_tel_data_add_dict_u64(d, "tx_bytes", f.ctr.tx_bytes);
	rte_tel_data_add_dict_u64(d, "reads", f.ctr.reads);
	rte_tel_data_add_dict_u64(d, "writes", f.ctr.writes);
	return 0;
}

void
rf__telemetry_start(struct rf_loop *l)
{
	tel.period_tsc = rte_get_tsc_hz() / 1000 * RF_TEL_PERIOD_MS;
	/* commands cannot be unregistered: they are registered once and answer "null" while
	 * no loop runs */
	if (!tel.registered) {
		tel.registered = true;
		rte_seqlock_init(&tel.snap[0].lock);
		rte_seqlock_init(&tel.snap[1].lock);
		rte_telemetry_register_cmd("/rawflow/stats", cmd_stats,
					   "rawflow's counters (struct rf_stats), flows by TCP state. "
					   "No parameters");
		rte_telemetry_register_cmd("/rawflow/flows", cmd_flows,
					   "Ids of open flows, oldest first (at most 512). "
					   "No parameters");
		rte_telemetry_register_cmd("/rawflow/flow", cmd_flow,
					   "One flow: state, windows, cwnd, RTT, queued bytes, "
					   "counters. Parameter: flow id");
	}
	rf__telemetry_publish(l, rte_get_tsc_cycles());
}

void
rf__telemetry_stop(struct rf_loop *l)
{
	(void)l;
	atomic_store_explicit(&tel.current, -1, memory_order_release);
}
