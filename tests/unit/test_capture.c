/*
 * Unit suite "capture": the checksums drivers/capture.c (--pcap) fills in for the device.
 *
 * Sent frames are captured before the device, so where the device was asked for checksums
 * (offload: drivers/offload.c put the pseudo-header sum in the TCP checksum field and left the
 * IPv4 header checksum 0) the capture computes them in its copy. What is pinned, on frames
 * built as the stack hands them over (headers in a first segment, the payload in further
 * segments of random, odd lengths included; IPv4 and IPv6; TCP options; empty payloads),
 * asked for checksums by rf_port_tx_offload() itself, captured by rf_capture_burst() and read
 * back from the pcapng file:
 *   - every frame is in the file, byte for byte, with the IPv4 header checksum and the TCP
 *     checksum that RFC 1071 gives (0x0000 where the checksum is 0, never 0xffff: every 8th
 *     frame is made so);
 *   - the frame itself is not touched (it still holds the pseudo-header sum);
 *   - a frame that asked for nothing keeps its checksums as they were, right or wrong;
 *   - with a snap length, a frame cut short gets its IPv4 header checksum but keeps the
 *     pseudo-header sum in its TCP checksum (the bytes to sum are not in the copy).
 * Starts a minimal EAL (no device: the copies' interface number is 0 in the file).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "rf_drivers.h"
#include "rfc1071.h"
#include "unit.h"
#include "unit_eal.h"

#define MAX_FRAMES 600
#define MAX_FRAME 1514
#define EPB_TYPE 6    /* pcapng Enhanced Packet Block */
#define EPB_HDR 28    /* its header: type, length, interface, timestamp, captured, original */
#define TCP_CKSUM 16  /* the checksum's offset in the TCP header */
#define IP4_CKSUM 10  /* ... in the IPv4 header */

static struct rte_mempool *pool;

/* The frames handed to the capture, as they should appear in the file. */
static uint8_t want[MAX_FRAMES][MAX_FRAME];
static uint16_t want_len[MAX_FRAMES];
static unsigned int nframes;

static void
fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(random() >> 8);
}

/* A TCP frame with random addresses, options and payload, checksums 0, into f; its length.
 * *l3 and *l4: where the IP and TCP headers start. */
static uint16_t
make_frame(uint8_t *f, bool v6, size_t *l3, size_t *l4)
{
	size_t opt = 4 * ((size_t)random() % 11), hl = v6 ? 40 : 20;
	size_t pay = random() % 4 ? (size_t)random() % (1500 - hl - 20 - opt + 1) : 0;
	size_t tcplen = 20 + opt + pay;
	struct rte_tcp_hdr *tcp;

	fill(f, 14 + hl + tcplen);
	*l3 = 14;
	*l4 = 14 + hl;
	f[12] = v6 ? 0x86 : 0x08;
	f[13] = v6 ? 0xdd : 0x00;
	if (v6) {
		struct rte_ipv6_hdr *ip6 = (struct rte_ipv6_hdr *)(f + *l3);

		ip6->vtc_flow = rte_cpu_to_be_32(0x60000000);
		ip6->payload_len = rte_cpu_to_be_16((uint16_t)tcplen);
		ip6->proto = IPPROTO_TCP;
		ip6->hop_limits = 64;
	} else {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(f + *l3);

		ip->version_ihl = 0x45;
		ip->type_of_service = 0;
		ip->total_length = rte_cpu_to_be_16((uint16_t)(hl + tcplen));
		ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
		ip->time_to_live = 64;
		ip->next_proto_id = IPPROTO_TCP;
		ip->hdr_checksum = 0;
	}
	tcp = (struct rte_tcp_hdr *)(f + *l4);
	tcp->data_off = (uint8_t)((5 + opt / 4) << 4);
	tcp->cksum = 0; /* lwIP leaves it 0 when the device computes it */
	return (uint16_t)(*l4 + tcplen);
}

/* The frame as an mbuf chain: the headers and a few payload bytes first, the rest of the
 * payload in up to 5 segments of random lengths. */
