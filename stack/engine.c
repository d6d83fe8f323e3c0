/*
 * The per-core engine: start-up of one stack, and its run-to-completion loop pass.
 *
 * One pass, as named phases:
 *   rx       bursts from each port's queue: up to RF_RX_BURSTS bursts of RF_RX_BURST frames
 *            while the queue keeps giving full bursts, so that a pass busy sending (every ACK
 *            can release a window's worth of segments) still drains what arrives
 *   input    each frame through lwIP (ARP, IP, ICMP, TCP; TCP hands data to flow/)
 *   timers   lwIP's periodic work that is due (retransmission, delayed ACK, ARP ageing)
 *   complete flow/'s completions: reads, writes, closes that resolved, in order
 *   flush    frames queued for sending leave in one burst per port (with impairment on,
 *            held frames that are due join them first)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/priv/tcp_priv.h"

#include "rf_pressure.h"
#include "rf_security.h"
#include "rf_stack.h"

#define RF_RX_BURST 32
#define RF_RX_BURSTS 4

int
rf_stack_init(struct rf_stack *s, const struct rf_stack_conf *conf)
{
	uint16_t nports = rf_port_count();
	struct rf_stack_conf noaddr = {0};
	struct rf_impair_conf impair;
	char err[256];
	int rc;

	RTE_BUILD_BUG_ON(sizeof(struct rf_mbuf_priv) % RTE_MBUF_PRIV_ALIGN != 0);
	memset(s, 0, sizeof(*s));
	s->force_copy = conf->force_copy;
	if (nports == 0) {
		fprintf(stderr, "no usable port: the EAL probed no network device "
				"(give one with --vdev or an allowed PCI address)\n");
		return -ENODEV;
	}
	if (nports > RF_MAX_PORTS) {
		fprintf(stderr, "%u ports probed; rawflow drives at most %u per process\n", nports,
			RF_MAX_PORTS);
		return -E2BIG;
	}
	if (rf_clock_init() != 0) {
		fprintf(stderr, "cannot read the TSC frequency from DPDK (is the EAL started?)\n");
		return -ENODEV;
	}
	if (conf->impair != NULL && rf_impair_parse(conf->impair, &impair, err, sizeof(err)) != 0) {
		fprintf(stderr, "impairment \"%s\": %s\n", conf->impair, err);
		return -EINVAL;
	}
	lwip_init();
	rc = rf_pools_create(&s->pools, conf->pkt_mbufs, sizeof(struct rf_mbuf_priv));
	if (rc != 0)
		return rc;
	/* per-core bounds from the pool and --max-flows (rf_security.h) */
	rf_core_bounds_init(conf->pkt_mbufs, conf->max_flows);

	for (uint16_t i = 0; i < nports; i++) {
		struct rf_iface *ifc = &s->ifs[i];

		rc = rf_port_setup(&ifc->port, i, s->pools.pkt, conf->cores, conf->core, conf->mtu);
		if (rc != 0)
			goto fail;
		s->nports++;
		if (i == 0 && conf->mac_set && conf->core == 0 &&
		    rf_port_set_mac(&ifc->port, &conf->mac) != 0)
			RF_LOG(WARNING, stack, "port 0: device refused the MAC address; using it anyway\n");
		/* Only the first port gets the configured address; further ports come up without
		 * one (appliances with several ports are future work). */
		if (rf_netif_add(s, ifc, i == 0 ? conf : &noaddr) != 0) {
			fprintf(stderr, "port %u: cannot add lwIP interface\n", i);
			rc = -EINVAL;
			goto fail;
		}
		if (i == 0)
			netif_set_default(&ifc->nif);
	}
	if (conf->pcap != NULL) { /* after the ports exist (one interface block each) */
		rc = rf_capture_open(&s->cap, conf->pcap, conf->pcap_snaplen, conf->mtu);
		if (rc != 0)
			goto fail;
		for (uint16_t i = 0; i < s->nports; i++)
			s->ifs[i].port.cap = s->cap;
	}
	if (conf->embedded && conf->core == 0) {
		/* kernel side of the wire: the first address of the stack's subnet that is not
		 * the stack's own (198.18.0.1 next to 198.18.0.2) */
		uint32_t net = ntohl(conf->ip4_be & conf->mask4_be);
		uint32_t peer = htonl(net + 1) == conf->ip4_be ? htonl(net + 2) : htonl(net + 1);

		struct rte_ether_addr kmac = s->ifs[0].port.mac;
		uint8_t peer6[16];

		/* the kernel side gets a MAC of its own (net_tap gives it the PMD's) */
		kmac.addr_bytes[5] ^= 0x01;
		rc = rf_tap_kernel_set_mac(RF_EMBEDDED_IFACE, &kmac);
		if (rc == 0)
			rc = rf_tap_kernel_setup(RF_EMBEDDED_IFACE, peer, conf->mask4_be);
		/* IPv6 kernel side: the stack's address with the last byte 1 (or 2 if taken) */
		memcpy(peer6, conf->ip6, 16);
		peer6[15] = conf->ip6[15] == 1 ? 2 : 1;
		if (rc == 0 && conf->ip6_set)
			rc = rf_tap_kernel_setup6(RF_EMBEDDED_IFACE, peer6);
		if (rc != 0) {
			fprintf(stderr, "cannot configure the kernel side of %s: %s\n",
				RF_EMBEDDED_IFACE, strerror(-rc));
			goto fail;
		}
	}
	rf_timers_init(s->timers, rf_clock_ms());
	/* the baseline: RX rings filled, nothing queued for sending (start-up sent MLD/ND) */
	rf_stack_reclaim(s);
	s->idle_mbufs = rf_pool_in_use(s->pools.pkt);
	/* the pool's low mark, from what the RX rings left free (rf_pressure.h) */
	rf_pool_pressure_init(conf->pkt_mbufs > s->idle_mbufs ? conf->pkt_mbufs - s->idle_mbufs : 0);
	/* impairment from here on: start-up frames and the baseline are not affected */
	for (uint16_t i = 0; conf->impair != NULL && rf_impair_conf_active(&impair) && i < s->nports;
	     i++) {
		rc = rf_port_impair(&s->ifs[i].port, &impair, s->pools.pkt);
		if (rc != 0)
			goto fail;
	}
	return 0;
