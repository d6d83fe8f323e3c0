/*
 * Unit suite "chksum": stack/chksum.c, the Internet checksum lwIP uses (LWIP_CHKSUM).
 *
 * Pinned: rf_chksum() gives the same 16-bit sum as the plain RFC 1071 definition (16-bit
 * words in memory order, an odd last byte padded with zero, end-around carries) for every
 * length from 0 to 2048 bytes at every start address modulo 8, on random bytes, on bytes
 * that are mostly 0xff (every add carries) and on bytes that are mostly 0 (CHKSUM_SEEDS rounds
 * of each, 16 by default; the environment may ask for more); it loses no carry on 64 KiB of
 * 0xff bytes; it is 0 only for all-zero data; lwIP's inet_chksum() over a real IPv4 header
 * with its checksum in place gives 0 (lwIP calls it, and the result is right).
 *
 * And as lwIP calls it on pbuf chains: inet_chksum_pbuf() (ICMP) and ip_chksum_pseudo() with
 * IPv4 and IPv6 addresses (TCP out, tcp_output_segment(), and in, tcp_input()) over chains
 * cut at random lengths, odd ones and empty pieces included, each piece at a random address
 * modulo 8 (lwIP swaps the running sum's bytes after every odd piece, which only works if
 * LWIP_CHKSUM sums from the piece's first byte whatever its address): the same checksum as
 * RFC 1071 over the pseudo-header and the flat data; a segment with that checksum in place
 * verifies (0) through any chain; and a segment whose checksum is 0x0000 also verifies with
 * 0xffff in its place, the form Linux sends (its skb_checksum_help() writes 0xffff for 0;
 * tshark calls it bad, see tests/observability): rawflow accepts it.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/inet_chksum.h"
#include "lwip/ip_addr.h"
#include "lwip/pbuf.h"
#include "lwip/prot/ip.h"

#include "rfc1071.h"
#include "unit.h"

u16_t rf_chksum(const void *data, int len);

/* Rounds of each data pattern (CHKSUM_SEEDS in the environment: more for a long run). */
static unsigned int
seeds(void)
{
	const char *e = getenv("CHKSUM_SEEDS");
	unsigned long n = e != NULL ? strtoul(e, NULL, 10) : 0;

	return n > 0 ? (unsigned int)n : 16;
}

/* Random bytes; with bias 1 mostly 0xff (sums that carry at every add), with 2 mostly 0. */
static void
fill(uint8_t *p, size_t n, int bias)
{
	for (size_t i = 0; i < n; i++) {
		long r = random();

		if (bias == 1 && r % 8 != 0)
			p[i] = 0xff;
		else if (bias == 2 && r % 8 != 0)
			p[i] = 0;
		else
			p[i] = (uint8_t)(r >> 8);
	}
}

START_TEST(test_matches_rfc1071_at_every_length_and_offset)
{
	enum { MAX_LEN = 2048 };
	static uint8_t buf[MAX_LEN + 8] __attribute__((aligned(8)));
	unsigned int rounds = seeds();

	for (int bias = 0; bias < 3; bias++) {
		for (unsigned int seed = 1; seed <= rounds; seed++) {
			srandom(seed * 3 + (unsigned int)bias);
			fill(buf, sizeof(buf), bias);
			for (size_t off = 0; off < 8; off++)
				for (size_t len = 0; len <= MAX_LEN; len++) {
					uint16_t got = rf_chksum(buf + off, (int)len);
					uint16_t want = rfc1071_sum(buf + off, len);

					if (got != want)
						ck_abort_msg("seed %u bias %d offset %zu length %zu: "
							     "0x%04x, RFC 1071 gives 0x%04x",
							     seed, bias, off, len, got, want);
				}
		}
	}
}
END_TEST

START_TEST(test_no_carry_lost_on_64k_of_ones)
{
	static uint8_t buf[65536 + 1];

	memset(buf, 0xff, sizeof(buf));
	ck_assert_uint_eq(rf_chksum(buf, 65536), 0xffff);
	ck_assert_uint_eq(rf_chksum(buf, 65535), rfc1071_sum(buf, 65535));
	ck_assert_uint_eq(rf_chksum(buf + 1, 65536), 0xffff);
}
END_TEST

START_TEST(test_zero_only_for_zero_data)
{
	static uint8_t buf[64];

	ck_assert_uint_eq(rf_chksum(buf, 0), 0);
	ck_assert_uint_eq(rf_chksum(buf, sizeof(buf)), 0);
	/* 0x0001 + 0xfffe sums to 0xffff, never to 0 */
	buf[10] = 0xff;
	buf[11] = 0xff;
	buf[40] = 0x00;
	ck_assert_uint_eq(rf_chksum(buf, sizeof(buf)), 0xffff);
}
END_TEST

