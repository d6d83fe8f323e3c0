/*
 * The loop: start-up from arguments, the pass, the completion queue, counters.
 *
 * A pass is stack/engine.c's: rx -> input -> timers -> completions -> tx flush. This file
 * owns the "completions" phase: lwIP's callbacks (during input and timers) never call the
 * application; they queue a completion, and this phase runs them in order, at most
 * RF_COMPLETIONS_PER_PASS per pass. Callbacks may start new operations; what those resolve
 * to is queued behind, never run inside the call.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_random.h>

#include "lwip/priv/tcp_priv.h"
#include "lwip/stats.h"

#include "flow_internal.h"
#include "rf_pressure.h"
#include "rf_security.h"

#define RF_DEFAULT_IP "198.18.0.2/24"
#define RF_DEFAULT_MBUFS 65535
/* The default pool for --max-flows flows: one element per flow on top of half the default,
 * and never less than the default. An idle flow still pins an element while the peer has not
 * acknowledged its last segment (or the application holds what it read), and when every
 * element is pinned, receiving stops: the ACKs that would release them are never read. With
 * 100,000 connections answering at once, a 65,535-element pool did that here. */
static unsigned int
default_mbufs(uint64_t max_flows)
{
	return (unsigned int)RTE_MAX((uint64_t)RF_DEFAULT_MBUFS, max_flows + RF_DEFAULT_MBUFS / 2);
}
#define RF_RING_INITIAL 1024

struct rf_loop *rf__loop;

int
rf_args_first(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0)
			return i + 1;
	return 1;
}

uint64_t
rf_loop_now_ns(const struct rf_loop *l)
{
	return rf_clock_tsc_to_ns(l->now_tsc);
}

/* 0 before rf_loop_create() started the EAL (DPDK knows no TSC rate before; stack/clock.c
 * learns it as the stack starts, right after). */
uint64_t
rf_now_ns(void)
{
	return rf_clock_tsc_to_ns(rte_rdtsc());
}

/* "A.B.C.D/len" into address and mask (network order). */
static int
parse_cidr(const char *s, uint32_t *ip_be, uint32_t *mask_be)
{
	char buf[64];
	char *slash, *end;
	long len = 32;
	struct in_addr a;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash != NULL) {
		*slash = '\0';
		len = strtol(slash + 1, &end, 10);
		if (*end != '\0' || end == slash + 1 || len < 1 || len > 32)
			return -1;
	}
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -1;
	*ip_be = a.s_addr;
	*mask_be = htonl(len == 32 ? 0xffffffffu : ~(0xffffffffu >> len));
	return 0;
}

/* "ADDR/64" (or a bare address, taken as /64) into 16 bytes. lwIP decides on-link by the
 * first 64 bits, so other prefix lengths are refused rather than silently wrong. */
static int
parse_cidr6(const char *s, uint8_t out[16])
{
	char buf[64];
	char *slash;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash != NULL) {
		if (strcmp(slash + 1, "64") != 0)
			return -1;
		*slash = '\0';
	}
	return inet_pton(AF_INET6, buf, out) == 1 ? 0 : -1;
}

