/*
 * Port set-up for any PMD, and the TX batch flush.
 *
 * Set-up reads the device's capabilities and asks only for what it offers: one RX/TX queue
 * pair, descriptor counts adjusted to the device's limits, and of the offloads rawflow can use
 * (IPv4 and TCP checksums both ways, multi-segment TX) those the device has. What was chosen
 * is logged, so a user sees why a device behaves as it does.
 *
 * With several cores (--cores N, one process each), the primary process configures N queue
 * pairs (with RSS over TCP where the device offers it) and starts the device; every process,
 * the primary included, then owns queue pair `core` (port->queue) and steers what it receives
 * (drivers/rss.c). Secondary processes only attach: the device is the primary's to stop.
 *
 * MTU (--mtu): set before the device starts. A frame longer than one packet buffer's data
 * room (about 3.7 KiB: drivers/pool.c) is received scattered over several mbufs, so the
 * device must offer RX scatter (which is then turned on). DPDK 22.11's net_tap and net_memif
 * state a fixed longest frame (1522 and 1518 bytes) that is not theirs: net_tap's limit is its
 * kernel interface's MTU, which rawflow sets itself, and net_memif chains its buffers both
 * ways and has no MTU of its own (the peer must use the same one); for these two the
 * device's max_mtu is the bound, for the others what ethdev accepts.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_lcore.h>


#include "rf_drivers.h"

#define RF_RX_DESC 1024
#define RF_TX_DESC 1024
/* Before counting buffers or closing, a full TX ring is retried this many times. */
#define RF_TX_RETRIES 64
#define RF_TX_MAX_SEGS_DEFAULT 32
/* A device that refuses a burst has its link checked at most this often (net_tap and
 * net_af_xdp answer the check with a system call). */
#define RF_LINK_CHECK_US 1000

uint16_t
rf_port_count(void)
{
	return rte_eth_dev_count_avail();
}

/* Reads what the device offers into port->caps and the offloads to ask for into conf. */
static int
read_caps(struct rf_port *port, struct rte_eth_dev_info *info, struct rte_eth_conf *conf)
{
	int rc = rte_eth_dev_info_get(port->id, info);

	if (rc != 0) {
		fprintf(stderr, "port %u (%s): cannot read device info: %s\n", port->id, port->name,
			strerror(-rc));
		return rc;
	}
	memset(conf, 0, sizeof(*conf));
	port->caps.tx_multiseg = info->tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
	/* 0 or UINT16_MAX mean "no limit stated"; net_tap's writev takes at most its iovec
	 * array, so an unstated limit is taken as 32 (long chains get copied, and counted) */
	port->caps.tx_max_segs = info->tx_desc_lim.nb_mtu_seg_max;
	if (port->caps.tx_max_segs == 0 || port->caps.tx_max_segs == UINT16_MAX)
		port->caps.tx_max_segs = RF_TX_MAX_SEGS_DEFAULT;
	port->caps.tx_ipv4_cksum = info->tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
	port->caps.tx_tcp_cksum = info->tx_offload_capa & RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
	port->caps.rx_ipv4_cksum = info->rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
	port->caps.rx_tcp_cksum = info->rx_offload_capa & RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
	conf->txmode.offloads = info->tx_offload_capa &
				(RTE_ETH_TX_OFFLOAD_MULTI_SEGS | RTE_ETH_TX_OFFLOAD_IPV4_CKSUM |
				 RTE_ETH_TX_OFFLOAD_TCP_CKSUM);
	conf->rxmode.offloads = info->rx_offload_capa &
				(RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM);
	return 0;
}

/* net_tap and net_memif carry frames longer than the frame limit their dev_info states. */
static bool
mtu_beyond_ethdev(const struct rte_eth_dev_info *info)
{
	return strcmp(info->driver_name, "net_memif") == 0;
}

/* The largest MTU the device takes: its max_mtu, and for the others also what ethdev's check
 * of the frame length (MTU + the device's overhead <= max_rx_pktlen) lets through. */
static uint32_t
max_mtu(const struct rte_eth_dev_info *info)
{
	uint32_t over = info->max_mtu != UINT16_MAX && info->max_rx_pktlen > info->max_mtu
				? info->max_rx_pktlen - info->max_mtu
				: RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;

	if (mtu_beyond_ethdev(info) || info->max_rx_pktlen <= over)
		return info->max_mtu;
	return RTE_MIN((uint32_t)info->max_mtu, info->max_rx_pktlen - over);
}

