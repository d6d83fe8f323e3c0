/*
 * The Internet checksum lwIP uses (LWIP_CHKSUM in lwipopts.h): 32 bytes per loop step.
 *
 * lwIP's own lwip_standard_chksum adds 16 bits at a time. On a link without checksum offload
 * (net_memif) every segment is summed twice (sent and received) in software, and that routine
 * was the largest lwIP entry in the bulk sender's and receiver's profiles (docs/benchmarks.md,
 * "Where the time goes"). This one adds 32-bit words into 64-bit accumulators, so no carry is
 * lost (2^32 words would be needed to overflow one), and folds to 16 bits at the end: ones'
 * complement addition is commutative and associative (RFC 1071, section 2), so summing wider
 * words and folding gives the same 16-bit sum.
 *
 * Contract (lwIP's, inet_chksum.c): data at any address, any length >= 0; the result is the
 * non-inverted sum, in host order, of the 16-bit words taken from the start of the buffer
 * in memory order, an odd last byte padded with a zero byte. The result is 0 only when every
 * byte is 0 (as with lwIP's routine), so the two agree bit for bit (tests/unit/test_chksum.c).
 * Checks nothing and cannot fail.
 */
#include <stdint.h>
#include <string.h>

#include "lwip/arch.h"

static inline uint32_t
load32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v)); /* any alignment; one load on x86 and arm64 */
	return v;
}

u16_t
rf_chksum(const void *data, int len)
{
	const uint8_t *p = data;
	size_t n = len > 0 ? (size_t)len : 0;
	uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;

	/* Four independent accumulators: no add waits for the one before it. */
	for (; n >= 32; n -= 32, p += 32) {
		s0 += (uint64_t)load32(p) + load32(p + 16);
		s1 += (uint64_t)load32(p + 4) + load32(p + 20);
		s2 += (uint64_t)load32(p + 8) + load32(p + 24);
		s3 += (uint64_t)load32(p + 12) + load32(p + 28);
	}
	for (; n >= 4; n -= 4, p += 4)
		s0 += load32(p);
	if (n >= 2) {
		uint16_t w;

		memcpy(&w, p, sizeof(w));
		s1 += w;
		p += 2;
		n -= 2;
	}
	if (n == 1) {
		uint16_t w = 0;

		memcpy(&w, p, 1); /* the byte in the word's first memory position */
		s2 += w;
	}
	s0 += s1;
	s2 += s3;
	s0 += s2;
	/* Fold 64 -> 16 bits with end-around carries. Every step keeps a non-zero sum non-zero. */
	s0 = (s0 & 0xffffffffu) + (s0 >> 32);
	s0 = (s0 & 0xffffffffu) + (s0 >> 32);
	s0 = (s0 & 0xffff) + (s0 >> 16);
	s0 = (s0 & 0xffff) + (s0 >> 16);
	s0 = (s0 & 0xffff) + (s0 >> 16);
	return (u16_t)s0;
}