static int
config_stack(const struct rf_config *cfg, struct rf_stack_conf *sc)
{
	const char *ip = cfg != NULL && cfg->ip != NULL ? cfg->ip : RF_DEFAULT_IP;

	memset(sc, 0, sizeof(*sc));
	if (parse_cidr(ip, &sc->ip4_be, &sc->mask4_be) != 0) {
		fprintf(stderr, "malformed address \"%s\" (expected A.B.C.D/len)\n", ip);
		return RF_EINVAL;
	}
	if (cfg != NULL && cfg->gw != NULL) {
		struct in_addr a;

		if (inet_pton(AF_INET, cfg->gw, &a) != 1) {
			fprintf(stderr, "malformed gateway \"%s\" (expected A.B.C.D)\n", cfg->gw);
			return RF_EINVAL;
		}
		sc->gw4_be = a.s_addr;
	}
	if (cfg != NULL && cfg->ip6 != NULL && parse_cidr6(cfg->ip6, sc->ip6) != 0) {
		fprintf(stderr, "malformed IPv6 address \"%s\" (expected ADDR/64)\n", cfg->ip6);
		return RF_EINVAL;
	}
	sc->ip6_set = cfg != NULL && cfg->ip6 != NULL;
	if (cfg != NULL && cfg->mac != NULL) {
		if (rte_ether_unformat_addr(cfg->mac, &sc->mac) != 0) {
			fprintf(stderr, "malformed MAC address \"%s\"\n", cfg->mac);
			return RF_EINVAL;
		}
		sc->mac_set = true;
	}
	sc->pkt_mbufs = cfg != NULL && cfg->mbufs ? cfg->mbufs
				 : default_mbufs(cfg != NULL && cfg->max_flows
							 ? cfg->max_flows
							 : RF_MAX_FLOWS_DEFAULT);
	sc->max_flows = cfg != NULL && cfg->max_flows ? cfg->max_flows : RF_MAX_FLOWS_DEFAULT;
	sc->force_copy = cfg != NULL && cfg->force_copy;
	if (cfg != NULL && cfg->mtu != 0 && (cfg->mtu < RF_MTU_MIN || cfg->mtu > RF_MTU_MAX)) {
		fprintf(stderr, "MTU %u is out of range %u..%u\n", cfg->mtu, RF_MTU_MIN, RF_MTU_MAX);
		return RF_EINVAL;
	}
	sc->mtu = cfg != NULL ? (uint16_t)cfg->mtu : 0;
	sc->pcap = cfg != NULL ? cfg->pcap : NULL;
	sc->pcap_snaplen = cfg != NULL ? cfg->pcap_snaplen : 0;
	if (cfg != NULL && cfg->impair != NULL) {
		char err[256];

		if (rf_impair_check(cfg->impair, err, sizeof(err)) != 0) {
			fprintf(stderr, "impairment \"%s\": %s\n", cfg->impair, err);
			return RF_EINVAL;
		}
		sc->impair = cfg->impair;
	}
	return 0;
}

int
rf_impair_check(const char *spec, char *err, size_t errlen)
{
	struct rf_impair_conf conf;

	return rf_impair_parse(spec, &conf, err, errlen) == 0 ? 0 : RF_EINVAL;
}

/* lwIP finds the connection of a segment in a hash of its 4-tuple (stack/patches/0009),
 * sized here for the most flows the loop may hold, with a fresh secret key; n == 0 gives the
 * memory back. Connections lwIP still keeps without a flow (TIME-WAIT, LAST-ACK) share it. */
static int
pcb_hash_size(uint64_t n)
{
	uint64_t r0 = rte_rand(), r1 = rte_rand();
	const u32_t key[4] = {(u32_t)r0, (u32_t)(r0 >> 32), (u32_t)r1, (u32_t)(r1 >> 32)};

	if (tcp_pcb_hash_size((u32_t)RTE_MIN(n, (uint64_t)UINT32_MAX), key) != ERR_OK) {
		fprintf(stderr, "rawflow: out of memory for the connection hash of %" PRIu64
				" flows (--max-flows)\n", n);
		return RF_ENOMEM;
	}
	return 0;
}

static int
ring_push(struct rf__ring *r, const struct rf__comp *c)
{
	if (r->tail - r->head > r->mask) {
		uint32_t n = (r->mask + 1) * 2;
		struct rf__comp *v = malloc(n * sizeof(*v));

		if (v == NULL)
			return -1;
		for (uint32_t i = 0; r->head + i != r->tail; i++)
			v[i] = r->v[(r->head + i) & r->mask];
		r->tail -= r->head;
		r->head = 0;
		free(r->v);
		r->v = v;
		r->mask = n - 1;
	}
	r->v[r->tail++ & r->mask] = *c;
	return 0;
}

void
rf__complete(struct rf_loop *l, const struct rf__comp *c)
{
	/* A completion that cannot be queued would break the contract silently; running out of
	 * memory for a few dozen bytes here leaves nothing sane to do. */
	if (ring_push(&l->comps, c) != 0) {
		fprintf(stderr, "rawflow: out of memory queueing a completion\n");
		abort();
	}
}

static unsigned int
run_completions(void *arg)
{
	struct rf_loop *l = arg;
	struct rf__ring *r = &l->comps;
	uint32_t n = 0;

	/* Completions queued by callbacks of this phase (a read issued from a read callback,
	 * with data waiting) run in this phase too, behind everything queued before them:
	 * one buffer per flow per pass would cap a reader at the loop's pass rate. The bound
	 * keeps the pass finite; FIFO order keeps flows taking turns. */
	while (r->head != r->tail && n < RF_COMPLETIONS_PER_PASS) {
		struct rf__comp c = r->v[r->head++ & r->mask];

		rf__dispatch(l, &c);
		n++;
	}
	rf__flows_credit(l); /* window updates of this phase's releases, one per flow */
	return n;
}

static int launch(int *argc, char ***argv, unsigned int cores, struct rf_stack_conf *sc,
		  struct rf_launch *mc);

