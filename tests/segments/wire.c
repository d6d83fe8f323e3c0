/*
 * The segment harness, the wire (harness.h says what it is for and how the wire works):
 * frames built into packet-pool mbufs and put on the net_ring port's ring; what the stack
 * sent taken off the same ring, linearised, checked and parsed; the passes of the loop and
 * the fake clock; start-up and the leak check at the end. app.c is the application side.
 */
#define _GNU_SOURCE /* sched_getaffinity */
#include <arpa/inet.h>
#include <inttypes.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "fake_clock.h" /* tests/unit: rf_test_advance, rf_clock_fake */
#include "harness.h"

/* The ring net_ring0 made for queue 0: RX and TX both (see harness.h). */
#define H_RING "ETH_RXTX0_net_ring0"
/* Frames put on the ring per pass: fewer than one RX burst (32), so the pass reads them in
 * one burst and never a burst the stack sent in the same pass. */
#define H_MAX_INJECT 31
#define H_MAX_OUT 65536

#define ETH_HLEN 14
#define IP_HLEN 20
#define TCP_HLEN 20

struct h_state {
	struct rf_loop *loop;
	struct rte_ring *ring;
	struct rte_mempool *pool;
	uint8_t stack_mac[6];
	uint32_t stack_ip_be, peer_ip_be;
	uint64_t now;
	struct rte_mbuf *injected[H_MAX_INJECT]; /* frames on the ring since the last pass */
	unsigned int ninjected;
	struct h_seg *out;     /* segments the stack sent, FIFO */
	uint32_t out_head, out_tail;
	unsigned int arp_pending; /* ARP replies to send at the next pass */
	unsigned int arp_answered, other_frames;
	uint64_t mbufs_baseline;
	bool trace;
	char prefix[64];
};

static struct h_state h;

static const uint8_t peer_mac[6] = H_PEER_MAC;

/* ---- checksums ----------------------------------------------------------------------- */