fail:
	rf_stack_fini(s);
	return rc;
}

/* What a full send queue refused (stack/netif.c) lwIP keeps on its fast timer's list (patch
 * 0013): once every queue is at most half full again, that timer runs now rather than at its
 * next 100 ms tick, and stops early again if a queue fills. A burst of thousands of delayed
 * ACKs (many connections answered at once) so leaves as fast as the device takes it, where
 * the queue used to drop all but its first 1,024 frames. */
static void
resend_refused(struct rf_stack *s)
{
	for (uint16_t i = 0; i < s->nports; i++)
		if (s->ifs[i].port.tx_len > RF_TX_QUEUE / 2)
			return;
	s->tx_refused = false;
	tcp_fasttmr();
}

unsigned int
rf_stack_poll(struct rf_stack *s, uint64_t now_tsc)
{
	struct rte_mbuf *pkts[RF_RX_BURST];
	unsigned int got = 0;

	for (uint16_t i = 0; i < s->nports; i++) {
		s->ifs[i].port.pass_tsc = now_tsc;
		for (int b = 0; b < RF_RX_BURSTS; b++) {
			uint16_t n = rf_port_rx(&s->ifs[i].port, pkts, RF_RX_BURST);

			if (n == 0)
				break;
			if (unlikely(s->cap != NULL)) /* --pcap: as received, before lwIP sees it */
				rf_capture_burst(s->cap, s->ifs[i].port.id, pkts, n, false);
			/* after the PMD refilled its ring: what the burst's segments may take */
			rf_pool_pressure_sample(rte_mempool_avail_count(s->pools.pkt));
			rf_netif_input(&s->ifs[i], pkts, n);
			got += n;
			if (n < RF_RX_BURST)
				break;
		}
	}
	/* Most passes come before the next deadline (the shortest interval is 100 ms): they
	 * skip the phase. With a fake clock (tests) the phase runs on every pass. */
	if (now_tsc >= s->timers_due_tsc || unlikely(rf__clock_fake_ms != 0)) {
		uint64_t next_ms = rf_timers_run(s->timers, rf_clock_ms_at(now_tsc));

		s->timers_due_tsc = rf__clock_fake_ms != 0 ? 0 : rf_clock_tsc_at_ms(next_ms);
	}
	if (s->completions != NULL)
		got += s->completions(s->completions_arg);
	for (uint16_t i = 0; i < s->nports; i++)
		if (s->ifs[i].port.tx_len || s->ifs[i].port.impair) /* held frames may be due */
			rf_port_flush(&s->ifs[i].port);
	if (unlikely(s->tx_refused))
		resend_refused(s);
	if (s->cap != NULL)
		rf_capture_flush(s->cap); /* this pass's captured frames: one write */
	return got;
}

void
rf_stack_reclaim(struct rf_stack *s)
{
	for (uint16_t i = 0; i < s->nports; i++)
		rf_port_reclaim(&s->ifs[i].port);
}

void
rf_stack_read_port_stats(struct rf_stack *s)
{
	for (uint16_t i = 0; i < s->nports; i++)
		rf_port_read_stats(&s->ifs[i].port);
}

unsigned int
rf_stack_fini(struct rf_stack *s)
{
	unsigned int left = 0;

	if (s->cap != NULL) { /* queued frames out (and captured), then the file closed */
		rf_stack_reclaim(s);
		rf_capture_close(s->cap);
		s->cap = NULL;
		for (uint16_t i = 0; i < s->nports; i++)
			s->ifs[i].port.cap = NULL;
	}
	for (uint16_t i = 0; i < s->nports; i++) {
		netif_remove(&s->ifs[i].nif);
		rf_port_close(&s->ifs[i].port);
	}
	s->nports = 0;
	if (s->pools.pkt != NULL) {
		/* every ring is gone with its port: a buffer still out is held or leaked */
		left = rf_pool_in_use(s->pools.pkt);
		if (left != 0)
			RF_LOG(WARNING, stack,
			       "%u packet buffers not back in the pool after the ports closed (held by "
			       "the application, kept by a device that does not empty its rings at "
			       "close, or leaked)\n", left);
		else
			RF_LOG(INFO, stack, "every packet buffer back in the pool after the ports closed\n");
		rf_pools_free(&s->pools);
	}
	return left;
}