START_TEST(test_lwip_inet_chksum_verifies_a_real_header)
{
	/* an IPv4 header with its correct checksum 0xb861 in bytes 10-11 */
	uint8_t h[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
			 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};

	ck_assert_uint_eq(inet_chksum(h, sizeof(h)), 0);
	h[10] = 0;
	h[11] = 0;
	ck_assert_uint_eq(lwip_ntohs(inet_chksum(h, sizeof(h))), 0xb861);
	h[15] = 0x02; /* one bit changed: the check fails */
	h[10] = 0xb8;
	h[11] = 0x61;
	ck_assert_uint_ne(inet_chksum(h, sizeof(h)), 0);
}
END_TEST

/* ---- pbuf chains, summed the way lwIP sums them ---------------------------------------- */

#define CHAIN_MAX_LEN 3000 /* longer than a 1500-byte MTU's segment */
#define CHAIN_MAX_PIECES 16

/* A pbuf chain over a copy of some flat bytes: pieces of random lengths (odd, even, empty),
 * each copied to a slot of its own at a random address modulo 8. */
struct chain {
	struct pbuf_custom pc[CHAIN_MAX_PIECES];
	uint8_t slot[CHAIN_MAX_PIECES][CHAIN_MAX_LEN + 8] __attribute__((aligned(8)));
	size_t cut[CHAIN_MAX_PIECES + 1]; /* piece i is flat[cut[i], cut[i + 1]) */
	uint8_t off[CHAIN_MAX_PIECES];
	size_t pieces;
};

static int
cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/* New random cuts of len bytes: anywhere, or a few bytes after the cut before (runs of
 * 0-4-byte pieces: the swaps of odd pieces one after another). */
static void
chain_cut(struct chain *c, size_t len)
{
	c->pieces = 1 + (size_t)random() % CHAIN_MAX_PIECES;
	c->cut[0] = 0;
	c->cut[c->pieces] = len;
	for (size_t i = 1; i < c->pieces; i++) {
		size_t at = random() % 2 ? (size_t)random() % (len + 1)
					 : c->cut[i - 1] + (size_t)random() % 5;

		c->cut[i] = at < len ? at : len;
	}
	qsort(c->cut + 1, c->pieces - 1, sizeof(c->cut[0]), cmp_size);
	for (size_t i = 0; i < c->pieces; i++)
		c->off[i] = (uint8_t)(random() % 8);
}

/* The chain over flat's current bytes, with the cuts of the last chain_cut(). */
static struct pbuf *
chain_build(struct chain *c, const uint8_t *flat)
{
	struct pbuf *head = NULL;

	for (size_t i = 0; i < c->pieces; i++) {
		u16_t n = (u16_t)(c->cut[i + 1] - c->cut[i]);
		uint8_t *mem = c->slot[i] + c->off[i];
		struct pbuf *q;

		memcpy(mem, flat + c->cut[i], n);
		q = pbuf_alloced_custom(PBUF_RAW, n, PBUF_REF, &c->pc[i], mem, n);
		ck_assert_ptr_nonnull(q);
		if (head == NULL)
			head = q;
		else
			pbuf_cat(head, q);
	}
	return head;
}

/* The addresses of TCP's pseudo-header, as bytes and as lwIP's ip_addr_t. */
struct pseudo {
	size_t alen;
	uint8_t src[16], dst[16];
	ip_addr_t src_ip, dst_ip;
};

static void
pseudo_random(struct pseudo *ph, bool v6)
{
	memset(ph, 0, sizeof(*ph));
	ph->alen = v6 ? 16 : 4;
	fill(ph->src, ph->alen, 0);
	fill(ph->dst, ph->alen, 0);
	IP_SET_TYPE_VAL(ph->src_ip, v6 ? IPADDR_TYPE_V6 : IPADDR_TYPE_V4);
	IP_SET_TYPE_VAL(ph->dst_ip, v6 ? IPADDR_TYPE_V6 : IPADDR_TYPE_V4);
	if (v6) {
		memcpy(ip_2_ip6(&ph->src_ip)->addr, ph->src, 16);
		memcpy(ip_2_ip6(&ph->dst_ip)->addr, ph->dst, 16);
	} else {
		memcpy(&ip_2_ip4(&ph->src_ip)->addr, ph->src, 4);
		memcpy(&ip_2_ip4(&ph->dst_ip)->addr, ph->dst, 4);
	}
}

/* The checksum to put in the TCP header, by RFC 1071 (rfc1071.h). */
static uint16_t
reference_tcp(const struct pseudo *ph, const uint8_t *seg, size_t len)
{
	return rfc1071_tcp(ph->src, ph->dst, ph->alen, seg, len);
}

/* lwIP's TCP checksum (tcp_output_segment() and tcp_input() call it so) over a chain. */
static uint16_t
lwip_tcp(struct pbuf *p, struct pseudo *ph)
{
	return ip_chksum_pseudo(p, IP_PROTO_TCP, p->tot_len, &ph->src_ip, &ph->dst_ip);
}

#define TCP_CKSUM_AT 16 /* the checksum's offset in the TCP header */