static uint32_t
sum16(const uint8_t *p, size_t len, uint32_t sum)
{
	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t
fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* TCP checksum over the pseudo-header and segment (ip points at the IPv4 header). */
static uint16_t
tcp_cksum(const uint8_t *ip, const uint8_t *tcp, uint16_t tcp_len)
{
	uint32_t sum = sum16(ip + 12, 8, 0); /* source and destination */

	sum += 6 + tcp_len;
	return fold(sum16(tcp, tcp_len, sum));
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* ---- text -------------------------------------------------------------------------- */

const char *
h_flags_str(uint8_t flags, char *buf)
{
	static const char *names[] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG"};
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < 6; i++)
		if (flags & (1 << i))
			n += (size_t)sprintf(buf + n, "%s%s", n ? "|" : "", names[i]);
	if (n == 0)
		strcpy(buf, "none");
	return buf;
}

const char *
h_seg_str(const struct h_seg *s, char *buf, unsigned int len)
{
	char fl[40];
	int n;

	n = snprintf(buf, len, "[%+.1fs] %u>%u %s seq=%u ack=%u wnd=%u len=%u",
		     (double)(s->t_ms - H_T0) / 1000, s->sport, s->dport, h_flags_str(s->flags, fl),
		     s->seq, s->ack, s->wnd, s->len);
	if (s->mss && n > 0 && (unsigned int)n < len)
		n += snprintf(buf + n, len - (unsigned int)n, " mss=%u", s->mss);
	if (s->has_ws && n > 0 && (unsigned int)n < len)
		n += snprintf(buf + n, len - (unsigned int)n, " ws=%u", s->ws);
	if (s->sack_perm && n > 0 && (unsigned int)n < len)
		n += snprintf(buf + n, len - (unsigned int)n, " sackok");
	for (int i = 0; i < s->nsack && n > 0 && (unsigned int)n < len; i++)
		n += snprintf(buf + n, len - (unsigned int)n, " sack=%u-%u", s->sack[i][0],
			      s->sack[i][1]);
	return buf;
}

/* ---- the wire: out of the stack -------------------------------------------------------- */

static void
answer_arp_later(const uint8_t *f, uint32_t len)
{
	/* request (op 1) for the peer's address */
	if (len < ETH_HLEN + 28 || get16(f + ETH_HLEN + 6) != 1 ||
	    memcmp(f + ETH_HLEN + 24, &h.peer_ip_be, 4) != 0) {
		h.other_frames++;
		return;
	}
	h.arp_pending++;
}

static void
parse_tcp(const uint8_t *f, uint32_t len)
{
	const uint8_t *ip = f + ETH_HLEN, *tcp, *opt;
	uint32_t ihl, tot, thl, olen;
	struct h_seg *s;
	char b[256];

	ck_assert_msg(len >= ETH_HLEN + IP_HLEN + TCP_HLEN, "stack sent a short frame (%u)", len);
	ihl = (ip[0] & 0xf) * 4u;
	tot = get16(ip + 2);
	ck_assert_msg(ip[0] >> 4 == 4 && ihl == IP_HLEN, "stack sent IPv4 with ihl %u", ihl);
	ck_assert_msg(tot + ETH_HLEN <= len, "IPv4 total length %u past the frame (%u)", tot, len);
	ck_assert_msg(fold(sum16(ip, ihl, 0)) == 0, "stack sent a bad IPv4 header checksum");
	ck_assert_msg(memcmp(ip + 12, &h.stack_ip_be, 4) == 0 && memcmp(ip + 16, &h.peer_ip_be, 4) == 0,
		      "stack sent TCP from %u.%u.%u.%u to %u.%u.%u.%u", ip[12], ip[13], ip[14],
		      ip[15], ip[16], ip[17], ip[18], ip[19]);
	ck_assert_msg(memcmp(f, peer_mac, 6) == 0, "stack sent TCP to a MAC that is not the peer's");
	tcp = ip + ihl;
	thl = (tcp[12] >> 4) * 4u;
	ck_assert_msg(thl >= TCP_HLEN && ihl + thl <= tot, "stack sent a bad TCP data offset");
	ck_assert_msg(tcp_cksum(ip, tcp, (uint16_t)(tot - ihl)) == 0,
		      "stack sent a bad TCP checksum");
	ck_assert_msg(h.out_tail - h.out_head < H_MAX_OUT, "more than %u segments not taken",
		      H_MAX_OUT);

	s = &h.out[h.out_tail++ % H_MAX_OUT];
	memset(s, 0, offsetof(struct h_seg, data));
	s->t_ms = h.now;
	s->sport = get16(tcp);
	s->dport = get16(tcp + 2);
	s->seq = get32(tcp + 4);
	s->ack = get32(tcp + 8);
	s->flags = tcp[13];
	s->wnd = get16(tcp + 14);
	s->len = (uint16_t)(tot - ihl - thl);
	ck_assert_msg(s->len <= H_MAX_PAYLOAD, "segment of %u bytes", s->len);
	memcpy(s->data, tcp + thl, s->len);
	opt = tcp + TCP_HLEN;
	olen = thl - TCP_HLEN;
	for (uint32_t i = 0; i < olen;) {
		uint8_t kind = opt[i], l;

		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		ck_assert_msg(i + 1 < olen && opt[i + 1] >= 2 && i + opt[i + 1] <= olen,
			      "stack sent a malformed TCP option (kind %u)", kind);
		l = opt[i + 1];
		switch (kind) {
		case 2:
			ck_assert_uint_eq(l, 4);
			s->mss = get16(opt + i + 2);
			break;
		case 3:
			ck_assert_uint_eq(l, 3);
			s->has_ws = true;
			s->ws = opt[i + 2];
			break;
		case 4:
			ck_assert_uint_eq(l, 2);
			s->sack_perm = true;
			break;
		case 5:
			for (uint32_t k = 0; k + 8 <= (uint32_t)l - 2 && s->nsack < 4; k += 8) {
				s->sack[s->nsack][0] = get32(opt + i + 2 + k);
				s->sack[s->nsack][1] = get32(opt + i + 6 + k);
				s->nsack++;
			}
			break;
		case 8:
			s->has_ts = true;
			break;
		default:
			break;
		}
		i += l;
	}
	if (h.trace)
		fprintf(stderr, "  <- %s\n", h_seg_str(s, b, sizeof(b)));
}

static bool
injected(const struct rte_mbuf *m)
{
	for (unsigned int i = 0; i < h.ninjected; i++)
		if (h.injected[i] == m)
			return true;
	return false;
}

/* Takes what the stack sent off the ring (harness.h: the ring is empty whenever the stack
 * is about to read, except for the frames put there for it, which go back in order). */
static void
collect(void)
{
	struct rte_mbuf *pkts[64], *mine[H_MAX_INJECT];
	static uint8_t frame[16384];
	unsigned int n, nmine = 0;

	while ((n = rte_ring_dequeue_burst(h.ring, (void **)pkts, 64, NULL)) != 0) {
		for (unsigned int i = 0; i < n; i++) {
			struct rte_mbuf *m = pkts[i];
			uint32_t len = m->pkt_len;
			const uint8_t *f;

			if (injected(m)) {
				mine[nmine++] = m;
				continue;
			}

			ck_assert_msg(len <= sizeof(frame), "frame of %u bytes", len);
			f = rte_pktmbuf_read(m, 0, len, frame); /* linearises a chain */
			ck_assert_ptr_nonnull(f);
			if (f != frame)
				memcpy(frame, f, len);
			rte_pktmbuf_free(m);
			if (len < ETH_HLEN) {
				h.other_frames++;
				continue;
			}
			switch (get16(frame + 12)) {
			case 0x0806:
				answer_arp_later(frame, len);
				break;
			case 0x0800:
				if (len >= ETH_HLEN + IP_HLEN && frame[ETH_HLEN + 9] == 6)
					parse_tcp(frame, len);
				else
					h.other_frames++;
				break;
			default:
				h.other_frames++;
				break;
			}
		}
	}
	if (nmine != 0)
		ck_assert_uint_eq(rte_ring_enqueue_bulk(h.ring, (void **)mine, nmine, NULL), nmine);
}

/* ---- the wire: into the stack --------------------------------------------------------- */

static struct rte_mbuf *
frame_alloc(uint16_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(h.pool);

	ck_assert_msg(m != NULL, "harness: packet pool empty");
	ck_assert_ptr_nonnull(rte_pktmbuf_append(m, len));
	return m;
}

static void
enqueue(struct rte_mbuf *m)
{
	collect(); /* the ring must hold only frames for the stack */
	ck_assert_msg(h.ninjected < H_MAX_INJECT, "harness: more than %u frames in one pass",
		      H_MAX_INJECT);
	ck_assert_int_eq(rte_ring_enqueue(h.ring, m), 0);
	h.injected[h.ninjected++] = m;
}

static void
send_arp(uint16_t op)
{
	struct rte_mbuf *m = frame_alloc(ETH_HLEN + 28);
	uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *), *a = f + ETH_HLEN;

	if (op == 1)
		memset(f, 0xff, 6);
	else
		memcpy(f, h.stack_mac, 6);
	memcpy(f + 6, peer_mac, 6);
	put16(f + 12, 0x0806);
	put16(a, 1);      /* Ethernet */
	put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, peer_mac, 6);
	memcpy(a + 14, &h.peer_ip_be, 4);
	if (op == 1)
		memset(a + 18, 0, 6);
	else
		memcpy(a + 18, h.stack_mac, 6);
	memcpy(a + 24, &h.stack_ip_be, 4);
	enqueue(m);
}

