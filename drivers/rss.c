/*
 * Steering for several cores (--cores N): which core owns a TCP segment, and the software
 * hand-off that delivers it there when the device did not.
 *
 * The owner of a segment is the queue that the Toeplitz hash of its 4-tuple selects in the
 * redirection table (RETA): what an RSS NIC computes. The key and table are the port's own,
 * read from the device (rte_eth_dev_rss_hash_conf_get, rte_eth_dev_rss_reta_query) where it
 * has them, else a symmetric key (0x6d5a repeated: a 4-tuple and its reverse hash alike) and a
 * table spreading i mod N. The hash itself is DPDK's rte_softrss().
 *
 * Mode "rss": the device was configured for RSS and reported its key and table. The first
 * RF_STEER_CHECKS TCP segments are checked: each must carry the device's hash
 * (RTE_MBUF_F_RX_RSS_HASH) and it must equal ours. One that does not switches the core to
 * "handoff" for good (logged). Mode "handoff": the device cannot hash for us (net_tap's
 * queues follow the kernel's flow hash, net_memif's the peer's choice), so every TCP segment
 * is hashed here. In both modes a segment that arrived at the wrong queue is passed to its
 * owner over the owner's ring (one per port and core, multi-producer, in shared memory: mbufs
 * of the shared pool are valid in every process) and counted (handoff_tx here, handoff_rx
 * there).
 *
 * ARP and IPv6 neighbour discovery go to every core: each needs the neighbours' addresses to
 * send. A copy of an ARP request reaches the other cores rewritten as a reply from the same
 * sender, so that they learn the sender's address without answering: only the receiving core
 * answers. ICMP echo, fragments and anything not TCP are handled where received.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_ip.h>
#include <rte_ring.h>
#include <rte_tcp.h>
#include <rte_thash.h>

#include "rf_drivers.h"

#define RF_STEER_CHECKS 64
#define RF_HANDOFF_RING 4096
#define RF_DEFAULT_RETA 128
#define OWNER_ALL 0xffff /* every core (ARP, neighbour discovery) */
#define OWNER_HERE 0xfffe /* not steered: handled where received */

struct rf_steer {
	struct rf_rss rss;
	enum rf_steer_mode mode;
	uint16_t cores, core;
	uint32_t checks_left; /* rss mode: segments still to compare with the device's hash */
	struct rte_mempool *pool; /* for the copies of ARP / ND frames */
	struct rte_ring *ring[RF_MAX_CORES]; /* hand-off ring of each core for this port */
};

const uint8_t rf_rss_default_key[40] = {
	0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
	0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
	0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

void
rf_rss_default(struct rf_rss *r, uint16_t queues, uint16_t size)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->key, rf_rss_default_key, sizeof(rf_rss_default_key));
	r->key_len = sizeof(rf_rss_default_key);
	r->reta_size = size;
	for (uint16_t i = 0; i < size; i++)
		r->reta[i] = i % queues;
}

void
rf_rss_symmetric(struct rf_rss *r, uint16_t queues, uint16_t size)
{
	rf_rss_default(r, queues, size);
	/* a 16-bit period: swapping addresses (32 bits) or ports (16) meets the same key bits */
	for (uint16_t i = 0; i < r->key_len; i++)
		r->key[i] = i % 2 == 0 ? 0x6d : 0x5a;
}

uint32_t
rf_rss_hash4(const struct rf_rss *r, uint32_t src_be, uint32_t dst_be, uint16_t sport,
	     uint16_t dport)
{
	struct rte_ipv4_tuple t = {.src_addr = rte_be_to_cpu_32(src_be),
				   .dst_addr = rte_be_to_cpu_32(dst_be)};

	t.sport = sport;
	t.dport = dport;
	return rte_softrss((uint32_t *)&t, RTE_THASH_V4_L4_LEN, r->key);
}

