/*
 * The netif: lwIP <-> one DPDK port, without copying payload either way.
 *
 * RX: each mbuf becomes a pbuf_custom in its own private area, pointing at the frame in the
 * mbuf's data room; freeing the pbuf frees the mbuf. If the device checked the IPv4/TCP
 * checksums and found them good, lwIP is told not to check them again for this frame (the
 * netif's checksum flags are set per frame); frames the device marked bad are dropped here.
 *
 * TX: lwIP hands over a pbuf chain. For TCP that is a RAM pbuf with the Ethernet/IP/TCP headers
 * followed by ROM pbufs that point into application buffers, which are packet-pool mbufs. The
 * headers are copied into a small header mbuf; each payload piece becomes an indirect mbuf
 * attached to the mbuf that holds it (a reference, not a copy), so retransmissions send the
 * same memory again. A device without multi-segment TX gets the whole frame copied into one
 * mbuf, and those payload bytes are counted in tx_copied_bytes. Checksums the device can fill
 * are left to it: lwIP's generation is off for this netif and the mbuf carries the request.
 */
#include <string.h>

#include <rte_arp.h>

#include "lwip/etharp.h"
#include "lwip/ethip6.h"
#include "lwip/ip4_addr.h"
#include "lwip/netif.h"
#include "lwip/snmp.h"
#include "netif/ethernet.h"

#include "rf_stack.h"

static void
free_rx_pbuf(struct pbuf *p)
{
	struct rte_mbuf *m = (struct rte_mbuf *)((char *)p - sizeof(struct rte_mbuf));

	rte_pktmbuf_free_seg(m);
}

struct rte_mbuf *
rf_pbuf_mbuf(const struct pbuf *p)
{
	if (!(p->flags & PBUF_FLAG_IS_CUSTOM) ||
	    ((const struct pbuf_custom *)p)->custom_free_function != free_rx_pbuf)
		return NULL;
	/* the pbuf_custom is the first member of the private area, which follows the mbuf */
	return (struct rte_mbuf *)((const char *)p - sizeof(struct rte_mbuf));
}

/* Wraps one mbuf segment; the pbuf may later be moved into headroom (an ICMP echo reply
 * reuses the request's memory), hence a "pool" type whose data follows its header. */
static struct pbuf *
wrap(struct rte_mbuf *m)
{
	struct rf_mbuf_priv *pv = rf_mbuf_priv(m);

	pv->pc.custom_free_function = free_rx_pbuf;
	return pbuf_alloced_custom(PBUF_RAW, m->data_len, PBUF_POOL, &pv->pc,
				   rte_pktmbuf_mtod(m, void *), m->buf_len - m->data_off);
}

void
rf_netif_input(struct rf_iface *ifc, struct rte_mbuf **pkts, uint16_t n)
{
	struct rf_stack *s = ifc->stack;
	const u16_t base = ifc->nif.chksum_flags & ~(NETIF_CHECKSUM_CHECK_IP |
						     NETIF_CHECKSUM_CHECK_TCP);

	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i], *seg;
		struct pbuf *p, *q;
		uint64_t ip_ck, l4_ck;

		ifc->port.stats.rx_pkts++;
		ifc->port.stats.rx_bytes += m->pkt_len;
		/* Each checksum's two bits are one of four values (UNKNOWN, BAD, GOOD, NONE: "not
		 * needed", e.g. virtio's host-validated data, which is BAD|GOOD as bits): compare
		 * values, not bits. Bad: dropped here. Good or none: lwIP does not verify it again.
		 * Unknown: lwIP verifies it. */
		ip_ck = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
		l4_ck = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
		if (unlikely(ip_ck == RTE_MBUF_F_RX_IP_CKSUM_BAD ||
			     l4_ck == RTE_MBUF_F_RX_L4_CKSUM_BAD)) {
			s->stats.rx_bad_cksum++;
			s->stats.rx_frames_dropped++;
			rte_pktmbuf_free(m);
			continue;
		}
		ifc->nif.chksum_flags = base;
		if (ip_ck != RTE_MBUF_F_RX_IP_CKSUM_GOOD && ip_ck != RTE_MBUF_F_RX_IP_CKSUM_NONE)
			ifc->nif.chksum_flags |= NETIF_CHECKSUM_CHECK_IP;
		if (l4_ck != RTE_MBUF_F_RX_L4_CKSUM_GOOD && l4_ck != RTE_MBUF_F_RX_L4_CKSUM_NONE)
			ifc->nif.chksum_flags |= NETIF_CHECKSUM_CHECK_TCP;

		/* lwIP 2.1.3's etharp_input() reads the ARP header without checking that the frame
		 * holds it (and would answer a truncated request with bytes from past its end). A
		 * frame shorter than an Ethernet header has no type to read (tests/fuzz found this
		 * read past such a frame): lwIP drops it and counts it in rx_link_dropped. */
		if (unlikely(m->pkt_len < RTE_ETHER_HDR_LEN + sizeof(struct rte_arp_hdr) &&
			     m->data_len >= RTE_ETHER_HDR_LEN &&
			     rte_pktmbuf_mtod(m, struct rte_ether_hdr *)->ether_type ==
				     rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP))) {
			s->stats.rx_frames_dropped++;
			rte_pktmbuf_free(m);
			continue;
		}
		/* A scattered frame: one pbuf per segment, chained, each freeing its own mbuf. */
		seg = m->next;
		m->next = NULL;
		m->nb_segs = 1;
		p = wrap(m);
		while (seg != NULL) {
			struct rte_mbuf *next = seg->next;

			seg->next = NULL;
			seg->nb_segs = 1;
			q = wrap(seg);
			pbuf_cat(p, q);
			seg = next;
		}
		if (ifc->nif.input(p, &ifc->nif) != ERR_OK) {
			s->stats.rx_frames_dropped++;
			pbuf_free(p);
		}
	}
}