/* --mtu, before configure: checks it against the device and asks for RX scatter when a frame
 * does not fit one packet buffer. */
static int
check_mtu(struct rf_port *port, const struct rte_eth_dev_info *info, struct rte_eth_conf *conf,
	  struct rte_mempool *pool, uint16_t mtu)
{
	uint32_t frame = (uint32_t)mtu + RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN + RTE_VLAN_HLEN;
	uint32_t room = rte_pktmbuf_data_room_size(pool) - RTE_PKTMBUF_HEADROOM;

	if (mtu > max_mtu(info) || mtu < info->min_mtu) {
		fprintf(stderr, "port %u (%s): --mtu %u: the device takes %u..%u\n", port->id,
			port->name, mtu, info->min_mtu, max_mtu(info));
		return -EINVAL;
	}
	if (frame <= room || strcmp(info->driver_name, "net_memif") == 0)
		return 0; /* memif chains received frames whatever the offloads say */
	if (!(info->rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER)) {
		fprintf(stderr, "port %u (%s): --mtu %u: a %u-byte frame does not fit one %u-byte "
				"packet buffer, and the device cannot receive a frame into several "
				"(no RX scatter)\n",
			port->id, port->name, mtu, frame, room);
		return -ENOTSUP;
	}
	conf->rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;
	return 0;
}

/* --mtu, after configure and before start. */
static int
set_mtu(struct rf_port *port, const struct rte_eth_dev_info *info, uint16_t mtu)
{
	int rc;

	if (strcmp(info->driver_name, "net_memif") == 0)
		return 0;
	rc = rte_eth_dev_set_mtu(port->id, mtu);
	if (rc != 0)
		fprintf(stderr, "port %u (%s): the device refused --mtu %u: %s\n", port->id,
			port->name, mtu, strerror(-rc));
	return rc;
}

/* PMDs whose secondary processes attach without receiving or sending (DPDK 22.11):
 * net_af_packet ("TODO: request info from primary to set up Rx and Tx"). */
static bool
multi_process_capable(const struct rte_eth_dev_info *info)
{
	return strcmp(info->driver_name, "net_af_packet") != 0;
}

/* The primary's part: `queues` queue pairs, with RSS over TCP where the device offers it;
 * *rss says whether it does. */
static int
configure(struct rf_port *port, struct rte_eth_dev_info *info, struct rte_eth_conf *conf,
	  uint16_t queues, bool *rss, uint16_t *nb_rxd, uint16_t *nb_txd)
{
	uint64_t hf = info->flow_type_rss_offloads &
		      (RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV6_TCP);
	int rc;

	*rss = false;
	if (queues > 1 && hf != 0 && info->reta_size != 0) {
		conf->rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf->rx_adv_conf.rss_conf.rss_hf = hf;
		conf->rxmode.offloads |= info->rx_offload_capa & RTE_ETH_RX_OFFLOAD_RSS_HASH;
		*rss = rte_eth_dev_configure(port->id, queues, queues, conf) == 0;
		if (!*rss) { /* without RSS, then: the hand-off steers */
			conf->rxmode.mq_mode = RTE_ETH_MQ_RX_NONE;
			conf->rx_adv_conf.rss_conf.rss_hf = 0;
			conf->rxmode.offloads &= ~RTE_ETH_RX_OFFLOAD_RSS_HASH;
		}
	}
	rc = *rss ? 0 : rte_eth_dev_configure(port->id, queues, queues, conf);
	if (rc != 0) {
		fprintf(stderr, "port %u (%s): cannot configure %u rx/tx queue pair(s): %s\n",
			port->id, port->name, queues, strerror(-rc));
		return rc;
	}
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(port->id, nb_rxd, nb_txd);
	if (rc != 0) {
		fprintf(stderr, "port %u (%s): cannot fit descriptor counts: %s\n", port->id,
			port->name, strerror(-rc));
		return rc;
	}
	return 0;
}

