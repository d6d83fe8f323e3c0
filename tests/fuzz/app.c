/*
 * The fuzz target's application side and the reset between inputs (fuzz.h).
 *
 * The application: every flow keeps a read pending; what it reads is released at once (or
 * held, after FZ_HOLD, which closes the window); the peer's EOF is answered with
 * rf_flow_close; an error leaves the flow to the reset. Accepted flows and the two connecting
 * flows take the actions of enum fz_action.
 *
 * The reset. lwIP keeps its state in globals and the EAL starts once per process, so the
 * stack is not created per input: it is brought back to one known state after every input
 * (fz_end), and the same input then runs the same code (libFuzzer needs that: coverage that
 * depends on earlier inputs misleads it, and a crash must reproduce from its input alone):
 *   - every flow aborted and the listener closed through rawflow.h, their completions run;
 *   - lwIP's connection blocks that outlive their flows (TIME-WAIT, LAST-ACK, ...) aborted;
 *   - incomplete IPv4 and IPv6 datagrams given up (the reassembly timers run to their end);
 *   - the ARP table and the neighbour, destination, prefix and router caches emptied, the
 *     IPv6 addresses preferred again (a neighbour advertisement may have marked one), what a
 *     router advertisement may change (IPv6 MTU, reachable time, retransmission timer) and
 *     MLD's report timers set back;
 *   - randomness re-seeded (rte_srand: lwIP's LWIP_RAND), the ephemeral port counter drawn
 *     again from it (tcp_init), lwIP's tick counter zeroed and its fast/slow timer phase
 *     realigned (tcp_tmr is counted through the engine's timer table for that);
 *   - the fake clock back at FZ_T0 and the engine's timer table laid out from it;
 *   - the packet pool's per-core cache emptied (its refills are code paths too);
 *   - initial sequence numbers, the challenge-ACK budget and the SYN-cookie key made
 *     deterministic (det.c: the fuzz binaries link them with --wrap).
 * Then nothing may be left: flows, listeners, lwIP connection blocks, packet buffers above
 * the baseline taken after the first reset. A leak abort()s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_random.h>

#include "lwip/etharp.h"
#include "lwip/ip4_frag.h"
#include "lwip/ip6_frag.h"
#include "lwip/mld6.h"
#include "lwip/nd6.h"
#include "lwip/priv/nd6_priv.h"
#include "lwip/priv/tcp_priv.h"

#include "flow_internal.h"
#include "fuzz_internal.h"

#define FZ_SEED 0x5eed5eedu
#define FZ_MLD6_IDLE_MEMBER 2 /* lwIP's MLD6_GROUP_IDLE_MEMBER (private to mld6.c) */
#define FZ_WRITE_BYTES 3000

void fz_det_reset(void); /* det.c */

void (*fz_seen_read)(int accepted, const uint8_t *data, size_t len);

/* ---- the application ----------------------------------------------------------------- */

static struct fz_app *
app_new(struct rf_flow *f, bool accepted)
{
	struct fz_app *a;

	if (fz.napps == FZ_MAX_APPS)
		return NULL;
	a = &fz.apps[fz.napps++];
	memset(a, 0, sizeof(*a));
	a->flow = f;
	a->accepted = accepted;
	return a;
}

static void
release_held(struct fz_app *a)
{
	while (a->nheld > 0)
		rf_buf_release(a->held[--a->nheld]);
}

/* The flow is given up: aborted, and forgotten at once (its ECANCELED completions still come,
 * and find flow NULL). */
static void
give_up(struct fz_app *a)
{
	struct rf_flow *f = a->flow;

	release_held(a);
	if (f == NULL)
		return;
	a->flow = NULL;
	rf_flow_abort(f);
}

static void
on_close(struct rf_flow *f, int status, void *arg)
{
	struct fz_app *a = arg;

	(void)f;
	(void)status;
	release_held(a);
	a->flow = NULL; /* freed when this returns */
}

static void
close_app(struct fz_app *a)
{
	if (a->flow == NULL || a->closing)
		return;
	a->closing = true;
	if (rf_flow_close(a->flow, on_close, a) != 0)
		give_up(a);
}

static void on_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg);

static void
read_next(struct fz_app *a)
{
	if (a->reading || a->flow == NULL)
		return;
	if (rf_flow_read(a->flow, on_read, a) == 0)
		a->reading = true;
}