static struct rte_mbuf *
make_chain(const uint8_t *f, uint16_t len, size_t hdr)
{
	size_t first = hdr + (size_t)random() % 41, at;
	struct rte_mbuf *head = rte_pktmbuf_alloc(pool);

	ck_assert_ptr_nonnull(head);
	first = first < len ? first : len;
	memcpy(rte_pktmbuf_append(head, (uint16_t)first), f, first);
	for (at = first; at < len;) {
		size_t n = random() % 3 ? 1 + (size_t)random() % (len - at) : len - at;
		struct rte_mbuf *m;

		if (head->nb_segs == 5)
			n = len - at;
		m = rte_pktmbuf_alloc(pool);
		ck_assert_ptr_nonnull(m);
		memcpy(rte_pktmbuf_append(m, (uint16_t)n), f + at, n);
		ck_assert_int_eq(rte_pktmbuf_chain(head, m), 0);
		at += n;
	}
	return head;
}

/* What the device would put: the checksums RFC 1071 gives, into the expected frame. */
static void
expect_checksums(uint8_t *f, uint16_t len, bool v6, size_t l3, size_t l4, bool tcp_too)
{
	uint16_t ck;

	if (!v6) {
		memset(f + l3 + IP4_CKSUM, 0, 2);
		ck = (uint16_t)~rfc1071_sum(f + l3, l4 - l3);
		memcpy(f + l3 + IP4_CKSUM, &ck, 2);
	}
	if (!tcp_too)
		return;
	memset(f + l4 + TCP_CKSUM, 0, 2);
	if (v6) /* source and destination are the last 32 bytes of the IPv6 header */
		ck = rfc1071_tcp(f + l3 + 8, f + l3 + 24, 16, f + l4, len - l4);
	else
		ck = rfc1071_tcp(f + l3 + 12, f + l3 + 16, 4, f + l4, len - l4);
	memcpy(f + l4 + TCP_CKSUM, &ck, 2);
}

/* Makes the frame's TCP checksum 0x0000 (1 frame in 65,536 by chance): the word after the
 * TCP header takes what brings the sum of everything else to 0xffff. */
static void
zero_checksum(uint8_t *f, uint16_t len, bool v6, size_t l3, size_t l4)
{
	size_t at = l4 + 20;
	uint16_t ck, w;

	expect_checksums(f, len, v6, l3, l4, true);
	memcpy(&ck, f + l4 + TCP_CKSUM, 2);
	memcpy(&w, f + at, 2);
	w = rfc1071_add(w, ck);
	memcpy(f + at, &w, 2);
	expect_checksums(f, len, v6, l3, l4, true);
	memcpy(&ck, f + l4 + TCP_CKSUM, 2);
	ck_assert_uint_eq(ck, 0);
	memset(f + l4 + TCP_CKSUM, 0, 2);
	if (!v6)
		memset(f + l3 + IP4_CKSUM, 0, 2);
}

/* One frame through rf_port_tx_offload() (on a port offering both checksums, or none) and
 * rf_capture_burst(); what the file should hold is noted. */
static void
capture_one(struct rf_capture *cap, bool v6, bool offload, uint32_t snaplen)
{
	struct rf_port port;
	struct rf_frame_info fi;
	struct rte_mbuf *m;
	uint8_t *w = want[nframes], before[128];
	size_t l3, l4;
	uint16_t len = make_frame(w, v6, &l3, &l4), first;

	memset(&port, 0, sizeof(port));
	port.caps.tx_ipv4_cksum = offload;
	port.caps.tx_tcp_cksum = offload;
	if (!offload) /* checksums of someone else's making, right or wrong: left as they are */
		fill(w + l4 + TCP_CKSUM, 2);
	else if (nframes % 8 == 0 && len >= l4 + 22)
		zero_checksum(w, len, v6, l3, l4);
	m = make_chain(w, len, l4 + 20);
	rf_frame_parse(rte_pktmbuf_mtod(m, void *), m->data_len, &fi);
	ck_assert_uint_eq(fi.l4, w[l4 + 12] >> 4 << 2);
	rf_port_tx_offload(&port, m, &fi);
	ck_assert(offload == ((m->ol_flags & RTE_MBUF_F_TX_L4_MASK) == RTE_MBUF_F_TX_TCP_CKSUM));
	/* the mbuf now holds the pseudo-header sum: the file keeps it where it cannot sum */
	memcpy(w + l4 + TCP_CKSUM, rte_pktmbuf_mtod_offset(m, uint8_t *, l4 + TCP_CKSUM), 2);
	first = (uint16_t)RTE_MIN(m->data_len, sizeof(before));
	memcpy(before, rte_pktmbuf_mtod(m, void *), first);

	rf_capture_burst(cap, 0, &m, 1, true);

	ck_assert_msg(memcmp(before, rte_pktmbuf_mtod(m, void *), first) == 0,
		      "the capture changed the frame itself");
	rte_pktmbuf_free(m);
	if (offload)
		expect_checksums(w, len, v6, l3, l4, snaplen == 0 || len <= snaplen);
	want_len[nframes++] = len;
}

