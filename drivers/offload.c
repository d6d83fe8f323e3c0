/*
 * Outgoing frames: header lengths, and the checksum work handed to the device.
 *
 * For TCP checksum offload a device wants the IPv4/IPv6 pseudo-header sum in the TCP
 * checksum field and the header lengths in the mbuf (l2_len, l3_len, l4_len); for IPv4 header
 * checksum offload, just the flag. The stack turns lwIP's own generation off for what the
 * port offers (per-netif checksum control) and calls this for every frame.
 */
#include <string.h>


#include <rte_ip.h>
#include <rte_tcp.h>

#include "rf_drivers.h"

void
rf_frame_parse(const void *frame, uint32_t len, struct rf_frame_info *fi)
{
	const struct rte_ether_hdr *eth = frame;
	const uint8_t *l3 = (const uint8_t *)(eth + 1);
	uint8_t proto = 0;

	memset(fi, 0, sizeof(*fi));
	fi->l2 = sizeof(*eth);
	if (len < fi->l2)
		return;
	if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) &&
	    len >= fi->l2 + sizeof(struct rte_ipv4_hdr)) {
		fi->l3 = rte_ipv4_hdr_len((const struct rte_ipv4_hdr *)l3);
		proto = ((const struct rte_ipv4_hdr *)l3)->next_proto_id;
	} else if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6) &&
		   len >= fi->l2 + sizeof(struct rte_ipv6_hdr)) {
		fi->ipv6 = true;
		fi->l3 = sizeof(struct rte_ipv6_hdr);
		proto = ((const struct rte_ipv6_hdr *)l3)->proto; /* lwIP adds no ext. headers */
	}
	if (proto == IPPROTO_TCP && len >= (uint32_t)fi->l2 + fi->l3 + sizeof(struct rte_tcp_hdr))
		fi->l4 = (((const struct rte_tcp_hdr *)(l3 + fi->l3))->data_off >> 4) * 4;
}

void
rf_offload_fill(uint8_t *frame, uint32_t len, uint32_t frame_len, uint64_t ol_flags,
		uint16_t l2_len, uint16_t l3_len)
{
	uint8_t *l3 = frame + l2_len;
	uint32_t l4 = (uint32_t)l2_len + l3_len;

	if ((ol_flags & RTE_MBUF_F_TX_IP_CKSUM) && (ol_flags & RTE_MBUF_F_TX_IPV4) &&
	    len >= l2_len + sizeof(struct rte_ipv4_hdr)) {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)l3;

		ip->hdr_checksum = 0;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
	}
	/* the TCP checksum covers the whole segment: only a whole frame can have it */
	if ((ol_flags & RTE_MBUF_F_TX_L4_MASK) == RTE_MBUF_F_TX_TCP_CKSUM && len == frame_len &&
	    len >= l4 + sizeof(struct rte_tcp_hdr)) {
		struct rte_tcp_hdr *tcp = (struct rte_tcp_hdr *)(frame + l4);

		tcp->cksum = 0;
		if (ol_flags & RTE_MBUF_F_TX_IPV4)
			tcp->cksum = rte_ipv4_udptcp_cksum((struct rte_ipv4_hdr *)l3, tcp);
		else if (ol_flags & RTE_MBUF_F_TX_IPV6)
			tcp->cksum = rte_ipv6_udptcp_cksum((struct rte_ipv6_hdr *)l3, tcp);
	}
}

void
rf_port_tx_offload(const struct rf_port *port, struct rte_mbuf *m, const struct rf_frame_info *fi)
{
	uint8_t *l3 = rte_pktmbuf_mtod_offset(m, uint8_t *, fi->l2);
	struct rte_tcp_hdr *tcp = (struct rte_tcp_hdr *)(l3 + fi->l3);

	if (fi->l3 == 0)
		return;
	m->l2_len = fi->l2;
	m->l3_len = fi->l3;
	if (!fi->ipv6) {
		m->ol_flags |= RTE_MBUF_F_TX_IPV4;
		if (port->caps.tx_ipv4_cksum)
			m->ol_flags |= RTE_MBUF_F_TX_IP_CKSUM;
		if (fi->l4 && port->caps.tx_tcp_cksum) {
			m->ol_flags |= RTE_MBUF_F_TX_TCP_CKSUM;
			m->l4_len = fi->l4;
			tcp->cksum = rte_ipv4_phdr_cksum((struct rte_ipv4_hdr *)l3, m->ol_flags);
		}
	} else if (fi->l4 && port->caps.tx_tcp_cksum) {
		m->ol_flags |= RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_TCP_CKSUM;
		m->l4_len = fi->l4;
		tcp->cksum = rte_ipv6_phdr_cksum((struct rte_ipv6_hdr *)l3, m->ol_flags);
	}
}