static void
on_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg)
{
	struct fz_app *a = arg;

	(void)f;
	a->reading = false;
	if (status != RF_OK) {
		if (status == RF_EOF && a->flow != NULL)
			close_app(a);
		return; /* an error: the flow waits for the reset (or its close completes) */
	}
	if (fz_seen_read != NULL)
		fz_seen_read(a->accepted, b->data, b->len);
	if (a->flow != NULL && fz.hold && a->nheld < FZ_MAX_HELD)
		a->held[a->nheld++] = b;
	else
		rf_buf_release(b);
	read_next(a);
}

static void
on_accept(struct rf_listener *ls, struct rf_flow *f, void *arg)
{
	struct fz_app *a = app_new(f, true);

	(void)ls;
	(void)arg;
	if (a == NULL) {
		rf_flow_abort(f);
		return;
	}
	a->connected = true;
	read_next(a);
}

static void
on_connect(struct rf_flow *f, int status, void *arg)
{
	struct fz_app *a = arg;

	(void)f;
	if (a->flow == NULL)
		return;
	if (status != RF_OK) {
		a->flow = NULL; /* freed when this returns */
		return;
	}
	a->connected = true;
	read_next(a);
}

static void
connect_to(const char *ip)
{
	struct rf_addr addr;
	struct fz_app *a = app_new(NULL, false);
	struct rf_flow *f;

	if (a == NULL || rf_addr_parse(ip, &addr) != 0 ||
	    rf_connect(fz.loop, &addr, FZ_CONNECT_PORT, on_connect, a, &f) != 0) {
		fprintf(stderr, "fuzz: cannot connect to %s\n", ip);
		abort();
	}
	a->flow = f;
}

void
fz_begin(void)
{
	int rc = rf_listen(fz.loop, NULL, FZ_LISTEN_PORT, on_accept, NULL, &fz.ls);

	if (rc != 0) {
		fprintf(stderr, "fuzz: rf_listen: %s\n", rf_error_message(rc));
		abort();
	}
	connect_to(FZ_PEER_IP);
	connect_to(FZ_PEER_IP6);
	fz_settle(); /* ARP and neighbour discovery answered, both SYNs out */
}

static void
write_app(struct fz_app *a)
{
	uint32_t len = rf_buf_max() < FZ_WRITE_BYTES ? rf_buf_max() : FZ_WRITE_BYTES;
	struct rf_buf *b;

	if (a->flow == NULL || !a->connected || a->closing)
		return;
	b = rf_buf_alloc(fz.loop, len);
	if (b == NULL)
		return;
	for (uint32_t i = 0; i < len; i++)
		b->data[i] = (uint8_t)i;
	rf_flow_write(a->flow, b, NULL, NULL); /* may fail (shut down): the buffer is consumed */
}

void
fz_act(enum fz_action act)
{
	if (act == FZ_HOLD || act == FZ_RELEASE)
		fz.hold = act == FZ_HOLD;
	for (unsigned int i = 0; i < fz.napps; i++) {
		struct fz_app *a = &fz.apps[i];

		switch (act) {
		case FZ_WRITE:
			write_app(a);
			break;
		case FZ_CLOSE_ACCEPTED:
		case FZ_CLOSE_CONNECTED:
			if (a->accepted == (act == FZ_CLOSE_ACCEPTED))
				close_app(a);
			break;
		case FZ_SHUTDOWN_WR:
			if (a->flow != NULL && a->connected && !a->closing)
				rf_flow_shutdown(a->flow, RF_SHUT_WR);
			break;
		case FZ_RELEASE:
			release_held(a);
			break;
		case FZ_ABORT:
			give_up(a);
			break;
		default:
			break;
		}
	}
	fz_settle();
}

/* ---- the reset ----------------------------------------------------------------------- */

/* lwIP's tcp_tmr, counted: it runs the slow timer every other call (a phase the reset
 * realigns). */
static void
counted_tcp_tmr(void)
{
	fz.tcp_tmr_calls++;
	tcp_tmr();
}