int
rf_port_setup(struct rf_port *port, uint16_t id, struct rte_mempool *pool, uint16_t cores,
	      uint16_t core, uint16_t mtu)
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	uint16_t nb_rxd = RF_RX_DESC, nb_txd = RF_TX_DESC;
	/* the device's NUMA node, or any */
	unsigned int socket = (unsigned int)rte_eth_dev_socket_id(id);
	bool primary = rte_eal_process_type() == RTE_PROC_PRIMARY, rss = false;
	uint16_t queues = cores > 1 ? cores : 1;
	int rc;

	memset(port, 0, sizeof(*port));
	port->id = id;
	port->queue = cores > 1 ? core : 0;
	if (rte_eth_dev_get_name_by_port(id, port->name) != 0)
		snprintf(port->name, sizeof(port->name), "port%u", id);
	rc = read_caps(port, &info, &conf);
	if (rc != 0)
		return rc;
	if (info.max_rx_queues < queues || info.max_tx_queues < queues) {
		fprintf(stderr, "port %u (%s): device offers %u rx / %u tx queues, %u needed%s\n", id,
			port->name, info.max_rx_queues, info.max_tx_queues, queues,
			queues > 1 ? " (one pair per core: --cores)" : "");
		return -ENODEV;
	}
	if (cores > 1 && !multi_process_capable(&info)) {
		fprintf(stderr, "port %u (%s): %s cannot be used by several processes (--cores): its "
				"secondary processes neither receive nor send in DPDK 22.11\n",
			id, port->name, info.driver_name);
		return -ENOTSUP;
	}
	rc = mtu != 0 ? check_mtu(port, &info, &conf, pool, mtu) : 0;
	if (rc != 0)
		return rc;

	for (uint16_t q = 0; primary && q < queues; q++) {
		if (q == 0) {
			rc = configure(port, &info, &conf, queues, &rss, &nb_rxd, &nb_txd);
			if (rc == 0 && mtu != 0)
				rc = set_mtu(port, &info, mtu);
			if (rc != 0)
				return rc;
		}
		rc = rte_eth_rx_queue_setup(id, q, nb_rxd, socket, NULL, pool);
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(id, q, nb_txd, socket, NULL);
		if (rc != 0) {
			fprintf(stderr, "port %u (%s): cannot set up queue %u (%u rx / %u tx descriptors): %s\n",
				id, port->name, q, nb_rxd, nb_txd, strerror(-rc));
			return rc;
		}
	}
	rc = primary ? rte_eth_dev_start(id) : 0;
	if (rc != 0) {
		fprintf(stderr, "port %u (%s): cannot start: %s\n", id, port->name, strerror(-rc));
		return rc;
	}
	rte_eth_macaddr_get(id, &port->mac);
	if (mtu != 0)
		port->mtu = mtu;
	else if (rte_eth_dev_get_mtu(id, &port->mtu) != 0)
		port->mtu = RTE_ETHER_MTU;
	if (cores > 1) {
		rc = rf_steer_create(port, cores, core, rss, pool);
		if (rc != 0)
			return rc;
	}

	/* What differs between devices, as this one stated it: the device suite prints it */
	RF_LOG(INFO, drivers,
	       "port %u (%s): %u rx / %u tx descriptors, mtu %u (max %u), tx offloads:%s (max %u segs%s)%s%s, rx offloads:%s%s%s, queue pairs %u (device: %u rx / %u tx)\n",
	       id, port->name, nb_rxd, nb_txd, port->mtu, max_mtu(&info),
	       port->caps.tx_multiseg ? " multi-seg" : "", port->caps.tx_max_segs,
	       info.tx_desc_lim.nb_mtu_seg_max == 0 || info.tx_desc_lim.nb_mtu_seg_max == UINT16_MAX
		       ? ", assumed" : "",
	       port->caps.tx_ipv4_cksum ? " ipv4-cksum" : "",
	       port->caps.tx_tcp_cksum ? " tcp-cksum" : "",
	       port->caps.rx_ipv4_cksum ? " ipv4-cksum" : "",
	       port->caps.rx_tcp_cksum ? " tcp-cksum" : "",
	       conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_SCATTER ? " scatter" : "", queues,
	       info.max_rx_queues,
	       info.max_tx_queues);
	return 0;
}

uint16_t
rf_port_rx(struct rf_port *port, struct rte_mbuf **pkts, uint16_t n)
{
	struct rf_impair *im = port->impair;
	uint16_t got, room;

	if (likely(im == NULL))
		return likely(port->steer == NULL) ? rte_eth_rx_burst(port->id, port->queue, pkts, n)
						   : rf_steer_rx(port, pkts, n);
	/* the burst goes through the impairment layer, which hands back what is due */
	room = rf_impair_rx_room(im, n);
	got = likely(port->steer == NULL) ? rte_eth_rx_burst(port->id, port->queue, pkts, room)
					  : rf_steer_rx(port, pkts, room);
	return rf_impair_rx(im, pkts, got, n, rte_rdtsc());
}

