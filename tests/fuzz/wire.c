/*
 * The fuzz target's wire (fuzz.h says what the world is): the net_ring port's ring, the
 * frames the stack sends taken off it and answered where a peer must answer (ARP requests,
 * neighbour solicitations), the initial sequence numbers of the stack's SYNs noted for
 * FZ_RELATIVE, the loop's passes and the fake clock. app.c is the application side and the
 * reset between inputs.
 *
 * The ring, as in tests/segments (harness.h there says why): net_ring0's queue 0 reads and
 * writes the same ring "ETH_RXTX0_net_ring0". Frames for the stack are put on it right
 * before a pass, after everything the stack had sent was taken off, and fewer than one RX
 * burst (32) per pass, so the stack never reads its own frames.
 */
#define _GNU_SOURCE /* sched_getaffinity */
#include <arpa/inet.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "fake_clock.h" /* tests/unit: rf_test_advance, rf_clock_fake */
#include "fuzz_internal.h"

#define FZ_RING "ETH_RXTX0_net_ring0"
#define FZ_MAX_INJECT 31 /* frames put on the ring per pass: fewer than one RX burst */
#define ETH_HLEN 14

struct fz fz;
void (*fz_seen_sent)(const uint8_t *frame, size_t len);

static const uint8_t peer_mac[6] = FZ_PEER_MAC;
static const uint8_t stack_mac[6] = FZ_STACK_MAC;

/* ---- frames into the stack ----------------------------------------------------------- */

/* Queued for the next pass. */
static void
inject(const uint8_t *f, size_t len)
{
	if (fz.ninject == FZ_MAX_INJECT) { /* answers piling up: the pass takes them first */
		fz_pass();
	}
	fz.inject[fz.ninject++] = fz_mem_frame(f, len);
}

static void
eth_header(uint8_t *f, uint16_t type)
{
	memcpy(f, stack_mac, 6);
	memcpy(f + 6, peer_mac, 6);
	fz_put16(f + 12, type);
}

/* ARP reply: the peer's MAC has the address ip (network order). */
static void
arp_reply(const uint8_t ip[4])
{
	uint8_t f[ETH_HLEN + 28], *a = f + ETH_HLEN;

	eth_header(f, 0x0806);
	fz_put16(a, 1);
	fz_put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	fz_put16(a + 6, 2);
	memcpy(a + 8, peer_mac, 6);
	memcpy(a + 14, ip, 4);
	memcpy(a + 18, stack_mac, 6);
	memcpy(a + 24, &fz.stack_ip_be, 4);
	inject(f, sizeof(f));
}

/* Neighbour advertisement (solicited, override) for target, to dst, from the peer's MAC. */
static void
neighbour_advert(const uint8_t target[16], const uint8_t dst[16])
{
	uint8_t f[ETH_HLEN + 40 + 32], *ip = f + ETH_HLEN, *icmp = ip + 40;
	uint32_t sum;

	memset(f, 0, sizeof(f));
	eth_header(f, 0x86dd);
	ip[0] = 0x60;
	fz_put16(ip + 4, 32);
	ip[6] = 58;
	ip[7] = 255;
	memcpy(ip + 8, target, 16);
	memcpy(ip + 24, dst, 16);
	icmp[0] = 136;
	icmp[4] = 0x60; /* solicited, override */
	memcpy(icmp + 8, target, 16);
	icmp[24] = 2; /* target link-layer address */
	icmp[25] = 1;
	memcpy(icmp + 26, peer_mac, 6);
	sum = fz_cksum_add(ip + 8, 32, 58 + 32);
	fz_put16(icmp + 2, fz_cksum_fold(fz_cksum_add(icmp, 32, sum)));
	inject(f, sizeof(f));
}

void
fz_frame(const uint8_t *f, size_t len, enum fz_mode mode)
{
	uint8_t *copy;

	if (len > FZ_MAX_FRAME)
		len = FZ_MAX_FRAME;
	copy = malloc(len ? len : 1);
	if (copy == NULL)
		abort();
	memcpy(copy, f, len);
	fz_fix_frame(copy, len, mode, fz_find_iss);
	fz_collect();
	inject(copy, len);
	free(copy);
	fz_settle();
}

/* ---- frames out of the stack --------------------------------------------------------- */

const struct fz_iss *
fz_find_iss(uint8_t family, uint16_t peer_port)
{
	for (unsigned int i = fz.niss; i-- > 0;)
		if (fz.iss[i].family == family && fz.iss[i].peer_port == peer_port)
			return &fz.iss[i];
	return NULL;
}

static void
note_syn(uint8_t family, const uint8_t *tcp, size_t len)
{
	struct fz_iss *c;

	if (len < 20 || !(tcp[13] & 0x02)) /* SYN or SYN-ACK */
		return;
	if (fz.niss == FZ_MAX_ISS) { /* the oldest goes */
		memmove(fz.iss, fz.iss + 1, (FZ_MAX_ISS - 1) * sizeof(fz.iss[0]));
		fz.niss--;
	}
	c = &fz.iss[fz.niss++];
	c->family = family;
	c->stack_port = fz_get16(tcp);
	c->peer_port = fz_get16(tcp + 2);
	c->iss = fz_get32(tcp + 4);
}

static void
sent_ipv4(const uint8_t *ip, size_t len)
{
	size_t ihl;

	if (len < 20)
		return;
	ihl = (ip[0] & 0xfu) * 4u;
	if (ip[9] == 6 && ihl >= 20 && ihl <= len)
		note_syn(4, ip + ihl, len - ihl);
}