uint32_t
rf_rss_hash6(const struct rf_rss *r, const uint8_t src[16], const uint8_t dst[16],
	     uint16_t sport, uint16_t dport)
{
	struct rte_ipv6_tuple t;

	/* rte_softrss() takes host-order words */
	for (int i = 0; i < 4; i++) {
		uint32_t s, d;

		memcpy(&s, src + 4 * i, 4);
		memcpy(&d, dst + 4 * i, 4);
		s = rte_be_to_cpu_32(s);
		d = rte_be_to_cpu_32(d);
		memcpy(t.src_addr + 4 * i, &s, 4);
		memcpy(t.dst_addr + 4 * i, &d, 4);
	}
	t.sport = sport;
	t.dport = dport;
	return rte_softrss((uint32_t *)&t, RTE_THASH_V6_L4_LEN, r->key);
}

/* The device's key and table, when it has them; false otherwise. */
static bool
read_device_rss(uint16_t port_id, uint16_t cores, struct rf_rss *r)
{
	struct rte_eth_rss_reta_entry64 reta[512 / RTE_ETH_RETA_GROUP_SIZE];
	struct rte_eth_rss_conf conf = {.rss_key = r->key, .rss_key_len = RF_RSS_KEY_MAX};
	struct rte_eth_dev_info info;

	if (rte_eth_dev_info_get(port_id, &info) != 0 || info.reta_size == 0 ||
	    info.reta_size > 512 || info.hash_key_size == 0 || info.hash_key_size > RF_RSS_KEY_MAX)
		return false;
	conf.rss_key_len = info.hash_key_size;
	if (rte_eth_dev_rss_hash_conf_get(port_id, &conf) != 0 ||
	    !(conf.rss_hf & (RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV6_TCP)))
		return false;
	r->key_len = conf.rss_key_len;
	memset(reta, 0, sizeof(reta));
	for (uint16_t i = 0; i < info.reta_size; i++) /* tables of fewer than 64 entries too */
		reta[i / RTE_ETH_RETA_GROUP_SIZE].mask |= 1ull << (i % RTE_ETH_RETA_GROUP_SIZE);
	if (rte_eth_dev_rss_reta_query(port_id, reta, info.reta_size) != 0)
		return false;
	r->reta_size = info.reta_size;
	for (uint16_t i = 0; i < info.reta_size; i++) {
		r->reta[i] = reta[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE];
		if (r->reta[i] >= cores)
			return false;
	}
	return true;
}

int
rf_steer_create(struct rf_port *port, uint16_t cores, uint16_t core, bool device_rss,
		struct rte_mempool *pool)
{
	struct rf_steer *st;

	if (cores > RF_MAX_CORES)
		return -E2BIG;
	st = rte_zmalloc("rf_steer", sizeof(*st), RTE_CACHE_LINE_SIZE);
	if (st == NULL)
		return -ENOMEM;
	st->cores = cores;
	st->core = core;
	st->pool = pool;
	if (device_rss && read_device_rss(port->id, cores, &st->rss)) {
		st->mode = RF_STEER_RSS;
		st->checks_left = RF_STEER_CHECKS;
	} else {
		/* The key is ours to choose: a symmetric one, so that a segment and its reply
		 * hash alike. Two rawflow programs with --cores on either end of a link that keeps
		 * queue i to queue i (net_memif) then agree on every connection's core: the
		 * client's local port choice makes its replies come to its core i, and the server
		 * finds the client's segments, which arrive on queue i, to be core i's too. */
		rf_rss_symmetric(&st->rss, cores, RF_DEFAULT_RETA);
		st->mode = RF_STEER_HANDOFF;
	}
	for (uint16_t c = 0; c < cores; c++) {
		char name[RTE_RING_NAMESIZE];

		snprintf(name, sizeof(name), "rf_handoff_p%u_c%u", port->id, c);
		st->ring[c] = rte_eal_process_type() == RTE_PROC_PRIMARY
				      ? rte_ring_create(name, RF_HANDOFF_RING, SOCKET_ID_ANY,
							RING_F_SC_DEQ)
				      : rte_ring_lookup(name);
		if (st->ring[c] == NULL) {
			fprintf(stderr, "port %u (%s): no hand-off ring %s: %s\n", port->id,
				port->name, name, rte_strerror(rte_errno));
			rte_free(st);
			return -ENOMEM;
		}
	}
	port->steer = st;
	RF_LOG(NOTICE, drivers,
	       "port %u (%s): core %u of %u owns queue %u; steering: %s (%u-byte key, %u-entry table)\n",
	       port->id, port->name, core, cores, core,
	       st->mode == RF_STEER_RSS ? "device RSS, checked on the first segments"
					: "software hand-off (the device does not hash for us)",
	       st->rss.key_len, st->rss.reta_size);
	return 0;
}