void
h_send(const struct h_tcp *t)
{
	uint8_t opts[40];
	uint16_t olen = 0, tot, len;
	struct rte_mbuf *m;
	uint8_t *f, *ip, *tcp;
	char fl[40];

	if (t->mss) {
		opts[olen++] = 2;
		opts[olen++] = 4;
		put16(opts + olen, t->mss);
		olen += 2;
	}
	if (t->has_ws) {
		opts[olen++] = 1;
		opts[olen++] = 3;
		opts[olen++] = 3;
		opts[olen++] = t->ws;
	}
	if (t->sack_perm) {
		opts[olen++] = 1;
		opts[olen++] = 1;
		opts[olen++] = 4;
		opts[olen++] = 2;
	}
	if (t->nsack) {
		opts[olen++] = 1;
		opts[olen++] = 1;
		opts[olen++] = 5;
		opts[olen++] = (uint8_t)(2 + 8 * t->nsack);
		for (int i = 0; i < t->nsack; i++) {
			put32(opts + olen, t->sack[i][0]);
			put32(opts + olen + 4, t->sack[i][1]);
			olen += 8;
		}
	}
	ck_assert_uint_le(olen, 40);
	ck_assert_uint_eq(olen % 4, 0);
	tot = (uint16_t)(IP_HLEN + TCP_HLEN + olen + t->len);
	len = (uint16_t)(ETH_HLEN + tot);
	m = frame_alloc(len);
	f = rte_pktmbuf_mtod(m, uint8_t *);
	memcpy(f, h.stack_mac, 6);
	memcpy(f + 6, peer_mac, 6);
	put16(f + 12, 0x0800);
	ip = f + ETH_HLEN;
	memset(ip, 0, IP_HLEN);
	ip[0] = 0x45;
	put16(ip + 2, tot);
	put16(ip + 6, 0x4000); /* DF */
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, &h.peer_ip_be, 4);
	memcpy(ip + 16, &h.stack_ip_be, 4);
	put16(ip + 10, fold(sum16(ip, IP_HLEN, 0)));
	tcp = ip + IP_HLEN;
	memset(tcp, 0, TCP_HLEN);
	put16(tcp, t->sport);
	put16(tcp + 2, t->dport);
	put32(tcp + 4, t->seq);
	put32(tcp + 8, t->ack);
	tcp[12] = (uint8_t)(((TCP_HLEN + olen) / 4) << 4);
	tcp[13] = t->flags;
	put16(tcp + 14, t->wnd);
	memcpy(tcp + TCP_HLEN, opts, olen);
	if (t->len)
		memcpy(tcp + TCP_HLEN + olen, t->data, t->len);
	put16(tcp + 16, tcp_cksum(ip, tcp, (uint16_t)(TCP_HLEN + olen + t->len)));
	if (h.trace)
		fprintf(stderr, "  -> [%+.1fs] %u>%u %s seq=%u ack=%u wnd=%u len=%u\n",
			(double)(h.now - H_T0) / 1000, t->sport, t->dport,
			h_flags_str(t->flags, fl), t->seq, t->ack, t->wnd, t->len);
	enqueue(m);
}