int
rf_loop_create(struct rf_loop **out, int argc, char **argv, const struct rf_config *cfg)
{
	struct rf_stack_conf sc;
	struct rf_launch mc = {.cores = 1};
	struct rf_loop *l;
	bool embedded;
	int rc;

	if (out == NULL || argc < 1 || argv == NULL)
		return RF_EINVAL;
	if (rf__loop != NULL) {
		fprintf(stderr, "rawflow: one loop per process (lwIP keeps its state in globals)\n");
		return RF_EALREADY;
	}
	rc = config_stack(cfg, &sc);
	if (rc != 0)
		return rc;
	if (cfg != NULL && cfg->cores > 1) {
		rc = launch(&argc, &argv, cfg->cores, &sc, &mc);
		if (rc != 0)
			return rc;
	}
	if (rf_eal_start(argc, argv, &embedded) < 0)
		return RF_EINVAL;
	sc.embedded = embedded || (mc.cores > 1 && mc.embedded);
	if (sc.embedded && !sc.ip6_set) { /* 2001:2::2/64, from the IPv6 benchmarking range */
		static const uint8_t def6[16] = {0x20, 0x01, 0x00, 0x02, [15] = 0x02};

		memcpy(sc.ip6, def6, 16);
		sc.ip6_set = true;
	}

	l = rte_zmalloc("rf_loop", sizeof(*l), RTE_CACHE_LINE_SIZE);
	if (l == NULL) {
		fprintf(stderr, "rawflow: out of memory for the loop\n");
		rf_eal_stop();
		return RF_ENOMEM;
	}
	l->comps.v = malloc(RF_RING_INITIAL * sizeof(*l->comps.v));
	l->comps.mask = RF_RING_INITIAL - 1;
	rc = l->comps.v == NULL ? -ENOMEM : rf_stack_init(&l->stack, &sc);
	if (rc != 0) {
		free(l->comps.v);
		rte_free(l);
		rf_eal_stop();
		return rc == -ENODEV ? RF_ENODEV : rc;
	}
	l->max_flows = cfg != NULL && cfg->max_flows ? cfg->max_flows : RF_MAX_FLOWS_DEFAULT;
	rc = pcb_hash_size(l->max_flows);
	if (rc != 0) {
		rf_stack_fini(&l->stack);
		free(l->comps.v);
		rte_free(l);
		rf_eal_stop();
		return rc;
	}
	l->stack.completions = run_completions;
	l->now_tsc = rte_rdtsc();
	l->stack.completions_arg = l;
	l->mc = mc;
	if (mc.cores > 1 && rf__launch_attach(&l->mc) != 0) {
		rf_stack_fini(&l->stack);
		pcb_hash_size(0);
		free(l->comps.v);
		rte_free(l);
		rf_eal_stop();
		return RF_ENOMEM;
	}
	rf__loop = l;
	rf__telemetry_start(l);
	if (mc.cores > 1)
		rf__launch_ready(&l->mc);
	*out = l;
	return 0;
}

/* --cores: this process becomes the launcher (never returning) or one core, with that core's
 * argv; the primary's pool holds every core's share. */
static int
launch(int *argc, char ***argv, unsigned int cores, struct rf_stack_conf *sc,
       struct rf_launch *mc)
{
	/* the pools (4 KiB per packet element, ~0.5 KiB per header element) of all cores */
	unsigned long mb = (unsigned long)(((uint64_t)sc->pkt_mbufs * cores * 4608) >> 20);

	if (cores > RF_MAX_CORES_CONFIG) {
		fprintf(stderr, "rawflow: at most %u cores\n", RF_MAX_CORES_CONFIG);
		return RF_EINVAL;
	}
	mc->embedded = rf_args_first(*argc, *argv) == 1;
	if (rf__launch(*argc, *argv, cores, mb, mc) != 0)
		return RF_EINVAL;
	*argc = mc->argc;
	*argv = mc->argv;
	sc->cores = (uint16_t)cores;
	sc->core = (uint16_t)mc->core;
	sc->pkt_mbufs *= cores;
	if (sc->pcap != NULL) { /* --pcap FILE: FILE.coreN, one per core */
		size_t n = strlen(sc->pcap) + 16;
		char *p = malloc(n);

		if (p == NULL)
			return RF_ENOMEM;
		snprintf(p, n, "%s.core%u", sc->pcap, mc->core);
		sc->pcap = p; /* kept for the process's life */
	}
	return 0;
}

unsigned int
rf_loop_core(const struct rf_loop *l)
{
	return l->mc.cores > 1 ? l->mc.core : 0;
}