static void
reset_ipv6(struct netif *nif)
{
	nd6_cleanup_netif(nif);
	for (int i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++)
		if (!ip6_addr_isinvalid(netif_ip6_addr_state(nif, i)))
			netif_ip6_addr_set_state(nif, (s8_t)i, IP6_ADDR_PREFERRED);
	nif->mtu6 = nif->mtu;
	nif->rs_count = 0;
	reachable_time = LWIP_ND6_REACHABLE_TIME;
	retrans_timer = LWIP_ND6_RETRANS_TIMER;
	for (struct mld_group *g = netif_mld6_data(nif); g != NULL; g = g->next) {
		g->group_state = FZ_MLD6_IDLE_MEMBER;
		g->timer = 0;
	}
}

static void
reset(void)
{
	struct netif *nif = &fz.loop->stack.ifs[0].nif;
	struct rf_timer *t = fz.loop->stack.timers;

	/* the application */
	for (unsigned int i = 0; i < fz.napps; i++)
		give_up(&fz.apps[i]);
	if (fz.ls != NULL)
		rf_listener_close(fz.ls);
	fz.ls = NULL;
	fz.hold = false;
	fz_settle(); /* the aborts' completions; flows freed */
	fz.napps = 0;

	/* lwIP */
	while (tcp_active_pcbs != NULL)
		tcp_abort(tcp_active_pcbs);
	while (tcp_tw_pcbs != NULL)
		tcp_abort(tcp_tw_pcbs);
	for (int i = 0; i <= IP_REASS_MAXAGE; i++)
		ip_reass_tmr();
	for (int i = 0; i <= IPV6_REASS_MAXAGE; i++)
		ip6_reass_tmr();
	fz_settle(); /* RSTs and ICMP time-exceeded out */
	etharp_cleanup_netif(nif);
	reset_ipv6(nif);
	rte_srand(FZ_SEED);
	tcp_init();
	if (fz.tcp_tmr_calls & 1)
		counted_tcp_tmr(); /* no connection left: only the phase moves */
	tcp_ticks = 0;
	fz_det_reset();

	/* time */
	fz.now = FZ_T0;
	rf_clock_fake(fz.now);
	rf_timers_init(t, fz.now);
	for (int i = 0; i < RF_NUM_TIMERS; i++)
		if (t[i].fn == tcp_tmr)
			t[i].fn = counted_tcp_tmr;
	fz.loop->tel_next_tsc = UINT64_MAX; /* no telemetry snapshots: they follow the TSC */
	fz_collect();
	/* the packet pool's per-core cache emptied, so that allocations take the same path
	 * (cache or ring refill) whatever the inputs before */
	rte_mempool_cache_flush(rte_mempool_default_cache(fz.pool, rte_lcore_id()), fz.pool);
	fz.niss = 0;
}

/* Packet buffers in use, after the devices gave back what they sent. */
static uint64_t
mbufs_in_use(struct rf_stats *st)
{
	rf_loop_stats(fz.loop, st);
	fz_collect();
	rf_loop_stats(fz.loop, st);
	return st->mbufs_in_use;
}

void
fz_reset_init(void)
{
	struct rf_stats st;

	reset();
	fz.mbufs_baseline = mbufs_in_use(&st);
}

void
fz_end(void)
{
	struct rf_stats st;
	uint64_t in_use;

	if (getenv("FZ_TRACE") != NULL) { /* what the input reached, before the reset */
		rf_loop_stats(fz.loop, &st);
		fprintf(stderr, "  flows opened %llu (open %llu), TCP segments in %llu out %llu, "
				"dropped: link %llu ip %llu tcp %llu\n",
			(unsigned long long)st.flows_opened, (unsigned long long)st.flows_open,
			(unsigned long long)st.rx_segments, (unsigned long long)st.tx_segments,
			(unsigned long long)st.rx_link_dropped, (unsigned long long)st.rx_ip_dropped,
			(unsigned long long)st.rx_tcp_dropped);
	}
	reset();
	in_use = mbufs_in_use(&st);
	if (st.flows_open != 0 || st.listeners != 0 || st.tcp_pcbs_in_use != 0 ||
	    in_use != fz.mbufs_baseline) {
		fprintf(stderr,
			"fuzz: leak after the reset: %llu flows, %llu listeners, %llu lwIP "
			"connection blocks, %llu packet buffers in use (baseline %llu)\n",
			(unsigned long long)st.flows_open, (unsigned long long)st.listeners,
			(unsigned long long)st.tcp_pcbs_in_use, (unsigned long long)in_use,
			(unsigned long long)fz.mbufs_baseline);
		abort();
	}
}