/* ---- passes and time ------------------------------------------------------------------ */

static unsigned int
pass(void)
{
	unsigned int n;

	/* API calls since the last pass (a release that reopens the window, a write) may
	 * have flushed frames onto the ring: off it before the pass reads */
	collect();
	n = rf_loop_run_once(h.loop);
	h.ninjected = 0; /* read by the pass (its RX burst takes up to 32) */
	collect();
	return n;
}

void
h_run(void)
{
	for (int i = 0; i < 64; i++) {
		unsigned int work;
		bool had_arp = h.arp_pending != 0;

		while (h.arp_pending) {
			h.arp_pending--;
			h.arp_answered++;
			send_arp(2);
		}
		work = pass();
		if (work == 0 && !had_arp && h.arp_pending == 0)
			return;
	}
}

void
h_advance(uint64_t ms)
{
	rf_test_advance(&h.now, ms, h_run);
}

bool
h_advance_until_seg(uint64_t max_ms)
{
	for (uint64_t t = 0; t < max_ms && h_pending() == 0; t += 100)
		h_advance(100);
	return h_pending() != 0;
}

uint64_t
h_now(void)
{
	return h.now;
}

unsigned int
h_pending(void)
{
	return h.out_tail - h.out_head;
}

struct h_seg
h_recv(void)
{
	ck_assert_msg(h.out_head != h.out_tail,
		      "expected a segment from the stack at %+.1fs, it sent none",
		      (double)(h.now - H_T0) / 1000);
	return h.out[h.out_head++ % H_MAX_OUT];
}

void
h_none(void)
{
	char b[256];

	if (h.out_head != h.out_tail)
		ck_abort_msg("expected no segment, the stack sent %s",
			     h_seg_str(&h.out[h.out_head % H_MAX_OUT], b, sizeof(b)));
}

unsigned int
h_discard(void)
{
	unsigned int n = h.out_tail - h.out_head;

	h.out_head = h.out_tail;
	return n;
}

/* ---- start and finish ----------------------------------------------------------------- */

static int
first_allowed_cpu(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 0;
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &set))
			return i;
	return 0;
}