bool
rf_loop_links_up(const struct rf_loop *l)
{
	for (uint16_t i = 0; i < l->stack.nports; i++)
		if (!rf_port_link_up(&l->stack.ifs[i].port))
			return false;
	return true;
}

/* lwIP's LWIP_HOOK_TCP_LOCAL_PORT_OK (stack/patches/0025): with --cores, an active open's
 * local port must make the replies' hash select this core's queue on the port lwIP routes
 * through (port 0: the only one with an address). */
int
rf__tcp_local_port_ok(const struct tcp_pcb *pcb, u16_t port)
{
	const struct rf_loop *l = rf__loop;
	bool v6;

	if (l == NULL || l->mc.cores <= 1 || l->stack.nports == 0)
		return 1;
	v6 = IP_IS_V6_VAL(pcb->local_ip);
	if (v6)
		return rf_steer_mine(&l->stack.ifs[0].port, true, ip_2_ip6(&pcb->local_ip)->addr,
				     port, ip_2_ip6(&pcb->remote_ip)->addr, pcb->remote_port);
	return rf_steer_mine(&l->stack.ifs[0].port, false, &ip_2_ip4(&pcb->local_ip)->addr, port,
			     &ip_2_ip4(&pcb->remote_ip)->addr, pcb->remote_port);
}

unsigned int
rf_loop_run_once(struct rf_loop *l)
{
	/* One TSC read per pass (it is slow on some VMs: 15% of a busy pass here when read
	 * four times): the pass's timers, the programs' clock and the busy count share it. */
	uint64_t t0 = rte_rdtsc();
	unsigned int n;

	/* A pass that did something counts as busy, until the next pass starts: with a polling
	 * loop the CPU is always at 100%, so busy cycles are what "cost" means (cycles per
	 * byte, per request). */
	if (l->last_busy)
		l->busy_cycles += t0 - l->now_tsc;
	l->now_tsc = t0;
	n = rf_stack_poll(&l->stack, t0);
	if (l->poll_cb != NULL)
		l->poll_cb(l, l->poll_arg);
	l->last_busy = n != 0;
	if (unlikely(t0 >= l->tel_next_tsc)) /* a snapshot for DPDK telemetry, every 100 ms */
		rf__telemetry_publish(l, t0);
	return n;
}

int
rf_loop_run(struct rf_loop *l)
{
	l->stop = 0;
	while (!l->stop)
		rf_loop_run_once(l);
	return 0;
}

void
rf_loop_stop(struct rf_loop *l)
{
	l->stop = 1;
}

void
rf_loop_set_poll(struct rf_loop *l, rf_poll_cb *cb, void *arg)
{
	l->poll_cb = cb;
	l->poll_arg = arg;
}