/* The whole frame copied into one packet mbuf: for devices without multi-segment TX. */
static struct rte_mbuf *
build_copy(struct rf_stack *s, struct pbuf *p)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(s->pools.pkt);
	uint8_t *dst;

	if (m == NULL)
		return NULL;
	dst = (uint8_t *)rte_pktmbuf_append(m, p->tot_len);
	if (dst == NULL) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	pbuf_copy_partial(p, dst, p->tot_len, 0);
	return m;
}

/* Headers copied into a header mbuf, payload attached by reference where it lies in packet
 * mbufs; returns the chain and how many bytes had to be copied. */
static struct rte_mbuf *
build_chain(struct rf_stack *s, struct pbuf *p, uint32_t *copied)
{
	struct rte_mbuf *head = NULL, *tail = NULL;

	*copied = 0;
	for (struct pbuf *q = p; q != NULL; q = q->next) {
		struct rte_mbuf *direct, *m;

		if (q->len == 0)
			continue;
		direct = q == p ? NULL : rf_pool_mbuf_of(q->payload);
		if (direct == NULL && tail != NULL && !RTE_MBUF_CLONED(tail) &&
		    rte_pktmbuf_tailroom(tail) >= q->len) {
			/* small piece of lwIP's own memory: appended to the previous mbuf (by
			 * hand: rte_pktmbuf_append() would count it in tail's pkt_len, which is
			 * head's when tail is head) */
			memcpy(rte_pktmbuf_mtod_offset(tail, uint8_t *, tail->data_len), q->payload,
			       q->len);
			tail->data_len += q->len;
			head->pkt_len += q->len;
			*copied += q->len;
			continue;
		}
		m = rte_pktmbuf_alloc(s->pools.hdr);
		if (m == NULL)
			goto fail;
		if (direct != NULL) {
			rte_pktmbuf_attach(m, direct);
			m->data_off = (uint16_t)((uint8_t *)q->payload - (uint8_t *)m->buf_addr);
			m->data_len = q->len;
			m->pkt_len = q->len;
		} else if (q->len <= rte_pktmbuf_tailroom(m)) {
			memcpy(rte_pktmbuf_append(m, q->len), q->payload, q->len);
			*copied += q->len;
		} else {
			/* a large piece outside packet memory (not produced by rawflow's own paths) */
			rte_pktmbuf_free(m);
			goto fail;
		}
		if (head == NULL) {
			head = m;
		} else {
			tail->next = m;
			head->nb_segs++;
			head->pkt_len += m->data_len;
		}
		tail = m;
	}
	return head;
fail:
	rte_pktmbuf_free(head);
	return NULL;
}

/* True when a payload piece other than the last has an odd length: net_tap (DPDK 22.11)
 * corrupts such chains (the kernel drops them at every retransmission), so they are copied,
 * and counted. */
static bool
odd_piece(const struct pbuf *p)
{
	for (p = p->next; p != NULL && p->next != NULL; p = p->next)
		if (p->len & 1)
			return true;
	return false;
}