void
rf_steer_destroy(struct rf_port *port)
{
	struct rf_steer *st = port->steer;
	struct rte_mbuf *m;

	if (st == NULL)
		return;
	/* what was handed to this core and not taken: nobody else will */
	while (rte_ring_sc_dequeue(st->ring[st->core], (void **)&m) == 0)
		rte_pktmbuf_free(m);
	port->steer = NULL;
	rte_free(st);
}

enum rf_steer_mode
rf_steer_mode(const struct rf_port *port)
{
	return port->steer != NULL ? port->steer->mode : RF_STEER_RSS;
}

bool
rf_steer_mine(const struct rf_port *port, bool v6, const void *local, uint16_t lport,
	      const void *remote, uint16_t rport)
{
	const struct rf_steer *st = port->steer;
	uint32_t h, l4, r4;

	if (st == NULL)
		return true;
	/* the hash of the replies as they will arrive: from remote to local */
	if (v6) {
		h = rf_rss_hash6(&st->rss, remote, local, rport, lport);
	} else {
		memcpy(&l4, local, 4);
		memcpy(&r4, remote, 4);
		h = rf_rss_hash4(&st->rss, r4, l4, rport, lport);
	}
	return rf_rss_queue(&st->rss, h) == st->core;
}

/* The owning core of TCP segment m (hash h), checking the device's hash while in rss mode. */
static uint16_t
tcp_owner(struct rf_port *port, struct rte_mbuf *m, uint32_t h)
{
	struct rf_steer *st = port->steer;

	if (st->mode == RF_STEER_RSS) {
		if (likely(st->checks_left == 0))
			return rf_rss_queue(&st->rss, m->hash.rss);
		if (!(m->ol_flags & RTE_MBUF_F_RX_RSS_HASH) || m->hash.rss != h) {
			RF_LOG(WARNING, drivers,
			       "port %u (%s) core %u: the device's RSS hash (%s0x%08x) is not ours (0x%08x): software hand-off from now on\n",
			       port->id, port->name, st->core,
			       m->ol_flags & RTE_MBUF_F_RX_RSS_HASH ? "" : "none, ", m->hash.rss, h);
			st->mode = RF_STEER_HANDOFF;
		} else {
			st->checks_left--;
		}
	}
	return rf_rss_queue(&st->rss, h);
}