/* The frames of the pcapng file at path, compared with want[]. */
static void
check_file(const char *path, uint32_t snaplen)
{
	static uint8_t file[MAX_FRAMES * (MAX_FRAME + 64) + 4096];
	FILE *fp = fopen(path, "rb");
	size_t n, off = 0;
	unsigned int i = 0;

	ck_assert_ptr_nonnull(fp);
	n = fread(file, 1, sizeof(file), fp);
	fclose(fp);
	unlink(path); /* before any check can fail */
	ck_assert_uint_lt(n, sizeof(file));
	while (off + 8 <= n) {
		uint32_t type, blen, caplen, origlen;

		memcpy(&type, file + off, 4);
		memcpy(&blen, file + off + 4, 4);
		ck_assert_uint_ge(blen, 12);
		ck_assert_uint_le(off + blen, n);
		if (type == EPB_TYPE) {
			uint32_t keep;

			ck_assert_uint_lt(i, nframes);
			memcpy(&caplen, file + off + 20, 4);
			memcpy(&origlen, file + off + 24, 4);
			keep = snaplen && want_len[i] > snaplen ? snaplen : want_len[i];
			ck_assert_uint_eq(origlen, want_len[i]);
			ck_assert_uint_eq(caplen, keep);
			for (uint32_t b = 0; b < keep; b++)
				if (file[off + EPB_HDR + b] != want[i][b])
					ck_abort_msg("frame %u (%u bytes, IPv%d): byte %u is 0x%02x, "
						     "0x%02x expected", i, want_len[i],
						     want[i][12] == 0x86 ? 6 : 4, b,
						     file[off + EPB_HDR + b], want[i][b]);
			i++;
		}
		off += blen;
	}
	ck_assert_uint_eq(i, nframes);
}

static void
run(uint32_t snaplen, unsigned int seed)
{
	char path[] = "/tmp/rf-test-capture-XXXXXX";
	struct rf_capture *cap;
	struct rf_capture_stats st;
	int fd = mkstemp(path), rc;

	ck_assert_int_ge(fd, 0);
	close(fd);
	srandom(seed);
	nframes = 0;
	rc = rf_capture_open(&cap, path, snaplen, 1500);
	if (rc != 0)
		unlink(path);
	ck_assert_int_eq(rc, 0);
	while (nframes < MAX_FRAMES)
		capture_one(cap, nframes % 2, random() % 8 != 0, snaplen);
	rf_capture_stats(cap, &st);
	rf_capture_close(cap);
	check_file(path, snaplen); /* reads the file and removes it */
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(rte_mempool_in_use_count(pool), 0); /* nothing leaked */
}

START_TEST(test_offloaded_checksums_filled_as_rfc1071)
{
	for (unsigned int seed = 1; seed <= 4; seed++)
		run(0, seed);
}
END_TEST

START_TEST(test_snaplen_keeps_pseudo_header_sum)
{
	run(128, 99);
}
END_TEST

static Suite *
capture_suite(void)
{
	Suite *s = suite_create("capture");
	TCase *tc = tcase_create("fill_in");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_offloaded_checksums_filled_as_rfc1071);
	tcase_add_test(tc, test_snaplen_keeps_pseudo_header_sum);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int rc;

	if (unit_eal_start("test_capture", "256") != 0)
		return EXIT_FAILURE;
	pool = rte_pktmbuf_pool_create("frames", 63, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       (int)rte_socket_id());
	if (pool == NULL) {
		fprintf(stderr, "test_capture: no mbuf pool: %s\n", rte_strerror(rte_errno));
		return EXIT_FAILURE;
	}
	rc = unit_run(capture_suite());
	rte_mempool_free(pool);
	rte_eal_cleanup();
	return rc;
}
