/*
 * Packet capture: every frame a port receives or sends, written to a pcapng file with DPDK's
 * rte_pcapng (what dpdk-dumpcap writes), readable by tshark and Wireshark.
 *
 * Where frames are taken: RX frames as the loop receives them (stack/engine.c, right after
 * rf_port_rx), TX frames in rf_port_flush() just before they are handed to the device; a
 * frame the TX ring does not take stays queued and is not captured twice (the port counts how
 * many frames at the head of its queue were captured already). Each frame is copied at once
 * (rte_pcapng_copy: the device frees TX frames as soon as it sent them, and RX frames go to the
 * application), the copies wait in a batch, and the batch is written with one writev() from
 * the loop (rf_capture_flush, once per pass, or earlier when the batch is full). Nothing else
 * happens on the data path: a copy that fails (capture pool empty) or a write that fails is
 * counted as a drop, never printed; the summary is logged when the capture closes.
 *
 * Shape of the copies: rte_pcapng_copy() reads the source through rte_pktmbuf_copy(), which
 * walks any chain, indirect segments included (the stack sends a header mbuf followed by
 * indirect mbufs that point into application buffers). The copy itself must be one segment
 * in DPDK 22.11 (rte_pcapng_copy pads and sizes the block by the first segment's data_len,
 * and rte_pcapng_write_packets checks block_length against it), so the capture pool's data
 * room holds a whole frame of the largest port MTU, and a longer frame (or --pcap-snaplen) is
 * cut to what fits. The capture pool is the capture's own: capturing never takes packet
 * buffers from the stack.
 *
 * Checksums on TX: frames are captured before the device, so where the device was asked to
 * fill the IPv4 header checksum or the TCP checksum (offload), the frame holds 0 or only the
 * pseudo-header sum there. The capture fills in, in the copy only, the checksums the device
 * is asked to compute, so the file shows the frame as it should leave and tshark's checksum
 * validation passes. Consequence: a device that computes them wrongly is not caught by this
 * capture (capture on the peer for that). A copy cut short by the snap length keeps the
 * pseudo-header sum in its TCP checksum (the bytes to sum are not in the copy), as tcpdump
 * shows for offloaded frames on Linux.
 */
#define ALLOW_EXPERIMENTAL_API /* rte_pcapng is experimental in DPDK 22.11 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_pcapng.h>
#include <rte_tcp.h>
#include <rte_version.h>

#include "rf_drivers.h"

/* Copies waiting to be written: one writev() of at most this many blocks (well under
 * IOV_MAX, each copy being one segment). */
#define RF_CAPTURE_BATCH 256
/* Capture buffers: a full batch being written plus a full batch being filled. */
#define RF_CAPTURE_MBUFS (2 * RF_CAPTURE_BATCH)
/* Bytes before the frame in a copy: the Enhanced Packet Block header rte_pcapng_copy()
 * prepends (type, length, interface, timestamp hi/lo, captured and original length). */
#define RF_PCAPNG_EPB_LEN 28
#define RF_PCAPNG_EPB_TYPE 6
/* Room for a VLAN tag rte_pcapng_copy() may re-insert. */
#define RF_CAPTURE_VLAN_ROOM 8

struct rf_capture {
	rte_pcapng_t *pcapng;
	struct rte_mempool *pool;
	char path[256];
	uint32_t copy_len; /* bytes kept of each frame */
	uint16_t n;        /* copies in pending[] */
	bool failed;       /* a write failed: the file is no longer valid pcapng, nothing more */
	int write_errno;
	struct rf_capture_stats st;
	uint64_t port_frames[RTE_MAX_ETHPORTS];
	uint64_t port_dropped[RTE_MAX_ETHPORTS];
	struct rte_mbuf *pending[RF_CAPTURE_BATCH];
};

/* The longest frame any probed port can carry: Ethernet header, MTU, VLAN tags. */
static uint32_t
max_frame_len(uint16_t max_mtu)
{
	uint32_t max = RTE_MAX((uint32_t)RTE_ETHER_MAX_LEN,
			       (uint32_t)max_mtu + RTE_ETHER_HDR_LEN + RF_CAPTURE_VLAN_ROOM);
	uint16_t port, mtu;

	RTE_ETH_FOREACH_DEV(port) {
		if (rte_eth_dev_get_mtu(port, &mtu) == 0 &&
		    (uint32_t)mtu + RTE_ETHER_HDR_LEN + RF_CAPTURE_VLAN_ROOM > max)
			max = (uint32_t)mtu + RTE_ETHER_HDR_LEN + RF_CAPTURE_VLAN_ROOM;
	}
	return max;
}