START_TEST(test_pbuf_chains_match_rfc1071)
{
	static struct chain c;
	static uint8_t flat[CHAIN_MAX_LEN];
	unsigned int rounds = seeds();

	for (unsigned int seed = 1; seed <= rounds; seed++) {
		srandom(1000 + seed);
		for (int i = 0; i < 500; i++) {
			size_t len = (size_t)random() % (random() % 2 ? 65 : CHAIN_MAX_LEN + 1);
			struct pseudo ph;
			struct pbuf *p;
			uint16_t want;

			fill(flat, len, (int)(random() % 3));
			chain_cut(&c, len);
			p = chain_build(&c, flat);
			ck_assert_uint_eq(p->tot_len, len);
			want = (uint16_t)~rfc1071_sum(flat, len);
			if (inet_chksum_pbuf(p) != want)
				ck_abort_msg("seed %u chain %d (%zu bytes, %zu pieces): inet_chksum_pbuf "
					     "0x%04x, RFC 1071 gives 0x%04x",
					     seed, i, len, c.pieces, inet_chksum_pbuf(p), want);
			for (int v6 = 0; v6 < 2; v6++) {
				pseudo_random(&ph, v6);
				want = reference_tcp(&ph, flat, len);
				if (lwip_tcp(p, &ph) != want)
					ck_abort_msg("seed %u chain %d (%zu bytes, %zu pieces, IPv%d): "
						     "ip_chksum_pseudo 0x%04x, RFC 1071 gives 0x%04x",
						     seed, i, len, c.pieces, v6 ? 6 : 4, lwip_tcp(p, &ph),
						     want);
				if (len < 20)
					continue;
				/* as sent (computed over a zero field), then as received through
				 * other cuts: it verifies */
				memset(flat + TCP_CKSUM_AT, 0, 2);
				want = reference_tcp(&ph, flat, len);
				memcpy(flat + TCP_CKSUM_AT, &want, 2);
				chain_cut(&c, len);
				p = chain_build(&c, flat);
				if (lwip_tcp(p, &ph) != 0)
					ck_abort_msg("seed %u chain %d (%zu bytes, %zu pieces, IPv%d): "
						     "the segment does not verify: 0x%04x",
						     seed, i, len, c.pieces, v6 ? 6 : 4, lwip_tcp(p, &ph));
			}
		}
	}
}
END_TEST

START_TEST(test_zero_checksum_sent_as_0x0000_accepted_as_0xffff)
{
	static struct chain c;
	static uint8_t flat[CHAIN_MAX_LEN];
	const uint16_t ffff = 0xffff, zero = 0;

	srandom(77);
	for (int i = 0; i < 2000; i++) {
		size_t len = 20 + (size_t)random() % (CHAIN_MAX_LEN - 20 + 1);
		struct pseudo ph;
		uint16_t ck, w;
		struct pbuf *p;

		fill(flat, len, (int)(random() % 3));
		pseudo_random(&ph, i % 2);
		/* a segment whose checksum is 0: the urgent pointer takes what makes the sum of
		 * everything else 0xffff */
		memcpy(flat + TCP_CKSUM_AT, &zero, 2);
		ck = reference_tcp(&ph, flat, len);
		memcpy(&w, flat + 18, 2);
		w = rfc1071_add(w, ck);
		memcpy(flat + 18, &w, 2);
		ck_assert_uint_eq(reference_tcp(&ph, flat, len), 0x0000);
		chain_cut(&c, len);
		p = chain_build(&c, flat);
		/* lwIP sends 0x0000 (never 0xffff: tshark would call it bad) */
		ck_assert_uint_eq(lwip_tcp(p, &ph), 0x0000);
		/* and accepts both forms: 0x0000 and Linux's 0xffff */
		ck_assert_uint_eq(lwip_tcp(p, &ph), 0);
		memcpy(flat + TCP_CKSUM_AT, &ffff, 2);
		chain_cut(&c, len);
		p = chain_build(&c, flat);
		ck_assert_msg(lwip_tcp(p, &ph) == 0, "IPv%d, %zu bytes, %zu pieces: 0xffff for 0 "
			      "does not verify (0x%04x)", i % 2 ? 6 : 4, len, c.pieces,
			      lwip_tcp(p, &ph));
	}
}
END_TEST

static Suite *
chksum_suite(void)
{
	Suite *s = suite_create("chksum");
	TCase *tc = tcase_create("rf_chksum");

	tcase_add_test(tc, test_matches_rfc1071_at_every_length_and_offset);
	tcase_add_test(tc, test_no_carry_lost_on_64k_of_ones);
	tcase_add_test(tc, test_zero_only_for_zero_data);
	tcase_add_test(tc, test_lwip_inet_chksum_verifies_a_real_header);
	tcase_add_test(tc, test_pbuf_chains_match_rfc1071);
	tcase_add_test(tc, test_zero_checksum_sent_as_0x0000_accepted_as_0xffff);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(chksum_suite());
}