static void
sent_ipv6(const uint8_t *ip, size_t len)
{
	const uint8_t *icmp = ip + 40;
	static const uint8_t unspecified[16];

	if (len < 40)
		return;
	if (ip[6] == 6)
		note_syn(6, ip + 40, len - 40);
	/* a neighbour solicitation (not duplicate address detection, from ::) for an address
	 * that is not the stack's: the peer has it */
	if (ip[6] == 58 && len >= 40 + 24 && icmp[0] == 135 &&
	    memcmp(ip + 8, unspecified, 16) != 0 && memcmp(icmp + 8, fz.stack_ip6, 16) != 0)
		neighbour_advert(icmp + 8, ip + 8);
}

static void
sent(const uint8_t *f, size_t len)
{
	if (len < ETH_HLEN)
		return;
	switch (fz_get16(f + 12)) {
	case 0x0806: /* a request (op 1) for an address that is not the stack's */
		if (len >= ETH_HLEN + 28 && fz_get16(f + ETH_HLEN + 6) == 1 &&
		    memcmp(f + ETH_HLEN + 24, &fz.stack_ip_be, 4) != 0)
			arp_reply(f + ETH_HLEN + 24);
		break;
	case 0x0800:
		sent_ipv4(f + ETH_HLEN, len - ETH_HLEN);
		break;
	case 0x86dd:
		sent_ipv6(f + ETH_HLEN, len - ETH_HLEN);
		break;
	default:
		break;
	}
}

void
fz_collect(void)
{
	static uint8_t frame[16384];
	struct rte_mbuf *pkts[64];
	unsigned int n;

	while ((n = rte_ring_dequeue_burst(fz.ring, (void **)pkts, 64, NULL)) != 0) {
		for (unsigned int i = 0; i < n; i++) {
			struct rte_mbuf *m = pkts[i];
			const uint8_t *f = NULL;

			if (m->pkt_len <= sizeof(frame))
				f = rte_pktmbuf_read(m, 0, m->pkt_len, frame); /* linearises */
			if (f != NULL && fz_seen_sent != NULL)
				fz_seen_sent(f, m->pkt_len);
			if (f != NULL)
				sent(f, m->pkt_len);
			rte_pktmbuf_free(m);
		}
	}
}

/* ---- passes and time ----------------------------------------------------------------- */

unsigned int
fz_pass(void)
{
	unsigned int n, work;

	fz_collect(); /* API calls between passes may have sent frames */
	n = fz.ninject;
	if (n != 0 && rte_ring_enqueue_bulk(fz.ring, (void **)fz.inject, n, NULL) != n) {
		fprintf(stderr, "fuzz: net_ring0's ring refused %u frames\n", n);
		abort();
	}
	fz.ninject = 0;
	work = rf_loop_run_once(fz.loop);
	fz_collect();
	return work + n;
}

void
fz_settle(void)
{
	/* bounded: a stack that keeps itself busy at one instant is not a crash */
	for (int i = 0; i < 64; i++)
		if (fz_pass() == 0 && fz.ninject == 0)
			return;
}

void
fz_advance(uint64_t ms)
{
	rf_test_advance(&fz.now, ms, fz_settle);
}

/* ---- start ------------------------------------------------------------------------------ */

void
fz_start(void)
{
	char lcore[16];
	char *argv[] = {"rf-fuzz", "--no-huge", "--no-pci", "--no-shconf", "--no-telemetry",
			"-m", "256", "-l", lcore, "--vdev=net_ring0", "--file-prefix", fz.prefix,
			"--log-level=lib.*:error", "--log-level=pmd.*:error", "--", NULL};
	int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;
	struct rf_config cfg = {.ip = FZ_STACK_IP "/24",
				.ip6 = FZ_STACK_IP6 "/64",
				.mac = "02:00:00:00:00:02",
				.mbufs = 8191,
				.max_flows = 64};
	char dir[128];
	cpu_set_t cpus;
	int rc, cpu = 0;

	/* one lcore: the first CPU this process may run on */
	if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0)
		while (cpu < CPU_SETSIZE - 1 && !CPU_ISSET(cpu, &cpus))
			cpu++;
	snprintf(lcore, sizeof(lcore), "%d", cpu);

	snprintf(fz.prefix, sizeof(fz.prefix), "rffuzz%d", (int)getpid());
	inet_pton(AF_INET, FZ_STACK_IP, &fz.stack_ip_be);
	inet_pton(AF_INET6, FZ_STACK_IP6, fz.stack_ip6);
	fz.now = FZ_T0;
	rf_clock_fake(fz.now);
	fz_mem_init(); /* before the EAL maps its memory (memory.c says why) */
	rc = rf_loop_create(&fz.loop, argc, argv, &cfg);
	if (rc != 0) {
		fprintf(stderr, "fuzz: rf_loop_create on net_ring0: %s\n", rf_error_message(rc));
		exit(1);
	}
	/* the EAL's runtime folder is empty (--no-shconf, --no-telemetry): gone at once */
	snprintf(dir, sizeof(dir), "/var/run/dpdk/%s", fz.prefix);
	rmdir(dir);
	fz.ring = rte_ring_lookup(FZ_RING);
	fz.pool = rte_mempool_lookup("rf_pkt");
	if (fz.ring == NULL || fz.pool == NULL) {
		fprintf(stderr, "fuzz: net_ring0's ring or the packet pool rf_pkt not found\n");
		exit(1);
	}
	fz_mem_check(fz.pool);
	fz_reset_init();
}