/*
 * DPDK 22.11's rte_pcapng takes its TSC-to-wall-clock reference lazily, inside the first
 * rte_pcapng_copy(), and moves it forward (by whole seconds, consistently) when a timestamp is
 * a second or more past it. A timestamp read before that first call is older than the
 * reference: the unsigned difference wraps, the reference jumps 2^64 cycles ahead, and every
 * timestamp of the file lands in the 23rd century. So one throw-away copy at open, with a
 * timestamp 10 ms ahead, sets the reference before any frame's time is read; after that the
 * loop's timestamps only grow.
 */
static void
start_clock(struct rf_capture *cap)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(cap->pool), *mc;

	if (m == NULL)
		return;
	memset(rte_pktmbuf_append(m, RTE_ETHER_MIN_LEN), 0, RTE_ETHER_MIN_LEN);
	mc = rte_pcapng_copy(0, 0, m, cap->pool, RTE_ETHER_MIN_LEN,
			     rte_get_tsc_cycles() + rte_get_tsc_hz() / 100, RTE_PCAPNG_DIRECTION_UNKNOWN);
	rte_pktmbuf_free(mc);
	rte_pktmbuf_free(m);
}

int
rf_capture_open(struct rf_capture **out, const char *path, uint32_t snaplen, uint16_t max_mtu)
{
	struct rf_capture *cap;
	struct utsname un;
	char os[160], app[96];
	uint32_t room;
	int fd;

	*out = NULL;
	cap = calloc(1, sizeof(*cap));
	if (cap == NULL) {
		fprintf(stderr, "capture %s: out of memory\n", path);
		return -ENOMEM;
	}
	snprintf(cap->path, sizeof(cap->path), "%s", path);
	cap->copy_len = max_frame_len(max_mtu);
	if (snaplen != 0 && snaplen < cap->copy_len)
		cap->copy_len = snaplen;
	/* headroom for the block header, the frame padded to 4 bytes, the options, the trailer */
	room = RTE_PKTMBUF_HEADROOM + rte_pcapng_mbuf_size(cap->copy_len);
	if (room > UINT16_MAX) {
		fprintf(stderr, "capture %s: frames of %u bytes do not fit a capture buffer\n", path,
			cap->copy_len);
		free(cap);
		return -E2BIG;
	}
	cap->pool = rte_pktmbuf_pool_create("rf_capture", RF_CAPTURE_MBUFS, 0, 0, (uint16_t)room,
					    (int)rte_socket_id());
	if (cap->pool == NULL) {
		fprintf(stderr, "capture %s: cannot create its buffer pool (%u x %u bytes): %s\n",
			path, RF_CAPTURE_MBUFS, room, rte_strerror(rte_errno));
		free(cap);
		return -ENOMEM;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		int err = errno;

		fprintf(stderr, "capture: cannot create %s: %s\n", path, strerror(err));
		rte_mempool_free(cap->pool);
		free(cap);
		return -err;
	}
	if (uname(&un) == 0)
		snprintf(os, sizeof(os), "%s %s", un.sysname, un.release);
	else
		snprintf(os, sizeof(os), "Linux");
	snprintf(app, sizeof(app), "rawflow (%s)", rte_version());
	/* the section header, then one interface block per port the EAL probed */
	cap->pcapng = rte_pcapng_fdopen(fd, os, NULL, app, NULL);
	if (cap->pcapng == NULL) {
		fprintf(stderr, "capture %s: cannot write the pcapng header: %s\n", path,
			rte_strerror(rte_errno));
		close(fd);
		rte_mempool_free(cap->pool);
		free(cap);
		return -EIO;
	}
	start_clock(cap);
	RF_LOG(INFO, drivers, "capture %s: pcapng, %u bytes per frame at most\n", path,
	       cap->copy_len);
	*out = cap;
	return 0;
}