/* The device took nothing: a full ring (back-pressure: the queue waits for the next pass) or
 * a link that is down. A memif or vhost peer that left takes nothing until a peer comes
 * back, and the queued frames would hold their buffers (counted in use) until then or until
 * the port closes. A NIC drops what it cannot send on a dead link; so does this, and counts
 * it. The frames were captured (--pcap) as handed over; they never left. */
static void
drop_if_link_down(struct rf_port *port)
{
	static uint64_t interval; /* RF_LINK_CHECK_US in TSC cycles: one division per process */
	uint64_t now = port->pass_tsc;

	if (unlikely(interval == 0))
		interval = rte_get_tsc_hz() / (1000000 / RF_LINK_CHECK_US);
	if (now - port->link_checked_tsc < interval)
		return;
	port->link_checked_tsc = now;
	if (rf_port_link_up(port))
		return;
	port->stats.tx_link_down += port->tx_len;
	rte_pktmbuf_free_bulk(port->tx_buf, port->tx_len);
	port->tx_len = 0;
	port->tx_captured = 0;
}

void
rf_port_flush(struct rf_port *port)
{
	uint16_t sent = 0, n;

	if (unlikely(port->impair != NULL)) {
		rf_impair_tx_release(port); /* held frames that are due join the queue */
		if (port->tx_len == 0)
			return;
	}
	/* --pcap: frames not captured yet, before the device takes (and may free) them */
	if (unlikely(port->cap != NULL) && port->tx_captured < port->tx_len) {
		rf_capture_burst(port->cap, port->id, port->tx_buf + port->tx_captured,
				 port->tx_len - port->tx_captured, true);
		port->tx_captured = port->tx_len;
	}
	do {
		n = rte_eth_tx_burst(port->id, port->queue, port->tx_buf + sent, port->tx_len - sent);
		sent += n;
	} while (n > 0 && sent < port->tx_len);
	for (uint16_t i = 0; i < sent; i++) {
		port->stats.tx_pkts++;
		port->stats.tx_bytes += port->tx_buf[i]->pkt_len;
	}
	/* The tail the ring would not take waits for the next pass, in order. */
	port->tx_len -= sent;
	port->tx_captured = port->cap != NULL ? port->tx_len : 0;
	if (port->tx_len != 0 && sent != 0)
		memmove(port->tx_buf, port->tx_buf + sent, port->tx_len * sizeof(port->tx_buf[0]));
	else if (unlikely(port->tx_len != 0))
		drop_if_link_down(port);
}

void
rf_port_read_stats(struct rf_port *port)
{
	struct rte_eth_stats st;

	if (rte_eth_stats_get(port->id, &st) == 0) {
		port->stats.rx_missed = st.imissed;
		port->stats.rx_nombuf = st.rx_nombuf;
	}
}

int
rf_port_set_mac(struct rf_port *port, const struct rte_ether_addr *mac)
{
	int rc = rte_eth_dev_default_mac_addr_set(port->id, (struct rte_ether_addr *)mac);

	if (rc == 0)
		port->mac = *mac;
	return rc;
}

void
rf_port_reclaim(struct rf_port *port)
{
	/* a ring that stays full for this many tries is not being drained */
	for (int tries = 0; port->tx_len != 0 && tries < RF_TX_RETRIES; tries++)
		rf_port_flush(port);
	/* Not every PMD implements it; those free sent mbufs at once, or (net_af_xdp) only
	 * inside a later burst: an empty burst lets them. */
	if (rte_eth_tx_done_cleanup(port->id, port->queue, 0) == -ENOTSUP)
		(void)rte_eth_tx_burst(port->id, port->queue, NULL, 0);
}

bool
rf_port_link_up(const struct rf_port *port)
{
	struct rte_eth_link link;

	return rte_eth_link_get_nowait(port->id, &link) == 0 && link.link_status;
}

void
rf_port_close(struct rf_port *port)
{
	rf_impair_destroy(port->impair); /* frees what it held back */
	port->impair = NULL;
	rf_port_reclaim(port);
	if (port->tx_len != 0) { /* the device stopped taking frames: they cannot leave */
		port->stats.tx_drops += port->tx_len;
		rte_pktmbuf_free_bulk(port->tx_buf, port->tx_len);
		port->tx_len = 0;
	}
	rf_steer_destroy(port);
	if (rte_eal_process_type() != RTE_PROC_PRIMARY)
		return; /* the device is the primary's to stop */
	rte_eth_dev_stop(port->id);
	rte_eth_dev_close(port->id);
}