void
rf_loop_stats(struct rf_loop *l, struct rf_stats *o)
{
	struct rf_stack *s = &l->stack;

	memset(o, 0, sizeof(*o));
	rf_stack_reclaim(&l->stack);
	o->rx_payload_bytes = l->rx_payload_bytes;
	o->tx_payload_bytes = s->stats.tx_payload_bytes;
	o->rx_copied_bytes = l->rx_copied_bytes;
	o->tx_copied_bytes = s->stats.tx_copied_bytes;
	o->rx_segments = lwip_stats.tcp.recv;
	o->tx_segments = s->stats.tx_segments;
	o->tx_retransmits = lwip_stats.mib2.tcpretranssegs;
	o->rto_timeouts = lwip_stats.mib2.rf_tcprtotimeouts; /* stack/patches/0020 */
	rf__flows_track_sent(l);
	o->tx_retransmit_bytes = s->stats.tx_payload_bytes > l->tx_new_bytes
					 ? s->stats.tx_payload_bytes - l->tx_new_bytes
					 : 0;
	o->mbufs_in_use = rf_pool_in_use(s->pools.pkt);
	o->mbufs_idle = s->idle_mbufs;
	o->alloc_failures = s->stats.alloc_failures;
	rf_stack_read_port_stats(&l->stack);
	for (uint16_t i = 0; i < s->nports; i++) {
		const struct rf_port_stats *ps = &s->ifs[i].port.stats;

		o->rx_pkts += ps->rx_pkts;
		o->rx_bytes += ps->rx_bytes;
		o->tx_pkts += ps->tx_pkts;
		o->tx_bytes += ps->tx_bytes;
		o->tx_drops += ps->tx_drops;
		o->tx_queue_full += ps->tx_queue_full;
		o->tx_link_down += ps->tx_link_down;
		o->rx_missed += ps->rx_missed;
		o->rx_nombuf += ps->rx_nombuf;
		o->alloc_failures += ps->rx_nombuf;
		o->handoff_rx += ps->handoff_rx;
		o->handoff_tx += ps->handoff_tx;
		o->handoff_dropped += ps->handoff_dropped;
	}
	for (uint16_t i = 0; i < s->nports; i++) {
		const struct rf_impair *im = s->ifs[i].port.impair;
		struct rf_impair_counters rx, tx;

		if (im == NULL)
			continue;
		rf_impair_counters(im, RF_IMPAIR_RX, &rx);
		rf_impair_counters(im, RF_IMPAIR_TX, &tx);
		o->impair_rx_dropped += rx.dropped;
		o->impair_rx_duplicated += rx.duplicated;
		o->impair_rx_reordered += rx.reordered;
		o->impair_rx_corrupted += rx.corrupted;
		o->impair_rx_delayed += rx.delayed;
		o->impair_rx_blackout_dropped += rx.blackout_dropped;
		o->impair_tx_dropped += tx.dropped;
		o->impair_tx_duplicated += tx.duplicated;
		o->impair_tx_reordered += tx.reordered;
		o->impair_tx_corrupted += tx.corrupted;
		o->impair_tx_delayed += tx.delayed;
		o->impair_tx_blackout_dropped += tx.blackout_dropped;
		o->impair_held += rf_impair_held(im);
	}
	o->rx_link_dropped = lwip_stats.link.drop + lwip_stats.etharp.drop;
	o->rx_ip_dropped = lwip_stats.ip.drop + lwip_stats.ip_frag.drop +
			   lwip_stats.mib2.ipreasmfails + lwip_stats.ip6.drop +
			   lwip_stats.ip6_frag.drop + lwip_stats.icmp.drop + lwip_stats.icmp6.drop +
			   lwip_stats.nd6.drop;
	o->rx_tcp_dropped = lwip_stats.tcp.drop;
	o->syn_cookies_sent = rf_syncookies_sent;
	o->syn_cookies_valid = rf_syncookies_valid;
	o->ooseq_pbufs = tcp_ooseq_pbufs_total;
	o->ooseq_dropped = rf_core_bounds.ooseq_dropped;
	o->half_open_cookies = rf_core_bounds.half_open_cookies;
	o->acks_rate_limited = rf_acks_rate_limited;
	o->rx_cksum_errors = lwip_stats.ip.chkerr + lwip_stats.icmp.chkerr +
			     lwip_stats.tcp.chkerr + lwip_stats.ip6.chkerr + lwip_stats.icmp6.chkerr;
	o->rx_dropped = s->stats.rx_frames_dropped;
	o->rx_bad_cksum = s->stats.rx_bad_cksum;
	o->rx_pool_low_dropped = rf_pool_pressure.dropped;
	o->flows_open = l->flows_open;
	o->flows_opened = l->flows_opened;
	o->listeners = l->listeners;
	o->tcp_pcbs_in_use = lwip_stats.memp[MEMP_TCP_PCB]->used;
	for (const struct tcp_pcb *p = tcp_tw_pcbs; p != NULL; p = p->next)
		o->tcp_pcbs_time_wait++;
	o->accept_refused = l->accept_refused;
	o->busy_cycles = l->busy_cycles;
	o->tsc_hz = rte_get_tsc_hz();
}

unsigned int
rf_loop_destroy(struct rf_loop *l)
{
	unsigned int left;

	if (l == NULL)
		return 0;
	if (l->mc.cores > 1) { /* the launcher prints every core's counters and their sum */
		struct rf_stats st;

		rf__launch_stopping(&l->mc);
		rf_loop_stats(l, &st);
		rf__launch_report(&l->mc, &st);
	}
	rf__telemetry_stop(l);
	rf__flows_abort_all(l);
	/* let pending requests report RF_ECANCELED and aborted flows be released */
	while (l->comps.tail != l->comps.head)
		run_completions(l);
	rf_stack_poll(&l->stack, rte_rdtsc()); /* RSTs out */
	left = rf_stack_fini(&l->stack);
	rf__launch_detach(&l->mc);
	pcb_hash_size(0); /* back to lwIP's built-in table: cannot fail */
	rf__views_free(l);
	rf__wreqs_free(l);
	while (l->free_flows != NULL) {
		struct rf_flow *f = l->free_flows;

		l->free_flows = f->next;
		free(f->sent);
		free(f);
	}
	free(l->comps.v);
	rf__loop = NULL;
	rte_free(l);
	rf_eal_stop();
	return left;
}