/* The checksums the device was asked to fill, filled in the copy (see the top). */
static void
fill_offloaded_cksums(struct rte_mbuf *mc, const struct rte_mbuf *md)
{
	uint8_t *block = rte_pktmbuf_mtod(mc, uint8_t *);
	uint32_t caplen;

	if (!(md->ol_flags & (RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_L4_MASK)))
		return;
	/* the layout this relies on: an Enhanced Packet Block whose frame follows its header */
	memcpy(&caplen, block + 20, sizeof(caplen));
	if (*(const uint32_t *)block != RF_PCAPNG_EPB_TYPE ||
	    caplen + RF_PCAPNG_EPB_LEN > rte_pktmbuf_data_len(mc))
		return;
	rf_offload_fill(block + RF_PCAPNG_EPB_LEN, caplen, md->pkt_len, md->ol_flags, md->l2_len,
			md->l3_len);
}

/* Writes the pending copies (one writev) and gives them back to the capture pool. */
static void
write_batch(struct rf_capture *cap)
{
	uint64_t expect = 0;
	ssize_t rc;

	if (cap->n == 0)
		return;
	for (uint16_t i = 0; i < cap->n; i++)
		expect += rte_pktmbuf_data_len(cap->pending[i]);
	rc = cap->failed ? -1 : rte_pcapng_write_packets(cap->pcapng, cap->pending, cap->n);
	if (likely(rc >= 0 && (uint64_t)rc == expect)) {
		cap->st.frames += cap->n;
		cap->st.bytes += expect;
		for (uint16_t i = 0; i < cap->n; i++)
			cap->port_frames[cap->pending[i]->port]++;
	} else {
		/* a short or failed write leaves a torn block: the file stays as it was up to
		 * there, and everything from now on is counted as dropped */
		if (!cap->failed)
			cap->write_errno = rc < 0 ? rte_errno : ENOSPC;
		cap->failed = true;
		cap->st.dropped += cap->n;
		for (uint16_t i = 0; i < cap->n; i++)
			cap->port_dropped[cap->pending[i]->port]++;
	}
	/* DPDK 22.11's rte_pcapng_write_packets() leaves the mbufs to the caller */
	rte_pktmbuf_free_bulk(cap->pending, cap->n);
	cap->n = 0;
}

void
rf_capture_burst(struct rf_capture *cap, uint16_t port_id, struct rte_mbuf *const *pkts,
		 uint16_t n, bool tx)
{
	uint64_t now = rte_get_tsc_cycles();
	enum rte_pcapng_direction dir = tx ? RTE_PCAPNG_DIRECTION_OUT : RTE_PCAPNG_DIRECTION_IN;

	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *mc;

		if (unlikely(cap->failed)) {
			cap->st.dropped++;
			cap->port_dropped[port_id]++;
			continue;
		}
		if (cap->n == RF_CAPTURE_BATCH)
			write_batch(cap);
		mc = rte_pcapng_copy(port_id, 0, pkts[i], cap->pool, cap->copy_len, now, dir);
		if (unlikely(mc == NULL)) {
			cap->st.dropped++;
			cap->port_dropped[port_id]++;
			continue;
		}
		if (tx)
			fill_offloaded_cksums(mc, pkts[i]);
		cap->pending[cap->n++] = mc;
	}
}

void
rf_capture_flush(struct rf_capture *cap)
{
	write_batch(cap);
}

void
rf_capture_stats(const struct rf_capture *cap, struct rf_capture_stats *out)
{
	*out = cap->st;
}

void
rf_capture_close(struct rf_capture *cap)
{
	uint16_t port;

	if (cap == NULL)
		return;
	write_batch(cap);
	/* an Interface Statistics Block per port: frames captured and dropped by the capture */
	RTE_ETH_FOREACH_DEV(port) {
		if (!cap->failed)
			rte_pcapng_write_stats(cap->pcapng, port, NULL, 0, 0,
					       cap->port_frames[port], cap->port_dropped[port]);
	}
	rte_pcapng_close(cap->pcapng); /* closes the file descriptor */
	if (cap->failed)
		RF_LOG(ERR, drivers, "capture %s: writing failed (%s); frames after that were dropped\n",
		       cap->path, strerror(cap->write_errno));
	RF_LOG(NOTICE, drivers,
	       "capture %s: %" PRIu64 " frames written (%" PRIu64 " bytes), %" PRIu64 " dropped\n",
	       cap->path, cap->st.frames, cap->st.bytes, cap->st.dropped);
	rte_mempool_free(cap->pool);
	free(cap);
}