static err_t
linkoutput(struct netif *nif, struct pbuf *p)
{
	struct rf_iface *ifc = nif->state;
	struct rf_stack *s = ifc->stack;
	struct rf_frame_info fi;
	struct rte_mbuf *m = NULL;
	uint32_t copied = p->tot_len, payload;

	/* A full send queue: TCP keeps the segment or ACK and sends it again once the queue
	 * drained (lwIP patch 0013; rf_stack_poll() runs lwIP's fast timer early for it). Other
	 * frames (ARP, ICMP, RST) are dropped by their senders, as a full NIC would. */
	if (unlikely(!rf_port_tx_room(&ifc->port))) {
		s->tx_refused = true;
		return ERR_WOULDBLOCK;
	}
	rf_frame_parse(p->payload, p->len, &fi);
	/* A frame made of more pieces than the device takes in one chain (many tiny writes)
	 * is copied instead, and counted: sending the chain would fail again at every
	 * retransmission. */
	if (ifc->port.caps.tx_multiseg && !s->force_copy &&
	    pbuf_clen(p) <= ifc->port.caps.tx_max_segs && !odd_piece(p))
		m = build_chain(s, p, &copied);
	if (m == NULL) {
		m = build_copy(s, p);
		copied = p->tot_len;
	}
	if (unlikely(m == NULL)) {
		s->stats.alloc_failures++;
		ifc->port.stats.alloc_fails++;
		return ERR_MEM;
	}
	if (fi.l4) {
		uint32_t hlen = (uint32_t)fi.l2 + fi.l3 + fi.l4;

		payload = p->tot_len > hlen ? p->tot_len - hlen : 0;
		s->stats.tx_segments++;
		s->stats.tx_payload_bytes += payload;
		s->stats.tx_copied_bytes += copied > hlen ? copied - hlen : 0;
	}
	rf_port_tx_offload(&ifc->port, m, &fi);
	rf_port_tx(&ifc->port, m);
	return ERR_OK;
}

static err_t
init_netif(struct netif *nif)
{
	struct rf_iface *ifc = nif->state;
	const struct rf_port_caps *caps = &ifc->port.caps;
	u16_t flags = NETIF_CHECKSUM_ENABLE_ALL;

	nif->name[0] = 'r';
	nif->name[1] = 'f';
	nif->mtu = ifc->port.mtu;
#if LWIP_IPV6
	nif->mtu6 = ifc->port.mtu;
#endif
	nif->hwaddr_len = ETH_HWADDR_LEN;
	memcpy(nif->hwaddr, ifc->port.mac.addr_bytes, ETH_HWADDR_LEN);
	nif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET |
		     NETIF_FLAG_IGMP | NETIF_FLAG_MLD6;
	nif->output = etharp_output;
	nif->output_ip6 = ethip6_output;
	nif->linkoutput = linkoutput;
	/* Offloaded checksums are not generated in software; the device gets the request. */
	if (caps->tx_ipv4_cksum)
		flags &= ~NETIF_CHECKSUM_GEN_IP;
	if (caps->tx_tcp_cksum)
		flags &= ~NETIF_CHECKSUM_GEN_TCP;
	NETIF_SET_CHECKSUM_CTRL(nif, flags);
	return ERR_OK;
}

int
rf_netif_add(struct rf_stack *s, struct rf_iface *ifc, const struct rf_stack_conf *conf)
{
	ip4_addr_t ip, mask, gw;

	ifc->stack = s;
	if (conf->mac_set)
		ifc->port.mac = conf->mac;
	ip4_addr_set_u32(&ip, conf->ip4_be);
	ip4_addr_set_u32(&mask, conf->mask4_be);
	ip4_addr_set_u32(&gw, conf->gw4_be);
	if (netif_add(&ifc->nif, &ip, &mask, &gw, ifc, init_netif, ethernet_input) == NULL)
		return -1;
	netif_create_ip6_linklocal_address(&ifc->nif, 1);
	if (conf->ip6_set) {
		ip6_addr_t a6;
		s8_t idx;

		memcpy(a6.addr, conf->ip6, 16);
		ip6_addr_clear_zone(&a6);
		if (netif_add_ip6_address(&ifc->nif, &a6, &idx) != ERR_OK)
			return -1;
		/* a configured address is used at once (no duplicate detection): the operator
		 * chose it */
		netif_ip6_addr_set_state(&ifc->nif, idx, IP6_ADDR_PREFERRED);
	}
	netif_set_up(&ifc->nif);
	netif_set_link_up(&ifc->nif);
	return 0;
}