/* The EAL creates a runtime folder per file prefix and leaves it behind, empty: with
 * --no-shconf, --no-huge and --no-telemetry nothing is put in it. It goes as soon as the
 * loop runs, so that a test that fails half-way (check ends the child with _exit, no
 * clean-up) leaves nothing either. */
static void
remove_runtime_dir(void)
{
	char dir[128];

	snprintf(dir, sizeof(dir), "/var/run/dpdk/%s", h.prefix);
	rmdir(dir);
}

void
h_start(unsigned int mbufs)
{
	char lcore[16], prefix[64];
	char *argv[] = {"segments", "--no-huge", "--no-pci", "--no-shconf", "--no-telemetry",
			"-m", "256", "-l", lcore, "--vdev=net_ring0", "--file-prefix", prefix,
			"--log-level=lib.*:error", "--log-level=pmd.*:error", "--", NULL};
	int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;
	struct rf_config cfg = {.ip = H_STACK_IP "/24", .mbufs = mbufs ? mbufs : 8191};
	struct rte_ether_addr mac;
	struct rf_stats st;
	int rc;

	memset(&h, 0, sizeof(h));
	h.trace = getenv("H_TRACE") != NULL && strcmp(getenv("H_TRACE"), "0") != 0;
	snprintf(lcore, sizeof(lcore), "%d", first_allowed_cpu());
	snprintf(prefix, sizeof(prefix), "rfseg%d", (int)getpid());
	snprintf(h.prefix, sizeof(h.prefix), "%s", prefix);
	h.out = calloc(H_MAX_OUT, sizeof(*h.out));
	ck_assert_ptr_nonnull(h.out);
	inet_pton(AF_INET, H_STACK_IP, &h.stack_ip_be);
	inet_pton(AF_INET, H_PEER_IP, &h.peer_ip_be);

	/* fake time from the start: the engine's timer table is laid out from it */
	h.now = H_T0;
	rf_clock_fake(h.now);
	rc = rf_loop_create(&h.loop, argc, argv, &cfg);
	ck_assert_msg(rc == 0, "rf_loop_create on net_ring0: %s", rf_error_message(rc));
	remove_runtime_dir();
	h.ring = rte_ring_lookup(H_RING);
	ck_assert_msg(h.ring != NULL, "net_ring0's ring %s not found", H_RING);
	h.pool = rte_mempool_lookup("rf_pkt");
	ck_assert_msg(h.pool != NULL, "the stack's packet pool rf_pkt not found");
	ck_assert_int_eq(rte_eth_macaddr_get(0, &mac), 0);
	memcpy(h.stack_mac, mac.addr_bytes, 6);

	collect(); /* start-up frames (IPv6 ND/MLD) */
	/* the peer's MAC, learnt from its ARP request (lwIP adds the sender of a request for
	 * its own address); the reply is dropped by collect() */
	send_arp(1);
	h_run();
	h.other_frames = 0;
	rf_loop_stats(h.loop, &st);
	collect();
	h.mbufs_baseline = st.mbufs_in_use;
}

struct rf_loop *
h_loop(void)
{
	return h.loop;
}

void
h_finish(void)
{
	struct rf_stats st;

	h__apps_end();
	h_run();
	rf_loop_stats(h.loop, &st);
	collect();
	rf_loop_stats(h.loop, &st);
	ck_assert_msg(st.flows_open == 0, "%" PRIu64 " flows still open", st.flows_open);
	ck_assert_msg(st.listeners == 0, "%" PRIu64 " listeners still open", st.listeners);
	ck_assert_msg(st.mbufs_in_use == h.mbufs_baseline && st.mbufs_in_use <= st.mbufs_idle,
		      "packet buffers in use: %" PRIu64 " (after start-up %" PRIu64
		      ", idle %" PRIu64 ")",
		      st.mbufs_in_use, h.mbufs_baseline, st.mbufs_idle);
	ck_assert_msg(st.tcp_pcbs_in_use == st.tcp_pcbs_time_wait,
		      "%" PRIu64 " lwIP connection blocks left (%" PRIu64 " in TIME-WAIT)",
		      st.tcp_pcbs_in_use, st.tcp_pcbs_time_wait);
	h__apps_free();
	rf_loop_destroy(h.loop);
	h.loop = NULL;
	free(h.out);
	h.out = NULL;
}

bool
h__trace(void)
{
	return h.trace;
}