/* Who handles frame m: a core, OWNER_ALL or OWNER_HERE. */
static uint16_t
owner(struct rf_port *port, struct rte_mbuf *m)
{
	const struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	uint16_t type;

	if (m->data_len < sizeof(*eh))
		return OWNER_HERE;
	type = rte_be_to_cpu_16(eh->ether_type);
	if (type == RTE_ETHER_TYPE_ARP)
		return OWNER_ALL;
	if (type == RTE_ETHER_TYPE_IPV4) {
		const struct rte_ipv4_hdr *ip = (const void *)(eh + 1);
		uint32_t ihl;
		const struct rte_tcp_hdr *th;

		if (m->data_len < sizeof(*eh) + sizeof(*ip) || ip->next_proto_id != IPPROTO_TCP ||
		    (rte_be_to_cpu_16(ip->fragment_offset) &
		     (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0)
			return OWNER_HERE;
		ihl = (uint32_t)(ip->version_ihl & 0x0f) * 4;
		if (ihl < sizeof(*ip) || m->data_len < sizeof(*eh) + ihl + 4)
			return OWNER_HERE;
		th = (const void *)((const uint8_t *)ip + ihl);
		return tcp_owner(port, m,
				 rf_rss_hash4(&port->steer->rss, ip->src_addr, ip->dst_addr,
					      rte_be_to_cpu_16(th->src_port),
					      rte_be_to_cpu_16(th->dst_port)));
	}
	if (type == RTE_ETHER_TYPE_IPV6) {
		const struct rte_ipv6_hdr *ip = (const void *)(eh + 1);
		const uint8_t *l4 = (const uint8_t *)(ip + 1);
		const struct rte_tcp_hdr *th = (const void *)l4;

		if (m->data_len < sizeof(*eh) + sizeof(*ip) + 4)
			return OWNER_HERE;
		if (ip->proto == IPPROTO_ICMPV6) /* router / neighbour solicitation, advert, redirect */
			return l4[0] >= 133 && l4[0] <= 137 ? OWNER_ALL : OWNER_HERE;
		if (ip->proto != IPPROTO_TCP) /* extension headers included: handled here */
			return OWNER_HERE;
		return tcp_owner(port, m,
				 rf_rss_hash6(&port->steer->rss, ip->src_addr, ip->dst_addr,
					      rte_be_to_cpu_16(th->src_port),
					      rte_be_to_cpu_16(th->dst_port)));
	}
	return OWNER_HERE;
}

static void
hand_to(struct rf_port *port, uint16_t core, struct rte_mbuf *m)
{
	if (rte_ring_mp_enqueue(port->steer->ring[core], m) == 0) {
		port->stats.handoff_tx++;
	} else {
		port->stats.handoff_dropped++;
		rte_pktmbuf_free(m);
	}
}

/* A copy of ARP / ND frame m for every other core; an ARP request becomes a reply from its
 * sender, which teaches them the sender's address without making them answer. */
static void
copy_to_all(struct rf_port *port, struct rte_mbuf *m)
{
	struct rf_steer *st = port->steer;

	for (uint16_t c = 0; c < st->cores; c++) {
		struct rte_mbuf *cp;
		struct rte_ether_hdr *eh;

		if (c == st->core)
			continue;
		cp = rte_pktmbuf_copy(m, st->pool, 0, UINT32_MAX);
		if (cp == NULL) {
			port->stats.handoff_dropped++;
			continue;
		}
		eh = rte_pktmbuf_mtod(cp, struct rte_ether_hdr *);
		if (eh->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP) &&
		    cp->data_len >= sizeof(*eh) + sizeof(struct rte_arp_hdr)) {
			struct rte_arp_hdr *ah = (struct rte_arp_hdr *)(eh + 1);

			if (ah->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REQUEST))
				ah->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
		}
		hand_to(port, c, cp);
	}
}

uint16_t
rf_steer_rx(struct rf_port *port, struct rte_mbuf **pkts, uint16_t n)
{
	struct rf_steer *st = port->steer;
	uint16_t got, kept, k;

	/* first what other cores passed to this one */
	got = (uint16_t)rte_ring_sc_dequeue_burst(st->ring[st->core], (void **)pkts, n, NULL);
	port->stats.handoff_rx += got;
	if (got == n)
		return got;
	k = rte_eth_rx_burst(port->id, port->queue, pkts + got, n - got);
	kept = got;
	for (uint16_t i = got; i < got + k; i++) {
		struct rte_mbuf *m = pkts[i];
		uint16_t o = owner(port, m);

		if (o == OWNER_ALL)
			copy_to_all(port, m);
		if (o == OWNER_ALL || o == OWNER_HERE || o == st->core)
			pkts[kept++] = m;
		else
			hand_to(port, o, m);
	}
	return kept;
}
